package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// The rewriting of the sections other than code for Interrupt: each is
// decoded again and re-encoded with its function indices renumbered and, for
// the type, import and global sections, one entry appended. Everything but
// the renumbered indices and the counts of the grown vectors is copied as it
// was, non-minimal LEB128 encodings included.

// rewriter copies a section (or a part of it) while renumbering its function
// indices. What has been read since mark and not yet written is copied by
// flush.
type rewriter struct {
	r     *reader
	out   []byte
	mark  int
	funcs shift
}

func newRewriter(wasm []byte, s *section, funcs shift) *rewriter {
	return &rewriter{r: &reader{b: wasm[:s.end], pos: s.payload}, mark: s.payload, funcs: funcs}
}

// flush copies what was read since the last flush.
func (w *rewriter) flush() {
	if w.r.err == nil {
		w.out = append(w.out, w.r.b[w.mark:w.r.pos]...)
	}
	w.mark = w.r.pos
}

// grow reads the length of a vector and writes it plus by: the rewriting
// appends by elements.
func (w *rewriter) grow(minSize, by int) int {
	w.flush()
	n := w.r.count(minSize)
	if w.r.err == nil && uint64(n)+uint64(by) > math.MaxUint32 {
		w.r.failf(w.mark, "vector too long to grow")
	}
	w.out = appendU32(w.out, uint32(n+by))
	w.mark = w.r.pos
	return n
}

// funcIndex reads a function index and writes its new value.
func (w *rewriter) funcIndex() {
	w.flush()
	at := w.r.pos
	v := w.r.u32()
	if w.r.err != nil {
		return
	}
	nv, ok := w.funcs.of(v)
	if !ok {
		w.r.failf(at, "function index %d out of range", v)
		return
	}
	w.out = appendU32(w.out, nv)
	w.mark = w.r.pos
}

// expr reads a constant expression, renumbering its ref.func.
func (w *rewriter) expr() { constExprFunc(w.r, w.funcIndex) }

// done checks that the whole section was read and returns the new payload.
func (w *rewriter) done() ([]byte, error) {
	if w.r.err == nil && w.r.pos != len(w.r.b) {
		w.r.failf(w.r.pos, "section size mismatch: %d bytes left", len(w.r.b)-w.r.pos)
	}
	w.flush()
	return w.out, w.r.err
}

// funcType is an entry of the type section: whether it has parameters, and
// the encoding of its results (one byte each, the value types of 2.0).
type funcType struct {
	params  bool
	results []byte
}

// readTypes decodes the type section (nil for none). It fails on a type it
// does not know (those of the GC feature, whose recursion groups change the
// type index space) and on a malformed section, which Parse does not read.
func readTypes(wasm []byte, s *section) ([]funcType, error) {
	if s == nil {
		return nil, nil
	}
	r := &reader{b: wasm[:s.end], pos: s.payload}
	n := r.count(3)
	types := make([]funcType, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		at := r.pos
		if form := r.byte(); r.err == nil && form != 0x60 {
			r.failf(at, "unknown type form %#02x", form)
			break
		}
		params := r.count(1)
		for k := 0; k < params; k++ {
			r.valType()
		}
		results := r.count(1)
		from := r.pos
		for k := 0; k < results; k++ {
			r.valType()
		}
		if r.err == nil {
			types = append(types, funcType{params: params > 0, results: wasm[from:r.pos]})
		}
	}
	if r.err == nil && r.pos != s.end {
		r.failf(r.pos, "section size mismatch: %d bytes left", s.end-r.pos)
	}
	if r.err != nil {
		return nil, r.err
	}
	return types, nil
}

// typeIndex finds the types [] -> results that Interrupt needs among the
// module's, and appends those it does not find.
type typeIndex struct {
	types []funcType // the module's
	added [][]byte   // the results of the types to append
}

// of returns the index of the first type [] -> results.
func (t *typeIndex) of(results []byte) (uint32, error) {
	for i, ft := range t.types {
		if !ft.params && bytes.Equal(ft.results, results) {
			return uint32(i), nil
		}
	}
	for i, r := range t.added {
		if bytes.Equal(r, results) {
			return uint32(len(t.types) + i), nil
		}
	}
	n := len(t.types) + len(t.added)
	if n >= math.MaxInt32 { // a type index that a block type (s33) can hold
		return 0, errors.New("too many types")
	}
	t.added = append(t.added, results)
	return uint32(n), nil
}

// typeSection returns the type section s (nil for none) with t's added
// types appended, or nil if there are none to add: s is then copied.
func typeSection(wasm []byte, s *section, t *typeIndex) []byte {
	if len(t.added) == 0 {
		return nil
	}
	var payload []byte
	if s == nil {
		payload = []byte{0}
	} else {
		payload = wasm[s.payload:s.end]
	}
	_, first, _ := readU32(payload, 0)
	out := appendU32(make([]byte, 0, len(payload)+8), uint32(len(t.types)+len(t.added)))
	out = append(out, payload[first:]...)
	for _, r := range t.added {
		out = appendU32(append(out, 0x60, 0), uint32(len(r)))
		out = append(out, r...)
	}
	return out
}

// funcTypes decodes the function section (nil for none): the type index of
// each function the module defines.
func funcTypes(wasm []byte, s *section) ([]uint32, error) {
	if s == nil {
		return nil, nil
	}
	r := &reader{b: wasm[:s.end], pos: s.payload}
	n := r.count(1)
	types := make([]uint32, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		types = append(types, r.u32())
	}
	if r.err == nil && r.pos != s.end {
		r.failf(r.pos, "section size mismatch: %d bytes left", s.end-r.pos)
	}
	return types, r.err
}

// importSection returns the import section with the functions of the given
// names, in module CheckModule and of type typ, appended, and the number of
// functions it imported before.
func importSection(wasm []byte, s *section, typ uint32, names ...string) (payload []byte, funcs int, err error) {
	var entries []byte
	for _, name := range names {
		entries = appendU32(entries, uint32(len(CheckModule)))
		entries = append(entries, CheckModule...)
		entries = appendU32(entries, uint32(len(name)))
		entries = append(entries, name...)
		entries = appendU32(append(entries, 0x00), typ)
	}
	if s == nil {
		return append(appendU32(nil, uint32(len(names))), entries...), 0, nil
	}
	p := parser{info: &Info{}}
	r := &reader{b: wasm[:s.end], pos: s.payload}
	p.imports(r) // counts the function imports
	if r.err == nil && r.pos != s.end {
		r.failf(r.pos, "section size mismatch: %d bytes left", s.end-r.pos)
	}
	n, first, _ := readU32(wasm[:s.end], s.payload)
	if r.err == nil && uint64(n)+uint64(len(names)) > math.MaxUint32 {
		r.failf(s.payload, "too many imports")
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	payload = appendU32(make([]byte, 0, s.end-s.payload+len(entries)+8), n+uint32(len(names)))
	payload = append(payload, wasm[first:s.end]...)
	return append(payload, entries...), p.info.ImportedFuncs, nil
}

// tableSection renumbers the ref.func of the tables' initialisers (a table
// type prefixed by 0x40 0x00 and followed by a constant expression, in the
// typed function references feature). It returns nil when there is nothing
// to change.
func tableSection(wasm []byte, s *section, funcs shift) ([]byte, error) {
	w := newRewriter(wasm, s, funcs)
	n := w.r.count(3)
	init := false
	for i := 0; i < n && w.r.err == nil; i++ {
		withInit := w.r.pos < len(w.r.b) && w.r.b[w.r.pos] == 0x40
		if withInit {
			init = true
			w.r.byte()
			at := w.r.pos
			if b := w.r.byte(); w.r.err == nil && b != 0 {
				w.r.failf(at, "unknown table encoding %#02x", b)
			}
		}
		at := w.r.pos
		if t := w.r.byte(); w.r.err == nil && t != 0x70 && t != 0x6f {
			w.r.failf(at, "unknown reference type %#02x", t)
		}
		w.r.limits()
		if withInit {
			w.expr()
		}
	}
	payload, err := w.done()
	if !init {
		return nil, err
	}
	return payload, err
}

// globalSection renumbers the ref.func of the globals' initialisers and
// appends the n globals encoded in added. s may be nil.
func globalSection(wasm []byte, s *section, funcs shift, n int, added []byte) ([]byte, error) {
	if s == nil {
		return append(appendU32(nil, uint32(n)), added...), nil
	}
	w := newRewriter(wasm, s, funcs)
	n = w.grow(3, n)
	for i := 0; i < n && w.r.err == nil; i++ {
		w.r.valType()
		w.r.byte() // mutability: Parse checked it
		w.expr()
	}
	w.flush()
	w.out = append(w.out, added...)
	return w.done()
}

// elementSection renumbers the function indices of the element segments, of
// every kind: the vectors of indices and the ref.func of the expressions
// (offsets included).
func elementSection(wasm []byte, s *section, funcs shift) ([]byte, error) {
	w := newRewriter(wasm, s, funcs)
	r := w.r
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		at := r.pos
		kind := r.u32()
		if r.err == nil && kind > 7 {
			r.failf(at, "unknown element segment kind %d", kind)
			break
		}
		if kind&3 == 2 {
			r.u32() // table index
		}
		if kind&1 == 0 {
			w.expr() // offset of an active segment
		}
		if kind&3 != 0 {
			at := r.pos
			t := r.byte()
			switch {
			case r.err != nil:
			case kind&4 == 0 && t != 0x00:
				r.failf(at, "unknown element kind %#02x", t)
			case kind&4 != 0 && t != 0x70 && t != 0x6f:
				r.failf(at, "unknown reference type %#02x", t)
			}
		}
		items := r.count(1)
		for k := 0; k < items && r.err == nil; k++ {
			if kind&4 == 0 {
				w.funcIndex()
			} else {
				w.expr()
			}
		}
	}
	return w.done()
}

// dataSection renumbers the ref.func of the data segments' offsets, which no
// valid module has (a funcref is no offset). It returns nil when there is
// nothing to change, so that the section, often the largest after code, is
// copied at once.
func dataSection(wasm []byte, s *section, funcs shift) ([]byte, error) {
	found := false
	segments := func(r *reader, index func()) {
		n := r.count(2)
		for i := 0; i < n && r.err == nil; i++ {
			kind := r.u32()
			if kind == 2 {
				r.u32() // memory index
			}
			if kind != 1 {
				constExprFunc(r, index)
			}
			r.bytes(r.u32())
		}
	}
	r := &reader{b: wasm[:s.end], pos: s.payload}
	segments(r, func() { found = true; r.u32() })
	if !found || r.err != nil {
		return nil, r.err // Parse read the section: no error
	}
	w := newRewriter(wasm, s, funcs)
	segments(w.r, w.funcIndex)
	return w.done()
}

// exportSection returns the export section's entries with the function
// indices renumbered (none when funcs is nil) and the count plus added.
func exportSection(wasm []byte, s *section, funcs *shift, added int) ([]byte, error) {
	if s == nil {
		return appendU32(nil, uint32(added)), nil
	}
	w := newRewriter(wasm, s, shift{})
	if funcs != nil {
		w.funcs = *funcs
	}
	n := w.r.count(3)
	w.out = appendU32(make([]byte, 0, s.end-s.payload+8), uint32(n+added))
	w.mark = w.r.pos
	for i := 0; i < n && w.r.err == nil; i++ {
		w.r.skipName()
		if kind := w.r.byte(); kind == 0 && funcs != nil {
			w.funcIndex()
		} else {
			w.r.u32()
		}
	}
	return w.done()
}

// nameSection renumbers the function indices of a "name" custom section: the
// function names (subsection 1), local names (2) and label names (3), whose
// label indices also move for the blocks that the checks add (blocks gives
// the offsets of the block, loop and if instructions of the body of a
// function the module defines, nil if there is no such function). The other
// subsections are copied. It returns ok false when the section is malformed:
// it is then best dropped.
func nameSection(wasm []byte, s *section, funcs shift, entryLabels int, blocks func(fn uint32) (all, loops []int, ok bool)) (payload []byte, ok bool) {
	r := &reader{b: wasm[:s.end], pos: s.payload}
	r.name()
	out := append([]byte(nil), wasm[s.payload:r.pos]...)
	for r.err == nil && r.pos < s.end {
		id := r.byte()
		content := r.bytes(r.u32())
		if r.err != nil {
			return nil, false
		}
		sub := content
		if id >= 1 && id <= 3 {
			w := &rewriter{r: &reader{b: content}, funcs: funcs}
			n := w.r.count(2)
			for i := 0; i < n && w.r.err == nil; i++ {
				fn := w.r.pos
				w.funcIndex()
				switch id {
				case 1:
					w.r.skipName()
				case 2:
					m := w.r.count(2)
					for k := 0; k < m && w.r.err == nil; k++ {
						w.r.u32()
						w.r.skipName()
					}
				case 3:
					if !w.labels(fn, entryLabels, blocks) {
						return nil, false
					}
				}
			}
			var err error
			if sub, err = w.done(); err != nil {
				return nil, false
			}
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(sub)))
		out = append(out, sub...)
	}
	if r.err != nil {
		return nil, false
	}
	return out, true
}

// labels rewrites the label names of the function whose (old) index is at
// w.r.b[fn]: label j, the j-th block, loop or if of the body, becomes label
// entry + j + the number of loops before it, after the entry blocks
// (the check's if and, with a call depth limit, the depth check's if and
// the block that wraps the body) and the checks' if blocks after each loop.
func (w *rewriter) labels(fn int, entry int, blocks func(fn uint32) (all, loops []int, ok bool)) bool {
	f, _, _ := readU32(w.r.b, fn)
	var all, loops []int
	defined := f >= w.funcs.imported
	if defined {
		var ok bool
		if all, loops, ok = blocks(f); !ok {
			return false
		}
	}
	m := w.r.count(2)
	for k := 0; k < m && w.r.err == nil; k++ {
		w.flush()
		j := w.r.u32()
		if !defined || w.r.err != nil {
			w.r.skipName()
			continue
		}
		if uint64(j) >= uint64(len(all)) {
			return false
		}
		before := 0
		for before < len(loops) && loops[before] < all[j] {
			before++
		}
		w.out = appendU32(w.out, uint32(entry+int(j)+before))
		w.mark = w.r.pos
		w.r.skipName()
	}
	return w.r.err == nil
}

// bodyBlocks decodes the body of defined function k of the code section and
// returns the offsets of its blocks, loops and ifs, and of its loops.
func bodyBlocks(wasm []byte, code *section, k uint32) (all, loops []int, ok bool) {
	if code == nil {
		return nil, nil, false
	}
	r := &reader{b: wasm[:code.end], pos: code.payload}
	n := r.count(3)
	if uint64(k) >= uint64(n) {
		return nil, nil, false
	}
	for ; k > 0 && r.err == nil; k-- {
		r.bytes(r.u32())
	}
	start := r.pos
	r.bytes(r.u32())
	if r.err != nil {
		return nil, nil, false
	}
	_, start, _ = readU32(wasm, start)
	e := codeEdits{labels: true}
	s, err := scanBody(wasm[:r.pos], start, &e)
	if err != nil || s.unknown != "" {
		return nil, nil, false
	}
	return e.blocks, e.loops, true
}

// errCannot wraps the error of the rewriting of a section for Interrupt.
func errCannot(id byte, err error) error {
	return fmt.Errorf("%w: %s section: %w", ErrCannotInterrupt, name(id), err)
}
