package hostapi

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net/http"
	"strconv"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cache"
)

// Pauser is what a Request's blocking hostcalls call around their wait
// (runtime.Meter is one).
type Pauser interface {
	// Pause is called before the wait, Resume after it.
	Pause()
	Resume()
	// PauseWriting is Pause for the hostcalls that write into the guest's
	// memory while they wait: reading the request body or a fetched body
	// straight into the guest's buffer. (The runtime resets an instance
	// faster when it knows no pause wrote to its memory.)
	PauseWriting()
}

// Request is one HTTP request's state as the guest sees it.
type Request struct {
	// W and R are the request being served. R.Body is read as the guest
	// asks for it (streamed, not buffered).
	W http.ResponseWriter
	R *http.Request
	// MaxBody caps the request body in bytes; zero means no cap. A guest
	// that reads past it is stopped and the client gets body-too-large.
	MaxBody int64
	// BeforeHead, if set, is called with the response header right before
	// the head is sent, e.g. to add Server-Timing.
	BeforeHead func(h http.Header)
	// Pauser, if set, brackets every hostcall that may block on the
	// client (reading the body, writing or flushing the response) or on
	// the network (outbound requests, their bodies, a shared cache fill),
	// so that the scheduler can run another guest meanwhile: the
	// request's runtime.Meter.
	Pauser Pauser
	// Buffered is how many bytes of response body W takes without
	// blocking until the first flush: writes within it do not pause.
	// net/http's servers buffer 2 KiB (HTTP/1) or 4 KiB (HTTP/2) before
	// they write to the connection. Zero: every write may block.
	Buffered int64
	// Tenant is the worker's tenant: the cache keeps tenants' entries
	// apart.
	Tenant string
	// Egress makes the guest's outbound requests and decides where they
	// may go. Nil means a host-wide default with the zero EgressConfig
	// (globally routable addresses only).
	Egress *Egress
	// Cache is the edge cache. Nil means none: cache_match finds
	// nothing, cache_put stores nothing, cache_fetch always fetches.
	Cache *cache.Cache
	// KV is the key-value store of the kv_* host functions; nil: none
	// (every call answers EDENIED). KVBindings are the namespaces the
	// worker binds in its wedge.toml: the only ones it may use.
	KV         KV
	KVBindings []string
	// MaxSubrequests caps the outbound requests (fetch_send, cache_fetch)
	// of this request; past it they fail with ELIMIT. Zero means
	// api.DefaultLimits.Subrequests.
	MaxSubrequests int

	head      []byte // encoded request head, built on first use
	bodyRead  int64
	bodyEOF   bool
	status    int
	headSent  bool
	bodyBytes int64
	flushed   bool  // the guest flushed the response
	err       error // set when the host stopped the guest for a reason of its own

	handles     []*handle // open handles
	lastHandle  int32     // the last handle number given out; numbers are not reused
	subrequests int
	errMsg      string // the latest failure's message, for error_message
}

type ctxKey struct{}

// NewContext returns a context carrying req for the host functions.
func NewContext(ctx context.Context, req *Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, req)
}

func fromContext(ctx context.Context) *Request {
	req, _ := ctx.Value(ctxKey{}).(*Request)
	return req
}

// HeadSent reports whether the response head went out; after that, an
// error can no longer become a Wedge-Error response.
func (r *Request) HeadSent() bool { return r.headSent }

// Status is the response status the guest sent, or 0.
func (r *Request) Status() int { return r.status }

// BytesWritten is the number of response body bytes the guest wrote.
func (r *Request) BytesWritten() int64 { return r.bodyBytes }

// Subrequests is how many outbound requests (fetch_send, cache_fetch) the
// guest made.
func (r *Request) Subrequests() int { return r.subrequests }

// Err is the reason the host stopped the guest, if it did (e.g.
// api.ErrBodyTooLarge); it takes precedence over the error of the run.
func (r *Request) Err() error { return r.err }

// Finish completes a response the guest ended without a head: an empty 200.
func (r *Request) Finish() {
	if !r.headSent {
		r.writeHead(http.StatusOK)
	}
}

func (r *Request) writeHead(status int) {
	r.headSent = true
	r.status = status
	if r.BeforeHead != nil {
		r.BeforeHead(r.W.Header())
	}
	r.W.WriteHeader(status)
}

func (r *Request) yield() {
	if r.Pauser != nil {
		r.Pauser.Pause()
	}
}

func (r *Request) yieldWrite() {
	if r.Pauser != nil {
		r.Pauser.PauseWriting()
	}
}

func (r *Request) resume() {
	if r.Pauser != nil {
		r.Pauser.Resume()
	}
}

// encodeHead builds the request head of docs/abi.md.
func (r *Request) encodeHead() []byte {
	if r.head != nil {
		return r.head
	}
	req := r.R
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	uri := req.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = req.URL.RequestURI()
	}
	size := 128 + len(req.Host) + len(uri)
	if req.TLS != nil {
		size += 48 + len(req.TLS.ServerName)
	}
	for name, values := range req.Header {
		for _, v := range values {
			size += 8 + len(name) + len(v)
		}
	}
	b := make([]byte, 0, size)
	b = appendPair(b, ":method", req.Method)
	b = binary.LittleEndian.AppendUint32(b, 4)
	b = append(b, ":url"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(scheme)+3+len(req.Host)+len(uri)))
	b = append(b, scheme...)
	b = append(b, "://"...)
	b = append(b, req.Host...)
	b = append(b, uri...)
	b = appendPair(b, ":proto", req.Proto)
	b = appendPair(b, ":remote", req.RemoteAddr)
	b = binary.LittleEndian.AppendUint32(b, 15)
	b = append(b, ":content-length"...)
	cl := strconv.AppendInt(nil, req.ContentLength, 10)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cl)))
	b = append(b, cl...)
	if req.TLS != nil {
		b = appendPair(b, ":tls-sni", req.TLS.ServerName)
		b = appendPair(b, ":tls-version", tls.VersionName(req.TLS.Version))
	}
	for name, values := range req.Header {
		for _, v := range values {
			b = appendPair(b, name, v)
		}
	}
	r.head = b
	return b
}

func appendPair(b []byte, name, value string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// readBody reads up to len(p) bytes of the request body.
func (r *Request) readBody(p []byte) (int, int32) {
	if r.bodyEOF || r.R.Body == nil {
		return 0, 0
	}
	if r.MaxBody > 0 && r.bodyRead >= r.MaxBody {
		// Past the cap: is there more?
		var one [1]byte
		r.yield()
		n, _ := io.ReadFull(r.R.Body, one[:])
		r.resume()
		if n > 0 {
			r.err = api.NewError(api.CodeBodyTooLarge, "the request body is larger than the worker's limit of "+strconv.FormatInt(r.MaxBody, 10)+" bytes", nil)
			return 0, codeTooLarge
		}
		r.bodyEOF = true
		return 0, 0
	}
	if r.MaxBody > 0 && int64(len(p)) > r.MaxBody-r.bodyRead {
		p = p[:r.MaxBody-r.bodyRead]
	}
	r.yieldWrite()
	n, err := r.R.Body.Read(p)
	r.resume()
	r.bodyRead += int64(n)
	if err == io.EOF {
		if n == 0 {
			r.bodyEOF = true
		}
		return n, 0
	}
	if err != nil && n == 0 {
		return 0, codeIO
	}
	return n, 0
}
