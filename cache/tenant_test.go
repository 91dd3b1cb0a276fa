package cache_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/cache"
)

func TestTenantIsolation(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	if err := c.Put("a", get(url), ok200(clk, "a's", "Cache-Control", "max-age=60")); err != nil {
		t.Fatal(err)
	}
	// Names that could run into each other if the key just concatenated
	// tenant and URL.
	for _, tenant := range []string{"b", "", "a ", "ahttps://example.com", "A"} {
		if e, ok := c.Match(tenant, get(url)); ok {
			t.Errorf("tenant %q sees tenant a's entry: %q", tenant, e.Body)
		}
	}
	if err := c.Put("b", get(url), ok200(clk, "b's", "Cache-Control", "max-age=60")); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"a", "b"} {
		e, ok := c.Match(tenant, get(url))
		if !ok || string(e.Body) != tenant+"'s" {
			t.Errorf("tenant %s: %v %q, want its own entry", tenant, ok, e.Body)
		}
	}
	c.Delete("a", get(url))
	if _, ok := c.Match("b", get(url)); !ok {
		t.Error("tenant a's Delete removed tenant b's entry")
	}
	if got := c.Tenants(); strings.Join(got, ",") != ",A,a,a ,ahttps://example.com,b" {
		t.Errorf("Tenants: %q", got)
	}
}

// TestTenantCap: a tenant that stores far more than its cap evicts its own
// entries, least recently used first, and never another tenant's.
func TestTenantCap(t *testing.T) {
	const body = 10 << 10
	c, clk := newCache(t, cache.Config{MaxBytes: 1 << 20, MaxTenantBytes: 256 << 10})
	put := func(tenant string, i int) error {
		return c.Put(tenant, get(fmt.Sprintf("https://%s.example/%d", tenant, i)), ok200(clk, strings.Repeat("x", body), "Cache-Control", "max-age=3600"))
	}
	// Tenant b's hot set: 10 entries, read often.
	for i := range 10 {
		if err := put("b", i); err != nil {
			t.Fatal(err)
		}
	}
	hot := func(tenant string, n int) {
		for i := range n {
			if _, ok := c.Match(tenant, get(fmt.Sprintf("https://%s.example/%d", tenant, i))); !ok {
				t.Fatalf("tenant %s's entry %d is gone", tenant, i)
			}
		}
	}
	hot("b", 10)

	// Tenant a keeps 3 hot entries and stores 1000 others, 40 times its cap.
	for i := range 1000 {
		if err := put("a", i); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		clk.Advance(time.Second)
		if i >= 3 && i%10 == 0 {
			hot("a", 3)
		}
		if s := c.Stats("a"); s.Bytes > 256<<10 {
			t.Fatalf("after %d stores tenant a holds %d bytes, over its cap", i+1, s.Bytes)
		}
	}
	hot("b", 10)
	hot("a", 3)
	a, b := c.Stats("a"), c.Stats("b")
	if a.Evictions < 900 || b.Evictions != 0 {
		t.Errorf("evictions: a %d, b %d; want a > 900, b 0", a.Evictions, b.Evictions)
	}
	if a.Entries < 20 || a.Entries > 25 {
		t.Errorf("tenant a holds %d entries, want its cap's worth (about 24)", a.Entries)
	}
	if b.Entries != 10 {
		t.Errorf("tenant b holds %d entries, want 10", b.Entries)
	}
	// The most recent of a's cold entries is there, an old one is not.
	if _, ok := c.Match("a", get("https://a.example/999")); !ok {
		t.Error("tenant a's newest entry is gone")
	}
	if _, ok := c.Match("a", get("https://a.example/500")); ok {
		t.Error("tenant a's old entry is still there")
	}
}

// TestTenantCapMany: with several tenants pushing against a small host
// budget, each stays within its cap and every count adds up.
func TestTenantCapMany(t *testing.T) {
	c, clk := newCache(t, cache.Config{MaxBytes: 512 << 10, MaxTenantBytes: 128 << 10})
	for i := range 2000 {
		tenant := fmt.Sprintf("t%d", i%8)
		_ = c.Put(tenant, get(fmt.Sprintf("https://x.example/%d", i)), ok200(clk, strings.Repeat("x", 3000+i%5000), "Cache-Control", "max-age=3600"))
	}
	var total int64
	for _, tenant := range c.Tenants() {
		s := c.Stats(tenant)
		if s.Bytes > 128<<10 || s.Bytes < 0 || s.Entries < 0 {
			t.Errorf("tenant %s: %+v", tenant, s)
		}
		total += s.Bytes
	}
	if total > 512<<10 {
		t.Errorf("tenants hold %d bytes together, over the host budget", total)
	}
	checkLive(t, c)
}

func TestEntryLargerThanTenantCap(t *testing.T) {
	c, clk := newCache(t, cache.Config{MaxBytes: 1 << 20, MaxTenantBytes: 64 << 10, MaxEntryBytes: 1 << 20})
	if err := c.Put("a", get(url), ok200(clk, "small", "Cache-Control", "max-age=60")); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("a", get("https://example.com/big"), ok200(clk, strings.Repeat("x", 64<<10), "Cache-Control", "max-age=60")); err == nil {
		t.Fatal("an entry past the tenant cap was stored")
	}
	if _, ok := c.Match("a", get(url)); !ok {
		t.Error("a refused entry evicted another")
	}
}

func TestStats(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	if s := c.Stats("nobody"); s != (cache.Stats{}) {
		t.Errorf("unknown tenant: %+v", s)
	}
	_ = c.Put("a", get(url), ok200(clk, "body", "Cache-Control", "max-age=60"))
	_ = c.Put("a", get(url+"2"), ok200(clk, "body", "Cache-Control", "no-store"))
	c.Match("a", get(url))
	c.Match("a", get(url))
	c.Match("a", get(url+"2"))
	s := c.Stats("a")
	if s.Entries != 1 || s.Stores != 1 || s.Hits != 2 || s.Misses != 1 || s.Bytes <= 4 {
		t.Errorf("stats %+v", s)
	}
	// Replacing an entry does not change the count, nor is it an eviction.
	_ = c.Put("a", get(url), ok200(clk, "body", "Cache-Control", "max-age=60"))
	if s2 := c.Stats("a"); s2.Entries != 1 || s2.Bytes != s.Bytes || s2.Evictions != 0 {
		t.Errorf("after a replacement: %+v, before %+v", s2, s)
	}
}

// TestTenantCapSampled: past 64 stored URLs a tenant's victims are picked
// by sampling; its recently used entries still survive a flood.
func TestTenantCapSampled(t *testing.T) {
	c, clk := newCache(t, cache.Config{MaxBytes: 4 << 20, MaxTenantBytes: 256 << 10})
	u := func(i int) string { return fmt.Sprintf("https://a.example/%d", i) }
	for i := range 5000 {
		if err := c.Put("a", get(u(i)), ok200(clk, strings.Repeat("x", 200), "Cache-Control", "max-age=86400")); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		clk.Advance(time.Second)
		if i >= 20 && i%20 == 0 {
			for j := range 20 {
				if _, ok := c.Match("a", get(u(j))); !ok {
					t.Fatalf("after %d stores, hot entry %d is gone", i+1, j)
				}
			}
		}
	}
	s := c.Stats("a")
	if s.Bytes > 256<<10 || s.Entries < 200 {
		t.Errorf("stats %+v: want near 256 KiB in a few hundred entries", s)
	}
	checkLive(t, c)
}

// TestHostBudgetFull: when other tenants have filled the host budget, a
// flood of new URLs from one tenant takes at most its cap: the others keep
// at least MaxBytes - MaxTenantBytes between them (less one entry).
// Which of their entries stay is ristretto's choice by popularity, which
// is best effort (its frequency counts are sampled), so it is only logged.
func TestHostBudgetFull(t *testing.T) {
	const (
		body      = 10 << 10
		maxBytes  = 512 << 10
		maxTenant = 256 << 10
	)
	c, clk := newCache(t, cache.Config{MaxBytes: maxBytes, MaxTenantBytes: maxTenant})
	u := func(tenant string, i int) cache.Request { return get(fmt.Sprintf("https://%s.example/%d", tenant, i)) }
	put := func(tenant string, i int) {
		c.Match(tenant, u(tenant, i)) // a miss, as before a real Put
		_ = c.Put(tenant, u(tenant, i), ok200(clk, strings.Repeat("x", body), "Cache-Control", "max-age=3600"))
	}
	for i := range 10 {
		put("b", i)
	}
	for i := range 30 {
		put("c", i)
	}
	others := func() int64 { return c.Stats("b").Bytes + c.Stats("c").Bytes }
	before := others()
	for i := range 1000 {
		c.Match("b", u("b", i%10)) // b's hot entries stay hot
		put("a", i)
		if a := c.Stats("a").Bytes; a > maxTenant {
			t.Fatalf("tenant a holds %d bytes, over its cap", a)
		}
		if o := others(); o < min(before, maxBytes-maxTenant)-body-1024 {
			t.Fatalf("after %d stores of tenant a, the others hold %d bytes (%d before)", i+1, o, before)
		}
	}
	hot := 0
	for i := range 10 {
		if _, ok := c.Match("b", u("b", i)); ok {
			hot++
		}
	}
	t.Logf("the others held %d bytes, now %d; %d of b's 10 hot entries are left; a: %+v", before, others(), hot, c.Stats("a"))
	checkLive(t, c)
}
