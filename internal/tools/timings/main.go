// Command timings sends sequential requests to a worker and reports the
// percentiles of the client-side latency and of each Server-Timing metric.
//
//	go run ./internal/tools/timings -url http://127.0.0.1:8080/ -host hello.demo.wedge.localhost -n 2000
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/", "URL to request")
	host := flag.String("host", "", "Host header")
	n := flag.Int("n", 2000, "number of sequential requests")
	warm := flag.Int("warmup", 50, "requests before measuring")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	samples := map[string][]float64{}
	for i := 0; i < *warm+*n; i++ {
		req, _ := http.NewRequest("GET", *url, nil)
		if *host != "" {
			req.Host = *host
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		if resp.StatusCode != 200 {
			fmt.Fprintf(os.Stderr, "status %d\n", resp.StatusCode)
			os.Exit(1)
		}
		if i < *warm {
			continue
		}
		samples["client"] = append(samples["client"], float64(elapsed)/float64(time.Millisecond))
		for _, m := range strings.Split(resp.Header.Get("Server-Timing"), ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(m), ";")
			if d, ok := strings.CutPrefix(params, "dur="); ok {
				if v, err := strconv.ParseFloat(d, 64); err == nil {
					samples[name] = append(samples[name], v)
				}
			}
		}
	}
	names := make([]string, 0, len(samples))
	for k := range samples {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Printf("%-12s %8s %10s %10s %10s\n", "metric (ms)", "n", "p50", "p99", "max")
	for _, k := range names {
		s := samples[k]
		slices.Sort(s)
		fmt.Printf("%-12s %8d %10.3f %10.3f %10.3f\n", k, len(s), pct(s, 0.50), pct(s, 0.99), s[len(s)-1])
	}
}

func pct(s []float64, p float64) float64 {
	i := int(float64(len(s)-1) * p)
	return s[i]
}
