package cache_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/cache"
)

// t0 is when every test starts, on the fake clock.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a fake clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newCache returns a cache on a fake clock at t0, closed when the test ends.
func newCache(tb testing.TB, cfg cache.Config) (*cache.Cache, *clock) {
	tb.Helper()
	clk := &clock{now: t0}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	c, err := cache.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Close()
		checkAccounting(tb, c)
	})
	return c, clk
}

// hdr makes a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func get(url string, kv ...string) cache.Request {
	return cache.Request{Method: http.MethodGet, URL: url, Header: hdr(kv...)}
}

// ok200 is a 200 response with the body and the header fields given,
// dated at the clock's time unless a Date is given.
func ok200(clk *clock, body string, kv ...string) cache.Response {
	h := hdr(kv...)
	if _, ok := h["Date"]; !ok {
		h.Set("Date", clk.Now().Format(http.TimeFormat))
	}
	return cache.Response{Status: http.StatusOK, Header: h, Body: []byte(body)}
}

// checkAccounting fails when a closed cache still counts bytes or entries.
func checkAccounting(tb testing.TB, c *cache.Cache) {
	tb.Helper()
	for _, name := range c.Tenants() {
		if s := c.Stats(name); s.Bytes != 0 || s.Entries != 0 {
			tb.Errorf("tenant %q after Close: %d bytes, %d entries counted; want 0", name, s.Bytes, s.Entries)
		}
	}
}

// checkLive fails when the cache's counts disagree with what it holds.
func checkLive(tb testing.TB, c *cache.Cache) {
	tb.Helper()
	if err := c.Audit(); err != nil {
		tb.Error(err)
	}
}
