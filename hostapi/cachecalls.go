package hostapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	wapi "github.com/tetratelabs/wazero/api"

	"github.com/wedgeworks/wedge/cache"
)

// maxShared bounds the origin response that cache_fetch buffers to store
// it and to share it with concurrent calls: the cache's default entry
// limit (a cache configured with a lower one refuses to store what is
// over it, and shares it all the same). A longer response is streamed to
// its caller alone.
var maxShared int64 = cache.DefaultMaxEntryBytes // a variable for the tests

// errUnshareable is the origin's answer to cache.Fetch for a response
// over maxShared: the response itself stays with the call that fetched
// it, and the calls that waited for it fetch their own.
var errUnshareable = errors.New("the response is too large to cache")

func cacheRequest(o *outbound) cache.Request {
	return cache.Request{Method: o.method, URL: o.rawURL, Header: o.header}
}

// entryHandle makes a handle for a response from the cache (or from the
// origin through cache.Fetch).
func entryHandle(e cache.Entry, method string) *handle {
	h := &handle{ready: true, status: e.Status, header: e.Header, length: int64(len(e.Body)), age: -1}
	if e.FromCache {
		h.age = e.Age
	}
	if method == http.MethodHead {
		h.length = -1
		if n, err := strconv.ParseInt(e.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
			h.length = n
		}
		return h
	}
	if len(e.Body) > 0 {
		h.body = bytes.NewReader(e.Body)
	}
	return h
}

// cacheMatch: (head, head_len) -> handle.
func cacheMatch(ctx context.Context, mod wapi.Module, stack []uint64) {
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
	if req.Cache == nil {
		setResult(stack, req.fail(codeNotFound, "no cache on this host"))
		return
	}
	e, ok := req.Cache.Match(req.Tenant, cacheRequest(&o))
	if !ok {
		setResult(stack, req.fail(codeNotFound, "not in the cache"))
		return
	}
	setResult(stack, req.add(entryHandle(e, o.method)))
}

// cachePut: (req_head, req_len, resp_head, resp_len, body, body_len) -> 0
// (stored) or 1 (not stored).
func cachePut(ctx context.Context, mod wapi.Module, stack []uint64) {
	reqHead := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	respHead := guestBytes(mod, uint32(stack[2]), uint32(stack[3]))
	body := guestBytes(mod, uint32(stack[4]), uint32(stack[5]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	o, msg := decodeOutbound(reqHead)
	if msg != "" {
		setResult(stack, req.fail(codeInvalid, msg))
		return
	}
	header := http.Header{}
	status, ok := decodeResponseHead(respHead, header)
	if !ok {
		setResult(stack, req.fail(codeInvalid, "malformed response head"))
		return
	}
	if req.Cache == nil {
		req.errMsg = "no cache on this host"
		setResult(stack, 1)
		return
	}
	// Put copies the body out of the guest's memory.
	err := req.Cache.Put(req.Tenant, cacheRequest(&o), cache.Response{Status: status, Header: header, Body: body})
	switch {
	case err == nil:
		setResult(stack, 0)
	case errors.Is(err, cache.ErrInvalidURL):
		setResult(stack, req.fail(codeInvalid, err.Error()))
	default: // not stored (the policy, the budget) or closed
		req.errMsg = err.Error()
		setResult(stack, 1)
	}
}

// cacheDelete: (head, head_len) -> 1 (deleted) or 0 (nothing stored).
func cacheDelete(ctx context.Context, mod wapi.Module, stack []uint64) {
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
	if req.Cache != nil && req.Cache.Delete(req.Tenant, cacheRequest(&o)) {
		setResult(stack, 1)
		return
	}
	setResult(stack, 0)
}

// cacheFetch: (head, head_len) -> handle. The request is answered from
// the cache, or fetched (through the egress policy) and stored if it may
// be; concurrent calls of one tenant for one URL share one origin
// request (cache.Cache.Fetch).
func cacheFetch(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	o, msg := decodeOutbound(buf)
	if msg == "" && o.hasBody() {
		msg = "cache_fetch sends no request body (use fetch_send)"
	}
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
	if req.Cache == nil {
		setResult(stack, req.startFetch(ctx, &o).id)
		return
	}

	hctx, cancel := context.WithCancel(ctx)
	t := req.egress().transport
	var own *http.Response // a response too large to share, kept by the call that fetched it
	var prefix []byte      // what was read of it
	origin := func(octx context.Context) (cache.Response, error) {
		resp, err := t.RoundTrip(o.request(octx))
		if err != nil {
			return cache.Response{}, err
		}
		if resp.ContentLength > maxShared {
			own = resp
			return cache.Response{}, errUnshareable
		}
		body, err := readAtMost(resp.Body, maxShared, resp.ContentLength)
		if err != nil {
			resp.Body.Close()
			return cache.Response{}, err
		}
		if int64(len(body)) > maxShared {
			own, prefix = resp, body
			return cache.Response{}, errUnshareable
		}
		resp.Body.Close()
		return cache.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
	}
	req.yield()
	e, err := req.Cache.Fetch(hctx, req.Tenant, cacheRequest(&o), origin)
	if errors.Is(err, errUnshareable) && own == nil {
		// Another call fetched a response too large to share: fetch ours.
		own, err = t.RoundTrip(o.request(hctx))
	}
	req.resume()

	switch {
	case own != nil:
		h := &handle{cancel: cancel}
		h.setResponse(own)
		if len(prefix) > 0 {
			h.body = io.MultiReader(bytes.NewReader(prefix), own.Body)
		}
		setResult(stack, req.add(h))
	case err != nil:
		cancel()
		code, msg := fetchError(err)
		setResult(stack, req.fail(code, msg))
	default:
		cancel()
		setResult(stack, req.add(entryHandle(e, o.method)))
	}
}
