package edge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/scheduler"
)

// BenchmarkNoisyNeighbour measures what a hostile tenant costs a quiet
// one: tenant b's examples/hello, requested sequentially, alone and then
// while tenant a keeps 8 requests to an endless loop in flight (each is
// stopped at its 50 ms CPU limit and sent again). It reports b's p50 and
// p99 in both phases and their ratios. Run it once:
//
//	go test -run NONE -bench NoisyNeighbour -benchtime 1x ./edge
func BenchmarkNoisyNeighbour(b *testing.B) {
	ctx := context.Background()
	rt := hostRuntime(b)
	loopWasm, err := os.ReadFile(filepath.Join(testwasm.Root(b), "runtime", "testdata", "loop.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	s := scheduler.New(scheduler.Config{})
	worker := func(tenant, name string, wasm []byte) *scheduler.Worker {
		m, err := rt.Compile(ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		w, err := s.NewWorker(ctx, tenant, name, 1, m, api.Limits{}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Close)
		return w
	}
	loop := worker("a", "loop", loopWasm)
	hello := worker("b", "hello", testwasm.Build(b, "examples/hello"))
	e := edge.New(edge.Config{}, s)
	e.SetWorkers([]*scheduler.Worker{loop, hello}, nil)
	srv := httptest.NewServer(e)
	defer srv.Close()

	get := func(c *http.Client, host string) (int, error) {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	n := 1000 * b.N
	measure := func() []time.Duration {
		c := &http.Client{}
		times := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			code, err := get(c, "hello.b.wedge.localhost")
			if err != nil || code != 200 {
				b.Fatalf("b's hello: %d %v", code, err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		return times
	}
	pct := func(t []time.Duration, p float64) float64 { return float64(t[int(p*float64(len(t)-1))].Microseconds()) }

	b.ResetTimer()
	alone := measure()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopped, others int
	var mu sync.Mutex
	for range 8 {
		wg.Go(func() {
			c := &http.Client{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, err := get(c, "loop.a.wedge.localhost")
				mu.Lock()
				if err == nil && code == 503 {
					stopped++
				} else {
					others++
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // the flood is on
	attacked := measure()
	close(stop)
	wg.Wait()
	b.StopTimer()
	if stopped == 0 {
		b.Fatal("the loops were never stopped")
	}
	b.ReportMetric(pct(alone, 0.5), "alone-p50-µs")
	b.ReportMetric(pct(alone, 0.99), "alone-p99-µs")
	b.ReportMetric(pct(attacked, 0.5), "attacked-p50-µs")
	b.ReportMetric(pct(attacked, 0.99), "attacked-p99-µs")
	b.ReportMetric(pct(attacked, 0.5)/pct(alone, 0.5), "ratio-p50")
	b.ReportMetric(pct(attacked, 0.99)/pct(alone, 0.99), "ratio-p99")
	b.ReportMetric(float64(stopped), "loops-stopped")
}
