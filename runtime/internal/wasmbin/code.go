package wasmbin

import "fmt"

// The code scanner decodes every instruction of every function body, with
// its immediates, to find the instructions that change instance state other
// than memory and globals. It is the one hot loop of Parse: a Go "hello"
// module has 1.6 million instructions in 3.2 MB of code, and the scan is
// about 85% of Parse's time. Its cost is the jump on the opcode class, which
// the CPU mispredicts often; skipSimple takes the common instructions first,
// and the one-byte cases of the frequent immediates are decoded inline. Two
// branch-free fast paths (LEB128 lengths from the trailing zeros of an 8-byte
// load; a table of lengths and masks) were tried and were slower, the
// mispredictions moving to their exit tests.

// Opcode classes: how the immediates of a one-byte opcode are encoded.
const (
	opUnknown  = iota // not an opcode the scanner knows
	opNone            // no immediate
	opBlock           // block type; opens a block
	opEnd             // closes a block or the function
	opU32             // one u32
	opU32x2           // two u32
	opBrTable         // vec(u32) then u32
	opSelectT         // vec(valtype)
	opMemarg          // memarg
	opI32             // s32
	opI64             // s64
	opF32             // 4 bytes
	opF64             // 8 bytes
	opRefNull         // reference type
	opTableSet        // u32; changes a table
	opPrefixFC        // u32 sub-opcode: saturating truncation, bulk memory and tables
	opPrefixFD        // u32 sub-opcode: SIMD
	opPrefixFE        // u32 sub-opcode: threads
	opFuncRef         // u32 function index: call, return_call, ref.func
	opReturn          // return: no immediate, but Interrupt's call depth rewrites it
	opGlobal          // u32 global index: global.get, global.set
)

var opClass = func() (t [256]uint8) {
	set := func(class uint8, ops ...int) {
		for _, op := range ops {
			t[op] = class
		}
	}
	for op := 0x45; op <= 0xc4; op++ { // numeric instructions, sign extension
		t[op] = opNone
	}
	for op := 0x28; op <= 0x3e; op++ { // loads and stores
		t[op] = opMemarg
	}
	set(opNone, 0x00, 0x01, 0x05, 0x1a, 0x1b, 0xd1) // unreachable nop else drop select ref.is_null
	set(opReturn, 0x0f)
	set(opBlock, 0x02, 0x03, 0x04) // block loop if
	set(opEnd, 0x0b)
	set(opU32, 0x0c, 0x0d, 0x20, 0x21, 0x22, 0x25)
	set(opGlobal, 0x23, 0x24)
	set(opU32, 0x3f, 0x40)   // memory.size, memory.grow: memory index (a zero byte before multi-memory)
	set(opU32x2, 0x11, 0x13) // call_indirect, return_call_indirect: type, table
	set(opFuncRef, 0x10, 0x12, 0xd2)
	set(opBrTable, 0x0e)
	set(opSelectT, 0x1c)
	set(opI32, 0x41)
	set(opI64, 0x42)
	set(opF32, 0x43)
	set(opF64, 0x44)
	set(opRefNull, 0xd0)
	set(opTableSet, 0x26)
	set(opPrefixFC, 0xfc)
	set(opPrefixFD, 0xfd)
	set(opPrefixFE, 0xfe)
	return t
}()

// miscOps describes the 0xFC sub-opcodes: how many u32 immediates each has
// and, for those that change tables or drop segments, its name.
var miscOps = [...]struct {
	imms      uint8
	forbidden string
}{
	0: {0, ""}, 1: {0, ""}, 2: {0, ""}, 3: {0, ""}, // i32.trunc_sat_f32_s ...
	4: {0, ""}, 5: {0, ""}, 6: {0, ""}, 7: {0, ""}, // ... i64.trunc_sat_f64_u
	8:  {2, ""},           // memory.init data memory
	9:  {1, "data.drop"},  // data
	10: {2, ""},           // memory.copy memory memory
	11: {1, ""},           // memory.fill memory
	12: {2, "table.init"}, // elem table
	13: {1, "elem.drop"},  // elem
	14: {2, "table.copy"}, // table table
	15: {1, "table.grow"}, // table
	16: {1, ""},           // table.size table
	17: {1, "table.fill"}, // table
}

const miscMemoryInit = 8

// simdGaps marks the SIMD sub-opcodes below 256 that are not assigned.
var simdGaps = func() (t [256]bool) {
	for _, op := range []int{
		0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb,
		0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee,
	} {
		t[op] = true
	}
	return t
}()

// skipSimple advances over the instructions that need no bookkeeping and
// whose immediates are single bytes that the full decoder would accept: no
// immediate, one LEB128 number, or a memarg without a memory index. It stops
// two bytes before the end of b, at anything else, or at an encoding it does
// not take, and leaves that to the full decoder. About 80% of a Go module's
// instructions go through it; its small switch is predicted better than the
// full decoder's jump table (Parse is 20-25% faster with it). It returns,
// with the offset, the larger of globals and one more than the largest
// global index it saw.
func skipSimple(b []byte, i int, globals uint32) (int, uint32) {
	for i+2 < len(b) {
		switch opClass[b[i]] {
		case opNone:
			i++
		case opU32, opI32, opI64:
			if b[i+1] >= 0x80 {
				return i, globals
			}
			i += 2
		case opGlobal:
			g := b[i+1]
			if g >= 0x80 {
				return i, globals
			}
			if uint32(g) >= globals {
				globals = uint32(g) + 1
			}
			i += 2
		case opMemarg:
			if b[i+1] >= 0x40 || b[i+2] >= 0x80 {
				return i, globals
			}
			i += 3
		default:
			return i, globals
		}
	}
	return i, globals
}

// skipBytes advances over n bytes of immediate.
func skipBytes(b []byte, i, n int) (int, lebStatus) {
	if len(b)-i < n {
		return len(b), lebTruncated
	}
	return i + n, lebOK
}

// memarg skips a memory argument: alignment (bit 6 announces a memory index,
// multi-memory), [memory index,] offset. The offset is read as a u64, which
// memory64 needs and which accepts every u32 encoding.
func memarg(b []byte, i int) (int, lebStatus) {
	align, i, st := readU32(b, i)
	if st != lebOK {
		return i, st
	}
	if align&0x40 != 0 {
		if _, i, st = readU32(b, i); st != lebOK {
			return i, st
		}
	}
	if i < len(b) && b[i] < 0x80 {
		return i + 1, lebOK
	}
	_, i, st = readU64(b, i)
	return i, st
}

// bodyScan is what scanBody learns about one function body.
type bodyScan struct {
	// finding says why the body is not resettable, as a phrase to follow
	// "function N" ("uses table.set"); "" if nothing forbidden was seen.
	finding string
	// unknown says where the scan stopped, at an opcode or a type it does
	// not know ("has unknown opcode 0x06 at offset 0x1f"); "" if the scan
	// reached the end of the body. What follows that point is not decoded.
	unknown string
	// memInit reports memory.init.
	memInit bool
	// globals is one more than the largest global index that global.get
	// and global.set use: a body that uses a global that does not exist
	// (an invalid module, which Parse does not validate) must not reach
	// the globals that Interrupt adds.
	globals uint32
}

// codeEdits records where the instructions are that Interrupt's rewriting
// changes or inserts code after, as offsets in the module, in ascending
// order.
type codeEdits struct {
	// loops are the offsets of the loop instructions.
	loops []int
	// funcs are the offsets of the function indices (the immediates) of
	// call, return_call and ref.func.
	funcs []int
	// returns are the return instructions, with their block nesting depth
	// (0 at the body's top level): the call depth limit makes each a
	// branch to a block that wraps the body.
	returns []returnAt
	// tails are the offsets of the return_call and return_call_indirect
	// instructions: the call depth limit decrements the depth before them.
	tails []int
	// blocks, when labels is set, are the offsets of the block, loop and if
	// instructions: the label index space of the name section.
	labels bool
	blocks []int
}

// returnAt is a return instruction: its offset and its block nesting depth.
type returnAt struct{ at, depth int }

// scanBody decodes the function body b[i:] (b ends where the body ends) and
// fails on malformed encodings. An unknown opcode or type stops the scan,
// since its immediates cannot be skipped. When e is not nil, scanBody
// records in it where the body's loops and function indices are.
func scanBody(b []byte, i int, e *codeEdits) (s bodyScan, err error) {
	n, i, st := readU32(b, i)
	if st != lebOK {
		return s, &FormatError{Offset: i, Reason: "locals: " + st.String()}
	}
	var locals uint64
	for ; n > 0; n-- {
		var c uint32
		if c, i, st = readU32(b, i); st != lebOK {
			return s, &FormatError{Offset: i, Reason: "locals: " + st.String()}
		}
		if locals += uint64(c); locals > 1<<32-1 {
			return s, &FormatError{Offset: i, Reason: "too many locals"}
		}
		if i >= len(b) {
			return s, &FormatError{Offset: i, Reason: "locals: " + lebTruncated.String()}
		}
		if !isValType(b[i]) {
			s.unknown = fmt.Sprintf("has a local of unknown type %#02x", b[i])
			return s, nil
		}
		i++
	}

	depth := 0
	for i < len(b) {
		if i, s.globals = skipSimple(b, i, s.globals); i >= len(b) {
			break // the full decoder below reports the missing end
		}
		at := i
		op := b[i]
		i++
		switch opClass[op] {
		case opNone:
			continue
		case opReturn:
			if e != nil {
				e.returns = append(e.returns, returnAt{at, depth})
			}
			continue
		case opGlobal:
			var g uint32
			if g, i, st = readU32(b, i); st == lebOK && g >= s.globals {
				s.globals = g + 1
				if g == 1<<32-1 {
					s.globals = g // a global that cannot exist either way
				}
			}
		case opU32:
			if i < len(b) && b[i] < 0x80 {
				i++
				continue
			}
			_, i, st = readU32(b, i)
		case opMemarg:
			// Fast path: one-byte alignment without a memory index, one-byte offset.
			if i+1 < len(b) && b[i] < 0x40 && b[i+1] < 0x80 {
				i += 2
				continue
			}
			i, st = memarg(b, i)
		case opI32:
			if i < len(b) && b[i] < 0x80 {
				i++
				continue
			}
			_, i, st = readS32(b, i)
		case opI64:
			if i < len(b) && b[i] < 0x80 {
				i++
				continue
			}
			_, i, st = readS64(b, i)
		case opEnd:
			if depth--; depth < 0 {
				if i != len(b) {
					return s, &FormatError{Offset: i, Reason: "bytes after the end of the function body"}
				}
				return s, nil
			}
			continue
		case opBlock:
			depth++
			if i < len(b) && (b[i] == 0x40 || isValType(b[i])) {
				i++
			} else {
				var t int64
				if t, i, st = readS33(b, i); st != lebOK {
					break
				}
				if t < 0 {
					s.unknown = fmt.Sprintf("has unknown block type at offset %#x", at+1)
					return s, nil
				}
			}
			if e != nil {
				if op == 0x03 {
					e.loops = append(e.loops, at)
				}
				if e.labels {
					e.blocks = append(e.blocks, at)
				}
			}
			continue
		case opFuncRef:
			if e != nil {
				e.funcs = append(e.funcs, i)
				if op == 0x12 {
					e.tails = append(e.tails, at)
				}
			}
			if i < len(b) && b[i] < 0x80 {
				i++
				continue
			}
			_, i, st = readU32(b, i)
		case opU32x2:
			if op == 0x13 && e != nil {
				e.tails = append(e.tails, at)
			}
			if _, i, st = readU32(b, i); st == lebOK {
				_, i, st = readU32(b, i)
			}
		case opBrTable:
			var n uint32
			n, i, st = readU32(b, i)
			// n labels and the default; each iteration consumes a byte
			// or fails, so the loop is bounded by the body's length.
			for k := uint64(0); k <= uint64(n) && st == lebOK; k++ {
				_, i, st = readU32(b, i)
			}
		case opSelectT:
			var n uint32
			n, i, st = readU32(b, i)
			for ; n > 0 && st == lebOK; n-- {
				if i >= len(b) {
					st = lebTruncated
					break
				}
				if !isValType(b[i]) {
					s.unknown = fmt.Sprintf("has select of unknown type %#02x at offset %#x", b[i], i)
					return s, nil
				}
				i++
			}
		case opF32:
			i, st = skipBytes(b, i, 4)
		case opF64:
			i, st = skipBytes(b, i, 8)
		case opRefNull:
			if i >= len(b) {
				st = lebTruncated
				break
			}
			if t := b[i]; t != 0x70 && t != 0x6f {
				s.unknown = fmt.Sprintf("has ref.null of unknown type %#02x at offset %#x", t, i)
				return s, nil
			}
			i++
		case opTableSet:
			if s.finding == "" {
				s.finding = "uses table.set"
			}
			_, i, st = readU32(b, i)
		case opPrefixFC:
			var sub uint32
			if sub, i, st = readU32(b, i); st != lebOK {
				break
			}
			if sub >= uint32(len(miscOps)) {
				s.unknown = fmt.Sprintf("has unknown opcode 0xfc %d at offset %#x", sub, at)
				return s, nil
			}
			m := miscOps[sub]
			if m.forbidden != "" && s.finding == "" {
				s.finding = "uses " + m.forbidden
			}
			if sub == miscMemoryInit {
				s.memInit = true
			}
			for k := uint8(0); k < m.imms && st == lebOK; k++ {
				_, i, st = readU32(b, i)
			}
		case opPrefixFD:
			var sub uint32
			if sub, i, st = readU32(b, i); st != lebOK {
				break
			}
			switch {
			case sub <= 11, sub == 92, sub == 93: // loads, store, load zero
				i, st = memarg(b, i)
			case sub == 12, sub == 13: // v128.const, i8x16.shuffle
				i, st = skipBytes(b, i, 16)
			case 21 <= sub && sub <= 34: // extract_lane, replace_lane
				i, st = skipBytes(b, i, 1)
			case 84 <= sub && sub <= 91: // load_lane, store_lane
				if i, st = memarg(b, i); st == lebOK {
					i, st = skipBytes(b, i, 1)
				}
			case sub < 256 && !simdGaps[sub]:
			case 0x100 <= sub && sub <= 0x113: // relaxed SIMD
			default:
				s.unknown = fmt.Sprintf("has unknown opcode 0xfd %d at offset %#x", sub, at)
				return s, nil
			}
		case opPrefixFE:
			var sub uint32
			if sub, i, st = readU32(b, i); st != lebOK {
				break
			}
			switch {
			case sub <= 2, 0x10 <= sub && sub <= 0x4e: // notify, wait, loads, stores, rmw
				i, st = memarg(b, i)
			case sub == 3: // atomic.fence
				if i >= len(b) {
					st = lebTruncated
					break
				}
				if b[i] != 0 {
					return s, &FormatError{Offset: i, Reason: "atomic.fence: reserved byte is not zero"}
				}
				i++
			default:
				s.unknown = fmt.Sprintf("has unknown opcode 0xfe %d at offset %#x", sub, at)
				return s, nil
			}
		default:
			s.unknown = fmt.Sprintf("has unknown opcode %#02x at offset %#x", op, at)
			return s, nil
		}
		if st != lebOK {
			return s, &FormatError{Offset: at, Reason: fmt.Sprintf("instruction %#02x: %v", op, st)}
		}
	}
	return s, &FormatError{Offset: i, Reason: "function body does not end with end"}
}

// first returns a if it is set, else b.
func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// code scans the code section and returns the number of bodies. It records
// in p.scan where Interrupt's edits go and whether the module can be
// interrupted.
func (p *parser) code(r *reader) int {
	n := r.count(3) // size, locals count, end
	for k := 0; k < n && r.err == nil; k++ {
		size := r.u32()
		start := r.pos
		r.bytes(size)
		if r.err != nil {
			break
		}
		fn := p.info.ImportedFuncs + k
		s, err := scanBody(r.b[:r.pos], start, &p.scan.codeEdits)
		if err != nil {
			if fe, ok := err.(*FormatError); ok {
				fe.Reason = fmt.Sprintf("function %d: %s", fn, fe.Reason)
			}
			r.err = err
			break
		}
		p.info.MemoryInit = p.info.MemoryInit || s.memInit
		p.scan.globals = max(p.scan.globals, s.globals)
		if p.scan.cannot == "" && s.unknown != "" {
			p.scan.cannot = fmt.Sprintf("function %d %s", fn, s.unknown)
		}
		if finding := first(s.finding, s.unknown); finding != "" && p.info.Resettable {
			p.info.Resettable = false
			p.info.NotResettable = fmt.Sprintf("function %d %s", fn, finding)
		}
	}
	return n
}
