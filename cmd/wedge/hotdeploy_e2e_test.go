package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

// hotDeployLoad is the load TestHotDeploy runs: by default a short one for
// CI; WEDGE_HOTDEPLOY=full runs the acceptance figure (30 s at 64
// connections, a deploy every 2 s), as scripts/hot-deploy.sh does.
func hotDeployLoad() (run time.Duration, conns int, every time.Duration) {
	if os.Getenv("WEDGE_HOTDEPLOY") == "full" {
		return 30 * time.Second, 64, 2 * time.Second
	}
	return 10 * time.Second, 32, time.Second
}

// TestHotDeploy deploys a new version of a worker again and again while
// clients hammer it. No request may fail; a request that starts after a
// deploy answered is served by that version or a later one; a client never
// sees versions go backwards; and a slow request in flight during a deploy
// finishes on the version it started on.
func TestHotDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end load test; skipped in -short mode")
	}
	run, conns, every := hotDeployLoad()
	s := startServer(t, t.TempDir())
	token := s.createTenant("acme")
	guest := testwasm.Build(t, "internal/testguest")
	deploy := func(n int) {
		t.Helper()
		dir := project(t, guest, fmt.Sprintf("name = \"guest\"\nmain = \"worker.wasm\"\n[vars]\nVERSION = \"%d\"\n", n))
		s.mustCLI(token, "acme", "deploy", dir)
	}
	deploy(1)
	var deployed atomic.Int64 // the last version whose deploy answered
	deployed.Store(1)

	const host = "guest.acme.wedge.localhost"
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
		Timeout:   30 * time.Second,
	}
	defer client.CloseIdleConnections()
	get := func(path string) (int, string, error) {
		req, _ := http.NewRequest("GET", "http://"+s.edge+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		lat      []time.Duration
		served   = map[int]int{} // version → requests
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		} else if len(failures) == 20 {
			failures = append(failures, "…")
		}
	}
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			var mine []time.Duration
			seen := map[int]int{}
			for !stop.Load() {
				floor := int(deployed.Load())
				start := time.Now()
				status, body, err := get("/env?key=VERSION")
				took := time.Since(start)
				if err != nil || status != 200 {
					fail("%d %q %v", status, body, err)
					continue
				}
				v, err := strconv.Atoi(strings.TrimSpace(body))
				switch {
				case err != nil:
					fail("body %q", body)
				case v < floor:
					fail("version %d served after version %d's deploy answered", v, floor)
				case v < last:
					fail("a client saw version %d after version %d", v, last)
				}
				last = v
				seen[v]++
				mine = append(mine, took)
			}
			mu.Lock()
			lat = append(lat, mine...)
			for v, n := range seen {
				served[v] += n
			}
			mu.Unlock()
		}()
	}

	var slow sync.WaitGroup
	begin := time.Now()
	n := 1
	for time.Since(begin)+every <= run {
		time.Sleep(every / 2)
		// A slow request starts on version n, and the deploy of n+1
		// happens while it sleeps in the guest.
		slow.Add(1)
		go func(v int) {
			defer slow.Done()
			status, body, err := get("/sleep?ms=1500&key=VERSION")
			if want := fmt.Sprintf("slept %d\n", v); err != nil || status != 200 || body != want {
				fail("a request in flight during the deploy of version %d: %d %q %v, want %q", v+1, status, body, err, want)
			}
		}(n)
		time.Sleep(every / 2 / 2)
		n++
		deploy(n)
		deployed.Store(int64(n))
	}
	stop.Store(true)
	wg.Wait()
	slow.Wait()
	elapsed := time.Since(begin)

	for _, f := range failures {
		t.Error(f)
	}
	if len(lat) == 0 {
		t.Fatal("no request completed")
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	t.Logf("%d requests in %v over %d connections (%.0f/s), %d deploys, %d failed; p50 %v p99 %v max %v; requests per version %v",
		len(lat), elapsed.Round(time.Millisecond), conns, float64(len(lat))/elapsed.Seconds(), n-1, len(failures),
		pct(0.5), pct(0.99), lat[len(lat)-1], served)
	if served[n] == 0 {
		t.Errorf("the last version, %d, served no request", n)
	}
}
