// Package jetstream is the distributed store.Store: Wedge's tenants,
// workers, versions, modules, secrets and KV kept in NATS JetStream, shared
// by every node that opens the same server or cluster (wedge serve --store
// nats://HOST:PORT). It is a package of its own so that the NATS client is
// linked only where it is used; the embedded bbolt store is store.Open.
//
// # Layout
//
// Four KV buckets and two object stores, created by the first node that
// opens the server (an operator may create them beforehand, e.g. with more
// replicas; Open binds to what exists):
//
//   - wedge_state (KV, watched): tenant.T, worker.T.W (the worker with every
//     version and the names of its secrets), meta.K, the heartbeat and the
//     store's format and key check.
//   - wedge_secrets (KV): T.W.NAME.ID, a secret's value sealed with
//     AES-256-GCM under Config.SecretKey.
//   - wedge_kv (KV and object store): T.NS.KEY, a tenant's KV entry; values
//     over 128 KiB live in an object the entry names.
//   - wedge_modules (KV and object store): SHA256 → the module's object and
//     the number of versions that refer to it; the object holds its bytes.
//
// Names and keys are escaped into KV key tokens (letters, digits, '-', '_'
// and '/' stay as they are; every other byte becomes =XX), so API names read
// as themselves in the nats CLI.
//
// # Atomicity
//
// Every write that must be atomic is one compare-and-set of one KV entry,
// on the revision it read, retried when another writer got there first:
// a deploy stores the module (or raises its count) and then appends the
// version to the worker's entry; PutSecret writes the sealed value to an
// entry of its own and then points the worker's entry at it; DeleteWorker
// deletes the worker's entry. Anything written before the commit that the
// commit does not end up referring to is deleted again, and what a commit
// stops referring to (an old secret entry, a module's last reference, a
// replaced large KV value) is deleted after it. A crash or a timeout
// between the steps leaves garbage, never a reference to something that
// is gone. See RATIONALE.md.
//
// # Watch
//
// One watcher per Store follows the state bucket, so a Store's Watch
// channels receive the events of every node's writes, and of its own at
// once. The watcher is replaced when the connection comes back and when it
// hears nothing for three seconds; every node writes a heartbeat key about
// once a second (skipped when it heard another node's), so silence means a
// stuck watcher, not a quiet store.
//
// # Secrets
//
// Values are encrypted before they leave the process, bound to their
// tenant, worker and name, with a key that is never written to NATS. A node
// opened with another key fails in Open (ErrWrongSecretKey), and a value
// that does not decrypt is an error, never garbage. Names are not
// encrypted: they are in the worker's entry and the entries' keys.
//
// # Connection
//
// Open connects once and the client then reconnects forever. Calls made
// while the server is away fail when their context ends (after 10 seconds
// for a context without a deadline, a minute for one moving a module or a
// large value); none reports ErrNotFound for a key it could not read.
//
// All methods are safe for concurrent use.
package jetstream
