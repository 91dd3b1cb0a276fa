package edge_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/scheduler"
)

// newEdge serves the test guest as worker "guest" of tenant "t1".
func newEdge(t testing.TB, cfg edge.Config, limits api.Limits) (*httptest.Server, *syncBuffer) {
	t.Helper()
	return newEdgeWith(t, cfg, limits, scheduler.Config{})
}

func newEdgeWith(t testing.TB, cfg edge.Config, limits api.Limits, sc scheduler.Config) (*httptest.Server, *syncBuffer) {
	t.Helper()
	srv, logs, _ := newEdgeWorker(t, cfg, limits, sc)
	return srv, logs
}

func newEdgeWorker(t testing.TB, cfg edge.Config, limits api.Limits, sc scheduler.Config) (*httptest.Server, *syncBuffer, *scheduler.Worker) {
	t.Helper()
	limits = testLimits(limits)
	ctx := context.Background()
	rt := hostRuntime(t)
	mod, err := rt.Compile(ctx, testwasm.Build(t, "internal/testguest"))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := scheduler.New(sc)
	e := edge.New(cfg, s)
	w, err := s.NewWorker(ctx, "t1", "guest", 1, mod, limits, []string{"GREETING=hi", "SECRET_TOKEN=s3cr3t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Resettable() {
		t.Fatal("the Go test guest should be served from a resettable image")
	}
	t.Cleanup(w.Close)
	e.SetWorkers([]*scheduler.Worker{w}, nil)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, &logs, w
}

// testLimits gives the test guest a CPU budget that the race detector and
// a loaded machine cannot exhaust on the host's side of its hostcalls
// (which count as the request's CPU), unless the test sets one.
func testLimits(l api.Limits) api.Limits {
	if l.CPUMillis == 0 {
		l.CPUMillis = 2000
	}
	return l
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func do(t *testing.T, srv *httptest.Server, method, host, path string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("X-Test", "abc")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

const host = "guest.t1.wedge.localhost"

func TestServe(t *testing.T) {
	srv, logs := newEdge(t, edge.Config{ServerTiming: true}, api.Limits{CPUMillis: 300, WallMillis: 1000, MemoryMB: 64})
	body := strings.Repeat("0123456789", 100_000) // 1 MB: streamed in chunks
	sum := sha256.Sum256([]byte(body))

	tests := []struct {
		name, method, host, path string
		body                     string
		status                   int
		code                     api.Code
		want                     string // substring of the body
	}{
		{name: "echo", method: "POST", host: host, path: "/echo?x=1", body: body, status: 200,
			want: fmt.Sprintf("POST http://%s/echo?x=1 HTTP/1.1 host=%s x-test=abc len=1000000 sha=%s", host, host, hex.EncodeToString(sum[:]))},
		{name: "host with port and case", method: "GET", host: "GUEST.t1.wedge.localhost:8080", path: "/counter", status: 200, want: "counter=1"},
		{name: "env", method: "GET", host: host, path: "/env?key=GREETING", status: 200, want: "hi"},
		{name: "status", method: "GET", host: host, path: "/status?code=418", status: 418},
		{name: "not found from worker", method: "GET", host: host, path: "/nope", status: 404, want: "404 page not found"},
		{name: "stream", method: "GET", host: host, path: "/stream?n=100", status: 200, want: strings.Repeat("x", 1023)},
		{name: "big", method: "GET", host: host, path: "/big?n=3000000", status: 200, want: "yyyy"},
		{name: "no route", method: "GET", host: "other.t1.wedge.localhost", path: "/", status: 404, code: api.CodeNoRoute},
		{name: "panic", method: "GET", host: host, path: "/panic", status: 500, code: api.CodeWorkerTrap},
		{name: "exit", method: "GET", host: host, path: "/exit", status: 500, code: api.CodeWorkerTrap},
		{name: "endless loop", method: "GET", host: host, path: "/loop", status: 503, code: api.CodeCPULimit},
		{name: "memory", method: "GET", host: host, path: "/alloc", status: 503, code: api.CodeMemoryLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rb io.Reader
			if tt.body != "" {
				rb = strings.NewReader(tt.body)
			}
			resp, got := do(t, srv, tt.method, tt.host, tt.path, rb)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %.200q", resp.StatusCode, tt.status, got)
			}
			if c := resp.Header.Get(api.HeaderError); c != string(tt.code) {
				t.Errorf("Wedge-Error %q, want %q", c, tt.code)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("body %.300q does not contain %.100q", got, tt.want)
			}
			if strings.Contains(got, "secret detail") {
				t.Errorf("the guest's panic text reached the client: %q", got)
			}
			if tt.code == "" && tt.host == host {
				if st := resp.Header.Get("Server-Timing"); !strings.Contains(st, "instantiate;dur=") || !strings.Contains(st, "total;dur=") {
					t.Errorf("Server-Timing = %q", st)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "guest panic: secret detail") {
		t.Errorf("the guest's panic text is not in the logs:\n%s", logs.String())
	}
}

// TestFresh: every request starts from the state after initialisation, also
// under concurrency.
func TestFresh(t *testing.T) {
	srv, _, w := newEdgeWorker(t, edge.Config{}, api.Limits{}, scheduler.Config{})
	defer func() {
		created, reused := w.Stats()
		if reused < 20 {
			t.Errorf("only %d of 40 requests were served by a pooled instance (%d created)", reused, created)
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if _, got := do(t, srv, "GET", host, "/counter", nil); got != "counter=1\n" {
					t.Errorf("got %q, want counter=1", got)
				}
			}
		}()
	}
	wg.Wait()
}

// TestFreshRandom: every request starts from the same image, yet the Go
// runtime's generator (math/rand, math/rand/v2, map iteration order) draws
// different numbers in each: the SDK re-seeds it per request.
func TestFreshRandom(t *testing.T) {
	srv, _, w := newEdgeWorker(t, edge.Config{}, api.Limits{}, scheduler.Config{})
	const n = 12
	seen := [3]map[string]bool{{}, {}, {}}
	for range n {
		_, got := do(t, srv, "GET", host, "/rand", nil)
		f := strings.Fields(got)
		if len(f) != 3 {
			t.Fatalf("/rand: %q", got)
		}
		for i, v := range f {
			seen[i][v] = true
		}
	}
	if _, reused := w.Stats(); reused == 0 {
		t.Error("no request was served by a pooled instance: the image was not exercised")
	}
	for i, what := range []string{"math/rand.Int63", "math/rand/v2.Uint64"} {
		if len(seen[i]) != n {
			t.Errorf("%s: %d distinct values in %d requests", what, len(seen[i]), n)
		}
	}
	// 16 keys, a random starting point: a frozen generator starts every
	// request at the same one.
	if len(seen[2]) < 2 {
		t.Errorf("map iteration started at the same key in all %d requests", n)
	}
}

func TestLogs(t *testing.T) {
	srv, logs := newEdge(t, edge.Config{}, api.Limits{})
	if _, got := do(t, srv, "GET", host, "/log", nil); got != "logged\n" {
		t.Fatalf("got %q", got)
	}
	for _, want := range []string{"hello from stdout", "hello from stderr"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	srv, _ := newEdge(t, edge.Config{MaxBodyBytes: 1000}, api.Limits{})
	// With a Content-Length: refused before the worker runs.
	resp, _ := do(t, srv, "POST", host, "/echo", strings.NewReader(strings.Repeat("a", 2000)))
	if resp.StatusCode != 413 || resp.Header.Get(api.HeaderError) != "body-too-large" {
		t.Errorf("with length: %d %q", resp.StatusCode, resp.Header.Get(api.HeaderError))
	}
	// Chunked: the worker is stopped when it reads past the limit.
	resp, _ = do(t, srv, "POST", host, "/echo", io.MultiReader(strings.NewReader(strings.Repeat("a", 2000))))
	if resp.StatusCode != 413 || resp.Header.Get(api.HeaderError) != "body-too-large" {
		t.Errorf("chunked: %d %q", resp.StatusCode, resp.Header.Get(api.HeaderError))
	}
	// At the limit: fine.
	resp, got := do(t, srv, "POST", host, "/echo", io.MultiReader(strings.NewReader(strings.Repeat("a", 1000))))
	if resp.StatusCode != 200 || !strings.Contains(got, "len=1000") {
		t.Errorf("at the limit: %d %q", resp.StatusCode, got)
	}
}

// TestFreshState: whatever a request leaves behind — a changed global, a
// grown heap, goroutines, a closed stdout — the next one, on whichever
// instance, starts from the state right after initialisation.
func TestFreshState(t *testing.T) {
	for _, pool := range []int{0, -1} {
		t.Run(fmt.Sprintf("pool=%d", pool), func(t *testing.T) {
			srv, logs, w := newEdgeWorker(t, edge.Config{}, api.Limits{}, scheduler.Config{PoolSize: pool})
			_ = w
			want := "counter=0 heap=0 goroutines="
			first := ""
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 10; i++ {
						resp, got := do(t, srv, "GET", host, "/fresh", nil)
						if resp.StatusCode != 200 || !strings.HasPrefix(got, want) {
							t.Errorf("request %d: %d %q, want %q…", i, resp.StatusCode, got, want)
						}
					}
				}()
			}
			wg.Wait()
			_, first = do(t, srv, "GET", host, "/fresh", nil)
			_, again := do(t, srv, "GET", host, "/fresh", nil)
			if first != again {
				t.Errorf("goroutine count changed between requests: %q then %q", first, again)
			}
			if n := strings.Count(logs.String(), "fresh: stdout works"); n != 42 {
				t.Errorf("stdout lines = %d, want 42 (a closed stdout must not carry over)", n)
			}
			created, reused := w.Stats()
			t.Logf("instances created %d, reused %d", created, reused)
		})
	}
}
