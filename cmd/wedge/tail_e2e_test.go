package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/internal/testwasm"
)

// TestTail: `wedge tail` shows a request live with its log lines, its
// accounting, and a failure's code; another tenant cannot tail.
func TestTail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test guest and runs the real binary; skipped in -short mode")
	}
	guest := testwasm.Build(t, "internal/testguest")
	s := startServer(t, t.TempDir())
	acme := s.createTenant("acme")
	beta := s.createTenant("beta")
	s.mustCLI(acme, "acme", "deploy", project(t, guest, "name = \"guest\"\nmain = \"worker.wasm\"\n"))

	if resp, _ := s.apiDo("GET", "/v1/tenants/acme/workers/guest/tail", beta, nil); resp.StatusCode != 403 {
		t.Errorf("another tenant's tail: %d, want 403", resp.StatusCode)
	}
	if resp, _ := s.apiDo("GET", "/v1/tenants/acme/workers/nope/tail", acme, nil); resp.StatusCode != 404 {
		t.Errorf("tail of no such worker: %d, want 404", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wedgeBin(t), "tail", "guest", "--format", "json")
	cmd.Env = append(os.Environ(), "WEDGE_API=http://"+s.api, "WEDGE_TOKEN="+acme, "WEDGE_TENANT=acme")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	ready := bufio.NewReader(stderr)
	if line, err := ready.ReadString('\n'); err != nil || !strings.Contains(line, "tailing acme/guest") {
		t.Fatalf("wedge tail did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, ready)

	const host = "guest.acme.wedge.localhost"
	s.get(host, "/log")
	s.get(host, "/panic")
	events := bufio.NewScanner(stdout)
	var got []api.TailEvent
	for len(got) < 2 && events.Scan() {
		var ev api.TailEvent
		if err := json.Unmarshal(events.Bytes(), &ev); err != nil {
			t.Fatalf("not an event: %q", events.Text())
		}
		got = append(got, ev)
	}
	if len(got) < 2 {
		t.Fatalf("got %d events", len(got))
	}
	logged, panicked := got[0], got[1]
	if logged.URL != "/log" || logged.Status != 200 || logged.Tenant != "acme" || logged.Version != 1 ||
		!strings.Contains(strings.Join(logged.Logs, "\n"), "hello from stdout") || logged.WallMicros <= 0 {
		t.Errorf("the /log request's event: %+v", logged)
	}
	if panicked.URL != "/panic" || panicked.Status != 500 || panicked.Code != string(api.CodeWorkerTrap) || panicked.Error == "" {
		t.Errorf("the /panic request's event: %+v", panicked)
	}
}
