package wasmbin

import (
	"fmt"
	"strconv"
)

// Export names that Instrument and InstrumentWith add.
const (
	// GlobalExportPrefix followed by the global's index (in the global
	// index space, imports first) names the export of a mutable global.
	GlobalExportPrefix = "__wedge_g"
	// StartExport names the export of the former start function.
	StartExport = "__wedge_start"
	// StopExport names the export of the stop global that InstrumentWith
	// adds with Interrupt.
	StopExport = "__wedge_stop"
)

// InstrumentOptions selects the rewrites of InstrumentWith. The zero value
// makes only those that Instrument always makes: the exports of the mutable
// globals and of the start function.
type InstrumentOptions struct {
	// StripData empties the data section: Instrument's stripData.
	StripData bool

	// Interrupt makes the module's guests stoppable by the host. A mutable
	// i32 global, initialised to 0 and exported as StopExport, is added
	// after the module's own globals: its index is Info.ImportedGlobals +
	// len(Info.Globals), and no other global's index changes. It is not
	// exported as GlobalExportPrefix + its index: it is the host's, not part
	// of the guest's state. Every loop instruction of every function body is
	// followed, after its block type, by
	//
	//	global.get <stop> if unreachable end
	//
	// (6 bytes while the index is below 128), which leaves the operand stack
	// and the branch depths of the code around it as they were. Setting the
	// global to anything but 0, from any goroutine, makes the guest trap
	// (unreachable) at the next loop iteration it starts; code without loops
	// runs to its end or to the call stack's limit. A guest blocked in a
	// host function is not interrupted, and the instance is left in
	// whatever state the guest was in when it trapped; the global must be
	// set back to 0 before the instance runs again.
	//
	// A body that holds an opcode or a type the decoder does not know, or
	// that makes tail calls, makes InstrumentWith fail with
	// ErrCannotInterrupt.
	Interrupt bool
}

// Instrument returns a copy of wasm rewritten for image-based instantiation;
// info must be what Parse returned for wasm (nil makes Instrument call Parse).
//
//   - Every mutable global the module defines is exported as
//     GlobalExportPrefix + its index (for example "__wedge_g3"), so that the
//     runtime can read it after initialisation and write it on reset.
//   - The start section, if any, is removed and the start function exported as
//     StartExport: the runtime calls it once, when it builds the image, and
//     never again for instances reset to that image.
//   - With stripData, the data section is emptied (count 0) and the data count
//     section, if any, set to 0: the image holds memory's initial content.
//     That needs every segment to be active in memory 0 at a constant offset
//     and no function to use memory.init or to be unresettable, or the result
//     would be invalid or wrong; Instrument returns ErrCannotStripData
//     otherwise.
//
// Every other section, custom sections included, is copied byte for byte and
// in order. Instrument fails with ErrExportNameTaken when the module already
// exports a name it needs. It never panics, whatever info holds; an Info
// from another module gives ErrInfoMismatch when Instrument notices.
//
// Instrument(wasm, info, stripData) is InstrumentWith(wasm, info,
// InstrumentOptions{StripData: stripData}).
func Instrument(wasm []byte, info *Info, stripData bool) ([]byte, error) {
	return InstrumentWith(wasm, info, InstrumentOptions{StripData: stripData})
}

// InstrumentWith is Instrument with the rewrites that opts selects, made in
// one pass: the output is allocated once, at its final size.
//
// With Interrupt, bodies without loops are copied byte for byte, the others
// get their checks and their new size, and the code section its new size; a
// global section is added, at its place in the section order, if the module
// has none. The loops are those that Parse found when it decoded the bodies,
// if info is what Parse returned for this very slice (whose bytes must not
// have changed since, as for Instrument); given a copy of the module, or an
// Info that Parse did not make, InstrumentWith decodes the bodies again, which
// takes about as long as Parse.
func InstrumentWith(wasm []byte, info *Info, opts InstrumentOptions) ([]byte, error) {
	if info == nil {
		var err error
		if info, err = Parse(wasm); err != nil {
			return nil, err
		}
	}
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var exports, start, global, code *section
	for k := range secs {
		switch secs[k].id {
		case secExport:
			exports = &secs[k]
		case secStart:
			start = &secs[k]
		case secGlobal:
			global = &secs[k]
		case secCode:
			code = &secs[k]
		}
	}

	// Check that info fits the module where InstrumentWith relies on it.
	startFunc := -1
	if start != nil {
		r := &reader{b: wasm[:start.end], pos: start.payload}
		startFunc = int(r.u32())
		if r.err != nil {
			return nil, r.err
		}
	}
	if info.Start != startFunc {
		return nil, fmt.Errorf("%w: start function %d, info says %d", ErrInfoMismatch, startFunc, info.Start)
	}
	oldGlobals := vecLen(wasm, global)
	if oldGlobals != len(info.Globals) {
		return nil, fmt.Errorf("%w: %d globals, info says %d", ErrInfoMismatch, oldGlobals, len(info.Globals))
	}
	oldExports := vecLen(wasm, exports)
	if oldExports != len(info.Exports) {
		return nil, fmt.Errorf("%w: %d exports, info says %d", ErrInfoMismatch, oldExports, len(info.Exports))
	}
	maxGlobals := uint64(1<<32 - 1)
	if opts.Interrupt {
		maxGlobals-- // the global index space grows by one
	}
	if info.ImportedGlobals < 0 || uint64(info.ImportedGlobals)+uint64(len(info.Globals)) > maxGlobals {
		return nil, fmt.Errorf("%w: %d imported globals", ErrInfoMismatch, info.ImportedGlobals)
	}
	stop := uint32(info.ImportedGlobals + len(info.Globals))

	// The export entries to add.
	taken := make(map[string]bool, len(info.Exports))
	for _, e := range info.Exports {
		taken[e.Name] = true
	}
	var added []byte
	newExports := 0
	add := func(name string, kind byte, index uint32) error {
		if taken[name] {
			return fmt.Errorf("%w: %q", ErrExportNameTaken, name)
		}
		added = appendU32(added, uint32(len(name)))
		added = append(added, name...)
		added = append(added, kind)
		added = appendU32(added, index)
		newExports++
		return nil
	}
	for i, g := range info.Globals {
		if g.Mutable {
			index := uint32(info.ImportedGlobals + i)
			if err := add(GlobalExportPrefix+strconv.FormatUint(uint64(index), 10), 3, index); err != nil {
				return nil, err
			}
		}
	}
	if start != nil {
		if err := add(StartExport, 0, uint32(startFunc)); err != nil {
			return nil, err
		}
	}
	if opts.Interrupt {
		if err := add(StopExport, 3, stop); err != nil {
			return nil, err
		}
	}
	if opts.StripData {
		if err := canStripData(info); err != nil {
			return nil, err
		}
	}
	var loops *loopChecks
	if opts.Interrupt && code != nil {
		scan := info.scan
		if !scan.of(wasm) {
			if scan, err = scanCode(wasm, code, info.ImportedFuncs); err != nil {
				return nil, err
			}
		}
		if scan.cannot != "" {
			return nil, fmt.Errorf("%w: %s", ErrCannotInterrupt, scan.cannot)
		}
		if len(scan.loops) > 0 {
			if loops, err = planChecks(wasm, code, scan.loops, stop); err != nil {
				return nil, err
			}
		}
	}

	// What becomes of each section, and the new payloads' sizes.
	const (
		copySection = iota
		dropSection
		emptySection // a count of zero
		exportSection
		globalSection
		codeSection
	)
	fate := func(s *section) int {
		switch {
		case s.id == secExport:
			return exportSection
		case s.id == secStart:
			return dropSection // the start function is exported instead
		case opts.StripData && (s.id == secData || s.id == secDataCount):
			return emptySection
		case s.id == secGlobal && opts.Interrupt:
			return globalSection
		case s.id == secCode && loops != nil:
			return codeSection
		}
		return copySection
	}
	exportsAt, globalAt := -1, -1
	exportsSize := sizeU32(uint32(oldExports+newExports)) + len(added)
	if exports != nil {
		exportsSize += exports.end - vecStart(wasm, exports)
	} else if newExports > 0 {
		exportsAt = insertionPoint(secs, secExport)
	}
	globalSize := sizeU32(uint32(oldGlobals+1)) + len(stopGlobal)
	if global != nil {
		globalSize += global.end - vecStart(wasm, global)
	} else if opts.Interrupt {
		globalAt = insertionPoint(secs, secGlobal)
	}
	if uint64(exportsSize) > 1<<32-1 || uint64(oldExports)+uint64(newExports) > 1<<32-1 || uint64(globalSize) > 1<<32-1 {
		return nil, fmt.Errorf("export or global section larger than 4 GiB")
	}
	size := len(header)
	if exportsAt >= 0 {
		size += sectionSize(exportsSize)
	}
	if globalAt >= 0 {
		size += sectionSize(globalSize)
	}
	for k := range secs {
		s := &secs[k]
		switch fate(s) {
		case copySection:
			size += s.end - s.start
		case emptySection:
			size += 3
		case exportSection:
			size += sectionSize(exportsSize)
		case globalSection:
			size += sectionSize(globalSize)
		case codeSection:
			size += sectionSize(loops.size)
		}
	}

	out := make([]byte, 0, size)
	out = append(out, header[:]...)
	writeExports := func() {
		out = append(out, secExport)
		out = appendU32(out, uint32(exportsSize))
		out = appendU32(out, uint32(oldExports+newExports))
		if exports != nil {
			out = append(out, wasm[vecStart(wasm, exports):exports.end]...) // the old entries
		}
		out = append(out, added...)
	}
	writeGlobals := func() {
		out = append(out, secGlobal)
		out = appendU32(out, uint32(globalSize))
		out = appendU32(out, uint32(oldGlobals+1))
		if global != nil {
			out = append(out, wasm[vecStart(wasm, global):global.end]...)
		}
		out = append(out, stopGlobal...)
	}
	for k := range secs {
		// Added sections go in front of the section they must precede;
		// the global section precedes the export section.
		if k == globalAt {
			writeGlobals()
		}
		if k == exportsAt {
			writeExports()
		}
		s := &secs[k]
		switch fate(s) {
		case copySection:
			out = append(out, wasm[s.start:s.end]...)
		case emptySection:
			out = append(out, s.id, 1, 0)
		case exportSection:
			writeExports()
		case globalSection:
			writeGlobals()
		case codeSection:
			out = loops.write(out, wasm)
		}
	}
	if globalAt == len(secs) {
		writeGlobals()
	}
	if exportsAt == len(secs) {
		writeExports()
	}
	if len(out) != size {
		return nil, fmt.Errorf("wasmbin: internal error: wrote %d bytes, planned %d", len(out), size)
	}
	return out, nil
}

// stopGlobal is the global that Interrupt adds: i32, mutable, i32.const 0.
var stopGlobal = []byte{0x7f, 0x01, 0x41, 0x00, 0x0b}

// vecLen returns the length of the vector that starts section s, 0 if s is
// nil, -1 if it cannot be read.
func vecLen(wasm []byte, s *section) int {
	if s == nil {
		return 0
	}
	n, _, st := readU32(wasm[:s.end], s.payload)
	if st != lebOK {
		return -1
	}
	return int(n)
}

// vecStart returns the offset of the first element of the vector that starts
// section s, whose length vecLen has read.
func vecStart(wasm []byte, s *section) int {
	_, next, _ := readU32(wasm[:s.end], s.payload)
	return next
}

// sectionSize returns the size of a section whose payload has n bytes.
func sectionSize(n int) int { return 1 + sizeU32(uint32(n)) + n }

// insertionPoint returns the index in secs of the section before which a new
// section id goes: the first known section that must follow it or, if none
// does, the one after the last known section (len(secs) for the end): tools
// such as wabt reject known sections after the "name" section.
func insertionPoint(secs []section, id byte) int {
	at := 0
	for k, s := range secs {
		if s.id == secCustom {
			continue
		}
		if sectionRank[s.id] > sectionRank[id] {
			return k
		}
		at = k + 1
	}
	return at
}

func canStripData(info *Info) error {
	if !info.Resettable {
		return fmt.Errorf("%w: %s", ErrCannotStripData, info.NotResettable)
	}
	if info.MemoryInit {
		return fmt.Errorf("%w: a function uses memory.init", ErrCannotStripData)
	}
	for i, d := range info.Data {
		switch {
		case !d.Active:
			return fmt.Errorf("%w: data segment %d is passive", ErrCannotStripData, i)
		case d.MemIndex != 0:
			return fmt.Errorf("%w: data segment %d targets memory %d", ErrCannotStripData, i, d.MemIndex)
		case !d.OffsetConst:
			return fmt.Errorf("%w: data segment %d has a non-constant offset", ErrCannotStripData, i)
		}
	}
	return nil
}
