package hostapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/runtime"
)

var writes struct {
	once sync.Once
	rt   *runtime.Runtime
	m    *runtime.Module
	err  error
}

// writesModule is testdata/writes.wasm in a runtime with only the wedge_v1
// module, as the edge has it.
func writesModule(tb testing.TB) *runtime.Module {
	tb.Helper()
	writes.once.Do(func() {
		ctx := context.Background()
		b, err := os.ReadFile(filepath.Join("testdata", "writes.wasm"))
		if err != nil {
			writes.err = err
			return
		}
		writes.rt, writes.err = runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}})
		if writes.err != nil {
			return
		}
		writes.m, writes.err = writes.rt.Compile(ctx, b)
	})
	if writes.err != nil {
		tb.Fatal(writes.err)
	}
	return writes.m
}

// discard is a ResponseWriter that keeps nothing and counts bytes.
type discard struct {
	h http.Header
	n *int
}

func (w discard) Header() http.Header         { return w.h }
func (w discard) Write(p []byte) (int, error) { *w.n += len(p); return len(p), nil }
func (discard) WriteHeader(int)               {}

// runWrites makes the writes guest call response_body_write n times.
func runWrites(tb testing.TB, m *runtime.Module, n uint32, w discard, body *bytes.Reader, r *http.Request) {
	body.Reset(binary.LittleEndian.AppendUint32(nil, n))
	r.Body.(*readCloser).Reader = body
	req := &hostapi.Request{W: w, R: r}
	if _, err := m.Run(hostapi.NewContext(context.Background(), req), runtime.RunConfig{}); err != nil {
		tb.Fatal(err)
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestHostcallAllocs: response_body_write allocates nothing per call (the
// difference between a run with many calls and one with none).
func TestHostcallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	m := writesModule(t)
	written := 0
	w := discard{h: http.Header{}, n: &written}
	body := bytes.NewReader(nil)
	r := newRequest(&readCloser{}, 4)
	allocs := func(n uint32) float64 {
		return testing.AllocsPerRun(20, func() { runWrites(t, m, n, w, body, r) })
	}
	const calls = 1000
	base, many := allocs(0), allocs(calls)
	if written != 21*calls*64 { // AllocsPerRun runs once more to warm up
		t.Fatalf("%d bytes written, want %d", written, 21*calls*64)
	}
	t.Logf("%.0f allocations per run without hostcalls, %.0f with %d", base, many, calls)
	if many-base > calls/100 {
		t.Errorf("%d calls of response_body_write allocate %.0f times", calls, many-base)
	}
}

// BenchmarkResponseBodyWrite is one call of response_body_write (64 bytes).
func BenchmarkResponseBodyWrite(b *testing.B) {
	m := writesModule(b)
	written := 0
	w := discard{h: http.Header{}, n: &written}
	body := bytes.NewReader(nil)
	r := newRequest(&readCloser{}, 4)
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	runWrites(b, m, uint32(b.N), w, body, r)
}

var fetches struct {
	once sync.Once
	rt   *runtime.Runtime
	m    *runtime.Module
	err  error
}

// fetchesModule is testdata/fetches.wasm in a runtime with only the
// wedge_v1 module.
func fetchesModule(tb testing.TB) *runtime.Module {
	tb.Helper()
	fetches.once.Do(func() {
		ctx := context.Background()
		b, err := os.ReadFile(filepath.Join("testdata", "fetches.wasm"))
		if err != nil {
			fetches.err = err
			return
		}
		fetches.rt, fetches.err = runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}})
		if fetches.err != nil {
			return
		}
		fetches.m, fetches.err = fetches.rt.Compile(ctx, b)
	})
	if fetches.err != nil {
		tb.Fatal(fetches.err)
	}
	return fetches.m
}

// runFetches makes the fetches guest call fetch_send (mode 0) or
// cache_match (mode 1) n times with head, reading each response whole.
func runFetches(tb testing.TB, mode, n uint32, head []byte, e *hostapi.Egress, c *cache.Cache) {
	tb.Helper()
	body := binary.LittleEndian.AppendUint32(nil, mode)
	body = binary.LittleEndian.AppendUint32(body, n)
	body = append(body, head...)
	written := 0
	req := &hostapi.Request{W: discard{h: http.Header{}, n: &written}, R: newRequest(&readCloser{bytes.NewReader(body)}, int64(len(body))),
		Egress: e, Cache: c, Tenant: "bench", MaxSubrequests: int(n) + 1}
	defer req.Close()
	if _, err := fetchesModule(tb).Run(hostapi.NewContext(context.Background(), req), runtime.RunConfig{}); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkHostcallFetch is one outbound request through the hostcalls
// (fetch_send, fetch_response_head, fetch_body_read to the end,
// fetch_close) to a server on loopback, allowed by the egress policy,
// over a pooled keep-alive connection. The transport sub-benchmark is the
// same request made directly with the host's transport, for comparison.
// Allocations count the test server's too.
func BenchmarkHostcallFetch(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer srv.Close()
	e := allowLoopback()
	b.Run("hostcall", func(b *testing.B) {
		runFetches(b, 0, 1, get(srv.URL+"/"), e, nil) // warm: a pooled connection
		b.ReportAllocs()
		b.ResetTimer()
		runFetches(b, 0, uint32(b.N), get(srv.URL+"/"), e, nil)
	})
	b.Run("transport", func(b *testing.B) {
		t := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		defer t.CloseIdleConnections()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			req, _ := http.NewRequest("GET", srv.URL+"/", nil)
			resp, err := t.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkHostcallCacheMatch is one cache hit through the hostcalls
// (cache_match, fetch_response_head, fetch_body_read to the end,
// fetch_close) for a 1 KiB response.
func BenchmarkHostcallCacheMatch(b *testing.B) {
	c, err := cache.New(cache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	u := "http://example.com/cached"
	err = c.Put("bench", cache.Request{URL: u}, cache.Response{Status: 200,
		Header: http.Header{"Cache-Control": {"max-age=3600"}, "Content-Type": {"text/plain"}}, Body: bytes.Repeat([]byte("x"), 1024)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	runFetches(b, 1, uint32(b.N), get(u), nil, c)
}
