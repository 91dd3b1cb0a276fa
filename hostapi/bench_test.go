package hostapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
