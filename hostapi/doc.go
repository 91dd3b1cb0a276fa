// Package hostapi is the host side of the guest ABI, version 1: the
// functions of the import module wedge_v1 (docs/abi.md) and the per-request
// state they work on.
//
// The edge creates a Request for every HTTP request, puts it in the context
// with NewContext and runs the worker with that context; the host functions
// find it there. A Request belongs to one request and one goroutine: the
// guest is single-threaded and a host function runs while the guest waits,
// so its fields need no locks. Host functions never keep a guest pointer
// beyond a call and check every (pointer, length) pair against the guest's
// memory: a range outside it stops the guest (a bad hostcall, reported as
// worker-trap).
//
// Module satisfies the runtime's HostModule interface without importing the
// runtime package.
package hostapi
