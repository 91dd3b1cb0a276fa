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
// # Outbound requests and the cache
//
// The guest's own HTTP requests (fetch_send and the calls on its handle)
// go through an Egress: one http.Transport for the whole host, so that
// connections are pooled and kept alive across requests and tenants, and
// HTTP/2 is used where the origin offers it; and the egress policy, which
// refuses non-global addresses (loopback, private, link-local, ...) that
// the operator did not allow. The policy is checked on the address of
// every connection attempt, after DNS resolution (a net.Dialer's
// ControlContext), so neither a name resolving to a private address nor a
// redirect gets around it; the host follows no redirects (a 3xx goes back
// to the guest). An outbound request runs on its own goroutine with a
// context derived from the request's (whose deadline is the worker's wall
// time), so it ends with the request; Request.Close releases what the
// guest left open. The edge cache is a cache.Cache shared by all tenants,
// reached with the Request's Tenant; cache_fetch makes concurrent misses
// for one URL share one origin request (cache.Cache.Fetch).
//
// Every call that waits on the network — for the response head, to send
// or read a body, for a shared cache fill — is bracketed by the Request's
// Pauser (its Meter), as the calls that wait on the client are: the guest
// does not hold its place on the CPU (or count CPU time) while it waits.
//
// Handles are per Request and numbered from 1, never reused within it;
// their state is touched only by the guest's goroutine, except the round
// trip's result, which its goroutine hands over under a mutex.
//
// Module satisfies the runtime's HostModule interface without importing the
// runtime package.
package hostapi
