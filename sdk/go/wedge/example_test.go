package wedge_test

import (
	"fmt"
	"net/http"
	"os"

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
