package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/cache"
)

// origin is a test origin: it counts its calls, and blocks each until
// release is closed (nil: no blocking).
type origin struct {
	calls   atomic.Int32
	release chan struct{}
	respond func(n int32, ctx context.Context) (cache.Response, error)
}

func (o *origin) fn(ctx context.Context) (cache.Response, error) {
	n := o.calls.Add(1)
	if o.release != nil {
		select {
		case <-o.release:
		case <-ctx.Done():
			return cache.Response{}, fmt.Errorf("origin: %w", ctx.Err())
		}
	}
	return o.respond(n, ctx)
}

// waitFor waits until n calls wait for the tenant's flight for url.
func waitFor(t *testing.T, c *cache.Cache, tenant, url string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Waiters(tenant, url) < n {
		if time.Now().After(deadline) {
			t.Fatalf("waiters: %d, want %d", c.Waiters(tenant, url), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// fetchAll calls Fetch n times at once; result i is call i's.
func fetchAll(c *cache.Cache, n int, req func(i int) cache.Request, ctx func(i int) context.Context, o func(i int) cache.Origin) ([]cache.Entry, []error) {
	entries, errs := make([]cache.Entry, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			entries[i], errs[i] = c.Fetch(ctx(i), "acme", req(i), o(i))
		})
	}
	wg.Wait()
	return entries, errs
}

func bg(int) context.Context { return context.Background() }

// TestFetchCoalesces: 100 simultaneous misses make one origin request, and
// every caller gets its response.
func TestFetchCoalesces(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	o := &origin{release: make(chan struct{}), respond: func(int32, context.Context) (cache.Response, error) {
		return ok200(clk, "hello", "Cache-Control", "max-age=60", "Set-Cookie", "leader=1", "Cache-Control", `private="Set-Cookie"`), nil
	}}
	go func() {
		waitFor(t, c, "acme", url, 99)
		close(o.release)
	}()
	entries, errs := fetchAll(c, 100, func(int) cache.Request { return get(url) }, bg, func(int) cache.Origin { return o.fn })
	if n := o.calls.Load(); n != 1 {
		t.Fatalf("origin called %d times, want 1", n)
	}
	leaders := 0
	for i := range entries {
		e, err := entries[i], errs[i]
		if err != nil || e.Status != 200 || string(e.Body) != "hello" {
			t.Fatalf("call %d: %v %d %q", i, err, e.Status, e.Body)
		}
		if !e.FromCache {
			leaders++
			continue
		}
		if e.Header.Get("Set-Cookie") != "" {
			t.Fatalf("call %d got the leader's cookie", i)
		}
	}
	if leaders != 1 {
		t.Errorf("%d responses not from the cache, want 1 (the leader's)", leaders)
	}
	if s := c.Stats("acme"); s.Coalesced != 99 || s.Misses != 100 || s.Stores != 1 || s.Entries != 1 {
		t.Errorf("stats %+v", s)
	}

	// Then it is a hit, with its age.
	clk.Advance(7 * time.Second)
	e, err := c.Fetch(context.Background(), "acme", get(url), o.fn)
	if err != nil || !e.FromCache || e.Age != 7 || o.calls.Load() != 1 {
		t.Errorf("Fetch after: %v, FromCache %v, Age %d, %d origin calls", err, e.FromCache, e.Age, o.calls.Load())
	}
}

// TestFetchCoalescesUnblocked: without holding the origin back, callers
// that come after the first response find it stored: still one request.
func TestFetchCoalescesUnblocked(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	o := &origin{respond: func(int32, context.Context) (cache.Response, error) {
		time.Sleep(time.Millisecond)
		return ok200(clk, "hello", "Cache-Control", "max-age=60"), nil
	}}
	for range 10 {
		_, errs := fetchAll(c, 100, func(int) cache.Request { return get(url) }, bg, func(int) cache.Origin { return o.fn })
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := o.calls.Load(); n != 1 {
		t.Fatalf("origin called %d times, want 1", n)
	}
}

// TestFetchError: an origin error reaches every waiter and is not cached.
func TestFetchError(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	boom := errors.New("origin down")
	o := &origin{release: make(chan struct{}), respond: func(n int32, _ context.Context) (cache.Response, error) {
		if n == 1 {
			return cache.Response{}, boom
		}
		return ok200(clk, "back", "Cache-Control", "max-age=60"), nil
	}}
	go func() {
		waitFor(t, c, "acme", url, 99)
		close(o.release)
	}()
	_, errs := fetchAll(c, 100, func(int) cache.Request { return get(url) }, bg, func(int) cache.Origin { return o.fn })
	for i, err := range errs {
		if !errors.Is(err, boom) {
			t.Fatalf("call %d: %v, want the origin's error", i, err)
		}
	}
	if n := o.calls.Load(); n != 1 {
		t.Fatalf("origin called %d times, want 1", n)
	}
	e, err := c.Fetch(context.Background(), "acme", get(url), o.fn)
	if err != nil || string(e.Body) != "back" || o.calls.Load() != 2 {
		t.Fatalf("the error was cached: %v %q, %d calls", err, e.Body, o.calls.Load())
	}
}

// TestFetchNotShared: a response that may not be stored is not handed to
// the waiters; each asks the origin itself and gets its own.
func TestFetchNotShared(t *testing.T) {
	for _, cc := range []string{"private, max-age=60", "no-store", "no-cache", ""} {
		t.Run(cc, func(t *testing.T) {
			c, clk := newCache(t, cache.Config{})
			o := &origin{release: make(chan struct{}), respond: func(n int32, _ context.Context) (cache.Response, error) {
				return ok200(clk, fmt.Sprint(n), "Cache-Control", cc), nil
			}}
			go func() {
				waitFor(t, c, "acme", url, 9)
				close(o.release)
			}()
			entries, errs := fetchAll(c, 10, func(int) cache.Request { return get(url) }, bg, func(int) cache.Origin { return o.fn })
			seen := map[string]bool{}
			for i, e := range entries {
				if errs[i] != nil || e.FromCache || seen[string(e.Body)] {
					t.Fatalf("call %d: %v, FromCache %v, body %q (seen before: %v)", i, errs[i], e.FromCache, e.Body, seen[string(e.Body)])
				}
				seen[string(e.Body)] = true
			}
			if n := o.calls.Load(); n != 10 {
				t.Errorf("origin called %d times, want 10", n)
			}
		})
	}
}

// TestFetchVary: waiters whose Vary'd fields differ from the leader's do
// not get its response; one origin request per variant.
func TestFetchVary(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	var calls atomic.Int32
	release := make(chan struct{})
	enc := func(i int) string { return []string{"gzip", "br"}[i%2] }
	go func() {
		waitFor(t, c, "acme", url, 20)
		close(release)
	}()
	entries, errs := fetchAll(c, 40, func(i int) cache.Request { return get(url, "Accept-Encoding", enc(i)) }, bg, func(i int) cache.Origin {
		return func(context.Context) (cache.Response, error) {
			calls.Add(1)
			<-release
			return ok200(clk, enc(i), "Cache-Control", "max-age=60", "Vary", "Accept-Encoding"), nil
		}
	})
	for i, e := range entries {
		if errs[i] != nil || string(e.Body) != enc(i) {
			t.Fatalf("call %d (%s): %v %q", i, enc(i), errs[i], e.Body)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("origin called %d times, want 2 (one per variant)", n)
	}
}

// TestFetchLeaderCanceled: when the first caller's context ends, the
// waiters do not inherit its error: one of them asks again.
func TestFetchLeaderCanceled(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	leaderIn := make(chan struct{})
	leader := func(ctx context.Context) (cache.Response, error) {
		close(leaderIn)
		<-ctx.Done()
		return cache.Response{}, ctx.Err()
	}
	var calls atomic.Int32
	other := func(context.Context) (cache.Response, error) {
		calls.Add(1)
		return ok200(clk, "ok", "Cache-Control", "max-age=60"), nil
	}
	var leaderErr error
	done := make(chan struct{})
	go func() {
		_, leaderErr = c.Fetch(ctx, "acme", get(url), leader)
		close(done)
	}()
	<-leaderIn
	go func() {
		waitFor(t, c, "acme", url, 10)
		cancel()
	}()
	entries, errs := fetchAll(c, 10, func(int) cache.Request { return get(url) }, bg, func(int) cache.Origin { return other })
	<-done
	if !errors.Is(leaderErr, context.Canceled) {
		t.Errorf("leader: %v, want context.Canceled", leaderErr)
	}
	for i, e := range entries {
		if errs[i] != nil || string(e.Body) != "ok" {
			t.Fatalf("waiter %d: %v %q", i, errs[i], e.Body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("origin asked again %d times, want 1", n)
	}
}

// TestFetchWaiterCanceled: a waiter whose context ends leaves at once.
func TestFetchWaiterCanceled(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	o := &origin{release: make(chan struct{}), respond: func(int32, context.Context) (cache.Response, error) {
		return ok200(clk, "ok", "Cache-Control", "max-age=60"), nil
	}}
	done := make(chan error)
	go func() {
		_, err := c.Fetch(context.Background(), "acme", get(url), o.fn)
		done <- err
	}()
	for o.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Fetch(ctx, "acme", get(url), o.fn); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter: %v, want DeadlineExceeded", err)
	}
	close(o.release)
	if err := <-done; err != nil {
		t.Errorf("leader: %v", err)
	}
}

// TestFetchOriginPanics: the waiters get an error, the panic goes on in
// the leader, and the next Fetch asks again.
func TestFetchOriginPanics(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	in := make(chan struct{})
	release := make(chan struct{})
	panicked := make(chan any)
	go func() {
		defer func() { panicked <- recover() }()
		c.Fetch(context.Background(), "acme", get(url), func(context.Context) (cache.Response, error) {
			close(in)
			<-release
			panic("boom")
		})
	}()
	<-in
	waiter := make(chan error)
	go func() {
		_, err := c.Fetch(context.Background(), "acme", get(url), nil)
		waiter <- err
	}()
	waitFor(t, c, "acme", url, 1)
	close(release)
	if p := <-panicked; p != "boom" {
		t.Errorf("leader recovered %v, want the origin's panic", p)
	}
	if err := <-waiter; err == nil {
		t.Error("waiter got no error")
	}
	e, err := c.Fetch(context.Background(), "acme", get(url), func(context.Context) (cache.Response, error) {
		return ok200(clk, "ok", "Cache-Control", "max-age=60"), nil
	})
	if err != nil || string(e.Body) != "ok" {
		t.Errorf("after the panic: %v %q", err, e.Body)
	}
}

// TestFetchBypass: requests that a shared entry cannot answer go to the
// origin each, without waiting for one another.
func TestFetchBypass(t *testing.T) {
	for _, tt := range []struct {
		name string
		req  cache.Request
	}{
		{"Authorization", get(url, "Authorization", "Bearer x")},
		{"request no-store", get(url, "Cache-Control", "no-store")},
		{"HEAD", cache.Request{Method: http.MethodHead, URL: url}},
		{"invalid URL", get("/relative")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t, cache.Config{})
			var calls atomic.Int32
			var wg sync.WaitGroup
			wg.Add(10)
			_, errs := fetchAll(c, 10, func(int) cache.Request { return tt.req }, bg, func(int) cache.Origin {
				return func(context.Context) (cache.Response, error) {
					calls.Add(1)
					wg.Done()
					wg.Wait() // all ten in the origin at once
					return ok200(clk, "x", "Cache-Control", "max-age=60"), nil
				}
			})
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n := calls.Load(); n != 10 {
				t.Errorf("origin called %d times, want 10", n)
			}
		})
	}
}

func TestFetchOnlyIfCached(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	o := &origin{respond: func(int32, context.Context) (cache.Response, error) {
		return ok200(clk, "x", "Cache-Control", "max-age=60"), nil
	}}
	e, err := c.Fetch(context.Background(), "acme", get(url, "Cache-Control", "only-if-cached"), o.fn)
	if err != nil || e.Status != http.StatusGatewayTimeout || o.calls.Load() != 0 {
		t.Errorf("only-if-cached miss: %v %d, %d origin calls; want 504 and none", err, e.Status, o.calls.Load())
	}
	c.Fetch(context.Background(), "acme", get(url), o.fn)
	e, err = c.Fetch(context.Background(), "acme", get(url, "Cache-Control", "only-if-cached"), o.fn)
	if err != nil || e.Status != 200 || !e.FromCache {
		t.Errorf("only-if-cached hit: %v %d %v", err, e.Status, e.FromCache)
	}
}

// TestFetchUnsafeInvalidates: a successful POST to a URL deletes its
// entries (RFC 9111 §4.4); a failed one does not.
func TestFetchUnsafeInvalidates(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	if err := c.Put("acme", get(url), ok200(clk, "x", "Cache-Control", "max-age=60")); err != nil {
		t.Fatal(err)
	}
	post := cache.Request{Method: http.MethodPost, URL: url}
	fail := func(context.Context) (cache.Response, error) { return cache.Response{Status: 500}, nil }
	if _, err := c.Fetch(context.Background(), "acme", post, fail); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Match("acme", get(url)); !ok {
		t.Fatal("a failed POST removed the entry")
	}
	okPost := func(context.Context) (cache.Response, error) { return cache.Response{Status: 201}, nil }
	if _, err := c.Fetch(context.Background(), "acme", post, okPost); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Match("acme", get(url)); ok {
		t.Fatal("a successful POST left the entry")
	}
}

// TestFetchAge: a response straight from the origin is passed on as it
// came; the stored copy's age counts the origin's Age and the delay.
func TestFetchAge(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	e, err := c.Fetch(context.Background(), "acme", get(url), func(context.Context) (cache.Response, error) {
		clk.Advance(2 * time.Second) // response delay
		return ok200(clk, "x", "Cache-Control", "max-age=60", "Age", "10"), nil
	})
	if err != nil || e.FromCache || e.Age != 0 || e.Header.Get("Age") != "10" {
		t.Fatalf("from origin: %v FromCache %v Age %d, header Age %q", err, e.FromCache, e.Age, e.Header.Get("Age"))
	}
	clk.Advance(3 * time.Second)
	e, ok := c.Match("acme", get(url))
	if !ok || e.Age != 15 || e.Header.Get("Age") != "" {
		t.Fatalf("stored: hit %v, Age %d (want 10 + 2 + 3), header Age %q", ok, e.Age, e.Header.Get("Age"))
	}
}

// TestFetchAfterClose: the origin answers, nothing is stored.
func TestFetchAfterClose(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	c.Close()
	o := &origin{respond: func(int32, context.Context) (cache.Response, error) {
		return ok200(clk, "x", "Cache-Control", "max-age=60"), nil
	}}
	for range 2 {
		if e, err := c.Fetch(context.Background(), "acme", get(url), o.fn); err != nil || string(e.Body) != "x" {
			t.Fatalf("%v %q", err, e.Body)
		}
	}
	if n := o.calls.Load(); n != 2 {
		t.Errorf("origin called %d times, want 2", n)
	}
}
