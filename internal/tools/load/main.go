// Command load is a closed-loop HTTP load generator for comparing
// protocols with the same client budget: -c requests in flight at all
// times over -conns connections, for -d, over HTTP/1.1 (plain or TLS, by
// the URL's scheme), HTTP/2 (TLS, or h2c for an http URL) or HTTP/3. It
// prints the requests per second and the latency percentiles.
//
//	load -proto h3 -url https://127.0.0.1:8443/ -host hello.demo.wedge.localhost -c 64 -conns 8 -d 10s
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go/http3"
)

func main() {
	rawURL := flag.String("url", "https://127.0.0.1:8443/", "the URL to GET")
	host := flag.String("host", "", "the Host header (HTTP/2 and HTTP/3: :authority); empty: the URL's")
	proto := flag.String("proto", "h1", "h1 (HTTP/1.1), h2 (HTTP/2; h2c for an http URL) or h3 (HTTP/3)")
	concurrency := flag.Int("c", 64, "requests in flight")
	conns := flag.Int("conns", 0, "connections (0: -c for h1, -c/8 for h2 and h3); the requests in flight are spread over them")
	duration := flag.Duration("d", 10*time.Second, "how long to measure")
	warmup := flag.Duration("warmup", time.Second, "how long to send before measuring")
	flag.Parse()
	u, err := url.Parse(*rawURL)
	if err != nil {
		fatal(err)
	}
	if *conns <= 0 {
		*conns = *concurrency
		if *proto != "h1" {
			*conns = max(1, *concurrency/8)
		}
	}
	if *conns > *concurrency {
		*conns = *concurrency
	}
	clients := make([]http.RoundTripper, *conns)
	for i := range clients {
		clients[i], err = transport(*proto, u.Scheme, *concurrency / *conns + 1)
		if err != nil {
			fatal(err)
		}
	}

	var (
		measuring  atomic.Bool
		stop       atomic.Bool
		errs, bad  atomic.Int64
		firstError atomic.Value
		wg         sync.WaitGroup
		mu         sync.Mutex
		all        []time.Duration
	)
	for i := range *concurrency {
		rt := clients[i%len(clients)]
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<16)
			buf := make([]byte, 32<<10)
			for !stop.Load() {
				req, _ := http.NewRequestWithContext(context.Background(), "GET", u.String(), nil)
				if *host != "" {
					req.Host = *host
				}
				t0 := time.Now()
				resp, err := rt.RoundTrip(req)
				if err == nil {
					for {
						if _, rerr := resp.Body.Read(buf); rerr != nil {
							if rerr != io.EOF {
								err = rerr
							}
							break
						}
					}
					resp.Body.Close()
				}
				d := time.Since(t0)
				if !measuring.Load() {
					continue
				}
				switch {
				case err != nil:
					errs.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
				case resp.StatusCode >= 300:
					bad.Add(1)
				default:
					lat = append(lat, d)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	time.Sleep(*warmup)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(*duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	for _, c := range clients {
		if cl, ok := c.(io.Closer); ok {
			cl.Close()
		}
	}

	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	fmt.Printf("proto=%s conns=%d in_flight=%d duration=%s requests=%d rps=%.0f p50=%s p90=%s p99=%s max=%s errors=%d non_2xx=%d\n",
		*proto, *conns, *concurrency, elapsed.Round(time.Millisecond), len(all), float64(len(all))/elapsed.Seconds(),
		ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)), errs.Load(), bad.Load())
	if e := firstError.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "first error:", e)
	}
}

// transport returns one connection's worth of client: its requests share
// a single connection (h2, h3) or a pool of up to streams (h1: one
// request per connection at a time).
func transport(proto, scheme string, streams int) (http.RoundTripper, error) {
	tlsCfg := &tls.Config{InsecureSkipVerify: true} // loopback measurements only
	switch proto {
	case "h3":
		return &http3.Transport{TLSClientConfig: tlsCfg}, nil
	case "h1", "h2":
		var p http.Protocols
		switch {
		case proto == "h1":
			p.SetHTTP1(true)
		case scheme == "http":
			p.SetUnencryptedHTTP2(true)
		default:
			p.SetHTTP2(true)
		}
		conns := 1
		if proto == "h1" {
			conns = streams
		}
		return &http.Transport{
			TLSClientConfig: tlsCfg, Protocols: &p,
			MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns,
			HTTP2: &http.HTTP2Config{StrictMaxConcurrentRequests: true},
		}, nil
	}
	return nil, fmt.Errorf("-proto %q: use h1, h2 or h3", proto)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}
