package runtime_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/runtime"
)

// BenchmarkRunSmall is the fixed cost of a request: instantiate a tiny
// module, call its handler, close the instance. Besides ns/op it reports
// the median and 99th percentile of single runs.
func BenchmarkRunSmall(b *testing.B) {
	rt := newRuntime(b, runtime.Config{})
	m := compile(b, rt, "noop")
	ctx := context.Background()
	cfg := runtime.RunConfig{WallTime: time.Second, MemoryLimit: 1 << 20}
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := m.Run(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, times)
}

// BenchmarkRunParallel is BenchmarkRunSmall from GOMAXPROCS goroutines.
func BenchmarkRunParallel(b *testing.B) {
	rt := newRuntime(b, runtime.Config{})
	m := compile(b, rt, "noop")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Run(context.Background(), runtime.RunConfig{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func reportPercentiles(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	at := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// TestRunAllocs pins the allocations of a request's fixed cost, so that a
// change that adds some on the request path shows up here. Most of them
// are wazero's own (the instance, its memory, its WASI context).
// maxRunAllocs is the bound of TestRunAllocs: 37 with wazero v1.12.0, plus
// some headroom for wazero upgrades.
const maxRunAllocs = 50

func TestRunAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	rt := newRuntime(t, runtime.Config{})
	m := compile(t, rt, "noop")
	ctx := context.Background()
	cfg := runtime.RunConfig{WallTime: time.Second, MemoryLimit: 1 << 20}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := m.Run(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.0f allocations per Run", allocs)
	if allocs > maxRunAllocs {
		t.Errorf("%.0f allocations per Run, want at most %d", allocs, maxRunAllocs)
	}
}

// BenchmarkCompileGo compiles a Go worker (examples/hello, ~5 MB of wasm)
// in a new runtime: for the compiler, as a host does at deploy, and for
// the interpreter, as wedge dev does first (Config.InterpretFirst).
func BenchmarkCompileGo(b *testing.B) {
	wasm := testwasm.Build(b, "examples/hello")
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		interpret bool
	}{{"compiler", false}, {"interpreter", true}} {
		b.Run(tt.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				rt, err := runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}, InterpretFirst: tt.interpret})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				m, err := rt.Compile(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if m.Interpreted() != tt.interpret {
					b.Fatalf("Interpreted() = %v", m.Interpreted())
				}
				m.Release()
				rt.Close(ctx)
				b.StartTimer()
			}
		})
	}
}
