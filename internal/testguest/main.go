// Command testguest is a worker for tests: its path picks a behaviour,
// friendly or hostile.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand"
	"math/rand/v2"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

// counter proves isolation: every request must see it at zero.
var counter int

// heap is kept across a request's lifetime only: every request must find it empty.
var heap [][]byte

func init() {
	wedge.HandleFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/echo":
		// Method, URL, a header and the body's SHA-256 and length.
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Echo-Method", r.Method)
		fmt.Fprintf(w, "%s %s %s host=%s x-test=%s len=%d sha=%s\n", r.Method, r.URL.String(), r.Proto, r.Host, r.Header.Get("X-Test"), n, hex.EncodeToString(h.Sum(nil)))
	case "/counter":
		counter++
		fmt.Fprintf(w, "counter=%d\n", counter)
	case "/env":
		fmt.Fprintf(w, "%s\n", os.Getenv(r.URL.Query().Get("key")))
	case "/status":
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.Header().Set("X-Custom", "yes")
		w.WriteHeader(code)
	case "/stream":
		// n chunks of 1 KiB, flushed one by one.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		chunk := strings.Repeat("x", 1023) + "\n"
		for i := 0; i < n; i++ {
			io.WriteString(w, chunk)
			w.(http.Flusher).Flush()
		}
	case "/big":
		// n bytes in one go, streamed past the SDK's buffer.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write([]byte(strings.Repeat("y", n)))
	case "/rand":
		// What the runtime's generator gives: math/rand, math/rand/v2 and
		// a map's iteration order.
		m := map[int]bool{}
		for i := range 16 {
			m[i] = true
		}
		first := -1
		for k := range m {
			first = k
			break
		}
		fmt.Fprintf(w, "%d %d %d\n", mrand.Int63(), rand.Uint64(), first)
	case "/sleep":
		// Sleeps ms milliseconds (WASI poll_oneoff on a clock), then
		// answers with the environment variable key, if any.
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "slept %s\n", os.Getenv(r.URL.Query().Get("key")))
	case "/log":
		fmt.Println("hello from stdout")
		fmt.Fprintln(os.Stderr, "hello from stderr")
		io.WriteString(w, "logged\n")
	case "/fresh":
		// Everything a previous request could have left behind, reported
		// before this request changes it: a global, the heap it grew,
		// goroutines it started, stdout it closed.
		fmt.Fprintf(w, "counter=%d heap=%d goroutines=%d\n", counter, len(heap), goruntime.NumGoroutine())
		counter++
		for i := 0; i < 8; i++ {
			heap = append(heap, make([]byte, 1<<10))
		}
		block := make(chan struct{})
		go func() { <-block }()
		go func() { time.Sleep(time.Hour) }()
		fmt.Println("fresh: stdout works")
		os.Stdout.Close()
	case "/panic":
		panic("guest panic: secret detail")
	case "/loop":
		for {
			counter++
		}
	case "/alloc":
		// Allocate MiB until something gives.
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 1<<20))
			counter += len(keep)
		}
	case "/exit":
		os.Exit(3)
	case "/fetch":
		fetch(w, r)
	case "/client":
		client(w, r)
	case "/fetch-many":
		fetchMany(w, r)
	case "/fetch-open":
		// A response left open: the host closes it after the request.
		resp, err := wedge.Fetch(mustRequest("GET", r.URL.Query().Get("url"), nil))
		if err != nil {
			http.Error(w, "error: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "status=%d\n", resp.StatusCode)
	case "/cache-fetch":
		cacheFetch(w, r)
	case "/cache-put":
		q := r.URL.Query()
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {q.Get("cc")}, "Content-Type": {"text/plain"}},
			Body: io.NopCloser(strings.NewReader(q.Get("body")))}
		if err := wedge.Cache().Put(mustRequest("GET", q.Get("url"), nil), resp); err != nil {
			http.Error(w, "error: "+err.Error(), http.StatusBadGateway)
			return
		}
		b, _ := io.ReadAll(resp.Body) // Put left the body readable
		fmt.Fprintf(w, "put body=%s\n", b)
	case "/cache-match":
		resp, err := wedge.Cache().Match(mustRequest("GET", r.URL.Query().Get("url"), nil))
		if err == wedge.ErrNotFound {
			io.WriteString(w, "miss\n")
			return
		}
		if err != nil {
			http.Error(w, "error: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(w, "hit status=%d age=%s body=%s\n", resp.StatusCode, resp.Header.Get("Age"), b)
	case "/cache-delete":
		if err := wedge.Cache().Delete(mustRequest("GET", r.URL.Query().Get("url"), nil)); err != nil {
			http.Error(w, "error: "+err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, "deleted\n")
	case "/kv":
		serveKV(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveKV runs one KV operation: ?op=get|put|delete|list|incr&key=K&value=V
// (&ns=N, default COUNTS; &prefix=P for list).
func serveKV(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns := q.Get("ns")
	if ns == "" {
		ns = "COUNTS"
	}
	kv, key := wedge.KV(ns), q.Get("key")
	var err error
	switch q.Get("op") {
	case "get":
		var v []byte
		if v, err = kv.Get(key); err == nil {
			w.Write(v)
			return
		}
	case "put":
		err = kv.Put(key, []byte(q.Get("value")))
	case "delete":
		err = kv.Delete(key)
	case "list":
		var keys []string
		if keys, err = kv.List(q.Get("prefix")); err == nil {
			fmt.Fprintf(w, "keys=%s\n", strings.Join(keys, ","))
			return
		}
	case "incr":
		n := 0
		v, gerr := kv.Get(key)
		if gerr == nil {
			n, _ = strconv.Atoi(string(v))
		} else if !errors.Is(gerr, wedge.ErrNotFound) {
			err = gerr
			break
		}
		n++
		if err = kv.Put(key, []byte(strconv.Itoa(n))); err == nil {
			fmt.Fprintf(w, "count=%d\n", n)
			return
		}
	default:
		http.Error(w, "op: get, put, delete, list or incr", http.StatusBadRequest)
		return
	}
	switch {
	case errors.Is(err, wedge.ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
	case err != nil:
		http.Error(w, "error: "+err.Error(), http.StatusForbidden)
	default:
		io.WriteString(w, "ok\n")
	}
}

func mustRequest(method, url string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		panic(err)
	}
	return req
}

// fetchError answers with what the guest learnt of a failed fetch.
func fetchError(w http.ResponseWriter, err error) {
	w.Header().Set("X-Denied", strconv.FormatBool(errors.Is(err, wedge.ErrEgressDenied)))
	w.Header().Set("X-Limit", strconv.FormatBool(errors.Is(err, wedge.ErrLimit)))
	http.Error(w, "error: "+err.Error(), http.StatusBadGateway)
}

// fetch proxies the request to ?url= with ?method= (GET by default),
// streaming the request body there and the response body back.
func fetch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	method := q.Get("method")
	if method == "" {
		method = "GET"
	}
	var body io.Reader
	if r.ContentLength != 0 {
		body = r.Body
	}
	req := mustRequest(method, q.Get("url"), body)
	req.ContentLength = r.ContentLength
	req.Header.Set("X-Test", r.Header.Get("X-Test"))
	resp, err := wedge.Fetch(req)
	if err != nil {
		fetchError(w, err)
		return
	}
	defer resp.Body.Close()
	copyResponse(w, resp)
}

func copyResponse(w http.ResponseWriter, resp *http.Response) {
	for _, k := range []string{"Content-Type", "Location", "X-Origin", "Age", "Cache-Control"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("X-Proto", resp.Proto)
	w.Header().Set("X-Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintf(w, "\nbody error: %v\n", err)
			return
		}
	}
}

// client gets ?url= with an http.Client on wedge.Transport: redirects
// are followed, each hop checked by the host.
func client(w http.ResponseWriter, r *http.Request) {
	c := &http.Client{Transport: wedge.Transport}
	resp, err := c.Get(r.URL.Query().Get("url"))
	if err != nil {
		fetchError(w, err)
		return
	}
	defer resp.Body.Close()
	copyResponse(w, resp)
}

// fetchMany gets ?url= n times and reports how many succeeded and the
// first error.
func fetchMany(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	ok := 0
	var first error
	for i := 0; i < n; i++ {
		resp, err := wedge.Fetch(mustRequest("GET", r.URL.Query().Get("url"), nil))
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ok++
	}
	if first != nil {
		w.Header().Set("X-Limit", strconv.FormatBool(errors.Is(first, wedge.ErrLimit)))
	}
	fmt.Fprintf(w, "ok=%d err=%v\n", ok, first)
}

// cacheFetch gets ?url= through the edge cache.
func cacheFetch(w http.ResponseWriter, r *http.Request) {
	resp, err := wedge.Cache().Fetch(mustRequest("GET", r.URL.Query().Get("url"), nil))
	if err != nil {
		fetchError(w, err)
		return
	}
	defer resp.Body.Close()
	copyResponse(w, resp)
}

func main() {}
