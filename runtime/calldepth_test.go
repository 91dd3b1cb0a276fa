package runtime_test

import (
	"context"
	goruntime "runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/runtime"
)

// heapDuring runs f while sampling the heap, and returns the bytes
// allocated during f and the peak of live heap objects above what there
// was before.
func heapDuring(f func()) (allocated, peak uint64) {
	goruntime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	base := heap()
	var top atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if h := heap(); h > top.Load() {
				top.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	goruntime.ReadMemStats(&after)
	if top.Load() > base {
		peak = top.Load() - base
	}
	return after.TotalAlloc - before.TotalAlloc, peak
}

// TestCallDepthRecurse runs testdata/recurse.wasm, which recurses without
// end: the call depth limit stops it with worker-trap, long before wazero's
// own stack ceiling (which took over 140 MiB of heap to reach).
func TestCallDepthRecurse(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	m := compile(t, rt, "recurse")
	var err error
	allocated, peak := heapDuring(func() {
		_, err = m.Run(context.Background(), runtime.RunConfig{WallTime: 10 * time.Second})
	})
	ae := wantCode(t, err, api.CodeWorkerTrap)
	if !strings.Contains(ae.Message, "call depth") {
		t.Errorf("message %q, want it to name the call depth limit", ae.Message)
	}
	t.Logf("recurse: %s; %.1f MiB allocated, heap peak +%.1f MiB", ae.Message, float64(allocated)/(1<<20), float64(peak)/(1<<20))
	// A generous bound: without the limit, wazero allocated 160 MiB.
	if allocated > 64<<20 {
		t.Errorf("%d bytes allocated by a request stopped by the call depth limit", allocated)
	}
}

// TestCallDepthDeep runs testdata/deep.wasm, which recurses exactly to the
// limit, on an instance reset to its image between runs: the depth
// returns to zero after every request.
func TestCallDepthDeep(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	m := compile(t, rt, "deep")
	ctx := context.Background()
	img, err := m.NewImage(ctx, runtime.ImageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	in, err := img.NewInstance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for i := range 3 {
		if _, err := in.Run(ctx, runtime.RunConfig{WallTime: 10 * time.Second}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if !in.Reset() {
			t.Fatalf("reset %d failed", i)
		}
	}
}
