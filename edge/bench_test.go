package edge_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
)

type guest struct {
	name string
	wasm []byte
}

// hostRuntime returns a runtime with Wedge's host functions, closed with
// the test.
func hostRuntime(tb testing.TB) *runtime.Runtime {
	tb.Helper()
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// helloGuests returns a runtime (closed with the benchmark) and the Go and
// C hello modules.
func helloGuests(b *testing.B) (*runtime.Runtime, []guest) {
	rt := hostRuntime(b)
	cHello, err := os.ReadFile(filepath.Join(testwasm.Root(b), "examples", "c-hello", "hello.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	return rt, []guest{{"go", testwasm.Build(b, "examples/hello")}, {"c", cHello}}
}

// BenchmarkServeHello measures the whole request path for examples/hello
// in process (no sockets): route, take an instance, run the guest, write
// the response. Sub-benchmarks compare the instance strategies.
func BenchmarkServeHello(b *testing.B) {
	rt, guests := helloGuests(b)
	for _, guest := range guests {
		for _, bc := range []struct {
			name string
			cfg  scheduler.Config
		}{
			{"pooled", scheduler.Config{}},
			{"from-image", scheduler.Config{PoolSize: -1}},
			{"fresh", scheduler.Config{Fresh: true}},
		} {
			benchServe(b, rt, guest.name+"/"+bc.name, guest.wasm, bc.cfg)
		}
	}
}

func benchServe(b *testing.B, rt *runtime.Runtime, name string, wasm []byte, cfg scheduler.Config) {
	ctx := context.Background()
	b.Run(name, func(b *testing.B) {
		mod, err := rt.Compile(ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		s := scheduler.New(cfg)
		w, err := s.NewWorker(ctx, "t", "hello", 1, mod, api.Limits{}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		e := edge.New(edge.Config{}, s)
		e.SetWorkers([]*scheduler.Worker{w}, nil)
		req := httptest.NewRequest("GET", "http://hello.t.wedge.localhost/bench", nil)
		times := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		var ru0 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		minflt0 := ru0.Minflt
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rec := httptest.NewRecorder()
			start := time.Now()
			e.ServeHTTP(rec, req)
			times = append(times, time.Since(start))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			time.Sleep(0) // let the recycler run, as between real requests
		}
		b.StopTimer()
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(float64(ru.Minflt-minflt0)/float64(b.N), "minflt/op")
		_, reused := w.Stats()
		b.ReportMetric(float64(reused)/float64(b.N), "pooled/op")
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
	})
}

// BenchmarkReset measures returning a pooled instance to its image after
// one request, for the Go and the C hello (the work done after the
// response, off the request's path). The scan variants run the request
// without a Meter, so without the watch that lets a reset skip asking the
// kernel which pages are private (runtime.faultWatch): every reset scans,
// as the first reset of an instance and any after a new page was written.
func BenchmarkReset(b *testing.B) {
	ctx := context.Background()
	rt, guests := helloGuests(b)
	for _, guest := range guests {
		for _, watched := range []bool{true, false} {
			name := guest.name
			if !watched {
				name += "/scan"
			}
			benchReset(b, ctx, rt, name, guest.wasm, watched)
		}
	}
}

func benchReset(b *testing.B, ctx context.Context, rt *runtime.Runtime, name string, wasm []byte, watched bool) {
	b.Run(name, func(b *testing.B) {
		mod, err := rt.Compile(ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		img, err := mod.NewImage(ctx, runtime.ImageConfig{})
		mod.Release()
		if err != nil {
			b.Fatal(err)
		}
		defer img.Close()
		in, err := img.NewInstance(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer in.Close()
		times := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			req := &hostapi.Request{W: httptest.NewRecorder(), R: httptest.NewRequest("GET", "http://x/y", nil)}
			var rc runtime.RunConfig
			if watched {
				rc.Meter = &runtime.Meter{}
				req.Pauser = rc.Meter
			}
			if _, err := in.Run(hostapi.NewContext(ctx, req), rc); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			if !in.Reset() {
				b.Fatal("reset failed")
			}
			times = append(times, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds())/1e3, "p99-µs")
		b.ReportMetric(float64(in.PrivatePages()), "private-pages")
	})
}

// BenchmarkPlainWazero is the baseline the instance strategies are
// measured against: stock wazero (compiler engine, no compilation cache
// in the loop, no instrumentation) instantiating the uploaded module for
// every request — data segments, _initialize and all — calling its
// handler through the same host functions, and closing it.
func BenchmarkPlainWazero(b *testing.B) {
	ctx := context.Background()
	_, guests := helloGuests(b)
	for _, g := range guests {
		b.Run(g.name, func(b *testing.B) {
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
			defer rt.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			hb := rt.NewHostModuleBuilder(hostapi.ModuleName)
			hostapi.Module{}.ExportFunctions(func(name string, fn wapi.GoModuleFunction, params, results []wapi.ValueType) {
				hb.NewFunctionBuilder().WithGoModuleFunction(fn, params, results).Export(name)
			})
			if _, err := hb.Instantiate(ctx); err != nil {
				b.Fatal(err)
			}
			cm, err := rt.CompileModule(ctx, g.wasm)
			if err != nil {
				b.Fatal(err)
			}
			mc := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
				WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader)
			times := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				req := &hostapi.Request{W: httptest.NewRecorder(), R: httptest.NewRequest("GET", "http://hello.t.wedge.localhost/bench", nil)}
				rctx := hostapi.NewContext(ctx, req)
				start := time.Now()
				mod, err := rt.InstantiateModule(rctx, cm, mc)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := mod.ExportedFunction("wedge_handle").Call(rctx); err != nil {
					b.Fatal(err)
				}
				mod.Close(ctx)
				times = append(times, time.Since(start))
				req.Finish()
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
		})
	}
}
