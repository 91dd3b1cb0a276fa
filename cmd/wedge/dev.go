package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cli"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
	"github.com/wedgeworks/wedge/store"
	"github.com/wedgeworks/wedge/tail"
)

const devUsage = `Usage: wedge dev [DIR] [--port P]

Dev builds the worker project in DIR (default: the current directory),
serves it on http://127.0.0.1:P/ (default port 8787) for any Host, and
rebuilds and reloads it whenever a file in DIR changes. A failed build
shows its errors in the terminal, and as the page every request gets
(it reloads itself) until a build succeeds.

As in production, with wedge serve's default caps: each build goes
through the deploy pipeline of the API (validated, compiled, refused with
the same message as wedge deploy when its [limits] ask for more than
cpu_ms 50, wall_ms 30000, memory_mb 128 or subrequests 50), and runs with
its own limits, the edge cache (wedge.Cache) and the KV namespaces that
wedge.toml binds. KV and compiled code live in DIR/.wedge: KV survives
restarts (it is tenant "dev"'s, apart from any wedge serve's).

Unlike production: the worker's fetch may reach loopback addresses
(127.0.0.0/8 and ::1), so that it can call services on this machine;
wedge serve refuses them unless its --egress-allow names them. Responses
carry Server-Timing. Each request is logged on stdout: method, path,
status, wall time and CPU time, then the lines the worker logged.

A build is served within moments of the save: interpreted at first, while
the compiler works on it in the background (a second or two for a Go
worker), then compiled, as in production. Interpreted requests behave
the same, only slower, under the same limits: one that passes interpreted
passes deployed, and its log line says "(interpreted)".

Flags:
`

// devTenant is the tenant the dev server deploys into.
const devTenant = "dev"

// devDebounce is how long after a change to the project the build starts,
// unless another change comes first.
const devDebounce = 25 * time.Millisecond

// devEgress is what the worker's fetch may reach in dev besides public
// addresses: this machine.
var devEgress = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func devCommand(ctx context.Context, env cli.Env, args []string) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	port := fs.Int("port", 8787, "port to serve on, on 127.0.0.1")
	fs.Usage = func() {
		fmt.Fprint(env.Stdout, devUsage)
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
	}
	// Flags may come before or after DIR.
	var dir string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return cli.ExitOK
			}
			return cli.ExitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		if dir != "" {
			fmt.Fprintf(env.Stderr, "error: unexpected argument %q: wedge dev takes one directory\n", fs.Arg(0))
			return cli.ExitUsage
		}
		dir, rest = fs.Arg(0), fs.Args()[1:]
	}
	if dir == "" {
		dir = "."
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d := &devServer{dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), out: env.Stdout, errOut: env.Stderr, log: log}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		return cli.ExitFailed
	}
	return cli.ExitOK
}

type devServer struct {
	dir, addr   string
	out, errOut io.Writer
	log         *slog.Logger

	h        *host
	token    string // the session's operator token, for its own API calls
	name     string
	output   string                 // the module build.command writes (absolute), or ""
	buildErr atomic.Pointer[string] // the last build's error, nil when it succeeded
	mu       sync.Mutex             // one build at a time
	outMu    sync.Mutex             // one request's lines at a time
	stopWait context.CancelFunc     // ends the wait for the served version's compiled code; under mu
	built    bool                   // a build succeeded; under mu
	// compiledSince holds, for each version deployed, when it began to
	// run compiled code: zero while it runs interpreted (see
	// runtime.Config.InterpretFirst). Under outMu.
	compiledSince map[int]time.Time
}

func (d *devServer) run(ctx context.Context) error {
	cfg, err := cli.LoadConfig(d.dir)
	if err != nil {
		return err
	}
	d.name = cfg.Name
	if cfg.Build.Command != "" {
		if d.output, err = filepath.Abs(filepath.Join(d.dir, cfg.Main)); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another wedge dev running? use --port)", d.addr, err)
	}
	// The control plane is on, unlistened: builds are deployed through
	// its API handler, as wedge deploy's uploads are in production. Its
	// operator token lives as long as this session and is never shown.
	d.token = control.NewOperatorToken()
	d.h, err = newHost(ctx, hostConfig{
		dataDir: filepath.Join(d.dir, ".wedge"), serverTiming: true, log: d.log,
		egressAllow: devEgress, control: true, adminToken: d.token, stderr: d.errOut,
		// A build is served interpreted until the compiler is done with
		// it, in the background: a reload waits for the build and the
		// interpreter (~0.25 s for a Go worker), not the compiler (~2 s).
		interpret: true,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer d.h.close(context.WithoutCancel(ctx))
	// The edge: the host's, but with a tail hub of our own, whose events
	// give each request's CPU time and the worker's log lines.
	hub := tail.New()
	defer hub.Close()
	e := edge.New(edge.Config{
		Zone: d.h.cfg.zone, ServerTiming: true, Logger: d.log, Metrics: d.h.metrics, Tail: hub,
		Egress: hostapi.EgressConfig{Allow: d.h.cfg.egressAllow}, Cache: d.h.cache, KV: storeKV{d.h.store},
	}, d.h.sched)
	d.h.edge, d.h.rec.edge = e, e
	d.h.rec.fallback = func(ws map[workerKey]*scheduler.Worker) *scheduler.Worker {
		return ws[workerKey{devTenant, d.name}]
	}
	// Start from a clean slate: only this session's builds are versions.
	err = d.h.store.CreateTenant(ctx, store.Tenant{Name: devTenant, TokenHash: control.HashToken(control.NewOperatorToken()), Created: time.Now().UTC()})
	if err != nil && !errors.Is(err, store.ErrExists) {
		ln.Close()
		return err
	}
	if err := d.h.store.DeleteWorker(ctx, devTenant, d.name); err != nil && !errors.Is(err, store.ErrNotFound) {
		ln.Close()
		return err
	}
	events := d.h.store.Watch(ctx)
	go d.h.rec.run(ctx, events)
	sub := hub.Subscribe(devTenant, d.name)
	defer sub.Close()
	go d.printRequests(sub)

	d.rebuild(ctx)
	// Watch before saying so: an edit saved right after the message must
	// not be missed.
	w, err := d.startWatch()
	if err != nil {
		fmt.Fprintf(d.errOut, "wedge dev: cannot watch for changes: %v\n", err)
	} else {
		go d.watch(ctx, w)
	}
	fmt.Fprintf(d.out, "wedge dev: serving %s on http://%s/ — watching %s for changes (Ctrl-C to stop)\n", d.name, ln.Addr(), d.dir)
	return serveHTTP(ctx, ln, d, d.log, 2*time.Second)
}

// rebuild builds the project and deploys the result, or records the error.
func (d *devServer) rebuild(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The compiler's work on the version served now waits: the build and
	// the interpreted start of the next one need the CPU more.
	defer d.h.rt.PauseCompiling()()
	start := time.Now()
	dep, err := d.deploy(ctx)
	if err != nil {
		msg := err.Error()
		d.buildErr.Store(&msg)
		d.outMu.Lock()
		fmt.Fprintf(d.errOut, "wedge dev: build failed:\n%s\n", msg)
		d.outMu.Unlock()
		return
	}
	d.buildErr.Store(nil)
	took := time.Since(start)
	// The version served before is replaced: stop waiting for its code,
	// so that the runtime may stop compiling it.
	if d.stopWait != nil {
		d.stopWait()
		d.stopWait = nil
	}
	note := ""
	d.outMu.Lock()
	if d.compiledSince == nil {
		d.compiledSince = make(map[int]time.Time)
	}
	d.compiledSince[dep.version] = start
	if dep.module != nil {
		note = "; interpreted until compiled"
		d.compiledSince[dep.version] = time.Time{}
		wctx, cancel := context.WithCancel(ctx)
		d.stopWait = cancel
		go d.reportCompiled(wctx, dep, start)
	}
	fmt.Fprintf(d.out, "wedge dev: built and loaded %s (version %d) in %s (build %s, deploy %s%s)\n", d.name, dep.version,
		took.Round(time.Millisecond), dep.build.Round(time.Millisecond), (took - dep.build).Round(time.Millisecond), note)
	d.outMu.Unlock()
}

// reportCompiled notes when the version deployed runs compiled code,
// unless another version replaces it first (ctx is canceled).
func (d *devServer) reportCompiled(ctx context.Context, dep deployed, start time.Time) {
	defer dep.module.Release()
	if dep.module.WaitCompiled(ctx) != nil {
		return
	}
	d.outMu.Lock()
	d.compiledSince[dep.version] = time.Now()
	fmt.Fprintf(d.out, "wedge dev: version %d runs compiled code now, %s after its build began\n", dep.version, time.Since(start).Round(time.Millisecond))
	d.outMu.Unlock()
}

// ranInterpreted reports whether the request of ev ran on the interpreter:
// its version's compiled code was not ready when it started. A version not
// yet recorded is being deployed, which serves it before the deploy
// returns: interpreted, as every build is at first unless it cannot be
// instrumented. outMu is held.
func (d *devServer) ranInterpreted(ev tail.Event) bool {
	compiled, ok := d.compiledSince[ev.Version]
	return !ok || compiled.IsZero() || ev.Time.Before(compiled)
}

// deployed is what a build deployed.
type deployed struct {
	version int
	build   time.Duration // how long the build took
	// module, when the runtime runs it interpreted until its compiled
	// code is ready; the caller must release it.
	module *runtime.Module
}

// deploy builds the project and deploys the module through the control
// plane's API handler, which validates its settings against the caps,
// compiles it and returns once the edge serves it.
func (d *devServer) deploy(ctx context.Context) (deployed, error) {
	var dep deployed
	cfg, err := cli.LoadConfig(d.dir)
	if err != nil {
		return dep, err
	}
	if cfg.Name != d.name {
		return dep, fmt.Errorf("wedge.toml: the name changed from %q to %q: restart wedge dev", d.name, cfg.Name)
	}
	var buildLog strings.Builder
	start := time.Now()
	build := cli.Build
	if d.built {
		build = cli.Rebuild // the Go build cache is warm
	}
	path, err := build(ctx, d.dir, &buildLog, &buildLog)
	dep.build = time.Since(start)
	if err != nil {
		if buildLog.Len() > 0 {
			return dep, fmt.Errorf("%w\n%s", err, buildLog.String())
		}
		return dep, err
	}
	d.built = true
	wasm, err := os.ReadFile(path)
	if err != nil {
		return dep, err
	}
	body, contentType, err := uploadBody(wasm, cfg.Settings())
	if err != nil {
		return dep, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "/v1/tenants/"+devTenant+"/workers/"+d.name, bytes.NewReader(body))
	if err != nil {
		return dep, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+d.token)
	rec := &responseBuffer{header: http.Header{}}
	d.h.control.ServeHTTP(rec, req)
	if rec.status/100 != 2 {
		var eb api.ErrorBody
		if json.Unmarshal(rec.body.Bytes(), &eb) == nil && eb.Error.Message != "" {
			return dep, fmt.Errorf("the deploy was refused, as wedge deploy's would be: %s (%s)", eb.Error.Message, eb.Error.Code)
		}
		return dep, fmt.Errorf("the deploy was refused: HTTP %d %s", rec.status, strings.TrimSpace(rec.body.String()))
	}
	var res api.DeployResult
	if err := json.Unmarshal(rec.body.Bytes(), &res); err != nil {
		return dep, fmt.Errorf("the deploy's answer: %w", err)
	}
	dep.version = res.Version
	// The module the deploy compiled, from the runtime's table (the same
	// bytes give the same module): is it interpreted for now?
	if m, err := d.h.rt.Compile(ctx, wasm); err == nil {
		if m.Interpreted() {
			dep.module = m
		} else {
			m.Release()
		}
	}
	return dep, nil
}

// uploadBody is the multipart/form-data body of a deploy, as wedge deploy
// sends it: the settings in part "metadata", the module in part "module".
func uploadBody(module []byte, settings api.WorkerSettings) ([]byte, string, error) {
	meta, err := json.Marshal(settings)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range []struct {
		name, contentType string
		data              []byte
	}{{"metadata", "application/json", meta}, {"module", "application/wasm", module}} {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf("form-data; name=%q", p.name))
		h.Set("Content-Type", p.contentType)
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(p.data); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// responseBuffer is an http.ResponseWriter that keeps the response: the
// control plane's answers to the dev server's own calls.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseBuffer) Header() http.Header { return r.header }

func (r *responseBuffer) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *responseBuffer) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// startWatch watches the project's directories.
func (d *devServer) startWatch() (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	addTree(w, d.dir)
	return w, nil
}

// addTree watches root and the directories under it, but the skipped ones.
func addTree(w *fsnotify.Watcher, root string) {
	filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		if path != root && skipDir(e.Name()) {
			return filepath.SkipDir
		}
		w.Add(path)
		return nil
	})
}

// watch rebuilds on changes to the project's files, until ctx is done.
func (d *devServer) watch(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	var timer *time.Timer
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-w.Errors:
			fmt.Fprintf(d.errOut, "wedge dev: watch: %v\n", err)
		case ev := <-w.Events:
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !skipDir(filepath.Base(ev.Name)) {
					addTree(w, ev.Name)
				}
			}
			if !relevant(ev.Name) || d.isOutput(ev.Name) {
				continue
			}
			// Editors write in bursts (truncate and write, or write a
			// temporary file and rename it), microseconds apart: build
			// once the burst is over.
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(devDebounce, func() { d.rebuild(ctx) })
		}
	}
}

// isOutput reports whether path is the module that build.command writes:
// writing it must not start another build.
func (d *devServer) isOutput(path string) bool {
	if d.output == "" {
		return false
	}
	abs, err := filepath.Abs(path)
	return err == nil && abs == d.output
}

func skipDir(name string) bool {
	return name == "build" || name == ".wedge" || name == ".git" || name == "node_modules" || (strings.HasPrefix(name, ".") && name != ".")
}

func relevant(path string) bool {
	base := filepath.Base(path)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") {
		return false
	}
	switch filepath.Ext(base) {
	case ".go", ".toml", ".mod", ".sum", ".wasm", ".c", ".h", ".s", ".tmpl", ".html", ".json", ".txt":
		return true
	}
	return false
}

// ServeHTTP serves the worker, or the build error as a page. The worker's
// requests are logged by printRequests.
func (d *devServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if msg := d.buildErr.Load(); msg != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Wedge-Error", "build-failed")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "<!doctype html><title>Build failed</title><style>body{font:14px system-ui;margin:2em}pre{background:#fee;padding:1em;white-space:pre-wrap}</style><h1>%s: build failed</h1><pre>%s</pre><p>Fix the error and save: the page reloads after the next build.</p><script>setTimeout(()=>location.reload(),1500)</script>", html.EscapeString(d.name), html.EscapeString(*msg))
		d.outMu.Lock()
		fmt.Fprintf(d.out, "%s %s → 500 (build failed)\n", r.Method, r.URL.RequestURI())
		d.outMu.Unlock()
		return
	}
	d.h.edge.ServeHTTP(w, r)
}

// printRequests prints a line per request the worker served: method,
// path, status, wall and CPU time, then the lines the worker logged and
// the error that failed it.
func (d *devServer) printRequests(sub *tail.Sub) {
	var dropped int64
	for ev := range sub.C {
		var b strings.Builder
		if n := sub.Dropped(); n > dropped {
			fmt.Fprintf(&b, "wedge dev: %d request lines lost (too many requests at once)\n", n-dropped)
			dropped = n
		}
		fmt.Fprintf(&b, "%s %s → %d in %s, cpu %s", ev.Method, ev.URL, ev.Status,
			(time.Duration(ev.WallMicros) * time.Microsecond).String(), (time.Duration(ev.CPUMicros) * time.Microsecond).String())
		if ev.Subrequests > 0 {
			fmt.Fprintf(&b, ", %d fetches", ev.Subrequests)
		}
		if ev.Code != "" {
			fmt.Fprintf(&b, " (Wedge-Error: %s)", ev.Code)
		}
		d.outMu.Lock()
		interpreted := d.ranInterpreted(ev)
		if interpreted {
			b.WriteString(" (interpreted)")
		}
		b.WriteByte('\n')
		for _, l := range ev.Logs {
			fmt.Fprintf(&b, "  | %s\n", l)
		}
		if ev.Error != "" {
			fmt.Fprintf(&b, "  ! %s\n", ev.Error)
		}
		if interpreted && interpreterBound(ev) {
			b.WriteString("  ! it ran on the interpreter, which is slower than the compiled code that serves it in a moment\n" +
				"    and in production, and has a shallower call stack (2000 calls): the limits are the same, so\n" +
				"    a request that passes interpreted passes deployed, but this one may pass compiled: send it\n" +
				"    again once the version runs compiled code\n")
		}
		io.WriteString(d.out, b.String())
		d.outMu.Unlock()
	}
}

// interpreterBound reports whether a request that ran interpreted failed
// in a way the compiled code may not: out of CPU or wall time, or out of
// the interpreter's call stack.
func interpreterBound(ev tail.Event) bool {
	switch api.Code(ev.Code) {
	case api.CodeCPULimit, api.CodeWallTime:
		return true
	case api.CodeWorkerTrap:
		return strings.Contains(ev.Error, "stack overflow")
	}
	return false
}
