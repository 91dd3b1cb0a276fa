package wedge

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Fetch sends an outbound HTTP request and returns the response, as an
// http.RoundTripper does: it does not follow redirects (a 3xx comes back
// as it is; an http.Client with Transport follows them, each hop a new
// request checked by the host's egress policy), and it does not decompress
// bodies (the request's Accept-Encoding goes out as set).
//
// The request body is streamed to the host while it is read, and the
// response body is streamed from the host while the caller reads it:
// neither is held whole in memory. The caller must close the response
// body; a body read to its end is closed already. Responses still open
// when the handler returns are closed by the host.
//
// The URL must be absolute, http or https. The host refuses addresses
// that are not globally routable (loopback, private, link-local, ...)
// unless its operator allows them: such a request fails with an error
// that is ErrEgressDenied and names the address. Every request may make
// a limited number of outbound requests (the subrequests limit, 50 by
// default); past it Fetch fails with ErrLimit. Other failures (DNS,
// connection, TLS, the request's time running out) are plain errors.
//
// The request's context is not watched while the request is in flight:
// the host ends outbound requests when the worker's request ends.
func Fetch(req *http.Request) (*http.Response, error) {
	return roundTrip(defaultHost, req)
}

// Transport is an http.RoundTripper that sends requests with Fetch, so
// that an http.Client works in a worker:
//
//	client := &http.Client{Transport: wedge.Transport}
var Transport http.RoundTripper = transport{}

type transport struct{}

func (transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return roundTrip(defaultHost, req)
}

// hasBody reports whether req has a body to send.
func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody
}

// encodeRequestHead encodes req's method, URL and header fields (and the
// body's length when body is set) as the ABI's request head.
func encodeRequestHead(dst []byte, req *http.Request, body bool) []byte {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	dst = appendField(appendField(dst, ":method"), method)
	dst = appendField(appendField(dst, ":url"), req.URL.String())
	if body {
		n := req.ContentLength
		if n <= 0 {
			n = -1 // as in net/http: 0 with a body means unknown
		}
		dst = appendField(appendField(dst, ":content-length"), strconv.FormatInt(n, 10))
	}
	if req.Host != "" && req.Host != req.URL.Host {
		dst = appendField(appendField(dst, "Host"), req.Host)
	}
	for name, values := range req.Header {
		for _, v := range values {
			dst = appendField(appendField(dst, name), v)
		}
	}
	return dst
}

// headBuffers hold encoded request heads between calls.
var headBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func roundTrip(h host, req *http.Request) (*http.Response, error) {
	body := hasBody(req)
	closeBody := func() {
		if body {
			req.Body.Close()
		}
	}
	if req.URL == nil {
		closeBody()
		return nil, errors.New("wedge: fetch: the request has no URL")
	}
	hb := headBuffers.Get().(*[]byte)
	head := encodeRequestHead((*hb)[:0], req, body)
	hd := h.fetchSend(head)
	*hb = head[:0]
	headBuffers.Put(hb)
	if hd < 0 {
		closeBody()
		return nil, hostErr(h, "fetch", hd)
	}
	if body {
		werr, rerr := sendBody(h, hd, req.Body)
		req.Body.Close()
		if rerr != nil {
			h.fetchClose(hd)
			return nil, rerr
		}
		if werr == nil {
			h.fetchBodyClose(hd)
		}
		// A write error: the response head says why (the host could not
		// connect, ...) or brings a response the server sent early.
	}
	return readResponse(h, hd, req, "fetch")
}

// bodyBuffers are the buffers request bodies are copied through.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// sendBody copies r to the request body of handle hd. werr is the host's
// error, rerr the reader's.
func sendBody(h host, hd int32, r io.Reader) (werr, rerr error) {
	bp := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			c := h.fetchBodyWrite(hd, p)
			if c < 0 {
				return hostErr(h, "fetch", c), nil
			}
			p = p[c:]
		}
		switch {
		case err == io.EOF:
			return nil, nil
		case err != nil:
			return nil, err
		}
	}
}

// readResponse reads the response head of handle hd and makes the
// response, whose body reads from the handle.
func readResponse(h host, hd int32, req *http.Request, op string) (*http.Response, error) {
	var small [2048]byte
	buf := small[:]
	n := h.fetchResponseHead(hd, buf)
	if n < 0 {
		err := hostErr(h, op, n)
		h.fetchClose(hd)
		return nil, err
	}
	if int(n) > len(buf) {
		buf = make([]byte, n)
		if m := h.fetchResponseHead(hd, buf); m != n {
			h.fetchClose(hd)
			return nil, errMalformed
		}
	}
	resp := &http.Response{
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        make(http.Header),
		ContentLength: -1,
		Request:       req,
	}
	err := decodeFields(buf[:n], func(name, value string) {
		if len(name) == 0 || name[0] != ':' {
			key := http.CanonicalHeaderKey(name)
			resp.Header[key] = append(resp.Header[key], value)
			return
		}
		switch name {
		case ":status":
			resp.StatusCode, _ = strconv.Atoi(value)
		case ":proto":
			if major, minor, ok := http.ParseHTTPVersion(value); ok {
				resp.Proto, resp.ProtoMajor, resp.ProtoMinor = value, major, minor
			}
		case ":content-length":
			if v, err := strconv.ParseInt(value, 10, 64); err == nil && v >= -1 {
				resp.ContentLength = v
			}
		}
	})
	if err != nil || resp.StatusCode < 100 || resp.StatusCode > 999 {
		h.fetchClose(hd)
		return nil, errMalformed
	}
	resp.Status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	if resp.ContentLength == 0 || req.Method == http.MethodHead || !bodyAllowed(resp.StatusCode) {
		h.fetchClose(hd)
		resp.Body = http.NoBody
		return resp, nil
	}
	resp.Body = &responseBody{h: h, hd: hd}
	return resp, nil
}

// responseBody reads an outbound response's body through
// fetch_body_read. At its end, or when closed, it closes the handle.
type responseBody struct {
	h      host
	hd     int32
	closed bool
	err    error
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := b.h.fetchBodyRead(b.hd, p)
	switch {
	case n < 0:
		b.err = hostErr(b.h, "fetch: response body", n)
		b.Close()
		return 0, b.err
	case n == 0:
		b.err = io.EOF
		b.Close()
		return 0, io.EOF
	}
	return int(n), nil
}

func (b *responseBody) Close() error {
	if !b.closed {
		b.closed = true
		b.h.fetchClose(b.hd)
		if b.err == nil {
			b.err = errBodyClosed
		}
	}
	return nil
}

var errBodyClosed = errors.New("wedge: read on a closed response body")

// unsupported answers the outbound calls of a host that has none (the
// warm-up's, and outside a Wedge host).
type unsupported struct{}

func (unsupported) fetchSend([]byte) int32                { return codeBadState }
func (unsupported) fetchBodyWrite(int32, []byte) int32    { return codeBadState }
func (unsupported) fetchBodyClose(int32) int32            { return codeBadState }
func (unsupported) fetchResponseHead(int32, []byte) int32 { return codeBadState }
func (unsupported) fetchBodyRead(int32, []byte) int32     { return codeBadState }
func (unsupported) fetchClose(int32) int32                { return codeBadState }
func (unsupported) cacheMatch([]byte) int32               { return codeBadState }
func (unsupported) cachePut(_, _, _ []byte) int32         { return codeBadState }
func (unsupported) cacheDelete([]byte) int32              { return codeBadState }
func (unsupported) cacheFetch([]byte) int32               { return codeBadState }
func (unsupported) kvGet(_, _, _ []byte) int32            { return codeBadState }
func (unsupported) kvPut(_, _, _ []byte) int32            { return codeBadState }
func (unsupported) kvDelete(_, _ []byte) int32            { return codeBadState }
func (unsupported) kvList(_, _, _ []byte) int32           { return codeBadState }
func (unsupported) errorMessage(buf []byte) int32 {
	const msg = "not running on a Wedge host"
	if len(msg) <= len(buf) {
		copy(buf, msg)
	}
	return int32(len(msg))
}
