// Command cache is a worker that serves an origin (the ORIGIN var) through
// the edge cache. GET and HEAD requests are answered from the cache while
// a fresh copy is there, or else fetched — concurrent misses for one URL
// share one request to the origin — and stored when the origin's
// Cache-Control (or Expires) allows it. X-Cache says HIT or MISS. A PURGE
// request removes the URL's cached copy. Other methods go to the origin
// and invalidate the URL when they succeed.
package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

func init() {
	wedge.HandleFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	origin, err := url.Parse(os.Getenv("ORIGIN"))
	if err != nil || origin.Host == "" {
		http.Error(w, "cache: set ORIGIN to the origin's URL in wedge.toml's [vars]", http.StatusInternalServerError)
		return
	}
	target := *r.URL
	target.Scheme, target.Host = origin.Scheme, origin.Host
	target.Path = strings.TrimSuffix(origin.Path, "/") + r.URL.Path

	method := r.Method
	if method == "PURGE" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.ContentLength != 0 {
		body = r.Body
	}
	req, err := http.NewRequest(method, target.String(), body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.ContentLength = r.ContentLength
	// The fields the cache looks at (and the origin may Vary on).
	for _, f := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control", "Content-Type"} {
		if v := r.Header.Values(f); len(v) > 0 {
			req.Header[f] = v
		}
	}

	if r.Method == "PURGE" {
		if err := wedge.Cache().Delete(req); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "purged "+target.String()+"\n")
		return
	}

	resp, err := wedge.Cache().Fetch(req)
	if err != nil {
		http.Error(w, "cache: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if resp.Header.Get("Age") != "" {
		w.Header().Set("X-Cache", "HIT")
	} else {
		w.Header().Set("X-Cache", "MISS")
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func main() {}
