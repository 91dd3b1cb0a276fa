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
	req, err := readRequest(h)
	w := newResponseWriter(h)
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

// readRequest asks the host for the request head and builds an *http.Request.
func readRequest(h host) (*http.Request, error) {
	var small [2048]byte
	buf := small[:]
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
	r := &http.Request{
		Header:        make(http.Header),
		ContentLength: -1,
		Body:          http.NoBody,
	}
	var rawURL, cl string
	var connState *tls.ConnectionState
	err := decodeFields(buf[:n], func(name, value string) {
		if !strings.HasPrefix(name, ":") {
			r.Header[http.CanonicalHeaderKey(name)] = append(r.Header[http.CanonicalHeaderKey(name)], value)
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
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	r.URL = u
	r.Host = u.Host
	r.TLS = connState
	r.RequestURI = u.RequestURI()
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
