package runtime_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/runtime"
)

// TestCPULimit: a guest that loops is stopped once it used its CPU limit,
// measured on its thread's CPU clock; one that needs less completes.
func TestCPULimit(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	ctx := context.Background()
	for _, tt := range []struct {
		module string
		limit  time.Duration
		fails  bool
	}{
		{"burn30", 200 * time.Millisecond, false},
		{"loop", 50 * time.Millisecond, true},
		{"noop", time.Millisecond, false},
	} {
		t.Run(tt.module, func(t *testing.T) {
			m := compile(t, rt, tt.module)
			img, err := m.NewImage(ctx, runtime.ImageConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			for _, path := range []string{"fresh", "image"} {
				meter := &runtime.Meter{Limit: tt.limit}
				rc := runtime.RunConfig{WallTime: 10 * time.Second, Meter: meter}
				var res runtime.Result
				if path == "fresh" {
					res, err = m.Run(ctx, rc)
				} else {
					in, ierr := img.NewInstance(ctx)
					if ierr != nil {
						t.Fatal(ierr)
					}
					res, err = in.Run(ctx, rc)
					in.Close()
				}
				if !tt.fails {
					if err != nil {
						t.Fatalf("%s: %v", path, err)
					}
					if res.CPU > tt.limit {
						t.Errorf("%s: CPU %v over the limit %v and not stopped", path, res.CPU, tt.limit)
					}
					continue
				}
				wantCode(t, err, api.CodeCPULimit)
				// Stopped at the limit, give or take a check interval and
				// the scheduler: never far past it.
				if res.CPU < tt.limit || res.CPU > tt.limit+100*time.Millisecond {
					t.Errorf("%s: stopped after %v of CPU, limit %v", path, res.CPU, tt.limit)
				}
			}
		})
	}
}

// A meter counts CPU time, not the time its guest waits while paused.
func TestMeterPause(t *testing.T) {
	m := &runtime.Meter{}
	busy := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	m.Resume()
	busy(10 * time.Millisecond)
	m.Pause()
	time.Sleep(50 * time.Millisecond)
	m.Resume()
	busy(10 * time.Millisecond)
	m.Pause()
	// At most the 20 ms of work (a busy machine may give it less CPU than
	// that, never the pause's 50 ms).
	if used := m.Used(); used > 40*time.Millisecond || used <= 0 {
		t.Errorf("used %v for 20 ms of work around a 50 ms pause", used)
	}
}

// BenchmarkCPULimit reports how accurately the CPU limit stops a guest:
// the CPU time measured when an endless loop was stopped under a 50 ms
// limit (p50, p99, max), and whether a guest that busy-waits 30 ms under
// the same limit completed every time.
func BenchmarkCPULimit(b *testing.B) {
	rt := newRuntime(b, runtime.Config{})
	ctx := context.Background()
	loop, burn := compile(b, rt, "loop"), compile(b, rt, "burn30")
	const limit = 50 * time.Millisecond
	var stopped []time.Duration
	completed := 0
	for range b.N {
		meter := &runtime.Meter{Limit: limit}
		res, err := loop.Run(ctx, runtime.RunConfig{WallTime: 10 * time.Second, Meter: meter})
		if api.CodeOf(err) != api.CodeCPULimit {
			b.Fatalf("loop: %v", err)
		}
		stopped = append(stopped, res.CPU)
		if _, err := burn.Run(ctx, runtime.RunConfig{WallTime: 10 * time.Second, Meter: &runtime.Meter{Limit: limit}}); err == nil {
			completed++
		}
	}
	reportPercentiles(b, stopped)
	slices.Sort(stopped)
	b.ReportMetric(float64(stopped[len(stopped)-1].Nanoseconds()), "max-ns")
	b.ReportMetric(float64(completed)/float64(b.N), "burn30-completed/op")
}
