// Package jetstream is the distributed store.Store: Wedge's tenants,
// workers, versions, modules, secrets and KV kept in NATS JetStream, shared
// by every node that opens the same server or cluster (wedge serve --store
// nats://HOST:PORT). It is a package of its own so that the NATS client is
// linked only where it is used; the embedded bbolt store is store.Open.
//
// # Layout
//
// Four KV buckets and two object stores (and the nodes bucket, below),
// created by the first node that opens the server (an operator may create
// them beforehand, e.g. with more replicas; Open binds to what exists):
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
// # Nodes
//
// A fifth KV bucket, wedge_nodes, holds one entry per node (Config.Node):
// the version of each worker it serves (SetServing), rewritten every two
// seconds and at once on a change, deleted when the store closes, and
// dropped by the bucket a minute after its last write. Nodes lists the live
// ones: those written within six seconds of the newest entry, by the
// server's clock.
//
// # Connection and the local copy
//
// Open connects once and the client then reconnects forever. While the
// server is away, writes, KV calls and Nodes fail at once with an error
// wrapping store.ErrUnavailable. Without Config.CacheDir, reads fail the
// same way. With it, the store keeps a copy of the state bucket (a
// snapshot when it binds, then every change its watcher delivers), of
// the modules it read or stored and of the sealed secret entries it read:
// while the server is away, reads come from that copy, so a node keeps
// serving its last known state, and Open succeeds from the copy when the
// server cannot be reached and binds when it comes back, announcing a
// change of everything. None reports ErrNotFound for a key it could not
// read.
//
// Modules are checked against their SHA-256 wherever they are read from,
// and a failed read from the object store is retried for about a second
// and a half.
//
// All methods are safe for concurrent use.
package jetstream
