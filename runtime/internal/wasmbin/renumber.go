package wasmbin

import (
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

// grow reads the length of a vector and writes it plus one: the rewriting
// appends an element.
func (w *rewriter) grow(minSize int) int {
	w.flush()
	n := w.r.count(minSize)
	if w.r.err == nil && n == math.MaxUint32 {
		w.r.failf(w.mark, "vector too long to grow")
	}
	w.out = appendU32(w.out, uint32(n)+1)
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

// typeSection returns the type section with the type (func) appended, or nil
// if it has one already, and the index of that type. It fails on a type it
// does not know (those of the GC feature, whose recursion groups change the
// type index space) and on a malformed section, which Parse does not read.
func typeSection(wasm []byte, s *section) (payload []byte, index uint32, err error) {
	if s == nil {
		return []byte{1, 0x60, 0, 0}, 0, nil
	}
	r := &reader{b: wasm[:s.end], pos: s.payload}
	n := r.count(3)
	found := false
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
		for k := 0; k < results; k++ {
			r.valType()
		}
		if r.err == nil && params == 0 && results == 0 && !found {
			found, index = true, uint32(i)
		}
	}
	if r.err == nil && r.pos != s.end {
		r.failf(r.pos, "section size mismatch: %d bytes left", s.end-r.pos)
	}
	if r.err == nil && n == math.MaxUint32 {
		r.failf(s.payload, "too many types")
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	if found {
		return nil, index, nil // copied as it is
	}
	_, first, _ := readU32(wasm[:s.end], s.payload)
	payload = appendU32(make([]byte, 0, s.end-s.payload+8), uint32(n)+1)
	payload = append(payload, wasm[first:s.end]...)
	return append(payload, 0x60, 0, 0), uint32(n), nil
}

// importSection returns the import section with the check function, of type
// typ, appended, and the number of functions it imported before.
func importSection(wasm []byte, s *section, typ uint32) (payload []byte, funcs int, err error) {
	entry := appendU32(nil, uint32(len(CheckModule)))
	entry = append(entry, CheckModule...)
	entry = appendU32(entry, uint32(len(CheckName)))
	entry = append(entry, CheckName...)
	entry = appendU32(append(entry, 0x00), typ)
	if s == nil {
		return append([]byte{1}, entry...), 0, nil
	}
	p := parser{info: &Info{}}
	r := &reader{b: wasm[:s.end], pos: s.payload}
	p.imports(r) // counts the function imports
	if r.err == nil && r.pos != s.end {
		r.failf(r.pos, "section size mismatch: %d bytes left", s.end-r.pos)
	}
	n, first, _ := readU32(wasm[:s.end], s.payload)
	if r.err == nil && n == math.MaxUint32 {
		r.failf(s.payload, "too many imports")
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	payload = appendU32(make([]byte, 0, s.end-s.payload+len(entry)+8), n+1)
	payload = append(payload, wasm[first:s.end]...)
	return append(payload, entry...), p.info.ImportedFuncs, nil
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
// appends the budget global. s may be nil.
func globalSection(wasm []byte, s *section, funcs shift) ([]byte, error) {
	if s == nil {
		return append([]byte{1}, budgetGlobal()...), nil
	}
	w := newRewriter(wasm, s, funcs)
	n := w.grow(3)
	for i := 0; i < n && w.r.err == nil; i++ {
		w.r.valType()
		w.r.byte() // mutability: Parse checked it
		w.expr()
	}
	w.flush()
	w.out = append(w.out, budgetGlobal()...)
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
	w := newRewriter(wasm, s, 0)
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
func nameSection(wasm []byte, s *section, funcs shift, blocks func(fn uint32) (all, loops []int, ok bool)) (payload []byte, ok bool) {
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
					if !w.labels(fn, blocks) {
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
// 1 + j + the number of loops before it, after the checks' if blocks at the
// entry and after each loop.
func (w *rewriter) labels(fn int, blocks func(fn uint32) (all, loops []int, ok bool)) bool {
	f, _, _ := readU32(w.r.b, fn)
	var all, loops []int
	defined := f >= uint32(w.funcs)
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
		w.out = appendU32(w.out, uint32(1+int(j)+before))
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
