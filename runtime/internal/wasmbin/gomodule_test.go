package wasmbin

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

// goModule builds examples/hello with GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared, as Wedge's users build their workers.
func goModule(t testing.TB) []byte {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not installed: cannot build a Go module")
	}
	return testwasm.Build(t, "examples/hello")
}

// TestGoModule checks what image-based instantiation relies on in the
// modules Go's wasm backend produces.
func TestGoModule(t *testing.T) {
	wasm := goModule(t)
	info, err := Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Resettable {
		t.Errorf("Go module is not resettable: %s. Go's wasm backend emitted an "+
			"instruction that changes tables or segments (or one the scanner does not know); "+
			"image-based instantiation cannot serve this module", info.NotResettable)
	}
	if info.MemoryInit {
		t.Error("Go module uses memory.init")
	}
	mutable := 0
	for _, g := range info.Globals {
		if g.Mutable {
			mutable++
		}
	}
	if mutable == 0 {
		t.Error("no mutable globals (Go keeps SP and friends in globals)")
	}
	if info.Memory == nil || info.MemoryImported || info.Memories != 1 {
		t.Errorf("memory: %+v, imported %v, %d memories; want one defined memory", info.Memory, info.MemoryImported, info.Memories)
	}
	if info.Start != -1 {
		t.Errorf("start function %d in a c-shared module", info.Start)
	}
	if len(info.Data) == 0 {
		t.Error("no data segments")
	}
	for i, d := range info.Data {
		if !d.Active || !d.OffsetConst || d.MemIndex != 0 {
			t.Fatalf("data segment %d: %+v; want active in memory 0 at a constant offset", i, d)
		}
	}
	exports := map[string]bool{}
	for _, e := range info.Exports {
		exports[e.Name] = true
	}
	for _, name := range []string{"_initialize", "wedge_handle", "memory"} {
		if !exports[name] {
			t.Errorf("no export %q", name)
		}
	}
	var dataBytes int
	for _, d := range info.Data {
		dataBytes += len(d.Bytes)
	}
	t.Logf("Go module: %d bytes, %d imported functions, %d globals (%d mutable), memory %+v, "+
		"%d data segments (%d bytes), data count section %v, resettable %v",
		len(wasm), info.ImportedFuncs, len(info.Globals), mutable, *info.Memory,
		len(info.Data), dataBytes, info.HasDataCount, info.Resettable)

	for _, strip := range []bool{false, true} {
		out, err := Instrument(wasm, info, strip)
		if err != nil {
			t.Fatalf("Instrument(stripData=%v): %v", strip, err)
		}
		validate(t, out)
		checkInstrumented(t, wasm, out, info, strip)
		if strip {
			t.Logf("instrumented and stripped: %d bytes", len(out))
			if len(out) >= len(wasm)-dataBytes {
				t.Errorf("stripped module is %d bytes; want less than %d", len(out), len(wasm)-dataBytes)
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	wasm := goModule(b)
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(wasm); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInstrument(b *testing.B) {
	benchmarkInstrument(b, InstrumentOptions{StripData: true})
}

// BenchmarkInstrumentInterrupt instruments the Go module with Interrupt,
// given Parse's Info for the same slice (as the runtime does) and for a copy,
// whose bodies InstrumentWith must decode again.
func BenchmarkInstrumentInterrupt(b *testing.B) {
	b.Run("parsed", func(b *testing.B) {
		benchmarkInstrument(b, InstrumentOptions{Interrupt: true})
	})
	b.Run("copy", func(b *testing.B) {
		wasm := goModule(b)
		info, err := Parse(wasm)
		if err != nil {
			b.Fatal(err)
		}
		wasm = bytes.Clone(wasm)
		b.SetBytes(int64(len(wasm)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := InstrumentWith(wasm, info, InstrumentOptions{Interrupt: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchmarkInstrument(b *testing.B, opts InstrumentOptions) {
	wasm := goModule(b)
	info, err := Parse(wasm)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := InstrumentWith(wasm, info, opts)
		if err != nil || bytes.Equal(out, wasm) {
			b.Fatal(err)
		}
	}
}

// TestGoModuleInterrupt instruments the Go module with Interrupt: the output
// validates, has a check at each function entry and at each of the loops
// that the scanner and wasm2wat find, compiles with wazero, and initialises
// (_initialize) with WASI, a no-op wedge_v1 module and a check function that
// counts its calls.
func TestGoModuleInterrupt(t *testing.T) {
	wasm := goModule(t)
	info, err := Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range interruptOpts {
		begin := time.Now()
		out, err := InstrumentWith(wasm, info, opts)
		elapsed := time.Since(begin)
		if err != nil {
			t.Fatalf("InstrumentWith(%+v): %v", opts, err)
		}
		validate(t, out)
		checks := checkInstrumentedWith(t, wasm, out, info, opts)
		funcs := len(bodies(t, wasm))
		if checks <= funcs {
			t.Fatal("no loops in the Go module")
		}
		if opts.StripData {
			continue
		}
		if loops, ok := watLoops(t, wasm); ok && loops+funcs != checks {
			t.Errorf("%d checks, wasm2wat finds %d loops in %d functions", checks, loops, funcs)
		}
		plain, err := Instrument(wasm, info, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Go module: %d checks (%d functions, %d loops); %d bytes, %d instrumented without and %d with Interrupt "+
			"(+%d bytes, +%.2f%%; code section +%.2f%%); InstrumentWith took %v (once, cold)",
			checks, funcs, checks-funcs, len(wasm), len(plain), len(out), len(out)-len(plain),
			100*float64(len(out)-len(plain))/float64(len(plain)),
			100*float64(len(sectionPayload(t, out, secCode))-len(sectionPayload(t, wasm, secCode)))/float64(len(sectionPayload(t, wasm, secCode))),
			elapsed)

		if testing.Short() {
			continue
		}
		ctx := context.Background()
		c := new(checker)
		r := newRuntime(t, c, api.CoreFeaturesV2)
		wasi_snapshot_preview1.MustInstantiate(ctx, r)
		hostFunc := func(context.Context, uint32, uint32) uint32 { return 0 }
		b := r.NewHostModuleBuilder("wedge_v1")
		for _, name := range []string{"request_head", "request_body_read", "response_head", "response_body_write"} {
			b = b.NewFunctionBuilder().WithFunc(hostFunc).Export(name)
		}
		if _, err := b.NewFunctionBuilder().WithFunc(func(context.Context) uint32 { return 0 }).Export("response_flush").Instantiate(ctx); err != nil {
			t.Fatal(err)
		}
		begin = time.Now()
		cm, err := r.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero: compile the instrumented Go module: %v", err)
		}
		t.Logf("wazero compiled the instrumented Go module in %v", time.Since(begin))
		mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("go").WithStartFunctions())
		if err != nil {
			t.Fatalf("wazero: instantiate the instrumented Go module: %v", err)
		}
		begin = time.Now()
		if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
			t.Fatalf("_initialize: %v", err)
		}
		if c.calls.Load() == 0 {
			t.Error("_initialize never called the check function")
		}
		t.Logf("_initialize took %v and called the check function %d times", time.Since(begin), c.calls.Load())
	}
}
