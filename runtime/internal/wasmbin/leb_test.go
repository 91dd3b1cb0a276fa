package wasmbin

import (
	"math"
	"testing"
)

type lebCase struct {
	in   []byte
	want int64 // the value, as an int64 (uint64 cases are converted)
	n    int   // bytes consumed
	st   lebStatus
}

func TestReadU32(t *testing.T) {
	for _, tt := range []lebCase{
		{[]byte{0x00}, 0, 1, lebOK},
		{[]byte{0x7f}, 127, 1, lebOK},
		{[]byte{0x80, 0x01}, 128, 2, lebOK},
		{[]byte{0x80, 0x00}, 0, 2, lebOK}, // redundant but within 5 bytes: allowed
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, math.MaxUint32, 5, lebOK},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x00}, 0, 5, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 0, 5, lebTooLong}, // bit 32
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 5, lebTooLong},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x4f}, 0, 5, lebTooLong},
		{nil, 0, 0, lebTruncated},
		{[]byte{0x80}, 0, 1, lebTruncated},
		{[]byte{0xff, 0xff, 0xff, 0xff}, 0, 4, lebTruncated},
	} {
		v, n, st := readU32(tt.in, 0)
		if st != tt.st || (st == lebOK && (int64(v) != tt.want || n != tt.n)) {
			t.Errorf("readU32(% x) = %d, %d, %v; want %d, %d, %v", tt.in, v, n, st, tt.want, tt.n, tt.st)
		}
	}
}

func TestReadS32(t *testing.T) {
	for _, tt := range []lebCase{
		{[]byte{0x00}, 0, 1, lebOK},
		{[]byte{0x7f}, -1, 1, lebOK},
		{[]byte{0x3f}, 63, 1, lebOK},
		{[]byte{0x40}, -64, 1, lebOK},
		{[]byte{0xc0, 0x00}, 64, 2, lebOK},
		{[]byte{0xff, 0x7f}, -1, 2, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, math.MaxInt32, 5, lebOK},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, math.MinInt32, 5, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x7f}, -1, 5, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0, 5, lebTooLong}, // 2^32-1 is not an int32
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, 0, 5, lebTooLong},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 5, lebTooLong},
		{[]byte{0x80, 0x80}, 0, 2, lebTruncated},
	} {
		v, n, st := readS32(tt.in, 0)
		if st != tt.st || (st == lebOK && (int64(v) != tt.want || n != tt.n)) {
			t.Errorf("readS32(% x) = %d, %d, %v; want %d, %d, %v", tt.in, v, n, st, tt.want, tt.n, tt.st)
		}
	}
}

func TestReadS33(t *testing.T) {
	for _, tt := range []lebCase{
		{[]byte{0x00}, 0, 1, lebOK},
		{[]byte{0x40}, -64, 1, lebOK},
		{[]byte{0x80, 0x01}, 128, 2, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, math.MaxUint32, 5, lebOK},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, -1 << 32, 5, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, -1, 5, lebTooLong}, // bits 5-6 do not repeat the sign
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 5, lebTooLong},
		{[]byte{0x80}, 0, 1, lebTruncated},
	} {
		v, n, st := readS33(tt.in, 0)
		if st != tt.st || (st == lebOK && (v != tt.want || n != tt.n)) {
			t.Errorf("readS33(% x) = %d, %d, %v; want %d, %d, %v", tt.in, v, n, st, tt.want, tt.n, tt.st)
		}
	}
}

func TestReadS64(t *testing.T) {
	for _, tt := range []lebCase{
		{[]byte{0x7f}, -1, 1, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, math.MaxInt64, 10, lebOK},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, math.MinInt64, 10, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, 10, lebTooLong},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 10, lebTooLong},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, 0, 9, lebTruncated},
	} {
		v, n, st := readS64(tt.in, 0)
		if st != tt.st || (st == lebOK && (v != tt.want || n != tt.n)) {
			t.Errorf("readS64(% x) = %d, %d, %v; want %d, %d, %v", tt.in, v, n, st, tt.want, tt.n, tt.st)
		}
	}
}

func TestReadU64(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		want uint64
		st   lebStatus
	}{
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x10}, 1 << 32, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, math.MaxUint64, lebOK},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, lebTooLong},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, lebTooLong},
		{[]byte{0xff}, 0, lebTruncated},
	} {
		v, _, st := readU64(tt.in, 0)
		if st != tt.st || (st == lebOK && v != tt.want) {
			t.Errorf("readU64(% x) = %d, %v; want %d, %v", tt.in, v, st, tt.want, tt.st)
		}
	}
}

func TestAppendU32(t *testing.T) {
	for _, v := range []uint32{0, 1, 127, 128, 300, 1<<21 - 1, 1 << 28, math.MaxUint32} {
		b := appendU32(nil, v)
		got, n, st := readU32(b, 0)
		if st != lebOK || got != v || n != len(b) {
			t.Errorf("readU32(appendU32(%d) = % x) = %d, %d, %v", v, b, got, n, st)
		}
	}
}
