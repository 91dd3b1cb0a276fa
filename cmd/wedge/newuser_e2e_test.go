package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newUser is someone with a fresh home directory and no WEDGE_* variables,
// running wedge in a work directory.
type newUser struct {
	t          *testing.T
	home, work string
}

func (u *newUser) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEDGE_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	// The project builds offline, from its vendored SDK, with the Go build
	// cache the user had before (a new HOME would have an empty one).
	return append(env, "HOME="+u.home, "GOCACHE="+goCache(u.t), "GOFLAGS=-mod=vendor", "GOPROXY=off")
}

// goCache is the Go build cache of the test's environment.
func goCache(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// wedge runs a command with stdin and returns stdout, stderr and the exit
// code.
func (u *newUser) wedge(stdin string, args ...string) (string, string, int) {
	u.t.Helper()
	cmd := exec.Command(wedgeBin(u.t), args...)
	cmd.Dir, cmd.Env, cmd.Stdin = u.work, u.env(), strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// must runs a command that must succeed and returns its stdout.
func (u *newUser) must(stdin string, args ...string) string {
	u.t.Helper()
	out, errOut, code := u.wedge(stdin, args...)
	if code != 0 {
		u.t.Fatalf("wedge %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestNewUser drives the CLI as a new user would, the README's quickstart
// and more: init, dev with an edit, then against a wedge serve: login,
// tenant create, deploy, redeploy, versions, rollback, secrets, KV and
// tail, with no WEDGE_* variable set.
func TestNewUser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go workers and runs the real binary; skipped in -short mode")
	}
	start := time.Now()
	u := &newUser{t: t, home: t.TempDir(), work: t.TempDir()}
	wedgeBin(t)
	main := filepath.Join(u.work, "hello-world", "main.go")
	edit := func(from, to string) {
		t.Helper()
		src, err := os.ReadFile(main)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(src, []byte(from)) {
			t.Fatalf("main.go has no %q", from)
		}
		if err := os.WriteFile(main, bytes.Replace(src, []byte(from), []byte(to), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// init → dev: 200, and an edit shows within moments.
	if out := u.must("", "init", "hello-world"); !strings.Contains(out, `created worker "hello-world"`) {
		t.Errorf("init: %q", out)
	}
	d := startDev(t, filepath.Join(u.work, "hello-world"), "HOME="+u.home, "GOCACHE="+goCache(t))
	d.waitBody("/x", "Hello from /x\n", 5*time.Second)
	edit(`fmt.Fprintf(w, "Hello from %s\n", r.URL.Path)`, `fmt.Println("request for", r.URL.Path)
		fmt.Fprintf(w, "Changed at %s\n", r.URL.Path)`)
	// How long is reported, not asserted: the machines are shared and
	// noisy (waitBody fails past its 30 s).
	took := d.waitBody("/x", "Changed at /x\n", 30*time.Second)
	t.Logf("wedge dev: the edit answered %v after it was saved", took)
	d.waitOutput("  | request for /x\n")
	d.stop()

	// A host; login with the operator token it printed, read from stdin.
	s := startServer(t, t.TempDir())
	api := "http://" + s.api
	out := u.must(adminToken+"\n", "login", "--api", api, "--tenant", "acme")
	if !strings.Contains(out, "as the operator; worker commands act on tenant acme") || strings.Contains(out, adminToken) {
		t.Errorf("login: %q", out)
	}
	cfg := filepath.Join(u.home, ".config", "wedge", "config.json")
	if fi, err := os.Stat(cfg); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", fi, err)
	}
	var who struct {
		Token, Tenant string
		Valid         bool
	}
	if err := json.Unmarshal([]byte(u.must("", "whoami", "--json")), &who); err != nil || who.Token != "operator" || who.Tenant != "acme" || !who.Valid {
		t.Errorf("whoami: %+v %v", who, err)
	}
	if out := u.must("", "tenant", "create", "acme"); !strings.Contains(out, "created tenant acme") {
		t.Errorf("tenant create: %q", out)
	}

	// deploy, redeploy, versions, rollback.
	const host = "hello-world.acme.wedge.localhost"
	var dep struct {
		Version int
		SHA256  string
		Size    int64
		URL     string
	}
	if err := json.Unmarshal([]byte(u.must("", "deploy", "hello-world", "--json")), &dep); err != nil || dep.Version != 1 || dep.URL != "http://"+host+"/" || len(dep.SHA256) != 64 || dep.Size == 0 {
		t.Fatalf("deploy --json: %+v %v", dep, err)
	}
	if _, body := s.get(host, "/"); body != "Changed at /\n" {
		t.Fatalf("version 1: %q", body)
	}
	edit(`"Changed at %s\n"`, `"Version two at %s\n"`)
	if out := u.must("", "deploy", "hello-world"); !strings.Contains(out, "deployed hello-world version 2") {
		t.Errorf("redeploy: %q", out)
	}
	if _, body := s.get(host, "/"); body != "Version two at /\n" {
		t.Fatalf("version 2: %q", body)
	}
	if out := u.must("", "versions", "hello-world"); !strings.Contains(out, "* 2") || !strings.Contains(out, "  1") {
		t.Errorf("versions: %q", out)
	}
	var versions []struct{ Version int }
	if err := json.Unmarshal([]byte(u.must("", "versions", "hello-world", "--json")), &versions); err != nil || len(versions) != 2 {
		t.Errorf("versions --json: %v %v", versions, err)
	}
	if out := u.must("", "rollback", "hello-world"); !strings.Contains(out, "version 1 is active") {
		t.Errorf("rollback: %q", out)
	}
	if _, body := s.get(host, "/"); body != "Changed at /\n" {
		t.Errorf("after rollback: %q", body)
	}

	// Secrets and KV.
	u.must("s3cret-value\n", "secret", "put", "hello-world", "API_KEY")
	if out := u.must("", "secret", "list", "hello-world"); out != "API_KEY\n" {
		t.Errorf("secret list: %q", out)
	}
	u.must("", "kv", "put", "COUNTS", "visits", "41")
	if out := u.must("", "kv", "get", "COUNTS", "visits"); out != "41" {
		t.Errorf("kv get: %q", out)
	}
	if out := u.must("", "kv", "list", "COUNTS"); out != "visits\n" {
		t.Errorf("kv list: %q", out)
	}

	// tail shows a request and what the worker logged.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tail := exec.CommandContext(ctx, wedgeBin(t), "tail", "hello-world")
	tail.Dir, tail.Env = u.work, u.env()
	stdout, _ := tail.StdoutPipe()
	stderr, _ := tail.StderrPipe()
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { tail.Process.Signal(os.Interrupt); tail.Wait() }()
	if line, err := bufio.NewReader(stderr).ReadString('\n'); err != nil || !strings.Contains(line, "tailing acme/hello-world") {
		t.Fatalf("wedge tail did not start: %q %v", line, err)
	}
	s.get(host, "/tailed")
	lines := bufio.NewScanner(stdout)
	var got []string
	for len(got) < 2 && lines.Scan() {
		got = append(got, lines.Text())
	}
	if len(got) < 2 || !strings.Contains(got[0], "GET /tailed 200") || got[1] != "  | request for /tailed" {
		t.Errorf("tail printed %q", got)
	}
	go io.Copy(io.Discard, stdout)

	if strings.Contains(s.stderr.String(), "s3cret-value") {
		t.Error("the secret's value is in the server's log")
	}
	t.Logf("the new user's session took %v", time.Since(start))
}
