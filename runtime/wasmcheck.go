package runtime

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// checkBinary walks a module's binary encoding before the runtime decodes
// it, and refuses one that declares more than it holds: a vector whose
// element count, or a name or data segment whose length, is larger than the
// bytes left in its section, a section larger than the bytes left in the
// module, or a function with more than maxLocals locals.
//
// Why: wazero's decoder (v1.12) allocates from such declared counts before
// it reads the elements, so a module of a few bytes that claims 2^32
// exports, a 4 GiB name or data segment, or 2^32 locals makes the host
// allocate gigabytes (found by FuzzUpload). A valid module never claims
// more than it holds, so after this check the runtime's allocations while
// decoding are bounded by a small multiple of the upload's size, which
// MaxModuleBytes caps.
//
// The walk follows wazero's decoder (internal/wasm/binary) section by
// section, for every feature it knows, so it consumes the same bytes and
// sees the same counts. It does not validate: whatever it does not need to
// bound, it skips and leaves to the runtime, which reports its own errors.
// A module without the WebAssembly magic and version is left to the runtime
// too.
func checkBinary(b []byte) error {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || string(b[4:8]) != "\x01\x00\x00\x00" {
		return nil
	}
	r := &wasmReader{b: b, pos: 8, end: len(b)}
	for r.pos < len(b) {
		id := b[r.pos]
		r.pos++
		r.end = len(b)
		size, err := r.u32()
		if err != nil {
			return fmt.Errorf("section %d: size: %w", id, err)
		}
		if int64(size) > int64(r.left()) {
			return fmt.Errorf("section %d declares %d bytes, but only %d are left", id, size, r.left())
		}
		end := r.pos + int(size)
		r.end = end
		if err := checkSection(r, id, size); err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
		r.pos = end
	}
	return nil
}

// maxLocals is the most locals a function may declare; it is the limit of
// V8 (kV8MaxWasmFunctionLocals), so that every module browsers run passes.
const maxLocals = 50000

// Section IDs.
const (
	secCustom = iota
	secType
	secImport
	secFunction
	secTable
	secMemory
	secGlobal
	secExport
	secStart
	secElement
	secCode
	secData
	secDataCount
	secTag
)

func checkSection(r *wasmReader, id byte, size uint32) error {
	switch id {
	case secCustom:
		start := r.pos
		name, err := r.name("custom section name")
		if err != nil {
			return err
		}
		if name == "name" {
			return checkNameSection(r, uint64(size)-uint64(r.pos-start))
		}
		return nil
	case secType:
		return checkTypeSection(r)
	case secImport:
		return r.vector("imports", func() error { return checkImport(r) })
	case secFunction, secTable, secGlobal, secTag:
		// The elements need no allocation of their own: bounding their
		// count is enough.
		_, err := r.count("entries")
		return err
	case secExport:
		return r.vector("exports", func() error {
			if _, err := r.name("export name"); err != nil {
				return err
			}
			if _, err := r.byte(); err != nil {
				return err
			}
			_, err := r.u32()
			return err
		})
	case secElement:
		return r.vector("element segments", func() error { return checkElement(r) })
	case secCode:
		return r.vector("function bodies", func() error { return checkCode(r) })
	case secData:
		return r.vector("data segments", func() error { return checkData(r) })
	}
	// Memory, start, data count and unknown sections allocate nothing
	// that depends on a count.
	return nil
}

func checkTypeSection(r *wasmReader) error {
	return r.vector("types", func() error {
		if r.pos < r.end && r.b[r.pos] == 0x4e { // a rec group (GC)
			r.pos++
			n, err := r.u32()
			if err != nil {
				return err
			}
			for range n {
				if err := checkFuncType(r); err != nil {
					return err
				}
			}
			return nil
		}
		return checkFuncType(r)
	})
}

func checkFuncType(r *wasmReader) error {
	if _, err := r.byte(); err != nil { // 0x60
		return err
	}
	for _, what := range []string{"parameters", "results"} {
		if err := r.vector(what, r.valueType); err != nil {
			return err
		}
	}
	return nil
}

// valueType skips one value type: a byte, or a reference type prefix and
// its heap type.
func (r *wasmReader) valueType() error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	if b == 0x63 || b == 0x64 {
		return r.sleb(5)
	}
	return nil
}

func checkImport(r *wasmReader) error {
	if _, err := r.name("import module"); err != nil {
		return err
	}
	if _, err := r.name("import name"); err != nil {
		return err
	}
	kind, err := r.byte()
	if err != nil {
		return err
	}
	switch kind {
	case 0x00: // function
		_, err = r.u32()
	case 0x01: // table
		err = checkTable(r)
	case 0x02: // memory
		err = r.limits()
	case 0x03: // global
		if err = r.valueType(); err == nil {
			_, err = r.byte()
		}
	case 0x04: // tag
		if _, err = r.byte(); err == nil {
			_, err = r.u32()
		}
	default:
		err = fmt.Errorf("invalid import kind %#x", kind)
	}
	return err
}

func checkTable(r *wasmReader) error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	withInit := b == 0x40
	if withInit {
		if _, err := r.byte(); err != nil {
			return err
		}
		if b, err = r.byte(); err != nil {
			return err
		}
	}
	if b == 0x63 || b == 0x64 {
		if err := r.sleb(5); err != nil {
			return err
		}
	}
	if err := r.limits(); err != nil {
		return err
	}
	if withInit {
		return r.constExpr()
	}
	return nil
}

func (r *wasmReader) limits() error {
	flag, err := r.byte()
	if err != nil {
		return err
	}
	n := 1
	switch flag {
	case 0x00, 0x02:
	case 0x01, 0x03:
		n = 2
	default:
		return fmt.Errorf("invalid limits flag %#x", flag)
	}
	for range n {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// constExpr skips a constant expression up to and including its end.
func (r *wasmReader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			err = r.sleb(5)
		case 0x42: // i64.const
			err = r.sleb(10)
		case 0x43: // f32.const
			err = r.skip(4)
		case 0x44: // f64.const
			err = r.skip(8)
		case 0x23, 0xd2: // global.get, ref.func
			_, err = r.u32()
		case 0xd0: // ref.null
			if r.pos < r.end {
				switch r.b[r.pos] {
				case 0x70, 0x6f, 0x69:
					r.pos++
				default:
					_, err = r.u32()
				}
			}
		case 0xfd: // v128.const
			if _, err = r.byte(); err == nil {
				err = r.skip(16)
			}
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		default:
			return fmt.Errorf("invalid opcode %#x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

func checkElement(r *wasmReader) error {
	prefix, err := r.u32()
	if err != nil {
		return err
	}
	// Prefixes 0-3 hold function indices, 4-7 constant expressions;
	// 2 and 6 name a table; 0, 2, 4 and 6 have an offset; 1, 2 and 3 an
	// element kind; 5, 6 and 7 a reference type.
	if prefix > 7 {
		return fmt.Errorf("invalid element segment prefix %d", prefix)
	}
	if prefix == 2 || prefix == 6 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	if prefix%2 == 0 {
		if err := r.constExpr(); err != nil {
			return err
		}
	}
	switch prefix {
	case 1, 2, 3:
		if _, err := r.byte(); err != nil {
			return err
		}
	case 5, 6, 7:
		if err := r.valueType(); err != nil {
			return err
		}
	}
	if prefix < 4 {
		return r.vector("element indices", func() error { _, err := r.u32(); return err })
	}
	return r.vector("element expressions", r.constExpr)
}

func checkCode(r *wasmReader) error {
	size, err := r.u32()
	if err != nil {
		return err
	}
	if int64(size) > int64(r.left()) {
		return fmt.Errorf("a function body declares %d bytes, but only %d are left", size, r.left())
	}
	end, outer := r.pos+int(size), r.end
	r.end = end
	defer func() { r.pos, r.end = end, outer }()
	groups, err := r.count("local declarations")
	if err != nil {
		return err
	}
	var locals uint64
	for range groups {
		n, err := r.u32()
		if err != nil {
			return err
		}
		if locals += uint64(n); locals > maxLocals {
			return fmt.Errorf("a function declares more than %d locals", maxLocals)
		}
		if err := r.valueType(); err != nil {
			return err
		}
	}
	return nil
}

func checkData(r *wasmReader) error {
	prefix, err := r.u32()
	if err != nil {
		return err
	}
	switch prefix {
	case 0:
		err = r.constExpr()
	case 1:
	case 2:
		if _, err = r.u32(); err == nil {
			err = r.constExpr()
		}
	default:
		err = fmt.Errorf("invalid data segment prefix %d", prefix)
	}
	if err != nil {
		return err
	}
	n, err := r.count("data bytes")
	if err != nil {
		return err
	}
	return r.skip(int(n))
}

// checkNameSection follows wazero's decoder of the "name" section, limit
// bytes long: it reads the module, function and local names without regard
// to their subsection's size and counts down what is left of the section
// (in uint64, which may wrap), so it may read on past the section's end, up
// to the module's end.
func checkNameSection(r *wasmReader, limit uint64) error {
	r.end = len(r.b)
	for limit > 0 {
		if r.pos >= r.end {
			return nil
		}
		id, _ := r.byte()
		limit--
		start := r.pos
		size, err := r.u32()
		if err != nil {
			return err
		}
		limit -= uint64(r.pos - start)
		switch id {
		case 0:
			_, err = r.name("module name")
		case 1:
			err = r.vector("function names", func() error { return r.nameAssoc() })
		case 2:
			err = r.vector("local names", func() error {
				if _, err := r.u32(); err != nil {
					return err
				}
				return r.vector("local names", r.nameAssoc)
			})
		default:
			if int64(size) > int64(r.left()) {
				err = errShort
			} else {
				err = r.skip(int(size))
			}
		}
		if err != nil {
			return err
		}
		limit -= uint64(size)
	}
	return nil
}

func (r *wasmReader) nameAssoc() error {
	if _, err := r.u32(); err != nil {
		return err
	}
	_, err := r.name("name")
	return err
}

// wasmReader reads a module's bytes up to end, the end of the current
// section (or function body).
type wasmReader struct {
	b        []byte
	pos, end int
}

var errShort = errors.New("unexpected end of section")

func (r *wasmReader) left() int { return r.end - r.pos }

func (r *wasmReader) byte() (byte, error) {
	if r.pos >= r.end {
		return 0, errShort
	}
	r.pos++
	return r.b[r.pos-1], nil
}

func (r *wasmReader) skip(n int) error {
	if n < 0 || n > r.left() {
		return errShort
	}
	r.pos += n
	return nil
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (r *wasmReader) u32() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint32(b&0x7f) << (7 * i)
		if b < 0x80 {
			if i == 4 && b&0xf0 != 0 {
				break
			}
			return v, nil
		}
	}
	return 0, errors.New("malformed LEB128 number")
}

// sleb skips a signed LEB128 of at most max bytes.
func (r *wasmReader) sleb(max int) error {
	for i := 0; ; i++ {
		b, err := r.byte()
		if err != nil {
			return err
		}
		if b < 0x80 {
			if i >= max {
				return errors.New("malformed LEB128 number")
			}
			return nil
		}
	}
}

// count reads a vector's length and checks that the section can hold that
// many elements of at least one byte.
func (r *wasmReader) count(what string) (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if int64(n) > int64(r.left()) {
		return 0, fmt.Errorf("%d %s declared, but only %d bytes are left", n, what, r.left())
	}
	return n, nil
}

// vector reads a count and calls elem that many times.
func (r *wasmReader) vector(what string, elem func() error) error {
	n, err := r.count(what)
	if err != nil {
		return err
	}
	for range n {
		if err := elem(); err != nil {
			return err
		}
	}
	return nil
}

// name reads a length-prefixed UTF-8 string.
func (r *wasmReader) name(what string) (string, error) {
	n, err := r.count("bytes of " + what)
	if err != nil {
		return "", err
	}
	s := string(r.b[r.pos : r.pos+int(n)])
	r.pos += int(n)
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s is not valid UTF-8", what)
	}
	return s, nil
}
