package hostapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	wapi "github.com/tetratelabs/wazero/api"

	"github.com/wedgeworks/wedge/api"
)

const (
	// maxHandles bounds the handles a request holds open at once.
	maxHandles = 128
	// maxRead bounds one fetch_body_read.
	maxRead = 1 << 20
)

var errHandleClosed = errors.New("the guest closed the handle")

// handle is what a guest refers to by number: an outbound request and its
// response (fetch_send; cache_fetch), or a response from the cache
// (cache_match; cache_fetch). Handles belong to their Request: their
// numbers mean nothing in another request, and Request.Close closes what
// is still open.
type handle struct {
	id int32

	// A round trip in flight (fetch_send): it runs on its own goroutine
	// and closes done once resp or err is set. cancel ends it.
	done   chan struct{}
	cancel context.CancelFunc
	pw     *io.PipeWriter // the request body, while the guest may write it
	mu     sync.Mutex     // resp, err and closed, shared with the round trip
	closed bool
	resp   *http.Response
	err    error

	// The response, once ready.
	ready    bool
	code     int32  // < 0: the request failed with this code
	msg      string // and this message
	status   int
	proto    string
	length   int64 // -1: unknown
	age      int64 // the Age field to send (a response from the cache), or -1
	header   http.Header
	body     io.Reader // nil: no body
	closer   io.Closer
	blocking bool // reading body may wait for the network
	eof      bool
	readErr  error
	head     []byte // the encoded head, once asked for
}

// roundTrip runs on its own goroutine.
func (h *handle) roundTrip(t http.RoundTripper, req *http.Request) {
	resp, err := t.RoundTrip(req)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		if resp != nil {
			resp.Body.Close()
		}
		close(h.done)
		return
	}
	h.resp, h.err = resp, err
	h.mu.Unlock()
	close(h.done)
}

// setResponse makes resp the handle's response.
func (h *handle) setResponse(resp *http.Response) {
	h.ready = true
	h.status, h.proto, h.length, h.header = resp.StatusCode, resp.Proto, resp.ContentLength, resp.Header
	h.age = -1
	h.body, h.closer, h.blocking = resp.Body, resp.Body, true
}

// close ends the round trip if it is still going and releases the body.
func (h *handle) close() {
	var resp *http.Response
	if h.done != nil {
		h.mu.Lock()
		h.closed = true
		resp = h.resp
		h.mu.Unlock()
		if h.pw != nil {
			h.pw.CloseWithError(errHandleClosed)
			h.pw = nil
		}
	}
	if h.cancel != nil {
		h.cancel()
	}
	switch {
	case h.closer != nil:
		h.closer.Close()
	case resp != nil:
		resp.Body.Close()
	}
}

// encodeHead returns the response head for the guest.
func (h *handle) encodeHead() []byte {
	if h.head == nil {
		size := 64
		for name, values := range h.header {
			for _, v := range values {
				size += 8 + len(name) + len(v)
			}
		}
		h.head = appendResponseHead(make([]byte, 0, size), h.status, h.proto, h.length, h.age, h.header)
	}
	return h.head
}

// fail records msg for error_message and returns code.
func (r *Request) fail(code int32, msg string) int32 {
	r.errMsg = msg
	return code
}

func (r *Request) egress() *Egress {
	if r.Egress != nil {
		return r.Egress
	}
	return defaultEgress()
}

// lookup finds an open handle.
func (r *Request) lookup(id int32) *handle {
	for _, h := range r.handles {
		if h.id == id {
			return h
		}
	}
	return nil
}

// roomForHandle returns 0 if one more handle may be opened, else ELIMIT.
func (r *Request) roomForHandle() int32 {
	if len(r.handles) >= maxHandles || r.lastHandle == 1<<31-1 {
		return r.fail(codeLimit, "too many open handles: at most "+strconv.Itoa(maxHandles)+" responses may be open at once (close their bodies)")
	}
	return 0
}

// add numbers h and keeps it; roomForHandle must have said yes.
func (r *Request) add(h *handle) int32 {
	r.lastHandle++
	h.id = r.lastHandle
	r.handles = append(r.handles, h)
	return h.id
}

// remove forgets h.
func (r *Request) remove(h *handle) {
	for i, x := range r.handles {
		if x == h {
			r.handles = append(r.handles[:i], r.handles[i+1:]...)
			return
		}
	}
}

// subrequest counts one outbound request, or returns ELIMIT when the
// request's limit is reached.
func (r *Request) subrequest() int32 {
	limit := r.MaxSubrequests
	if limit <= 0 {
		limit = api.DefaultLimits.Subrequests
	}
	if r.subrequests >= limit {
		return r.fail(codeLimit, "subrequest limit reached: a request may make "+strconv.Itoa(limit)+" outbound requests (wedge.toml [limits] subrequests)")
	}
	r.subrequests++
	return 0
}

// Close releases what the request's handles still hold: it ends their
// round trips and closes their response bodies. The edge calls it once
// the guest has returned; it is safe to call more than once.
func (r *Request) Close() {
	for _, h := range r.handles {
		h.close()
	}
	r.handles = nil
}

// startFetch starts o's round trip on its own goroutine and returns its
// handle. The caller checked roomForHandle and counted the subrequest.
func (r *Request) startFetch(ctx context.Context, o *outbound) *handle {
	hctx, cancel := context.WithCancel(ctx)
	h := &handle{done: make(chan struct{}), cancel: cancel}
	req := o.request(hctx)
	if o.hasBody() {
		pr, pw := io.Pipe()
		req.Body = pr
		if o.length < 0 {
			req.ContentLength = -1
		}
		h.pw = pw
		// The transport may wait on the body and the guest on the
		// transport: whatever ends the request unblocks both.
		context.AfterFunc(hctx, func() {
			err := context.Cause(hctx)
			pr.CloseWithError(err)
			pw.CloseWithError(err)
		})
	}
	r.add(h)
	go h.roundTrip(r.egress().transport, req)
	return h
}

// await waits for h's response head, giving up the CPU meanwhile. It
// returns 0 when the response is there, else the request's error code.
// It ends a request body that the guest left open.
func (r *Request) await(ctx context.Context, h *handle) int32 {
	if h.ready {
		if h.code < 0 {
			return r.fail(h.code, h.msg)
		}
		return 0
	}
	if h.pw != nil {
		h.pw.Close()
		h.pw = nil
	}
	select {
	case <-h.done:
	default:
		r.yield()
		select {
		case <-h.done:
		case <-ctx.Done():
		}
		r.resume()
	}
	select {
	case <-h.done:
	default:
		return r.fail(codeIO, "the request ended before the response arrived")
	}
	if h.err != nil {
		h.ready = true
		h.code, h.msg = fetchError(h.err)
		return r.fail(h.code, h.msg)
	}
	h.setResponse(h.resp)
	return 0
}

// fetchError maps a round trip's error to a code and a message for the
// guest.
func fetchError(err error) (int32, string) {
	var ee *egressError
	if errors.As(err, &ee) {
		return codeDenied, ee.Error()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return codeIO, "the request ended before the response arrived"
	}
	return codeIO, err.Error()
}

func handleArg(v uint64) int32 { return int32(uint32(v)) }

// fetchSend: (head, head_len) -> handle.
func fetchSend(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	o, msg := decodeOutbound(buf)
	if msg != "" {
		setResult(stack, req.fail(codeInvalid, msg))
		return
	}
	if c := req.roomForHandle(); c < 0 {
		setResult(stack, c)
		return
	}
	if c := req.subrequest(); c < 0 {
		setResult(stack, c)
		return
	}
	setResult(stack, req.startFetch(ctx, &o).id)
}

// fetchBodyWrite: (handle, buf, len) -> n.
func fetchBodyWrite(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[1]), uint32(stack[2]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	h := req.lookup(handleArg(stack[0]))
	switch {
	case h == nil:
		setResult(stack, req.fail(codeBadHandle, "fetch_body_write: no such handle"))
		return
	case h.pw == nil:
		setResult(stack, req.fail(codeBadState, "fetch_body_write: the request body was closed, or there is none"))
		return
	}
	if len(buf) > maxIO {
		buf = buf[:maxIO]
	}
	req.yield()
	n, err := h.pw.Write(buf)
	req.resume()
	if err != nil {
		select {
		case <-h.done:
			if h.err != nil { // the round trip's own error says more
				code, msg := fetchError(h.err)
				setResult(stack, req.fail(code, msg))
				return
			}
		default:
		}
		setResult(stack, req.fail(codeIO, "sending the request body: "+err.Error()))
		return
	}
	setResult(stack, int32(n))
}

// fetchBodyClose: (handle) -> err.
func fetchBodyClose(ctx context.Context, mod wapi.Module, stack []uint64) {
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	h := req.lookup(handleArg(stack[0]))
	switch {
	case h == nil:
		setResult(stack, req.fail(codeBadHandle, "fetch_body_close: no such handle"))
		return
	case h.pw == nil:
		setResult(stack, req.fail(codeBadState, "fetch_body_close: the request body was closed, or there is none"))
		return
	}
	h.pw.Close()
	h.pw = nil
	setResult(stack, 0)
}

// fetchResponseHead: (handle, buf, cap) -> len.
func fetchResponseHead(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[1]), uint32(stack[2]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	h := req.lookup(handleArg(stack[0]))
	if h == nil {
		setResult(stack, req.fail(codeBadHandle, "fetch_response_head: no such handle"))
		return
	}
	if c := req.await(ctx, h); c < 0 {
		setResult(stack, c)
		return
	}
	head := h.encodeHead()
	if len(head) <= len(buf) {
		copy(buf, head)
	}
	setResult(stack, int32(len(head)))
}

// fetchBodyRead: (handle, buf, cap) -> n.
func fetchBodyRead(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[1]), uint32(stack[2]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	h := req.lookup(handleArg(stack[0]))
	if h == nil {
		setResult(stack, req.fail(codeBadHandle, "fetch_body_read: no such handle"))
		return
	}
	if c := req.await(ctx, h); c < 0 {
		setResult(stack, c)
		return
	}
	if h.body == nil || h.eof || len(buf) == 0 {
		setResult(stack, 0)
		return
	}
	if h.readErr != nil {
		setResult(stack, req.fail(codeIO, "reading the response body: "+h.readErr.Error()))
		return
	}
	if len(buf) > maxRead {
		buf = buf[:maxRead]
	}
	if h.blocking {
		req.yieldWrite()
	}
	var n int
	var err error
	for i := 0; i < 100 && n == 0 && err == nil; i++ { // a Read may return 0, nil
		n, err = h.body.Read(buf)
	}
	if h.blocking {
		req.resume()
	}
	switch {
	case err == io.EOF:
		h.eof = true
	case err != nil:
		h.readErr = err
	}
	if n > 0 || h.eof {
		setResult(stack, int32(n))
		return
	}
	if err == nil {
		setResult(stack, req.fail(codeIO, "reading the response body: no progress"))
		return
	}
	setResult(stack, req.fail(codeIO, "reading the response body: "+err.Error()))
}

// fetchClose: (handle) -> err.
func fetchClose(ctx context.Context, mod wapi.Module, stack []uint64) {
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	h := req.lookup(handleArg(stack[0]))
	if h == nil {
		setResult(stack, req.fail(codeBadHandle, "fetch_close: no such handle"))
		return
	}
	req.remove(h)
	h.close()
	setResult(stack, 0)
}

// errorMessage: (buf, cap) -> len.
func errorMessage(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	if len(req.errMsg) <= len(buf) {
		copy(buf, req.errMsg)
	}
	setResult(stack, int32(len(req.errMsg)))
}

// readAtMost reads r to its end, or up to max+1 bytes when it is longer.
func readAtMost(r io.Reader, max, sizeHint int64) ([]byte, error) {
	var b bytes.Buffer
	if sizeHint > 0 && sizeHint <= max {
		b.Grow(int(sizeHint) + bytes.MinRead)
	}
	_, err := b.ReadFrom(io.LimitReader(r, max+1))
	return b.Bytes(), err
}
