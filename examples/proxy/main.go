// Command proxy is a worker that forwards every request to an origin (the
// ORIGIN var) and streams the answer back: method, path, query, header
// fields and both bodies, neither held whole in memory.
//
// The origin must be reachable under the host's egress policy: a public
// address, or a range the operator allowed with --egress-allow.
package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

// hopByHop are the fields that concern one connection, not the message.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer"}

func init() {
	wedge.HandleFunc(proxy)
}

func proxy(w http.ResponseWriter, r *http.Request) {
	origin, err := url.Parse(os.Getenv("ORIGIN"))
	if err != nil || origin.Host == "" {
		http.Error(w, "proxy: set ORIGIN to the origin's URL in wedge.toml's [vars]", http.StatusInternalServerError)
		return
	}
	target := *r.URL
	target.Scheme, target.Host = origin.Scheme, origin.Host
	target.Path = strings.TrimSuffix(origin.Path, "/") + r.URL.Path

	var body io.Reader
	if r.ContentLength != 0 {
		body = r.Body // streamed to the origin as the client sends it
	}
	req, err := http.NewRequest(r.Method, target.String(), body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.ContentLength = r.ContentLength
	req.Header = r.Header.Clone()
	for _, f := range hopByHop {
		req.Header.Del(f)
	}
	req.Header.Set("X-Forwarded-Host", r.Host)
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.Header.Add("X-Forwarded-For", host)
	}

	resp, err := wedge.Fetch(req) // redirects come back to the client as they are
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, f := range hopByHop {
		w.Header().Del(f)
	}
	w.WriteHeader(resp.StatusCode)
	// Copy as it comes, flushing each piece: a streamed response stays
	// streamed.
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
		if err != nil {
			return
		}
	}
}

func main() {}
