package edge_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
)

// loopback is the allowlist that lets workers reach the tests' servers.
var loopback = hostapi.EgressConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

// newTenantsEdge serves the test guest as worker "guest" of each tenant
// (at guest.T.wedge.localhost).
func newTenantsEdge(t *testing.T, cfg edge.Config, limits api.Limits, sc scheduler.Config, tenants ...string) (*httptest.Server, *syncBuffer) {
	t.Helper()
	limits = testLimits(limits)
	ctx := context.Background()
	rt := sharedRuntime(t)
	wasm := testwasm.Build(t, "internal/testguest")
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := scheduler.New(sc)
	e := edge.New(cfg, s)
	var workers []*scheduler.Worker
	for _, tenant := range tenants {
		mod, err := rt.Compile(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.NewWorker(ctx, tenant, "guest", 1, mod, limits, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		workers = append(workers, w)
	}
	e.SetWorkers(workers, nil)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, &logs
}

var shared struct {
	once sync.Once
	rt   *runtime.Runtime
	err  error
}

// sharedRuntime is one runtime for the tests of this file: the test guest
// is compiled once, however many edges serve it.
func sharedRuntime(t *testing.T) *runtime.Runtime {
	t.Helper()
	shared.once.Do(func() {
		shared.rt, shared.err = runtime.New(context.Background(), runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.rt
}

// get asks the guest of tenant t1 for path, with the query q. Unlike do,
// it does not follow redirects: the guest's own response is what counts.
func get(t *testing.T, srv *httptest.Server, path string, q url.Values) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("X-Test", "abc")
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
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

// origin is a test server on loopback that counts its requests.
type origin struct {
	*httptest.Server
	requests atomic.Int64
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

// echoOrigin answers with what it received.
func echoOrigin(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	w.Header().Set("X-Origin", "yes")
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s x-test=%s len=%d sha=%s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Test"), n, hex.EncodeToString(h.Sum(nil)))
}

// TestFetchEgress: the egress policy, applied to the address dialled.
// Loopback is denied by default (by address and by a name that resolves
// to it) and reachable once allowed; a redirect to a denied address is
// denied; other schemes are refused.
func TestFetchEgress(t *testing.T) {
	allowed := newOrigin(t, echoOrigin)
	// A second server on another loopback address, outside a /32
	// allowlist, and a redirect to it from the allowed one.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	var secondHits atomic.Int64
	second := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secondHits.Add(1)
		io.WriteString(w, "second")
	})}}
	second.Start()
	t.Cleanup(second.Close)
	redirect := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	_, port, _ := net.SplitHostPort(allowed.Listener.Addr().String())

	only1 := hostapi.EgressConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	tests := []struct {
		name   string
		egress hostapi.EgressConfig
		path   string
		url    string
		status int
		want   string // substring of the body
		denied bool
		header http.Header
	}{
		{name: "loopback denied by default", path: "/fetch", url: allowed.URL + "/x", status: 502,
			want: "egress denied: 127.0.0.1 is a loopback address", denied: true},
		{name: "a name that resolves to loopback", path: "/fetch", url: "http://localhost:" + port + "/x", status: 502,
			want: "egress denied", denied: true},
		{name: "metadata address", egress: loopback, path: "/fetch", url: "http://169.254.169.254/latest/meta-data/", status: 502,
			want: "egress denied: 169.254.169.254 is a link-local address", denied: true},
		{name: "private address", egress: loopback, path: "/fetch", url: "http://10.1.2.3/", status: 502,
			want: "egress denied: 10.1.2.3 is a private address", denied: true},
		{name: "IPv4-mapped loopback", path: "/fetch", url: "http://[::ffff:127.0.0.1]:" + port + "/", status: 502,
			want: "egress denied: 127.0.0.1 is a loopback address", denied: true},
		{name: "loopback allowed", egress: loopback, path: "/fetch", url: allowed.URL + "/x?y=1", status: 200,
			want: "GET /x?y=1 x-test=abc len=0"},
		{name: "localhost allowed", egress: loopback, path: "/fetch", url: "http://localhost:" + port + "/x", status: 200,
			want: "GET /x x-test=abc"},
		{name: "a /32 allows one address", egress: only1, path: "/fetch", url: second.URL + "/", status: 502,
			want: "egress denied: 127.0.0.2 is a loopback address", denied: true},
		{name: "a redirect is returned, not followed", egress: only1, path: "/fetch", url: redirect.URL + "/?to=" + url.QueryEscape(second.URL+"/"), status: 302,
			header: http.Header{"Location": {second.URL + "/"}, "X-Proto": {"HTTP/1.1"}}},
		{name: "a redirect to a denied address", egress: only1, path: "/client", url: redirect.URL + "/?to=" + url.QueryEscape(second.URL+"/"), status: 502,
			want: "egress denied: 127.0.0.2", denied: true},
		{name: "a redirect to an allowed address", egress: only1, path: "/client", url: redirect.URL + "/?to=" + url.QueryEscape(allowed.URL+"/to"), status: 200,
			want: "GET /to "},
		{name: "file scheme", egress: loopback, path: "/fetch", url: "file:///etc/passwd", status: 502, want: `unsupported URL scheme "file"`},
		{name: "relative URL", egress: loopback, path: "/fetch", url: "/local", status: 502, want: "want an absolute http or https URL"},
	}
	edges := map[string]*httptest.Server{}
	for _, tt := range tests {
		k := fmt.Sprint(tt.egress.Allow)
		if edges[k] == nil {
			edges[k], _ = newTenantsEdge(t, edge.Config{Egress: tt.egress}, api.Limits{}, scheduler.Config{}, "t1")
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := edges[fmt.Sprint(tt.egress.Allow)]
			resp, got := get(t, srv, tt.path, url.Values{"url": {tt.url}})
			if resp.StatusCode != tt.status || !strings.Contains(got, tt.want) {
				t.Fatalf("%d %q, want %d and %q", resp.StatusCode, got, tt.status, tt.want)
			}
			if d := resp.Header.Get("X-Denied"); tt.status == 502 && d != fmt.Sprint(tt.denied) {
				t.Errorf("errors.Is(err, wedge.ErrEgressDenied) = %s, want %v", d, tt.denied)
			}
			for k, v := range tt.header {
				if resp.Header.Get(k) != v[0] {
					t.Errorf("%s: %q, want %q", k, resp.Header.Get(k), v[0])
				}
			}
		})
	}
	if n := secondHits.Load(); n != 0 {
		t.Errorf("the denied server got %d requests", n)
	}
}

// TestFetch: what goes out and what comes back, through the SDK's Fetch.
func TestFetch(t *testing.T) {
	big := strings.Repeat("0123456789", 300_000) // 3 MB
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Type", "application/octet-stream")
			io.WriteString(w, big)
		case "/status":
			w.Header().Set("X-Origin", "teapot")
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "short and stout")
		default:
			echoOrigin(w, r)
		}
	})
	srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback}, api.Limits{}, scheduler.Config{}, "t1")
	body := strings.Repeat("abcdefghij", 100_000) // 1 MB
	sum := sha256.Sum256([]byte(body))
	bigSum := sha256.Sum256([]byte(big))
	tests := []struct {
		name          string
		method, query string
		body          io.Reader
		status        int
		want          string
		header        http.Header
	}{
		{name: "GET", method: "GET", query: "url=" + url.QueryEscape(o.URL+"/p?q=1"), status: 200,
			want: "GET /p?q=1 x-test=abc len=0", header: http.Header{"X-Origin": {"yes"}, "X-Proto": {"HTTP/1.1"}}},
		{name: "POST with a length", method: "POST", query: "method=POST&url=" + url.QueryEscape(o.URL+"/post"), body: strings.NewReader(body), status: 200,
			want: "POST /post x-test=abc len=1000000 sha=" + hex.EncodeToString(sum[:])},
		{name: "PUT chunked", method: "PUT", query: "method=PUT&url=" + url.QueryEscape(o.URL+"/put"), body: io.MultiReader(strings.NewReader(body)), status: 200,
			want: "PUT /put x-test=abc len=1000000 sha=" + hex.EncodeToString(sum[:])},
		{name: "a status and header pass through", method: "GET", query: "url=" + url.QueryEscape(o.URL+"/status"), status: 418,
			want: "short and stout", header: http.Header{"X-Origin": {"teapot"}, "X-Content-Length": {"15"}}},
		{name: "a large response", method: "GET", query: "url=" + url.QueryEscape(o.URL+"/big"), status: 200, want: big},
		{name: "connection refused", method: "GET", query: "url=" + url.QueryEscape("http://127.0.0.1:1/"), status: 502, want: "connection refused",
			header: http.Header{"X-Denied": {"false"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, got := do(t, srv, tt.method, host, "/fetch?"+tt.query, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(got, tt.want) {
				t.Fatalf("%d %.200q, want %d and %.100q", resp.StatusCode, got, tt.status, tt.want)
			}
			for k, v := range tt.header {
				if resp.Header.Get(k) != v[0] {
					t.Errorf("%s: %q, want %q", k, resp.Header.Get(k), v[0])
				}
			}
			if tt.want == big {
				if s := sha256.Sum256([]byte(got)); s != bigSum {
					t.Errorf("the large body changed on its way")
				}
			}
		})
	}
}

// TestFetchStreams: neither body is held whole on the way. The origin
// reads the first part of the request body while the client has not sent
// the rest, and the client reads the first part of the response while
// the origin has not sent the rest.
func TestFetchStreams(t *testing.T) {
	gotFirst := make(chan struct{})
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 6)
		if _, err := io.ReadFull(r.Body, first); err != nil || string(first) != "part1\n" {
			t.Errorf("origin: first part %q, %v", first, err)
		}
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		io.WriteString(w, "first:"+string(first)+string(rest))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
			t.Error("origin: the client never read the first part of the response")
		}
		io.WriteString(w, "second\n")
	})
	srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback}, api.Limits{}, scheduler.Config{}, "t1")

	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "part1\n")
		select {
		case <-gotFirst:
		case <-time.After(10 * time.Second):
			t.Error("the origin never got the first part of the request body")
		}
		io.WriteString(pw, "part2\n")
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.URL+"/fetch?method=POST&url="+url.QueryEscape(o.URL+"/"), pr)
	req.Host = host
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := "first:part1\npart2\n"
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != want {
		t.Fatalf("first part of the response: %q, %v", buf, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest of the response: %q, %v", rest, err)
	}
}

// TestSubrequestLimit: past the worker's subrequests limit, Fetch fails
// with ErrLimit; the request goes on.
func TestSubrequestLimit(t *testing.T) {
	o := newOrigin(t, echoOrigin)
	for _, tt := range []struct {
		limit, n, ok int
	}{
		{limit: 0, n: 51, ok: 50}, // the default
		{limit: 5, n: 7, ok: 5},
		{limit: 5, n: 5, ok: 5},
	} {
		t.Run(fmt.Sprintf("limit=%d,n=%d", tt.limit, tt.n), func(t *testing.T) {
			srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback}, api.Limits{Subrequests: tt.limit}, scheduler.Config{}, "t1")
			before := o.requests.Load()
			resp, got := get(t, srv, "/fetch-many", url.Values{"url": {o.URL + "/"}, "n": {fmt.Sprint(tt.n)}})
			if resp.StatusCode != 200 || !strings.HasPrefix(got, fmt.Sprintf("ok=%d ", tt.ok)) {
				t.Fatalf("%d %q, want ok=%d", resp.StatusCode, got, tt.ok)
			}
			if tt.n > tt.ok && (resp.Header.Get("X-Limit") != "true" || !strings.Contains(got, "subrequest limit reached")) {
				t.Errorf("the error is not ErrLimit: %q (X-Limit %q)", got, resp.Header.Get("X-Limit"))
			}
			if n := o.requests.Load() - before; n != int64(tt.ok) {
				t.Errorf("the origin got %d requests, want %d", n, tt.ok)
			}
		})
	}
}

// TestFetchYields: a guest waiting on the network gives its CPU place
// up. With one place, a second request runs while the first waits for
// an origin that answers only once the second is done.
func TestFetchYields(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "late")
	})
	srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback}, api.Limits{}, scheduler.Config{MaxRunning: 1, QueueWait: 5 * time.Second}, "t1")
	done := make(chan string)
	go func() {
		_, got := get(t, srv, "/fetch", url.Values{"url": {o.URL + "/"}})
		done <- got
	}()
	<-arrived
	start := time.Now()
	resp, got := get(t, srv, "/counter", nil)
	if resp.StatusCode != 200 || got != "counter=1\n" || time.Since(start) > 2*time.Second {
		t.Errorf("a request beside a waiting fetch: %d %q after %v", resp.StatusCode, got, time.Since(start))
	}
	close(release)
	if got := <-done; got != "late" {
		t.Errorf("the fetch got %q", got)
	}
}

// TestFetchLeftOpen: a response the guest leaves open is closed by the
// host when the request ends, which ends the origin's request.
func TestFetchLeftOpen(t *testing.T) {
	ended := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "endless")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(ended)
	})
	srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback}, api.Limits{}, scheduler.Config{}, "t1")
	if resp, got := get(t, srv, "/fetch-open", url.Values{"url": {o.URL + "/"}}); resp.StatusCode != 200 || got != "status=200\n" {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the origin's request did not end after the worker's")
	}
}

// TestCacheFetchCoalesces: 100 simultaneous requests to a worker that
// reads an uncached URL through wedge.Cache().Fetch make one request to
// the origin; tenants do not share entries.
func TestCacheFetchCoalesces(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // long enough for all to arrive
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "payload for "+r.URL.Path)
	})
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback, Cache: c}, api.Limits{}, scheduler.Config{}, "t1", "t2")

	const n = 100
	var wg sync.WaitGroup
	var withAge atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, got := get(t, srv, "/cache-fetch", url.Values{"url": {o.URL + "/shared"}})
			if resp.StatusCode != 200 || got != "payload for /shared" {
				t.Errorf("%d %q", resp.StatusCode, got)
			}
			if resp.Header.Get("Age") != "" {
				withAge.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := o.requests.Load(); got != 1 {
		t.Fatalf("the origin got %d requests for %d simultaneous ones, want 1", got, n)
	}
	st := c.Stats("t1")
	t.Logf("t1: %+v; %d responses with Age", st, withAge.Load())
	if st.Coalesced+st.Hits != n-1 || st.Coalesced == 0 || withAge.Load() != n-1 {
		t.Errorf("coalesced %d, hits %d, with Age %d: want %d from the shared fetch, some coalesced", st.Coalesced, st.Hits, withAge.Load(), n-1)
	}

	// Another tenant has its own entries.
	resp, got := do(t, srv, "GET", "guest.t2.wedge.localhost", "/cache-fetch?url="+url.QueryEscape(o.URL+"/shared"), nil)
	if resp.StatusCode != 200 || got != "payload for /shared" || resp.Header.Get("Age") != "" {
		t.Errorf("t2: %d %q Age %q, want its own fetch", resp.StatusCode, got, resp.Header.Get("Age"))
	}
	if got := o.requests.Load(); got != 2 {
		t.Errorf("the origin got %d requests, want 2 (one per tenant)", got)
	}
}

// TestCacheAPI: Put, Match and Delete from a worker, per tenant, with Age.
func TestCacheAPI(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	c, err := cache.New(cache.Config{Now: func() time.Time { return time.Unix(now.Load(), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv, _ := newTenantsEdge(t, edge.Config{Cache: c}, api.Limits{}, scheduler.Config{}, "t1", "t2")
	const t1, t2 = host, "guest.t2.wedge.localhost"
	u := "http://example.com/a?b=1"
	steps := []struct {
		host, path string
		q          url.Values
		advance    int64
		want       string
	}{
		{t1, "/cache-match", url.Values{"url": {u}}, 0, "miss\n"},
		{t1, "/cache-put", url.Values{"url": {u}, "body": {"hello"}, "cc": {"max-age=60"}}, 0, "put body=hello\n"},
		{t1, "/cache-match", url.Values{"url": {u}}, 5, "hit status=200 age=5 body=hello\n"},
		{t1, "/cache-match", url.Values{"url": {"HTTP://EXAMPLE.com:80/a?b=1"}}, 0, "hit status=200 age=5 body=hello\n"},
		{t2, "/cache-match", url.Values{"url": {u}}, 0, "miss\n"},
		{t1, "/cache-delete", url.Values{"url": {u}}, 0, "deleted\n"},
		{t1, "/cache-match", url.Values{"url": {u}}, 0, "miss\n"},
		// Refused by the policy: not an error, and not stored.
		{t1, "/cache-put", url.Values{"url": {u}, "body": {"secret"}, "cc": {"private, max-age=60"}}, 0, "put body=secret\n"},
		{t1, "/cache-match", url.Values{"url": {u}}, 0, "miss\n"},
		{t1, "/cache-put", url.Values{"url": {u}, "body": {"short"}, "cc": {"max-age=10"}}, 0, "put body=short\n"},
		{t1, "/cache-match", url.Values{"url": {u}}, 11, "miss\n"}, // stale
	}
	for i, st := range steps {
		now.Add(st.advance)
		resp, got := do(t, srv, "GET", st.host, st.path+"?"+st.q.Encode(), nil)
		if resp.StatusCode != 200 || got != st.want {
			t.Fatalf("step %d: %s %s: %d %q, want %q", i, st.host, st.path, resp.StatusCode, got, st.want)
		}
	}
}

// TestNoCache: without a cache, Match misses, Put stores nothing and
// Fetch always goes to the origin.
func TestNoCache(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "fresh")
	})
	srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback}, api.Limits{}, scheduler.Config{}, "t1")
	for i := 0; i < 2; i++ {
		if resp, got := get(t, srv, "/cache-fetch", url.Values{"url": {o.URL + "/"}}); resp.StatusCode != 200 || got != "fresh" {
			t.Fatalf("%d %q", resp.StatusCode, got)
		}
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("origin got %d requests, want 2", n)
	}
	u := o.URL + "/x"
	for _, st := range []struct{ path, want string }{
		{"/cache-put?" + url.Values{"url": {u}, "body": {"b"}, "cc": {"max-age=60"}}.Encode(), "put body=b\n"},
		{"/cache-match?" + url.Values{"url": {u}}.Encode(), "miss\n"},
		{"/cache-delete?" + url.Values{"url": {u}}.Encode(), "deleted\n"},
	} {
		if resp, got := do(t, srv, "GET", host, st.path, nil); resp.StatusCode != 200 || got != st.want {
			t.Errorf("%s: %d %q, want %q", st.path, resp.StatusCode, got, st.want)
		}
	}
}

// TestExamples runs examples/proxy and examples/cache against an origin
// on loopback.
func TestExamples(t *testing.T) {
	if raceDetector {
		t.Skip("compiling two more Go guests under the race detector takes minutes; the SDK calls they make are covered by the other tests")
	}
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/base/page" {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s fwd=%s body=%s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-Host"), b)
	})
	ctx := context.Background()
	rt := sharedRuntime(t)
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := scheduler.New(scheduler.Config{})
	e := edge.New(edge.Config{Egress: loopback, Cache: c}, s)
	var workers []*scheduler.Worker
	for _, name := range []string{"proxy", "cache"} {
		mod, err := rt.Compile(ctx, testwasm.Build(t, "examples/"+name))
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.NewWorker(ctx, "ex", name, 1, mod, api.Limits{}, []string{"ORIGIN=" + o.URL + "/base"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		workers = append(workers, w)
	}
	e.SetWorkers(workers, nil)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	const proxy, cached = "proxy.ex.wedge.localhost", "cache.ex.wedge.localhost"
	steps := []struct {
		method, host, path, body string
		want, xcache             string
		origin                   int64 // the origin's request count after the step
	}{
		{"POST", proxy, "/echo?x=1", "hi", "POST /base/echo?x=1 fwd=" + proxy + " body=hi", "", 1},
		{"GET", cached, "/page", "", "GET /base/page fwd= body=", "MISS", 2},
		{"GET", cached, "/page", "", "GET /base/page fwd= body=", "HIT", 2},
		{"PURGE", cached, "/page", "", "purged " + o.URL + "/base/page\n", "", 2},
		{"GET", cached, "/page", "", "GET /base/page fwd= body=", "MISS", 3},
		{"GET", cached, "/other", "", "GET /base/other fwd= body=", "MISS", 4},
		{"GET", cached, "/other", "", "GET /base/other fwd= body=", "MISS", 5}, // not cacheable
	}
	for i, st := range steps {
		var body io.Reader
		if st.body != "" {
			body = strings.NewReader(st.body)
		}
		resp, got := do(t, srv, st.method, st.host, st.path, body)
		if resp.StatusCode != 200 || got != st.want || resp.Header.Get("X-Cache") != st.xcache || o.requests.Load() != st.origin {
			t.Fatalf("step %d: %s %s%s: %d %q X-Cache %q, origin %d; want %q %q %d", i, st.method, st.host, st.path,
				resp.StatusCode, got, resp.Header.Get("X-Cache"), o.requests.Load(), st.want, st.xcache, st.origin)
		}
	}
}

// TestFetchWallTime: an outbound request ends with the worker's wall
// time, and the worker's request with it.
func TestFetchWallTime(t *testing.T) {
	ended := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(ended)
		case <-time.After(20 * time.Second):
		}
	})
	srv, _ := newTenantsEdge(t, edge.Config{Egress: loopback}, api.Limits{WallMillis: 300}, scheduler.Config{}, "t1")
	start := time.Now()
	resp, _ := get(t, srv, "/fetch", url.Values{"url": {o.URL + "/"}})
	if resp.StatusCode != 503 || resp.Header.Get(api.HeaderError) != string(api.CodeWallTime) || time.Since(start) > 5*time.Second {
		t.Errorf("%d %q after %v, want wall-time soon after 300ms", resp.StatusCode, resp.Header.Get(api.HeaderError), time.Since(start))
	}
	t.Logf("wall-time after %v", time.Since(start))
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the origin's request did not end with the worker's")
	}
}
