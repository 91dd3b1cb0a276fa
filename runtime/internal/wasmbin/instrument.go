package wasmbin

import (
	"fmt"
	"strconv"
)

// Export names that Instrument adds.
const (
	// GlobalExportPrefix followed by the global's index (in the global
	// index space, imports first) names the export of a mutable global.
	GlobalExportPrefix = "__wedge_g"
	// StartExport names the export of the former start function.
	StartExport = "__wedge_start"
)

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
func Instrument(wasm []byte, info *Info, stripData bool) ([]byte, error) {
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
	var exports, start, global *section
	for k := range secs {
		switch secs[k].id {
		case secExport:
			exports = &secs[k]
		case secStart:
			start = &secs[k]
		case secGlobal:
			global = &secs[k]
		}
	}

	// Check that info fits the module where Instrument relies on it.
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
	if n := vecLen(wasm, global); n != len(info.Globals) {
		return nil, fmt.Errorf("%w: %d globals, info says %d", ErrInfoMismatch, n, len(info.Globals))
	}
	oldExports := vecLen(wasm, exports)
	if oldExports != len(info.Exports) {
		return nil, fmt.Errorf("%w: %d exports, info says %d", ErrInfoMismatch, oldExports, len(info.Exports))
	}
	if info.ImportedGlobals < 0 || uint64(info.ImportedGlobals)+uint64(len(info.Globals)) > 1<<32-1 {
		return nil, fmt.Errorf("%w: %d imported globals", ErrInfoMismatch, info.ImportedGlobals)
	}

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
	if stripData {
		if err := canStripData(info); err != nil {
			return nil, err
		}
	}

	out := make([]byte, 0, len(wasm)+len(added)+16)
	out = append(out, header[:]...)
	writeExports := func() {
		var payload []byte
		payload = appendU32(payload, uint32(oldExports+newExports))
		if exports != nil {
			// The old entries follow the old count.
			_, next, _ := readU32(wasm[:exports.end], exports.payload)
			payload = append(payload, wasm[next:exports.end]...)
		}
		payload = append(payload, added...)
		out = append(out, secExport)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}
	// Without an export section, one is added before the first section that
	// must follow it or, if none does, after the last non-custom section:
	// tools such as wabt reject known sections after the "name" section.
	insertAt := -1
	if exports == nil && newExports > 0 {
		insertAt = 0
		for k, s := range secs {
			if s.id == secCustom {
				continue
			}
			if sectionRank[s.id] > sectionRank[secExport] {
				insertAt = k
				break
			}
			insertAt = k + 1
		}
	}
	for k, s := range secs {
		if k == insertAt {
			writeExports()
		}
		switch {
		case s.id == secExport:
			writeExports()
		case s.id == secStart:
			// Dropped: the start function is exported instead.
		case stripData && (s.id == secData || s.id == secDataCount):
			out = append(out, s.id, 1, 0) // a count of zero
		default:
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	if insertAt == len(secs) {
		writeExports()
	}
	return out, nil
}

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
