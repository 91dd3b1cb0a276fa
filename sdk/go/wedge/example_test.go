package wedge_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

// A worker is a net/http handler registered from init. Build it with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared (or wedge build).
func ExampleHandleFunc() {
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from %s\n", r.URL.Path)
	})
}

// Any http.Handler works, e.g. a ServeMux; vars and secrets are
// environment variables.
func ExampleHandle() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s, %s\n", os.Getenv("GREETING"), r.PathValue("name"))
	})
	wedge.Handle(mux)
}

// A worker that calls an API and passes its answer on. Both bodies are
// streamed; the response body must be closed.
func ExampleFetch() {
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest("GET", "https://api.example.com/v1/items", nil)
		req.Header.Set("Authorization", "Bearer "+os.Getenv("API_TOKEN")) // a secret
		resp, err := wedge.Fetch(req)
		if err != nil {
			// errors.Is(err, wedge.ErrEgressDenied): the host refused the
			// address; wedge.ErrLimit: too many subrequests.
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

// Transport makes net/http's client work in a worker; the client follows
// redirects, each hop checked by the host's egress policy.
func ExampleTransport() {
	client := &http.Client{Transport: wedge.Transport}
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get("https://example.com/")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		fmt.Fprintf(w, "example.com answered %s\n", resp.Status)
	})
}

// Reading an origin through the edge cache: a hundred requests arriving
// together for an uncached URL make one request to the origin.
func ExampleEdgeCache_Fetch() {
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest("GET", "https://origin.example.com"+r.URL.Path, nil)
		resp, err := wedge.Cache().Fetch(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if resp.Header.Get("Age") != "" {
			w.Header().Set("X-Cache", "HIT")
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

// Caching a response the worker makes itself, for a minute.
func ExampleEdgeCache_Put() {
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := http.NewRequest("GET", "https://cache.internal/report", nil)
		if resp, err := wedge.Cache().Match(key); err == nil {
			defer resp.Body.Close()
			io.Copy(w, resp.Body)
			return
		} else if !errors.Is(err, wedge.ErrNotFound) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		report := "an expensive report\n"
		resp := &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Cache-Control": {"max-age=60"}, "Content-Type": {"text/plain"}},
			Body:       io.NopCloser(strings.NewReader(report)),
		}
		wedge.Cache().Put(key, resp) // a response the rules refuse is simply not stored
		io.WriteString(w, report)
	})
}
