package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// instrumentDepth instruments a fixture with Interrupt and a call depth
// limit.
func instrumentDepth(t testing.TB, name string, max uint32) (wasm, out []byte) {
	t.Helper()
	wasm = readFixture(t, name)
	out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true, MaxCallDepth: max})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)
	return wasm, out
}

// tooDeep reports whether err is the call depth function's panic.
func tooDeep(err error) bool {
	return errors.Is(err, errTooDeep) || err != nil && strings.Contains(err.Error(), errTooDeep.Error())
}

// TestCallDepth runs testdata/depth.wasm with call depth limits: a
// recursion to the limit runs, one frame more calls the host's function,
// and a million rounds of calls that leave their functions every way there
// is (return at every block depth, br, br_if and br_table to the function's
// label, zero, one and two results, loops, imports) give the results they
// gave before and leave the depth where it was: the recursion to the limit
// still runs after them.
func TestCallDepth(t *testing.T) {
	for _, max := range []uint32{2, 100, 10000} {
		wasm, out := instrumentDepth(t, "depth", max)
		c := new(checker)
		r := newRuntime(t, c, api.CoreFeaturesV2)
		orig := instantiate(t, r, wasm, "orig")
		// rec(n) makes n+1 frames: rec(max-1) is the deepest allowed.
		inst := instantiate(t, r, out, "inst")
		if got, err := call(inst, "rec", uint64(max-1)); err != nil || got != uint64(max-1) {
			t.Fatalf("max %d: rec(%d) = %d, %v", max, max-1, got, err)
		}
		if max > 2 {
			for _, n := range []uint64{8, 1_000_000} {
				want, err := call(orig, "many", n)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := call(inst, "many", n); err != nil || got != want {
					t.Fatalf("max %d: many(%d) = %d, %v; want %d", max, n, got, err, want)
				}
			}
			sink, _ := call(orig, "sink")
			if got, _ := call(inst, "sink"); got != sink {
				t.Errorf("max %d: sink %d, want %d", max, got, sink)
			}
		}
		if got, err := call(inst, "rec", uint64(max-1)); err != nil || got != uint64(max-1) {
			t.Fatalf("max %d: after many, rec(%d) = %d, %v: the depth is not back where it was", max, max-1, got, err)
		}
		if c.deep.Load() != 0 {
			t.Fatalf("max %d: the call depth function was called %d times", max, c.deep.Load())
		}
		_, err := call(inst, "rec", uint64(max))
		if !tooDeep(err) || c.deep.Load() != 1 {
			t.Fatalf("max %d: rec(%d): %v after %d calls of the call depth function; want it to stop the guest", max, max, err, c.deep.Load())
		}
		if _, err := call(orig, "rec", uint64(max)); err != nil {
			t.Fatalf("uninstrumented rec(%d): %v", max, err)
		}
	}
}

// TestCallDepthUnbounded runs runtime/testdata/recurse.wasm, which recurses
// without end: the limit stops it.
func TestCallDepthUnbounded(t *testing.T) {
	wasm, err := os.ReadFile("../../testdata/recurse.wasm")
	if err != nil {
		t.Fatal(err)
	}
	out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true, MaxCallDepth: 1000})
	if err != nil {
		t.Fatal(err)
	}
	c := new(checker)
	r := newRuntime(t, c, api.CoreFeaturesV2)
	inst := instantiate(t, r, out, "recurse")
	if _, err := call(inst, "wedge_handle"); !tooDeep(err) {
		t.Fatalf("wedge_handle: %v, want the call depth function's stop", err)
	}
}

// TestCallDepthTailCalls runs testdata/tailcall_loop.wasm: a chain of a
// hundred thousand tail calls (return_call_indirect, then return_call to an
// import) runs under a limit of 3, since each call replaces its caller's
// frame.
func TestCallDepthTailCalls(t *testing.T) {
	wasm, out := instrumentDepth(t, "tailcall_loop", 3)
	c := new(checker)
	r := newRuntime(t, c, api.CoreFeaturesV2|experimental.CoreFeaturesTailCall)
	orig, inst := instantiate(t, r, wasm, "orig"), instantiate(t, r, out, "inst")
	checkResults(t, orig, inst, []callTest{{"count", []uint64{0}, 142}, {"count", []uint64{100_000}, 142}})
	if c.deep.Load() != 0 {
		t.Fatalf("the call depth function was called %d times", c.deep.Load())
	}
}

// TestCallDepthFixtures instruments every fixture with a call depth limit:
// it fails where Interrupt fails, and otherwise gives a module that
// validates, imports the two functions and compiles on wazero when the
// original does.
func TestCallDepthFixtures(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			wasm := readFixture(t, name)
			info, err := Parse(wasm)
			if err != nil {
				t.Fatal(err)
			}
			_, errInterrupt := InstrumentWith(wasm, info, InstrumentOptions{Interrupt: true})
			out, err := InstrumentWith(wasm, info, InstrumentOptions{Interrupt: true, MaxCallDepth: 1000})
			if (err == nil) != (errInterrupt == nil) {
				t.Fatalf("with a call depth limit: %v; without: %v", err, errInterrupt)
			}
			if err != nil {
				return
			}
			validate(t, out)
			checkDepthInstrumented(t, wasm, out, info)
		})
	}
}

// checkDepthInstrumented checks what InstrumentWith with a call depth limit
// promises of out, from wasm and its info: it parses, with two more
// imported functions (check and call depth) and as many bodies, and when
// wazero compiles wasm it compiles out too.
func checkDepthInstrumented(t testing.TB, wasm, out []byte, info *Info) {
	t.Helper()
	got, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(instrumented): %v", err)
	}
	if got.ImportedFuncs != info.ImportedFuncs+2 || len(got.Globals) != len(info.Globals)+2 {
		t.Fatalf("%d imported functions and %d globals, %d and %d before", got.ImportedFuncs, len(got.Globals), info.ImportedFuncs, len(info.Globals))
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
// module does not have (refused: it would reach $budget or $depth).
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
			for _, max := range []uint32{0, 7} {
				out, err := InstrumentWith(tt.wasm, info, InstrumentOptions{Interrupt: true, MaxCallDepth: max})
				if tt.cannot != "" {
					if !errors.Is(err, ErrCannotInterrupt) || !strings.Contains(err.Error(), tt.cannot) {
						t.Fatalf("max %d: %v, want ErrCannotInterrupt: %s", max, err, tt.cannot)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				validate(t, out)
				if max > 0 {
					checkDepthInstrumented(t, tt.wasm, out, info)
					if name := tt.name; strings.Contains(name, "type added") && !bytes.Contains(out, pairType) {
						t.Errorf("no type [] -> [i32 i64] added")
					}
				}
			}
		})
	}
}

// TestCallDepthOptions: a limit must fit an i32, and is ignored without
// Interrupt.
func TestCallDepthOptions(t *testing.T) {
	wasm := codeModule(0, 0x0b)
	if _, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true, MaxCallDepth: 1 << 31}); err == nil {
		t.Error("InstrumentWith with MaxCallDepth 2^31 succeeded")
	}
	plain, err := Instrument(wasm, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := InstrumentWith(wasm, nil, InstrumentOptions{MaxCallDepth: 10}); err != nil || !bytes.Equal(out, plain) {
		t.Errorf("MaxCallDepth without Interrupt: %v, or not what Instrument gives", err)
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

// BenchmarkCallDepth measures the cost of the call depth limit on the
// worst case, a guest that does nothing but call: testdata/depth.wasm's
// rec(1000), 1,001 nested calls, instrumented with Interrupt alone
// ("interrupt") and with a call depth limit ("depth").
func BenchmarkCallDepth(b *testing.B) {
	wasm := readFixture(b, "depth")
	for _, bc := range []struct {
		name string
		max  uint32
	}{{"interrupt", 0}, {"depth", 10000}} {
		b.Run(bc.name, func(b *testing.B) {
			out, err := InstrumentWith(wasm, nil, InstrumentOptions{Interrupt: true, MaxCallDepth: bc.max})
			if err != nil {
				b.Fatal(err)
			}
			r := newRuntime(b, new(checker), api.CoreFeaturesV2)
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
