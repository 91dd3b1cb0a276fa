// Command hello is the smallest Wedge worker: it answers every request with
// a greeting and the path it was asked for.
package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

func init() {
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		greeting := os.Getenv("GREETING")
		if greeting == "" {
			greeting = "Hello"
		}
		fmt.Fprintf(w, "%s from %s\n", greeting, r.URL.Path)
	})
}

func main() {}
