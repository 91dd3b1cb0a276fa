package hostapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	wapi "github.com/tetratelabs/wazero/api"

	"github.com/wedgeworks/wedge/cache"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/runtime"
)

//go:generate sh -c "cd testdata && for f in *.wat; do wat2wasm \"$DOLLAR{f}\" -o \"$DOLLAR{f%.wat}.wasm\"; done"

// The tests run hand-written guests (testdata/*.wat) in a real runtime.
// The guest ops.wat is a script interpreter: it asks the host module
// "probe", defined here, for one step after another and makes the hostcall
// the step names, with the step's pointer and length. The probe snapshots
// the guest's memory before each hostcall and checks after it that the
// host wrote nothing outside the window the call was allowed to write.

// Step kinds, as ops.wat numbers them.
const (
	kindRequestHead = iota
	kindRequestBodyRead
	kindResponseHead
	kindResponseBodyWrite
	kindResponseFlush
	kindGrow // memory.grow by ptr pages
	kindPoke // no hostcall: the probe writes data at ptr
	kindFetchSend
	kindFetchBodyWrite
	kindFetchBodyClose
	kindFetchResponseHead
	kindFetchBodyRead
	kindFetchClose
	kindCacheMatch
	kindCachePut
	kindCacheDelete
	kindCacheFetch
	kindErrorMessage
	kindKVGet // ns at (ptr, len), key at (p2, l2), buffer at (p3, l3)
	kindKVPut // ns, key, value at (p3, l3)
	kindKVDelete
	kindKVList // ns, prefix at (p2, l2), buffer at (p3, l3)
)

const pageSize = 65536

// step is one step of a script. data, if set, is written at ptr before the
// step runs (data2 at p2, data3 at p3). h is a handle; p2, l2, p3 and l3
// are the other buffers of cache_put and the kv_* calls.
type step struct {
	kind           int32
	ptr, len       uint32
	data           []byte
	h              int32
	p2, l2, p3, l3 uint32
	data2, data3   []byte
}

func requestHead(ptr, n uint32) step     { return step{kind: kindRequestHead, ptr: ptr, len: n} }
func requestBodyRead(ptr, n uint32) step { return step{kind: kindRequestBodyRead, ptr: ptr, len: n} }
func responseFlush() step                { return step{kind: kindResponseFlush} }
func grow(pages uint32) step             { return step{kind: kindGrow, ptr: pages} }
func poke(ptr uint32, data []byte) step  { return step{kind: kindPoke, ptr: ptr, data: data} }

// responseHead sends head, written at ptr first.
func responseHead(ptr uint32, head []byte) step {
	return step{kind: kindResponseHead, ptr: ptr, len: uint32(len(head)), data: head}
}

// responseBodyWrite writes body, written at ptr first.
func responseBodyWrite(ptr uint32, body string) step {
	return step{kind: kindResponseBodyWrite, ptr: ptr, len: uint32(len(body)), data: []byte(body)}
}

// script is the probe's state for one run.
type script struct {
	steps   []step
	results []int32     // one per step that returned
	written [][]byte    // per returned step: what the host wrote into the window
	args    [][]byte    // per returned step: the window at the call, for response_head and response_body_write
	in      [][3][]byte // per returned step: for the kv_* calls, their three ranges as they were at the call
	snap    []byte      // memory before the current step
	errs    []string    // memory checks that failed
	fast    bool        // for benchmarks: results only, no snapshots or memory checks
}

type scriptKey struct{}

func scriptFrom(ctx context.Context) *script {
	s, _ := ctx.Value(scriptKey{}).(*script)
	return s
}

// probe is the host module the ops guest drives its script with.
type probe struct{}

func (probe) ModuleName() string { return "probe" }

func (probe) ExportFunctions(export func(name string, fn wapi.GoModuleFunction, params, results []wapi.ValueType)) {
	i32 := wapi.ValueTypeI32
	export("op", wapi.GoModuleFunc(probeOp), []wapi.ValueType{i32}, []wapi.ValueType{i32})
	export("arg", wapi.GoModuleFunc(probeArg), []wapi.ValueType{i32, i32}, []wapi.ValueType{i32})
	export("done", wapi.GoModuleFunc(probeDone), []wapi.ValueType{i32, i32}, nil)
}

// op(i) -> kind: pokes step i's data, snapshots memory, returns the kind.
func probeOp(ctx context.Context, mod wapi.Module, stack []uint64) {
	s, i := scriptFrom(ctx), int(uint32(stack[0]))
	if i >= len(s.steps) {
		stack[0] = uint64(uint32(0xffffffff)) // -1: the end
		return
	}
	st := s.steps[i]
	mem := mod.Memory()
	for _, p := range []struct {
		at   uint32
		data []byte
	}{{st.ptr, st.data}, {st.p2, st.data2}, {st.p3, st.data3}} {
		if p.data != nil && !mem.Write(p.at, p.data) {
			panic(fmt.Sprintf("probe: step %d pokes %d bytes at %#x, outside memory", i, len(p.data), p.at))
		}
	}
	if !s.fast {
		all, _ := mem.Read(0, mem.Size())
		s.snap = append(s.snap[:0], all...)
	}
	stack[0] = uint64(uint32(st.kind))
}

// arg(i, k) -> step i's argument k: 0 pointer, 1 length, 2 handle, 3 p2,
// 4 l2, 5 p3, 6 l3.
func probeArg(ctx context.Context, mod wapi.Module, stack []uint64) {
	st := scriptFrom(ctx).steps[uint32(stack[0])]
	stack[0] = uint64([]uint32{st.ptr, st.len, uint32(st.h), st.p2, st.l2, st.p3, st.l3}[stack[1]])
}

// done(i, result): records the result and checks memory.
func probeDone(ctx context.Context, mod wapi.Module, stack []uint64) {
	s, i, r := scriptFrom(ctx), int(uint32(stack[0])), int32(uint32(stack[1]))
	st := s.steps[i]
	s.results = append(s.results, r)
	if s.fast {
		return
	}
	mem := mod.Memory()
	now, _ := mem.Read(0, mem.Size())
	snap := s.snap
	errorf := func(format string, args ...any) {
		s.errs = append(s.errs, fmt.Sprintf("step %d (kind %d, ptr %#x, len %#x, result %d): ", i, st.kind, st.ptr, st.len, r)+fmt.Sprintf(format, args...))
	}

	// The window the host was allowed to write: [lo, hi).
	lo, hi := uint64(st.ptr), uint64(st.ptr)
	switch st.kind {
	case kindResponseFlush, kindPoke, kindFetchBodyClose, kindFetchClose, kindKVPut, kindKVDelete:
		lo, hi = 0, 0 // no buffer
	case kindKVGet, kindKVList:
		lo, hi = uint64(st.p3), uint64(st.p3)
		if r >= 0 && uint32(r) <= st.l3 {
			hi += uint64(r)
		}
	case kindRequestHead, kindFetchResponseHead, kindErrorMessage:
		if r >= 0 && uint32(r) <= st.len {
			hi += uint64(r)
		}
	case kindRequestBodyRead, kindFetchBodyRead:
		if r > 0 && uint32(r) > st.len {
			errorf("read more than asked for")
		} else if r > 0 {
			hi += uint64(r)
		}
	case kindGrow:
		// Old memory unchanged, new memory zero.
		if !bytes.Equal(now[:len(snap)], snap) {
			errorf("memory.grow changed memory")
		}
		if len(bytes.Trim(now[len(snap):], "\x00")) != 0 {
			errorf("new memory is not zero")
		}
		lo, hi = uint64(len(snap)), uint64(len(now))
	}
	var written, arg []byte
	switch {
	case st.kind == kindGrow:
	case uint64(len(now)) != uint64(len(snap)):
		errorf("memory size changed from %d to %d", len(snap), len(now))
	case hi > uint64(len(now)):
		errorf("the window [%#x, %#x) is outside memory", lo, hi)
	default:
		if !bytes.Equal(now[:lo], snap[:lo]) || !bytes.Equal(now[hi:], snap[hi:]) {
			errorf("the host wrote outside [%#x, %#x)", lo, hi)
		}
		written = bytes.Clone(now[lo:hi])
		if end := uint64(st.ptr) + uint64(st.len); end <= uint64(len(snap)) && (st.kind == kindResponseHead || st.kind == kindResponseBodyWrite) {
			arg = bytes.Clone(snap[st.ptr:end])
		}
	}
	var in [3][]byte
	if st.kind >= kindKVGet && st.kind <= kindKVList {
		for k, rg := range [][2]uint32{{st.ptr, st.len}, {st.p2, st.l2}, {st.p3, st.l3}} {
			if end := uint64(rg[0]) + uint64(rg[1]); end <= uint64(len(snap)) {
				in[k] = bytes.Clone(snap[rg[0]:end])
			}
		}
	}
	s.written = append(s.written, written)
	s.args = append(s.args, arg)
	s.in = append(s.in, in)
}

// recorder is an httptest.ResponseRecorder that also counts WriteHeader
// calls, which the recorder's Code alone cannot tell.
type recorder struct {
	*httptest.ResponseRecorder
	heads []int
}

func (r *recorder) WriteHeader(code int) {
	r.heads = append(r.heads, code)
	r.ResponseRecorder.WriteHeader(code)
}

// run is the outcome of one script.
type run struct {
	*script
	req *hostapi.Request // nil when run without a Request
	rec *recorder
	err error
}

// runOptions configure a run; the zero value is a POST with an empty body.
type runOptions struct {
	body       io.Reader
	maxBody    int64
	noRequest  bool          // run without a hostapi.Request in the context
	request    *http.Request // instead of newRequest's
	beforeHead func(http.Header)
	// For the outbound calls: Request's fields of the same names.
	egress         *hostapi.Egress
	cache          *cache.Cache
	tenant         string
	maxSubrequests int
	yield, resume  func()
	buffered       int64 // Request.Buffered
	wallTime       time.Duration
	kv             hostapi.KV
	kvBindings     []string
}

// funcPauser is a hostapi.Pauser that calls pause (for both kinds of
// pauses) and resume, when set.
type funcPauser struct{ pause, resume func() }

func (p funcPauser) Pause() {
	if p.pause != nil {
		p.pause()
	}
}
func (p funcPauser) PauseWriting() { p.Pause() }
func (p funcPauser) Resume() {
	if p.resume != nil {
		p.resume()
	}
}

// newRequest is the request the tests serve; testHead is its encoded head.
func newRequest(body io.Reader, contentLength int64) *http.Request {
	r := httptest.NewRequest("POST", "http://example.com/p?q=1", body)
	r.Header = http.Header{"X-A": {"b"}} // one field: a deterministic order
	r.ContentLength = contentLength
	return r
}

func testHead(contentLength string) []byte {
	return fields(":method", "POST", ":url", "http://example.com/p?q=1", ":proto", "HTTP/1.1",
		":remote", "192.0.2.1:1234", ":content-length", contentLength, "X-A", "b")
}

// fields encodes a head (docs/abi.md).
func fields(kv ...string) []byte {
	var b []byte
	for _, s := range kv {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// runScript runs steps in the ops guest.
func runScript(t testing.TB, steps []step, o runOptions) run {
	t.Helper()
	s := &script{steps: steps}
	ctx := context.WithValue(context.Background(), scriptKey{}, s)
	rec := &recorder{ResponseRecorder: httptest.NewRecorder()}
	var req *hostapi.Request
	if !o.noRequest {
		body := o.body
		if body == nil {
			body = http.NoBody
		}
		hr := o.request
		if hr == nil {
			hr = newRequest(body, -1)
		}
		req = &hostapi.Request{W: rec, R: hr, MaxBody: o.maxBody, BeforeHead: o.beforeHead,
			Egress: o.egress, Cache: o.cache, Tenant: o.tenant, MaxSubrequests: o.maxSubrequests, Pauser: funcPauser{o.yield, o.resume},
			Buffered: o.buffered, KV: o.kv, KVBindings: o.kvBindings}
		ctx = hostapi.NewContext(ctx, req)
	}
	_, err := opsModule(t).Run(ctx, runtime.RunConfig{WallTime: o.wallTime})
	if req != nil {
		req.Close() // as the edge does
	}
	return run{script: s, req: req, rec: rec, err: err}
}

var ops struct {
	once sync.Once
	rt   *runtime.Runtime
	m    *runtime.Module
	err  error
}

// opsModule is testdata/ops.wasm, compiled once for every test and fuzz
// input in a real runtime with the wedge_v1 module and the probe.
func opsModule(t testing.TB) *runtime.Module {
	t.Helper()
	ops.once.Do(func() {
		ctx := context.Background()
		b, err := os.ReadFile(filepath.Join("testdata", "ops.wasm"))
		if err != nil {
			ops.err = err
			return
		}
		ops.rt, ops.err = runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}, probe{}}})
		if ops.err != nil {
			return
		}
		ops.m, ops.err = ops.rt.Compile(ctx, b)
	})
	if ops.err != nil {
		t.Fatal(ops.err)
	}
	return ops.m
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ops.rt != nil {
		ops.rt.Close(context.Background())
	}
	os.Exit(code)
}

// runWithWriter runs steps serving a request with w as the ResponseWriter.
func runWithWriter(t testing.TB, steps []step, w http.ResponseWriter) run {
	t.Helper()
	s := &script{steps: steps}
	req := &hostapi.Request{W: w, R: newRequest(http.NoBody, 0)}
	ctx := hostapi.NewContext(context.WithValue(context.Background(), scriptKey{}, s), req)
	_, err := opsModule(t).Run(ctx, runtime.RunConfig{})
	return run{script: s, req: req, err: err}
}
