// Package runtime runs WebAssembly workers on wazero's compiler engine.
//
// A Runtime compiles modules (Compile), at deploy time and never on the
// request path: the compiled code is kept in memory, shared by every worker
// whose module has the same SHA-256, and on disk in wazero's compilation
// cache, so that a restart does not pay the compiler again. Compile also
// validates the module against the guest ABI (docs/abi.md): the exports a
// worker needs and only imports the host provides.
//
// Compiled code in memory is kept under a byte budget (Config.CodeBudget,
// 1 GiB by default; see code.go): past it, the least recently used modules'
// code is closed and compiled again, from the disk cache, on their next
// instantiation. Config.OnEvict tells whoever pools instances to drop those
// of an evicted module. CodeStats reports the residency.
//
// Module.Run serves one request in a fresh instance: instantiate (running the
// guest's _initialize), call wedge_handle, close. Each instance has its own
// memory limit (growth past it fails inside the guest and the request ends
// with memory-limit) and a wall-time deadline after which wazero stops the
// guest (WithCloseOnContextDone). Errors come back as *api.Error with the
// Wedge-Error code that fits: worker-trap, wall-time, memory-limit.
//
// With Config.InterpretFirst (wedge dev), Compile compiles for wazero's
// interpreter instead, in a tenth of the time, and the compiler's code
// replaces it in the background once the module is put to use (see
// interpret.go): the same semantics and limits, interpreted until then.
// Module.WaitCompiled waits for it; Runtime.PauseCompiling holds those
// compilations back while the CPU is needed elsewhere.
//
// The host functions themselves live elsewhere (package hostapi): a Runtime
// instantiates every HostModule given in its Config, and host functions find
// their per-request state in the context passed to Run.
//
// A Runtime and its Modules are safe for concurrent use.
package runtime
