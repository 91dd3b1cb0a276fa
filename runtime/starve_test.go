package runtime_test

import (
	"context"
	"net"
	goruntime "runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/runtime"
)

// TestLoopsDoNotStarve: more guests looping forever than there are Ps,
// with the garbage collector running meanwhile, all end with wall-time
// close to their deadline. A guest that could not be interrupted would
// hold its P: the deadline could never be acted on and a stop-the-world
// would wait for ever.
func TestLoopsDoNotStarve(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, runtime.Config{})
	loop := compile(t, rt, "loop")
	n := 3 * goruntime.GOMAXPROCS(0)
	done := make(chan struct{})
	go func() { // keep the collector busy while the guests loop
		for {
			select {
			case <-done:
				return
			default:
				goruntime.GC()
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	defer close(done)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := loop.Run(ctx, runtime.RunConfig{WallTime: 200 * time.Millisecond})
			if api.CodeOf(err) != api.CodeWallTime {
				t.Errorf("error %v, want wall-time", err)
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
		t.Logf("%d looping guests stopped after %v", n, time.Since(start))
	case <-time.After(20 * time.Second):
		t.Fatal("looping guests were not stopped within 20s: starvation")
	}
}

// TestCallTreeStopped: a guest that runs for exponential time without a
// loop (every function calls the next twice) is stopped at its deadline
// too: the checks sit at function entries as well as loop headers.
func TestCallTreeStopped(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	tree := compile(t, rt, "calltree")
	start := time.Now()
	_, err := tree.Run(context.Background(), runtime.RunConfig{WallTime: 100 * time.Millisecond})
	if api.CodeOf(err) != api.CodeWallTime {
		t.Errorf("error %v, want wall-time", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopped after %v, want about 100ms", d)
	}
}

// TestLoopLetsNetworkIn: on a single P, a guest that loops on does not
// keep the network unread. Go polls it only when the P runs out of work,
// or from sysmon every 10 ms; the guest's checks make it poll every
// pollEvery of guest CPU time. The delay is measured in the guest's CPU
// time, which a busy machine slows down along with everything else.
func TestLoopLetsNetworkIn(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
	rt := newRuntime(t, runtime.Config{})
	loop := compile(t, rt, "loop")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	meter := &runtime.Meter{}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		_, err := loop.Run(ctx, runtime.RunConfig{Meter: meter, WallTime: 10 * time.Second})
		ran <- err
	}()
	got := make(chan time.Duration)
	go func() {
		var b [1]byte
		for {
			if _, err := server.Read(b[:]); err != nil {
				close(got)
				return
			}
			got <- meter.Used()
		}
	}()

	const rounds = 15
	delays := make([]time.Duration, 0, rounds)
	for range rounds {
		time.Sleep(2 * time.Millisecond) // the guest runs meanwhile
		sent := meter.Used()
		if _, err := client.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		delays = append(delays, <-got-sent)
	}
	slices.Sort(delays)
	t.Logf("guest CPU time between a write and its read: p50 %v, max %v", delays[rounds/2], delays[rounds-1])
	if p50 := delays[rounds/2]; p50 > 2*time.Millisecond {
		t.Errorf("a read waited for %v of guest CPU time (p50), want about %v: the network was polled only by sysmon", p50, 250*time.Microsecond)
	}
	server.Close()
	<-got
	select {
	case err := <-ran:
		t.Fatalf("the loop stopped early: %v", err)
	default:
	}
	stop()
	<-ran
}
