package wedge

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// EdgeCache is the tenant's edge cache: HTTP responses kept on the host
// by URL, shared by every request of every worker of the tenant, and by
// no other tenant. Entries follow the HTTP caching rules for a shared
// cache (RFC 9111): only GET responses with an explicit freshness
// lifetime (Cache-Control max-age or s-maxage, or Expires) are stored, and
// never those marked no-store, private or no-cache or that set cookies;
// a stale entry is never served. A response from the cache carries an
// Age field.
type EdgeCache struct {
	h host // nil: the real host
}

var edgeCache EdgeCache

// Cache returns the tenant's edge cache.
func Cache() *EdgeCache { return &edgeCache }

func (c *EdgeCache) host() host {
	if c.h != nil {
		return c.h
	}
	return defaultHost
}

// Match returns the cached response for req (a GET or HEAD, by its URL
// and the fields its Vary names), or ErrNotFound when there is none that
// is fresh and acceptable to req's Cache-Control. The caller must close
// the response's body.
func (c *EdgeCache) Match(req *http.Request) (*http.Response, error) {
	h := c.host()
	if req.URL == nil {
		return nil, errNoURL
	}
	hd := h.cacheMatch(encodeRequestHead(nil, req, false))
	if hd == codeNotFound {
		return nil, ErrNotFound
	}
	if hd < 0 {
		return nil, hostErr(h, "cache match", hd)
	}
	return readResponse(h, hd, req, "cache match")
}

// maxPutBytes bounds the body that Put buffers: the host's default limit
// for one entry.
const maxPutBytes = 16 << 20

// Put stores resp as the response to req, if the caching rules allow it
// (see EdgeCache). A response they do not allow is not stored, and that
// is not an error: Put returns nil, as it does when the response is
// stored. Errors are for requests and responses that cannot be encoded,
// a body that cannot be read, or a host without a cache API.
//
// Put reads resp.Body to its end, up to 16 MiB, and replaces it with an
// in-memory copy, so that the response can still be sent to the client
// afterwards. A longer body is not stored; resp.Body then still reads the
// whole body (what Put read, then the rest).
func (c *EdgeCache) Put(req *http.Request, resp *http.Response) error {
	h := c.host()
	if req.URL == nil {
		return errNoURL
	}
	var body []byte
	if resp.Body != nil && resp.Body != http.NoBody {
		orig := resp.Body
		b, err := io.ReadAll(io.LimitReader(orig, maxPutBytes+1))
		if err != nil {
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), errReader{err}), orig}
			return err
		}
		if len(b) > maxPutBytes {
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), orig), orig}
			return nil // too large to cache: not stored
		}
		orig.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		body = b
	}
	respHead := appendField(appendField(nil, ":status"), strconv.Itoa(resp.StatusCode))
	for name, values := range resp.Header {
		for _, v := range values {
			respHead = appendField(appendField(respHead, name), v)
		}
	}
	if code := h.cachePut(encodeRequestHead(nil, req, false), respHead, body); code < 0 {
		return hostErr(h, "cache put", code)
	}
	return nil
}

// Delete removes the cached responses for req's URL (all variants). It
// returns nil whether or not there were any.
func (c *EdgeCache) Delete(req *http.Request) error {
	h := c.host()
	if req.URL == nil {
		return errNoURL
	}
	if code := h.cacheDelete(encodeRequestHead(nil, req, false)); code < 0 {
		return hostErr(h, "cache delete", code)
	}
	return nil
}

// Fetch answers req from the cache, or else fetches it as Fetch does and
// stores the response if the caching rules allow. Concurrent calls for
// the same URL, from any requests of the tenant on this host, share one
// origin request: a hundred requests arriving together for an uncached
// URL make one request to the origin (each then gets the response, if
// the rules would have let the cache give it to it; otherwise each
// fetches its own).
//
// A response fetched this way is read whole by the host before Fetch
// returns (to store and share it), up to 16 MiB; a longer one is streamed
// to its caller and not stored. A request with a body is not cached: it
// is sent with Fetch, and when it is unsafe (POST, PUT, DELETE, ...) and
// succeeds, the cached responses for its URL are deleted. Each call counts
// as one subrequest, hit or miss.
func (c *EdgeCache) Fetch(req *http.Request) (*http.Response, error) {
	h := c.host()
	if req.URL == nil {
		return nil, errNoURL
	}
	if hasBody(req) {
		resp, err := roundTrip(h, req)
		if err == nil && resp.StatusCode < 400 && !safeMethod(req.Method) {
			c.Delete(req)
		}
		return resp, err
	}
	hd := h.cacheFetch(encodeRequestHead(nil, req, false))
	if hd < 0 {
		return nil, hostErr(h, "cache fetch", hd)
	}
	return readResponse(h, hd, req, "cache fetch")
}

func safeMethod(m string) bool {
	switch m {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

var errNoURL = &hostError{op: "cache", code: codeInvalid, msg: "the request has no URL"}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
