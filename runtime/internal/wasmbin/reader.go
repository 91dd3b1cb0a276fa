package wasmbin

import (
	"fmt"
	"unicode/utf8"
)

// reader decodes one section (or one item) of a module. b is the module
// truncated at the end of that section, so offsets stay absolute and no read
// can run past the section. The first failure is kept in err; after it every
// read returns zero values and pos jumps to the end, so that loops stop.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) failf(at int, format string, args ...any) {
	if r.err == nil {
		r.err = &FormatError{Offset: at, Reason: fmt.Sprintf(format, args...)}
	}
	r.pos = len(r.b)
}

func (r *reader) remaining() int { return len(r.b) - r.pos }

func (r *reader) byte() byte {
	if r.pos >= len(r.b) {
		r.failf(r.pos, "unexpected end of section")
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) u32() uint32 {
	v, next, st := readU32(r.b, r.pos)
	if st != lebOK {
		r.failf(r.pos, "%v", st)
		return 0
	}
	r.pos = next
	return v
}

func (r *reader) u64() uint64 {
	v, next, st := readU64(r.b, r.pos)
	if st != lebOK {
		r.failf(r.pos, "%v", st)
		return 0
	}
	r.pos = next
	return v
}

func (r *reader) s32() int32 {
	v, next, st := readS32(r.b, r.pos)
	if st != lebOK {
		r.failf(r.pos, "%v", st)
		return 0
	}
	r.pos = next
	return v
}

func (r *reader) s64() int64 {
	v, next, st := readS64(r.b, r.pos)
	if st != lebOK {
		r.failf(r.pos, "%v", st)
		return 0
	}
	r.pos = next
	return v
}

// skip advances over n bytes.
func (r *reader) skip(n int) {
	if n < 0 || n > r.remaining() {
		r.failf(r.pos, "unexpected end of section")
		return
	}
	r.pos += n
}

// bytes returns the next n bytes, capped so that appending to the result
// cannot overwrite the input.
func (r *reader) bytes(n uint32) []byte {
	if uint64(n) > uint64(r.remaining()) {
		r.failf(r.pos, "length %d out of bounds", n)
		return nil
	}
	start := r.pos
	r.pos += int(n)
	return r.b[start:r.pos:r.pos]
}

// name reads a vec(byte) that must be UTF-8.
func (r *reader) name() string {
	at := r.pos
	b := r.bytes(r.u32())
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.failf(at, "name is not UTF-8")
		return ""
	}
	return string(b)
}

// skipName reads a name as name does, without making a string of it.
func (r *reader) skipName() {
	at := r.pos
	if b := r.bytes(r.u32()); r.err == nil && !utf8.Valid(b) {
		r.failf(at, "name is not UTF-8")
	}
}

// count reads the length of a vector whose elements take at least minSize
// bytes each, and fails when that many cannot fit in what is left. The check
// bounds both the loops over the elements and the memory preallocated for
// them.
func (r *reader) count(minSize int) int {
	at := r.pos
	n := r.u32()
	if r.err != nil {
		return 0
	}
	if uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		r.failf(at, "vector length %d out of bounds", n)
		return 0
	}
	return int(n)
}

// valType reads a value type of the core specification.
func (r *reader) valType() byte {
	at := r.pos
	t := r.byte()
	if r.err == nil && !isValType(t) {
		r.failf(at, "unknown value type %#02x", t)
	}
	return t
}

// limits reads table or memory limits: a flags byte (bit 0 a maximum is
// present, bit 1 shared, bit 2 64-bit) then the minimum and maximum, u32 or,
// for 64-bit limits, u64.
func (r *reader) limits() (m Memory) {
	at := r.pos
	flags := r.byte()
	if flags > 0x07 {
		r.failf(at, "unknown limits flags %#02x", flags)
		return m
	}
	m.HasMax = flags&0x01 != 0
	m.Shared = flags&0x02 != 0
	m.Memory64 = flags&0x04 != 0
	read := func() uint32 {
		if !m.Memory64 {
			return r.u32()
		}
		at := r.pos
		v := r.u64()
		if v > 1<<32-1 {
			r.failf(at, "64-bit limit %d does not fit in 32 bits", v)
			return 0
		}
		return uint32(v)
	}
	m.Min = read()
	if m.HasMax {
		m.Max = read()
	}
	return m
}

// isValType reports whether t is a value type of the core specification:
// i32, i64, f32, f64, v128, funcref or externref.
func isValType(t byte) bool {
	switch t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}
