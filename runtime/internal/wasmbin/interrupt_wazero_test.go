package wasmbin

import (
	"context"
	"errors"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// checker is a host check function: it counts its calls and, once stop is
// set, stops the guest by panicking, as the runtime's does. With max, it
// stops a guest instrumented with CallDepth whose call depth is over max,
// as the runtime's does too.
type checker struct {
	calls atomic.Int64
	stop  atomic.Bool
	max   uint32       // the call depth limit; 0 for none
	deep  atomic.Int64 // the guests stopped for their call depth
	depth atomic.Int64 // the call depth of the last one
}

var errStopped = errors.New("stopped by the host")

var errTooDeep = errors.New("call depth exceeded")

func (c *checker) check(_ context.Context, mod api.Module) {
	c.calls.Add(1)
	if c.max > 0 {
		if g := mod.ExportedGlobal(DepthExport); g != nil {
			if d := CallDepth(g.Get()); d > c.max {
				c.deep.Add(1)
				c.depth.Store(int64(d))
				panic(errTooDeep)
			}
		}
	}
	if c.stop.Load() {
		panic(errStopped)
	}
}

// newRuntime returns a wazero runtime on the compiler (the runtime's engine,
// without WithCloseOnContextDone) with the check host module (a
// GoModuleFunc, as the runtime's, without reflection) and an "env"
// module for the fixtures' imports.
func newRuntime(t testing.TB, c *checker, features api.CoreFeatures) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features))
	t.Cleanup(func() { r.Close(ctx) })
	if _, err := r.NewHostModuleBuilder(CheckModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, _ []uint64) { c.check(ctx, mod) }), nil, nil).Export(CheckName).
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(x uint32) uint32 { return x + 100 }).Export("add100").
		NewFunctionBuilder().WithFunc(func(x uint32) uint32 { return x + 1000 }).Export("add1000").
		Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// instantiate compiles and instantiates wasm in r under name.
func instantiate(t testing.TB, r wazero.Runtime, wasm []byte, name string) api.Module {
	t.Helper()
	ctx := context.Background()
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	return mod
}

// call calls mod's export fn and returns its first result, truncated to 32
// bits when the function returns an i32.
func call(mod api.Module, fn string, args ...uint64) (uint64, error) {
	f := mod.ExportedFunction(fn)
	res, err := f.Call(context.Background(), args...)
	if err != nil || len(res) == 0 {
		return 0, err
	}
	if f.Definition().ResultTypes()[0] == api.ValueTypeI32 {
		return uint64(uint32(res[0])), nil
	}
	return res[0], nil
}

// instrument instruments a fixture with Interrupt.
func instrument(t testing.TB, name string) (wasm, out []byte) {
	t.Helper()
	wasm = readFixture(t, name)
	out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	return wasm, out
}

type callTest struct {
	fn   string
	args []uint64
	want uint64
}

// checkResults calls the functions of both modules: they must give the same
// results, the expected ones.
func checkResults(t *testing.T, orig, inst api.Module, tests []callTest) {
	t.Helper()
	for _, tt := range tests {
		for _, mod := range []api.Module{orig, inst} {
			got, err := call(mod, tt.fn, tt.args...)
			if err != nil || got != tt.want {
				t.Errorf("%s: %s%v = %d, %v; want %d", mod.Name(), tt.fn, tt.args, got, err, tt.want)
			}
		}
	}
}

// stopWhileRunning calls fn in a goroutine, checks that it runs (and calls
// the check function) until the check function panics, and that it returns
// the panic's error soon after.
func stopWhileRunning(t *testing.T, c *checker, mod api.Module, fn string, args ...uint64) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := call(mod, fn, args...)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("%s returned before the stop: %v", fn, err)
	case <-time.After(50 * time.Millisecond):
	}
	// The garbage collector's stop-the-world needs the looping goroutine to
	// reach a safe point: the check function is one.
	gcDone := make(chan struct{})
	go func() { goruntime.GC(); close(gcDone) }()
	select {
	case <-gcDone:
	case <-time.After(5 * time.Second):
		t.Fatal("a garbage collection did not complete while the guest ran")
	}
	before := c.calls.Load()
	if before == 0 {
		t.Fatalf("%s ran 50 ms without calling the check function", fn)
	}
	c.stop.Store(true)
	defer c.stop.Store(false)
	stopped := time.Now()
	select {
	case err := <-done:
		d := time.Since(stopped)
		if !errors.Is(err, errStopped) && (err == nil || !strings.Contains(err.Error(), errStopped.Error())) {
			t.Fatalf("%s returned %v, want the check's panic", fn, err)
		}
		if d > time.Second {
			t.Errorf("stopped after %v", d)
		}
		t.Logf("%s: %d calls of the check function before the stop, stopped in %v: %s", fn, before, d, strings.SplitN(err.Error(), "\n", 2)[0])
	case <-time.After(5 * time.Second):
		t.Fatal("the check function did not stop the guest") // which spins on
	}
}

// TestInterruptBehaviour runs testdata/loops.wasm, instrumented with
// Interrupt, on wazero's compiler: the exports compute what they computed
// before, the check function is called once every CheckInterval checks, and
// a guest stuck in a loop is stopped when the check function panics.
func TestInterruptBehaviour(t *testing.T) {
	wasm, out := instrument(t, "loops")
	c := new(checker)
	r := newRuntime(t, c, api.CoreFeaturesV2)
	orig := instantiate(t, r, wasm, "original")
	inst := instantiate(t, r, out, "instrumented")
	neg5 := uint64(uint32(0xfffffffb))

	t.Run("results", func(t *testing.T) {
		checkResults(t, orig, inst, []callTest{
			{"sum", []uint64{0}, 0},
			{"sum", []uint64{1}, 1},
			{"sum", []uint64{2000}, 2001000},
			{"fib", []uint64{0}, 0},
			{"fib", []uint64{10}, 55},
			{"fib", []uint64{90}, 2880067194370816120},
			{"digits", []uint64{0}, 1},
			{"digits", []uint64{4294967295}, 10},
			{"collatz", []uint64{1}, 0},
			{"collatz", []uint64{27}, 111},
			{"arms", []uint64{neg5}, neg5},
			{"arms", []uint64{0}, 0},
			{"arms", []uint64{7}, 7},
			{"fill", []uint64{100}, 0},
			{"total", []uint64{100}, 4950},
			{"noloop", []uint64{4}, 12},
		})
	})

	t.Run("interval", func(t *testing.T) {
		// sum(n) passes 1 + (n+1) + n(n+1)/2 checks: its entry, the outer
		// loop's n+1 iterations and the inner loop's.
		mod := instantiate(t, r, out, "interval")
		c.calls.Store(0)
		const n = 2000
		if _, err := call(mod, "sum", n); err != nil {
			t.Fatal(err)
		}
		checks := 1 + (n + 1) + n*(n+1)/2
		if got, want := c.calls.Load(), int64(checks/CheckInterval); got != want {
			t.Errorf("%d calls of the check function for %d checks, want %d", got, checks, want)
		}
	})

	for _, tt := range []struct {
		fn   string
		args []uint64
	}{{"spin", nil}, {"spin_inner", []uint64{0}}} {
		t.Run(tt.fn, func(t *testing.T) {
			mod := instantiate(t, r, out, tt.fn)
			c.calls.Store(0)
			stopWhileRunning(t, c, mod, tt.fn, tt.args...)
			// The instance works again once the check lets it.
			if got, err := call(mod, "sum", 100); err != nil || got != 5050 {
				t.Errorf("sum after the stop: %d, %v", got, err)
			}
		})
	}

	// With a single P, the goroutine that stops the guest runs only if the
	// looping guest gives the P back: at its calls of the check function.
	t.Run("GOMAXPROCS=1", func(t *testing.T) {
		defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
		mod := instantiate(t, r, out, "one P")
		c.calls.Store(0)
		stopWhileRunning(t, c, mod, "spin")
	})
}

// TestInterruptRenumber runs testdata/renumber.wasm and its instrumented
// version: direct and indirect calls, tables filled by element segments of
// every kind, ref.func in code and globals, exports of defined and imported
// functions and the start function all reach the same functions.
func TestInterruptRenumber(t *testing.T) {
	wasm, out := instrument(t, "renumber")
	c := new(checker)
	r := newRuntime(t, c, api.CoreFeaturesV2)
	orig := instantiate(t, r, wasm, "original")
	inst := instantiate(t, r, out, "instrumented")
	checkResults(t, orig, inst, []callTest{
		{"direct", []uint64{3}, 116}, // add100(square(inc(3)))
		{"indirect", []uint64{0, 5}, 10}, {"indirect", []uint64{1, 5}, 25}, {"indirect", []uint64{2, 5}, 4},
		{"indirect", []uint64{3, 5}, 105}, {"indirect", []uint64{4, 5}, 6}, {"indirect", []uint64{6, 5}, 25},
		{"indirect", []uint64{7, 5}, 1005},
		{"indirect2", []uint64{4, 5}, 4}, {"indirect2", []uint64{5, 5}, 105}, {"indirect2", []uint64{6, 5}, 25},
		{"ref_code", []uint64{6}, 36},
		{"ref_global", []uint64{6}, 12},
		{"passive", []uint64{0, 6}, 7}, {"passive", []uint64{1, 6}, 12},
		{"passive_expr", []uint64{0, 6}, 5}, {"passive_expr", []uint64{1, 6}, 1006},
		{"fact", []uint64{10}, 3628800},
		{"sum_squares", []uint64{10}, 385},
		{"double", []uint64{21}, 42},
		{"imported", []uint64{1}, 1001},
	})
	// Null entries trap in both.
	for _, mod := range []api.Module{orig, inst} {
		if _, err := call(mod, "indirect", 5, 1); err == nil {
			t.Errorf("%s: a call through a null table entry succeeded", mod.Name())
		}
	}
	// The start function ran in the original; the instrumented module
	// exports it instead.
	if got := orig.ExportedGlobal("started").Get(); got != 7 {
		t.Errorf("original: started = %d, want 7", got)
	}
	if got := inst.ExportedGlobal("started").Get(); got != 0 {
		t.Errorf("instrumented: started = %d before %s, want 0", got, StartExport)
	}
	if _, err := call(inst, StartExport); err != nil {
		t.Fatal(err)
	}
	if got := inst.ExportedGlobal("started").Get(); got != 7 {
		t.Errorf("instrumented: started = %d after %s, want 7", got, StartExport)
	}
}

// TestInterruptRecursion runs testdata/recurse.wasm: 2^10 calls give the
// same count, and 2^40, which have no loop, are stopped by the checks at the
// functions' entries.
func TestInterruptRecursion(t *testing.T) {
	wasm, out := instrument(t, "recurse")
	c := new(checker)
	r := newRuntime(t, c, api.CoreFeaturesV2)
	orig := instantiate(t, r, wasm, "original")
	inst := instantiate(t, r, out, "instrumented")
	for _, mod := range []api.Module{orig, inst} {
		if _, err := call(mod, "f30"); err != nil {
			t.Fatal(err)
		}
		if got, err := call(mod, "leaves"); err != nil || got != 1024 {
			t.Errorf("%s: %d leaves, %v; want 1024", mod.Name(), got, err)
		}
	}
	c.calls.Store(0)
	stopWhileRunning(t, c, inst, "f0")
}

// TestInterruptTailCalls runs testdata/tailcall_loop.wasm: return_call and
// return_call_indirect reach the same functions, and endless tail calls are
// stopped by the check at the function's entry.
func TestInterruptTailCalls(t *testing.T) {
	wasm, out := instrument(t, "tailcall_loop")
	c := new(checker)
	r := newRuntime(t, c, api.CoreFeaturesV2|experimental.CoreFeaturesTailCall)
	orig := instantiate(t, r, wasm, "original")
	inst := instantiate(t, r, out, "instrumented")
	checkResults(t, orig, inst, []callTest{{"count", []uint64{0}, 142}, {"count", []uint64{100000}, 142}})
	c.calls.Store(0)
	stopWhileRunning(t, c, inst, "spin", 0)
}

// BenchmarkLoopCheck measures what the checks cost on wazero's compiler:
// sum(1000) of testdata/loops.wasm runs 500,500 iterations of its inner
// loop, as compiled, with Interrupt's checks, and with wazero's own
// WithCloseOnContextDone instead. Each reports its time relative to plain.
func BenchmarkLoopCheck(b *testing.B) {
	ctx := context.Background()
	wasm, out := instrument(b, "loops")
	var plain float64
	for _, bb := range []struct {
		name  string
		wasm  []byte
		close bool
	}{{"plain", wasm, false}, {"interrupt", out, false}, {"closeOnContextDone", wasm, true}} {
		b.Run(bb.name, func(b *testing.B) {
			c := new(checker)
			r := newRuntime(b, c, api.CoreFeaturesV2)
			if bb.close {
				r = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
				defer r.Close(ctx)
			}
			mod, err := r.Instantiate(ctx, bb.wasm)
			if err != nil {
				b.Fatal(err)
			}
			sum := mod.ExportedFunction("sum")
			for b.Loop() {
				if res, err := sum.Call(ctx, 1000); err != nil || res[0] != 500500 {
					b.Fatal(res, err)
				}
			}
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if bb.name == "plain" {
				plain = perOp
			} else if plain > 0 {
				b.ReportMetric(perOp/plain, "x_plain")
			}
			if bb.name == "interrupt" {
				b.ReportMetric(float64(c.calls.Load())/float64(b.N), "checkcalls/op")
			}
		})
	}
	b.Run("instrumentGoModule", func(b *testing.B) {
		wasm := goModule(b)
		info, err := Parse(wasm)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(wasm)))
		for b.Loop() {
			if _, err := InstrumentWith(wasm, info, InstrumentOptions{Interrupt: true, StripData: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
