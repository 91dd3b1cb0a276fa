package wasmbin

import "fmt"

// Interrupting guests. wazero's WithCloseOnContextDone makes every loop header
// call, indirectly, a trampoline that checks whether the module must exit; a
// Go guest, whose scheduler and runtime loop a lot, runs about five times
// slower with it (28 µs a request against 155 µs). InstrumentWith's Interrupt
// does what wasmtime's epoch interruption does instead: a load of a global and
// a branch not taken at each loop header, a few machine instructions. On
// wazero's compiler, a loop of a dozen instructions runs about 2.4 times
// slower with the check and 40 times slower with WithCloseOnContextDone
// (BenchmarkLoopCheck); Go's wasm backend puts a loop in most functions (2,164
// loops in 3,062 bodies for examples/hello), so the check also runs at most
// calls. Every unbounded execution of guest code passes through a loop header,
// except recursion, which the call stack bounds, tail calls, which
// InstrumentWith refuses rather than check at function entry, and
// memory.atomic.wait on a shared memory, which blocks for as long as the guest
// asks and which no check in guest code can interrupt.
//
// The check is "global.get; if; unreachable; end" and not "br_if" to a trap
// block: the if opens and closes its own block, so no branch depth in the
// body changes and nothing but the loop headers needs rewriting. It goes
// after the loop instruction, not before it, so that a branch back to the
// loop also passes through it. The global is appended, so no index changes,
// and the bodies are decoded with the scanner that Parse uses, so that a
// 0x03 byte in an immediate is never taken for a loop.

// codeScan is what the decoding of a module's function bodies tells
// InstrumentWith's Interrupt. Parse records it in the Info, so that
// InstrumentWith need not decode the bodies again: that is most of Parse's
// time.
type codeScan struct {
	// src and size identify the module decoded: its first byte (in the
	// caller's buffer, not a copy) and its length.
	src  *byte
	size int
	// loops are the offsets of the loop instructions in the module, in
	// ascending order.
	loops []int
	// cannot is the first reason the module cannot be interrupted, as
	// "function 3 makes tail calls"; "" if there is none.
	cannot string
}

// of reports whether s was made from wasm itself: the same bytes, which are
// not to change after Parse (an Info's data segments alias them too), and not
// a copy, which could differ.
func (s *codeScan) of(wasm []byte) bool {
	return s != nil && len(wasm) == s.size && len(wasm) > 0 && &wasm[0] == s.src
}

// scanCode decodes the code section of wasm as Parse does, for an Info that
// Parse did not make from wasm itself.
func scanCode(wasm []byte, code *section, importedFuncs int) (*codeScan, error) {
	p := parser{info: &Info{ImportedFuncs: importedFuncs, Resettable: true}}
	r := &reader{b: wasm[:code.end], pos: code.payload}
	p.code(r)
	if r.err == nil && r.pos != code.end {
		r.failf(r.pos, "section size mismatch: %d bytes left", code.end-r.pos)
	}
	if r.err != nil {
		if fe, ok := r.err.(*FormatError); ok {
			fe.Reason = "code section: " + fe.Reason
		}
		return nil, r.err
	}
	return &p.scan, nil
}

// loopBody returns the offset just past the block type of the loop
// instruction at b[op], -1 if there is no loop instruction there.
func loopBody(b []byte, op int) int {
	if op < 0 || op+1 >= len(b) || b[op] != 0x03 {
		return -1
	}
	if t := b[op+1]; t == 0x40 || isValType(t) {
		return op + 2
	}
	t, i, st := readS33(b, op+1)
	if st != lebOK || t < 0 {
		return -1
	}
	return i
}

// loopChecks plans the rewriting of a code section for Interrupt.
type loopChecks struct {
	code  *section
	check []byte // the instructions inserted after each loop's block type
	at    []int  // where, in the module: offsets in ascending order
	size  int    // the new code section's payload size
}

// planChecks returns where the checks of global stop go in the code section,
// given the offsets of its loop instructions, and the section's new size. It
// checks that there is a loop instruction at each offset.
func planChecks(wasm []byte, code *section, loops []int, stop uint32) (*loopChecks, error) {
	check := make([]byte, 0, 10)
	check = append(check, 0x23) // global.get
	check = appendU32(check, stop)
	check = append(check, 0x04, 0x40, 0x00, 0x0b) // if (no result) unreachable end
	c := &loopChecks{code: code, check: check, at: make([]int, 0, len(loops))}

	r := &reader{b: wasm[:code.end], pos: code.payload}
	n := r.count(3) // size, locals count, end
	size := uint64(r.pos - code.payload)
	next := 0 // in loops
	for k := 0; k < n && r.err == nil; k++ {
		head := r.pos
		bodySize := r.u32()
		start := r.pos
		r.bytes(bodySize)
		if r.err != nil {
			break
		}
		end := r.pos
		first := next
		for ; next < len(loops) && loops[next] < end; next++ {
			at := loopBody(wasm[:end], loops[next])
			if loops[next] < start || at < 0 || len(c.at) > 0 && loops[next] < c.at[len(c.at)-1] {
				return nil, fmt.Errorf("%w: no loop instruction at offset %#x: the module changed after Parse", ErrInfoMismatch, loops[next])
			}
			c.at = append(c.at, at)
		}
		if next == first {
			size += uint64(end - head) // copied as it is
			continue
		}
		newSize := uint64(bodySize) + uint64(next-first)*uint64(len(check))
		if newSize > 1<<32-1 {
			return nil, fmt.Errorf("%w: a function would be larger than 4 GiB", ErrCannotInterrupt)
		}
		size += uint64(sizeU32(uint32(newSize))) + newSize
	}
	if r.err != nil {
		return nil, r.err
	}
	if next != len(loops) {
		return nil, fmt.Errorf("%w: loop instruction at offset %#x out of the code section: the module changed after Parse", ErrInfoMismatch, loops[next])
	}
	if size > 1<<32-1 {
		return nil, fmt.Errorf("%w: the code section would be larger than 4 GiB", ErrCannotInterrupt)
	}
	c.size = int(size)
	return c, nil
}

// write appends the rewritten code section to out. planChecks has read it.
func (c *loopChecks) write(out, wasm []byte) []byte {
	out = append(out, secCode)
	out = appendU32(out, uint32(c.size))
	n, i, _ := readU32(wasm, c.code.payload)
	out = append(out, wasm[c.code.payload:i]...) // the count, as it was
	next := 0                                    // the first check not yet inserted
	for ; n > 0; n-- {
		head := i
		var size uint32
		size, i, _ = readU32(wasm, i)
		start, end := i, i+int(size)
		i = end
		last := next
		for last < len(c.at) && c.at[last] < end {
			last++
		}
		if last == next {
			out = append(out, wasm[head:end]...)
			continue
		}
		out = appendU32(out, size+uint32((last-next)*len(c.check)))
		from := start
		for _, to := range c.at[next:last] {
			out = append(out, wasm[from:to]...)
			out = append(out, c.check...)
			from = to
		}
		out = append(out, wasm[from:end]...)
		next = last
	}
	return out
}
