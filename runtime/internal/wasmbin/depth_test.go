package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// instrumentDepth instruments a fixture with Interrupt and the call depth
// count.
func instrumentDepth(t testing.TB, name string) (wasm, out []byte) {
	t.Helper()
	wasm = readFixture(t, name)
	out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true, CallDepth: true})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)
	return wasm, out
}

// tooDeep reports whether err is the checker's stop for the call depth.
func tooDeep(err error) bool {
	return errors.Is(err, errTooDeep) || err != nil && strings.Contains(err.Error(), errTooDeep.Error())
}

// callsOf returns mod's $calls global.
func callsOf(t testing.TB, mod api.Module) api.MutableGlobal {
	t.Helper()
	g, ok := mod.ExportedGlobal(DepthExport).(api.MutableGlobal)
	if !ok {
		t.Fatalf("%s does not export a mutable global %s", mod.Name(), DepthExport)
	}
	return g
}

// countdown returns the countdown after n checks from b (in 1 to
// CheckInterval): it goes back to CheckInterval when it reaches 0.
func countdown(b, n uint64) uint64 { return (b+CheckInterval-1-n%CheckInterval)%CheckInterval + 1 }

// TestCallDepth runs testdata/depth.wasm under call depth limits enforced
// by the check function, from every value of the countdown: a recursion of
// max frames always runs; one of max+CheckInterval+1 frames is always
// stopped, at the first check past max frames, so between max+1 and
// max+CheckInterval frames; and a million rounds of calls that leave their
// functions every way there is (return at every block nesting depth, br,
// br_if and br_table to the function's label, zero, one and two results,
// loops, imports) give the results they gave before and leave the depth at
// 0 and the countdown in its range.
func TestCallDepth(t *testing.T) {
	for _, max := range []uint32{2, 100, 10000} {
		wasm, out := instrumentDepth(t, "depth")
		c := &checker{max: max}
		r := newRuntime(t, c, api.CoreFeaturesV2)
		orig := instantiate(t, r, wasm, "orig")
		inst := instantiate(t, r, out, "inst")
		calls := callsOf(t, inst)
		if v := calls.Get(); v != CheckInterval {
			t.Fatalf("$calls starts at %#x, want depth 0 and countdown %d", v, CheckInterval)
		}
		stops := int64(0)
		for b := uint64(1); b <= CheckInterval; b++ {
			// rec(n) makes n+1 frames: rec(max-1) is the deepest allowed.
			calls.Set(b)
			if got, err := call(inst, "rec", uint64(max-1)); err != nil || got != uint64(max-1) {
				t.Fatalf("max %d, countdown %d: rec(%d) = %d, %v", max, b, max-1, got, err)
			}
			if v, want := calls.Get(), countdown(b, uint64(max)); v != want {
				t.Fatalf("max %d, countdown %d: after rec(%d), $calls %#x, want %#x", max, b, max-1, v, want)
			}
			// The check runs at frames b, b+CheckInterval, ...: the first
			// past max stops the guest.
			stop := b
			for stop <= uint64(max) {
				stop += CheckInterval
			}
			calls.Set(b)
			_, err := call(inst, "rec", uint64(max)+CheckInterval)
			stops++
			if !tooDeep(err) || c.deep.Load() != stops || c.depth.Load() != int64(stop) {
				t.Fatalf("max %d, countdown %d: rec(%d): %v, stopped %d times, last at depth %d; want a stop at depth %d",
					max, b, uint64(max)+CheckInterval, err, c.deep.Load(), c.depth.Load(), stop)
			}
		}
		calls.Set(CheckInterval)
		if max > 2 {
			for _, n := range []uint64{8, 1_000_000} {
				want, err := call(orig, "many", n)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := call(inst, "many", n); err != nil || got != want {
					t.Fatalf("max %d: many(%d) = %d, %v; want %d", max, n, got, err, want)
				}
				if v := calls.Get(); CallDepth(v) != 0 || uint32(v) < 1 || uint32(v) > CheckInterval {
					t.Fatalf("max %d: after many(%d), $calls %#x: depth %d, countdown %d", max, n, v, CallDepth(v), uint32(v))
				}
			}
			sink, _ := call(orig, "sink")
			if got, _ := call(inst, "sink"); got != sink {
				t.Errorf("max %d: sink %d, want %d", max, got, sink)
			}
		}
		if got, err := call(inst, "rec", uint64(max-1)); err != nil || got != uint64(max-1) {
			t.Fatalf("max %d: after many, rec(%d) = %d, %v", max, max-1, got, err)
		}
		if c.deep.Load() != stops {
			t.Fatalf("max %d: %d stops for the call depth, want %d", max, c.deep.Load(), stops)
		}
		if _, err := call(orig, "rec", uint64(max)+CheckInterval); err != nil {
			t.Fatalf("uninstrumented rec(%d): %v", uint64(max)+CheckInterval, err)
		}
	}
}

// TestCallDepthUnbounded runs runtime/testdata/recurse.wasm, which recurses
// without end: the limit stops it, less than CheckInterval frames past it.
func TestCallDepthUnbounded(t *testing.T) {
	wasm, err := os.ReadFile("../../testdata/recurse.wasm")
	if err != nil {
		t.Fatal(err)
	}
	out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true, CallDepth: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{max: 1000}
	r := newRuntime(t, c, api.CoreFeaturesV2)
	inst := instantiate(t, r, out, "recurse")
	if _, err := call(inst, "wedge_handle"); !tooDeep(err) {
		t.Fatalf("wedge_handle: %v, want the call depth stop", err)
	}
	if d := c.depth.Load(); d <= 1000 || d > 1000+CheckInterval {
		t.Fatalf("stopped at depth %d, want 1001 to %d", d, 1000+CheckInterval)
	}
}

// TestCallDepthTailCalls runs testdata/tailcall_loop.wasm: a chain of a
// hundred thousand tail calls (return_call_indirect, then return_call to an
// import) runs under a limit of 3, since each call replaces its caller's
// frame, and leaves the depth at 0.
func TestCallDepthTailCalls(t *testing.T) {
	wasm, out := instrumentDepth(t, "tailcall_loop")
	c := &checker{max: 3}
	r := newRuntime(t, c, api.CoreFeaturesV2|experimental.CoreFeaturesTailCall)
	orig, inst := instantiate(t, r, wasm, "orig"), instantiate(t, r, out, "inst")
	checkResults(t, orig, inst, []callTest{{"count", []uint64{0}, 142}, {"count", []uint64{100_000}, 142}})
	if c.deep.Load() != 0 {
		t.Fatalf("stopped %d times for the call depth", c.deep.Load())
	}
	if c.calls.Load() == 0 {
		t.Fatal("the check function was never called")
	}
	if v := callsOf(t, inst).Get(); CallDepth(v) != 0 {
		t.Fatalf("after the tail calls, depth %d", CallDepth(v))
	}
}

// TestCallDepthFixtures instruments every fixture with the call depth
// count: it fails where Interrupt fails, and otherwise gives a module that
// validates, exports $calls and compiles on wazero when the original does.
func TestCallDepthFixtures(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			wasm := readFixture(t, name)
			info, err := Parse(wasm)
			if err != nil {
				t.Fatal(err)
			}
			_, errInterrupt := InstrumentWith(wasm, info, InstrumentOptions{Interrupt: true})
			out, err := InstrumentWith(wasm, info, InstrumentOptions{Interrupt: true, CallDepth: true})
			if (err == nil) != (errInterrupt == nil) {
				t.Fatalf("with the call depth count: %v; without: %v", err, errInterrupt)
			}
			if err != nil {
				return
			}
			validate(t, out)
			checkDepthInstrumented(t, wasm, out, info)
		})
	}
}

// checkDepthInstrumented checks what InstrumentWith with the call depth
// count promises of out, from wasm and its info: it parses, with one more
// imported function (check), one more global (a mutable i64, exported as
// DepthExport) and as many bodies, and when wazero compiles wasm it
// compiles out too.
func checkDepthInstrumented(t testing.TB, wasm, out []byte, info *Info) {
	t.Helper()
	got, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(instrumented): %v", err)
	}
	if got.ImportedFuncs != info.ImportedFuncs+1 || len(got.Globals) != len(info.Globals)+1 {
		t.Fatalf("%d imported functions and %d globals, %d and %d before", got.ImportedFuncs, len(got.Globals), info.ImportedFuncs, len(info.Globals))
	}
	if g := got.Globals[len(got.Globals)-1]; g.Type != i64Type || !g.Mutable {
		t.Fatalf("the added global is %+v, want a mutable i64", g)
	}
	calls := uint32(info.ImportedGlobals + len(info.Globals))
	if !slices.Contains(got.Exports, Export{Name: DepthExport, Kind: 3, Index: calls}) {
		t.Fatalf("global %d is not exported as %s: %+v", calls, DepthExport, got.Exports)
	}
	if n, m := len(bodies(t, out)), len(bodies(t, wasm)); n != m {
		t.Fatalf("%d bodies, %d before", n, m)
	}
	wasm, out, ok := forWazero(t, wasm), forWazero(t, out), bounded(t, wasm)
	if !ok {
		return
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesTailCall|experimental.CoreFeaturesThreads))
	defer r.Close(ctx)
	if cm, err := r.CompileModule(ctx, wasm); err == nil {
		cm.Close(ctx)
		if _, err := r.CompileModule(ctx, out); err != nil {
			t.Fatalf("wazero compiles the module, not the instrumented one: %v", err)
		}
	}
}

// TestCallDepthLayout instruments hand-made modules: a body that returns
// at the top level and uses a block type by index, a function with no
// type section entry of its results, and a body that uses a global the
// module does not have (refused: it would reach $budget or $calls).
func TestCallDepthLayout(t *testing.T) {
	entry := func(body ...byte) []byte { return cat(appendU32(nil, uint32(len(body))), body) }
	pairType := []byte{0x60, 0, 2, i32, i64} // [] -> [i32 i64], absent at first
	withParam := []byte{0x60, 1, i32, 2, i32, i64}
	tests := []struct {
		name   string
		wasm   []byte
		cannot string
	}{
		{"return at top level", codeModule(0, 0x0f, 0x0b), ""},
		{"two results, type added", module(
			sec(secType, vec(withParam)...),
			sec(secFunction, vec([]byte{0})...),
			sec(secCode, vec(entry(0, 0x41, 1, 0x42, 2, 0x0f, 0x0b))...),
		), ""},
		{"two results, type found", module(
			sec(secType, vec(withParam, pairType)...),
			sec(secFunction, vec([]byte{0})...),
			sec(secCode, vec(entry(0, 0x02, 1, 0x41, 1, 0x42, 2, 0x0c, 1, 0x0b, 0x0b))...),
		), ""},
		{"unknown global", codeModule(0, 0x41, 5, 0x24, 0, 0x0b), "uses global 0, but the module has 0 globals"},
		{"unknown global, long index", codeModule(0, 0x23, 0x80, 0x01, 0x1a, 0x0b), "uses global 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Parse(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			for _, depth := range []bool{false, true} {
				out, err := InstrumentWith(tt.wasm, info, InstrumentOptions{Interrupt: true, CallDepth: depth})
				if tt.cannot != "" {
					if !errors.Is(err, ErrCannotInterrupt) || !strings.Contains(err.Error(), tt.cannot) {
						t.Fatalf("depth %v: %v, want ErrCannotInterrupt: %s", depth, err, tt.cannot)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				validate(t, out)
				if depth {
					checkDepthInstrumented(t, tt.wasm, out, info)
					if name := tt.name; strings.Contains(name, "type added") && !bytes.Contains(out, pairType) {
						t.Errorf("no type [] -> [i32 i64] added")
					}
				}
			}
		})
	}
}

// TestCallDepthOptions: CallDepth is ignored without Interrupt, and needs
// the name DepthExport.
func TestCallDepthOptions(t *testing.T) {
	wasm := codeModule(0, 0x0b)
	plain, err := Instrument(wasm, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := InstrumentWith(wasm, nil, InstrumentOptions{CallDepth: true}); err != nil || !bytes.Equal(out, plain) {
		t.Errorf("CallDepth without Interrupt: %v, or not what Instrument gives", err)
	}
	taken := module(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(secFunction, vec([]byte{0})...),
		sec(secExport, vec(cat([]byte{byte(len(DepthExport))}, []byte(DepthExport), []byte{0, 0}))...),
		sec(secCode, vec([]byte{2, 0, 0x0b})...),
	)
	if _, err := InstrumentWith(taken, nil, InstrumentOptions{Interrupt: true}); err != nil {
		t.Fatalf("without CallDepth: %v", err)
	}
	if _, err := InstrumentWith(taken, nil, InstrumentOptions{Interrupt: true, CallDepth: true}); !errors.Is(err, ErrExportNameTaken) {
		t.Fatalf("a module that exports %s: %v, want ErrExportNameTaken", DepthExport, err)
	}
}

// forWazero returns wasm without its custom sections, whose declared counts
// wazero's decoder allocates for before reading them (the runtime bounds
// them before; see runtime/wasmcheck.go): they do not change validity.
func forWazero(t testing.TB, wasm []byte) []byte {
	t.Helper()
	secs, err := sections(wasm)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), header[:]...)
	for _, s := range secs {
		if s.id != secCustom {
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	return out
}

// bounded reports whether no body of wasm declares more than 50,000 locals,
// which wazero's decoder would allocate for (the runtime refuses them).
func bounded(t testing.TB, wasm []byte) bool {
	t.Helper()
	for _, entry := range bodies(t, wasm) {
		_, i, _ := readU32(entry, 0)
		n, i, _ := readU32(entry, i)
		locals := uint64(0)
		for ; n > 0; n-- {
			var c uint32
			c, i, _ = readU32(entry, i)
			i++
			if locals += uint64(c); locals > 50000 {
				return false
			}
		}
	}
	return true
}

// BenchmarkCallDepth measures the cost of the call depth count on the worst
// case, a guest that does nothing but call: testdata/depth.wasm's
// rec(1000), 1,001 nested calls, instrumented with Interrupt alone
// ("interrupt") and with the call depth count under a limit of 10,000
// ("depth").
func BenchmarkCallDepth(b *testing.B) {
	wasm := readFixture(b, "depth")
	for _, bc := range []struct {
		name  string
		depth bool
	}{{"interrupt", false}, {"depth", true}} {
		b.Run(bc.name, func(b *testing.B) {
			out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true, CallDepth: bc.depth})
			if err != nil {
				b.Fatal(err)
			}
			r := newRuntime(b, &checker{max: 10000}, api.CoreFeaturesV2)
			fn := instantiate(b, r, out, "m").ExportedFunction("rec")
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				if _, err := fn.Call(ctx, 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
