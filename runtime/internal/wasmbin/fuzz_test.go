package wasmbin

import (
	"errors"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes: it must not panic, and must either
// fail with ErrMalformed or return an Info for which Instrument does not
// panic and produces a module that parses to what Instrument promises.
func FuzzParse(f *testing.F) {
	for _, name := range fixtures(f) {
		f.Add(readFixture(f, name))
	}
	f.Add(codeModule(0, 0xfd, 12, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x1a, 0x0b))
	f.Add(codeModule(1, 2, i64, 0x0e, 2, 0, 1, 0, 0xfe, 3, 0, 0xfc, 8, 0, 0, 0x0b))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		info, err := Parse(wasm)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not match ErrMalformed", err)
			}
			return
		}
		for _, strip := range []bool{false, true} {
			out, err := Instrument(wasm, info, strip)
			if err != nil {
				if !errors.Is(err, ErrExportNameTaken) && !errors.Is(err, ErrCannotStripData) {
					t.Fatalf("Instrument(stripData=%v): unexpected error %v", strip, err)
				}
				continue
			}
			checkInstrumented(t, wasm, out, info, strip)
		}
	})
}
