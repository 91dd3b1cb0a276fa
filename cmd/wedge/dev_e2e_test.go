package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

// devProc is a running `wedge dev`.
type devProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	out    *lockedBuffer // stdout and stderr
	exited chan struct{}
}

// startDev starts `wedge dev DIR` on a free port, with env added to the
// test's environment, and waits until it serves.
func startDev(t *testing.T, dir string, env ...string) *devProc {
	t.Helper()
	d := &devProc{t: t, addr: freeAddr(t), out: &lockedBuffer{}, exited: make(chan struct{})}
	_, port, _ := net.SplitHostPort(d.addr)
	d.cmd = exec.Command(wedgeBin(t), "dev", dir, "--port", port)
	d.cmd.Env = append(append(os.Environ(), "GOFLAGS=-mod=vendor", "GOPROXY=off"), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(d.stop)
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(d.out.String(), "wedge dev: serving") {
		select {
		case <-d.exited:
			t.Fatalf("wedge dev exited:\n%s", d.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("wedge dev not serving after 90s:\n%s", d.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// stop interrupts wedge dev and waits for it to exit.
func (d *devProc) stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		d.t.Errorf("wedge dev did not stop within 15s of SIGTERM")
	}
}

// get requests path from the dev server.
func (d *devProc) get(path string) (*http.Response, string) {
	d.t.Helper()
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitBody polls path until it answers 200 with want, and returns how long
// that took.
func (d *devProc) waitBody(path, want string, timeout time.Duration) time.Duration {
	d.t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		resp, err := http.Get("http://" + d.addr + path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %q", resp.StatusCode, b)
			if resp.StatusCode == 200 && string(b) == want {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("%s never answered %q within %v (last: %s)\n%s", path, want, timeout, last, d.out)
	return 0
}

// waitOutput waits until wedge dev has printed s.
func (d *devProc) waitOutput(s string) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.out.String(), s) {
		if time.Now().After(deadline) {
			d.t.Fatalf("wedge dev never printed %q:\n%s", s, d.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDevParity: wedge dev runs a worker as production does — its KV
// binding (kept in the project's .wedge across restarts), the edge cache,
// the default CPU limit, the caps on [limits] — and logs each request with
// its CPU time and the worker's lines; unlike production, fetch may reach
// loopback.
func TestDevParity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test guest and runs the real binary; skipped in -short mode")
	}
	guest := testwasm.Build(t, "internal/testguest")
	toml := "name = \"guest\"\nmain = \"worker.wasm\"\n[vars]\nGREETING = \"dev\"\n[[kv_namespaces]]\nbinding = \"COUNTS\"\n"
	dir := project(t, guest, toml)
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from a local service\n")
	}))
	defer local.Close()

	d := startDev(t, dir)
	for i, want := range []string{"count=1\n", "count=2\n"} {
		if resp, body := d.get("/kv?op=incr&key=visits"); resp.StatusCode != 200 || body != want {
			t.Fatalf("incr %d: %d %q, want %q\n%s", i, resp.StatusCode, body, want, d.out)
		}
	}
	t.Run("edge cache", func(t *testing.T) {
		if _, body := d.get("/cache-put?url=http://example.com/x&cc=max-age=60&body=cached"); body != "put body=cached\n" {
			t.Fatalf("cache put: %q", body)
		}
		if _, body := d.get("/cache-match?url=http://example.com/x"); !strings.HasPrefix(body, "hit status=200") || !strings.HasSuffix(body, "body=cached\n") {
			t.Errorf("cache match: %q", body)
		}
	})
	t.Run("fetch to loopback", func(t *testing.T) {
		resp, body := d.get("/fetch?url=" + local.URL + "/")
		if resp.StatusCode != 200 || body != "from a local service\n" {
			t.Errorf("fetch %s in dev: %d %q", local.URL, resp.StatusCode, body)
		}
	})
	t.Run("cpu limit", func(t *testing.T) {
		resp, _ := d.get("/loop")
		if resp.StatusCode != 503 || resp.Header.Get("Wedge-Error") != "cpu-limit" {
			t.Errorf("/loop: %d %q, want 503 cpu-limit", resp.StatusCode, resp.Header.Get("Wedge-Error"))
		}
	})
	t.Run("request log", func(t *testing.T) {
		d.get("/log")
		d.waitOutput("  | hello from stderr\n")
		out := d.out.String()
		for _, want := range []string{"GET /log → 200 in ", "GET /loop → 503 in ", "(Wedge-Error: cpu-limit)", "  | hello from stdout\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("dev output lacks %q:\n%s", want, out)
			}
		}
		line := out[strings.Index(out, "GET /log → 200"):]
		line = line[:strings.IndexByte(line, '\n')]
		line = strings.TrimSuffix(line, " (interpreted)") // before the compiled code is in
		if !strings.Contains(line, ", cpu ") || !strings.HasSuffix(line, "s") {
			t.Errorf("no CPU time in %q", line)
		}
	})
	t.Run("limits over the caps", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "wedge.toml"), []byte(toml+"[limits]\ncpu_ms = 100\n"), 0o644)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, body := d.get("/env?key=GREETING")
			if resp.StatusCode == 500 && resp.Header.Get("Wedge-Error") == "build-failed" {
				if !strings.Contains(body, "limits.cpu_ms = 100 is more than this host allows (50)") {
					t.Errorf("error page: %s", body)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cpu_ms = 100 was not refused: %d %q\n%s", resp.StatusCode, body, d.out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		d.waitOutput("limits.cpu_ms = 100 is more than this host allows (50)")
		os.WriteFile(filepath.Join(dir, "wedge.toml"), []byte(toml+"[limits]\ncpu_ms = 40\n"), 0o644)
		d.waitBody("/env?key=GREETING", "dev\n", 30*time.Second)
	})

	// KV lives in the project's .wedge: a new session counts on.
	d.stop()
	d2 := startDev(t, dir)
	if resp, body := d2.get("/kv?op=incr&key=visits"); resp.StatusCode != 200 || body != "count=3\n" {
		t.Errorf("after a restart: %d %q, want count=3\n%s", resp.StatusCode, body, d2.out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".wedge", "wedge.db")); err != nil {
		t.Errorf("no store in the project's .wedge: %v", err)
	}
}

// TestDevC: a C worker from `wedge init --template c`, built by its
// [build] command, served by wedge dev and reloaded when worker.c changes.
func TestDevC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "hello-c")
	out, err := exec.Command(wedgeBin(t), "init", "--template", "c", dir).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "a C worker needs clang") {
			t.Skipf("no C toolchain for WebAssembly here: %s", out)
		}
		t.Fatalf("wedge init --template c: %v\n%s", err, out)
	}
	if out, err := exec.Command(wedgeBin(t), "build", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), "build/worker.wasm") {
		t.Fatalf("wedge build: %v\n%s", err, out)
	}
	d := startDev(t, dir)
	d.waitBody("/x", "Hello from /x\n", 10*time.Second)
	src, err := os.ReadFile(filepath.Join(dir, "worker.c"))
	if err != nil {
		t.Fatal(err)
	}
	src = []byte(strings.Replace(string(src), `"Hello from "`, `"Howdy from "`, 1))
	if err := os.WriteFile(filepath.Join(dir, "worker.c"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	// Reported, not asserted: the machines are shared and noisy.
	took := d.waitBody("/x", "Howdy from /x\n", 10*time.Second)
	t.Logf("a C worker reloads %v after an edit", took)
}

// TestDevReloadGo edits a Go worker from `wedge init` again and again and
// reports how long each edit takes to answer, from the save to the new
// body (p50 and max): wedge dev serves each build interpreted at first,
// then swaps in its compiled code, after which requests run compiled.
func TestDevReloadGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go workers and runs the real binary; skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "hello")
	if out, err := exec.Command(wedgeBin(t), "init", dir).CombinedOutput(); err != nil {
		t.Fatalf("wedge init: %v\n%s", err, out)
	}
	d := startDev(t, dir)
	d.waitBody("/x", "Hello from /x\n", 30*time.Second)
	const edits = 10
	main := filepath.Join(dir, "main.go")
	from := `"Hello from %s\n"`
	var took []time.Duration
	for i := range edits {
		// As a developer would: the next edit once this one is compiled.
		d.waitCount("runs compiled code now", i+1, 60*time.Second)
		src, err := os.ReadFile(main)
		if err != nil {
			t.Fatal(err)
		}
		to := fmt.Sprintf(`"Edit %d from %%s\n"`, i)
		if !strings.Contains(string(src), from) {
			t.Fatalf("main.go has no %s:\n%s", from, src)
		}
		if err := os.WriteFile(main, []byte(strings.Replace(string(src), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		from = to
		took = append(took, d.waitBody("/x", fmt.Sprintf("Edit %d from /x\n", i), 30*time.Second))
	}
	// Reported, not asserted: the machines are shared and noisy.
	slices.Sort(took)
	t.Logf("a Go worker reloads %v (p50), %v (max) after an edit, over %d edits", took[len(took)/2], took[len(took)-1], edits)

	// The last version runs compiled code once the compiler is done, and
	// the log says which requests ran interpreted.
	d.waitCount("runs compiled code now", edits+1, 60*time.Second)
	d.get("/after-compiled")
	d.waitOutput("GET /after-compiled → 200")
	out := d.out.String()
	line := out[strings.Index(out, "GET /after-compiled → 200"):]
	line = line[:strings.IndexByte(line, '\n')]
	if strings.Contains(line, "(interpreted)") {
		t.Errorf("a request after the compiled code came in is logged as interpreted: %q", line)
	}
	if !strings.Contains(out, "(interpreted)") {
		t.Errorf("no request logged as interpreted, yet each version is served interpreted first:\n%s", out)
	}
}

// waitCount waits until wedge dev has printed s n times.
func (d *devProc) waitCount(s string, n int, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(d.out.String(), s) < n {
		if time.Now().After(deadline) {
			d.t.Fatalf("wedge dev printed %q fewer than %d times within %v:\n%s", s, n, timeout, d.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
