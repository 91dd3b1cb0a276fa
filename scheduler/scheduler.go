package scheduler

import (
	"context"
	"errors"
	"io"
	goruntime "runtime"
	"strings"
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
	// PoolSize is how many ready instances a worker keeps between
	// requests. Zero means 64; negative means none (every request makes an
	// instance from the image).
	PoolSize int
	// MaxPooled caps ready instances across all workers. Zero means 1024.
	MaxPooled int
	// Fresh instantiates every request's instance from scratch (no image,
	// no pool): plain wazero, kept as the baseline for measurements.
	Fresh bool
	// MaxRunning is how many guests may execute at once; a request whose
	// guest waits in a blocking hostcall (reading the body, writing to a
	// slow client) gives its place up meanwhile (the Meter's Pause and
	// Resume). Zero means GOMAXPROCS-1 (at least 1): more guests on the
	// CPU at once only add instances and cache misses, and one P stays
	// free to read the network (with a single P, the guests' checks poll
	// it every 250 µs of their CPU time). Places go round-robin across the
	// tenants waiting for one, and a guest that runs on gives its place up
	// after each Slice of CPU time when others wait.
	MaxRunning int
	// Slice is the CPU time a guest runs before it yields its place to a
	// waiting request. Zero means 2 ms.
	Slice time.Duration
	// Quantum is the CPU time a request's guest uses in all before it
	// yields its place to anyone. Zero means 250 µs: more than a typical
	// request's guest needs, so that a short request runs to its end
	// rather than hand its place back and forth with a flood of long ones
	// from a tenant that waits (each hand-over costs both sides a few
	// microseconds), while a long request, past it, yields at once to a
	// tenant with nothing running.
	Quantum time.Duration
	// TenantRate is the requests per second one tenant may make, a token
	// bucket of TenantBurst (zero: one second's worth); over it, requests
	// are answered rate-limited. Zero means no limit.
	TenantRate  float64
	TenantBurst int
}

// RunConfig is one request's instance configuration (see runtime.RunConfig).
type RunConfig = runtime.RunConfig

// Result describes a finished run (see runtime.Result).
type Result = runtime.Result

// Meter measures and limits a request's CPU time (see runtime.Meter). The
// edge makes one per request and wires its Pause and Resume into the
// blocking hostcalls; Run sets its limit and its scheduling hooks.
type Meter = runtime.Meter

// ErrStale is returned by Run when the worker was closed (replaced by a
// newer deployment) before the request could take it; the caller looks the
// route up again.
var ErrStale = errors.New("scheduler: worker replaced")

// Scheduler admits and runs requests.
type Scheduler struct {
	slots     chan struct{}
	cpu       *fairSem // guests executing
	slice     time.Duration
	quantum   time.Duration
	rate      float64
	burst     float64
	perTenant int64
	wait      time.Duration
	poolSize  int
	maxPooled int64
	fresh     bool
	pooled    atomic.Int64 // ready instances held by all workers
	created   atomic.Int64 // instances made from images, by all workers

	tenants sync.Map // tenant name → *tenantState

	imagesMu sync.Mutex
	images   map[imageKey]*sharedImage

	workersMu sync.Mutex
	workers   map[*Worker]struct{} // open workers, for Evicted
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
	switch {
	case cfg.PoolSize == 0:
		cfg.PoolSize = 64
	case cfg.PoolSize < 0:
		cfg.PoolSize = 0
	}
	if cfg.MaxPooled <= 0 {
		cfg.MaxPooled = 1024
	}
	if cfg.MaxRunning <= 0 {
		// One P stays free for the network: Go polls it only when a P
		// runs out of work, so guests busy on every P (they yield with
		// Gosched, which requeues them first) would leave new requests
		// unread until sysmon's poll, every 10 ms. With one P there is
		// none to spare, and the guests' checks poll the network
		// themselves (runtime/netpoll.go).
		cfg.MaxRunning = max(1, goruntime.GOMAXPROCS(0)-1)
	}
	if cfg.Slice <= 0 {
		cfg.Slice = 2 * time.Millisecond
	}
	if cfg.Quantum <= 0 {
		cfg.Quantum = 250 * time.Microsecond
	}
	if cfg.TenantRate > 0 && cfg.TenantBurst <= 0 {
		cfg.TenantBurst = max(1, int(cfg.TenantRate))
	}
	return &Scheduler{
		slots:     make(chan struct{}, cfg.MaxConcurrency),
		cpu:       newFairSem(cfg.MaxRunning),
		slice:     cfg.Slice,
		quantum:   cfg.Quantum,
		rate:      cfg.TenantRate,
		burst:     float64(cfg.TenantBurst),
		perTenant: int64(cfg.TenantConcurrency),
		wait:      cfg.QueueWait,
		poolSize:  cfg.PoolSize,
		maxPooled: int64(cfg.MaxPooled),
		fresh:     cfg.Fresh,
		images:    make(map[imageKey]*sharedImage),
		workers:   make(map[*Worker]struct{}),
	}
}

// Worker is one deployed version of a worker, ready to serve: its image
// (the state after initialisation) and a small pool of instances at it.
type Worker struct {
	Tenant  string
	Name    string
	Version int
	Limits  api.Limits // with defaults applied
	Env     []string   // "KEY=value", vars and secrets
	// KVBindings are the KV namespaces the worker binds (wedge.toml's
	// kv_namespaces): the only ones its requests may use.
	KVBindings []string
	// Routes are the worker's custom route patterns (wedge.toml's
	// routes), besides its W.T.ZONE host.
	Routes []string

	s      *Scheduler
	module *runtime.Module
	image  *runtime.Image
	shared *sharedImage
	// pool holds ready instances, used last in, first out: the instance
	// reset last is the one whose pages and page tables are still in the
	// CPU's caches (a FIFO would cycle through every instance and find each
	// one cold: measured, half the throughput under 64 connections).
	poolMu sync.Mutex
	pool   []*runtime.Instance
	closed atomic.Bool

	created, reused atomic.Int64
}

// Stats reports how many instances the worker made from its image and how
// many requests were served by a pooled, reset instance.
func (w *Worker) Stats() (created, reused int64) { return w.created.Load(), w.reused.Load() }

// NewWorker prepares module to serve as a worker: it runs the guest's
// initialisation once, with env, and keeps the result as the worker's
// image. It takes over the caller's reference to module, released by
// Close. Initialisation output goes to log (nil discards it).
//
// Workers whose module, environment and memory limit are the same share
// one image (initialisation is deterministic up to the clock and random
// numbers it reads, which an image freezes anyway): a thousand workers
// deployed from one module cost one image.
func (s *Scheduler) NewWorker(ctx context.Context, tenant, name string, version int, module *runtime.Module, limits api.Limits, env []string, log io.Writer) (*Worker, error) {
	limits = limits.WithDefaults()
	si, err := s.acquireImage(ctx, module, runtime.ImageConfig{Env: env, MemoryLimit: uint64(limits.MemoryMB) << 20, Log: log, Fresh: s.fresh})
	if err != nil {
		module.Release()
		return nil, err
	}
	w := &Worker{
		Tenant: tenant, Name: name, Version: version, Limits: limits, Env: env,
		s: s, module: module, image: si.img, shared: si,
	}
	s.workersMu.Lock()
	s.workers[w] = struct{}{}
	s.workersMu.Unlock()
	return w, nil
}

// Evicted closes the pooled instances of every worker of the module whose
// compiled code the runtime evicted (runtime.Config.OnEvict): they would
// keep the old code in memory. The next request makes a new instance,
// which loads the code again.
func (s *Scheduler) Evicted(sha256 string) {
	s.workersMu.Lock()
	var ws []*Worker
	for w := range s.workers {
		if w.module.SHA256() == sha256 {
			ws = append(ws, w)
		}
	}
	s.workersMu.Unlock()
	for _, w := range ws {
		w.drain()
	}
}

type imageKey struct {
	sha    string
	env    string // the environment, NUL-separated
	memory uint64
}

// sharedImage is an image and the number of workers using it.
type sharedImage struct {
	key  imageKey
	img  *runtime.Image
	refs int
}

func (s *Scheduler) acquireImage(ctx context.Context, module *runtime.Module, cfg runtime.ImageConfig) (*sharedImage, error) {
	key := imageKey{sha: module.SHA256(), env: strings.Join(cfg.Env, "\x00"), memory: cfg.MemoryLimit}
	s.imagesMu.Lock()
	defer s.imagesMu.Unlock()
	if si := s.images[key]; si != nil {
		si.refs++
		return si, nil
	}
	img, err := module.NewImage(ctx, cfg)
	if err != nil {
		return nil, err
	}
	si := &sharedImage{key: key, img: img, refs: 1}
	s.images[key] = si
	return si, nil
}

func (s *Scheduler) releaseImage(si *sharedImage) {
	s.imagesMu.Lock()
	defer s.imagesMu.Unlock()
	if si.refs--; si.refs == 0 {
		delete(s.images, si.key)
		si.img.Close()
	}
}

// Images returns how many distinct images the scheduler holds.
func (s *Scheduler) Images() int {
	s.imagesMu.Lock()
	defer s.imagesMu.Unlock()
	return len(s.images)
}

// Pooled returns how many ready instances the workers hold.
func (s *Scheduler) Pooled() int { return int(s.pooled.Load()) }

// Created returns how many instances the workers made from their images
// (the other requests were served by pooled, reset ones).
func (s *Scheduler) Created() int64 { return s.created.Load() }

// SHA256 is the worker's module hash.
func (w *Worker) SHA256() string { return w.module.SHA256() }

// Resettable reports whether requests are served from pooled instances
// reset to the image (else each one instantiates from scratch).
func (w *Worker) Resettable() bool { return w.image.Resettable() }

// Close releases the worker's instances, image and module. Requests
// already running finish first.
func (w *Worker) Close() {
	if !w.closed.CompareAndSwap(false, true) {
		return
	}
	w.s.workersMu.Lock()
	delete(w.s.workers, w)
	w.s.workersMu.Unlock()
	w.drain()
	w.s.releaseImage(w.shared)
	w.module.Release()
}

func (w *Worker) drain() {
	w.poolMu.Lock()
	pool := w.pool
	w.pool = nil
	w.poolMu.Unlock()
	w.s.pooled.Add(-int64(len(pool)))
	for _, in := range pool {
		in.Close()
	}
}

// pop takes the most recently pooled instance, or nil.
func (w *Worker) pop() *runtime.Instance {
	w.poolMu.Lock()
	defer w.poolMu.Unlock()
	n := len(w.pool)
	if n == 0 {
		return nil
	}
	in := w.pool[n-1]
	w.pool[n-1] = nil
	w.pool = w.pool[:n-1]
	w.s.pooled.Add(-1)
	return in
}

// take returns a ready instance: a pooled one, or a new one from the image.
func (w *Worker) take(ctx context.Context) (*runtime.Instance, error) {
	for {
		in := w.pop()
		if in == nil {
			w.created.Add(1)
			w.s.created.Add(1)
			return w.image.NewInstance(ctx)
		}
		if in.Stale() { // made before an eviction of the code
			in.Close()
			continue
		}
		w.reused.Add(1)
		return in, nil
	}
}

// recycle resets an instance after its request and keeps it for the next
// one, or closes it.
func (w *Worker) recycle(in *runtime.Instance) {
	if w.closed.Load() || in.Stale() || !in.Reset() {
		in.Close()
		return
	}
	if w.s.pooled.Add(1) > w.s.maxPooled {
		w.s.pooled.Add(-1)
		in.Close()
		return
	}
	w.poolMu.Lock()
	if len(w.pool) >= w.s.poolSize || w.closed.Load() {
		// Full, or Close raced with us: do not strand it.
		w.poolMu.Unlock()
		w.s.pooled.Add(-1)
		in.Close()
		return
	}
	w.pool = append(w.pool, in)
	w.poolMu.Unlock()
}

// Run admits a request and serves it with w. rc's WallTime, MemoryLimit and
// Env default to the worker's, and so does its Meter's CPU limit (a Meter
// is made when rc has none). Admission errors are *api.Error values with
// code overloaded or rate-limited; a closed worker gives ErrStale.
func (s *Scheduler) Run(ctx context.Context, w *Worker, rc runtime.RunConfig) (runtime.Result, error) {
	if w.closed.Load() {
		return runtime.Result{}, ErrStale
	}

	ts := s.tenant(w.Tenant)
	if s.rate > 0 && !ts.allow(s.rate, s.burst, time.Now()) {
		return runtime.Result{}, errRateLimited
	}
	if ts.inflight.Add(1) > s.perTenant {
		ts.inflight.Add(-1)
		return runtime.Result{}, errTenantOverloaded
	}
	defer ts.inflight.Add(-1)

	select {
	case s.slots <- struct{}{}:
	default:
		t := time.NewTimer(s.wait)
		select {
		case s.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return runtime.Result{}, errHostOverloaded
		case <-ctx.Done():
			t.Stop()
			return runtime.Result{}, ctx.Err()
		}
	}
	defer func() { <-s.slots }()

	// Then a place on the CPU: requests queue here, in front of a small
	// number of hot instances, rather than each taking an instance.
	if !s.cpu.acquire(ctx, w.Tenant, s.wait) {
		if ctx.Err() != nil {
			return runtime.Result{}, ctx.Err()
		}
		return runtime.Result{}, errHostOverloaded
	}
	defer s.cpu.release(w.Tenant)

	if rc.WallTime == 0 {
		rc.WallTime = time.Duration(w.Limits.WallMillis) * time.Millisecond
	}
	if rc.Meter == nil {
		rc.Meter = &runtime.Meter{}
	}
	if rc.Meter.Limit == 0 {
		rc.Meter.Limit = time.Duration(w.Limits.CPUMillis) * time.Millisecond
	}
	if rc.Meter.Sched == nil {
		rc.Meter.Sched = ts
	}
	start := time.Now()
	in, err := w.take(ctx)
	if err != nil {
		if errors.Is(err, runtime.ErrClosed) {
			return runtime.Result{}, ErrStale
		}
		return runtime.Result{}, err
	}
	ready := time.Since(start)
	if rc.OnReady != nil && in.Resettable() {
		rc.OnReady(ready)
	}
	res, err := in.Run(ctx, rc)
	if in.Resettable() {
		res.Instantiate = ready
	}
	// Reset after the response, off the request's path.
	go w.recycle(in)
	return res, err
}

var (
	errRateLimited      = api.NewError(api.CodeRateLimited, "too many requests for this tenant: slow down", nil)
	errTenantOverloaded = api.NewError(api.CodeOverloaded, "too many concurrent requests for this tenant", nil)
	errHostOverloaded   = api.NewError(api.CodeOverloaded, "the host is overloaded", nil)
)

// preempt is called at a running guest's checks with the CPU time it used
// since it last gave its place up, and in all. Past its first quantum, it
// gives the place to a waiting request — at once for a tenant that has
// nothing running, after a slice for the others — and queues for it
// again; it reports whether it did.
func (s *Scheduler) preempt(tenant string, used, total time.Duration) bool {
	if total < s.quantum {
		return false
	}
	if s.cpu.starved.Load() == 0 && (used < s.slice || !s.cpu.contended()) {
		return false
	}
	s.cpu.release(tenant)
	s.cpu.acquire(context.Background(), tenant, -1)
	return true
}

// tenantState is what the scheduler keeps per tenant: requests in flight
// and the rate limit's bucket. It is also its requests' runtime.Sched.
type tenantState struct {
	s        *Scheduler
	name     string
	inflight atomic.Int64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// allow takes a token from the tenant's bucket, refilled at rate per
// second up to burst.
func (t *tenantState) allow(rate, burst float64, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last.IsZero() {
		t.tokens = burst
	} else {
		t.tokens = min(burst, t.tokens+now.Sub(t.last).Seconds()*rate)
	}
	t.last = now
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

func (s *Scheduler) tenant(name string) *tenantState {
	if c, ok := s.tenants.Load(name); ok {
		return c.(*tenantState)
	}
	c, _ := s.tenants.LoadOrStore(name, &tenantState{s: s, name: name})
	return c.(*tenantState)
}

// Waiting, Preempt, Release and Acquire make tenantState the
// runtime.Sched of the tenant's requests.
func (t *tenantState) Waiting() bool { return t.s.cpu.starved.Load() > 0 }
func (t *tenantState) Preempt(sinceLast, total time.Duration) bool {
	return t.s.preempt(t.name, sinceLast, total)
}
func (t *tenantState) Release() { t.s.cpu.release(t.name) }
func (t *tenantState) Acquire() { t.s.cpu.acquire(context.Background(), t.name, -1) }
