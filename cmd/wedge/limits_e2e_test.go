package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/internal/testwasm"
)

// TestOperatorLimits: the operator's caps refuse a deploy that asks for
// more, and the tenant rate limit answers 429 with its Wedge-Error.
func TestOperatorLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	wasm, err := os.ReadFile(filepath.Join(testwasm.Root(t), "examples", "c-hello", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), "--max-cpu-ms", "10", "--tenant-rps", "0.5", "--tenant-burst", "2")
	token := s.createTenant("acme")

	greedy := project(t, wasm, "name = \"hello\"\nmain = \"worker.wasm\"\n[limits]\ncpu_ms = 20\n")
	_, stderr, code := s.cli(token, "acme", "deploy", greedy)
	if code == 0 || !strings.Contains(stderr, "limits.cpu_ms = 20 is more than this host allows (10)") {
		t.Fatalf("deploy over the cap: exit %d, stderr %q", code, stderr)
	}
	s.mustCLI(token, "acme", "deploy", project(t, wasm, "name = \"hello\"\nmain = \"worker.wasm\"\n"))

	const host = "hello.acme.wedge.localhost"
	statuses := []int{}
	var last string
	for range 3 {
		resp, _ := s.get(host, "/")
		statuses = append(statuses, resp.StatusCode)
		last = resp.Header.Get(api.HeaderError)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 || last != string(api.CodeRateLimited) {
		t.Errorf("three requests at once with a burst of 2: %v, last Wedge-Error %q; want 200 200 429 rate-limited", statuses, last)
	}
}
