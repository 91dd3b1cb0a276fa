package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

// The tests in this file drive the real binary: they build bin/wedge into
// a temporary directory, start `wedge serve` and use the CLI as a user would.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// wedgeBin builds the wedge binary once per test run.
func wedgeBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wedge-e2e-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "wedge")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

const adminToken = "wo_e2e-operator-token-0123456789"

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running `wedge serve`.
type server struct {
	t          *testing.T
	cmd        *exec.Cmd
	edge, api  string
	data       string
	stderr     *lockedBuffer
	exited     chan struct{}
	readyAfter time.Duration // from start to the ready log line
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, edge: freeAddr(t), api: freeAddr(t), data: data, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	args := append([]string{"serve", "--http", s.edge, "--admin", s.api, "--data", data}, extra...)
	s.cmd = exec.Command(wedgeBin(t), args...)
	s.cmd.Env = append(os.Environ(), "WEDGE_ADMIN_TOKEN="+adminToken)
	pr, pw := io.Pipe()
	s.cmd.Stderr = io.MultiWriter(s.stderr, pw)
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "msg=ready") {
				close(ready)
				signalled = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
		s.readyAfter = time.Since(start)
	case <-s.exited:
		t.Fatalf("wedge serve exited early:\n%s", s.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("wedge serve not ready after 60s:\n%s", s.stderr)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("wedge serve exited with %d after SIGTERM:\n%s", code, s.stderr)
		}
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("wedge serve did not stop within 15s of SIGTERM")
	}
}

// cli runs a wedge CLI command against s and returns stdout, stderr and the exit code.
func (s *server) cli(token, tenant string, args ...string) (string, string, int) {
	s.t.Helper()
	cmd := exec.Command(wedgeBin(s.t), args...)
	cmd.Env = append(os.Environ(), "WEDGE_API=http://"+s.api, "WEDGE_TOKEN="+token, "WEDGE_TENANT="+tenant)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

func (s *server) mustCLI(token, tenant string, args ...string) string {
	s.t.Helper()
	out, errOut, code := s.cli(token, tenant, args...)
	if code != 0 {
		s.t.Fatalf("wedge %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (s *server) createTenant(name string) string {
	s.t.Helper()
	out := s.mustCLI(adminToken, "", "tenant", "create", name, "--json")
	var resp struct{ Token string }
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Token == "" {
		s.t.Fatalf("tenant create %s: %v: %q", name, err, out)
	}
	return resp.Token
}

// get sends a request to the edge with the given Host.
func (s *server) get(host, path string) (*http.Response, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.edge+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// apiDo sends a request to the control-plane API.
func (s *server) apiDo(method, path, token string, body io.Reader) (*http.Response, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.api+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// project writes a worker project around a prebuilt module.
func project(t *testing.T, wasm []byte, toml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "worker.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wedge.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped in -short mode")
	}
	hello := testwasm.Build(t, "examples/hello")
	data := t.TempDir()
	s := startServer(t, data, "--server-timing")

	acme := s.createTenant("acme")
	beta := s.createTenant("beta")

	// Deploy from the example's directory, as a user would: wedge builds it.
	helloDir := filepath.Join(testwasm.Root(t), "examples", "hello")
	out := s.mustCLI(acme, "acme", "deploy", helloDir)
	if !strings.Contains(out, "version 1") || !strings.Contains(out, "hello.acme.wedge.localhost") {
		t.Errorf("deploy output: %q", out)
	}
	const host = "hello.acme.wedge.localhost"
	resp, body := s.get(host, "/path")
	if resp.StatusCode != 200 || body != "Hello from /path\n" {
		t.Fatalf("hello: %d %q", resp.StatusCode, body)
	}
	if st := resp.Header.Get("Server-Timing"); !strings.Contains(st, "instantiate;dur=") {
		t.Errorf("Server-Timing = %q", st)
	}

	t.Run("unknown host", func(t *testing.T) {
		resp, _ := s.get("nope.acme.wedge.localhost", "/")
		if resp.StatusCode != 404 || resp.Header.Get("Wedge-Error") != "no-route" {
			t.Errorf("got %d %q", resp.StatusCode, resp.Header.Get("Wedge-Error"))
		}
	})

	t.Run("garbage module", func(t *testing.T) {
		// The CLI refuses what is not WebAssembly at all, before uploading.
		dir := project(t, []byte("this is not webassembly"), "name = \"hello\"\nmain = \"worker.wasm\"\n")
		if _, errOut, code := s.cli(acme, "acme", "deploy", dir); code == 0 || !strings.Contains(errOut, "not a WebAssembly module") {
			t.Errorf("garbage deploy: exit %d, stderr %q", code, errOut)
		}
		// The server refuses a module that only looks like one.
		dir = project(t, []byte("\x00asm\x01\x00\x00\x00garbage after the header"), "name = \"hello\"\nmain = \"worker.wasm\"\n")
		if _, errOut, code := s.cli(acme, "acme", "deploy", dir); code == 0 || !strings.Contains(errOut, "invalid-module") {
			t.Errorf("garbage deploy: exit %d, stderr %q", code, errOut)
		}
		resp, body := s.apiDo("PUT", "/v1/tenants/acme/workers/hello", acme, strings.NewReader("\x00asm\x01\x00\x00\x00\xff\xff"))
		if resp.StatusCode != 400 || !strings.Contains(body, `"invalid-module"`) {
			t.Errorf("garbage upload: %d %s", resp.StatusCode, body)
		}
		resp, body = s.get(host, "/still")
		if resp.StatusCode != 200 || body != "Hello from /still\n" {
			t.Errorf("hello after a bad deploy: %d %q", resp.StatusCode, body)
		}
	})

	t.Run("tenant isolation", func(t *testing.T) {
		// beta's token on acme's workers, and on operator endpoints.
		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/tenants/acme/workers"},
			{"GET", "/v1/tenants/acme/workers/hello"},
			{"PUT", "/v1/tenants/acme/workers/hello"},
			{"DELETE", "/v1/tenants/acme/workers/hello"},
			{"POST", "/v1/tenants/acme/workers/hello/rollback"},
			{"POST", "/v1/tenants"},
		} {
			resp, body := s.apiDo(c.method, c.path, beta, strings.NewReader("{}"))
			if resp.StatusCode != 403 || !strings.Contains(body, `"forbidden"`) {
				t.Errorf("%s %s with beta's token: %d %s", c.method, c.path, resp.StatusCode, body)
			}
		}
		_, errOut, code := s.cli(beta, "beta", "tenant", "create", "gamma")
		if code == 0 || !strings.Contains(errOut, "forbidden") {
			t.Errorf("tenant create with a tenant token: exit %d %q", code, errOut)
		}
		resp, _ := s.apiDo("GET", "/v1/tenants/acme/workers", "wt_acme.not-the-secret", nil)
		if resp.StatusCode != 401 {
			t.Errorf("forged acme token: %d", resp.StatusCode)
		}
		// beta's own worker of the same name is its own.
		dir := project(t, hello, "name = \"hello\"\nmain = \"worker.wasm\"\n[vars]\nGREETING = \"Beta\"\n")
		s.mustCLI(beta, "beta", "deploy", dir)
		if _, body := s.get("hello.beta.wedge.localhost", "/"); body != "Beta from /\n" {
			t.Errorf("beta's hello: %q", body)
		}
		if _, body := s.get(host, "/"); body != "Hello from /\n" {
			t.Errorf("acme's hello after beta's deploy: %q", body)
		}
	})

	t.Run("versions and rollback", func(t *testing.T) {
		dir := project(t, hello, "name = \"hello\"\nmain = \"worker.wasm\"\n[vars]\nGREETING = \"Howdy\"\n")
		s.mustCLI(acme, "acme", "deploy", dir)
		if _, body := s.get(host, "/"); body != "Howdy from /\n" {
			t.Fatalf("v2: %q", body)
		}
		out := s.mustCLI(acme, "acme", "versions", "hello")
		if !strings.Contains(out, "* 2") {
			t.Errorf("versions: %q", out)
		}
		s.mustCLI(acme, "acme", "rollback", "hello")
		if _, body := s.get(host, "/"); body != "Hello from /\n" {
			t.Errorf("after rollback: %q", body)
		}
		s.mustCLI(acme, "acme", "rollback", "hello", "--version", "2")
		if _, body := s.get(host, "/"); body != "Howdy from /\n" {
			t.Errorf("after rollback to 2: %q", body)
		}
	})

	t.Run("healthz and metrics", func(t *testing.T) {
		resp, body := s.apiDo("GET", "/healthz", "", nil)
		if resp.StatusCode != 200 || body != "ok\n" {
			t.Errorf("healthz: %d %q", resp.StatusCode, body)
		}
		resp, body = s.apiDo("GET", "/metrics", "", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `wedge_requests_total{status="200",tenant="acme",worker="hello"}`) {
			t.Errorf("metrics: %d, no request count for acme/hello", resp.StatusCode)
		}
	})

	// Restart on the same data directory: the same workers, no redeploy.
	s.stop()
	s2 := startServer(t, data, "--server-timing")
	start := time.Now()
	resp, body = s2.get(host, "/again")
	if resp.StatusCode != 200 || body != "Howdy from /again\n" {
		t.Fatalf("after restart: %d %q\n%s", resp.StatusCode, body, s2.stderr)
	}
	t.Logf("restart: ready after %v, first 200 %v later", s2.readyAfter, time.Since(start))
	if _, body := s2.get("hello.beta.wedge.localhost", "/"); body != "Beta from /\n" {
		t.Errorf("beta after restart: %q", body)
	}
	if strings.Contains(s.stderr.String()+s2.stderr.String(), adminToken) {
		t.Error("the operator token appears in the logs")
	}
}

// TestGeneratedOperatorToken: without WEDGE_ADMIN_TOKEN, the first start
// prints a token once and keeps only its hash.
func TestGeneratedOperatorToken(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	data := t.TempDir()
	run := func() (string, *exec.Cmd) {
		cmd := exec.Command(wedgeBin(t), "serve", "--http", freeAddr(t), "--admin", freeAddr(t), "--data", data)
		cmd.Env = append(os.Environ(), "WEDGE_ADMIN_TOKEN=")
		var buf lockedBuffer
		cmd.Stderr = &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(buf.String(), "msg=ready") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return buf.String(), cmd
	}
	first, _ := run()
	i := strings.Index(first, "export WEDGE_TOKEN=")
	if i < 0 {
		t.Fatalf("no token printed on first start:\n%s", first)
	}
	token := strings.Fields(first[i+len("export WEDGE_TOKEN="):])[0]
	second, _ := run()
	if strings.Contains(second, "WEDGE_TOKEN=") {
		t.Errorf("the token was printed again on the second start:\n%s", second)
	}
	db, err := os.ReadFile(filepath.Join(data, "wedge.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(token)) {
		t.Error("the operator token is stored in clear")
	}
}

// TestDev: wedge init, then wedge dev serves the project and reloads it
// when a file changes.
func TestDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go workers; skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "myworker")
	bin := wedgeBin(t)
	if out, err := exec.Command(bin, "init", dir).CombinedOutput(); err != nil {
		t.Fatalf("wedge init: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dev", dir, "--port", port)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=vendor", "GOPROXY=off")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	waitBody := func(want string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		var last string
		for time.Now().Before(deadline) {
			resp, err := http.Get("http://" + addr + "/x")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				last = fmt.Sprintf("%d %q", resp.StatusCode, b)
				if resp.StatusCode == 200 && string(b) == want {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("never got %q (last: %s)\n%s", want, last, out.String())
	}
	waitBody("Hello from /x\n")
	src, err := os.ReadFile(filepath.Join(dir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.Replace(src, []byte(`"Hello from %s\n"`), []byte(`"Changed at %s\n"`), 1)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	waitBody("Changed at /x\n")
	t.Logf("reload after an edit took %v", time.Since(changed))
	if !strings.Contains(out.String(), "GET /x → 200") {
		t.Errorf("no request log line:\n%s", out.String())
	}
}
