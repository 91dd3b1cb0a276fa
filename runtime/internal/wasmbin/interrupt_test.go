package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// watLoops counts the loop instructions of wasm as wabt's wasm2wat
// disassembles them, independently of the scanner; ok is false without
// wasm2wat.
func watLoops(t testing.TB, wasm []byte) (loops int, ok bool) {
	t.Helper()
	tool, err := exec.LookPath("wasm2wat")
	if err != nil {
		return 0, false
	}
	f := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(f, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "--enable-all", "--no-check", f).Output()
	if err != nil {
		t.Fatalf("wasm2wat: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l == "loop" || strings.HasPrefix(l, "loop ") || strings.HasPrefix(l, "(loop") {
			loops++
		}
	}
	return loops, true
}

var interruptOpts = []InstrumentOptions{
	{Interrupt: true},
	{Interrupt: true, StripData: true},
}

// depthOpts add the call depth count.
var depthOpts = []InstrumentOptions{
	{Interrupt: true, CallDepth: true},
	{Interrupt: true, StripData: true, CallDepth: true},
}

// TestInterruptFixtures instruments every fixture with Interrupt, with and
// without StripData: the output validates, parses to what InstrumentWith
// promises and has one check per function and per loop, as many as wasm2wat
// finds.
func TestInterruptFixtures(t *testing.T) {
	wantChecks := map[string]int{"loops": 11 + 14, "loops_globals": 3 + 2, "recurse": 42, "renumber": 14 + 1}
	cannot := map[string]string{
		"exceptions": "function 1 has unknown opcode 0x06",
	}
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			wasm := readFixture(t, name)
			orig := bytes.Clone(wasm)
			info, err := Parse(wasm)
			if err != nil {
				t.Fatal(err)
			}
			for _, opts := range interruptOpts {
				out, err := InstrumentWith(wasm, info, opts)
				if opts.StripData && errors.Is(err, ErrCannotStripData) {
					continue // checked before the loops
				}
				if reason, ok := cannot[name]; ok {
					if !errors.Is(err, ErrCannotInterrupt) || !strings.Contains(err.Error(), reason) {
						t.Fatalf("InstrumentWith(%+v): %v, want ErrCannotInterrupt: %s", opts, err, reason)
					}
					continue
				}
				if err != nil {
					t.Fatalf("InstrumentWith(%+v): %v", opts, err)
				}
				if !bytes.Equal(wasm, orig) {
					t.Fatal("InstrumentWith modified its input")
				}
				validate(t, out)
				checks := checkInstrumentedWith(t, wasm, out, info, opts)
				if want, ok := wantChecks[name]; ok && checks != want {
					t.Errorf("%d checks, want %d", checks, want)
				}
				if loops, ok := watLoops(t, wasm); ok && loops+len(bodies(t, wasm)) != checks {
					t.Errorf("%d checks, wasm2wat finds %d loops in %d functions", checks, loops, len(bodies(t, wasm)))
				}
			}
		})
	}
}

// TestInterruptLayout instruments hand-made modules where the encoding of
// the output changes in ways the fixtures do not reach.
func TestInterruptLayout(t *testing.T) {
	typ := sec(secType, vec([]byte{0x60, 0, 0})...)
	funcs := func(n int) []byte {
		types := make([][]byte, n)
		for i := range types {
			types[i] = []byte{0}
		}
		return sec(secFunction, vec(types...)...)
	}
	code := func(bodies ...[]byte) []byte {
		entries := make([][]byte, len(bodies))
		for i, b := range bodies {
			entries[i] = cat(appendU32(nil, uint32(len(b))), b)
		}
		return sec(secCode, vec(entries...)...)
	}
	custom := func(name string) []byte {
		return sec(secCustom, cat(appendU32(nil, uint32(len(name))), []byte(name))...)
	}
	loop := []byte{0, 0x03, 0x40, 0x0b, 0x0b}
	// A body of 127 bytes, whose size takes one byte until its checks
	// make it two.
	long := cat([]byte{0, 0x03, 0x40}, bytes.Repeat([]byte{0x01}, 122), []byte{0x0b, 0x0b})
	// 200 immutable globals: the budget global's index takes two bytes.
	many := make([][]byte, 200)
	for i := range many {
		many[i] = []byte{i32, 0, 0x41, 0, 0x0b}
	}
	// Bytes 0x03 in immediates, and a block type by type index.
	immediates := []byte{0, 0x41, 0x03, 0x1a, 0x42, 0x83, 0x03, 0x1a, 0x02, 0x00, 0x0b, 0x0b}
	padded := func(id byte, payload ...byte) []byte { // a five-byte size
		return cat([]byte{id, byte(len(payload)) | 0x80, 0x80, 0x80, 0x80, 0}, payload)
	}
	// 130 functions: the first calls 126, 127 (two bytes once renumbered)
	// and, with a padded index, 0; ref.func 129.
	calls := [][]byte{{0, 0x10, 126, 0x10, 127, 0x10, 0x80, 0x00, 0xd2, 0x81, 0x01, 0x1a, 0x0b}}
	for len(calls) < 130 {
		calls = append(calls, []byte{0, 0x0b})
	}
	declare := sec(secElement, vec([]byte{3, 0, 1, 0x81, 0x01})...) // declarative: func 129
	imports := sec(secImport, vec(
		[]byte{1, 'm', 1, 'f', 0, 0}, []byte{1, 'm', 1, 'g', 3, i32, 0}, []byte{1, 'm', 1, 'm', 2, 0, 1}, []byte{1, 'm', 1, 'h', 0, 0})...)
	importCalls := []byte{0, 0x10, 0, 0x10, 1, 0x10, 2, 0x10, 3, 0x0b} // imports 0 and 1, defined 2 and 3

	tests := []struct {
		name   string
		wasm   []byte
		ids    []byte // the output's section ids
		checks int
	}{
		{"empty module", module(), []byte{secType, secImport, secGlobal}, 0},
		{"no code", module(sec(secMemory, vec([]byte{0, 1})...)), []byte{secType, secImport, secMemory, secGlobal}, 0},
		{
			"global after tag", module(typ, funcs(1), sec(secMemory, vec([]byte{0, 1})...), sec(secTag, vec([]byte{0, 0})...), code(loop)),
			[]byte{secType, secImport, secFunction, secMemory, secTag, secGlobal, secCode}, 2,
		},
		{
			"global before export", module(typ, funcs(1), custom("after function"), sec(secExport, vec(cat(vec(), []byte{0, 0}))...), code(loop), custom("name")),
			[]byte{secType, secImport, secFunction, secCustom, secGlobal, secExport, secCode, secCustom}, 2,
		},
		{
			"global before trailing custom sections", module(typ, funcs(3), code(loop, loop, immediates), custom("name"), custom("producers")),
			[]byte{secType, secImport, secFunction, secGlobal, secCode, secCustom, secCustom}, 5,
		},
		{
			"body size grows a byte", module(typ, funcs(2), code(long, loop)),
			[]byte{secType, secImport, secFunction, secGlobal, secCode}, 4,
		},
		{
			"two-byte budget index", module(typ, funcs(1), sec(secGlobal, vec(many...)...), code(loop)),
			[]byte{secType, secImport, secFunction, secGlobal, secCode}, 2,
		},
		{"loop bytes in immediates", module(typ, funcs(1), code(immediates)), []byte{secType, secImport, secFunction, secGlobal, secCode}, 1},
		{
			"padded sizes", module(typ, funcs(3), padded(secGlobal, 0x81, 0x80, 0x80, 0x80, 0, i32, 1, 0x41, 0, 0x0b),
				padded(secCode, cat([]byte{3}, padded(0, 0, 0x0b)[1:], padded(0, loop...)[1:], []byte{byte(len(loop))}, loop)...)),
			[]byte{secType, secImport, secFunction, secGlobal, secExport, secCode}, 5,
		},
		{
			"type appended", module(sec(secType, vec([]byte{0x60, 1, i32, 0})...), funcs(1), code([]byte{0, 0x0b})),
			[]byte{secType, secImport, secFunction, secGlobal, secCode}, 1,
		},
		{
			"two-byte function indices", module(typ, funcs(130), declare, code(calls...)),
			[]byte{secType, secImport, secFunction, secGlobal, secElement, secCode}, 130,
		},
		{
			"after other imports", module(typ, imports, funcs(2), code(importCalls, []byte{0, 0x0b})),
			[]byte{secType, secImport, secFunction, secGlobal, secCode}, 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Parse(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			opts := InstrumentOptions{Interrupt: true}
			out, err := InstrumentWith(tt.wasm, info, opts)
			if err != nil {
				t.Fatal(err)
			}
			validate(t, out)
			if checks := checkInstrumentedWith(t, tt.wasm, out, info, opts); checks != tt.checks {
				t.Errorf("%d checks, want %d", checks, tt.checks)
			}
			secs, err := sections(out)
			if err != nil {
				t.Fatal(err)
			}
			var ids []byte
			for _, s := range secs {
				ids = append(ids, s.id)
			}
			if !bytes.Equal(ids, tt.ids) {
				t.Errorf("section ids % x, want % x", ids, tt.ids)
			}
		})
	}
}

func TestInterruptErrors(t *testing.T) {
	withSection := func(s []byte) []byte {
		return module(
			sec(secType, vec([]byte{0x60, 0, 0})...),
			sec(secFunction, vec([]byte{0})...),
			s,
			sec(secCode, vec([]byte{2, 0, 0x0b})...),
		)
	}
	tests := []struct {
		name   string
		wasm   []byte
		want   []error
		reason string
	}{
		{"unknown opcode", readFixture(t, "exceptions"), []error{ErrCannotInterrupt}, "function 1 has unknown opcode 0x06"},
		{"unknown prefixed opcode", codeModule(0, 0x03, 0x40, 0x0b, 0xfc, 18, 0x0b), []error{ErrCannotInterrupt}, "function 0 has unknown opcode 0xfc 18"},
		{"unknown block type", codeModule(0, 0x03, 0x63, 0x70, 0x0b, 0x0b), []error{ErrCannotInterrupt}, "function 0 has unknown block type"},
		{"unknown local type", codeModule(1, 1, 0x63, 0x70, 0x0b), []error{ErrCannotInterrupt}, "function 0 has a local of unknown type 0x63"},
		{"GC type", module(sec(secType, vec([]byte{0x5f, 1, i32, 0})...)), []error{ErrCannotInterrupt, ErrMalformed}, "type section: malformed module at offset 0xb: unknown type form 0x5f"},
		{"unknown element kind", withSection(sec(secElement, vec([]byte{8, 0})...)), []error{ErrCannotInterrupt, ErrMalformed}, "unknown element segment kind 8"},
		{"truncated element", withSection(sec(secElement, vec([]byte{0, 0x41, 0, 0x0b, 2, 0})...)), []error{ErrCannotInterrupt, ErrMalformed}, "element section"},
		{"element function index", withSection(sec(secElement, vec([]byte{1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})...)), []error{ErrCannotInterrupt}, "function index 4294967295 out of range"},
		{"unknown table", withSection(sec(secTable, vec([]byte{0x40, 1, funcref, 0, 1, 0x0b})...)), []error{ErrCannotInterrupt}, "unknown table encoding 0x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := InstrumentWith(tt.wasm, nil, InstrumentOptions{Interrupt: true})
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Fatalf("InstrumentWith: %v (%d bytes), want %v", err, len(out), want)
				}
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
			// Without Interrupt, the module instruments (or fails) as before.
			if _, err := InstrumentWith(tt.wasm, nil, InstrumentOptions{}); errors.Is(err, ErrCannotInterrupt) {
				t.Errorf("InstrumentWith without Interrupt: %v", err)
			}
		})
	}

	// An Info that miscounts the imported functions.
	wasm := readFixture(t, "start")
	info, err := Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	other := *info
	other.ImportedFuncs, other.scan = 0, nil
	if _, err := InstrumentWith(wasm, &other, InstrumentOptions{Interrupt: true}); !errors.Is(err, ErrInfoMismatch) || !strings.Contains(err.Error(), "1 imported functions, info says 0") {
		t.Errorf("InstrumentWith with another module's imports: %v, want ErrInfoMismatch", err)
	}
}

// TestInterruptRescan checks that InstrumentWith gives the same output
// whether it reuses Parse's decoding of the bodies or decodes them again (for
// a copy of the module, or an Info that Parse did not make), that it decodes
// them again for another module's Info, and that it notices a loop or a call
// gone since Parse.
func TestInterruptRescan(t *testing.T) {
	opts := InstrumentOptions{Interrupt: true}
	for _, name := range fixtures(t) {
		wasm := readFixture(t, name)
		info, err := Parse(wasm)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := InstrumentWith(wasm, info, opts)
		handMade := *info
		handMade.scan = nil
		for what, info := range map[string]*Info{"copy": info, "hand-made info": &handMade} {
			in := wasm
			if what == "copy" {
				in = bytes.Clone(wasm)
			}
			got, err := InstrumentWith(in, info, opts)
			if !bytes.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("%s, %s: InstrumentWith gives %d bytes, %v; with Parse's decoding %d bytes, %v", name, what, len(got), err, len(want), wantErr)
			}
		}
	}

	// Two modules of the same layout, with one loop and two.
	one := codeModule(0, 0x03, 0x40, 0x0b, 0x01, 0x01, 0x01, 0x0b)
	two := codeModule(0, 0x03, 0x40, 0x0b, 0x03, 0x40, 0x0b, 0x0b)
	info, err := Parse(one)
	if err != nil {
		t.Fatal(err)
	}
	out, err := InstrumentWith(two, info, opts)
	if err != nil {
		t.Fatal(err)
	}
	if checks := checkChecks(t, two, out, info); checks != 3 {
		t.Errorf("%d checks with another module's Info, want 3", checks)
	}

	// The second loop becomes a block after Parse.
	if info, err = Parse(two); err != nil {
		t.Fatal(err)
	}
	two[bytes.LastIndex(two, []byte{0x03, 0x40})] = 0x02
	if _, err := InstrumentWith(two, info, opts); !errors.Is(err, ErrInfoMismatch) || !strings.Contains(err.Error(), "changed after Parse") {
		t.Errorf("InstrumentWith of a module changed after Parse: %v, want ErrInfoMismatch", err)
	}

	// A call becomes a local.get after Parse.
	call := codeModule(0, 0x10, 0x00, 0x1a, 0x0b)
	if info, err = Parse(call); err != nil {
		t.Fatal(err)
	}
	call[bytes.LastIndex(call, []byte{0x10, 0x00})] = 0x20
	if _, err := InstrumentWith(call, info, opts); !errors.Is(err, ErrInfoMismatch) || !strings.Contains(err.Error(), "changed after Parse") {
		t.Errorf("InstrumentWith of a module changed after Parse: %v, want ErrInfoMismatch", err)
	}
}
