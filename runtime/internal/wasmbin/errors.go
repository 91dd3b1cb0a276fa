package wasmbin

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is matched (errors.Is) by every error Parse returns: the
	// input is not a WebAssembly binary this package can read. The error
	// itself is a *FormatError that says where and why.
	ErrMalformed = errors.New("malformed module")

	// ErrExportNameTaken is returned by Instrument when the module already
	// exports a name that Instrument needs ("__wedge_g<i>",
	// "__wedge_start").
	ErrExportNameTaken = errors.New("export name taken")

	// ErrCannotStripData is returned by Instrument when stripData is true but
	// the module's data segments cannot be left out of the instrumented
	// module: one is passive, targets a memory other than 0 or has an offset
	// that is not a constant, or a function uses memory.init or is not
	// resettable.
	ErrCannotStripData = errors.New("data segments cannot be stripped")

	// ErrCannotInterrupt is returned by InstrumentWith when Interrupt is set
	// but the module cannot be given its checks or its functions
	// renumbered: a function body holds an opcode or a type that the
	// decoder does not know, so its loops and function indices cannot all
	// be found; the type section holds types it does not know (GC); or the
	// table or element section cannot be read. The runtime must then stop
	// the module's guests some other way.
	ErrCannotInterrupt = errors.New("module cannot be made interruptible")

	// ErrInfoMismatch is returned by Instrument when the Info it is given was
	// not parsed from the same module.
	ErrInfoMismatch = errors.New("info does not describe this module")
)

// FormatError reports malformed input: the byte offset in the module where
// decoding failed and what was wrong there.
type FormatError struct {
	Offset int
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("malformed module at offset %#x: %s", e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrMalformed) true for every *FormatError.
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }
