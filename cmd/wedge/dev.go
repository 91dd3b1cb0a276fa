package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wedgeworks/wedge/cli"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/scheduler"
	"github.com/wedgeworks/wedge/store"
)

const devUsage = `usage: wedge dev [DIR] [--port P]

Builds the worker in DIR (default: the current directory), serves it on
http://127.0.0.1:P/ (default port 8787) for any Host, and rebuilds and
reloads it whenever a file in DIR changes. Responses carry Server-Timing.
Limits are the worker's own from wedge.toml, as in production. State lives
in DIR/.wedge.

flags:
`

// devTenant is the tenant the dev server deploys into.
const devTenant = "dev"

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
	name     string
	buildErr atomic.Pointer[string] // the last build's error, nil when it succeeded
	mu       sync.Mutex             // one build at a time
}

func (d *devServer) run(ctx context.Context) error {
	cfg, err := cli.LoadConfig(d.dir)
	if err != nil {
		return err
	}
	d.name = cfg.Name
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another wedge dev running? use --port)", d.addr, err)
	}
	d.h, err = newHost(ctx, hostConfig{dataDir: filepath.Join(d.dir, ".wedge"), serverTiming: true, log: d.log})
	if err != nil {
		ln.Close()
		return err
	}
	defer d.h.close(context.WithoutCancel(ctx))
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

	d.rebuild(ctx)
	fmt.Fprintf(d.out, "wedge dev: serving %s on http://%s/ — watching %s for changes (Ctrl-C to stop)\n", d.name, ln.Addr(), d.dir)
	go d.watch(ctx)
	return serveHTTP(ctx, ln, d, d.log, 2*time.Second)
}

// rebuild builds the project and deploys the result, or records the error.
func (d *devServer) rebuild(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	start := time.Now()
	err := d.deploy(ctx)
	if err != nil {
		msg := err.Error()
		d.buildErr.Store(&msg)
		fmt.Fprintf(d.errOut, "wedge dev: build failed:\n%s\n", msg)
		return
	}
	d.buildErr.Store(nil)
	fmt.Fprintf(d.out, "wedge dev: built and loaded %s in %s\n", d.name, time.Since(start).Round(time.Millisecond))
}

func (d *devServer) deploy(ctx context.Context) error {
	cfg, err := cli.LoadConfig(d.dir)
	if err != nil {
		return err
	}
	if cfg.Name != d.name {
		return fmt.Errorf("wedge.toml: the name changed from %q to %q: restart wedge dev", d.name, cfg.Name)
	}
	var buildLog strings.Builder
	path, err := cli.Build(ctx, d.dir, &buildLog, &buildLog)
	if err != nil {
		if buildLog.Len() > 0 {
			return fmt.Errorf("%w\n%s", err, buildLog.String())
		}
		return err
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	m, err := d.h.rt.Compile(ctx, wasm)
	if err != nil {
		return err
	}
	defer m.Release()
	v, err := d.h.store.Deploy(ctx, devTenant, d.name, wasm, cfg.Settings())
	if err != nil {
		return err
	}
	// Wait until the edge serves it, so that "loaded" is true when printed.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return d.h.rec.waitServing(wctx, devTenant, d.name, v.Number)
}

// watch rebuilds on changes to the project's files.
func (d *devServer) watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		fmt.Fprintf(d.errOut, "wedge dev: cannot watch for changes: %v\n", err)
		return
	}
	defer w.Close()
	addTree := func(root string) {
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
	addTree(d.dir)
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
					addTree(ev.Name)
				}
			}
			if !relevant(ev.Name) {
				continue
			}
			// Editors write in bursts: build once the burst is over.
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(100*time.Millisecond, func() { d.rebuild(ctx) })
		}
	}
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

// ServeHTTP serves the worker, or the build error as a page, and logs a
// line per request.
func (d *devServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if msg := d.buildErr.Load(); msg != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Wedge-Error", "build-failed")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "<!doctype html><title>Build failed</title><style>body{font:14px system-ui;margin:2em}pre{background:#fee;padding:1em;white-space:pre-wrap}</style><h1>%s: build failed</h1><pre>%s</pre><p>Fix the error and save: the page reloads after the next build.</p><script>setTimeout(()=>location.reload(),1500)</script>", html.EscapeString(d.name), html.EscapeString(*msg))
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	d.h.edge.ServeHTTP(rec, r)
	line := fmt.Sprintf("%s %s → %d in %s", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(10*time.Microsecond))
	if code := rec.Header().Get("Wedge-Error"); code != "" {
		line += " (Wedge-Error: " + code + ")"
	}
	fmt.Fprintln(d.out, line)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
