// Package store keeps Wedge's durable state: tenants and their token hashes,
// workers, every version of every worker with its settings, the modules
// (content-addressed by SHA-256) and which version is active; each worker's
// secrets; and each tenant's KV namespaces.
//
// Store is the interface, with two backends. Open returns the embedded one,
// a bbolt file in the data directory: every write is one transaction, so a
// crash in the middle of a deploy leaves the previous version active and
// intact. The package store/jetstream keeps the same state in NATS
// JetStream (KV buckets and object stores), shared by every node pointed at
// the same server (wedge serve --store nats://HOST:PORT); there every write
// that must be atomic is one compare-and-set of one KV entry. The package
// storetest runs the same tests against both.
//
// A module is kept once however many versions refer to it, and removed with
// the last of them (DeleteWorker). Version numbers count up from 1 per
// worker and are never reused while the worker exists; a worker deleted and
// deployed again starts at 1, so caches of compiled modules should be keyed
// by SHA256, not by version.
//
// # Secrets
//
// A worker's secrets (PutSecret, DeleteSecret) are environment variables
// kept apart from its versions: they belong to the worker, not to a
// version, so a deploy or a rollback keeps them, and DeleteWorker deletes
// them. Names are environment variable names (api.ValidEnvName), values at
// most api.MaxSecretBytes without a NUL, at most api.MaxSecretsPerWorker of
// them per worker. SecretNames is what an API may show; Secrets, with the
// values, is for the host, which adds them to the worker's environment (a
// secret overrides a var of the same name). The bbolt backend keeps values
// in the clear in its file, which only its owner may read (mode 0600); the
// JetStream backend encrypts them (AES-256-GCM) with an operator key given
// to every node and never written to NATS; see RATIONALE.md.
//
// # KV
//
// A tenant's KV namespaces (KVPut, KVGet, KVDelete, KVList) are named like
// the bindings in wedge.toml (api.ValidKVNamespace), which are their names:
// namespace COUNTS of tenant acme is what every acme worker binding COUNTS
// sees. A namespace needs no creating: it exists while it holds a key. Keys
// are 1 to api.MaxKVKeyBytes bytes of UTF-8 without NUL ('/' is an ordinary
// character), values up to api.MaxKVValueBytes of any bytes. KVList lists
// keys in the order of their bytes, from a prefix, after a key, up to a
// limit: callers page by passing the last key they got. KVDelete of an
// absent key is ErrNotFound and changes nothing; callers that want
// idempotent deletes ignore it.
//
// # Errors
//
// ErrNotFound, ErrExists, ErrInvalid and ErrClosed are the conditions
// callers branch on. The message of an ErrInvalid error says what is wrong
// in words fit for a client and never holds a secret's or a KV value.
//
// # Watch
//
// Every committed change sends an Event, except KV writes: workers read KV
// from the store on each call, so there is nothing to reload, and a busy
// namespace would otherwise keep every watcher reloading. A change to a
// worker's secrets is an Event for that worker, so the host rebuilds its
// environment. Watch channels hold one pending event: a write that commits
// while the previous event is unread merges into it (see Event), so a slow
// receiver neither blocks writers nor misses a change. With the JetStream
// backend a Store's channels also receive the events of other nodes'
// writes, usually within milliseconds.
//
// # Ownership and concurrency
//
// Values returned by a Store belong to the caller, who may modify them, and
// a Store keeps no reference to the values passed to it. Every method checks
// its context on entry and returns ctx.Err() if it is done; after Close it
// returns ErrClosed.
//
// All methods are safe for concurrent use.
package store
