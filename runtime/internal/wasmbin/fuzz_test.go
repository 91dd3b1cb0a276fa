package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
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

// FuzzInterruptible instruments with Interrupt, with and without StripData,
// whatever Parse accepts: InstrumentWith must not panic, and must either fail
// with one of its errors or return a module that parses, with one more
// imported function and as many defined functions, and that is what
// InstrumentWith promises: the same sections but those it rewrites, and the
// same code but for the checks and the renumbered function indices
// (checkInstrumentedWith). Decoding the bodies again, for a copy of the
// module, must give the same result as reusing Parse's decoding. With a call
// depth count, the output must be what checkDepthInstrumented checks: among
// others, wazero compiles it when it compiles the input.
func FuzzInterruptible(f *testing.F) {
	for _, name := range fixtures(f) {
		f.Add(readFixture(f, name))
	}
	f.Add(codeModule(0, 0x03, 0x40, 0x03, 0x7f, 0x41, 0x03, 0x0b, 0x1a, 0x0b, 0x0b))
	f.Add(codeModule(1, 1, i32, 0x03, 0x00, 0x20, 0x00, 0x0d, 0x00, 0x02, 0x40, 0x0e, 1, 0, 1, 0x0b, 0x0b, 0x0b))
	f.Add(codeModule(0, 0x03, 0x80, 0x80, 0x00, 0x0b, 0x0b))
	f.Add(codeModule(0, 0x10, 0x80, 0x00, 0xd2, 0x00, 0x1a, 0x12, 0x00, 0x0b))
	f.Add(codeModule(0, 0x02, 0x40, 0x03, 0x40, 0x0f, 0x0b, 0x0b, 0x0f, 0x0b))
	f.Add(codeModule(0, 0x23, 0x00, 0x1a, 0x0b))
	f.Add(module(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(secImport, vec([]byte{1, 'm', 1, 'f', 0, 0})...),
		sec(secFunction, vec([]byte{0})...),
		sec(secTable, vec([]byte{0x40, 0, funcref, 0, 1, 0xd2, 1, 0x0b})...),
		sec(secGlobal, vec([]byte{funcref, 0, 0xd2, 1, 0x0b})...),
		sec(secExport, vec([]byte{1, 'f', 0, 1})...),
		sec(secStart, 1),
		sec(secElement, vec([]byte{0, 0x41, 0, 0x0b, 2, 0, 1}, []byte{5, funcref, 1, 0xd2, 1, 0x0b})...),
		sec(secCode, vec([]byte{4, 0, 0x10, 0, 0x0b})...),
		nameSectionOf(cat([]byte{1}, nameMap(map[uint32]string{0: "f", 1: "g"}))),
	))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		info, err := Parse(wasm)
		if err != nil {
			return
		}
		for _, opts := range append(interruptOpts, depthOpts...) {
			out, err := InstrumentWith(wasm, info, opts)
			again, errAgain := InstrumentWith(bytes.Clone(wasm), info, opts)
			if !bytes.Equal(out, again) || fmt.Sprint(err) != fmt.Sprint(errAgain) {
				t.Fatalf("InstrumentWith(%+v): %d bytes, %v; decoding again: %d bytes, %v", opts, len(out), err, len(again), errAgain)
			}
			if err != nil {
				if !errors.Is(err, ErrExportNameTaken) && !errors.Is(err, ErrCannotStripData) && !errors.Is(err, ErrCannotInterrupt) {
					t.Fatalf("InstrumentWith(%+v): unexpected error %v", opts, err)
				}
				continue
			}
			if opts.CallDepth {
				checkDepthInstrumented(t, wasm, out, info)
				continue
			}
			got, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(InstrumentWith(%+v)): %v", opts, err)
			}
			if got.ImportedFuncs != info.ImportedFuncs+1 {
				t.Fatalf("%d imported functions, %d before", got.ImportedFuncs, info.ImportedFuncs)
			}
			if n, m := len(bodies(t, out)), len(bodies(t, wasm)); n != m {
				t.Fatalf("%d defined functions, %d before", n, m)
			}
			checkInstrumentedWith(t, wasm, out, info, opts)
		}
	})
}
