package wedge

import (
	"fmt"
	"net/http"
	"os"
	"testing"
)

// discardHost answers one canned request head and discards the response,
// without the bookkeeping of fakeHost: what the SDK itself costs.
type discardHost struct {
	unsupported
	head []byte
}

func (h *discardHost) requestHead(buf []byte) int32 {
	if len(h.head) <= len(buf) {
		copy(buf, h.head)
	}
	return int32(len(h.head))
}
func (h *discardHost) requestBodyRead([]byte) int32     { return 0 }
func (h *discardHost) responseHead([]byte) int32        { return 0 }
func (h *discardHost) responseBodyWrite(p []byte) int32 { return int32(len(p)) }
func (h *discardHost) responseFlush() int32             { return 0 }

// BenchmarkServeHello runs examples/hello's handler through the SDK
// natively, with the head wrk sends: the SDK's share of a request, and its
// allocations (each one costs more in a wasm guest than here).
func BenchmarkServeHello(b *testing.B) {
	h := &discardHost{}
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
