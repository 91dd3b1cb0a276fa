package wedge

import (
	"encoding/binary"
	"errors"
)

// errMalformed is returned for a head that cannot be decoded.
var errMalformed = errors.New("wedge: malformed head from host")

// appendField appends one length-prefixed string.
func appendField(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// decodeFields calls fn for every name/value pair of an encoded head.
func decodeFields(b []byte, fn func(name, value string)) error {
	for len(b) > 0 {
		name, rest, ok := cutField(b)
		if !ok {
			return errMalformed
		}
		value, rest, ok := cutField(rest)
		if !ok {
			return errMalformed
		}
		fn(name, value)
		b = rest
	}
	return nil
}

func cutField(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return "", nil, false
	}
	return string(b[:n]), b[n:], true
}
