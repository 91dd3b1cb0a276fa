package cache_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wedgeworks/wedge/cache"
)

// hitSetup stores a 1 KiB response like a typical page asset's, with the
// request that matches it.
func hitSetup(tb testing.TB, vary bool) (*cache.Cache, cache.Request) {
	c, clk := newCache(tb, cache.Config{})
	req := cache.Request{Method: http.MethodGet, URL: "https://shop.example.com/assets/app.js?v=3", Header: http.Header{
		"Accept":          {"*/*"},
		"Accept-Encoding": {"gzip, deflate, br"},
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
		"Accept-Language": {"en-GB,en;q=0.9"},
		"Referer":         {"https://shop.example.com/"},
	}}
	resp := ok200(clk, strings.Repeat("x", 1024), "Cache-Control", "public, max-age=3600", "Content-Type", "text/javascript", "Etag", `"abc"`)
	if vary {
		resp.Header.Set("Vary", "Accept-Encoding")
	}
	if err := c.Put("acme", req, resp); err != nil {
		tb.Fatal(err)
	}
	return c, req
}

// TestMatchAllocs: a hit allocates nothing.
func TestMatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	for _, vary := range []bool{false, true} {
		c, req := hitSetup(t, vary)
		for _, cc := range []string{"", "max-age=600, min-fresh=5"} {
			if cc != "" {
				req.Header = req.Header.Clone()
				req.Header.Set("Cache-Control", cc)
			}
			allocs := testing.AllocsPerRun(1000, func() {
				if _, ok := c.Match("acme", req); !ok {
					t.Fatal("miss")
				}
			})
			if allocs != 0 {
				t.Errorf("vary %v, Cache-Control %q: a hit allocates %.1f times", vary, cc, allocs)
			}
		}
	}
}

// BenchmarkMatchHit is a hit on a 1 KiB entry, without and with Vary.
func BenchmarkMatchHit(b *testing.B) {
	for _, vary := range []bool{false, true} {
		b.Run(fmt.Sprintf("vary=%v", vary), func(b *testing.B) {
			c, req := hitSetup(b, vary)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.Match("acme", req); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkMatchHitParallel is hits from every CPU on 64 entries.
func BenchmarkMatchHitParallel(b *testing.B) {
	c, clk := newCache(b, cache.Config{})
	var reqs []cache.Request
	for i := range 64 {
		req := get(fmt.Sprintf("https://shop.example.com/p/%d", i))
		if err := c.Put("acme", req, ok200(clk, strings.Repeat("x", 1024), "Cache-Control", "max-age=3600")); err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Match("acme", reqs[i%64]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
}

func BenchmarkMatchMiss(b *testing.B) {
	c, _ := hitSetup(b, false)
	req := get("https://shop.example.com/not-there")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Match("acme", req); ok {
			b.Fatal("hit")
		}
	}
}

// BenchmarkPut stores a 1 KiB response, replacing the same URL's (same)
// or under a new URL each time (new: evictions once the tenant is full).
func BenchmarkPut(b *testing.B) {
	for _, fresh := range []bool{false, true} {
		b.Run(map[bool]string{false: "same", true: "new"}[fresh], func(b *testing.B) {
			c, clk := newCache(b, cache.Config{MaxBytes: 64 << 20})
			resp := ok200(clk, strings.Repeat("x", 1024), "Cache-Control", "max-age=3600", "Content-Type", "text/html")
			urls := make([]string, 1<<16)
			for i := range urls {
				urls[i] = fmt.Sprintf("https://shop.example.com/p/%d", i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				u := urls[0]
				if fresh {
					u = urls[i%len(urls)]
				}
				i++
				if err := c.Put("acme", get(u), resp); err != nil && !fresh {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFetchHit is a Fetch answered from the cache.
func BenchmarkFetchHit(b *testing.B) {
	c, req := hitSetup(b, false)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if e, err := c.Fetch(ctx, "acme", req, nil); err != nil || !e.FromCache {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchCoalesced is 100 concurrent Fetch calls for one new URL:
// one origin request, 99 waiters or hits. ns/op is per group of 100.
func BenchmarkFetchCoalesced(b *testing.B) {
	c, clk := newCache(b, cache.Config{})
	resp := ok200(clk, strings.Repeat("x", 1024), "Cache-Control", "max-age=3600")
	var calls atomic.Int64
	origin := func(context.Context) (cache.Response, error) {
		calls.Add(1)
		return resp, nil
	}
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		req := get(fmt.Sprintf("https://shop.example.com/p/%d", n))
		n++
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				if _, err := c.Fetch(ctx, "acme", req, origin); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(calls.Load())/float64(n), "origin-calls/op")
}
