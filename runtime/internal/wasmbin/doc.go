// Package wasmbin reads and rewrites WebAssembly binary modules for the
// runtime's image-based instantiation.
//
// Wedge runs a module's initialisation once, captures linear memory and the
// mutable globals as an image, and serves requests from pooled instances reset
// to that image. That is only sound when a request cannot change any other
// instance state, and it needs the globals to be reachable from the host.
// This package answers the first question (Parse) and makes the second true
// (Instrument):
//
//   - Parse decodes a module into an Info: imported and defined globals,
//     memory 0's limits, data segments (their bytes alias the input), the
//     start function, exports, and whether the module is resettable. To
//     decide that it decodes every instruction of every function body, with
//     its immediates, looking for table.set, table.grow, table.fill,
//     table.copy, table.init, elem.drop and data.drop. An opcode it does not
//     know also makes the module not resettable: the scanner is conservative.
//   - Instrument exports each mutable global the module defines as
//     "__wedge_g<index>", turns the start section into an export
//     "__wedge_start", and can strip the data segments that the image
//     replaces. Everything else is copied byte for byte.
//   - InstrumentWith does the same with options, and one more rewrite:
//     Interrupt imports a host function, CheckModule.CheckName, and calls it
//     from the guest once every CheckInterval function entries and loop
//     iterations, counted down in a global it adds. The host function gives
//     the Go scheduler and garbage collector their chance (compiled guest
//     code cannot be preempted) and stops a guest that must stop by
//     panicking. That is how the runtime stops a guest stuck in a loop or a
//     recursion, at a fraction of the cost of wazero's
//     WithCloseOnContextDone (see interrupt.go). The import shifts the
//     index of every function the module defines by one; InstrumentWith
//     renumbers them wherever they appear. With CallDepth it also counts
//     the depth of the guest's calls, in the same global as the countdown
//     (an i64, exported as DepthExport), so that the check function can
//     stop a guest that recurses too deep (interrupt.go).
//
// Resettable says nothing about two other kinds of state the runtime must
// handle itself: memory's size (memory.grow is allowed; a reset must restore
// the image's size) and imported mutable globals, which belong to the host.
//
// Parse is not a validator: it checks the binary encoding (section order and
// sizes, LEB128 lengths, vector bounds, UTF-8 names, the instruction stream's
// immediates and block nesting) but not types or indices, which the engine
// checks when it compiles the module. It never panics, allocates in proportion
// to the input at most, and is fuzzed (FuzzParse). It runs at deploy time,
// never on the request path: on a 5 MB Go module, Parse takes about 7 ms of
// one core of the CI machine (where a bare loop over the module's bytes takes
// 3 ms) and Instrument about 1 ms (BenchmarkParse, BenchmarkInstrument),
// about 3.5 ms with Interrupt (BenchmarkInstrumentInterrupt): Parse records
// where the loops and the function indices of the bodies are, so that
// InstrumentWith does not decode the bodies again.
//
// Encodings. The core specification 2.0, plus what the runtime could meet
// from later features: the tag section and imports of exception handling
// (their instructions count as unknown), memory64 limits (which must fit in
// 32 bits) and u64 memarg offsets, multi-memory memory indices (read as u32
// wherever 2.0 has a zero byte), threads (shared memories, atomics),
// tail calls, extended constant expressions and relaxed SIMD. Value types are
// those of 2.0: a GC or typed-reference type is an error outside function
// bodies and makes the body's function not resettable inside one.
//
// Errors. Parse's errors are *FormatError values (offset and reason) that
// match ErrMalformed. Instrument returns ErrExportNameTaken,
// ErrCannotStripData or ErrInfoMismatch, wrapped with the details, and
// InstrumentWith ErrCannotInterrupt too (which also matches ErrMalformed
// when a section that Parse does not read, such as the element section, is
// malformed).
//
// Concurrency. The package has no state: Parse, Instrument and
// InstrumentWith may be called from any number of goroutines. An Info is not
// modified after Parse returns it and may be shared. The module's bytes must
// not change while its Info is in use: the data segments alias them, and
// InstrumentWith relies on Parse's decoding of them.
//
// Fixtures. testdata holds WebAssembly text sources and the .wasm files
// compiled from them, both committed, so that the tests need only Go: .wat
// files use wat2wasm's default features (the repository's make generate
// compiles them too), .wast files need more. `go generate` rebuilds them all
// with wabt (testdata/gen.sh). The tests also build a real Go module, and use
// wabt's wasm-validate and wasm2wat when installed.
package wasmbin

//go:generate sh testdata/gen.sh
