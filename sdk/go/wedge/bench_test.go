package wedge

import (
	"fmt"
	"net/http"
	"os"
	"testing"
)

// BenchmarkServeHello runs examples/hello's handler through the SDK
// natively, with the head wrk sends: the SDK's share of a request, and its
// allocations (each one costs more in a wasm guest than here).
func BenchmarkServeHello(b *testing.B) {
	h := &nullHost{} // warmup.go's: a canned head, the response discarded
	for _, s := range []string{":method", "GET", ":url", "http://hello.demo.wedge.localhost/", ":proto", "HTTP/1.1",
		":remote", "127.0.0.1:40000", ":content-length", "0", "Host", "hello.demo.wedge.localhost"} {
		h.head = appendField(h.head, s)
	}
	old := handler
	defer func() { handler = old }()
	HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		greeting := os.Getenv("GREETING")
		if greeting == "" {
			greeting = "Hello"
		}
		fmt.Fprintf(w, "%s from %s\n", greeting, r.URL.Path)
	})
	b.ReportAllocs()
	for b.Loop() {
		serve(h)
	}
}
