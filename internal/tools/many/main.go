// Command many deploys one module as many workers and measures requests
// spread at random across them:
//
//	go run ./internal/tools/many -api http://127.0.0.1:8081 -token T -tenant demo \
//	    -module hello.wasm -workers 1000 -requests 5000 -pid PID
//
// With -deploy=false it only sends the requests (e.g. after a restart).
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
	flag.Parse()

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
					req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/v1/tenants/%s/workers/w%d", *apiURL, *tenant, i), bytes.NewReader(wasm))
					req.Header.Set("Authorization", "Bearer "+*token)
					req.Header.Set("Content-Type", "application/wasm")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						fail(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 201 {
						fail(fmt.Errorf("deploy w%d: %d %s", i, resp.StatusCode, body))
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

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	times := make([]time.Duration, 0, *requests)
	errors := 0
	for i := 0; i < *requests; i++ {
		w := rand.IntN(*workers)
		req, _ := http.NewRequest("GET", *edge+"/", nil)
		req.Host = fmt.Sprintf("w%d.%s.%s", w, *tenant, *zone)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			fail(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		times = append(times, time.Since(start))
		if resp.StatusCode != 200 {
			errors++
		}
	}
	slices.Sort(times)
	fmt.Printf("%d requests at random over %d workers: %d not 200; p50 %v p99 %v max %v\n", *requests, *workers, errors,
		times[len(times)/2].Round(time.Microsecond), times[len(times)*99/100].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
	rss(*pid, "after requests")
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
