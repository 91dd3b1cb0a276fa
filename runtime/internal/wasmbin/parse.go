package wasmbin

import "fmt"

// Info is what the runtime needs to know about a module.
type Info struct {
	// ImportedFuncs is the number of imported functions: the function index
	// space starts with them, and function i of the code section has index
	// ImportedFuncs + i.
	ImportedFuncs int

	// ImportedGlobals is the number of imported globals: the global index
	// space starts with them.
	ImportedGlobals int

	// Globals are the globals the module defines, in index order: Globals[i]
	// has index ImportedGlobals + i.
	Globals []Global

	// Memories is the number of memories in the memory index space, imported
	// and defined (more than one needs the multi-memory feature).
	Memories int

	// Memory describes memory 0 when the module defines it; it is nil when
	// the module has no memory or imports memory 0 (then MemoryImported).
	Memory         *Memory
	MemoryImported bool

	// Data are the data segments, in order.
	Data []Data

	// HasDataCount reports a data count section.
	HasDataCount bool

	// Start is the index of the start function, -1 if there is none.
	Start int

	// Exports are the module's exports, in order.
	Exports []Export

	// Resettable reports that no function body contains an instruction that
	// changes instance state other than linear memory and globals: table.set,
	// table.grow, table.fill, table.copy, table.init, elem.drop or data.drop.
	// It is also false when a body holds an opcode (or a type) that the
	// scanner does not know, so a false value may be conservative.
	// NotResettable gives the first reason found, for logs, for example
	// "function 12 uses table.set".
	Resettable    bool
	NotResettable string

	// MemoryInit reports that a function body uses memory.init, which reads
	// data segments at run time: the data section cannot then be stripped
	// (see Instrument). The scan of a body stops at an unknown opcode, so
	// MemoryInit is only complete when Resettable is true.
	MemoryInit bool

	// CodeSize is the size of the code section's payload in bytes: what
	// the function bodies take, from which the size of their machine code
	// can be estimated.
	CodeSize int

	// scan is what the decoding of the function bodies leaves for
	// InstrumentWith's Interrupt.
	scan *codeScan
}

// Global is the type of a global the module defines.
type Global struct {
	// Type is the value type: 0x7F i32, 0x7E i64, 0x7D f32, 0x7C f64,
	// 0x7B v128, 0x70 funcref, 0x6F externref.
	Type    byte
	Mutable bool
}

// Memory is a memory's type. Min and Max count 64 KiB pages.
type Memory struct {
	Min, Max uint32
	HasMax   bool
	Shared   bool
	// Memory64 marks a memory of the memory64 feature. Its limits are u64
	// in the binary; Parse rejects those that do not fit in 32 bits.
	Memory64 bool
}

// Data is a data segment.
type Data struct {
	// Active segments are copied into memory MemIndex at instantiation;
	// the others are passive (used by memory.init only).
	Active   bool
	MemIndex uint32

	// OffsetConst reports an offset expression that is exactly
	// "i32.const N; end"; Offset is then N, read as unsigned. It is false
	// for any other expression (global.get, extended constants, i64.const
	// for a 64-bit memory).
	Offset      uint32
	OffsetConst bool

	// Bytes is the segment's content, a slice of the input to Parse (not a
	// copy), capped so that appending to it does not write to the input.
	Bytes []byte
}

// Export is one export of the module.
type Export struct {
	Name string
	// Kind is what is exported: 0 function, 1 table, 2 memory, 3 global
	// (4 tag, with the exception-handling feature).
	Kind  byte
	Index uint32
}

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13 // exception handling
)

// sectionRank orders the known non-custom sections as the binary format
// requires; the tag section sits between memory and global.
var sectionRank = [...]int8{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secTag: 6, secGlobal: 7, secExport: 8, secStart: 9, secElement: 10,
	secDataCount: 11, secCode: 12, secData: 13,
}

var sectionNames = [...]string{
	secCustom: "custom", secType: "type", secImport: "import",
	secFunction: "function", secTable: "table", secMemory: "memory",
	secGlobal: "global", secExport: "export", secStart: "start",
	secElement: "element", secCode: "code", secData: "data",
	secDataCount: "data count", secTag: "tag",
}

// section locates one section of a module.
type section struct {
	id      byte
	start   int // offset of the id byte
	payload int // offset of the payload
	end     int // offset just past the payload
}

var header = [8]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// sections checks the header and splits the module into sections, checking
// their order and the names of custom sections.
func sections(wasm []byte) ([]section, error) {
	if len(wasm) < len(header) || [4]byte(wasm[:4]) != [4]byte(header[:4]) {
		return nil, &FormatError{Offset: 0, Reason: "magic header not detected"}
	}
	if [4]byte(wasm[4:8]) != [4]byte(header[4:]) {
		return nil, &FormatError{Offset: 4, Reason: "unknown binary version"}
	}
	var secs []section
	var last int8
	r := &reader{b: wasm, pos: len(header)}
	for r.err == nil && r.pos < len(wasm) {
		s := section{start: r.pos}
		s.id = r.byte()
		size := r.u32()
		if r.err != nil {
			break
		}
		if uint64(size) > uint64(r.remaining()) {
			r.failf(s.start, "%s section: size %d out of bounds", name(s.id), size)
			break
		}
		s.payload = r.pos
		s.end = r.pos + int(size)
		switch {
		case s.id == secCustom:
			cr := &reader{b: wasm[:s.end], pos: s.payload}
			cr.name()
			if cr.err != nil {
				r.err = cr.err
			}
		case int(s.id) >= len(sectionRank):
			r.failf(s.start, "unknown section id %d", s.id)
		case sectionRank[s.id] <= last:
			r.failf(s.start, "%s section out of order or repeated", name(s.id))
		default:
			last = sectionRank[s.id]
		}
		secs = append(secs, s)
		r.pos = s.end
	}
	if r.err != nil {
		return nil, r.err
	}
	return secs, nil
}

func name(id byte) string {
	if int(id) < len(sectionNames) {
		return sectionNames[id]
	}
	return fmt.Sprintf("unknown (id %d)", id)
}

// Parse decodes a WebAssembly binary module (core specification 2.0, plus the
// encodings of the threads, multi-memory, memory64, tail-call, extended-const,
// relaxed-SIMD and exception-handling features where they touch what Info
// reports) and scans its function bodies. It never panics; malformed input
// gives an error matching ErrMalformed. Parse does not validate the module
// (types, indices): the engine does that when it compiles the module.
func Parse(wasm []byte) (*Info, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	p := parser{info: &Info{Start: -1, Resettable: true}}
	funcs, bodies, dataCount := -1, -1, -1
	for _, s := range secs {
		r := &reader{b: wasm[:s.end], pos: s.payload}
		switch s.id {
		case secImport:
			p.imports(r)
		case secFunction:
			funcs = r.count(1)
			for i := 0; i < funcs && r.err == nil; i++ {
				r.u32()
			}
		case secMemory:
			p.memories(r)
		case secGlobal:
			p.globals(r)
		case secExport:
			p.exports(r)
		case secStart:
			p.info.Start = int(r.u32())
		case secDataCount:
			p.info.HasDataCount = true
			dataCount = int(r.u32())
		case secCode:
			p.info.CodeSize = s.end - s.payload
			bodies = p.code(r)
		case secData:
			p.data(r)
		default:
			// Custom, type, table, tag and element sections: nothing
			// to report; Instrument copies them verbatim.
			continue
		}
		if r.err == nil && r.pos != s.end {
			r.failf(r.pos, "section size mismatch: %d bytes left", s.end-r.pos)
		}
		if r.err != nil {
			if fe, ok := r.err.(*FormatError); ok {
				fe.Reason = name(s.id) + " section: " + fe.Reason
			}
			return nil, r.err
		}
	}
	info := p.info
	p.scan.src, p.scan.size = &wasm[0], len(wasm)
	info.scan = &p.scan
	if max(funcs, 0) != max(bodies, 0) {
		return nil, &FormatError{Offset: len(wasm), Reason: fmt.Sprintf(
			"function and code section have inconsistent lengths (%d functions, %d bodies)", max(funcs, 0), max(bodies, 0))}
	}
	if dataCount >= 0 && dataCount != len(info.Data) {
		return nil, &FormatError{Offset: len(wasm), Reason: fmt.Sprintf(
			"data count and data section have inconsistent lengths (%d, %d)", dataCount, len(info.Data))}
	}
	return info, nil
}

// parser fills in an Info, section by section.
type parser struct {
	info *Info
	scan codeScan
}

func (p *parser) imports(r *reader) {
	n := r.count(4) // two empty names, a kind and at least one byte
	for i := 0; i < n && r.err == nil; i++ {
		r.name()
		r.name()
		at := r.pos
		switch kind := r.byte(); kind {
		case 0x00: // function: type index
			r.u32()
			p.info.ImportedFuncs++
		case 0x01: // table: reference type, limits
			at := r.pos
			if t := r.byte(); r.err == nil && t != 0x70 && t != 0x6f {
				r.failf(at, "unknown reference type %#02x", t)
			}
			r.limits()
		case 0x02: // memory: limits
			r.limits()
			if p.info.Memories == 0 {
				p.info.MemoryImported = true
			}
			p.info.Memories++
		case 0x03: // global: value type, mutability
			r.valType()
			p.mutability(r)
			p.info.ImportedGlobals++
		case 0x04: // tag: attribute, type index
			at := r.pos
			if a := r.byte(); r.err == nil && a != 0 {
				r.failf(at, "unknown tag attribute %#02x", a)
			}
			r.u32()
		default:
			r.failf(at, "unknown import kind %#02x", kind)
		}
	}
}

func (p *parser) mutability(r *reader) bool {
	at := r.pos
	switch m := r.byte(); m {
	case 0:
		return false
	case 1:
		return true
	default:
		r.failf(at, "unknown mutability %#02x", m)
		return false
	}
}

func (p *parser) memories(r *reader) {
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		m := r.limits()
		if p.info.Memories == 0 {
			p.info.Memory = &m
		}
		p.info.Memories++
	}
}

func (p *parser) globals(r *reader) {
	n := r.count(3) // type, mutability, end
	p.info.Globals = make([]Global, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var g Global
		g.Type = r.valType()
		g.Mutable = p.mutability(r)
		constExpr(r)
		p.info.Globals = append(p.info.Globals, g)
	}
}

func (p *parser) exports(r *reader) {
	n := r.count(3) // empty name, kind, index
	p.info.Exports = make([]Export, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var e Export
		e.Name = r.name()
		at := r.pos
		e.Kind = r.byte()
		if r.err == nil && e.Kind > 4 {
			r.failf(at, "unknown export kind %#02x", e.Kind)
		}
		e.Index = r.u32()
		p.info.Exports = append(p.info.Exports, e)
	}
}

func (p *parser) data(r *reader) {
	n := r.count(2) // a passive segment is at least a kind and a length
	p.info.Data = make([]Data, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var d Data
		at := r.pos
		switch kind := r.u32(); kind {
		case 0:
			d.Active = true
			d.Offset, d.OffsetConst = constExpr(r)
		case 1:
		case 2:
			d.Active = true
			d.MemIndex = r.u32()
			d.Offset, d.OffsetConst = constExpr(r)
		default:
			if r.err == nil {
				r.failf(at, "unknown data segment kind %d", kind)
			}
		}
		d.Bytes = r.bytes(r.u32())
		p.info.Data = append(p.info.Data, d)
	}
}

// constExpr reads a constant expression up to and including its end, and
// reports whether it is exactly "i32.const N; end" and N (as unsigned).
// Accepted instructions: t.const, v128.const, ref.null, ref.func, global.get
// and the extended-const i32/i64 add, sub and mul.
func constExpr(r *reader) (offset uint32, isConst bool) {
	return constExprFunc(r, nil)
}

// constExprFunc is constExpr that calls funcIndex, if not nil, to read the
// function index of each ref.func.
func constExprFunc(r *reader, funcIndex func()) (offset uint32, isConst bool) {
	for ops := 0; r.err == nil; ops++ {
		at := r.pos
		switch op := r.byte(); op {
		case 0x0b: // end
			if isConst && ops == 1 {
				return offset, true
			}
			return 0, false
		case 0x41: // i32.const
			offset = uint32(r.s32())
			isConst = ops == 0
		case 0x42: // i64.const
			r.s64()
		case 0x43: // f32.const
			r.skip(4)
		case 0x44: // f64.const
			r.skip(8)
		case 0x23: // global.get
			r.u32()
		case 0xd2: // ref.func
			if funcIndex != nil {
				funcIndex()
			} else {
				r.u32()
			}
		case 0xd0: // ref.null
			at := r.pos
			if t := r.byte(); r.err == nil && t != 0x70 && t != 0x6f {
				r.failf(at, "unknown reference type %#02x", t)
			}
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul
		case 0xfd: // v128.const
			at := r.pos
			if sub := r.u32(); r.err == nil && sub != 12 {
				r.failf(at, "instruction 0xfd %d not allowed in a constant expression", sub)
			}
			r.skip(16)
		default:
			if r.err == nil {
				r.failf(at, "instruction %#02x not allowed in a constant expression", op)
			}
		}
	}
	return 0, false
}

// Detach makes info independent of the binary it was parsed from, so that
// the binary can be freed while info is kept: the data segments' bytes are
// copied, and what InstrumentWith needs from the binary is dropped
// (InstrumentWith then asks for a new Parse).
//
// When every segment is active, in memory 0 and at a constant offset, and
// they are dense enough (their span at most twice their total size plus
// 64 KiB), they become one segment holding what instantiating them would
// write into a fresh, zeroed memory: segments applied in order, later
// ones over earlier ones, zeros in the gaps. A Go module's tens of
// thousands of segments are then one copy.
func (info *Info) Detach() {
	info.scan = nil
	if len(info.Data) == 0 {
		return
	}
	lo, hi, total := uint64(1<<63), uint64(0), 0
	mergeable := true
	for _, d := range info.Data {
		if !d.Active || !d.OffsetConst || d.MemIndex != 0 {
			mergeable = false
			break
		}
		total += len(d.Bytes)
		lo = min(lo, uint64(d.Offset))
		hi = max(hi, uint64(d.Offset)+uint64(len(d.Bytes)))
	}
	if mergeable && hi-lo <= 2*uint64(total)+64<<10 {
		blob := make([]byte, hi-lo)
		for _, d := range info.Data {
			copy(blob[uint64(d.Offset)-lo:], d.Bytes)
		}
		info.Data = []Data{{Active: true, Offset: uint32(lo), OffsetConst: true, Bytes: blob}}
		return
	}
	buf := make([]byte, 0, total)
	data := make([]Data, len(info.Data))
	for i, d := range info.Data {
		start := len(buf)
		buf = append(buf, d.Bytes...)
		d.Bytes = buf[start:len(buf):len(buf)]
		data[i] = d
	}
	info.Data = data
}
