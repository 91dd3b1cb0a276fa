package wedge

import (
	"fmt"
	"io"
	"net/http"
)

// warmUp runs one synthetic request through the SDK — never through the
// worker's handler — against a host that answers nothing, so that the lazy
// work of the SDK and the packages under it (first-use tables, the
// goroutine stack growing to its working size) is done before the image is
// captured instead of again in every request.
func warmUp() {
	h := &nullHost{head: appendField(appendField(nil, ":method"), "GET")}
	for _, kv := range [][2]string{
		{":url", "http://warm.up/path?q=1"}, {":proto", "HTTP/1.1"}, {":remote", "127.0.0.1:1"},
		{":content-length", "0"},
		// As over TLS: a request's first *tls.ConnectionState must not be
		// the one that makes the heap grow (an instance whose memory grew
		// cannot be reset to the image, and is dropped).
		{":tls-sni", "warm.up"}, {":tls-version", "TLS 1.3"},
		{"Accept", "*/*"}, {"User-Agent", "wedge"},
	} {
		h.head = appendField(appendField(h.head, kv[0]), kv[1])
	}
	x := newExchange()
	req, err := readRequest(h, x)
	if err != nil {
		return
	}
	w := newResponseWriter(h, x)
	w.Header().Set("X-Warm", "1")
	fmt.Fprintf(w, "%s %s %d %v\n", req.Method, req.URL.Path, 1, true)
	io.WriteString(w, http.StatusText(http.StatusOK))
	w.finish()
}

// nullHost serves one canned request head and discards the response.
type nullHost struct {
	unsupported
	head []byte
}

func (h *nullHost) requestHead(buf []byte) int32 {
	copy(buf, h.head)
	return int32(len(h.head))
}
func (h *nullHost) requestBodyRead([]byte) int32     { return 0 }
func (h *nullHost) responseHead([]byte) int32        { return 0 }
func (h *nullHost) responseBodyWrite(p []byte) int32 { return int32(len(p)) }
func (h *nullHost) responseFlush() int32             { return 0 }
