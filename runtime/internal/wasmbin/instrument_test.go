package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// addedExports returns the exports Instrument adds for info; the start
// function's index is renumbered by funcs.
func addedExports(info *Info, funcs func(uint32) uint32) []Export {
	var added []Export
	for i, g := range info.Globals {
		if g.Mutable {
			index := uint32(info.ImportedGlobals + i)
			added = append(added, Export{"__wedge_g" + strconv.Itoa(int(index)), 3, index})
		}
	}
	if info.Start >= 0 {
		added = append(added, Export{"__wedge_start", 0, funcs(uint32(info.Start))})
	}
	return added
}

// instrumented returns the Info that Parse should give for
// InstrumentWith(wasm, info, opts).
func instrumented(info *Info, opts InstrumentOptions) *Info {
	want := *info
	funcs := func(i uint32) uint32 { return i }
	if opts.Interrupt {
		funcs = func(i uint32) uint32 {
			if i >= uint32(info.ImportedFuncs) {
				return i + 1
			}
			return i
		}
	}
	want.Exports = nil
	for _, e := range info.Exports {
		if e.Kind == 0 {
			e.Index = funcs(e.Index)
		}
		want.Exports = append(want.Exports, e)
	}
	want.Exports = append(want.Exports, addedExports(info, funcs)...)
	want.Start = -1
	if opts.StripData {
		want.Data = nil
	}
	if opts.Interrupt {
		want.ImportedFuncs++
		want.Globals = append(append([]Global(nil), info.Globals...), Global{i32, true})
		// Reasons name functions by their index.
		var fn uint32
		var rest string
		if _, err := fmt.Sscanf(want.NotResettable, "function %d", &fn); err == nil {
			_, rest, _ = strings.Cut(want.NotResettable[len("function "):], " ")
			want.NotResettable = fmt.Sprintf("function %d %s", funcs(fn), rest)
		}
	}
	return &want
}

// budgetIndex is the index of the budget global that Interrupt adds.
func budgetIndex(info *Info) uint32 { return uint32(info.ImportedGlobals + len(info.Globals)) }

// wantCheck is the check that Interrupt inserts, written out here rather
// than taken from checkCode.
func wantCheck(budget, check uint32) []byte {
	b := appendU32(nil, budget)
	return cat(
		[]byte{0x23}, b, []byte{0x41, 0x01, 0x6b}, []byte{0x24}, b, []byte{0x23}, b, []byte{0x45, 0x04, 0x40},
		[]byte{0x41, 0xd0, 0x0f}, []byte{0x24}, b, []byte{0x10}, appendU32(nil, check), []byte{0x0b},
	)
}

// checkInstrumented checks out against Instrument's contract for wasm and its
// info: it parses to the expected Info and keeps every other section intact.
func checkInstrumented(t testing.TB, wasm, out []byte, info *Info, stripData bool) {
	t.Helper()
	checkInstrumentedWith(t, wasm, out, info, InstrumentOptions{StripData: stripData})
}

// isNameSection reports a "name" custom section.
func isNameSection(b []byte, s section) bool {
	if s.id != secCustom {
		return false
	}
	r := &reader{b: b[:s.end], pos: s.payload}
	return r.name() == "name"
}

// checkInstrumentedWith checks out against InstrumentWith's contract for wasm,
// its info and opts, and returns the number of checks that Interrupt
// inserted: out parses to the expected Info, every section but export,
// start and data (and, with Interrupt, type, import, table, global, element,
// code and "name") is unchanged and in order, and with Interrupt the import
// and global sections are those of wasm with the check function and the
// budget global appended, and the code section that of wasm with the checks
// and the function indices renumbered (see checkChecks).
func checkInstrumentedWith(t testing.TB, wasm, out []byte, info *Info, opts InstrumentOptions) (checks int) {
	t.Helper()
	if len(out) != cap(out) {
		t.Errorf("output has %d bytes in a buffer of %d: not sized up front", len(out), cap(out))
	}
	got, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(instrumented): %v", err)
	}
	if want := norm(instrumented(info, opts)); !reflect.DeepEqual(norm(got), want) {
		t.Fatalf("Parse(instrumented):\n got %s\nwant %s", dump(norm(got)), dump(want))
	}
	// A data section with ref.func in an offset (invalid) is renumbered too.
	dataRenumbered := false
	if s := sectionOf(t, wasm, secData); s != nil && opts.Interrupt {
		p, err := dataSection(wasm, s, shift{uint32(info.ImportedFuncs), 1})
		dataRenumbered = p != nil || err != nil
	}
	kept := func(b []byte, stripped bool) [][]byte {
		secs, err := sections(b)
		if err != nil {
			t.Fatal(err)
		}
		var k [][]byte
		for _, s := range secs {
			switch s.id {
			case secExport, secStart:
				continue
			case secType, secImport, secTable, secGlobal, secElement, secCode:
				if opts.Interrupt {
					continue
				}
			case secCustom:
				if opts.Interrupt && isNameSection(b, s) {
					continue
				}
			case secData, secDataCount:
				if opts.StripData {
					if p := b[s.payload:s.end]; stripped && !bytes.Equal(p, []byte{0}) {
						t.Errorf("stripped section %d has a %d-byte payload (% .8x...), want 00", s.id, len(p), p)
					}
					continue
				}
				if s.id == secData && dataRenumbered {
					continue
				}
			}
			k = append(k, b[s.start:s.end])
		}
		return k
	}
	if before, after := kept(wasm, false), kept(out, true); !reflect.DeepEqual(before, after) {
		t.Errorf("sections that should be copied changed: %d before, %d after", len(before), len(after))
	}
	if !opts.Interrupt {
		return 0
	}
	// The import section is the old one and the check function, of type
	// (func).
	oldImports, newImports := sectionPayload(t, wasm, secImport), sectionPayload(t, out, secImport)
	if oldImports == nil {
		oldImports = []byte{0}
	}
	n, next, _ := readU32(oldImports, 0)
	entry := cat(appendU32(nil, uint32(len(CheckModule))), []byte(CheckModule), appendU32(nil, uint32(len(CheckName))), []byte(CheckName), []byte{0})
	if !bytes.HasPrefix(newImports, cat(appendU32(nil, n+1), oldImports[next:], entry)) {
		t.Fatalf("import section % x, want the old one and % x", newImports, entry)
	}
	typ, rest, st := readU32(newImports, len(appendU32(nil, n+1))+len(oldImports[next:])+len(entry))
	if st != lebOK || rest != len(newImports) {
		t.Fatalf("import section: bad type index")
	}
	isFunc := func(e []byte) bool { // (func), whatever the encoding of the zeros
		params, i, _ := readU32(e, 1)
		results, i, _ := readU32(e, i)
		return e[0] == 0x60 && params == 0 && results == 0 && i == len(e)
	}
	if types := typeEntries(t, out); int(typ) >= len(types) || !isFunc(types[typ]) {
		t.Fatalf("check function of type %d, not (func)", typ)
	}
	oldTypes, newTypes := typeEntries(t, wasm), typeEntries(t, out)
	if len(newTypes) < len(oldTypes) || !bytes.Equal(bytes.Join(newTypes[:len(oldTypes)], nil), bytes.Join(oldTypes, nil)) ||
		len(newTypes) > len(oldTypes)+1 || len(newTypes) > len(oldTypes) && typ != uint32(len(oldTypes)) {
		t.Errorf("types %x, were %x", newTypes, oldTypes)
	}
	// The global section ends with the budget global.
	oldGlobals, newGlobals := sectionPayload(t, wasm, secGlobal), sectionPayload(t, out, secGlobal)
	if oldGlobals == nil {
		oldGlobals = []byte{0}
	}
	n, _, _ = readU32(oldGlobals, 0)
	if g, _, _ := readU32(newGlobals, 0); g != n+1 || !bytes.HasSuffix(newGlobals, []byte{i32, 1, 0x41, 0xd0, 0x0f, 0x0b}) {
		t.Errorf("global section % x, want %d globals ending with the budget", newGlobals, n+1)
	}
	return checkChecks(t, wasm, out, info)
}

// typeEntries returns the entries of the type section of wasm.
func typeEntries(t testing.TB, wasm []byte) [][]byte {
	t.Helper()
	p := sectionPayload(t, wasm, secType)
	if p == nil {
		return nil
	}
	r := &reader{b: p}
	n := r.count(3)
	entries := make([][]byte, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		at := r.pos
		r.byte()
		for k := 0; k < 2; k++ {
			m := r.count(1)
			r.skip(m)
		}
		entries = append(entries, p[at:r.pos])
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return entries
}

// sectionOf returns wasm's section id, nil if there is none.
func sectionOf(t testing.TB, wasm []byte, id byte) *section {
	t.Helper()
	secs, err := sections(wasm)
	if err != nil {
		t.Fatal(err)
	}
	for k := range secs {
		if secs[k].id == id {
			return &secs[k]
		}
	}
	return nil
}

// sectionPayload returns the payload of wasm's section id, nil if there is
// none.
func sectionPayload(t testing.TB, wasm []byte, id byte) []byte {
	t.Helper()
	if s := sectionOf(t, wasm, id); s != nil {
		return wasm[s.payload:s.end]
	}
	return nil
}

// bodies returns the entries of wasm's code section, each with its size.
func bodies(t testing.TB, wasm []byte) [][]byte {
	t.Helper()
	p := sectionPayload(t, wasm, secCode)
	if p == nil {
		return nil
	}
	n, i, _ := readU32(p, 0)
	entries := make([][]byte, n)
	for k := range entries {
		size, next, st := readU32(p, i)
		if st != lebOK || next+int(size) > len(p) {
			t.Fatalf("body %d: bad size", k)
		}
		entries[k] = p[i : next+int(size)]
		i = next + int(size)
	}
	return entries
}

// editsIn decodes entry (a code section entry, size first) and returns the
// offset of the end of its locals, the offsets just past the block type of
// each loop instruction and the offsets of its function indices.
func editsIn(t testing.TB, entry []byte) (locals int, loops, funcs []int) {
	t.Helper()
	_, start, _ := readU32(entry, 0)
	var e codeEdits
	s, err := scanBody(entry, start, &e)
	if err != nil || s.unknown != "" {
		t.Fatalf("scanBody: %v %s", err, s.unknown)
	}
	for k, op := range e.loops {
		if e.loops[k] = loopBody(entry, op); e.loops[k] < 0 {
			t.Fatalf("no loop at offset %d", op)
		}
	}
	return localsEnd(entry, start), e.loops, e.funcs
}

// normalBody returns the instructions of entry (locals included) with the
// function indices from imported re-encoded in the fewest bytes, after
// renumber, and the checks at the offsets in skip (each len(check) bytes)
// left out.
func normalBody(t testing.TB, entry []byte, funcs []int, skip []int, check []byte, renumber func(uint32) uint32) []byte {
	t.Helper()
	_, start, _ := readU32(entry, 0)
	var out []byte
	from := start
	for len(funcs) > 0 || len(skip) > 0 {
		if len(skip) > 0 && (len(funcs) == 0 || skip[0] < funcs[0]) {
			out = append(out, entry[from:skip[0]]...)
			from = skip[0] + len(check)
			for len(funcs) > 0 && funcs[0] < from {
				funcs = funcs[1:] // the call in the check
			}
			skip = skip[1:]
			continue
		}
		v, next, _ := readU32(entry, funcs[0])
		out = append(out, entry[from:funcs[0]]...)
		out = appendU32(out, renumber(v))
		from, funcs = next, funcs[1:]
	}
	return append(out, entry[from:]...)
}

// checkChecks checks that the code section of out is that of wasm with the
// check after the locals of every body and after the block type of every
// loop instruction, the function indices of the functions that wasm defines
// moved up by one, and nothing else. It returns the number of checks.
func checkChecks(t testing.TB, wasm, out []byte, info *Info) (checks int) {
	t.Helper()
	imported := uint32(info.ImportedFuncs)
	check := wantCheck(budgetIndex(info), imported)
	before, after := bodies(t, wasm), bodies(t, out)
	if len(before) != len(after) {
		t.Fatalf("%d function bodies, %d before", len(after), len(before))
	}
	for k, entry := range after {
		locals, loops, funcs := editsIn(t, entry)
		_, oldLoops, oldFuncs := editsIn(t, before[k])
		if len(loops) != len(oldLoops) {
			t.Fatalf("body %d: %d loops, %d before", k, len(loops), len(oldLoops))
		}
		at := append([]int{locals}, loops...)
		for _, a := range at {
			if !bytes.HasPrefix(entry[a:], check) {
				t.Fatalf("body %d: offset %d is followed by % x, want the check % x", k, a, entry[a:min(a+len(check), len(entry))], check)
			}
		}
		got := normalBody(t, entry, funcs, at, check, func(v uint32) uint32 {
			if v == imported {
				t.Fatalf("body %d: a call of the check function outside a check", k)
			}
			if v > imported {
				return v - 1
			}
			return v
		})
		want := normalBody(t, before[k], oldFuncs, nil, nil, func(v uint32) uint32 { return v })
		if !bytes.Equal(got, want) {
			t.Fatalf("body %d without its checks, renumbered back, differs from the original:\n% x\n% x", k, got, want)
		}
		checks += len(at)
	}
	return checks
}

func TestInstrumentRoundTrip(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			wasm := readFixture(t, name)
			orig := bytes.Clone(wasm)
			info, err := Parse(wasm)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Instrument(wasm, info, false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wasm, orig) {
				t.Fatal("Instrument modified its input")
			}
			validate(t, out)
			checkInstrumented(t, wasm, out, info, false)
		})
	}
}

// TestInstrumentExports pins the names and indices Instrument adds.
func TestInstrumentExports(t *testing.T) {
	tests := map[string][]string{
		"globals":       {"__wedge_g2", "__wedge_g4", "__wedge_g6", "__wedge_g7", "__wedge_g10"},
		"extconst":      {"__wedge_g1"},
		"start":         {"__wedge_g0", "__wedge_start"},
		"noexports":     {"__wedge_g1", "__wedge_g2", "__wedge_start"}, // global 0 is imported
		"globalonly":    {"__wedge_g0"},
		"tailcall":      nil,
		"loops":         nil,
		"loops_globals": {"__wedge_g2", "__wedge_g4", "__wedge_start"},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			wasm := readFixture(t, name)
			out, err := Instrument(wasm, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			info, err := Parse(wasm)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range got.Exports[len(info.Exports):] {
				names = append(names, e.Name)
			}
			if !reflect.DeepEqual(names, want) {
				t.Errorf("added exports %q, want %q", names, want)
			}
			if len(want) == 0 && !bytes.Equal(out, wasm) {
				t.Error("nothing to add, yet the module changed")
			}
		})
	}
}

func TestInstrumentStripData(t *testing.T) {
	withDataCount := module(
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secGlobal, vec([]byte{i32, 1, 0x41, 0, 0x0b})...),
		sec(secDataCount, 2),
		sec(secData, vec([]byte{0, 0x41, 8, 0x0b, 2, 'h', 'i'}, []byte{2, 0, 0x41, 0x80, 0x01, 0x0b, 1, '!'})...),
	)
	for name, wasm := range map[string][]byte{
		"image":      readFixture(t, "image"),
		"data count": withDataCount,
	} {
		t.Run(name, func(t *testing.T) {
			info, err := Parse(wasm)
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Data) == 0 {
				t.Fatal("no data segments to strip")
			}
			out, err := Instrument(wasm, info, true)
			if err != nil {
				t.Fatal(err)
			}
			validate(t, out)
			checkInstrumented(t, wasm, out, info, true)
		})
	}
}

// TestInstrumentCustomSections checks that custom sections stay where they
// are and that an added export section goes before trailing ones.
func TestInstrumentCustomSections(t *testing.T) {
	custom := func(name, content string) []byte {
		return sec(secCustom, cat(appendU32(nil, uint32(len(name))), []byte(name), []byte(content))...)
	}
	wasm := module(
		custom("first", "\x00\x01"),
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(secFunction, vec([]byte{0})...),
		custom("middle", ""),
		sec(secGlobal, vec([]byte{i32, 1, 0x41, 0, 0x0b}, []byte{i32, 0, 0x41, 0, 0x0b}, []byte{f64, 1, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b})...),
		custom("after global", "x"),
		sec(secStart, 0),
		sec(secCode, vec([]byte{2, 0, 0x0b})...),
		custom("name", "\x00\x00"), // an empty module name subsection
		custom("last", "y"),
	)
	info, err := Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Instrument(wasm, info, false)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)
	checkInstrumented(t, wasm, out, info, false)
	secs, err := sections(out)
	if err != nil {
		t.Fatal(err)
	}
	var ids []byte
	for _, s := range secs {
		ids = append(ids, s.id)
	}
	// The export section replaces the start section's place.
	want := []byte{secCustom, secType, secFunction, secCustom, secGlobal, secCustom, secExport, secCode, secCustom, secCustom}
	if !bytes.Equal(ids, want) {
		t.Errorf("section ids % x, want % x", ids, want)
	}
}

func TestInstrumentErrors(t *testing.T) {
	nameTaken := func(name string, start bool) []byte {
		secs := [][]byte{
			sec(secType, vec([]byte{0x60, 0, 0})...),
			sec(secFunction, vec([]byte{0})...),
			sec(secGlobal, vec([]byte{i64, 1, 0x42, 0, 0x0b})...),
			sec(secExport, vec(cat(vec(), []byte{0, 0}), cat(appendU32(nil, uint32(len(name))), []byte(name), []byte{0, 0}))...),
		}
		if start {
			secs = append(secs, sec(secStart, 0))
		}
		return module(append(secs, sec(secCode, vec([]byte{2, 0, 0x0b})...))...)
	}
	passiveOnly := module(sec(secMemory, vec([]byte{0, 1})...), sec(secData, vec([]byte{1, 1, 'p'})...))
	tests := []struct {
		name      string
		wasm      []byte
		info      []byte // the module to take info from, if not wasm
		stripData bool
		want      error
		reason    string // a substring of the message
	}{
		{"global export taken", nameTaken("__wedge_g0", false), nil, false, ErrExportNameTaken, `"__wedge_g0"`},
		{"start export taken", nameTaken("__wedge_start", true), nil, false, ErrExportNameTaken, `"__wedge_start"`},
		{"memory.init", readFixture(t, "bulk"), nil, true, ErrCannotStripData, "memory.init"},
		{"non-constant offset", readFixture(t, "data"), nil, true, ErrCannotStripData, "segment 3 has a non-constant offset"},
		{"passive", passiveOnly, nil, true, ErrCannotStripData, "segment 0 is passive"},
		{"memory 1", readFixture(t, "multimemory"), nil, true, ErrCannotStripData, "segment 1 targets memory 1"},
		{"i64 offset", readFixture(t, "memory64"), nil, true, ErrCannotStripData, "non-constant offset"},
		{"not resettable", readFixture(t, "data_drop"), nil, true, ErrCannotStripData, "function 2 uses data.drop"},
		{"other module's info", readFixture(t, "image"), readFixture(t, "start"), false, ErrInfoMismatch, "start function"},
		{"other module's globals", readFixture(t, "threads"), readFixture(t, "image"), false, ErrInfoMismatch, "globals"},
		{"other module's exports", readFixture(t, "threads"), readFixture(t, "simd"), false, ErrInfoMismatch, "exports"},
		{"malformed", []byte("\x00asm"), nil, false, ErrMalformed, "magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var info *Info
			if tt.info != nil {
				var err error
				if info, err = Parse(tt.info); err != nil {
					t.Fatal(err)
				}
			}
			out, err := Instrument(tt.wasm, info, tt.stripData)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Instrument: %v (%d bytes), want %v", err, len(out), tt.want)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
	// The same modules instrument fine when nothing clashes.
	if _, err := Instrument(readFixture(t, "data"), nil, false); err != nil {
		t.Error(err)
	}
}
