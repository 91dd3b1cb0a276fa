package wedge

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// errMalformed is returned for a head that cannot be decoded.
var errMalformed = errors.New("wedge: malformed head from host")

// appendField appends one length-prefixed string.
func appendField(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// decodeFields calls fn for every name/value pair of an encoded head. The
// strings share one copy of b: a head costs one allocation, not two per
// field (each costs a wasm guest far more than it costs native code).
func decodeFields(b []byte, fn func(name, value string)) error {
	return decodeFieldsString(string(b), fn)
}

// decodeFieldsString is decodeFields on a head that is a string already.
func decodeFieldsString(s string, fn func(name, value string)) error {
	for len(s) > 0 {
		name, rest, ok := cutFieldString(s)
		if !ok {
			return errMalformed
		}
		value, rest, ok := cutFieldString(rest)
		if !ok {
			return errMalformed
		}
		fn(name, value)
		s = rest
	}
	return nil
}

func cutFieldString(s string) (field, rest string, ok bool) {
	if len(s) < 4 {
		return "", "", false
	}
	n := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
	s = s[4:]
	if n > uint64(len(s)) {
		return "", "", false
	}
	return s[:n], s[n:], true
}

// appendFieldInt appends one length-prefixed decimal number.
func appendFieldInt(b []byte, v int64) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	b = strconv.AppendInt(b, v, 10)
	binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}
