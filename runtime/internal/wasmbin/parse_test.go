package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// norm makes Infos comparable with reflect.DeepEqual: empty slices become
// nil, NotResettable is cut at " at offset" (offsets depend on wabt), and
// what Parse records for InstrumentWith is left out, as is CodeSize (which
// instrumentation changes; TestParseCodeSize checks it).
func norm(info *Info) *Info {
	c := *info
	c.scan = nil
	c.CodeSize = 0
	if len(c.Globals) == 0 {
		c.Globals = nil
	}
	if len(c.Exports) == 0 {
		c.Exports = nil
	}
	if len(c.Data) == 0 {
		c.Data = nil
	}
	c.Data = append([]Data(nil), c.Data...)
	for i := range c.Data {
		if c.Data[i].Bytes == nil {
			c.Data[i].Bytes = []byte{}
		}
	}
	c.NotResettable, _, _ = strings.Cut(c.NotResettable, " at offset")
	return &c
}

func dump(info *Info) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v\n", *info)
	if info.Memory != nil {
		fmt.Fprintf(&b, "Memory: %+v\n", *info.Memory)
	}
	for i, d := range info.Data {
		fmt.Fprintf(&b, "Data[%d]: %+v %q\n", i, d, d.Bytes)
	}
	return b.String()
}

const (
	i32, i64, f32, f64, v128, funcref, externref = 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f
)

func active(offset uint32, bytes string) Data {
	return Data{Active: true, Offset: offset, OffsetConst: true, Bytes: []byte(bytes)}
}

func passive(bytes string) Data { return Data{Bytes: []byte(bytes)} }

// notResettable is the Info of the forbidden-opcode fixtures: one imported
// function, then an innocent function 1 and the culprit, function 2.
func notResettable(op string) *Info {
	return &Info{ImportedFuncs: 1, Start: -1, NotResettable: "function 2 uses " + op}
}

var fixtureInfos = map[string]*Info{
	"bulk": {
		Memories: 1, Memory: &Memory{Min: 1},
		Data:         []Data{passive("passive"), active(64, "active")},
		HasDataCount: true, Start: -1,
		Exports:    []Export{{"f", 0, 1}},
		Resettable: true, MemoryInit: true,
	},
	"data": {
		ImportedGlobals: 1,
		Memories:        1, Memory: &Memory{Min: 1},
		Data: []Data{
			active(16, "active const"),
			active(0xffff, "x"),
			active(0xfffffff0, ""),
			{Active: true, Bytes: []byte("global offset")},
			passive("passive"),
		},
		Start:      -1,
		Exports:    []Export{{"load", 0, 0}},
		Resettable: true,
	},
	"data_drop": {
		ImportedFuncs: 1, Memories: 1, Memory: &Memory{Min: 1},
		Data: []Data{passive("passive")}, HasDataCount: true,
		Start: -1, NotResettable: "function 2 uses data.drop",
	},
	"elem_drop":  notResettable("elem.drop"),
	"table_copy": notResettable("table.copy"),
	"table_fill": notResettable("table.fill"),
	"table_grow": notResettable("table.grow"),
	"table_init": notResettable("table.init"),
	"table_set":  notResettable("table.set"),
	"exceptions": {Start: -1, NotResettable: "function 1 has unknown opcode 0x06"},
	"globals": {
		ImportedFuncs: 1, ImportedGlobals: 2,
		Globals: []Global{
			{i32, true}, {i64, false}, {f32, true}, {f64, false}, {i32, true},
			{funcref, true}, {externref, false}, {funcref, false}, {v128, true},
		},
		Memories: 1, Memory: &Memory{Min: 1, Max: 4, HasMax: true},
		Start:      -1,
		Exports:    []Export{{"get", 0, 1}, {"a", 3, 2}, {"mem", 2, 0}},
		Resettable: true,
	},
	"extconst": {
		ImportedGlobals: 1, Globals: []Global{{i64, true}, {i32, false}},
		Memories: 1, Memory: &Memory{Min: 1},
		Data:  []Data{{Active: true, Bytes: []byte("extended")}},
		Start: -1, Resettable: true,
	},
	"multimemory": {
		Memories: 2, Memory: &Memory{Min: 1},
		Data: []Data{
			active(0, "first memory"),
			{Active: true, MemIndex: 1, Offset: 8, OffsetConst: true, Bytes: []byte("second memory")},
		},
		Start: -1, Exports: []Export{{"load", 0, 0}}, Resettable: true,
	},
	"globalonly": {Globals: []Global{{f64, true}}, Start: -1, Resettable: true},
	"image": {
		Globals:  []Global{{i32, true}, {i64, true}, {i32, false}},
		Memories: 1, Memory: &Memory{Min: 2, Max: 10, HasMax: true},
		Data:       []Data{active(0, "hello"), active(1024, "\x00\x01\x02\x03")},
		Start:      -1,
		Exports:    []Export{{"memory", 2, 0}, {"alloc", 0, 0}},
		Resettable: true,
	},
	"loops": {
		Memories: 1, Memory: &Memory{Min: 1}, Start: -1,
		Exports: []Export{
			{"memory", 2, 0}, {"sum", 0, 0}, {"fib", 0, 1}, {"digits", 0, 3},
			{"collatz", 0, 4}, {"arms", 0, 5}, {"fill", 0, 6}, {"total", 0, 7},
			{"noloop", 0, 8}, {"spin", 0, 9}, {"spin_inner", 0, 10},
		},
		Resettable: true,
	},
	"loops_globals": {
		ImportedFuncs: 1, ImportedGlobals: 2,
		Globals:  []Global{{i32, true}, {i32, false}, {i64, true}},
		Memories: 1, Memory: &Memory{Min: 1},
		Data:       []Data{active(16, "\x01\x02\x03\x04\x05\x06\x07\x08")},
		Start:      1,
		Exports:    []Export{{"memory", 2, 0}, {"run", 0, 2}, {"get", 0, 3}, {"count", 3, 2}},
		Resettable: true,
	},
	"memory64": {
		Memories: 1, Memory: &Memory{Min: 1, Max: 100, HasMax: true, Memory64: true},
		Data:       []Data{{Active: true, Bytes: []byte("memory64")}}, // i64.const: not OffsetConst
		Start:      -1,
		Exports:    []Export{{"load", 0, 0}},
		Resettable: true,
	},
	"noexports": {
		ImportedGlobals: 1, Globals: []Global{{i32, true}, {i64, true}},
		Start: 0, Resettable: true,
	},
	"depth": {
		ImportedFuncs: 1, Globals: []Global{{i32, true}}, Start: -1,
		Exports:    []Export{{"rec", 0, 1}, {"many", 0, 7}, {"sink", 0, 8}},
		Resettable: true,
	},
	"recurse": {
		Globals: []Global{{i32, true}}, Start: -1,
		Exports:    []Export{{"leaves", 0, 0}, {"f0", 0, 1}, {"f30", 0, 31}},
		Resettable: true,
	},
	"renumber": {
		ImportedFuncs: 2, Globals: []Global{{funcref, false}, {i32, true}}, Start: 15,
		Exports: []Export{
			{"direct", 0, 6}, {"indirect", 0, 7}, {"indirect2", 0, 8}, {"ref_code", 0, 9}, {"ref_global", 0, 10},
			{"passive", 0, 11}, {"passive_expr", 0, 12}, {"fact", 0, 13}, {"sum_squares", 0, 14},
			{"double", 0, 2}, {"imported", 0, 1}, {"started", 3, 1},
		},
		NotResettable: "function 9 uses table.set",
	},
	"relaxed": {Start: -1, Exports: []Export{{"r", 0, 0}}, Resettable: true},
	"simd": {
		Memories: 1, Memory: &Memory{Min: 1}, Start: -1,
		Exports: []Export{{"simd", 0, 1}}, Resettable: true,
	},
	"start": {
		ImportedFuncs: 1, Globals: []Global{{i32, true}},
		Memories: 1, Memory: &Memory{Min: 1}, Start: 1,
		Exports:    []Export{{"memory", 2, 0}, {"ready", 0, 2}},
		Resettable: true,
	},
	"tailcall": {Start: -1, Resettable: true},
	"tailcall_loop": {
		ImportedFuncs: 1, Start: -1,
		Exports:    []Export{{"count", 0, 1}, {"spin", 0, 2}},
		Resettable: true,
	},
	"threads": {
		Memories: 1, Memory: &Memory{Min: 1, Max: 2, HasMax: true, Shared: true},
		Start: -1, Exports: []Export{{"memory", 2, 0}, {"atomics", 0, 0}},
		Resettable: true,
	},
}

func TestParseFixtures(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			want, ok := fixtureInfos[name]
			if !ok {
				t.Fatalf("no expected Info for testdata/%s.wasm: add one to fixtureInfos", name)
			}
			info, err := Parse(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := norm(info); !reflect.DeepEqual(got, norm(want)) {
				t.Errorf("Parse:\n got %s\nwant %s", dump(got), dump(norm(want)))
			}
		})
	}
}

// TestParseDataBytesAlias checks that segment bytes alias the input and
// cannot be appended to over it.
func TestParseCodeSize(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		wasm, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		info, err := Parse(wasm)
		if err != nil {
			continue // malformed fixtures are another test's
		}
		if want := len(sectionPayload(t, wasm, secCode)); info.CodeSize != want {
			t.Errorf("%s: CodeSize %d, want %d", f, info.CodeSize, want)
		}
	}
}

func TestParseDataBytesAlias(t *testing.T) {
	wasm := readFixture(t, "image")
	info, err := Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	d := info.Data[0].Bytes
	if cap(d) != len(d) {
		t.Errorf("cap(Bytes) = %d, want %d", cap(d), len(d))
	}
	d[0] = 'H'
	if !strings.Contains(string(wasm), "Hello") {
		t.Error("Bytes is not a slice of the input")
	}
}

func TestParseMalformed(t *testing.T) {
	typeSec := sec(secType, vec([]byte{0x60, 0, 0})...)
	funcSec := sec(secFunction, vec([]byte{0})...)
	code := func(body ...byte) []byte {
		return sec(secCode, vec(cat(appendU32(nil, uint32(len(body))), body))...)
	}
	global := func(entry ...byte) []byte { return sec(secGlobal, vec(entry)...) }
	tests := []struct {
		name   string
		wasm   []byte
		reason string // a substring of the error
	}{
		{"empty", nil, "magic"},
		{"magic only", []byte("\x00asm"), "magic"},
		{"bad magic", []byte("\x00ASM\x01\x00\x00\x00"), "magic"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), "version"},
		{"section size past end", module([]byte{secType, 5, 0}), "out of bounds"},
		{"truncated section size", module([]byte{secType, 0x80}), "truncated"},
		{"overlong section size", module([]byte{secType, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), "too long"},
		{"overflowing section size", module([]byte{secType, 0xff, 0xff, 0xff, 0xff, 0x1f}), "too long"},
		{"unknown section", module(sec(14)), "unknown section id 14"},
		{"out of order", module(sec(secGlobal, 0), sec(secMemory, 0)), "out of order"},
		{"repeated", module(sec(secType, 0), sec(secType, 0)), "out of order or repeated"},
		{"data count after code", module(sec(secCode, 0), sec(secDataCount, 0)), "out of order"},
		{"custom name past end", module(sec(secCustom, 5, 'a')), "out of bounds"},
		{"custom name not UTF-8", module(sec(secCustom, 1, 0xff)), "UTF-8"},
		{"empty custom section", module(sec(secCustom)), "truncated"},
		{"trailing bytes", module(sec(secStart, 0, 0)), "size mismatch"},
		{"vector too long", module(sec(secExport, 0xff, 0xff, 0xff, 0xff, 0x0f)), "vector length"},
		{"import kind", module(sec(secImport, vec([]byte{1, 'm', 1, 'f', 5, 0})...)), "import kind"},
		{"import name not UTF-8", module(sec(secImport, vec([]byte{1, 0xc0, 1, 'f', 0, 0})...)), "UTF-8"},
		{"import mutability", module(sec(secImport, vec([]byte{1, 'm', 1, 'g', 3, i32, 2})...)), "mutability"},
		{"import table type", module(sec(secImport, vec([]byte{1, 'm', 1, 't', 1, i32, 0, 0})...)), "reference type"},
		{"import tag attribute", module(sec(secImport, vec([]byte{1, 'm', 1, 't', 4, 1, 0})...)), "tag attribute"},
		{"limits flags", module(sec(secMemory, vec([]byte{0x08, 0})...)), "limits flags"},
		{"memory64 limit", module(sec(secMemory, vec([]byte{0x04, 0x80, 0x80, 0x80, 0x80, 0x10})...)), "does not fit"},
		{"global type", module(global(0x40, 0, 0x41, 0, 0x0b)), "value type"},
		{"global init op", module(global(i32, 0, 0x20, 0, 0x0b)), "not allowed in a constant expression"},
		{"global init prefix op", module(global(v128, 0, 0xfd, 13, 0x0b)), "not allowed in a constant expression"},
		{"global init without end", module(global(i32, 0, 0x41, 0)), "unexpected end"},
		{"global init i32 overlong", module(global(i32, 0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0, 0x0b)), "too long"},
		{"global init i32 out of range", module(global(i32, 0, 0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x0b)), "too long"},
		{"global init ref.null", module(global(funcref, 0, 0xd0, i32, 0x0b)), "reference type"},
		{"export kind", module(sec(secExport, vec([]byte{1, 'e', 5, 0})...)), "export kind"},
		{"data kind", module(sec(secData, vec([]byte{3, 0})...)), "data segment kind 3"},
		{"data bytes past end", module(sec(secData, vec([]byte{1, 9, 'a'})...)), "out of bounds"},
		{"data count mismatch", module(sec(secDataCount, 2), sec(secData, vec([]byte{1, 0})...)), "data count"},
		{"functions without bodies", module(typeSec, funcSec), "inconsistent lengths"},
		{"bodies without functions", module(typeSec, code(0, 0x0b)), "inconsistent lengths"},
		{"empty body", module(typeSec, funcSec, sec(secCode, 2, 0, 4, 0, 1, 1, 0x0b)), "function 0: locals"},
		{"body size past end", module(typeSec, funcSec, sec(secCode, 1, 9, 0, 0x0b)), "out of bounds"},
		{"body without end", codeModule(0, 0x01), "does not end with end"},
		{"body with unbalanced blocks", codeModule(0, 0x02, 0x40, 0x0b), "does not end with end"},
		{"bytes after end", codeModule(0, 0x0b, 0x01), "after the end"},
		{"truncated i32.const", codeModule(0, 0x41, 0x80), "truncated"},
		{"overlong i32.const", codeModule(0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b), "too long"},
		{"overlong i64.const", codeModule(0, 0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b), "too long"},
		{"overlong local index", codeModule(0, 0x20, 0x80, 0x80, 0x80, 0x80, 0x10, 0x1a, 0x0b), "too long"},
		{"truncated f64.const", codeModule(0, 0x44, 0, 0, 0), "truncated"},
		{"truncated v128.const", codeModule(0, 0xfd, 12, 1, 2, 3), "truncated"},
		{"truncated memarg", codeModule(0, 0x28, 0x02), "truncated"},
		{"truncated br_table", codeModule(0, 0x0e, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0), "truncated"},
		{"truncated block type", codeModule(0, 0x02), "truncated"},
		{"too many locals", codeModule(2, 0xff, 0xff, 0xff, 0xff, 0x0f, i32, 1, i64, 0x0b), "too many locals"},
		{"atomic.fence reserved byte", codeModule(0, 0xfe, 3, 1, 0x0b), "reserved byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Parse(tt.wasm)
			if err == nil {
				t.Fatalf("Parse succeeded: %s", dump(info))
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("errors.Is(%v, ErrMalformed) = false", err)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FormatError", err)
			} else if fe.Offset < 0 || fe.Offset > len(tt.wasm) {
				t.Errorf("offset %d outside the input (%d bytes)", fe.Offset, len(tt.wasm))
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
}

// TestScan runs the code scanner on hand-made bodies: what it accepts, what
// makes a module not resettable, and why.
func TestScan(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte // locals and instructions, end included
		finding string // prefix of NotResettable, "" if resettable
		memInit bool
	}{
		{"empty", []byte{0, 0x0b}, "", false},
		{"locals", []byte{3, 1, i32, 2, v128, 0x80, 0x80, 0x80, 0x80, 0x00, externref, 0x0b}, "", false},
		{"block type index", []byte{0, 0x02, 0x00, 0x0b, 0x03, 0x80, 0x01, 0x0b, 0x0b}, "", false},
		{"block value type", []byte{0, 0x04, i64, 0x05, 0x0b, 0x0b}, "", false},
		{"s32 extremes", []byte{0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x78, 0x1a, 0x41, 0xff, 0xff, 0xff, 0xff, 0x07, 0x1a, 0x0b}, "", false},
		{"s64 extremes", []byte{0, 0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f, 0x1a, 0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x1a, 0x0b}, "", false},
		{"memarg with memory index", []byte{0, 0x28, 0x42, 0x01, 0x10, 0x1a, 0x0b}, "", false},
		{"memarg u64 offset", []byte{0, 0x29, 0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x1a, 0x0b}, "", false},
		{"br_table", []byte{0, 0x0e, 3, 0, 1, 0x80, 0x01, 2, 0x0b}, "", false},
		{"select t", []byte{0, 0x1c, 2, i32, funcref, 0x0b}, "", false},
		{"memory.init", []byte{0, 0xfc, 8, 3, 0, 0x0b}, "", true},
		{"memory.copy fill", []byte{0, 0xfc, 10, 0, 0, 0xfc, 11, 0, 0x0b}, "", false},
		{"table.size get", []byte{0, 0xfc, 16, 0, 0x25, 0, 0x0b}, "", false},
		{"simd lane", []byte{0, 0xfd, 21, 15, 0xfd, 0x54, 0, 0, 3, 0x0b}, "", false},
		{"simd last", []byte{0, 0xfd, 0xff, 0x01, 0x0b}, "", false},
		{"relaxed simd", []byte{0, 0xfd, 0x80, 0x02, 0xfd, 0x93, 0x02, 0x0b}, "", false},
		{"atomics", []byte{0, 0xfe, 0x00, 2, 0, 0xfe, 0x4e, 3, 8, 0xfe, 3, 0, 0x0b}, "", false},

		{"table.set", []byte{0, 0x26, 0, 0x0b}, "function 0 uses table.set", false},
		{"table.grow", []byte{0, 0xfc, 15, 0, 0x0b}, "function 0 uses table.grow", false},
		{"first reason wins", []byte{0, 0xfc, 9, 0, 0x26, 0, 0xfc, 8, 0, 0, 0x06, 0x0b}, "function 0 uses data.drop", true},
		{"simd gap", []byte{0, 0xfd, 0x9a, 0x01, 0x0b}, "function 0 has unknown opcode 0xfd 154", false},
		{"simd past relaxed", []byte{0, 0xfd, 0x94, 0x02, 0x0b}, "function 0 has unknown opcode 0xfd 276", false},
		{"misc unknown", []byte{0, 0xfc, 18, 0x0b}, "function 0 has unknown opcode 0xfc 18", false},
		{"threads unknown", []byte{0, 0xfe, 4, 0x0b}, "function 0 has unknown opcode 0xfe 4", false},
		{"gc prefix", []byte{0, 0xfb, 0, 0x0b}, "function 0 has unknown opcode 0xfb", false},
		{"try", []byte{0, 0x06, 0x40, 0x0b, 0x0b}, "function 0 has unknown opcode 0x06", false},
		{"call_ref", []byte{0, 0x14, 0, 0x0b}, "function 0 has unknown opcode 0x14", false},
		{"gc local", []byte{1, 1, 0x63, 0x70, 0x0b}, "function 0 has a local of unknown type 0x63", false},
		{"gc block type", []byte{0, 0x02, 0x63, 0x70, 0x0b, 0x0b}, "function 0 has unknown block type", false},
		{"gc ref.null", []byte{0, 0xd0, 0x63, 0x1a, 0x0b}, "function 0 has ref.null of unknown type 0x63", false},
		{"gc select", []byte{0, 0x1c, 1, 0x64, 0x70, 0x0b}, "function 0 has select of unknown type 0x64", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Parse(codeModule(tt.body...))
			if err != nil {
				t.Fatal(err)
			}
			if info.Resettable != (tt.finding == "") || !strings.HasPrefix(info.NotResettable, tt.finding) {
				t.Errorf("Resettable, NotResettable = %v, %q; want %v, %q", info.Resettable, info.NotResettable, tt.finding == "", tt.finding)
			}
			if info.MemoryInit != tt.memInit {
				t.Errorf("MemoryInit = %v, want %v", info.MemoryInit, tt.memInit)
			}
		})
	}
}

// TestScanFunctionIndex checks that reasons name functions by their index in
// the function index space, imports first, and that a later body's finding
// does not replace an earlier one.
func TestScanFunctionIndex(t *testing.T) {
	bodies := [][]byte{{0, 0x0b}, {0, 0x26, 0, 0x0b}, {0, 0xfc, 17, 0, 0x0b}}
	var code [][]byte
	for _, b := range bodies {
		code = append(code, cat(appendU32(nil, uint32(len(b))), b))
	}
	wasm := module(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(secImport, vec([]byte{1, 'm', 1, 'f', 0, 0}, []byte{1, 'm', 1, 'g', 0, 0})...),
		sec(secFunction, vec([]byte{0}, []byte{0}, []byte{0})...),
		sec(secCode, vec(code...)...),
	)
	info, err := Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if want := "function 3 uses table.set"; info.Resettable || info.NotResettable != want {
		t.Errorf("Resettable, NotResettable = %v, %q; want false, %q", info.Resettable, info.NotResettable, want)
	}
}

// Detach's merged segment writes exactly what the segments would, in
// order, into a zeroed memory; and info no longer aliases the binary.
func TestDetach(t *testing.T) {
	seg := func(off uint32, b string) Data {
		return Data{Active: true, OffsetConst: true, Offset: off, Bytes: []byte(b)}
	}
	apply := func(data []Data) []byte {
		mem := make([]byte, 256)
		for _, d := range data {
			copy(mem[d.Offset:], d.Bytes)
		}
		return mem
	}
	tests := []struct {
		name   string
		data   []Data
		merged bool
	}{
		{"adjacent", []Data{seg(10, "abc"), seg(13, "def")}, true},
		{"gaps and overlap, later wins", []Data{seg(20, "xxxxxx"), seg(5, "hello"), seg(22, "YY")}, true},
		{"passive segment", []Data{seg(0, "a"), {Bytes: []byte("passive")}}, false},
		{"computed offset", []Data{seg(0, "a"), {Active: true, Bytes: []byte("b")}}, false},
		{"sparse", []Data{seg(0, "a"), {Active: true, OffsetConst: true, Offset: 1 << 20, Bytes: []byte("b")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := make([]Data, len(tt.data))
			copy(input, tt.data)
			info := &Info{Data: input, scan: &codeScan{}}
			info.Detach()
			if info.scan != nil {
				t.Error("scan kept")
			}
			if got := len(info.Data) == 1 && len(tt.data) > 1; got != tt.merged {
				t.Fatalf("merged %v, want %v: %+v", got, tt.merged, info.Data)
			}
			for i, d := range info.Data {
				for _, orig := range tt.data {
					if len(d.Bytes) > 0 && len(orig.Bytes) > 0 && &d.Bytes[0] == &orig.Bytes[0] {
						t.Fatalf("segment %d still aliases the input", i)
					}
				}
			}
			if allConst(tt.data) {
				if !bytes.Equal(apply(info.Data), apply(tt.data)) {
					t.Fatalf("memory after the detached segments differs:\n got %q\nwant %q", apply(info.Data), apply(tt.data))
				}
			}
		})
	}
}

func allConst(data []Data) bool {
	for _, d := range data {
		if !d.Active || !d.OffsetConst || d.Offset > 200 {
			return false
		}
	}
	return true
}
