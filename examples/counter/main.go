// Command counter is a worker that counts visits per path in a KV
// namespace: GET /anything answers how many times /anything was visited;
// GET /_counts lists every counted path.
//
// Every request starts from a fresh instance, so the count lives in KV,
// bound in wedge.toml as COUNTS.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

func init() {
	wedge.HandleFunc(count)
}

func count(w http.ResponseWriter, r *http.Request) {
	counts := wedge.KV("COUNTS")
	if r.URL.Path == "/_counts" {
		keys, err := counts.List("/")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, k := range keys {
			v, _ := counts.Get(k)
			fmt.Fprintf(w, "%s %s\n", k, v)
		}
		return
	}
	n := 0
	switch v, err := counts.Get(r.URL.Path); {
	case err == nil:
		n, _ = strconv.Atoi(string(v))
	case !errors.Is(err, wedge.ErrNotFound):
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	n++
	if err := counts.Put(r.URL.Path, []byte(strconv.Itoa(n))); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s: %d visits\n", r.URL.Path, n)
}

func main() {}
