// Command many deploys one module as many workers and measures requests
// spread at random across them:
//
//	go run ./internal/tools/many -api http://127.0.0.1:8081 -token T -tenant demo \
//	    -module hello.wasm -workers 1000 -requests 5000 -pid PID
//
// With -deploy=false it only sends the requests (e.g. after a restart).
//
// With -distinct every worker gets its own module: the greeting "Hello" in
// the module's data is replaced by "H0000" … "H9999", so that the modules
// differ (each is compiled on its own) and each answer says which worker
// gave it. It then also measures a sweep in least-recently-used order,
// where with more workers than the compiled-code budget holds every
// request finds its worker's code evicted.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	apiURL := flag.String("api", "http://127.0.0.1:8081", "control-plane API")
	edge := flag.String("edge", "http://127.0.0.1:8080", "edge listener")
	token := flag.String("token", os.Getenv("WEDGE_TOKEN"), "operator or tenant token")
	tenant := flag.String("tenant", "demo", "tenant")
	zone := flag.String("zone", "wedge.localhost", "zone")
	module := flag.String("module", "", "module to deploy")
	workers := flag.Int("workers", 1000, "number of workers (w0 … wN-1)")
	requests := flag.Int("requests", 5000, "requests spread at random over the workers")
	deploy := flag.Bool("deploy", true, "deploy the workers first")
	pid := flag.Int("pid", 0, "server process to report the RSS of")
	distinct := flag.Bool("distinct", false, "a distinct module per worker (see the package comment)")
	flag.Parse()
	if *distinct && *workers > 10000 {
		fail(fmt.Errorf("-distinct: at most 10000 workers"))
	}

	if *deploy {
		wasm, err := os.ReadFile(*module)
		if err != nil {
			fail(err)
		}
		start := time.Now()
		work := make(chan int)
		var wg sync.WaitGroup
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					body := wasm
					if *distinct {
						body = variant(wasm, i)
					}
					req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/v1/tenants/%s/workers/w%d", *apiURL, *tenant, i), bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+*token)
					req.Header.Set("Content-Type", "application/wasm")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						fail(err)
					}
					answer, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 201 {
						fail(fmt.Errorf("deploy w%d: %d %s", i, resp.StatusCode, answer))
					}
				}
			}()
		}
		for i := 0; i < *workers; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		fmt.Printf("deployed %d workers in %v\n", *workers, time.Since(start).Round(time.Millisecond))
	}
	rss(*pid, "after deploy")

	c := &client{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}, edge: *edge, tenant: *tenant, zone: *zone, distinct: *distinct}
	c.measure(fmt.Sprintf("%d requests at random over %d workers", *requests, *workers), *requests, func(int) int { return rand.IntN(*workers) })
	rss(*pid, "after requests")
	if *distinct {
		reloads := c.metric(*apiURL, "wedge_code_reloads_total")
		c.measure(fmt.Sprintf("a sweep over the %d workers in LRU order", *workers), *workers, func(i int) int { return i })
		fmt.Printf("  code reloaded during the sweep: %.0f times\n", c.metric(*apiURL, "wedge_code_reloads_total")-reloads)
		c.measure("then one worker again and again (its code resident)", 200, func(int) int { return 0 })
		rss(*pid, "after the sweep")
	}
}

type client struct {
	http               *http.Client
	edge, tenant, zone string
	distinct           bool
}

// measure sends n requests, the i-th to worker pick(i), and prints the
// latency's p50, p99 and maximum.
func (c *client) measure(what string, n int, pick func(i int) int) {
	times := make([]time.Duration, 0, n)
	errors := 0
	for i := 0; i < n; i++ {
		w := pick(i)
		req, _ := http.NewRequest("GET", c.edge+"/", nil)
		req.Host = fmt.Sprintf("w%d.%s.%s", w, c.tenant, c.zone)
		start := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			fail(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		times = append(times, time.Since(start))
		if resp.StatusCode != 200 {
			errors++
		} else if want := fmt.Sprintf("H%04d from", w); c.distinct && !bytes.HasPrefix(body, []byte(want)) {
			fail(fmt.Errorf("worker w%d answered %q, want it to start with %q", w, body, want))
		}
	}
	slices.Sort(times)
	fmt.Printf("%s: %d not 200; p50 %v p99 %v max %v\n", what, errors,
		times[len(times)/2].Round(time.Microsecond), times[len(times)*99/100].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
}

// metric reads a counter or gauge without labels from the API's /metrics.
func (c *client) metric(apiURL, name string) float64 {
	resp, err := c.http.Get(apiURL + "/metrics")
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	fail(fmt.Errorf("metric %s not found", name))
	return 0
}

// variant replaces the greeting "Hello" in wasm's data by "H" and i in four
// digits. (Go's string data is one run of bytes: the greeting is the one
// "Hello" that is not the start of crypto/tls's "HelloRetryRequest".)
func variant(wasm []byte, i int) []byte {
	marker := []byte("Hello")
	at := -1
	for j := 0; ; {
		k := bytes.Index(wasm[j:], marker)
		if k < 0 {
			break
		}
		if k += j; !bytes.HasPrefix(wasm[k+len(marker):], []byte("Retry")) {
			if at >= 0 {
				fail(fmt.Errorf("-distinct: the module holds the greeting %q more than once", marker))
			}
			at = k
		}
		j = k + 1
	}
	if at < 0 {
		fail(fmt.Errorf("-distinct: the module does not hold the greeting %q", marker))
	}
	out := bytes.Clone(wasm)
	copy(out[at:], fmt.Sprintf("H%04d", i))
	return out
}

func rss(pid int, when string) {
	if pid == 0 {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	var fields []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "RssShmem:") || strings.HasPrefix(line, "RssAnon:") {
			fields = append(fields, strings.Join(strings.Fields(line), " "))
		}
	}
	// RSS counts a shared page once per mapping: PSS divides it among them.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Pss:") {
				fields = append(fields, strings.Join(strings.Fields(line), " "))
			}
		}
	}
	fmt.Printf("%s: %s\n", when, strings.Join(fields, ", "))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "many:", err)
	os.Exit(1)
}
