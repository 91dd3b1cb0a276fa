package wedge

import (
	"net/http"
	"strconv"
	"sync"
)

const bufferSize = 8 << 10

// buffers are a response's body buffer and head encoding space. They come
// from a pool rather than from each request: an 8 KiB buffer is a span of
// its own to Go's allocator, and every request starts from the same image,
// so every request would take a new span from the heap (and zero it) —
// a third of a hello request's time. The pool holds one set in the image.
type buffers struct {
	body []byte
	head []byte
}

var bufferPool = sync.Pool{New: func() any {
	return &buffers{body: make([]byte, 0, bufferSize), head: make([]byte, 0, 512)}
}}

// responseWriter implements http.ResponseWriter and http.Flusher on the ABI.
type responseWriter struct {
	h        host
	header   http.Header
	status   int  // 0 until WriteHeader or the first Write
	headSent bool // response_head was called
	buf      []byte
	bufs     *buffers // returned to bufferPool by finish
	err      error    // first error from the host; later writes fail with it
	length   int      // Content-Length to send with the head, if >= 0 (set by finish)
}

// newResponseWriter makes x's response writer.
func newResponseWriter(h host, x *exchange) *responseWriter {
	b := bufferPool.Get().(*buffers)
	x.w = responseWriter{h: h, header: x.respHeader, buf: b.body[:0], bufs: b, length: -1}
	return &x.w
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return // like net/http: superfluous calls are ignored
	}
	if code < 100 || code > 999 {
		panic("wedge: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 {
		return // informational responses are not supported by ABI v1
	}
	w.status = code
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if len(w.buf)+len(p) <= cap(w.buf) {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	// Too much to buffer: stream. Head first (without Content-Length), then
	// what was buffered, then p.
	if err := w.flushBuffer(p); err != nil {
		return 0, err
	}
	if len(p) > cap(w.buf) {
		if err := w.write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush sends the head and everything written so far to the client.
func (w *responseWriter) Flush() {
	if w.err != nil {
		return
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if err := w.flushBuffer(nil); err != nil {
		return
	}
	if c := w.h.responseFlush(); c < 0 {
		w.err = codeError("response_flush", c)
	}
}

// finish completes the response after the handler returned. A response that
// was never streamed goes out in one piece with its Content-Length.
func (w *responseWriter) finish() {
	defer w.release()
	if w.err != nil {
		return
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.headSent && bodyAllowed(w.status) && headerGet(w.header, "Content-Length") == "" && headerGet(w.header, "Transfer-Encoding") == "" {
		w.length = len(w.buf)
	}
	w.flushBuffer(nil)
}

// release returns the buffers to the pool; the writer must not be used
// after it (like net/http's, once the handler returned).
func (w *responseWriter) release() {
	if w.bufs == nil {
		return
	}
	w.bufs.body = w.buf[:0]
	bufferPool.Put(w.bufs)
	w.bufs, w.buf = nil, nil
}

// flushBuffer sends the head if needed, then the buffered bytes. next, the
// bytes about to be written, helps sniff the Content-Type when the buffer is
// empty.
func (w *responseWriter) flushBuffer(next []byte) error {
	if !w.headSent {
		sniff := w.buf
		if len(sniff) == 0 {
			sniff = next
		}
		if err := w.sendHead(sniff); err != nil {
			return err
		}
	}
	if len(w.buf) == 0 {
		return nil
	}
	err := w.write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// sendHead sends the status and the header, plus the Content-Type sniffed
// from the body and the Content-Length finish found, when the handler set
// neither: those go straight into the encoded head rather than into the
// header map (the handler has returned, or does not see them in net/http
// either until the head is written).
func (w *responseWriter) sendHead(sniff []byte) error {
	w.headSent = true
	head := w.bufs.head[:0]
	head = appendField(head, ":status")
	head = appendFieldInt(head, int64(w.status))
	if bodyAllowed(w.status) && headerGet(w.header, "Content-Type") == "" && headerGet(w.header, "Transfer-Encoding") == "" && len(sniff) > 0 {
		if _, haveType := w.header["Content-Type"]; !haveType {
			head = appendField(head, "Content-Type")
			head = appendField(head, detectContentType(sniff))
		}
	}
	if w.length >= 0 {
		head = appendField(head, "Content-Length")
		head = appendFieldInt(head, int64(w.length))
	}
	for name, values := range w.header {
		for _, v := range values {
			head = appendField(head, name)
			head = appendField(head, v)
		}
	}
	w.bufs.head = head[:0] // keep what it grew to
	if c := w.h.responseHead(head); c < 0 {
		w.err = codeError("response_head", c)
		return w.err
	}
	return nil
}

func (w *responseWriter) write(p []byte) error {
	for len(p) > 0 {
		n := w.h.responseBodyWrite(p)
		if n < 0 {
			w.err = codeError("response_body_write", n)
			return w.err
		}
		p = p[n:]
	}
	return nil
}

// bodyAllowed reports whether a response with this status may have a body.
func bodyAllowed(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// headerGet is h.Get(key) for a key already in canonical form, without
// canonicalising it again.
func headerGet(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
