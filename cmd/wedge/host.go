package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/metrics"
	"github.com/wedgeworks/wedge/netfilter"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
	"github.com/wedgeworks/wedge/store"
	"github.com/wedgeworks/wedge/store/jetstream"
	"github.com/wedgeworks/wedge/tail"
)

// hostConfig is everything a host needs; serve and dev fill it from flags.
type hostConfig struct {
	dataDir      string
	zone         string
	serverTiming bool
	instances    string            // "pool" (default), "image" or "fresh"
	codeBudget   int64             // bytes of compiled code in memory; zero: the runtime's default
	interpret    bool              // runtime.Config.InterpretFirst (wedge dev)
	netfilter    *netfilter.Filter // nil: none (wedge dev)
	caps         api.Limits        // the most a worker may ask for; zero fields: the defaults
	sched        scheduler.Config  // admission; its PoolSize and Fresh come from instances
	egressAllow  []netip.Prefix    // ranges workers' fetch may reach besides public addresses
	cacheBytes   int64             // the edge cache's size; zero: its default
	storeURL     string            // "": bbolt in dataDir; nats://…: JetStream
	nodeID       string            // this node's name among those sharing a store
	secretKey    []byte            // encrypts secrets in JetStream
	sourceRPS    float64           // per client address; zero: no limit
	sourceBurst  int
	escalate     netfilter.EscalatorConfig // L7 → L3 escalation into netfilter; Threshold 0: off
	xdp          string                    // its interface
	// control enables the control-plane API, with the operator token from
	// adminToken, or generated on the first start and printed to stderr.
	control    bool
	adminToken string
	stderr     io.Writer
	log        *slog.Logger
}

// host is one running Wedge: store, runtime, scheduler, edge, control plane.
type host struct {
	cfg     hostConfig
	log     *slog.Logger
	store   store.Store
	rt      *runtime.Runtime
	sched   *scheduler.Scheduler
	edge    *edge.Edge
	control *control.Server
	metrics *metrics.Metrics
	cache   *cache.Cache
	rec     *reconciler
}

func newHost(ctx context.Context, cfg hostConfig) (*host, error) {
	st, err := openStore(cfg.dataDir, cfg.storeURL, cfg.secretKey, cfg.nodeID, cfg.log)
	if err != nil {
		return nil, err
	}
	sc := cfg.sched
	switch cfg.instances {
	case "", "pool":
	case "image":
		sc.PoolSize = -1
	case "fresh":
		sc.Fresh = true
	default:
		st.Close()
		return nil, fmt.Errorf("--instances %q: use pool, image or fresh", cfg.instances)
	}
	sched := scheduler.New(sc)
	rt, err := runtime.New(ctx, runtime.Config{
		CacheDir:       filepath.Join(cfg.dataDir, "compiled"),
		HostModules:    []runtime.HostModule{hostapi.Module{}},
		CodeBudget:     cfg.codeBudget,
		OnEvict:        sched.Evicted,
		InterpretFirst: cfg.interpret,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	if js, ok := st.(*jetstream.Store); ok {
		// Deploys through this node share what its compiler produced:
		// the other nodes load it instead of compiling.
		js.ShareCompiledCode(rt.CompiledCode)
	}
	m := metrics.New()
	err = errors.Join(registerCodeMetrics(m, rt),
		m.GaugeFunc("wedge_instances_pooled", "Ready instances the workers hold, reset to their images.", func() float64 { return float64(sched.Pooled()) }),
		m.CounterFunc("wedge_instances_created_total", "Instances made from images (the other requests reused pooled ones).", func() float64 { return float64(sched.Created()) }))
	var nf control.Netfilter
	if cfg.netfilter != nil && err == nil {
		err = registerNetfilterMetrics(m, cfg.netfilter)
		nf = netfilterAPI{f: cfg.netfilter, iface: cfg.xdp}
	}
	if err != nil {
		st.Close()
		rt.Close(ctx)
		return nil, err
	}
	edgeCache, err := cache.New(cache.Config{MaxBytes: cfg.cacheBytes})
	if err != nil {
		st.Close()
		rt.Close(ctx)
		return nil, fmt.Errorf("edge cache: %w", err)
	}
	var onLimited func(netip.Addr)
	if cfg.netfilter != nil && cfg.escalate.Threshold > 0 {
		esc := netfilter.NewEscalator(cfg.netfilter, cfg.escalate)
		onLimited = func(a netip.Addr) { esc.Observe(a) }
	}
	hub := tail.New()
	go func() { <-ctx.Done(); hub.Close() }() // tail streams end with the host
	e := edge.New(edge.Config{
		Zone: cfg.zone, ServerTiming: cfg.serverTiming, Logger: cfg.log, Metrics: m, Tail: hub,
		Egress: hostapi.EgressConfig{Allow: cfg.egressAllow}, Cache: edgeCache, KV: storeKV{st},
		SourceRate: cfg.sourceRPS, SourceBurst: cfg.sourceBurst, OnRateLimited: onLimited,
	}, sched)
	h := &host{cfg: cfg, log: cfg.log, store: st, rt: rt, sched: sched, edge: e, metrics: m, cache: edgeCache}
	nodes := newNodeReport(cfg.nodeID, st)
	h.rec = &reconciler{store: st, rt: rt, sched: sched, edge: e, log: cfg.log, caps: cfg.caps, current: map[workerKey]*scheduler.Worker{}, onSync: nodes.synced}
	if cfg.control {
		opHash, err := operatorHash(ctx, st, cfg.adminToken, cfg.stderr)
		if err != nil {
			h.close(ctx)
			return nil, err
		}
		h.control, err = control.New(control.Config{
			Store: st, Runtime: rt, OperatorTokenHash: opHash,
			Host: e.Host, Metrics: m, Logger: cfg.log, Applied: h.rec.waitServing, Netfilter: nf, Limits: cfg.caps,
			Tail: hub, Zone: e.Zone(), Nodes: nodes.nodes, Writable: nodes.writable,
		})
		if err != nil {
			h.close(ctx)
			return nil, err
		}
	}
	return h, nil
}

func (h *host) close(ctx context.Context) {
	h.rec.closeAll()
	h.rt.Close(ctx)
	h.cache.Close()
	h.store.Close()
}

// serveHTTP serves handler on ln until ctx is done, then drains in-flight
// requests for up to drain.
func serveHTTP(ctx context.Context, ln net.Listener, handler http.Handler, log *slog.Logger, drain time.Duration) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-done
	return err
}

type workerKey struct{ tenant, name string }

// reconciler keeps the edge's routing table equal to the store's active
// versions: it compiles what changed (a cache hit when the control plane
// compiled it at deploy), swaps the table, then releases what left it.
type reconciler struct {
	store store.Store
	rt    *runtime.Runtime
	sched *scheduler.Scheduler
	edge  *edge.Edge
	log   *slog.Logger
	caps  api.Limits // the operator's: workers run within them

	mu       sync.Mutex // serializes sync and guards current and synced
	current  map[workerKey]*scheduler.Worker
	synced   chan struct{} // closed and replaced after every sync
	fallback func(map[workerKey]*scheduler.Worker) *scheduler.Worker
	// onSync, if set, is told what the edge serves after every sync.
	onSync func(current map[workerKey]*scheduler.Worker)
}

// run syncs on every store change until ctx is done. The first sync must
// have happened (newHost's caller calls sync before listening).
func (r *reconciler) run(ctx context.Context, events <-chan store.Event) {
	for ev := range events {
		if err := r.sync(ctx, ev); err != nil && ctx.Err() == nil {
			r.log.Error("reload deployments", "err", err)
		}
	}
}

// sync brings the routing table up to date with the store for what ev
// says changed: one worker, one tenant's workers, or (the zero Event)
// everything.
func (r *reconciler) sync(ctx context.Context, ev store.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var workers []store.Worker
	inScope := func(workerKey) bool { return true }
	switch {
	case ev.Tenant != "" && ev.Worker != "":
		w, err := r.store.Worker(ctx, ev.Tenant, ev.Worker)
		switch {
		case err == nil:
			workers = []store.Worker{w}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		inScope = func(k workerKey) bool { return k.tenant == ev.Tenant && k.name == ev.Worker }
	case ev.Tenant != "":
		var err error
		workers, err = r.store.Workers(ctx, ev.Tenant)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		inScope = func(k workerKey) bool { return k.tenant == ev.Tenant }
	default:
		var err error
		if workers, err = r.store.Workers(ctx, ""); err != nil {
			return err
		}
	}
	next := make(map[workerKey]*scheduler.Worker, len(r.current)+len(workers))
	for key, w := range r.current {
		if !inScope(key) {
			next[key] = w
		}
	}
	for _, w := range workers {
		key := workerKey{w.Tenant, w.Name}
		v, ok := w.ActiveVersion()
		if !ok {
			continue
		}
		secrets, err := r.store.Secrets(ctx, w.Tenant, w.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		env := envOf(v.Settings, secrets)
		if cur := r.current[key]; cur != nil && cur.Version == v.Number && cur.SHA256() == v.SHA256 && slices.Equal(cur.Env, env) {
			next[key] = cur
			continue
		}
		sw, err := r.load(ctx, w, v, env)
		if err != nil {
			r.log.Error("load worker", "tenant", w.Tenant, "worker", w.Name, "version", v.Number, "err", err)
			if cur := r.current[key]; cur != nil {
				next[key] = cur // keep serving what served before
			}
			continue
		}
		next[key] = sw
	}
	list := make([]*scheduler.Worker, 0, len(next))
	for _, w := range next {
		list = append(list, w)
	}
	var fallback *scheduler.Worker
	if r.fallback != nil {
		fallback = r.fallback(next)
	}
	r.edge.SetWorkers(list, fallback)
	for key, w := range r.current {
		if next[key] != w {
			w.Close()
		}
	}
	r.current = next
	if r.onSync != nil {
		r.onSync(next)
	}
	if r.synced != nil {
		close(r.synced)
	}
	r.synced = make(chan struct{})
	r.rt.Prune(ctx, time.Minute)
	return nil
}

// waitServing waits until the edge serves version of a worker (0: serves
// none of it).
func (r *reconciler) waitServing(ctx context.Context, tenant, name string, version int) error {
	for {
		r.mu.Lock()
		w := r.current[workerKey{tenant, name}]
		done := (version == 0 && w == nil) || (w != nil && w.Version == version)
		if r.synced == nil {
			r.synced = make(chan struct{})
		}
		synced := r.synced
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-synced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *reconciler) load(ctx context.Context, w store.Worker, v store.Version, env []string) (*scheduler.Worker, error) {
	// The compiled code (when another node shares it) is fetched while
	// the module is read: both wait on NATS and the disk.
	fetch := make(chan time.Duration, 1)
	go func() { fetch <- r.fetchCode(ctx, v.SHA256) }()
	start := time.Now()
	wasm, err := r.store.Module(ctx, v.SHA256)
	read := time.Since(start)
	fetched := <-fetch
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", v.SHA256, err)
	}
	start = time.Now()
	m, err := r.rt.Compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	compiled := time.Since(start)
	// Caps lowered since the deploy apply to workers deployed before.
	limits := v.Settings.Limits.Within(r.caps)
	start = time.Now()
	sw, err := r.sched.NewWorker(ctx, w.Tenant, w.Name, v.Number, m, limits, env, &initLog{log: r.log, tenant: w.Tenant, worker: w.Name})
	if err != nil {
		return nil, err
	}
	if initialized := time.Since(start); read+fetched+compiled+initialized > 10*time.Millisecond {
		r.log.Info("worker loaded", "tenant", w.Tenant, "worker", w.Name, "version", v.Number,
			"read_module", read.Round(time.Millisecond), "fetch_code", fetched.Round(time.Millisecond),
			"compile", compiled.Round(time.Millisecond), "init", initialized.Round(time.Millisecond))
	}
	for _, b := range v.Settings.KVNamespaces {
		sw.KVBindings = append(sw.KVBindings, b.Binding)
	}
	for _, rt := range v.Settings.Routes {
		sw.Routes = append(sw.Routes, rt.Pattern)
	}
	return sw, nil
}

// codeStore is a shared store that holds the compiled code of the node
// that took a deploy (jetstream.Store.SharedCode).
type codeStore interface {
	SharedCode(ctx context.Context, sha256 string) (name string, open func(context.Context) (io.ReadCloser, error), err error)
}

// fetchCode imports into the runtime's compilation cache the compiled code
// another node shared for module sha, when the runtime does not hold the
// module yet, so that Compile loads it instead of compiling. Without
// shared code (none stored, another platform, another wazero version, a
// failure) Compile compiles, as it would have. It returns the time taken.
func (r *reconciler) fetchCode(ctx context.Context, sha string) time.Duration {
	cs, ok := r.store.(codeStore)
	if !ok || r.rt.HasModule(sha) {
		return 0
	}
	start := time.Now()
	name, open, err := cs.SharedCode(ctx, sha)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Warn("fetch compiled code: compiling instead", "sha256", sha, "err", err)
		}
		return time.Since(start)
	}
	if r.rt.HasCompiledCode(name) {
		return time.Since(start)
	}
	for attempt := 0; ; attempt++ {
		rc, err := open(ctx)
		if err == nil {
			err = r.rt.ImportCompiledCode(name, rc)
			rc.Close()
		}
		switch {
		case err == nil:
			return time.Since(start)
		case errors.Is(err, runtime.ErrForeignCode), errors.Is(err, runtime.ErrNoCompiledCode):
			r.log.Debug("shared compiled code not usable here: compiling", "sha256", sha, "err", err)
			return time.Since(start)
		case attempt == 2 || ctx.Err() != nil:
			r.log.Warn("fetch compiled code: compiling instead", "sha256", sha, "err", err)
			return time.Since(start)
		}
		// A read right after another node's write sometimes fails
		// (the field notes on issue 8): retry shortly.
		select {
		case <-time.After(25 * time.Millisecond << attempt):
		case <-ctx.Done():
		}
	}
}

// envOf is a worker's environment: its vars and its secrets (a secret
// wins over a var of the same name), sorted by name. Never logged.
func envOf(s api.WorkerSettings, secrets map[string]string) []string {
	env := make([]string, 0, len(s.Vars)+len(secrets))
	for k, v := range s.Vars {
		if _, ok := secrets[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

func (r *reconciler) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.current {
		w.Close()
	}
	r.current = nil
}

// count is how many workers the edge routes to.
func (r *reconciler) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.current)
}

// initLog logs what a worker prints during its initialisation.
type initLog struct {
	log            *slog.Logger
	tenant, worker string
}

func (l *initLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.log.Info("worker init log", "tenant", l.tenant, "worker", l.worker, "line", line)
	}
	return len(p), nil
}

// registerCodeMetrics exports the runtime's compiled-code residency.
func registerCodeMetrics(m *metrics.Metrics, rt *runtime.Runtime) error {
	stat := func(f func(runtime.CodeStats) int64) func() float64 {
		return func() float64 { return float64(f(rt.CodeStats())) }
	}
	return errors.Join(
		m.GaugeFunc("wedge_code_bytes", "Estimated compiled code in memory, in bytes.", stat(func(s runtime.CodeStats) int64 { return s.Bytes })),
		m.GaugeFunc("wedge_code_budget_bytes", "The compiled-code budget (--code-budget).", stat(func(s runtime.CodeStats) int64 { return s.Budget })),
		m.GaugeFunc("wedge_code_modules", "Compiled modules known to the runtime.", stat(func(s runtime.CodeStats) int64 { return int64(s.Modules) })),
		m.GaugeFunc("wedge_code_resident_modules", "Compiled modules whose code is in memory.", stat(func(s runtime.CodeStats) int64 { return int64(s.Resident) })),
		m.CounterFunc("wedge_code_evictions_total", "Modules whose code was closed to stay within the budget.", stat(func(s runtime.CodeStats) int64 { return s.Evictions })),
		m.CounterFunc("wedge_code_reloads_total", "Modules whose code was loaded again after an eviction.", stat(func(s runtime.CodeStats) int64 { return s.Reloads })),
		m.CounterFunc("wedge_code_compiled_total", "Modules compiled to machine code by this node.", stat(func(s runtime.CodeStats) int64 { return s.Compiled })),
		m.CounterFunc("wedge_code_cache_loads_total", "Modules whose machine code was loaded from the disk cache instead of compiled.", stat(func(s runtime.CodeStats) int64 { return s.CacheLoads })),
		m.CounterFunc("wedge_code_imported_total", "Compiled code files received from the node that compiled them.", stat(func(s runtime.CodeStats) int64 { return s.Imported })),
		m.CounterFunc("wedge_instance_resets_total", "Pooled instances returned to their image after a request.", func() float64 { n, _ := rt.ResetStats(); return float64(n) }),
		m.CounterFunc("wedge_instance_reset_scans_total", "Resets that asked the kernel which pages the request made private (the others knew they were the same as before).", func() float64 { _, n := rt.ResetStats(); return float64(n) }),
	)
}
