package wedge

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unsafe"
)

var handler http.Handler

// Handle registers the worker's handler. Call it from init; the last call wins.
func Handle(h http.Handler) { handler = h }

// HandleFunc registers f as the worker's handler. Call it from init.
func HandleFunc(f func(http.ResponseWriter, *http.Request)) { handler = http.HandlerFunc(f) }

// host is the host side of the ABI; hostcalls_wasip1.go implements it with
// the wedge_v1 imports.
type host interface {
	requestHead(buf []byte) int32
	requestBodyRead(buf []byte) int32
	responseHead(head []byte) int32
	responseBodyWrite(p []byte) int32
	responseFlush() int32

	fetchSend(head []byte) int32
	fetchBodyWrite(h int32, p []byte) int32
	fetchBodyClose(h int32) int32
	fetchResponseHead(h int32, buf []byte) int32
	fetchBodyRead(h int32, buf []byte) int32
	fetchClose(h int32) int32
	cacheMatch(head []byte) int32
	cachePut(reqHead, respHead, body []byte) int32
	cacheDelete(head []byte) int32
	cacheFetch(head []byte) int32
	errorMessage(buf []byte) int32

	kvGet(ns, key, buf []byte) int32
	kvPut(ns, key, value []byte) int32
	kvDelete(ns, key []byte) int32
	kvList(ns, prefix, buf []byte) int32
}

// Error codes of the ABI (docs/abi.md).
const (
	codeBadState  = -1
	codeInvalid   = -2
	codeIO        = -3
	codeTooLarge  = -4
	codeDenied    = -5
	codeLimit     = -6
	codeNotFound  = -7
	codeBadHandle = -8
)

func codeError(op string, c int32) error {
	switch c {
	case codeBadState:
		return errors.New("wedge: " + op + ": invalid state")
	case codeInvalid:
		return errors.New("wedge: " + op + ": invalid argument")
	case codeTooLarge:
		return errors.New("wedge: " + op + ": request body too large")
	default:
		return errors.New("wedge: " + op + ": i/o error")
	}
}

// serve handles one request: the body of wedge_handle.
func serve(h host) {
	x := spare
	if x == nil {
		x = newExchange()
	}
	spare = nil
	req, err := readRequest(h, x)
	w := newResponseWriter(h, x)
	switch {
	case err != nil:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "wedge: cannot read the request: "+err.Error()+"\n")
	case handler == nil:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "wedge: no handler registered: call wedge.Handle or wedge.HandleFunc from init\n")
	default:
		handler.ServeHTTP(w, req)
	}
	w.finish()
}

// headBuf receives the request head: a buffer on the stack would escape
// (the host is an interface) and cost every request a 2 KiB allocation.
// One request at a time reads it, and decodeFields copies what it keeps.
var headBuf [2048]byte

// exchange holds the objects of one request that the handler sees: the
// request, its URL and header, the response writer and its header, and
// room for header values. Allocated one by one they were five allocations
// and five pages written on every request, each object in its size
// class's span; a Go guest pays for every allocation, and its instance's
// reset for every page.
type exchange struct {
	req        http.Request
	url        url.URL
	w          responseWriter
	reqHeader  http.Header
	respHeader http.Header
	values     [16]string // for the request's header fields of one value
	// inImage is set on the spare: the request runs in an instance that
	// is reset to the image after it, so nothing it makes outlives it,
	// and its strings may point into the head buffer rather than copy it.
	inImage bool
}

func newExchange() *exchange {
	return &exchange{reqHeader: make(http.Header), respHeader: make(http.Header)}
}

// spare is the exchange the next request takes: set by wedge_prepare, so
// that it lies in the image, ready, for every request (which starts from
// the image); nil otherwise, and each request allocates its own.
var spare *exchange

// readRequest asks the host for the request head and builds an *http.Request
// in x.
func readRequest(h host, x *exchange) (*http.Request, error) {
	buf := headBuf[:]
	n := h.requestHead(buf)
	if n < 0 {
		return nil, codeError("request_head", n)
	}
	if int(n) > len(buf) {
		buf = make([]byte, n)
		if m := h.requestHead(buf); m != n {
			return nil, errMalformed
		}
	}
	x.req = http.Request{
		Header:        x.reqHeader,
		ContentLength: -1,
		Body:          http.NoBody,
	}
	r := &x.req
	values := x.values[:]
	var rawURL, cl string
	var connState *tls.ConnectionState
	var head string
	if x.inImage && n > 0 {
		head = unsafe.String(&buf[0], n) // see exchange.inImage
	} else {
		head = string(buf[:n])
	}
	err := decodeFieldsString(head, func(name, value string) {
		if !strings.HasPrefix(name, ":") {
			if !isCanonical(name) { // the host sends names net/http made canonical
				name = http.CanonicalHeaderKey(name)
			}
			if old, ok := r.Header[name]; ok || len(values) == 0 {
				r.Header[name] = append(old, value)
				return
			}
			values[0] = value
			r.Header[name] = values[:1:1]
			values = values[1:]
			return
		}
		switch name {
		case ":method":
			r.Method = value
		case ":url":
			rawURL = value
		case ":proto":
			r.Proto = value
		case ":remote":
			r.RemoteAddr = value
		case ":content-length":
			cl = value
		case ":tls-sni", ":tls-version":
			if connState == nil {
				connState = &tls.ConnectionState{HandshakeComplete: true}
			}
			if name == ":tls-sni" {
				connState.ServerName = value
			} else {
				connState.Version = tlsVersion(value)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	u := &x.url
	uri, simple := parseSimpleURL(rawURL, u)
	if !simple {
		if u, err = url.Parse(rawURL); err != nil {
			return nil, err
		}
		uri = u.RequestURI()
	}
	r.URL = u
	r.Host = u.Host
	r.TLS = connState
	r.RequestURI = uri
	var ok bool
	if r.ProtoMajor, r.ProtoMinor, ok = http.ParseHTTPVersion(r.Proto); !ok {
		r.ProtoMajor, r.ProtoMinor = 1, 1
	}
	if cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil {
			r.ContentLength = v
		}
	}
	if r.ContentLength != 0 {
		r.Body = io.NopCloser(bufio.NewReaderSize(&bodyReader{h: h}, 16<<10))
	}
	return r, nil
}

// isCanonical reports whether http.CanonicalHeaderKey(name) is name:
// letters upper case at the start and after a hyphen, lower case elsewhere.
// (A name with bytes a header name cannot have is returned unchanged by
// CanonicalHeaderKey, whatever its case.)
func isCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// parseSimpleURL parses the URLs the host sends for almost every request
// — http or https, a host name or IPv4 address with an optional port, a
// path without escapes, an optional query — into u, as url.Parse would
// return it, and returns the request URI (path and query) as
// u.RequestURI() would. It reports false for anything else, which
// url.Parse then handles: url.Parse and RequestURI cost a Go guest several
// microseconds a request.
func parseSimpleURL(raw string, u *url.URL) (requestURI string, ok bool) {
	var scheme string
	switch {
	case strings.HasPrefix(raw, "http://"):
		scheme, raw = "http", raw[len("http://"):]
	case strings.HasPrefix(raw, "https://"):
		scheme, raw = "https", raw[len("https://"):]
	default:
		return "", false
	}
	slash := strings.IndexByte(raw, '/')
	if slash <= 0 {
		return "", false
	}
	host, uri := raw[:slash], raw[slash:]
	colon := -1
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.':
			if colon >= 0 && (c < '0' || c > '9') {
				return "", false // the port is digits only
			}
		case c == ':' && colon < 0:
			colon = i
		default:
			return "", false
		}
	}
	path, query, hasQuery := strings.Cut(uri, "?")
	if hasQuery && query == "" {
		return "", false // ForceQuery
	}
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			return "", false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c == 0x7f || c == '#' {
			return "", false
		}
	}
	*u = url.URL{Scheme: scheme, Host: host, Path: path, RawQuery: query}
	return uri, true
}

// plainPathByte marks the bytes a path may have for url.Parse to keep it
// as it is, with no RawPath: letters, digits and -_.~$&+,/:;=@.
var plainPathByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~$&+,/:;=@", byte(c)) >= 0
	}
	return t
}()

// tlsVersion returns the version number of a name tls.VersionName gives
// ("TLS 1.3"), or 0.
func tlsVersion(name string) uint16 {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS11, tls.VersionTLS10} {
		if tls.VersionName(v) == name {
			return v
		}
	}
	return 0
}

// bodyReader reads the request body through request_body_read.
type bodyReader struct {
	h   host
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := b.h.requestBodyRead(p)
	switch {
	case n < 0:
		b.err = codeError("request_body_read", n)
		return 0, b.err
	case n == 0:
		b.err = io.EOF
		return 0, io.EOF
	}
	return int(n), nil
}
