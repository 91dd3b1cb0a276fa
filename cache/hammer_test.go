package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/cache"
)

// TestHammer runs every operation from many goroutines on a few tenants
// and URLs, with budgets small enough that entries are evicted all the
// time, and a clock that moves so that entries go stale. Afterwards every
// count must agree with what the cache holds, and no tenant may be over
// its cap. Run it with -race.
func TestHammer(t *testing.T) {
	const maxTenant = 64 << 10
	c, clk := newCache(t, cache.Config{MaxBytes: 192 << 10, MaxTenantBytes: maxTenant, MaxEntryBytes: 16 << 10})
	tenants := []string{"a", "b", "c", "d"}
	encodings := []string{"gzip", "br", ""}
	n := 4000
	if testing.Short() {
		n = 500
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range n {
				tenant := tenants[r.IntN(len(tenants))]
				u := fmt.Sprintf("https://%s.example/%d", tenant, r.IntN(40))
				req := get(u, "Accept-Encoding", encodings[r.IntN(len(encodings))])
				resp := func() cache.Response {
					return ok200(clk, strings.Repeat("x", r.IntN(8<<10)), "Cache-Control", fmt.Sprintf("max-age=%d", 1+r.IntN(30)), "Vary", "Accept-Encoding")
				}
				switch op := r.IntN(10); {
				case op < 4:
					if e, ok := c.Match(tenant, req); ok && (!e.FromCache || e.Status != 200) {
						t.Errorf("Match: %+v", e)
					}
				case op < 7:
					if err := c.Put(tenant, req, resp()); err != nil && !errors.Is(err, cache.ErrNotStored) {
						t.Errorf("Put: %v", err)
					}
				case op < 8:
					c.Delete(tenant, req)
				default:
					body := resp()
					e, err := c.Fetch(context.Background(), tenant, req, func(context.Context) (cache.Response, error) {
						if r := rand.IntN(20); r == 0 {
							return cache.Response{}, errors.New("origin down")
						}
						return body, nil
					})
					if err == nil && e.Status != 200 {
						t.Errorf("Fetch: %+v", e)
					}
				}
				if i%100 == 0 {
					clk.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	checkLive(t, c)
	for _, tenant := range tenants {
		s := c.Stats(tenant)
		if s.Bytes > maxTenant || s.Bytes < 0 || s.Entries < 0 {
			t.Errorf("tenant %s: %+v", tenant, s)
		}
		t.Logf("tenant %s: %+v", tenant, s)
	}
}

// TestCloseDuringUse: Close while every operation runs neither panics nor
// deadlocks, and afterwards nothing is stored.
func TestCloseDuringUse(t *testing.T) {
	c, clk := newCache(t, cache.Config{MaxBytes: 64 << 10})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req := get(fmt.Sprintf("https://x.example/%d", i%50))
				switch (g + i) % 4 {
				case 0:
					c.Match("a", req)
				case 1:
					_ = c.Put("a", req, ok200(clk, "body", "Cache-Control", "max-age=60"))
				case 2:
					c.Delete("a", req)
				case 3:
					_, _ = c.Fetch(context.Background(), "a", req, func(context.Context) (cache.Response, error) {
						return ok200(clk, "body", "Cache-Control", "max-age=60"), nil
					})
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	c.Close()
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := c.Put("a", get("https://x.example/new"), ok200(clk, "body", "Cache-Control", "max-age=60")); !errors.Is(err, cache.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
}
