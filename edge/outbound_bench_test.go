package edge_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/scheduler"
)

// BenchmarkOutbound compares, in one run and over HTTP on loopback:
//   - direct: a Go http.Client request to an origin;
//   - proxied: the same request made by a worker (wedge.Fetch, through the
//     host's pooled connections), as its client sees it;
//   - cache-hit: a worker answering from the edge cache (wedge.Cache().Match
//     of a stored response).
//
// Each reports p50 and p99; proxied and cache-hit report their p50 ratio to
// direct.
func BenchmarkOutbound(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "hello from the origin\n")
	}))
	defer origin.Close()
	c, err := cache.New(cache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	srv, _, _ := newEdgeWorker(b, edge.Config{Egress: loopback, Cache: c}, api.Limits{Subrequests: 1000}, scheduler.Config{})
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	get := func(b *testing.B, u, host string) {
		req, _ := http.NewRequest("GET", u, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	const host = "guest.t1.wedge.localhost"
	target := url.QueryEscape(origin.URL + "/item")
	// Fill the cache through the worker once.
	get(b, srv.URL+"/cache-fetch?url="+target, host)

	n := max(b.N, 200)
	p50 := map[string]float64{}
	for _, bc := range []struct {
		name, url, host string
	}{
		{"direct", origin.URL + "/item", ""},
		{"proxied", srv.URL + "/fetch?url=" + target, host},
		{"cache-hit", srv.URL + "/cache-match?url=" + target, host},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range 20 {
				get(b, bc.url, bc.host) // warm connections and pools
			}
			times := make([]time.Duration, 0, n)
			b.ResetTimer()
			for range n {
				start := time.Now()
				get(b, bc.url, bc.host)
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			p50[bc.name] = float64(times[len(times)/2].Microseconds())
			b.ReportMetric(p50[bc.name], "p50-µs")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds()), "p99-µs")
			if d := p50["direct"]; bc.name != "direct" && d > 0 {
				b.ReportMetric(p50[bc.name]/d, "x-direct")
			}
		})
	}
}
