package wasmbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wat disassembles wasm with wabt's wasm2wat, every feature enabled and no
// validation.
func wat(t *testing.T, tool string, wasm []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(f, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "--enable-all", "--no-check", f).CombinedOutput()
	if err != nil {
		t.Fatalf("wasm2wat: %v\n%s", err, out)
	}
	// The module's closing parenthesis ends the last line, whichever it is.
	return strings.TrimSuffix(strings.TrimRight(string(out), "\n"), ")") + "\n"
}

var (
	watFuncIndex  = regexp.MustCompile(`\(func \(;(\d+);\)|\b(?:call|return_call|ref\.func) (\d+)\b|\bfunc((?: \d+)+)`)
	watNumber     = regexp.MustCompile(`\d+`)
	watStart      = regexp.MustCompile(`(?m)^  \(start [^)]*\)\n`)
	watAddedTypes = regexp.MustCompile(`(?m)^  \(type \(;(\d+);\) \(func\)\)\n`)
)

// unInstrument undoes, on wasm2wat's text of an instrumented module, what
// Interrupt did: it removes the checks, the import of the check function
// (index check), the budget global (index budget), the type (func) if it
// was appended after types others and the exports that Instrument adds, and
// renumbers the functions back. It returns the text and the number of
// checks removed.
func unInstrument(t *testing.T, text string, check, budget uint32, types int) (string, int) {
	t.Helper()
	b, c := strconv.Itoa(int(budget)), strconv.Itoa(int(check))
	checkLines := regexp.MustCompile(`(?m)^ *global\.get ` + b + `\n *i32\.const 1\n *i32\.sub\n *global\.set ` + b + `\n *global\.get ` + b +
		`\n *i32\.eqz\n *if  ;; label = @\d+\n *i32\.const 2000\n *global\.set ` + b + `\n *call ` + c + `\n *end\n`)
	checks := len(checkLines.FindAllStringIndex(text, -1))
	text = checkLines.ReplaceAllString(text, "")
	for _, re := range []string{
		`(?m)^  \(import "wedge_runtime" "check" \(func \(;` + c + `;\) \(type \d+\)\)\)\n`,
		`(?m)^  \(global \(;` + b + `;\) \(mut i32\) \(i32\.const 2000\)\)\n`,
		`(?m)^  \(export "__wedge_[^"]*" \([^)]*\)\)\n`,
	} {
		text = regexp.MustCompile(re).ReplaceAllString(text, "")
	}
	text = watAddedTypes.ReplaceAllStringFunc(text, func(s string) string {
		if n, _ := strconv.Atoi(watAddedTypes.FindStringSubmatch(s)[1]); n == types {
			return ""
		}
		return s
	})
	text = watFuncIndex.ReplaceAllStringFunc(text, func(s string) string {
		return watNumber.ReplaceAllStringFunc(s, func(n string) string {
			v, _ := strconv.Atoi(n)
			switch {
			case v == int(check):
				t.Errorf("function index %d, the check function's, outside a check: %q", v, s)
			case v > int(check):
				v--
			}
			return strconv.Itoa(v)
		})
	})
	return text, checks
}

// diffLines reports the first line where a and b differ.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines against %d", len(al), len(bl))
}

// checkWat checks, with wasm2wat, that out is wasm instrumented with
// Interrupt: once the checks, the import, the global and the added exports
// are removed and the functions renumbered back, the texts are the same
// (without the start section, which becomes an export).
func checkWat(t *testing.T, tool string, wasm, out []byte, info *Info) int {
	t.Helper()
	before := watStart.ReplaceAllString(wat(t, tool, wasm), "")
	after, checks := unInstrument(t, wat(t, tool, out), uint32(info.ImportedFuncs), budgetIndex(info), len(typeEntries(t, wasm)))
	if after != before {
		t.Errorf("wasm2wat of the instrumented module, uninstrumented, differs from the original's: %s", diffLines(before, after))
	}
	return checks
}

// TestInterruptWat compares wabt's disassembly of each fixture with that of
// its instrumented version: the function indices of calls, return_call,
// ref.func in code, globals and element segments of every kind, exports and
// the start function must all have moved up by one, and the checks be where
// wasm2wat sees the functions' entries and loops.
func TestInterruptWat(t *testing.T) {
	tool, err := exec.LookPath("wasm2wat")
	if err != nil {
		t.Skip("wasm2wat (wabt) not installed")
	}
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			wasm := readFixture(t, name)
			info, err := Parse(wasm)
			if err != nil {
				t.Fatal(err)
			}
			out, err := InstrumentWith(wasm, info, InstrumentOptions{Interrupt: true})
			if errors.Is(err, ErrCannotInterrupt) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			checks := checkWat(t, tool, wasm, out, info)
			if loops, _ := watLoops(t, wasm); checks != loops+len(bodies(t, wasm)) {
				t.Errorf("wasm2wat finds %d checks, want %d loops and %d functions", checks, loops, len(bodies(t, wasm)))
			}
		})
	}
}

// nameMap encodes a name map, sorted by index.
func nameMap(names map[uint32]string) []byte {
	keys := make([]uint32, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := appendU32(nil, uint32(len(keys)))
	for _, k := range keys {
		b = appendU32(b, k)
		b = appendU32(b, uint32(len(names[k])))
		b = append(b, names[k]...)
	}
	return b
}

// indirectNameMap encodes an indirect name map (local or label names).
func indirectNameMap(names map[uint32]map[uint32]string) []byte {
	keys := make([]uint32, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := appendU32(nil, uint32(len(keys)))
	for _, k := range keys {
		b = appendU32(b, k)
		b = append(b, nameMap(names[k])...)
	}
	return b
}

// nameSectionOf returns a "name" custom section with the given subsections
// (id, content), in order.
func nameSectionOf(subsections ...[]byte) []byte {
	payload := cat(appendU32(nil, 4), []byte("name"))
	for _, s := range subsections {
		payload = append(payload, s[0])
		payload = appendU32(payload, uint32(len(s)-1))
		payload = append(payload, s[1:]...)
	}
	return sec(secCustom, payload...)
}

// decodeNames decodes the function names, local names and label names of
// out's "name" section; ok is false if it has none.
func decodeNames(t *testing.T, out []byte) (funcs map[uint32]string, locals, labels map[uint32]map[uint32]string, ok bool) {
	t.Helper()
	secs, err := sections(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if !isNameSection(out, s) {
			continue
		}
		ok = true
		r := &reader{b: out[:s.end], pos: s.payload}
		r.name()
		readMap := func() map[uint32]string {
			m := map[uint32]string{}
			n := r.count(2)
			for i := 0; i < n && r.err == nil; i++ {
				k := r.u32()
				m[k] = r.name()
			}
			return m
		}
		for r.err == nil && r.pos < s.end {
			id := r.byte()
			size := r.u32()
			end := r.pos + int(size)
			switch id {
			case 1:
				funcs = readMap()
			case 2, 3:
				m := map[uint32]map[uint32]string{}
				n := r.count(2)
				for i := 0; i < n && r.err == nil; i++ {
					k := r.u32()
					m[k] = readMap()
				}
				if id == 2 {
					locals = m
				} else {
					labels = m
				}
			}
			r.pos = end
		}
		if r.err != nil {
			t.Fatalf("name section: %v", r.err)
		}
	}
	return funcs, locals, labels, ok
}

// TestInterruptNames instruments testdata/renumber.wasm given a name
// section: function, local and label names follow their functions to their
// new indices, label names their blocks after the checks' if blocks, and
// wasm2wat's text, which uses the names, is the same but for the checks. A
// malformed name section is dropped.
func TestInterruptNames(t *testing.T) {
	funcNames := map[uint32]string{0: "add100", 1: "add1000", 2: "double", 3: "square", 6: "direct", 13: "fact", 14: "sum_squares", 15: "init"}
	localNames := map[uint32]map[uint32]string{
		0:  {0: "imported_x"},
		6:  {0: "x"},
		14: {0: "n", 1: "acc"},
	}
	labelNames := map[uint32]map[uint32]string{
		1:  {0: "an import has no labels"},
		13: {0: "base"},
		14: {0: "done", 1: "l"},
	}
	wasm := readFixture(t, "renumber")
	named := cat(wasm, nameSectionOf(
		cat([]byte{0}, appendU32(nil, 8), []byte("renumber")),
		cat([]byte{1}, nameMap(funcNames)),
		cat([]byte{2}, indirectNameMap(localNames)),
		cat([]byte{3}, indirectNameMap(labelNames)),
		cat([]byte{7}, nameMap(map[uint32]string{0: "gf", 1: "started"})),
	))
	info, err := Parse(named)
	if err != nil {
		t.Fatal(err)
	}
	out, err := InstrumentWith(named, info, InstrumentOptions{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)
	checkInstrumentedWith(t, named, out, info, InstrumentOptions{Interrupt: true})

	funcs, locals, labels, ok := decodeNames(t, out)
	if !ok {
		t.Fatal("no name section")
	}
	wantFuncs := map[uint32]string{0: "add100", 1: "add1000", 3: "double", 4: "square", 7: "direct", 14: "fact", 15: "sum_squares", 16: "init"}
	if fmt.Sprint(funcs) != fmt.Sprint(wantFuncs) {
		t.Errorf("function names %v, want %v", funcs, wantFuncs)
	}
	wantLocals := map[uint32]map[uint32]string{0: {0: "imported_x"}, 7: {0: "x"}, 15: {0: "n", 1: "acc"}}
	if fmt.Sprint(locals) != fmt.Sprint(wantLocals) {
		t.Errorf("local names %v, want %v", locals, wantLocals)
	}
	// fact: its if is label 1 after the entry's check; sum_squares: block
	// 1, loop 2 (its check's if is 3).
	wantLabels := map[uint32]map[uint32]string{1: {0: "an import has no labels"}, 14: {1: "base"}, 15: {1: "done", 2: "l"}}
	if fmt.Sprint(labels) != fmt.Sprint(wantLabels) {
		t.Errorf("label names %v, want %v", labels, wantLabels)
	}

	if tool, err := exec.LookPath("wasm2wat"); err == nil {
		text := wat(t, tool, out)
		if !strings.Contains(text, "(func $sum_squares (type 0) (param $n i32) (result i32)") || !strings.Contains(text, "call $square") {
			t.Errorf("wasm2wat does not name the functions:\n%s", text)
		}
		if checks := checkWat(t, tool, named, out, info); checks != 15 {
			t.Errorf("wasm2wat finds %d checks, want 15", checks)
		}
	}

	// Malformed name sections are dropped; the module still instruments.
	for _, bad := range [][]byte{
		nameSectionOf(cat([]byte{1}, appendU32(nil, 5))),                                           // 5 names, none there
		nameSectionOf(cat([]byte{3}, indirectNameMap(map[uint32]map[uint32]string{14: {9: "x"}}))), // no label 9
		nameSectionOf(cat([]byte{1}, nameMap(map[uint32]string{0xffffffff: "x"}))),                 // cannot be renumbered
		sec(secCustom, cat(appendU32(nil, 4), []byte("name"), []byte{1, 0x80})...),                 // truncated size
	} {
		in := cat(wasm, bad)
		out, err := InstrumentWith(in, nil, InstrumentOptions{Interrupt: true})
		if err != nil {
			t.Fatal(err)
		}
		validate(t, out)
		if _, _, _, ok := decodeNames(t, out); ok {
			t.Errorf("malformed name section % x kept", bad)
		}
	}
}
