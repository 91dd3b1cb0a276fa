// Command testguest is a worker for tests: its path picks a behaviour,
// friendly or hostile.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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
	default:
		http.NotFound(w, r)
	}
}

func main() {}
