package wasmbin

import (
	"fmt"
	"math"
)

// Interrupting guests. wazero's compiled code cannot be preempted by Go's
// scheduler: a guest in a tight loop keeps its thread and its P, and a stop
// requested from another goroutine (a stop global set by the host, say) may
// never be observed, because the goroutine that would set it, or the garbage
// collector's stop-the-world that waits for the looping goroutine, never
// runs. The guest must therefore come back to Go by itself, and often enough.
// wazero's WithCloseOnContextDone does that by calling out of compiled code at
// every loop back-edge, which makes a Go guest, whose scheduler and runtime
// loop a lot, about five times slower.
//
// InstrumentWith's Interrupt makes the guest call a host function, imported
// as CheckModule.CheckName, once every CheckInterval checks, where a check is
// a countdown of a global, $budget, at the entry of every function and at the
// head of every loop:
//
//	global.get $budget  i32.const 1  i32.sub  global.set $budget
//	global.get $budget  i32.eqz
//	if
//	  i32.const CheckInterval  global.set $budget
//	  call $check
//	end
//
// Every unbounded execution of guest code passes a loop header or a function
// entry (recursion, tail calls, even trees of calls without loops whose running
// time is exponential), so the host function runs at least once every
// CheckInterval iterations or calls. There the Go scheduler and the garbage
// collector get their chance, and the host function decides whether the guest
// goes on: it stops it by panicking, which wazero turns into an error of the
// guest's call. What no check interrupts is a guest blocked in a host function
// or in memory.atomic.wait on a shared memory.
//
// WebAssembly has no global.tee: the countdown stores the global and loads it
// again. The if opens and closes its own block, so no branch depth changes,
// and it consumes nothing of the operand stack around it. It goes after the
// loop's block type, so that a branch back to the loop passes through it too,
// and after the declaration of the locals at a function's entry.
//
// Importing a function shifts the index of every function the module defines
// by one: call, return_call and ref.func in bodies, ref.func in constant
// expressions, element segments, exports, the start function and the name
// section's function, local and label names are renumbered. Parse records
// where the loops and the function indices of the bodies are, so that
// InstrumentWith need not decode the bodies again; the other sections are
// small and decoded again. Custom sections other than "name" are copied: one
// that holds function indices or code offsets (DWARF, source maps) no longer
// matches, which costs debugging information, not correctness. The type (func) is reused if the module has it,
// else appended; the import goes after the other imports (its index is
// Info.ImportedFuncs) and the global after the other globals, so no type or
// global index changes.

// Names and parameters of Interrupt's rewriting.
const (
	// CheckModule and CheckName name the function, of type [] -> [], that
	// InstrumentWith's Interrupt imports: the host must provide it.
	CheckModule = "wedge_runtime"
	CheckName   = "check"

	// CheckInterval is the number of checks (loop iterations and function
	// entries) between two calls to the check function.
	CheckInterval = 2000
)

// codeScan is what the decoding of a module's function bodies tells
// InstrumentWith's Interrupt. Parse records it in the Info, so that
// InstrumentWith need not decode the bodies again: that is most of Parse's
// time.
type codeScan struct {
	// src and size identify the module decoded: its first byte (in the
	// caller's buffer, not a copy) and its length.
	src  *byte
	size int
	// codeEdits are the offsets of the loops and function indices in the
	// module, in ascending order.
	codeEdits
	// globals is one more than the largest global index that the bodies
	// use (bodyScan.globals).
	globals uint32
	// cannot is the first reason the module cannot be interrupted, as
	// "function 3 has unknown opcode 0x06 at offset 0x1f"; "" if there is
	// none.
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

// checkCode returns the check that Interrupt inserts, for the budget global
// and the check function of the given indices.
func checkCode(budget, check uint32) []byte {
	c := make([]byte, 0, 32)
	c = appendU32(append(c, 0x23), budget)              // global.get $budget
	c = append(c, 0x41, 0x01, 0x6b)                     // i32.const 1, i32.sub
	c = appendU32(append(c, 0x24), budget)              // global.set $budget
	c = appendU32(append(c, 0x23), budget)              // global.get $budget
	c = append(c, 0x45, 0x04, 0x40)                     // i32.eqz, if (no result)
	c = appendS32(append(c, 0x41), CheckInterval)       // i32.const CheckInterval
	c = appendU32(append(c, 0x24), budget)              // global.set $budget
	c = append(appendU32(append(c, 0x10), check), 0x0b) // call $check, end
	return c
}

// budgetGlobal returns the global that Interrupt adds: i32, mutable,
// initialised to CheckInterval.
func budgetGlobal() []byte {
	return append(appendS32([]byte{i32Type, 0x01, 0x41}, CheckInterval), 0x0b)
}

const i32Type = 0x7f

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

// localsEnd returns the offset just past the declaration of the locals of
// the body at b[i:], -1 if it cannot be read.
func localsEnd(b []byte, i int) int {
	n, i, st := readU32(b, i)
	for ; n > 0 && st == lebOK; n-- {
		if _, i, st = readU32(b, i); st == lebOK && i >= len(b) {
			st = lebTruncated
		}
		i++ // the type
	}
	if st != lebOK {
		return -1
	}
	return i
}

// shift is the renumbering of the function index space after the import of
// more functions: the indices of the functions the module defines, from
// the number of imported functions, move up by the number added.
type shift struct{ imported, added uint32 }

// of returns the new index of function i, and false if it cannot be
// renumbered.
func (s shift) of(i uint32) (uint32, bool) {
	switch {
	case i < s.imported:
		return i, true
	case i > math.MaxUint32-s.added:
		return 0, false
	}
	return i + s.added, true
}

// codePlan plans the rewriting of a code section for Interrupt.
type codePlan struct {
	code  *section
	funcs shift
	check []byte     // the check inserted at each loop head,
	enter []byte     // and at each function's entry
	depth *depthCode // the call depth count's code, nil for none
	entry []int      // where: after each body's locals,
	at    []int      // and after each loop's block type, in ascending order
	refs  []int      // the function indices to renumber, in ascending order
	// With the call depth count, the return instructions to turn into
	// branches and the tail calls to precede with a decrement.
	returns []returnAt
	tails   []int
	sizes   []uint32
	size    int // the new code section's payload size
}

// The call depth. wazero grows a guest's call stack (a Go slice, doubled at
// each growth) up to a ceiling of its own, about 50 MB, before it traps: a
// guest that recurses without end makes the host allocate over 100 MB, and
// keeps it while it waits or is preempted. Nothing in WebAssembly bounds the
// depth, so the instrumentation counts it, with the countdown, in one i64
// global $calls: the depth in its high 32 bits, the countdown in its low 32
// bits. A function's entry adds 2^32-1 (depth+1 and countdown-1 in one
// read-modify-write: the countdown is at least 1 there, so it never borrows
// from the depth), a loop head subtracts 1, and every way out of a function
// subtracts 2^32:
//
//	global.get $calls  i64.const 2^32-1  i64.add  global.set $calls
//	global.get $calls  i32.wrap_i64  i32.eqz
//	if
//	  global.get $calls  i64.const CheckInterval  i64.add  global.set $calls
//	  call $check
//	end
//	block (type of the function's results)
//	  body, with each return made br <its block nesting depth>,
//	  and loop heads checked with i64.const 1 i64.sub instead
//	end
//	global.get $calls  i64.const 2^32  i64.sub  global.set $calls
//	end
//
// The instrumentation sets no limit: $calls is exported as DepthExport, and
// the host's check function reads the depth there (CallDepth) and stops the
// guest when it is too deep. The limit is thus tested once every
// CheckInterval checks rather than at every call, which costs nothing on
// the calls in between: a recursion is stopped at most CheckInterval
// frames past the limit, and never before it. Per call, that leaves one
// read-modify-write of $calls at the exit beyond what Interrupt alone does;
// the earlier encoding (a second global, incremented and compared with the
// limit at every entry, with a second imported function to call past it)
// made the Go hello's p50 4% to 18% slower, this one 2% (see
// runtime/RATIONALE.md).
//
// The block takes the function's label: a branch to the function's label
// (br, br_if, br_table at the body's nesting depth) reaches the block's end
// with the results instead, and so does every return, rewritten as a br to
// it (WebAssembly's br unwinds the operand stack as return does). Then the
// decrement runs on every exit but a trap, after which the instance is not
// used. A function with several results needs a block type [] -> results
// from the type section, which is appended if the module does not have it.
// A tail call leaves its frame too: the decrement goes before it.

// depthCode is the code of the call depth count.
type depthCode struct {
	leave []byte // decrement the depth, after the body and before tail calls
	// blocks are the types of the blocks that wrap the bodies (0x40, a
	// value type or a type index), one per body.
	blocks [][]byte
}

// callsCheck returns the check that Interrupt inserts with the call depth
// count, for the $calls global and the check function of the given
// indices: at a function's entry (which also increments the depth) or at a
// loop head.
func callsCheck(calls, check uint32, entry bool) []byte {
	c := make([]byte, 0, 40)
	c = appendU32(append(c, 0x23), calls) // global.get $calls
	if entry {
		c = append(appendS64(append(c, 0x42), 1<<32-1), 0x7c) // i64.const 2^32-1, i64.add
	} else {
		c = append(c, 0x42, 0x01, 0x7d) // i64.const 1, i64.sub
	}
	c = appendU32(append(c, 0x24), calls)                       // global.set $calls
	c = appendU32(append(c, 0x23), calls)                       // global.get $calls
	c = append(c, 0xa7, 0x45, 0x04, 0x40)                       // i32.wrap_i64, i32.eqz, if (no result)
	c = appendU32(append(c, 0x23), calls)                       // global.get $calls
	c = append(appendS64(append(c, 0x42), CheckInterval), 0x7c) // i64.const CheckInterval, i64.add
	c = appendU32(append(c, 0x24), calls)                       // global.set $calls
	c = append(appendU32(append(c, 0x10), check), 0x0b)         // call $check, end
	return c
}

// depthLeave returns the code that decrements the depth in $calls.
func depthLeave(calls uint32) []byte {
	c := appendU32([]byte{0x23}, calls)                 // global.get $calls
	c = append(appendS64(append(c, 0x42), 1<<32), 0x7d) // i64.const 2^32, i64.sub
	return appendU32(append(c, 0x24), calls)            // global.set $calls
}

// callsGlobal returns the global that Interrupt adds with the call depth
// count: i64, mutable, initialised to depth 0 and countdown CheckInterval.
func callsGlobal() []byte {
	return append(appendS64([]byte{i64Type, 0x01, 0x42}, CheckInterval), 0x0b)
}

const i64Type = 0x7e

// CallDepth returns the call depth held in the value of the global exported
// as DepthExport: the number of calls of the module's own functions active
// at the moment of the read.
func CallDepth(calls uint64) uint32 { return uint32(calls >> 32) }

// planCode returns where the checks go in the code section and which
// function indices change, given Parse's edits, and the section's new size.
// It checks that the edits still describe the section.
func planCode(wasm []byte, code *section, e *codeEdits, funcs shift, enter, check []byte, depth *depthCode) (*codePlan, error) {
	changed := func(what string, at int) error {
		return fmt.Errorf("%w: no %s at offset %#x: the module changed after Parse", ErrInfoMismatch, what, at)
	}
	p := &codePlan{code: code, funcs: funcs, check: check, enter: enter, depth: depth, at: make([]int, 0, len(e.loops)), refs: e.funcs}
	if depth != nil {
		p.returns, p.tails = e.returns, e.tails
	}
	r := &reader{b: wasm[:code.end], pos: code.payload}
	n := r.count(3) // size, locals count, end
	if depth != nil && len(depth.blocks) != n {
		return nil, fmt.Errorf("%w: %d function bodies for %d functions", ErrCannotInterrupt, n, len(depth.blocks))
	}
	p.entry = make([]int, 0, n)
	p.sizes = make([]uint32, 0, n)
	size := uint64(r.pos - code.payload)
	loop, ref, ret, tail := 0, 0, 0, 0 // in e.loops, e.funcs, p.returns, p.tails
	for k := 0; k < n && r.err == nil; k++ {
		bodySize := r.u32()
		start := r.pos
		r.bytes(bodySize)
		if r.err != nil {
			break
		}
		end := r.pos
		b := wasm[:end]
		locals := localsEnd(b, start)
		if locals < 0 {
			return nil, changed("locals", start)
		}
		p.entry = append(p.entry, locals)
		newSize := uint64(bodySize) + uint64(len(enter))
		if depth != nil {
			// block, block type, leave, end.
			newSize += uint64(1+len(depth.blocks[k])) + uint64(len(depth.leave)+1)
			for ; ret < len(p.returns) && p.returns[ret].at < end; ret++ {
				at := p.returns[ret].at
				if at < locals || b[at] != 0x0f || p.returns[ret].depth < 0 || ret > 0 && at <= p.returns[ret-1].at {
					return nil, changed("return", at)
				}
				newSize += uint64(sizeU32(uint32(p.returns[ret].depth))) // br depth for return
			}
			for ; tail < len(p.tails) && p.tails[tail] < end; tail++ {
				at := p.tails[tail]
				if at < locals || b[at] != 0x12 && b[at] != 0x13 || tail > 0 && at <= p.tails[tail-1] {
					return nil, changed("tail call", at)
				}
				newSize += uint64(len(depth.leave))
			}
		}
		for ; loop < len(e.loops) && e.loops[loop] < end; loop++ {
			at := loopBody(b, e.loops[loop])
			if e.loops[loop] < locals || at < 0 || len(p.at) > 0 && at <= p.at[len(p.at)-1] {
				return nil, changed("loop instruction", e.loops[loop])
			}
			p.at = append(p.at, at)
			newSize += uint64(len(check))
		}
		for ; ref < len(e.funcs) && e.funcs[ref] < end; ref++ {
			at := e.funcs[ref]
			if at <= locals || ref > 0 && at <= e.funcs[ref-1] {
				return nil, changed("function index", at)
			}
			switch b[at-1] {
			case 0x10, 0x12, 0xd2:
			default:
				return nil, changed("function index", at)
			}
			v, next, st := readU32(b, at)
			if st != lebOK {
				return nil, changed("function index", at)
			}
			w, ok := funcs.of(v)
			if !ok {
				return nil, fmt.Errorf("%w: function index %d at offset %#x out of range", ErrCannotInterrupt, v, at)
			}
			if w != v {
				newSize = newSize + uint64(sizeU32(w)) - uint64(next-at)
			}
		}
		if newSize > 1<<32-1 {
			return nil, fmt.Errorf("%w: a function would be larger than 4 GiB", ErrCannotInterrupt)
		}
		p.sizes = append(p.sizes, uint32(newSize))
		size += uint64(sizeU32(uint32(newSize))) + newSize
	}
	if r.err != nil {
		return nil, r.err
	}
	if loop != len(e.loops) {
		return nil, changed("loop instruction", e.loops[loop])
	}
	if ref != len(e.funcs) {
		return nil, changed("function index", e.funcs[ref])
	}
	if ret != len(p.returns) {
		return nil, changed("return", p.returns[ret].at)
	}
	if tail != len(p.tails) {
		return nil, changed("tail call", p.tails[tail])
	}
	if size > 1<<32-1 {
		return nil, fmt.Errorf("%w: the code section would be larger than 4 GiB", ErrCannotInterrupt)
	}
	p.size = int(size)
	return p, nil
}

// write appends the rewritten code section to out. planCode has read it.
func (p *codePlan) write(out, wasm []byte) []byte {
	out = append(out, secCode)
	out = appendU32(out, uint32(p.size))
	_, i, _ := readU32(wasm, p.code.payload)
	out = append(out, wasm[p.code.payload:i]...) // the count, as it was
	at, refs, returns, tails := p.at, p.refs, p.returns, p.tails
	d := p.depth
	for k, newSize := range p.sizes {
		size, start, _ := readU32(wasm, i)
		end := start + int(size)
		i = end
		out = appendU32(out, newSize)
		from := p.entry[k]
		out = append(out, wasm[start:from]...)
		out = append(out, p.enter...)
		if d != nil {
			out = append(append(out, 0x02), d.blocks[k]...) // block: the body's end closes it
		}
		for {
			// The next edit; at the same offset, the insertions (a
			// loop's check, a tail call's decrement) go first.
			next, edit := end, -1
			if len(at) > 0 && at[0] < next {
				next, edit = at[0], 0
			}
			if len(tails) > 0 && tails[0] < next {
				next, edit = tails[0], 1
			}
			if len(returns) > 0 && returns[0].at < next {
				next, edit = returns[0].at, 2
			}
			if len(refs) > 0 && refs[0] < next {
				next, edit = refs[0], 3
			}
			if edit < 0 {
				break
			}
			out = append(out, wasm[from:next]...)
			from = next
			switch edit {
			case 0:
				out = append(out, p.check...)
				at = at[1:]
			case 1:
				out = append(out, d.leave...)
				tails = tails[1:]
			case 2:
				out = appendU32(append(out, 0x0c), uint32(returns[0].depth)) // br to the wrapping block
				from++
				returns = returns[1:]
			case 3:
				v, after, _ := readU32(wasm, next)
				if w, _ := p.funcs.of(v); w != v {
					out = appendU32(out, w)
					from = after
				}
				refs = refs[1:]
			}
		}
		out = append(out, wasm[from:end]...)
		if d != nil {
			out = append(append(out, d.leave...), 0x0b)
		}
	}
	return out
}
