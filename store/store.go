package store

import (
	"context"
	"errors"
	"time"

	"github.com/wedgeworks/wedge/api"
)

// Errors that callers branch on.
var (
	// ErrNotFound: the tenant, worker, version, module, secret or KV key
	// does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a tenant with that name exists already.
	ErrExists = errors.New("already exists")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalid: a name, key or value the store refuses (empty, too long,
	// with a NUL, …), or one secret more than a worker may have. The
	// message of an error wrapping it says what is wrong and is safe to
	// show to a client: it never holds a secret's or a KV entry's value.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: a shared store cannot be reached. Writes fail with
	// it at once rather than wait; reads return the node's last known
	// state where the backend keeps one, else fail with it too.
	ErrUnavailable = errors.New("the shared store is unreachable")
)

// Tenant is a tenant as stored: its token is kept only as a SHA-256 hash.
type Tenant struct {
	Name      string    `json:"name"`
	TokenHash []byte    `json:"token_hash"`
	Created   time.Time `json:"created"`
}

// Version is one deployed version of a worker. Its module lives apart,
// content-addressed by SHA256 (lower-case hex).
type Version struct {
	Number   int                `json:"number"`
	SHA256   string             `json:"sha256"`
	Size     int64              `json:"size"`
	Created  time.Time          `json:"created"`
	Settings api.WorkerSettings `json:"settings"`
}

// Worker is a worker with every version it ever had. Active is the number
// of the version that serves requests.
type Worker struct {
	Tenant   string    `json:"tenant"`
	Name     string    `json:"name"`
	Active   int       `json:"active"`
	Versions []Version `json:"versions"` // ascending by Number, numbers start at 1
	Updated  time.Time `json:"updated"`
}

// ActiveVersion returns the version that serves requests.
func (w *Worker) ActiveVersion() (Version, bool) {
	for _, v := range w.Versions {
		if v.Number == w.Active {
			return v, true
		}
	}
	return Version{}, false
}

// Event says that something changed; watchers reload what they need. An
// event names the narrowest scope that covers every change it stands for:
// one worker; a tenant (Worker empty), for a change to the tenant itself or
// to several of its workers; or everything (both empty), for host-level
// changes and changes spanning tenants.
type Event struct {
	Tenant string // empty: anything may have changed
	Worker string // empty: anything of Tenant may have changed
}

// Store keeps tenants, workers, versions, modules, workers' secrets and
// tenants' KV namespaces. Every method is safe for concurrent use. Every
// write is atomic: after a crash the store holds either the whole write or
// none of it.
type Store interface {
	// CreateTenant stores a new tenant; ErrExists if the name is taken.
	CreateTenant(ctx context.Context, t Tenant) error
	// Tenant returns one tenant or ErrNotFound.
	Tenant(ctx context.Context, name string) (Tenant, error)
	// Tenants lists all tenants, sorted by name.
	Tenants(ctx context.Context) ([]Tenant, error)

	// Deploy stores module (content-addressed: an identical module is kept
	// once), appends a new version with settings to the worker (creating
	// the worker if needed) and makes it active, all in one transaction.
	// It returns the new version. The tenant must exist (ErrNotFound).
	Deploy(ctx context.Context, tenant, worker string, module []byte, settings api.WorkerSettings) (Version, error)
	// Activate makes an existing version the active one (rollback);
	// ErrNotFound if the worker or version does not exist.
	Activate(ctx context.Context, tenant, worker string, version int) error
	// Worker returns one worker with its versions, or ErrNotFound.
	Worker(ctx context.Context, tenant, worker string) (Worker, error)
	// Workers lists a tenant's workers sorted by name, ErrNotFound if the
	// tenant does not exist; an empty tenant lists every tenant's workers
	// (sorted by tenant, then name).
	Workers(ctx context.Context, tenant string) ([]Worker, error)
	// DeleteWorker removes a worker, its versions and its secrets; modules
	// no version refers to any more are removed too. ErrNotFound if absent.
	DeleteWorker(ctx context.Context, tenant, worker string) error
	// Module returns a module's bytes by SHA-256 (hex), or ErrNotFound.
	Module(ctx context.Context, sha256 string) ([]byte, error)

	// Meta reads and PutMeta writes a small host-level value (e.g. the
	// operator token's hash). Meta returns ErrNotFound when absent.
	Meta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, value []byte) error

	// PutSecret sets (adds or replaces) a secret of an existing worker:
	// ErrNotFound if the worker does not exist; ErrInvalid unless key is an
	// environment variable name (api.ValidEnvName) and value is valid
	// (api.CheckSecretValue), or when the worker has
	// api.MaxSecretsPerWorker secrets already and key is not one of them.
	// Secrets are kept apart from the worker's versions: they apply to
	// whichever version is active, and a rollback does not change them.
	PutSecret(ctx context.Context, tenant, worker, key string, value []byte) error
	// DeleteSecret removes a secret; ErrNotFound if the worker or the
	// secret does not exist.
	DeleteSecret(ctx context.Context, tenant, worker, key string) error
	// SecretNames lists a worker's secrets by name, sorted; ErrNotFound if
	// the worker does not exist. It is what an API may show.
	SecretNames(ctx context.Context, tenant, worker string) ([]string, error)
	// Secrets returns a worker's secrets, name → value, for the host to add
	// to the worker's environment; ErrNotFound if the worker does not
	// exist. Never show the values to anyone.
	Secrets(ctx context.Context, tenant, worker string) (map[string]string, error)

	// KVPut sets key to value in a tenant's namespace ns, which exists as
	// soon as it holds a key. ErrNotFound if the tenant does not exist;
	// ErrInvalid unless ns is valid (api.ValidKVNamespace), key is valid
	// (api.CheckKVKey) and value is at most api.MaxKVValueBytes. KV writes
	// send no Watch event: readers read the store, nothing is reloaded.
	KVPut(ctx context.Context, tenant, ns, key string, value []byte) error
	// KVGet returns key's value, or ErrNotFound.
	KVGet(ctx context.Context, tenant, ns, key string) ([]byte, error)
	// KVDelete removes key; ErrNotFound if it (or the tenant) does not
	// exist. A caller that wants deletes to be idempotent ignores
	// ErrNotFound.
	KVDelete(ctx context.Context, tenant, ns, key string) error
	// KVList returns the keys of namespace ns that start with prefix and
	// sort after after (all of them when after is empty), in the order of
	// their bytes, at most limit of them (limit <= 0: no limit). A caller
	// pages by passing the last key it got as after. ErrNotFound if the
	// tenant does not exist; an empty or unknown namespace lists no keys.
	KVList(ctx context.Context, tenant, ns, prefix, after string, limit int) ([]string, error)

	// Watch returns a channel that receives an Event after every committed
	// change but KV writes, until ctx is done or the store is closed (then
	// the channel is closed). A change to a worker's secrets is an event
	// for that worker. Events may be coalesced: a receiver reloads what it
	// needs rather than counting. A slow receiver never blocks a write.
	Watch(ctx context.Context) <-chan Event

	// Close releases the store and closes every Watch channel. Methods
	// called after Close return ErrClosed.
	Close() error
}
