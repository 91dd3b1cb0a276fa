package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

// TestExamplesBinary runs examples/proxy, examples/cache and
// examples/counter on the real binary against an origin on loopback
// (allowed with --egress-allow), as their READMEs describe.
func TestExamplesBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three guests and runs the real binary; skipped in -short mode")
	}
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(50 * time.Millisecond) // long enough for the concurrent misses to meet
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "origin %s %s host=%s\n", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-Host"))
	}))
	defer origin.Close()

	s := startServer(t, t.TempDir(), "--egress-allow", "127.0.0.1/32")
	token := s.createTenant("acme")
	deploy := func(example, toml string) {
		s.mustCLI(token, "acme", "deploy", project(t, testwasm.Build(t, "examples/"+example), "main = \"worker.wasm\"\n"+toml))
	}
	deploy("proxy", "name = \"proxy\"\n[vars]\nORIGIN = \""+origin.URL+"\"\n")
	deploy("cache", "name = \"cache\"\n[vars]\nORIGIN = \""+origin.URL+"\"\n")
	deploy("counter", "name = \"counter\"\n[[kv_namespaces]]\nbinding = \"COUNTS\"\n")

	// proxy: the request reaches the origin, rewritten, and comes back.
	if resp, body := s.get("proxy.acme.wedge.localhost", "/a/b?c=1"); resp.StatusCode != 200 || body != "origin GET /a/b?c=1 host=proxy.acme.wedge.localhost\n" {
		t.Errorf("proxy: %d %q", resp.StatusCode, body)
	}

	// cache: 100 concurrent requests for one URL, one origin request.
	hits.Store(0)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 100 {
		wg.Go(func() {
			resp, body := s.get("cache.acme.wedge.localhost", "/same")
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin GET /same") {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 || hits.Load() != 1 {
		t.Errorf("100 concurrent cache-through requests: %d failed, the origin saw %d requests, want 0 and 1", bad.Load(), hits.Load())
	}
	if resp, _ := s.get("cache.acme.wedge.localhost", "/same"); resp.Header.Get("X-Cache") != "HIT" || resp.Header.Get("Age") == "" {
		t.Errorf("the next request: X-Cache %q, Age %q; want a hit with an Age", resp.Header.Get("X-Cache"), resp.Header.Get("Age"))
	}

	// counter: counts survive fresh instances, in KV.
	for i := 1; i <= 3; i++ {
		if _, body := s.get("counter.acme.wedge.localhost", "/home"); body != fmt.Sprintf("/home: %d visits\n", i) {
			t.Errorf("visit %d: %q", i, body)
		}
	}
	if _, body := s.get("counter.acme.wedge.localhost", "/_counts"); body != "/home 3\n" {
		t.Errorf("/_counts: %q", body)
	}
}

// TestEgressBinary: without --egress-allow, a worker's fetch cannot reach
// loopback (by address or by a name that resolves to it), private or
// link-local addresses; the origin never sees a request.
func TestEgressBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer origin.Close()
	port := origin.URL[strings.LastIndex(origin.URL, ":")+1:]

	s := startServer(t, t.TempDir())
	token := s.createTenant("acme")
	s.mustCLI(token, "acme", "deploy", project(t, testwasm.Build(t, "internal/testguest"), "name = \"guest\"\nmain = \"worker.wasm\"\n"))
	for _, target := range []string{
		"http://127.0.0.1:" + port + "/",
		"http://localhost:" + port + "/",
		"http://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data/",
	} {
		resp, body := s.get("guest.acme.wedge.localhost", "/fetch?url="+target)
		if resp.StatusCode == 200 || !strings.Contains(body, "egress denied") {
			t.Errorf("fetch %s: %d %q, want it denied by the egress policy", target, resp.StatusCode, body)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the loopback origin saw %d requests", hits.Load())
	}
}
