package wasmbin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// instantiate compiles and instantiates wasm in r under name.
func instantiate(t *testing.T, r wazero.Runtime, wasm []byte, name string) api.Module {
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

// TestInterruptBehaviour runs testdata/loops.wasm, instrumented with
// Interrupt, on wazero's compiler (the runtime's engine, without
// WithCloseOnContextDone): the exports compute what they computed before,
// and setting the stop global makes a guest stuck in a loop trap at once.
func TestInterruptBehaviour(t *testing.T) {
	ctx := context.Background()
	wasm := readFixture(t, "loops")
	out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	t.Cleanup(func() { r.Close(ctx) })
	orig := instantiate(t, r, wasm, "original")
	inst := instantiate(t, r, out, "instrumented")
	neg5 := uint64(uint32(0xfffffffb))

	t.Run("results", func(t *testing.T) {
		tests := []struct {
			fn   string
			args []uint64
			want uint64
		}{
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
		}
		for _, tt := range tests {
			for _, mod := range []api.Module{orig, inst} {
				got, err := call(mod, tt.fn, tt.args...)
				if err != nil || got != tt.want {
					t.Errorf("%s: %s%v = %d, %v; want %d", mod.Name(), tt.fn, tt.args, got, err, tt.want)
				}
			}
		}
	})

	for _, tt := range []struct {
		fn   string
		args []uint64
	}{{"spin", nil}, {"spin_inner", []uint64{0}}} {
		t.Run(tt.fn, func(t *testing.T) {
			mod := instantiate(t, r, out, tt.fn)
			stop, ok := mod.ExportedGlobal(StopExport).(api.MutableGlobal)
			if !ok {
				t.Fatalf("%s is not a mutable global", StopExport)
			}
			done := make(chan error, 1)
			go func() {
				_, err := call(mod, tt.fn, tt.args...)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("returned before the stop: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			stop.Set(1)
			stopped := time.Now()
			select {
			case err := <-done:
				d := time.Since(stopped)
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("%s returned %v, want an unreachable trap", tt.fn, err)
				}
				if d > time.Second {
					t.Errorf("stopped after %v", d)
				}
				t.Logf("stopped in %v: %s", d, strings.SplitN(err.Error(), "\n", 2)[0])
			case <-time.After(5 * time.Second):
				t.Fatal("the stop global did not stop the guest") // which spins on
			}

			// While the global is set, any loop traps at once and code
			// without loops runs; cleared, the instance works again.
			if _, err := call(mod, "sum", 3); err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("sum with the stop global set: %v, want an unreachable trap", err)
			}
			if got, err := call(mod, "noloop", 5); err != nil || got != 15 {
				t.Errorf("noloop with the stop global set: %d, %v", got, err)
			}
			stop.Set(0)
			if got, err := call(mod, "sum", 100); err != nil || got != 5050 {
				t.Errorf("sum after the stop global is cleared: %d, %v", got, err)
			}
		})
	}
}

// BenchmarkLoopCheck measures what the checks cost on wazero's compiler:
// sum(1000) of testdata/loops.wasm runs 500,500 iterations of its inner
// loop, as compiled, with Interrupt's checks, and with wazero's own
// WithCloseOnContextDone instead.
func BenchmarkLoopCheck(b *testing.B) {
	ctx := context.Background()
	wasm := readFixture(b, "loops")
	out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name  string
		wasm  []byte
		close bool
	}{{"plain", wasm, false}, {"interrupt", out, false}, {"closeOnContextDone", wasm, true}} {
		b.Run(bb.name, func(b *testing.B) {
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(bb.close))
			defer r.Close(ctx)
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
		})
	}
}
