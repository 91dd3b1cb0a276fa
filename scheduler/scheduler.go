package scheduler

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/runtime"
)

// Config configures a Scheduler. The zero value is valid.
type Config struct {
	// MaxConcurrency is how many requests may run at once on the host.
	// Zero means 256.
	MaxConcurrency int
	// TenantConcurrency is how many of those one tenant may hold. Zero
	// means half of MaxConcurrency (at least 1).
	TenantConcurrency int
	// QueueWait is how long a request waits for a free slot before it is
	// answered with overloaded. Zero means 1s.
	QueueWait time.Duration
}

// RunConfig is one request's instance configuration (see runtime.RunConfig).
type RunConfig = runtime.RunConfig

// Result describes a finished run (see runtime.Result).
type Result = runtime.Result

// ErrStale is returned by Run when the worker was closed (replaced by a
// newer deployment) before the request could take it; the caller looks the
// route up again.
var ErrStale = errors.New("scheduler: worker replaced")

// Scheduler admits and runs requests.
type Scheduler struct {
	slots     chan struct{}
	perTenant int64
	wait      time.Duration

	tenants sync.Map // tenant name → *atomic.Int64 in-flight count
}

// New returns a Scheduler for cfg.
func New(cfg Config) *Scheduler {
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = 256
	}
	if cfg.TenantConcurrency <= 0 {
		cfg.TenantConcurrency = max(1, cfg.MaxConcurrency/2)
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = time.Second
	}
	return &Scheduler{
		slots:     make(chan struct{}, cfg.MaxConcurrency),
		perTenant: int64(cfg.TenantConcurrency),
		wait:      cfg.QueueWait,
	}
}

// Worker is one deployed version of a worker, ready to serve.
type Worker struct {
	Tenant  string
	Name    string
	Version int
	Limits  api.Limits // with defaults applied
	Env     []string   // "KEY=value", vars and secrets

	module *runtime.Module
	closed atomic.Bool
}

// NewWorker returns a Worker running module; it takes over the caller's
// reference to module, released by Close.
func NewWorker(tenant, name string, version int, module *runtime.Module, limits api.Limits, env []string) *Worker {
	return &Worker{Tenant: tenant, Name: name, Version: version, module: module, Limits: limits.WithDefaults(), Env: env}
}

// SHA256 is the worker's module hash.
func (w *Worker) SHA256() string { return w.module.SHA256() }

// Close releases the worker's module. Requests already running finish.
func (w *Worker) Close() {
	if w.closed.CompareAndSwap(false, true) {
		w.module.Release()
	}
}

// Run admits a request and serves it with w. rc's WallTime, MemoryLimit and
// Env default to the worker's. Admission errors are api.ErrOverloaded; a
// closed worker gives ErrStale.
func (s *Scheduler) Run(ctx context.Context, w *Worker, rc runtime.RunConfig) (runtime.Result, error) {
	if w.closed.Load() || !w.module.Acquire() {
		return runtime.Result{}, ErrStale
	}
	defer w.module.Release()

	tc := s.tenant(w.Tenant)
	if tc.Add(1) > s.perTenant {
		tc.Add(-1)
		return runtime.Result{}, api.NewError(api.CodeOverloaded, "too many concurrent requests for this tenant", nil)
	}
	defer tc.Add(-1)

	select {
	case s.slots <- struct{}{}:
	default:
		t := time.NewTimer(s.wait)
		select {
		case s.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return runtime.Result{}, api.NewError(api.CodeOverloaded, "the host is overloaded", nil)
		case <-ctx.Done():
			t.Stop()
			return runtime.Result{}, ctx.Err()
		}
	}
	defer func() { <-s.slots }()

	if rc.WallTime == 0 {
		rc.WallTime = time.Duration(w.Limits.WallMillis) * time.Millisecond
	}
	if rc.MemoryLimit == 0 {
		rc.MemoryLimit = uint64(w.Limits.MemoryMB) << 20
	}
	if rc.Env == nil {
		rc.Env = w.Env
	}
	return w.module.Run(ctx, rc)
}

func (s *Scheduler) tenant(name string) *atomic.Int64 {
	if c, ok := s.tenants.Load(name); ok {
		return c.(*atomic.Int64)
	}
	c, _ := s.tenants.LoadOrStore(name, new(atomic.Int64))
	return c.(*atomic.Int64)
}
