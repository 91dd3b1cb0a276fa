package wasmbin

// LEB128 decoding. Every decoder rejects encodings longer than the type
// allows (5 bytes for 32 bits, 10 for 64) and final bytes whose unused bits
// are not zero (unsigned) or a copy of the sign bit (signed), as the
// WebAssembly binary format requires. Each returns the value, the index just
// past it and a status; b must end where the enclosing item ends.

// lebStatus says why a LEB128 decode failed.
type lebStatus uint8

const (
	lebOK        lebStatus = iota
	lebTruncated           // input ended inside the number
	lebTooLong             // too many bytes, or the value overflows the type
)

func (s lebStatus) String() string {
	switch s {
	case lebTruncated:
		return "truncated integer"
	case lebTooLong:
		return "integer representation too long"
	}
	return "ok"
}

// readU32 decodes an unsigned 32-bit LEB128 number at b[i].
func readU32(b []byte, i int) (uint32, int, lebStatus) {
	if i < len(b) && b[i] < 0x80 {
		return uint32(b[i]), i + 1, lebOK
	}
	var v uint32
	for shift := 0; ; shift += 7 {
		if i >= len(b) {
			return 0, i, lebTruncated
		}
		c := b[i]
		i++
		if shift == 28 {
			// The fifth byte holds bits 28-31: no continuation, top 3 bits zero.
			if c > 0x0f {
				return 0, i, lebTooLong
			}
			return v | uint32(c)<<28, i, lebOK
		}
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v, i, lebOK
		}
	}
}

// readU64 decodes an unsigned 64-bit LEB128 number at b[i].
func readU64(b []byte, i int) (uint64, int, lebStatus) {
	var v uint64
	for shift := 0; ; shift += 7 {
		if i >= len(b) {
			return 0, i, lebTruncated
		}
		c := b[i]
		i++
		if shift == 63 {
			// The tenth byte holds bit 63 only.
			if c > 0x01 {
				return 0, i, lebTooLong
			}
			return v | uint64(c)<<63, i, lebOK
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, lebOK
		}
	}
}

// readS32 decodes a signed 32-bit LEB128 number at b[i].
func readS32(b []byte, i int) (int32, int, lebStatus) {
	var v uint32
	for shift := 0; ; shift += 7 {
		if i >= len(b) {
			return 0, i, lebTruncated
		}
		c := b[i]
		i++
		if shift == 28 {
			// The fifth byte holds bits 28-31 (bit 3 is the sign); bits 4-6
			// must repeat the sign and bit 7 (continuation) must be clear.
			if hi := c & 0xf8; hi != 0 && hi != 0x78 {
				return 0, i, lebTooLong
			}
			return int32(v | uint32(c)<<28), i, lebOK
		}
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			if c&0x40 != 0 {
				v |= ^uint32(0) << (shift + 7)
			}
			return int32(v), i, lebOK
		}
	}
}

// readS33 decodes a signed 33-bit LEB128 number at b[i] (block types).
func readS33(b []byte, i int) (int64, int, lebStatus) {
	var v uint64
	for shift := 0; ; shift += 7 {
		if i >= len(b) {
			return 0, i, lebTruncated
		}
		c := b[i]
		i++
		if shift == 28 {
			// The fifth byte holds bits 28-32 (bit 4 is the sign); bits 5-6
			// must repeat the sign and bit 7 must be clear.
			if hi := c & 0xf0; hi != 0 && hi != 0x70 {
				return 0, i, lebTooLong
			}
			v |= uint64(c&0x7f) << 28
			if c&0x10 != 0 {
				v |= ^uint64(1<<35 - 1)
			}
			return int64(v), i, lebOK
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if c&0x40 != 0 {
				v |= ^uint64(0) << (shift + 7)
			}
			return int64(v), i, lebOK
		}
	}
}

// readS64 decodes a signed 64-bit LEB128 number at b[i].
func readS64(b []byte, i int) (int64, int, lebStatus) {
	var v uint64
	for shift := 0; ; shift += 7 {
		if i >= len(b) {
			return 0, i, lebTruncated
		}
		c := b[i]
		i++
		if shift == 63 {
			// The tenth byte holds bit 63, the sign; bits 1-6 must repeat
			// it and bit 7 must be clear.
			if c != 0 && c != 0x7f {
				return 0, i, lebTooLong
			}
			return int64(v | uint64(c)<<63), i, lebOK
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if c&0x40 != 0 && shift+7 < 64 {
				v |= ^uint64(0) << (shift + 7)
			}
			return int64(v), i, lebOK
		}
	}
}

// appendU32 appends v as an unsigned LEB128 number, in the fewest bytes.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// sizeU32 returns the length of appendU32's encoding of v.
func sizeU32(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendS32 appends v as a signed LEB128 number, in the fewest bytes.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendS64 appends v as a signed LEB128 number, in the fewest bytes.
func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
