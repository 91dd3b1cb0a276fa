// Package store keeps Wedge's durable state: tenants and their token hashes,
// workers, every version of every worker with its settings, the modules
// (content-addressed by SHA-256) and which version is active.
//
// Store is the interface; Open returns the embedded backend, a bbolt file in
// the data directory. Every write is one transaction, so a crash in the middle
// of a deploy leaves the previous version active and intact. The package
// storetest runs the same tests against every backend.
//
// A module is kept once however many versions refer to it, and removed with
// the last of them (DeleteWorker). Version numbers count up from 1 per
// worker and are never reused while the worker exists; a worker deleted and
// deployed again starts at 1, so caches of compiled modules should be keyed
// by SHA256, not by version.
//
// Values returned by a Store belong to the caller, who may modify them, and
// a Store keeps no reference to the values passed to it. Every method checks
// its context on entry and returns ctx.Err() if it is done; after Close it
// returns ErrClosed.
//
// Watch channels hold one pending event: a write that commits while the
// previous event is unread merges into it (see Event), so a slow receiver
// neither blocks writers nor misses a change.
//
// All methods are safe for concurrent use.
package store
