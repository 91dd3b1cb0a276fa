package api

import "time"

// Tenant is a tenant as the API returns it. Token is set only in the answer
// to the call that created the tenant: Wedge keeps only its hash.
type Tenant struct {
	Name    string    `json:"name"`
	Token   string    `json:"token,omitempty"`
	Created time.Time `json:"created"`
}

// CreateTenantRequest is the body of POST /v1/tenants.
type CreateTenantRequest struct {
	Name string `json:"name"`
}

// Limits are a worker's per-request limits. A zero field means the default
// (see DefaultLimits); the operator may cap every field lower.
type Limits struct {
	CPUMillis   int `json:"cpu_ms,omitempty" toml:"cpu_ms"`
	WallMillis  int `json:"wall_ms,omitempty" toml:"wall_ms"`
	MemoryMB    int `json:"memory_mb,omitempty" toml:"memory_mb"`
	Subrequests int `json:"subrequests,omitempty" toml:"subrequests"`
}

// DefaultLimits are the limits a worker gets when wedge.toml says nothing.
var DefaultLimits = Limits{CPUMillis: 50, WallMillis: 30000, MemoryMB: 128, Subrequests: 50}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	if l.CPUMillis > 0 {
		d.CPUMillis = l.CPUMillis
	}
	if l.WallMillis > 0 {
		d.WallMillis = l.WallMillis
	}
	if l.MemoryMB > 0 {
		d.MemoryMB = l.MemoryMB
	}
	if l.Subrequests > 0 {
		d.Subrequests = l.Subrequests
	}
	return d
}

// Within returns l with its defaults applied and each field lowered to the
// operator's cap (caps' zero fields meaning the defaults): what a worker
// runs with on a host whose caps changed after it was deployed.
func (l Limits) Within(caps Limits) Limits {
	l, caps = l.WithDefaults(), caps.WithDefaults()
	l.CPUMillis = min(l.CPUMillis, caps.CPUMillis)
	l.WallMillis = min(l.WallMillis, caps.WallMillis)
	l.MemoryMB = min(l.MemoryMB, caps.MemoryMB)
	l.Subrequests = min(l.Subrequests, caps.Subrequests)
	return l
}

// Route is a custom route pattern such as "shop.example.com/api/*".
type Route struct {
	Pattern string `json:"pattern" toml:"pattern"`
}

// KVBinding binds a KV namespace to a name the worker uses. The name is
// also the namespace's: binding "COUNTS" opens the tenant's namespace
// COUNTS, the one /v1/tenants/{t}/kv/COUNTS reads and writes, so every
// worker of a tenant that binds COUNTS shares it. Names follow
// ValidKVNamespace.
type KVBinding struct {
	Binding string `json:"binding" toml:"binding"`
}

// WorkerSettings travel beside the module in the "metadata" part of an
// upload; they come from wedge.toml.
type WorkerSettings struct {
	Vars         map[string]string `json:"vars,omitempty"`
	Limits       Limits            `json:"limits,omitempty"`
	Routes       []Route           `json:"routes,omitempty"`
	KVNamespaces []KVBinding       `json:"kv_namespaces,omitempty"`
}

// Version is one deployed version of a worker.
type Version struct {
	Number   int            `json:"version"`
	SHA256   string         `json:"sha256"`
	Size     int64          `json:"size"`
	Created  time.Time      `json:"created"`
	Settings WorkerSettings `json:"settings"`
}

// Worker is a worker and its active version.
type Worker struct {
	Tenant        string    `json:"tenant"`
	Name          string    `json:"name"`
	ActiveVersion int       `json:"active_version"`
	Versions      int       `json:"versions"`
	SHA256        string    `json:"sha256"`
	Updated       time.Time `json:"updated"`
	// Host is the default hostname the worker answers at (W.T.zone).
	Host string `json:"host,omitempty"`
	// Nodes lists, for each live node, the version of the worker it
	// serves; only GET /v1/tenants/{t}/workers/{w} fills it. With the
	// embedded store the one node reports itself.
	Nodes []NodeStatus `json:"nodes,omitempty"`
	// NodesPartial is set when the node that answered could not reach the
	// shared store: Nodes then holds only that node.
	NodesPartial bool `json:"nodes_partial,omitempty"`
}

// NodeStatus is what one node serves of a worker.
type NodeStatus struct {
	Node string `json:"node"`
	// Version is the version the node serves; 0: none.
	Version int `json:"version"`
	// Seen is when the node last reported.
	Seen time.Time `json:"seen"`
}

// DeployResult is the answer to a worker upload.
type DeployResult struct {
	Tenant  string `json:"tenant"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Host    string `json:"host,omitempty"`
}

// RollbackRequest is the body of POST …/rollback. A zero Version means the
// version before the active one.
type RollbackRequest struct {
	Version int `json:"version,omitempty"`
}

// Secret is one of a worker's secrets as GET …/secrets lists it: by name
// only. The API never returns a secret's value once it is set.
type Secret struct {
	Name string `json:"name"`
}

// KVKeys is the answer to GET /v1/tenants/{t}/kv/{namespace}: keys sorted
// by their bytes. Cursor is set when more keys may follow; pass it back as
// ?cursor= (with the same prefix) for the next page. It is opaque.
type KVKeys struct {
	Keys   []string `json:"keys"`
	Cursor string   `json:"cursor,omitempty"`
}
