package wedge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// fetchHost plays the host's outbound calls in memory: requests go to
// handler, through an httptest.ResponseRecorder; the cache is a map.
type fetchHost struct {
	fakeHost
	handler  http.Handler
	calls    []*call
	open     map[int32]*call
	errMsg   string
	denied   string // a host that the egress policy refuses
	limit    int    // subrequests; 0: none
	sent     int
	cache    map[string]*httptest.ResponseRecorder
	puts     int
	origin   int // cache_fetch misses
	maxWrite int // the most fetch_body_write takes at once; 0: all
}

type call struct {
	head       http.Header // pseudo-fields included, as sent
	body       bytes.Buffer
	bodyOpen   bool
	bodyWrites int
	resp       *httptest.ResponseRecorder
	age        string
	read       *bytes.Reader
	closed     bool
}

func newFetchHost(h http.HandlerFunc) *fetchHost {
	return &fetchHost{handler: h, open: map[int32]*call{}, cache: map[string]*httptest.ResponseRecorder{}}
}

func (f *fetchHost) fail(code int32, msg string) int32 { f.errMsg = msg; return code }

func decodeHead(b []byte) (http.Header, error) {
	h := http.Header{}
	err := decodeFields(b, func(name, value string) { h[name] = append(h[name], value) })
	return h, err
}

func (f *fetchHost) newCall(head []byte) (*call, int32) {
	h, err := decodeHead(head)
	if err != nil || h.Get(":url") == "" {
		return nil, f.fail(codeInvalid, "malformed head")
	}
	c := &call{head: h, bodyOpen: h.Get(":content-length") != "" && h.Get(":content-length") != "0"}
	f.calls = append(f.calls, c)
	id := int32(len(f.calls))
	f.open[id] = c
	return c, id
}

func (f *fetchHost) fetchSend(head []byte) int32 {
	if f.limit > 0 && f.sent >= f.limit {
		return f.fail(codeLimit, "subrequest limit reached")
	}
	c, id := f.newCall(head)
	if c == nil {
		return id
	}
	f.sent++
	return id
}

func (f *fetchHost) fetchBodyWrite(h int32, p []byte) int32 {
	c := f.open[h]
	switch {
	case c == nil:
		return f.fail(codeBadHandle, "no such handle")
	case !c.bodyOpen:
		return f.fail(codeBadState, "no body")
	}
	if f.maxWrite > 0 && len(p) > f.maxWrite {
		p = p[:f.maxWrite]
	}
	c.bodyWrites++
	c.body.Write(p)
	return int32(len(p))
}

func (f *fetchHost) fetchBodyClose(h int32) int32 {
	c := f.open[h]
	if c == nil {
		return f.fail(codeBadHandle, "no such handle")
	}
	if !c.bodyOpen {
		return f.fail(codeBadState, "no body")
	}
	c.bodyOpen = false
	return 0
}

// respond runs the handler for c, once.
func (f *fetchHost) respond(c *call) int32 {
	if c.resp != nil {
		return 0
	}
	u := c.head.Get(":url")
	if f.denied != "" && strings.Contains(u, f.denied) {
		return f.fail(codeDenied, "egress denied: "+f.denied+" is a loopback address")
	}
	req := httptest.NewRequest(c.head.Get(":method"), u, bytes.NewReader(c.body.Bytes()))
	req.Header = http.Header{}
	for k, v := range c.head {
		if k[0] != ':' {
			req.Header[k] = v
		}
	}
	if len(c.head["Host"]) > 0 {
		req.Host = c.head.Get("Host")
	}
	c.resp = httptest.NewRecorder()
	f.handler.ServeHTTP(c.resp, req)
	c.read = bytes.NewReader(c.resp.Body.Bytes())
	return 0
}

func (f *fetchHost) encodeHead(c *call) []byte {
	b := appendField(appendField(nil, ":status"), strconv.Itoa(c.resp.Code))
	b = appendField(appendField(b, ":content-length"), strconv.Itoa(c.resp.Body.Len()))
	if c.age != "" {
		b = appendField(appendField(b, "Age"), c.age)
	}
	for k, vs := range c.resp.Header() {
		for _, v := range vs {
			b = appendField(appendField(b, k), v)
		}
	}
	return b
}

func (f *fetchHost) fetchResponseHead(h int32, buf []byte) int32 {
	c := f.open[h]
	if c == nil {
		return f.fail(codeBadHandle, "no such handle")
	}
	if code := f.respond(c); code < 0 {
		return code
	}
	head := f.encodeHead(c)
	if len(head) <= len(buf) {
		copy(buf, head)
	}
	return int32(len(head))
}

func (f *fetchHost) fetchBodyRead(h int32, buf []byte) int32 {
	c := f.open[h]
	if c == nil {
		return f.fail(codeBadHandle, "no such handle")
	}
	if code := f.respond(c); code < 0 {
		return code
	}
	n, _ := c.read.Read(buf)
	return int32(n)
}

func (f *fetchHost) fetchClose(h int32) int32 {
	c := f.open[h]
	if c == nil {
		return f.fail(codeBadHandle, "no such handle")
	}
	c.closed = true
	delete(f.open, h)
	return 0
}

func (f *fetchHost) cacheMatch(head []byte) int32 {
	h, err := decodeHead(head)
	if err != nil {
		return f.fail(codeInvalid, "malformed head")
	}
	rec := f.cache[h.Get(":url")]
	if rec == nil || h.Get(":method") != "GET" {
		return f.fail(codeNotFound, "not in the cache")
	}
	c, id := f.newCall(head)
	c.resp, c.age, c.read = rec, "7", bytes.NewReader(rec.Body.Bytes())
	return id
}

func (f *fetchHost) cachePut(reqHead, respHead, body []byte) int32 {
	f.puts++
	req, err1 := decodeHead(reqHead)
	resp, err2 := decodeHead(respHead)
	if err1 != nil || err2 != nil {
		return f.fail(codeInvalid, "malformed head")
	}
	if !strings.Contains(resp.Get("Cache-Control"), "max-age") {
		f.errMsg = "not stored: no explicit freshness"
		return 1
	}
	rec := httptest.NewRecorder()
	for k, vs := range resp {
		if k[0] != ':' {
			rec.Header()[k] = vs
		}
	}
	code, _ := strconv.Atoi(resp.Get(":status"))
	rec.WriteHeader(code)
	rec.Write(body)
	f.cache[req.Get(":url")] = rec
	return 0
}

func (f *fetchHost) cacheDelete(head []byte) int32 {
	h, _ := decodeHead(head)
	if f.cache[h.Get(":url")] == nil {
		return 0
	}
	delete(f.cache, h.Get(":url"))
	return 1
}

func (f *fetchHost) cacheFetch(head []byte) int32 {
	if f.limit > 0 && f.sent >= f.limit {
		return f.fail(codeLimit, "subrequest limit reached")
	}
	f.sent++
	if id := f.cacheMatch(head); id > 0 {
		return id
	}
	c, id := f.newCall(head)
	if c == nil {
		return id
	}
	f.origin++
	if code := f.respond(c); code < 0 {
		delete(f.open, id)
		return code
	}
	if strings.Contains(c.resp.Header().Get("Cache-Control"), "max-age") {
		f.cache[c.head.Get(":url")] = c.resp
	}
	return id
}

func (f *fetchHost) errorMessage(buf []byte) int32 {
	if len(f.errMsg) <= len(buf) {
		copy(buf, f.errMsg)
	}
	return int32(len(f.errMsg))
}

// origin answers with what it got.
func originHandler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/redirect":
		http.Redirect(w, r, "/target", http.StatusFound)
		return
	case "/empty":
		w.WriteHeader(http.StatusNoContent)
		return
	case "/cached":
		w.Header().Set("Cache-Control", "max-age=60")
	case "/large":
		w.Write(bytes.Repeat([]byte("L"), 10000))
		return
	}
	w.Header().Set("X-Origin", "yes")
	fmt.Fprintf(w, "%s %s host=%s x-a=%q len=%d body=%s", r.Method, r.URL.RequestURI(), r.Host, r.Header["X-A"], len(b), b)
}

func TestFetchSDK(t *testing.T) {
	big := strings.Repeat("z", 100_000)
	tests := []struct {
		name  string
		req   func() *http.Request
		check func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error)
	}{
		{
			name: "GET: head and response",
			req: func() *http.Request {
				r, _ := http.NewRequest("GET", "http://example.com/a?b=1", nil)
				r.Header.Add("X-A", "1")
				r.Header.Add("X-A", "2")
				return r
			},
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if err != nil {
					t.Fatal(err)
				}
				c := f.calls[0]
				if c.head.Get(":method") != "GET" || c.head.Get(":url") != "http://example.com/a?b=1" || c.head.Get(":content-length") != "" {
					t.Errorf("head %v", c.head)
				}
				want := `GET /a?b=1 host=example.com x-a=["1" "2"] len=0 body=`
				if resp.StatusCode != 200 || resp.Status != "200 OK" || resp.Header.Get("X-Origin") != "yes" || body != want || resp.ContentLength != int64(len(want)) {
					t.Errorf("response %d %q %v %q %d", resp.StatusCode, resp.Status, resp.Header, body, resp.ContentLength)
				}
				if !c.closed {
					t.Error("the handle is still open after the body's end")
				}
			},
		},
		{
			name: "POST with a length, streamed in pieces",
			req: func() *http.Request {
				r, _ := http.NewRequest("POST", "http://example.com/p", strings.NewReader(big))
				return r
			},
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if err != nil {
					t.Fatal(err)
				}
				c := f.calls[0]
				if c.head.Get(":content-length") != "100000" || c.body.String() != big || c.bodyWrites < 2 || c.bodyOpen {
					t.Errorf("head %v, %d bytes in %d writes, open %v", c.head, c.body.Len(), c.bodyWrites, c.bodyOpen)
				}
				if !strings.Contains(body, "len=100000") {
					t.Errorf("body %q", body)
				}
			},
		},
		{
			name: "a body of unknown length; Host",
			req: func() *http.Request {
				r, _ := http.NewRequest("PUT", "http://example.com/p", io.MultiReader(strings.NewReader("abc")))
				r.Host = "other.example"
				return r
			},
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if c := f.calls[0]; c.head.Get(":content-length") != "-1" || c.head.Get("Host") != "other.example" {
					t.Errorf("head %v", c.head)
				}
				if !strings.Contains(body, "host=other.example") || !strings.Contains(body, "body=abc") {
					t.Errorf("body %q", body)
				}
			},
		},
		{
			name: "a redirect is returned",
			req:  func() *http.Request { r, _ := http.NewRequest("GET", "http://example.com/redirect", nil); return r },
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if err != nil || resp.StatusCode != 302 || resp.Header.Get("Location") != "/target" || len(f.calls) != 1 {
					t.Errorf("%v %v %d calls", err, resp, len(f.calls))
				}
			},
		},
		{
			name: "no body: closed at once",
			req:  func() *http.Request { r, _ := http.NewRequest("GET", "http://example.com/empty", nil); return r },
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if err != nil || resp.StatusCode != 204 || resp.Body != http.NoBody || !f.calls[0].closed {
					t.Errorf("%v %v", err, resp)
				}
			},
		},
		{
			name: "a large response head",
			req: func() *http.Request {
				r, _ := http.NewRequest("GET", "http://example.com/"+strings.Repeat("p", 5000), nil)
				return r
			},
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if err != nil || !strings.Contains(body, strings.Repeat("p", 5000)) {
					t.Errorf("%v %.100q", err, body)
				}
			},
		},
		{
			name: "denied",
			req:  func() *http.Request { r, _ := http.NewRequest("GET", "http://127.0.0.1/", nil); return r },
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if !errors.Is(err, ErrEgressDenied) || errors.Is(err, ErrLimit) || err.Error() != "wedge: fetch: egress denied: 127.0.0.1 is a loopback address" {
					t.Errorf("err %v", err)
				}
				if !f.calls[0].closed {
					t.Error("the handle of a failed request is still open")
				}
			},
		},
		{
			name: "denied, with a body",
			req: func() *http.Request {
				r, _ := http.NewRequest("POST", "http://127.0.0.1/", strings.NewReader("x"))
				return r
			},
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if !errors.Is(err, ErrEgressDenied) {
					t.Errorf("err %v", err)
				}
			},
		},
		{
			name: "invalid head",
			req:  func() *http.Request { r, _ := http.NewRequest("GET", "", nil); return r },
			check: func(t *testing.T, f *fetchHost, resp *http.Response, body string, err error) {
				if err == nil || err.Error() != "wedge: fetch: malformed head" {
					t.Errorf("err %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetchHost(originHandler)
			f.denied = "127.0.0.1"
			f.maxWrite = 40000
			resp, err := roundTrip(f, tt.req())
			var body string
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				if rerr != nil {
					t.Fatal(rerr)
				}
				resp.Body.Close()
				body = string(b)
			}
			tt.check(t, f, resp, body, err)
		})
	}
}

// TestFetchLimit: past the host's subrequest limit, ErrLimit.
func TestFetchLimit(t *testing.T) {
	f := newFetchHost(originHandler)
	f.limit = 2
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", "http://example.com/", nil)
		resp, err := roundTrip(f, req)
		if i < 2 && err != nil || i == 2 && (!errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "subrequest limit reached")) {
			t.Fatalf("request %d: %v", i, err)
		}
		if err == nil {
			resp.Body.Close()
		}
	}
}

// TestClient: an http.Client on the SDK's transport follows redirects,
// each hop a new outbound request.
func TestClient(t *testing.T) {
	f := newFetchHost(originHandler)
	old := defaultHost
	defaultHost = f
	defer func() { defaultHost = old }()
	c := &http.Client{Transport: Transport}
	resp, err := c.Get("http://example.com/redirect")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "GET /target ") || len(f.calls) != 2 || len(f.open) != 0 {
		t.Errorf("body %q, %d calls, %d open", b, len(f.calls), len(f.open))
	}
	// Errors keep their kind through the client's wrapping.
	f.denied = "denied.example"
	_, err = c.Get("http://denied.example/")
	if !errors.Is(err, ErrEgressDenied) {
		t.Errorf("err %v, want ErrEgressDenied", err)
	}
}

func TestEdgeCache(t *testing.T) {
	f := newFetchHost(originHandler)
	c := &EdgeCache{h: f}
	req := func(method, url string) *http.Request { r, _ := http.NewRequest(method, url, nil); return r }

	if _, err := c.Match(req("GET", "http://example.com/a")); err != ErrNotFound {
		t.Fatalf("Match of nothing: %v, want ErrNotFound", err)
	}
	// Put keeps the body readable.
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(strings.NewReader("stored"))}
	if err := c.Put(req("GET", "http://example.com/a"), resp); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "stored" {
		t.Errorf("the body after Put: %q", b)
	}
	m, err := c.Match(req("GET", "http://example.com/a"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if string(b) != "stored" || m.Header.Get("Age") != "7" || m.StatusCode != 200 {
		t.Errorf("Match: %d %v %q", m.StatusCode, m.Header, b)
	}
	// Refused by the cache: not an error.
	resp = &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("no"))}
	if err := c.Put(req("GET", "http://example.com/b"), resp); err != nil {
		t.Errorf("Put of an uncacheable response: %v", err)
	}
	// Too large to buffer: not stored, the body still whole.
	f.puts = 0
	large := strings.Repeat("x", maxPutBytes+10)
	resp = &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(strings.NewReader(large))}
	if err := c.Put(req("GET", "http://example.com/c"), resp); err != nil || f.puts != 0 {
		t.Errorf("Put of a large body: %v, %d puts", err, f.puts)
	}
	if b, _ := io.ReadAll(resp.Body); len(b) != len(large) {
		t.Errorf("the large body after Put: %d bytes", len(b))
	}
	// A body that fails.
	resp = &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(io.MultiReader(strings.NewReader("ab"), errReader{errors.New("broken")}))}
	if err := c.Put(req("GET", "http://example.com/d"), resp); err == nil || err.Error() != "broken" {
		t.Errorf("Put of a broken body: %v", err)
	}
	if err := c.Delete(req("GET", "http://example.com/a")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Match(req("GET", "http://example.com/a")); err != ErrNotFound {
		t.Errorf("Match after Delete: %v", err)
	}
	if err := c.Delete(req("GET", "http://example.com/a")); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}

	// Fetch: a miss goes to the origin, then a hit.
	for i, wantAge := range []string{"", "7"} {
		r, err := c.Fetch(req("GET", "http://example.com/cached"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if !strings.HasPrefix(string(b), "GET /cached") || r.Header.Get("Age") != wantAge {
			t.Errorf("Fetch %d: %q Age %q", i, b, r.Header.Get("Age"))
		}
	}
	if f.origin != 1 {
		t.Errorf("%d origin requests, want 1", f.origin)
	}
	// A request with a body is fetched, and invalidates the URL.
	post, _ := http.NewRequest("POST", "http://example.com/cached", strings.NewReader("new"))
	r, err := c.Fetch(post)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if _, err := c.Match(req("GET", "http://example.com/cached")); err != ErrNotFound {
		t.Errorf("Match after a POST: %v", err)
	}
}

// TestNotOnHost: outside a Wedge host, the outbound calls fail cleanly.
func TestNotOnHost(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	if _, err := Fetch(req); err == nil || !strings.Contains(err.Error(), "not running on a Wedge host") {
		t.Errorf("Fetch: %v", err)
	}
	if _, err := Cache().Match(req); err == nil || err == ErrNotFound {
		t.Errorf("Match: %v", err)
	}
}

// FuzzResponseHead: whatever head the host sends, readResponse returns a
// response or an error, never a panic, and closes the handle on error.
func FuzzResponseHead(f *testing.F) {
	f.Add(appendField(appendField(appendField(appendField(nil, ":status"), "200"), ":content-length"), "5"))
	f.Add(appendField(appendField(nil, ":status"), "abc"))
	f.Add(appendField(appendField(appendField(appendField(nil, ":proto"), "HTTP/2.0"), ":status"), "204"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, head []byte) {
		h := &rawHost{head: head}
		req, _ := http.NewRequest("GET", "http://example.com/", nil)
		resp, err := readResponse(h, 1, req, "fetch")
		if err != nil {
			if !h.closed {
				t.Error("handle left open after an error")
			}
			return
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 || resp.ContentLength < -1 {
			t.Errorf("response %d %d", resp.StatusCode, resp.ContentLength)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if !h.closed {
			t.Error("handle left open after the body was closed")
		}
	})
}

// rawHost answers fetch_response_head with a fixed head and an empty body.
type rawHost struct {
	fakeHost
	head   []byte
	closed bool
}

func (h *rawHost) fetchResponseHead(_ int32, buf []byte) int32 {
	if len(h.head) <= len(buf) {
		copy(buf, h.head)
	}
	return int32(len(h.head))
}
func (h *rawHost) fetchBodyRead(int32, []byte) int32 { return 0 }
func (h *rawHost) fetchClose(int32) int32            { h.closed = true; return 0 }
