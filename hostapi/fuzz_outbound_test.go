package hostapi_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/hostapi"
)

// outboundKinds are the steps FuzzOutboundCalls makes.
var outboundKinds = []int32{kindFetchSend, kindFetchBodyWrite, kindFetchBodyClose, kindFetchResponseHead, kindFetchBodyRead,
	kindFetchClose, kindCacheMatch, kindCachePut, kindCacheDelete, kindCacheFetch, kindErrorMessage, kindGrow}

// outboundWorld is what the fuzzed scripts talk to: a server on loopback
// (allowed), a cache, and request heads that make sense to both.
var outboundWorld struct {
	once   sync.Once
	srv    *httptest.Server
	egress *hostapi.Egress
	cache  *cache.Cache
	heads  [][]byte
}

func world(t testing.TB) {
	w := &outboundWorld
	w.once.Do(func() {
		w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/echo":
				io.Copy(rw, r.Body)
			case "/cached":
				rw.Header().Set("Cache-Control", "max-age=5")
				io.WriteString(rw, "cached")
			case "/big":
				n, _ := strconv.Atoi(r.URL.Query().Get("n"))
				io.WriteString(rw, strings.Repeat("b", n))
			default:
				io.WriteString(rw, "hello")
			}
		}))
		w.egress = allowLoopback()
		w.cache, _ = cache.New(cache.Config{MaxBytes: 1 << 20})
		u := w.srv.URL
		w.heads = [][]byte{
			get(u + "/"),
			fields(":method", "POST", ":url", u+"/echo", ":content-length", "-1"),
			get(u + "/cached"),
			get("http://10.255.0.1:9/"), // denied
			fields(":method", "POST", ":url", u+"/echo", ":content-length", "5"),
			get(u + "/big?n=200000"),
			fields(":method", "HEAD", ":url", u+"/cached"),
			{3, 0, 0, 0, 'a'},
		}
	})
}

// decodeOutboundSteps turns fuzz input into a script: 10 bytes a step, a
// kind byte, a handle byte, a pointer and a length. The kind byte's top
// bit keeps pointer and length raw (else they are folded into [0, 2
// pages]); its next bit makes a step that takes a request head use one of
// the world's heads, written at the pointer.
func decodeOutboundSteps(b []byte) []step {
	w := &outboundWorld
	var steps []step
	for len(b) >= 10 && len(steps) < 16 {
		k, h, ptr, n := b[0], b[1], binary.LittleEndian.Uint32(b[2:]), binary.LittleEndian.Uint32(b[6:])
		b = b[10:]
		if k&0x80 == 0 {
			ptr %= 2*pageSize + 1
			n %= 2*pageSize + 1
		}
		st := step{kind: outboundKinds[int(k&0x3f)%len(outboundKinds)], ptr: ptr, len: n, h: int32(h%8) - 1}
		if h >= 0xf0 {
			st.h = int32(ptr) // a handle far out, or negative
		}
		switch st.kind {
		case kindGrow:
			st.ptr %= 4
		case kindCachePut:
			st.p2, st.l2, st.p3, st.l3 = ptr^n, n/2, n, ptr%1000
			if k&0x80 == 0 {
				st.p2 %= 2*pageSize + 1
				st.p3 %= 2*pageSize + 1
			}
		}
		if k&0x40 != 0 && slices.Contains([]int32{kindFetchSend, kindCacheMatch, kindCachePut, kindCacheDelete, kindCacheFetch}, st.kind) {
			head := w.heads[int(h)%len(w.heads)]
			st.data, st.len = head, uint32(len(head))
			st.ptr %= pageSize - uint32(len(head))
			if st.kind == kindCachePut {
				resp := fields(":status", "200", "Cache-Control", "max-age=5")
				st.p2, st.l2, st.data2 = 30000, uint32(len(resp)), resp
				st.p3, st.l3 = 40000, n%1000
			}
		}
		steps = append(steps, st)
	}
	return steps
}

// FuzzOutboundCalls runs scripts of the outbound calls (fetch, cache,
// error_message) with arbitrary pointers, lengths and handles against
// the real host functions, a real server and a real cache, and checks the
// outcome against the ABI: a trap exactly when a step's range is outside
// memory, never a host panic or a hang; the host writes only inside the
// window it was given (the probe checks every step); results are the
// ones documented for each call; handles are new positive numbers, and a
// handle that is not open gets EBADHANDLE.
func FuzzOutboundCalls(f *testing.F) {
	world(f)
	canned := func(kind byte, head int, ptr, n uint32) []byte {
		b := []byte{kind | 0x40, byte(head)}
		b = binary.LittleEndian.AppendUint32(b, ptr)
		return binary.LittleEndian.AppendUint32(b, n)
	}
	plain := func(kind byte, h int, ptr, n uint32) []byte {
		b := []byte{kind, byte(h + 1)}
		b = binary.LittleEndian.AppendUint32(b, ptr)
		return binary.LittleEndian.AppendUint32(b, n)
	}
	// Kinds by their index in outboundKinds.
	const (
		send, write, closeBody, head, read, closeHandle, match, put, del, cfetch, msg, grow = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
	)
	f.Add(slices.Concat(canned(send, 0, 0, 0), plain(head, 1, 4096, 4096), plain(read, 1, 8192, 100), plain(read, 1, 8192, 100), plain(closeHandle, 1, 0, 0)))
	f.Add(slices.Concat(canned(send, 1, 0, 0), plain(write, 1, 100, 3000), plain(closeBody, 1, 0, 0), plain(read, 1, 8192, 50000), plain(closeHandle, 1, 0, 0)))
	f.Add(slices.Concat(canned(cfetch, 2, 0, 0), plain(read, 1, 8192, 100), canned(match, 2, 0, 0), plain(head, 2, 4096, 10), plain(head, 2, 4096, 4096)))
	f.Add(slices.Concat(canned(send, 3, 0, 0), plain(head, 1, 0, 100), plain(msg, 0, 0, 300), canned(put, 2, 0, 10), canned(del, 2, 0, 0)))
	f.Add(slices.Concat(canned(send, 4, 0, 0), plain(write, 1, 0, 10), plain(head, 1, 0, 100), plain(grow, 0, 1, 0), plain(read, 1, pageSize+10, 70000)))
	f.Add(slices.Concat(canned(cfetch, 5, 0, 0), plain(read, 1, 0, 2*pageSize), canned(match, 6, 0, 0), plain(read, 2, 0, 10)))
	f.Add(slices.Concat(plain(send, 0, pageSize-1, 2), plain(read, 0, 0, 0)))
	f.Add(slices.Concat(canned(send, 0, 0, 0), []byte{write | 0x80, 2, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0}))
	f.Add(slices.Concat(canned(send, 7, 0, 0), plain(msg, 0, 0, 10), plain(msg, 0, 0, 100)))

	f.Fuzz(func(t *testing.T, program []byte) {
		steps := decodeOutboundSteps(program)
		r := runScript(t, steps, runOptions{egress: outboundWorld.egress, cache: outboundWorld.cache, tenant: "fuzz", wallTime: 10 * time.Second})
		checkOutboundModel(t, steps, r)
	})
}

// checkOutboundModel checks a run of outbound steps against the ABI.
func checkOutboundModel(t *testing.T, steps []step, r run) {
	t.Helper()
	for _, e := range r.errs {
		t.Error(e)
	}
	pages := uint64(1)
	open := map[int32]bool{}
	last := int32(0)
	trapped := -1
	oob := func(ptr, n uint32) bool { return uint64(ptr)+uint64(n) > pages*pageSize }
	for i, st := range steps {
		var bad bool
		switch st.kind {
		case kindFetchBodyClose, kindFetchClose, kindGrow:
		case kindCachePut:
			bad = oob(st.ptr, st.len) || oob(st.p2, st.l2) || oob(st.p3, st.l3)
		default:
			bad = oob(st.ptr, st.len)
		}
		if bad {
			trapped = i
			break
		}
		if i >= len(r.results) {
			t.Fatalf("step %d (%+v) did not return; Run: %v", i, st, r.err)
		}
		got := r.results[i]
		fail := func(want string) { t.Fatalf("step %d (%+v): result %d, want %s", i, st, got, want) }
		oneOf := func(codes ...int32) bool { return slices.Contains(codes, got) }
		switch st.kind {
		case kindFetchSend, kindCacheMatch, kindCacheFetch:
			switch {
			case got > 0:
				if got != last+1 {
					fail("the next handle, " + strconv.Itoa(int(last+1)))
				}
				last = got
				open[got] = true
			case st.kind == kindFetchSend && !oneOf(-2, -6),
				st.kind == kindCacheMatch && !oneOf(-2, -6, -7),
				st.kind == kindCacheFetch && !oneOf(-2, -3, -5, -6):
				fail("a handle or a documented error")
			}
		case kindFetchBodyWrite, kindFetchBodyClose, kindFetchResponseHead, kindFetchBodyRead, kindFetchClose:
			if !open[st.h] {
				if got != -8 {
					fail("EBADHANDLE for a handle that is not open")
				}
				continue
			}
			switch st.kind {
			case kindFetchBodyWrite:
				if got > int32(st.len) || got < 0 && !oneOf(-1, -3, -5) {
					fail("a count up to the length, EBADSTATE, EIO or EDENIED")
				}
			case kindFetchBodyClose:
				if !oneOf(0, -1) {
					fail("0 or EBADSTATE")
				}
			case kindFetchResponseHead:
				if got < 0 && !oneOf(-3, -5) {
					fail("a length, EIO or EDENIED")
				}
			case kindFetchBodyRead:
				if got > int32(min(st.len, 1<<20)) || got < 0 && !oneOf(-3, -5) {
					fail("a count up to the capacity, EIO or EDENIED")
				}
			case kindFetchClose:
				if got != 0 {
					fail("0")
				}
				delete(open, st.h)
			}
		case kindCachePut, kindCacheDelete:
			if !oneOf(0, 1, -2) {
				fail("0, 1 or EINVAL")
			}
		case kindErrorMessage:
			if got < 0 {
				fail("a length")
			}
		case kindGrow:
			want := int32(-1)
			if pages+uint64(st.ptr) <= 2 {
				want = int32(pages)
				pages += uint64(st.ptr)
			}
			if got != want {
				fail(strconv.Itoa(int(want)))
			}
		}
	}
	if trapped >= 0 {
		var ae *api.Error
		if !errors.As(r.err, &ae) || ae.Code != api.CodeWorkerTrap || !errors.Is(r.err, hostapi.ErrBadHostcall) {
			t.Fatalf("step %d (%+v) is out of bounds: Run: %v, want a worker-trap for a bad hostcall", trapped, steps[trapped], r.err)
		}
		if len(r.results) != trapped {
			t.Fatalf("%d steps returned, want %d (up to the bad one)", len(r.results), trapped)
		}
	} else if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
}

// FuzzDecodeOutbound: any bytes decode without a panic; an accepted head
// has a method that is a token (not CONNECT), an absolute http or https
// URL with a host, and only valid header fields that the host may pass
// on; it survives encoding and decoding again.
func FuzzDecodeOutbound(f *testing.F) {
	f.Add(fields(":method", "GET", ":url", "http://example.com/"))
	f.Add(fields(":url", "https://example.com:8443/a?b#c", ":content-length", "-1", "X-A", "1", "x-a", "2", "Host", "other.example"))
	f.Add(fields(":method", "POST", ":url", "HTTP://EXAMPLE.COM", ":content-length", "12", "Connection", "close", "Transfer-Encoding", "chunked"))
	f.Add(fields(":method", "GET", ":url", "file:///etc/passwd"))
	f.Add(fields(":method", "GE T", ":url", "http://x/"))
	f.Add(fields(":url", "http://x/", ":url", "http://y/"))
	f.Add(fields(":url", "http://x/", "X-A", "b\r\nc"))
	f.Add(fields(":url", "http://x/", ":content-length", "-2"))
	f.Add(fields(":url", "mailto:a@b"))
	f.Add([]byte{4, 0, 0, 0, ':', 'u', 'r', 'l', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		method, rawURL, header, host, length, refused := hostapi.DecodeOutbound(b)
		if refused != "" {
			return
		}
		if !validName(method) || method == "CONNECT" {
			t.Fatalf("method %q accepted", method)
		}
		u, err := url.Parse(rawURL)
		if err != nil || (strings.ToLower(u.Scheme) != "http" && strings.ToLower(u.Scheme) != "https") || u.Host == "" {
			t.Fatalf("URL %q accepted (%v)", rawURL, err)
		}
		if length < -1 {
			t.Fatalf("length %d accepted", length)
		}
		if !validValue(host) {
			t.Fatalf("Host %q accepted", host)
		}
		for name, values := range header {
			if !validName(name) || http.CanonicalHeaderKey(name) != name || hopByHop[name] || name == "Content-Length" || name == "Host" {
				t.Fatalf("header field %q accepted", name)
			}
			for _, v := range values {
				if !validValue(v) {
					t.Fatalf("header %s: value %q accepted", name, v)
				}
			}
		}
		kv := []string{":method", method, ":url", rawURL, ":content-length", strconv.FormatInt(length, 10)}
		if host != "" {
			kv = append(kv, "Host", host)
		}
		for name, values := range header {
			for _, v := range values {
				kv = append(kv, name, v)
			}
		}
		m2, u2, h2, host2, l2, refused2 := hostapi.DecodeOutbound(fields(kv...))
		if refused2 != "" || m2 != method || u2 != rawURL || host2 != host || l2 != length || !reflect.DeepEqual(h2, header) {
			t.Fatalf("round trip: %q %q %v %q %d %q", m2, u2, h2, host2, l2, refused2)
		}
	})
}
