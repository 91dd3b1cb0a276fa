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
	// StopExport named the export of a stop global that an earlier
	// Interrupt added.
	//
	// Deprecated: Interrupt no longer adds a stop global nor this export:
	// the guest calls the host's check function instead (see
	// InstrumentOptions.Interrupt). The constant remains so that callers
	// compile; no module instrumented now exports it.
	StopExport = "__wedge_stop"
	// DepthExport names the export of the global in which Interrupt with
	// CallDepth counts the depth of the calls (see CallDepth).
	DepthExport = "__wedge_depth"
)

// InstrumentOptions selects the rewrites of InstrumentWith. The zero value
// makes only those that Instrument always makes: the exports of the mutable
// globals and of the start function.
type InstrumentOptions struct {
	// StripData empties the data section: Instrument's stripData.
	StripData bool

	// Interrupt makes the module's guests come back to the host
	// periodically, so that the host can stop them. It imports a function
	// CheckModule.CheckName of type [] -> [] after the module's other
	// imports: its index is Info.ImportedFuncs, and every function the
	// module defines moves up by one index (InstrumentWith renumbers them
	// everywhere). It appends a mutable i32 global, $budget, initialised to
	// CheckInterval, after the module's own globals: its index is
	// Info.ImportedGlobals + len(Info.Globals), no other global's index
	// changes, and it is not exported (it is the instrumentation's, not part
	// of the guest's state). At the entry of every function and after the
	// block type of every loop it inserts a check that decrements $budget
	// and, when it reaches 0, sets it back to CheckInterval and calls the
	// check function (see interrupt.go): the branch depths and the operand
	// stack of the code around it do not change.
	//
	// The guest thus calls the check function at least once every
	// CheckInterval loop iterations and function calls. The host's
	// function stops the guest by panicking (wazero makes the guest's call
	// fail), and lets the Go scheduler and garbage collector run meanwhile,
	// which compiled guest code alone does not. A guest blocked in a host
	// function or in memory.atomic.wait is not interrupted.
	//
	// A body that holds an opcode or a type the decoder does not know, or a
	// type or table section it cannot read, makes InstrumentWith fail with
	// ErrCannotInterrupt. A malformed "name" custom section is dropped.
	// So does a body that uses a global the module does not have: it would
	// reach the instrumentation's globals.
	Interrupt bool

	// CallDepth, with Interrupt (it is ignored without), counts the depth
	// of the calls between the functions the module defines, so that the
	// host can limit it: the check function reads it.
	//
	// $budget is then an i64 global, $calls, initialised to CheckInterval,
	// that holds the countdown in its low 32 bits and the depth in its high
	// 32 bits, and is exported as DepthExport (CallDepth reads the depth
	// from its value). Every function adds 2^32-1 to it at its entry (the
	// depth goes up by one, the countdown down by one) before the check,
	// and its body is wrapped in a block of the function's results, so that
	// every way out of the body but a trap goes through the decrement of
	// the depth after that block: a return becomes a branch to the block
	// (br with the return's block nesting depth), and a branch to the
	// function's label now targets the block, at the same depth. A tail
	// call (return_call, return_call_indirect) decrements the depth first.
	// A trap leaves the depth as it was, which does not matter: a trapped
	// instance is not used again. Between two calls of the guest from the
	// host, the depth is 0. See interrupt.go.
	//
	// The host limits the depth in its check function, which the guest
	// calls once every CheckInterval checks: a recursion goes at most
	// CheckInterval calls past the limit before the host sees it.
	CallDepth bool
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
// With Interrupt, the type, import, global, export, element and code
// sections are rewritten (the type, import and global sections are added, at
// their place in the section order, if the module has none), and so are the
// "name" custom sections, and a table or data section whose constant
// expressions hold ref.func. The loops and the function indices of the
// bodies are those that Parse found when it decoded them, if info is what
// Parse returned for this very slice (whose bytes must not have changed
// since, as for Instrument); given a copy of the module, or an Info that
// Parse did not make, InstrumentWith decodes the bodies again, which takes
// about as long as Parse.
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
	var found [secTag + 1]*section // by id; custom sections are not kept
	for k := range secs {
		if id := secs[k].id; id != secCustom && int(id) < len(found) {
			found[id] = &secs[k]
		}
	}
	exports, start, global := found[secExport], found[secStart], found[secGlobal]

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
	if !opts.Interrupt {
		opts.CallDepth = false
	}
	if opts.Interrupt {
		maxGlobals-- // the global index space grows by one
	}
	if info.ImportedGlobals < 0 || uint64(info.ImportedGlobals)+uint64(len(info.Globals)) > maxGlobals {
		return nil, fmt.Errorf("%w: %d imported globals", ErrInfoMismatch, info.ImportedGlobals)
	}
	if opts.StripData {
		if err := canStripData(info); err != nil {
			return nil, err
		}
	}

	// The sections that Interrupt rewrites, by id, and the "name" sections
	// by index in secs (nil drops one).
	var (
		replaced [secTag + 1][]byte
		funcs    *shift
		names    = map[int][]byte{}
		plan     *codePlan
	)
	if opts.Interrupt {
		if funcs, plan, err = interrupt(wasm, secs, &found, info, opts.CallDepth, &replaced, names); err != nil {
			return nil, err
		}
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
	if opts.CallDepth {
		if err := add(DepthExport, 3, uint32(info.ImportedGlobals+len(info.Globals))); err != nil {
			return nil, err
		}
	}
	if start != nil {
		index := uint32(startFunc)
		if funcs != nil {
			var ok bool
			if index, ok = funcs.of(index); !ok {
				return nil, fmt.Errorf("%w: start function %d out of range", ErrCannotInterrupt, startFunc)
			}
		}
		if err := add(StartExport, 0, index); err != nil {
			return nil, err
		}
	}
	if uint64(oldExports)+uint64(newExports) > 1<<32-1 {
		return nil, fmt.Errorf("export section larger than 4 GiB")
	}
	if exports != nil || newExports > 0 {
		p, err := exportSection(wasm, exports, funcs, newExports)
		if err != nil {
			return nil, err
		}
		replaced[secExport] = append(p, added...)
	}

	// The output, section by section.
	type part struct {
		id      byte
		payload []byte   // a new payload, if raw and code are nil
		raw     *section // copied as it is
		code    *codePlan
	}
	var parts []part
	insert := func(at int) {
		// Sections to add go in front of the first section that must
		// follow them (len(secs) for the end), in their order.
		for _, id := range []byte{secType, secImport, secGlobal, secExport} {
			if found[id] == nil && replaced[id] != nil && insertionPoint(secs, id) == at {
				parts = append(parts, part{id: id, payload: replaced[id]})
			}
		}
	}
	for k := range secs {
		insert(k)
		s := &secs[k]
		switch {
		case s.id == secStart:
			// The start function is exported instead.
		case s.id == secCustom:
			if p, ok := names[k]; !ok {
				parts = append(parts, part{raw: s})
			} else if p != nil {
				parts = append(parts, part{id: secCustom, payload: p})
			}
		case opts.StripData && (s.id == secData || s.id == secDataCount):
			parts = append(parts, part{id: s.id, payload: []byte{0}})
		case s.id == secCode && plan != nil:
			parts = append(parts, part{code: plan})
		case int(s.id) < len(replaced) && replaced[s.id] != nil:
			parts = append(parts, part{id: s.id, payload: replaced[s.id]})
		default:
			parts = append(parts, part{raw: s})
		}
	}
	insert(len(secs))

	size := len(header)
	for _, p := range parts {
		switch {
		case p.raw != nil:
			size += p.raw.end - p.raw.start
		case p.code != nil:
			size += sectionSize(p.code.size)
		default:
			if uint64(len(p.payload)) > 1<<32-1 {
				return nil, fmt.Errorf("%s section larger than 4 GiB", name(p.id))
			}
			size += sectionSize(len(p.payload))
		}
	}
	out := make([]byte, 0, size)
	out = append(out, header[:]...)
	for _, p := range parts {
		switch {
		case p.raw != nil:
			out = append(out, wasm[p.raw.start:p.raw.end]...)
		case p.code != nil:
			out = p.code.write(out, wasm)
		default:
			out = append(out, p.id)
			out = appendU32(out, uint32(len(p.payload)))
			out = append(out, p.payload...)
		}
	}
	if len(out) != size {
		return nil, fmt.Errorf("wasmbin: internal error: wrote %d bytes, planned %d", len(out), size)
	}
	return out, nil
}

// interrupt prepares Interrupt's rewriting: the new payloads of the type,
// import, table, global, element and data sections (in replaced, by id; nil
// for a section to copy) and of the "name" sections (in names, by index in
// secs; nil to drop one), and the plan of the code section's, with the call
// depth count if depth. It returns the renumbering of the function indices.
func interrupt(wasm []byte, secs []section, found *[secTag + 1]*section, info *Info, withDepth bool, replaced *[secTag + 1][]byte, names map[int][]byte) (*shift, *codePlan, error) {
	if info.ImportedFuncs < 0 || uint64(info.ImportedFuncs) >= 1<<32-1 {
		return nil, nil, fmt.Errorf("%w: %d imported functions", ErrInfoMismatch, info.ImportedFuncs)
	}
	funcs := shift{imported: uint32(info.ImportedFuncs), added: 1}
	code := found[secCode]
	scan := info.scan
	if code != nil && !scan.of(wasm) {
		var err error
		if scan, err = scanCode(wasm, code, info.ImportedFuncs); err != nil {
			return nil, nil, err
		}
	}
	if code != nil && scan.cannot != "" {
		return nil, nil, fmt.Errorf("%w: %s", ErrCannotInterrupt, scan.cannot)
	}
	globals := uint32(info.ImportedGlobals + len(info.Globals))
	if code != nil && scan.globals > globals {
		return nil, nil, fmt.Errorf("%w: a function uses global %d, but the module has %d globals", ErrCannotInterrupt, scan.globals-1, globals)
	}

	types, err := readTypes(wasm, found[secType])
	if err != nil {
		return nil, nil, errCannot(secType, err)
	}
	ti := &typeIndex{types: types}
	checkType, err := ti.of(nil)
	if err != nil {
		return nil, nil, errCannot(secType, err)
	}
	var depth *depthCode
	if withDepth {
		if depth, err = callDepth(wasm, found[secFunction], ti, globals); err != nil {
			return nil, nil, err
		}
	}
	replaced[secType] = typeSection(wasm, found[secType], ti)
	imported, n, err := importSection(wasm, found[secImport], checkType, CheckName)
	if err != nil {
		return nil, nil, err
	}
	if n != info.ImportedFuncs {
		return nil, nil, fmt.Errorf("%w: %d imported functions, info says %d", ErrInfoMismatch, n, info.ImportedFuncs)
	}
	replaced[secImport] = imported
	if s := found[secTable]; s != nil {
		if replaced[secTable], err = tableSection(wasm, s, funcs); err != nil {
			return nil, nil, errCannot(secTable, err)
		}
	}
	added := budgetGlobal()
	if depth != nil {
		added = callsGlobal()
	}
	if replaced[secGlobal], err = globalSection(wasm, found[secGlobal], funcs, 1, added); err != nil {
		return nil, nil, err
	}
	if s := found[secElement]; s != nil {
		if replaced[secElement], err = elementSection(wasm, s, funcs); err != nil {
			return nil, nil, errCannot(secElement, err)
		}
	}
	if s := found[secData]; s != nil {
		if replaced[secData], err = dataSection(wasm, s, funcs); err != nil {
			return nil, nil, errCannot(secData, err)
		}
	}
	var plan *codePlan
	if code != nil {
		enter := checkCode(globals, uint32(info.ImportedFuncs))
		check := enter
		if depth != nil {
			enter = callsCheck(globals, uint32(info.ImportedFuncs), true)
			check = callsCheck(globals, uint32(info.ImportedFuncs), false)
		}
		if plan, err = planCode(wasm, code, &scan.codeEdits, funcs, enter, check, depth); err != nil {
			return nil, nil, err
		}
	}
	blocks := func(fn uint32) (all, loops []int, ok bool) {
		return bodyBlocks(wasm, code, fn-funcs.imported)
	}
	entryLabels := 1 // the check's if
	if depth != nil {
		entryLabels++ // the block around the body
	}
	for k, s := range secs {
		if s.id != secCustom {
			continue
		}
		r := &reader{b: wasm[:s.end], pos: s.payload}
		if r.name() != "name" {
			continue
		}
		payload, ok := nameSection(wasm, &secs[k], funcs, entryLabels, blocks)
		if !ok {
			payload = nil
		}
		names[k] = payload
	}
	return &funcs, plan, nil
}

// callDepth returns the code of the call depth count, for the $calls
// global of the given index: the blocks that wrap the bodies have the types
// of the functions' results, found with ti (which adds a type [] -> results
// for those with more than one result).
func callDepth(wasm []byte, fsec *section, ti *typeIndex, calls uint32) (*depthCode, error) {
	ftypes, err := funcTypes(wasm, fsec)
	if err != nil {
		return nil, errCannot(secFunction, err)
	}
	d := &depthCode{
		leave:  depthLeave(calls),
		blocks: make([][]byte, len(ftypes)),
	}
	for k, t := range ftypes {
		if uint64(t) >= uint64(len(ti.types)) {
			return nil, fmt.Errorf("%w: function %d has type %d, of %d", ErrCannotInterrupt, k, t, len(ti.types))
		}
		switch results := ti.types[t].results; len(results) {
		case 0:
			d.blocks[k] = []byte{0x40}
		case 1:
			d.blocks[k] = results
		default:
			index, err := ti.of(results)
			if err != nil {
				return nil, errCannot(secType, err)
			}
			d.blocks[k] = appendS32(nil, int32(index))
		}
	}
	return d, nil
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
