package wasmbin

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// addedExports returns the exports Instrument adds for info.
func addedExports(info *Info) []Export {
	var added []Export
	for i, g := range info.Globals {
		if g.Mutable {
			index := uint32(info.ImportedGlobals + i)
			added = append(added, Export{"__wedge_g" + strconv.Itoa(int(index)), 3, index})
		}
	}
	if info.Start >= 0 {
		added = append(added, Export{"__wedge_start", 0, uint32(info.Start)})
	}
	return added
}

// instrumented returns the Info that Parse should give for
// InstrumentWith(wasm, info, opts).
func instrumented(info *Info, opts InstrumentOptions) *Info {
	want := *info
	want.Exports = append(append([]Export(nil), info.Exports...), addedExports(info)...)
	want.Start = -1
	if opts.StripData {
		want.Data = nil
	}
	if opts.Interrupt {
		want.Globals = append(append([]Global(nil), info.Globals...), Global{i32, true})
		want.Exports = append(want.Exports, Export{StopExport, 3, stopIndex(info)})
	}
	return &want
}

// stopIndex is the index of the stop global that Interrupt adds.
func stopIndex(info *Info) uint32 { return uint32(info.ImportedGlobals + len(info.Globals)) }

// checkInstrumented checks out against Instrument's contract for wasm and its
// info: it parses to the expected Info and keeps every other section intact.
func checkInstrumented(t testing.TB, wasm, out []byte, info *Info, stripData bool) {
	t.Helper()
	checkInstrumentedWith(t, wasm, out, info, InstrumentOptions{StripData: stripData})
}

// checkInstrumentedWith checks out against InstrumentWith's contract for wasm,
// its info and opts, and returns the number of loop checks that Interrupt
// inserted: out parses to the expected Info, every section but export, start,
// global, code and data is unchanged and in order, and the global and code
// sections are those of wasm with the stop global and the checks (see
// checkLoopChecks).
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
	// Every section but export, start, data and data count (and global and
	// code with Interrupt) is unchanged, and the order is kept.
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
			case secGlobal, secCode:
				if opts.Interrupt {
					continue
				}
			case secData, secDataCount:
				if opts.StripData {
					if p := b[s.payload:s.end]; stripped && !bytes.Equal(p, []byte{0}) {
						t.Errorf("stripped section %d has a %d-byte payload (% .8x...), want 00", s.id, len(p), p)
					}
					continue
				}
			}
			k = append(k, b[s.start:s.end])
		}
		return k
	}
	if before, after := kept(wasm, false), kept(out, true); !reflect.DeepEqual(before, after) {
		t.Errorf("sections other than export and start changed: %d before, %d after", len(before), len(after))
	}
	if !opts.Interrupt {
		return 0
	}
	// The global section is the old one and the stop global.
	oldGlobals, newGlobals := sectionPayload(t, wasm, secGlobal), sectionPayload(t, out, secGlobal)
	if oldGlobals == nil {
		oldGlobals = []byte{0}
	}
	n, next, _ := readU32(oldGlobals, 0)
	want := cat(appendU32(nil, n+1), oldGlobals[next:], []byte{i32, 1, 0x41, 0, 0x0b})
	if !bytes.Equal(newGlobals, want) {
		t.Errorf("global section % x, want % x", newGlobals, want)
	}
	return checkLoopChecks(t, wasm, out, stopIndex(info))
}

// sectionPayload returns the payload of wasm's section id, nil if there is
// none.
func sectionPayload(t testing.TB, wasm []byte, id byte) []byte {
	t.Helper()
	secs, err := sections(wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if s.id == id {
			return wasm[s.payload:s.end]
		}
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

// loopsIn returns the offsets in entry (a code section entry, size first)
// just past the block type of each loop instruction.
func loopsIn(t testing.TB, entry []byte) []int {
	t.Helper()
	_, start, _ := readU32(entry, 0)
	var loops []int
	s, err := scanBody(entry, start, &loops)
	if err != nil || s.unknown != "" {
		t.Fatalf("scanBody: %v %s", err, s.unknown)
	}
	for k, op := range loops {
		if loops[k] = loopBody(entry, op); loops[k] < 0 {
			t.Fatalf("no loop at offset %d", op)
		}
	}
	return loops
}

// checkLoopChecks checks that the code section of out is that of wasm with
// "global.get stop; if; unreachable; end" after the block type of every
// loop instruction and nothing else: out's bodies, decoded, have a check
// after each loop, and without them are wasm's bodies; bodies without loops
// are copied with the encoding of their size. It returns the number of
// checks.
func checkLoopChecks(t testing.TB, wasm, out []byte, stop uint32) (checks int) {
	t.Helper()
	check := cat([]byte{0x23}, appendU32(nil, stop), []byte{0x04, 0x40, 0x00, 0x0b})
	before, after := bodies(t, wasm), bodies(t, out)
	if len(before) != len(after) {
		t.Fatalf("%d function bodies, %d before", len(after), len(before))
	}
	for k, entry := range after {
		loops := loopsIn(t, entry)
		if want := len(loopsIn(t, before[k])); len(loops) != want {
			t.Fatalf("body %d: %d loops, %d before", k, len(loops), want)
		}
		if len(loops) == 0 {
			if !bytes.Equal(entry, before[k]) {
				t.Fatalf("body %d has no loop but changed", k)
			}
			continue
		}
		_, start, _ := readU32(entry, 0)
		var body []byte
		from := start
		for _, at := range loops {
			if !bytes.HasPrefix(entry[at:], check) {
				t.Fatalf("body %d: loop at offset %d is followed by % x, want the check % x", k, at, entry[at:min(at+len(check), len(entry))], check)
			}
			body = append(body, entry[from:at]...)
			from = at + len(check)
		}
		body = append(body, entry[from:]...)
		_, oldStart, _ := readU32(before[k], 0)
		if !bytes.Equal(body, before[k][oldStart:]) {
			t.Fatalf("body %d without its checks differs from the original", k)
		}
		checks += len(loops)
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
