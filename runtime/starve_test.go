package runtime_test

import (
	"context"
	goruntime "runtime"
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
