package store

import (
	"context"
	"errors"
	"time"

	"github.com/wedgeworks/wedge/api"
)

// Errors that callers branch on.
var (
	// ErrNotFound: the tenant, worker, version or module does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a tenant with that name exists already.
	ErrExists = errors.New("already exists")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
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

// Store keeps tenants, workers, versions and modules. Every method is safe
// for concurrent use. Every write is atomic: after a crash the store holds
// either the whole write or none of it.
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
	// DeleteWorker removes a worker and its versions; modules no version
	// refers to any more are removed too. ErrNotFound if absent.
	DeleteWorker(ctx context.Context, tenant, worker string) error
	// Module returns a module's bytes by SHA-256 (hex), or ErrNotFound.
	Module(ctx context.Context, sha256 string) ([]byte, error)

	// Meta reads and PutMeta writes a small host-level value (e.g. the
	// operator token's hash). Meta returns ErrNotFound when absent.
	Meta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, value []byte) error

	// Watch returns a channel that receives an Event after every committed
	// change, until ctx is done or the store is closed (then the channel is
	// closed). Events may be coalesced: a receiver reloads what it needs
	// rather than counting. A slow receiver never blocks a write.
	Watch(ctx context.Context) <-chan Event

	// Close releases the store and closes every Watch channel. Methods
	// called after Close return ErrClosed.
	Close() error
}
