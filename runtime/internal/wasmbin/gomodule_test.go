package wasmbin

import (
	"bytes"
	"os/exec"
	"testing"

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
	wasm := goModule(b)
	info, err := Parse(wasm)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := Instrument(wasm, info, true)
		if err != nil || bytes.Equal(out, wasm) {
			b.Fatal(err)
		}
	}
}
