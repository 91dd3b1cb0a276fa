package hostapi_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/wedgeworks/wedge/api"
)

// hostcallTest is one script for the ops guest and what it must give.
type hostcallTest struct {
	name  string
	steps []step
	opts  runOptions
	// results are the steps' results, one per step that returned.
	results []int32
	// code is Run's error code; "" means success.
	code api.Code
	// status is the status sent to the client; 0 means no head was sent.
	status int
	// header is the header sent (exactly); body the body.
	header http.Header
	body   string
	// written is what the host wrote into a step's buffer, by step index.
	written map[int]string
	// reqErr is the code of Request.Err, the host's own reason to stop
	// the guest; "" means none.
	reqErr api.Code
}

func (tt hostcallTest) run(t *testing.T) run {
	t.Helper()
	r := runScript(t, tt.steps, tt.opts)
	for _, e := range r.errs {
		t.Error(e)
	}
	if tt.code == "" && r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if tt.code != "" {
		var ae *api.Error
		if !errors.As(r.err, &ae) || ae.Code != tt.code {
			t.Fatalf("Run: %v, want code %s", r.err, tt.code)
		}
	}
	if !slices.Equal(r.results, tt.results) {
		t.Errorf("results %v, want %v", r.results, tt.results)
	}
	for i, want := range tt.written {
		if i >= len(r.written) {
			t.Errorf("step %d did not return", i)
		} else if string(r.written[i]) != want {
			t.Errorf("step %d wrote %q, want %q", i, r.written[i], want)
		}
	}
	checkResponse(t, r, tt.status, tt.header, tt.body, int64(len(tt.body)))
	if r.req != nil {
		if err := r.req.Err(); err != nil && api.CodeOf(err) != tt.reqErr || err == nil && tt.reqErr != "" {
			t.Errorf("Request.Err() = %v, want code %q", err, tt.reqErr)
		}
	}
	return r
}

// checkResponse checks what the client got; status 0 means nothing at
// all. written is what Request.BytesWritten must say.
func checkResponse(t *testing.T, r run, status int, header http.Header, body string, written int64) {
	t.Helper()
	switch {
	case status == 0 && len(r.rec.heads) != 0:
		t.Errorf("the head was sent (%v), want no head", r.rec.heads)
	case status != 0 && !slices.Equal(r.rec.heads, []int{status}):
		t.Errorf("heads sent %v, want [%d]", r.rec.heads, status)
	}
	if r.req != nil {
		if r.req.HeadSent() != (status != 0) || r.req.Status() != status {
			t.Errorf("Request: HeadSent %v, Status %d; want status %d", r.req.HeadSent(), r.req.Status(), status)
		}
		if r.req.BytesWritten() != written {
			t.Errorf("Request.BytesWritten = %d, want %d", r.req.BytesWritten(), written)
		}
	}
	got := r.rec.Result().Header
	if len(got) == 0 {
		got = nil
	}
	if len(header) == 0 {
		header = nil
	}
	if !reflect.DeepEqual(got, header) {
		t.Errorf("header %v, want %v", got, header)
	}
	if r.rec.Body.String() != body {
		t.Errorf("body %q, want %q", r.rec.Body.String(), body)
	}
}

func TestRequestHead(t *testing.T) {
	head := testHead("-1")
	n := uint32(len(head))
	pattern := bytes.Repeat([]byte{0xaa}, 2*len(head))
	tests := []hostcallTest{
		{name: "fits", steps: []step{requestHead(16, 1024)}, results: []int32{int32(n)}, written: map[int]string{0: string(head)}},
		{name: "exact size", steps: []step{poke(16, pattern), requestHead(16, n)}, results: []int32{0, int32(n)}, written: map[int]string{1: string(head)}},
		// Too small: the length, and nothing written (the pattern stays).
		{name: "one byte short", steps: []step{poke(16, pattern), requestHead(16, n-1)}, results: []int32{0, int32(n)}, written: map[int]string{1: ""}},
		{name: "zero length", steps: []step{requestHead(0, 0)}, results: []int32{int32(n)}, written: map[int]string{0: ""}},
		{name: "zero length at the end of memory", steps: []step{requestHead(pageSize, 0)}, results: []int32{int32(n)}},
		{name: "too small, then again", steps: []step{poke(0, pattern), requestHead(0, 8), requestHead(0, n)}, results: []int32{0, int32(n), int32(n)}, written: map[int]string{1: "", 2: string(head)}},
		{name: "at the end of memory", steps: []step{requestHead(pageSize-n, n)}, results: []int32{int32(n)}, written: map[int]string{0: string(head)}},
		{name: "in grown memory", steps: []step{grow(1), requestHead(2*pageSize-n, n)}, results: []int32{1, int32(n)}, written: map[int]string{1: string(head)}},
		{name: "past the end of memory", steps: []step{requestHead(pageSize-n+1, n)}, code: api.CodeWorkerTrap},
		{name: "zero length past the end", steps: []step{requestHead(pageSize+1, 0)}, code: api.CodeWorkerTrap},
		{name: "pointer plus length wraps", steps: []step{requestHead(0xffffffff, 2)}, code: api.CodeWorkerTrap},
		{name: "huge length", steps: []step{requestHead(0, 0xffffffff)}, code: api.CodeWorkerTrap},
		// A buffer out of bounds traps even when it would be too small.
		{name: "too small and out of bounds", steps: []step{requestHead(pageSize, 1)}, code: api.CodeWorkerTrap},
		{name: "second page without growing", steps: []step{requestHead(pageSize, n)}, code: api.CodeWorkerTrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
}

func TestRequestHeadContents(t *testing.T) {
	tests := []struct {
		name string
		req  func() *http.Request
		want []byte
	}{
		{"default", func() *http.Request { return newRequest(http.NoBody, -1) }, testHead("-1")},
		{"https, HTTP/2, a length, a field twice", func() *http.Request {
			r := httptest.NewRequest("PUT", "https://example.com/x?y=%20", strings.NewReader("hello"))
			r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
			r.RemoteAddr = "[2001:db8::1]:443"
			r.Header = http.Header{"X-A": {"b", "c"}}
			return r
		}, fields(":method", "PUT", ":url", "https://example.com/x?y=%20", ":proto", "HTTP/2.0", ":remote", "[2001:db8::1]:443",
			":content-length", "5", ":tls-sni", "example.com", ":tls-version", "TLS 1.2", "X-A", "b", "X-A", "c")},
		{"HTTP/3, TLS 1.3, no SNI", func() *http.Request {
			r := newRequest(http.NoBody, -1)
			r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/3.0", 3, 0
			r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true}
			r.Header = http.Header{}
			return r
		}, fields(":method", "POST", ":url", "https://example.com/p?q=1", ":proto", "HTTP/3.0", ":remote", "192.0.2.1:1234",
			":content-length", "-1", ":tls-sni", "", ":tls-version", "TLS 1.3")},
		{"a server request", func() *http.Request {
			r := newRequest(http.NoBody, 0)
			r.RequestURI = "/raw%2Fpath?q"
			r.Host = "a.example:8080"
			r.Header = http.Header{}
			return r
		}, fields(":method", "POST", ":url", "http://a.example:8080/raw%2Fpath?q", ":proto", "HTTP/1.1", ":remote", "192.0.2.1:1234",
			":content-length", "0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runScript(t, []step{requestHead(0, 4096), requestHead(4096, 4096)}, runOptions{request: tt.req()})
			if r.err != nil {
				t.Fatal(r.err)
			}
			for i, got := range r.written {
				if !bytes.Equal(got, tt.want) {
					t.Errorf("call %d: head\n%q, want\n%q", i, got, tt.want)
				}
			}
		})
	}
}

func TestRequestBodyRead(t *testing.T) {
	tests := []hostcallTest{
		{name: "in pieces", opts: runOptions{body: strings.NewReader("hello world")},
			steps:   []step{requestBodyRead(0, 5), requestBodyRead(100, 100), requestBodyRead(0, 100), requestBodyRead(0, 100)},
			results: []int32{5, 6, 0, 0}, written: map[int]string{0: "hello", 1: " world", 2: ""}},
		{name: "empty body", steps: []step{requestBodyRead(0, 100)}, results: []int32{0}},
		{name: "at the end of memory", opts: runOptions{body: strings.NewReader("hello")},
			steps: []step{requestBodyRead(pageSize-5, 5)}, results: []int32{5}, written: map[int]string{0: "hello"}},
		{name: "past the end of memory", opts: runOptions{body: strings.NewReader("hello")},
			steps: []step{requestBodyRead(pageSize-4, 5)}, code: api.CodeWorkerTrap},
		{name: "pointer plus length wraps", opts: runOptions{body: strings.NewReader("hello")},
			steps: []step{requestBodyRead(0xfffffff0, 0x20)}, code: api.CodeWorkerTrap},
		{name: "read error", opts: runOptions{body: iotest.ErrReader(errors.New("connection reset"))},
			steps: []step{requestBodyRead(0, 100)}, results: []int32{-3}},
		{name: "one byte at a time", opts: runOptions{body: iotest.OneByteReader(strings.NewReader("abc"))},
			steps:   []step{requestBodyRead(0, 100), requestBodyRead(1, 100), requestBodyRead(2, 100), requestBodyRead(3, 100)},
			results: []int32{1, 1, 1, 0}, written: map[int]string{0: "a", 1: "b", 2: "c"}},
		{name: "up to the limit", opts: runOptions{body: strings.NewReader("hello"), maxBody: 5},
			steps: []step{requestBodyRead(0, 100), requestBodyRead(0, 100)}, results: []int32{5, 0}},
		{name: "a read never passes the limit", opts: runOptions{body: strings.NewReader("hello"), maxBody: 3},
			steps: []step{requestBodyRead(0, 100)}, results: []int32{3}, written: map[int]string{0: "hel"}},
		// Past the limit: the guest is stopped (Request.Err says why).
		{name: "past the limit", opts: runOptions{body: strings.NewReader("hello"), maxBody: 3},
			steps: []step{requestBodyRead(0, 100), requestBodyRead(0, 100)}, results: []int32{3}, code: api.CodeWorkerTrap, reqErr: api.CodeBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
}

func TestResponseHead(t *testing.T) {
	ok := fields(":status", "201", "X-A", "b", "x-multi", "1", "X-Multi", "2")
	okHeader := http.Header{"X-A": {"b"}, "X-Multi": {"1", "2"}}
	bad := func(kv ...string) []step { return []step{responseHead(0, fields(kv...))} }
	tests := []hostcallTest{
		{name: "valid", steps: []step{responseHead(0, ok)}, results: []int32{0}, status: 201, header: okHeader},
		{name: "no header fields", steps: []step{responseHead(0, fields(":status", "404"))}, results: []int32{0}, status: 404},
		{name: "status 200", steps: []step{responseHead(0, fields(":status", "200"))}, results: []int32{0}, status: 200},
		{name: "status 999", steps: []step{responseHead(0, fields(":status", "999"))}, results: []int32{0}, status: 999},
		{name: "at the end of memory", steps: []step{responseHead(pageSize-uint32(len(ok)), ok)}, results: []int32{0}, status: 201, header: okHeader},
		{name: "twice", steps: []step{responseHead(0, ok), responseHead(512, fields(":status", "500", "X-B", "c"))},
			results: []int32{0, -1}, status: 201, header: okHeader},
		{name: "after a body write", steps: []step{responseBodyWrite(0, "hi"), responseHead(512, ok)},
			results: []int32{2, -1}, status: 200, body: "hi"},
		{name: "after a flush", steps: []step{responseFlush(), responseHead(512, ok)},
			results: []int32{0, -1}, status: 200},
		{name: "unknown pseudo-field ignored", steps: []step{responseHead(0, fields(":status", "202", ":reason", "Accepted", "X-A", "b"))},
			results: []int32{0}, status: 202, header: http.Header{"X-A": {"b"}}},
		{name: "hop-by-hop fields dropped", steps: []step{responseHead(0, fields(":status", "200",
			"Connection", "close", "keep-alive", "timeout=5", "Proxy-Connection", "keep-alive", "Transfer-Encoding", "chunked",
			"upgrade", "websocket", "TE", "trailers", "Trailer", "X-T", "wedge-error", "no-route", "x-kept", "yes"))},
			results: []int32{0}, status: 200, header: http.Header{"X-Kept": {"yes"}}},
		{name: "tab and obs-text in values", steps: []step{responseHead(0, fields(":status", "200", "X-A", "a\tb", "X-U", "h\xc3\xa9llo", "X-E", ""))},
			results: []int32{0}, status: 200, header: http.Header{"X-A": {"a\tb"}, "X-U": {"h\xc3\xa9llo"}, "X-E": {""}}},

		// Malformed heads: EINVAL and nothing sent.
		{name: "status 99", steps: bad(":status", "99"), results: []int32{-2}},
		{name: "status 1000", steps: bad(":status", "1000"), results: []int32{-2}},
		{name: "status abc", steps: bad(":status", "abc"), results: []int32{-2}},
		{name: "status empty", steps: bad(":status", ""), results: []int32{-2}},
		{name: "status negative", steps: bad(":status", "-200"), results: []int32{-2}},
		{name: "status with a space", steps: bad(":status", "200 "), results: []int32{-2}},
		{name: "no status", steps: bad("X-A", "b"), results: []int32{-2}},
		{name: "status not first", steps: bad("X-A", "b", ":status", "200"), results: []int32{-2}},
		{name: "empty head", steps: []step{{kind: kindResponseHead, ptr: 0, len: 0}}, results: []int32{-2}},
		{name: "truncated", steps: []step{responseHead(0, ok[:len(ok)-1])}, results: []int32{-2}},
		{name: "trailing bytes", steps: []step{responseHead(0, append(bytes.Clone(ok), 1, 0, 0))}, results: []int32{-2}},
		{name: "a name without a value", steps: []step{responseHead(0, fields(":status", "200", "X-A"))}, results: []int32{-2}},
		{name: "huge field length", steps: []step{responseHead(0, append(fields(":status", "200"), 0xff, 0xff, 0xff, 0xff))}, results: []int32{-2}},
		{name: "CR LF in a name", steps: bad(":status", "200", "X-A\r\nX-Evil", "1"), results: []int32{-2}},
		{name: "CR LF in a value", steps: bad(":status", "200", "X-A", "b\r\nSet-Cookie: evil=1"), results: []int32{-2}},
		{name: "LF in a value", steps: bad(":status", "200", "X-A", "b\nX-Evil: 1"), results: []int32{-2}},
		{name: "CR in a value", steps: bad(":status", "200", "X-A", "b\rc"), results: []int32{-2}},
		{name: "NUL in a value", steps: bad(":status", "200", "X-A", "b\x00"), results: []int32{-2}},
		{name: "DEL in a value", steps: bad(":status", "200", "X-A", "b\x7f"), results: []int32{-2}},
		{name: "empty name", steps: bad(":status", "200", "", "b"), results: []int32{-2}},
		{name: "space in a name", steps: bad(":status", "200", "X A", "b"), results: []int32{-2}},
		{name: "colon in a name", steps: bad(":status", "200", "X:A", "b"), results: []int32{-2}},
		{name: "non-ASCII name", steps: bad(":status", "200", "X-\xc3\x84", "b"), results: []int32{-2}},
		// A refused head leaves nothing behind: the next one is sent alone.
		{name: "refused, then valid", steps: []step{
			responseHead(0, fields(":status", "200", "X-Leak", "1", "X-Bad", "b\r\n")),
			responseHead(512, ok)},
			results: []int32{-2, 0}, status: 201, header: okHeader},
		{name: "refused, then a body write", steps: []step{
			responseHead(0, fields(":status", "200", "X-Leak", "1", "Bad Name", "b")),
			responseBodyWrite(512, "ok")},
			results: []int32{-2, 2}, status: 200, body: "ok"},

		// Out of bounds: a trap, and the client's response untouched.
		{name: "past the end of memory", steps: []step{{kind: kindResponseHead, ptr: pageSize - 4, len: 5}}, code: api.CodeWorkerTrap},
		{name: "pointer plus length wraps", steps: []step{{kind: kindResponseHead, ptr: 0xfffffffc, len: 8}}, code: api.CodeWorkerTrap},
		{name: "out of bounds after a head", steps: []step{responseHead(0, ok), {kind: kindResponseHead, ptr: pageSize, len: 1}},
			results: []int32{0}, code: api.CodeWorkerTrap, status: 201, header: okHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
}

func TestBeforeHead(t *testing.T) {
	calls := 0
	opts := runOptions{beforeHead: func(h http.Header) { calls++; h.Set("Server-Timing", "total;dur=1") }}
	// Not called for a refused head; called once for the head sent.
	r := hostcallTest{
		steps:   []step{responseHead(0, fields(":status", "99")), responseHead(64, fields(":status", "203", "X-A", "b")), responseBodyWrite(256, "x")},
		opts:    opts,
		results: []int32{-2, 0, 1}, status: 203, body: "x",
		header: http.Header{"X-A": {"b"}, "Server-Timing": {"total;dur=1"}},
	}
	r.run(t)
	if calls != 1 {
		t.Errorf("BeforeHead called %d times, want 1", calls)
	}
	// Called for the implicit 200 too.
	calls = 0
	hostcallTest{steps: []step{responseBodyWrite(0, "x")}, opts: opts, results: []int32{1}, status: 200, body: "x",
		header: http.Header{"Server-Timing": {"total;dur=1"}}}.run(t)
	if calls != 1 {
		t.Errorf("BeforeHead called %d times for an implicit head, want 1", calls)
	}
}

func TestResponseBodyWrite(t *testing.T) {
	tests := []hostcallTest{
		{name: "before the head: 200", steps: []step{responseBodyWrite(0, "hello")}, results: []int32{5}, status: 200, body: "hello"},
		{name: "after the head", steps: []step{responseHead(0, fields(":status", "418")), responseBodyWrite(64, "teapot")},
			results: []int32{0, 6}, status: 418, body: "teapot"},
		{name: "several writes", steps: []step{responseBodyWrite(0, "a"), responseBodyWrite(0, "bc"), responseBodyWrite(100, "def")},
			results: []int32{1, 2, 3}, status: 200, body: "abcdef"},
		{name: "empty write sends the head", steps: []step{responseBodyWrite(0, "")}, results: []int32{0}, status: 200},
		{name: "empty write at the end of memory", steps: []step{{kind: kindResponseBodyWrite, ptr: pageSize}}, results: []int32{0}, status: 200},
		{name: "the whole memory", steps: []step{{kind: kindResponseBodyWrite, ptr: 0, len: pageSize}}, results: []int32{pageSize}, status: 200, body: string(make([]byte, pageSize))},
		{name: "from grown memory", steps: []step{grow(1), responseBodyWrite(pageSize+10, "grown")}, results: []int32{1, 5}, status: 200, body: "grown"},
		{name: "past the end of memory", steps: []step{{kind: kindResponseBodyWrite, ptr: pageSize - 4, len: 5}}, code: api.CodeWorkerTrap},
		{name: "pointer plus length wraps", steps: []step{{kind: kindResponseBodyWrite, ptr: 0xffffffff, len: 1}}, code: api.CodeWorkerTrap},
		{name: "huge length", steps: []step{{kind: kindResponseBodyWrite, ptr: 0, len: 0x80000000}}, code: api.CodeWorkerTrap},
		{name: "out of bounds after a write", steps: []step{responseBodyWrite(0, "partial"), {kind: kindResponseBodyWrite, ptr: pageSize, len: 1}},
			results: []int32{7}, code: api.CodeWorkerTrap, status: 200, body: "partial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
}

// TestBufferedWritesDoNotPause: body writes that fit in what the writer
// buffers before its first flush (Request.Buffered) cannot block and do
// not pause; a write past it, or after a flush, does.
func TestBufferedWritesDoNotPause(t *testing.T) {
	kib := strings.Repeat("k", 1024)
	tests := []struct {
		name     string
		buffered int64
		steps    []step
		pauses   int64
	}{
		{"no buffer", 0, []step{responseBodyWrite(0, "hello")}, 1},
		{"within", 2048, []step{responseBodyWrite(0, kib), responseBodyWrite(0, kib)}, 0},
		{"past it", 2048, []step{responseBodyWrite(0, kib), responseBodyWrite(0, kib), responseBodyWrite(0, "x")}, 1},
		{"one write past it", 2048, []step{responseBodyWrite(0, kib+kib+"x")}, 1},
		{"after a flush", 2048, []step{responseBodyWrite(0, "a"), responseFlush(), responseBodyWrite(0, "b")}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pauses, resumes atomic.Int64
			r := runScript(t, tt.steps, runOptions{buffered: tt.buffered,
				yield: func() { pauses.Add(1) }, resume: func() { resumes.Add(1) }})
			if r.err != nil {
				t.Fatal(r.err)
			}
			if pauses.Load() != tt.pauses || resumes.Load() != tt.pauses {
				t.Errorf("%d pauses, %d resumes; want %d", pauses.Load(), resumes.Load(), tt.pauses)
			}
		})
	}
}

func TestResponseFlush(t *testing.T) {
	tests := []hostcallTest{
		{name: "before the head: 200", steps: []step{responseFlush()}, results: []int32{0}, status: 200},
		{name: "after the head", steps: []step{responseHead(0, fields(":status", "202")), responseFlush()}, results: []int32{0, 0}, status: 202},
		{name: "between writes", steps: []step{responseBodyWrite(0, "a"), responseFlush(), responseBodyWrite(0, "b"), responseFlush()},
			results: []int32{1, 0, 1, 0}, status: 200, body: "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.run(t)
			if !r.rec.Flushed {
				t.Error("the response was not flushed")
			}
		})
	}
}

// noFlush is a ResponseWriter that cannot flush.
type noFlush struct{ h http.Header }

func (w noFlush) Header() http.Header       { return w.h }
func (noFlush) Write(p []byte) (int, error) { return len(p), nil }
func (noFlush) WriteHeader(int)             {}

// failing is a ResponseWriter whose client went away.
type failing struct{ noFlush }

func (failing) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestResponseWriterErrors(t *testing.T) {
	tests := []struct {
		name    string
		w       http.ResponseWriter
		steps   []step
		results []int32
	}{
		{"flush unsupported", noFlush{http.Header{}}, []step{responseFlush()}, []int32{-3}},
		{"write to a gone client", failing{noFlush{http.Header{}}}, []step{responseBodyWrite(0, "x"), responseBodyWrite(0, "y")}, []int32{-3, -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWithWriter(t, tt.steps, tt.w)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !slices.Equal(r.results, tt.results) {
				t.Errorf("results %v, want %v", r.results, tt.results)
			}
		})
	}
}

// TestNoRequest: hostcalls made without a Request in the context (not on
// behalf of a request) get EBADSTATE and touch nothing; a bad range still
// traps.
func TestNoRequest(t *testing.T) {
	opts := runOptions{noRequest: true}
	for _, tt := range []hostcallTest{
		{name: "request_head", steps: []step{requestHead(0, 4096)}, results: []int32{-1}, written: map[int]string{0: ""}},
		{name: "request_body_read", steps: []step{requestBodyRead(0, 4096)}, results: []int32{-1}, written: map[int]string{0: ""}},
		{name: "response_head", steps: []step{responseHead(0, fields(":status", "200"))}, results: []int32{-1}},
		{name: "response_body_write", steps: []step{responseBodyWrite(0, "x")}, results: []int32{-1}},
		{name: "response_flush", steps: []step{responseFlush()}, results: []int32{-1}},
		{name: "out of bounds", steps: []step{requestHead(pageSize, 1)}, code: api.CodeWorkerTrap},
	} {
		tt.opts = opts
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
}
