// Command tlsguest is a worker for the TLS end-to-end tests: / answers
// with what the worker sees of the request's protocol and TLS state, and
// /fetch?url=U with the body of a GET of U (a slow origin makes a slow
// request).
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

func init() {
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fetch" {
			req, _ := http.NewRequest("GET", r.URL.Query().Get("url"), nil)
			resp, err := wedge.Fetch(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			io.Copy(w, resp.Body)
			return
		}
		state := "none"
		if r.TLS != nil {
			state = fmt.Sprintf("sni=%s version=%s", r.TLS.ServerName, tls.VersionName(r.TLS.Version))
		}
		fmt.Fprintf(w, "%s %s tls=[%s] early=%s\n", r.Proto, r.URL, state, r.Header.Get("Early-Data"))
	})
}

func main() {}
