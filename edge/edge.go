package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/metrics"
	"github.com/wedgeworks/wedge/scheduler"
	"github.com/wedgeworks/wedge/tail"
)

// Config configures an Edge. The zero value is valid.
type Config struct {
	// Zone is the domain under which W.T.Zone reaches worker W of tenant T.
	// Empty means "wedge.localhost".
	Zone string
	// ServerTiming adds a Server-Timing header (instantiate, exec, total,
	// in milliseconds up to the moment the head is sent) to worker responses.
	ServerTiming bool
	// MaxBodyBytes caps request bodies; zero means 100 MiB.
	MaxBodyBytes int64
	// Logger receives request errors and the workers' output. Nil: slog.Default().
	Logger *slog.Logger
	// Metrics records requests; nil records nothing.
	Metrics *metrics.Metrics
	// Egress configures the workers' outbound requests (wedge.Fetch): the
	// zero value lets them reach globally routable addresses only;
	// Egress.Allow opens more ranges (--egress-allow).
	Egress hostapi.EgressConfig
	// Cache is the edge cache that workers use through wedge.Cache(),
	// shared by all tenants (each sees only its own entries). Nil means
	// none: Match always misses, Put stores nothing and Cache().Fetch
	// goes to the origin every time (no coalescing).
	Cache *cache.Cache
	// KV is the tenants' key-value store behind wedge.KV; nil: none.
	KV hostapi.KV
	// SourceRate limits the requests one client address (IPv6: one /64)
	// may make per second across all workers, bursts of SourceBurst (zero:
	// one second's worth); beyond it, 429 rate-limited. Zero: no limit.
	SourceRate  float64
	SourceBurst int
	// OnRateLimited, if set, is called with the client's address whenever
	// a request is answered rate-limited (by its source's or its tenant's
	// limit): the packet filter's escalation counts them.
	OnRateLimited func(src netip.Addr)
	// Tail receives an event per request of every worker someone tails
	// (wedge tail); nil: none.
	Tail *tail.Hub
}

// DefaultZone is the zone used when Config.Zone is empty.
const DefaultZone = "wedge.localhost"

// Edge routes and serves requests to workers.
type Edge struct {
	zone         string
	serverTiming bool
	maxBody      int64
	log          *slog.Logger
	metrics      *metrics.Metrics
	egress       *hostapi.Egress
	cache        *cache.Cache
	kv           hostapi.KV
	sources      *sourceLimiter // nil: no per-source limit
	limited      func(netip.Addr)
	tail         *tail.Hub
	sched        *scheduler.Scheduler
	table        atomic.Pointer[Table]
}

// New returns an Edge that runs workers with s. It routes nothing until
// SetWorkers is called.
func New(cfg Config, s *scheduler.Scheduler) *Edge {
	e := &Edge{
		zone:         strings.ToLower(strings.TrimSuffix(cfg.Zone, ".")),
		serverTiming: cfg.ServerTiming,
		maxBody:      cfg.MaxBodyBytes,
		log:          cfg.Logger,
		metrics:      cfg.Metrics,
		egress:       hostapi.NewEgress(cfg.Egress),
		cache:        cfg.Cache,
		kv:           cfg.KV,
		sources:      newSourceLimiter(cfg.SourceRate, cfg.SourceBurst),
		limited:      cfg.OnRateLimited,
		tail:         cfg.Tail,
		sched:        s,
	}
	if e.zone == "" {
		e.zone = DefaultZone
	}
	if e.maxBody <= 0 {
		e.maxBody = 100 << 20
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.table.Store(&Table{})
	return e
}

// Zone returns the domain of the workers' default names.
func (e *Edge) Zone() string { return e.zone }

// Host returns the default hostname of worker w of tenant t.
func (e *Edge) Host(tenant, worker string) string {
	return worker + "." + tenant + "." + e.zone
}

// Table is an immutable routing table.
type Table struct {
	hosts    map[string]*scheduler.Worker // the default names, W.T.ZONE
	routes   *routeTable                  // the workers' custom routes
	fallback *scheduler.Worker
}

// SetWorkers replaces the routing table with one that routes to workers;
// fallback, if not nil, answers every host no worker claims (the dev
// server's single worker). Requests already routed finish on the worker
// they started on.
func (e *Edge) SetWorkers(workers []*scheduler.Worker, fallback *scheduler.Worker) {
	t := &Table{hosts: make(map[string]*scheduler.Worker, len(workers)), fallback: fallback}
	for _, w := range workers {
		t.hosts[e.Host(w.Tenant, w.Name)] = w
	}
	t.routes = newRouteTable(workers)
	e.table.Store(t)
}

// lookup finds the worker for a Host header value and a path: the worker
// whose default name it is, else the most specific custom route.
func (e *Edge) lookup(host, path string) *scheduler.Worker {
	t := e.table.Load()
	host = normalizeHost(host)
	if w, ok := t.hosts[host]; ok {
		return w
	}
	if w := t.routes.match(host, path); w != nil {
		return w
	}
	return t.fallback
}

// normalizeHost strips the port and a trailing dot and lower-cases.
func normalizeHost(host string) string {
	if strings.IndexByte(host, ':') >= 0 { // SplitHostPort's error for no port is an allocation
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// ServeHTTP implements http.Handler.
func (e *Edge) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if e.sources != nil {
		if src, ok := sourceOf(r); ok && !e.sources.allow(src, start) {
			e.rateLimited(r)
			writeError(rw, api.CodeRateLimited, "too many requests from your address: slow down")
			return
		}
	}
	for attempt := 0; ; attempt++ {
		w := e.lookup(r.Host, r.URL.Path)
		if w == nil {
			writeError(rw, api.CodeNoRoute, "no worker answers at "+normalizeHost(r.Host))
			return
		}
		if e.serve(rw, r, w, start) || attempt == 2 {
			// The response waits in the connection's buffer for
			// net/http's flush when this returns. Let the other
			// requests that are ready run their guests first: under
			// load the guests then run back to back, and so do the
			// flushes, each stage on warm caches, and a client on the
			// same host wakes once per burst of responses instead of
			// once per response. With nothing else ready this costs
			// a trip through the scheduler (see RATIONALE.md,
			// "Guests first, then the flushes").
			goruntime.Gosched()
			return
		}
		// The worker was replaced between lookup and run: route again.
	}
}

// writeBuffer is how much response body the servers' response writers
// take before their first flush without writing to the connection
// (net/http's HTTP/1: 2 KiB, HTTP/2: 4 KiB; quic-go's HTTP/3: 4 KiB): a
// guest's writes within it cannot block, and do not pause its meter or
// give its place on the CPU up (hostapi.Request.Buffered).
const writeBuffer = 2048

// serve runs w for one request; false means w went stale before it ran.
func (e *Edge) serve(rw http.ResponseWriter, r *http.Request, w *scheduler.Worker, start time.Time) bool {
	if r.ContentLength > e.maxBody {
		e.fail(rw, nil, w, api.NewError(api.CodeBodyTooLarge, "the request body is larger than "+strconv.FormatInt(e.maxBody, 10)+" bytes", nil), start, 0)
		return true
	}
	// c.meter is the request's CPU meter: blocking hostcalls pause it (and
	// give the guest's place on the CPU up) while the guest waits.
	c := &call{start: start}
	c.req = hostapi.Request{
		W: rw, R: r, MaxBody: e.maxBody, Buffered: writeBuffer, Pauser: &c.meter,
		Tenant: w.Tenant, Egress: e.egress, Cache: e.cache, MaxSubrequests: w.Limits.Subrequests,
		KV: e.kv, KVBindings: w.KVBindings,
	}
	req := &c.req
	defer req.Close() // what the guest left open: round trips, response bodies
	c.logs = lineLogger{log: e.log, tenant: w.Tenant, worker: w.Name}
	logs := &c.logs
	tailing := e.tail.Active(w.Tenant, w.Name)
	logs.capture = tailing
	rc := scheduler.RunConfig{Meter: &c.meter, Stdout: logs, Stderr: logs}
	if e.serverTiming {
		req.BeforeHead = c.serverTiming
		rc.OnReady = c.ready
	}
	res, err := e.sched.Run(hostapi.NewContext(r.Context(), req), w, rc)
	logs.flush()
	if res.CPU > 0 {
		e.metrics.RequestCPU(w.Tenant, w.Name, res.CPU)
	}
	if errors.Is(err, scheduler.ErrStale) {
		return false
	}
	if herr := req.Err(); herr != nil {
		err = herr
	}
	if tailing {
		e.publish(r, w, req, res, err, start, logs.lines)
	}
	if err != nil {
		e.fail(rw, req, w, err, start, res.Instantiate)
		return true
	}
	req.Finish()
	e.metrics.Request(w.Tenant, w.Name, req.Status(), "", time.Since(start), res.Instantiate)
	return true
}

// call is the edge's side of one request, in one allocation.
type call struct {
	meter       scheduler.Meter
	req         hostapi.Request
	logs        lineLogger
	start       time.Time
	instantiate time.Duration // Server-Timing's, when on
	execStart   time.Time
}

// ready is the RunConfig's OnReady: the instance is ready, the guest runs.
func (c *call) ready(d time.Duration) {
	c.instantiate = d
	c.execStart = time.Now()
}

// serverTiming is the Request's BeforeHead when Server-Timing is on.
func (c *call) serverTiming(h http.Header) {
	now := time.Now()
	exec := time.Duration(0)
	if !c.execStart.IsZero() {
		exec = now.Sub(c.execStart)
	}
	h.Set("Server-Timing", "instantiate;dur="+ms(c.instantiate)+", exec;dur="+ms(exec)+", total;dur="+ms(now.Sub(c.start)))
}

// fail answers with the error's Wedge-Error code, or aborts the response
// when its head is already out.
func (e *Edge) fail(rw http.ResponseWriter, req *hostapi.Request, w *scheduler.Worker, err error, start time.Time, instantiate time.Duration) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	code := api.CodeOf(err)
	if code == api.CodeRateLimited {
		if req != nil {
			e.rateLimited(req.R)
		}
	}
	level := slog.LevelWarn
	if code == api.CodeRateLimited || code == api.CodeOverloaded {
		level = slog.LevelDebug // one per request under a flood: the metrics count them
	}
	e.log.Log(context.Background(), level, "worker request failed", "tenant", w.Tenant, "worker", w.Name, "version", w.Version, "code", code, "err", err)
	e.metrics.Request(w.Tenant, w.Name, code.Status(), string(code), time.Since(start), instantiate)
	if req != nil && req.HeadSent() {
		panic(http.ErrAbortHandler) // too late for a status: cut the response short
	}
	msg := "the worker failed"
	var ae *api.Error
	if errors.As(err, &ae) && ae.Message != "" {
		msg = ae.Message
	}
	writeError(rw, code, msg)
}

// rateLimited tells OnRateLimited about r's client.
func (e *Edge) rateLimited(r *http.Request) {
	if e.limited == nil {
		return
	}
	if src, ok := sourceOf(r); ok {
		e.limited(src.Addr())
	}
}

// writeError answers a request with a Wedge-Error.
func writeError(rw http.ResponseWriter, code api.Code, msg string) {
	h := rw.Header()
	altSvc := h["Alt-Svc"] // the listener's, not the worker's
	clear(h)
	if altSvc != nil {
		h["Alt-Svc"] = altSvc
	}
	h.Set(api.HeaderError, string(code))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(code.Status())
	io.WriteString(rw, "wedge: "+string(code)+": "+msg+"\n")
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// lineLogger turns a worker's output into one log record per line.
type lineLogger struct {
	log            *slog.Logger
	tenant, worker string
	buf            []byte
	// capture keeps the lines for the tail too, up to tail.MaxLogBytes.
	capture  bool
	lines    []string
	captured int
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 16<<10 {
		l.flush()
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
}

func (l *lineLogger) emit(line []byte) {
	s := string(line)
	l.log.Info("worker log", "tenant", l.tenant, "worker", l.worker, "line", s)
	if l.capture && l.captured < tail.MaxLogBytes {
		if n := tail.MaxLogBytes - l.captured; len(s) > n {
			s = s[:n] + "…"
		}
		l.lines = append(l.lines, s)
		l.captured += len(s)
	}
}

// publish sends a request's event to the worker's tail.
func (e *Edge) publish(r *http.Request, w *scheduler.Worker, req *hostapi.Request, res scheduler.Result, err error, start time.Time, logs []string) {
	ev := tail.Event{
		Time: start.UTC(), Tenant: w.Tenant, Worker: w.Name, Version: w.Version,
		Method: r.Method, URL: r.URL.RequestURI(), Status: req.Status(),
		WallMicros: time.Since(start).Microseconds(), CPUMicros: res.CPU.Microseconds(),
		PeakMemory: res.PeakMemory, Subrequests: req.Subrequests(), Logs: logs,
	}
	switch {
	case errors.Is(err, context.Canceled):
		ev.Error = "the client went away"
	case err != nil:
		code := api.CodeOf(err)
		ev.Code, ev.Error = string(code), err.Error()
		if !req.HeadSent() {
			ev.Status = code.Status()
		}
	case ev.Status == 0:
		ev.Status = http.StatusOK
	}
	e.tail.Publish(ev)
}
