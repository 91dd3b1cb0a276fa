package hostapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"

	wapi "github.com/tetratelabs/wazero/api"
)

// ModuleName is the import module of the guest ABI, version 1.
const ModuleName = "wedge_v1"

// Error codes returned to the guest (docs/abi.md).
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

// maxIO bounds one read or write so that its count fits the i32 result.
const maxIO = 1 << 30

// ErrBadHostcall stops a guest that passed a pointer or length outside its
// memory. The runtime reports it as worker-trap.
var ErrBadHostcall = errors.New("bad hostcall: pointer or length outside the guest's memory")

// errRequestOver stops a guest that starts its response after its request
// ended (its wall time ran out, or the client went away), typically from
// the error of a fetch that ended with it: that answer (a 502, say) would
// contradict the one the host owes the client (503 wall-time), and the
// guest's next check would stop it anyway. The runtime classifies the stop
// by the request's context.
var errRequestOver = errors.New("stopped: the request is over")

// stopIfOver stops the guest (a host function's panic ends its call) when
// ctx, the request's, is done.
func stopIfOver(ctx context.Context) {
	if ctx.Err() != nil {
		panic(errRequestOver)
	}
}

// Module is the wedge_v1 host module. Its zero value is ready to use.
type Module struct{}

// ModuleName implements the runtime's HostModule.
func (Module) ModuleName() string { return ModuleName }

var (
	i32x6 = []wapi.ValueType{wapi.ValueTypeI32, wapi.ValueTypeI32, wapi.ValueTypeI32, wapi.ValueTypeI32, wapi.ValueTypeI32, wapi.ValueTypeI32}
	i32x4 = []wapi.ValueType{wapi.ValueTypeI32, wapi.ValueTypeI32, wapi.ValueTypeI32, wapi.ValueTypeI32}
	i32x3 = []wapi.ValueType{wapi.ValueTypeI32, wapi.ValueTypeI32, wapi.ValueTypeI32}
	i32x2 = []wapi.ValueType{wapi.ValueTypeI32, wapi.ValueTypeI32}
	i32   = []wapi.ValueType{wapi.ValueTypeI32}
)

// ExportFunctions implements the runtime's HostModule.
func (Module) ExportFunctions(export func(name string, fn wapi.GoModuleFunction, params, results []wapi.ValueType)) {
	export("request_head", wapi.GoModuleFunc(requestHead), i32x2, i32)
	export("request_body_read", wapi.GoModuleFunc(requestBodyRead), i32x2, i32)
	export("response_head", wapi.GoModuleFunc(responseHead), i32x2, i32)
	export("response_body_write", wapi.GoModuleFunc(responseBodyWrite), i32x2, i32)
	export("response_flush", wapi.GoModuleFunc(responseFlush), nil, i32)

	export("fetch_send", wapi.GoModuleFunc(fetchSend), i32x2, i32)
	export("fetch_body_write", wapi.GoModuleFunc(fetchBodyWrite), i32x3, i32)
	export("fetch_body_close", wapi.GoModuleFunc(fetchBodyClose), i32, i32)
	export("fetch_response_head", wapi.GoModuleFunc(fetchResponseHead), i32x3, i32)
	export("fetch_body_read", wapi.GoModuleFunc(fetchBodyRead), i32x3, i32)
	export("fetch_close", wapi.GoModuleFunc(fetchClose), i32, i32)
	export("cache_match", wapi.GoModuleFunc(cacheMatch), i32x2, i32)
	export("cache_put", wapi.GoModuleFunc(cachePut), i32x6, i32)
	export("cache_delete", wapi.GoModuleFunc(cacheDelete), i32x2, i32)
	export("cache_fetch", wapi.GoModuleFunc(cacheFetch), i32x2, i32)
	export("error_message", wapi.GoModuleFunc(errorMessage), i32x2, i32)

	export("kv_get", wapi.GoModuleFunc(kvGet), i32x6, i32)
	export("kv_put", wapi.GoModuleFunc(kvPut), i32x6, i32)
	export("kv_delete", wapi.GoModuleFunc(kvDelete), i32x4, i32)
	export("kv_list", wapi.GoModuleFunc(kvList), i32x6, i32)
}

// guestBytes returns the guest's memory at [ptr, ptr+n) without copying, or
// stops the guest when the range is outside its memory.
func guestBytes(mod wapi.Module, ptr, n uint32) []byte {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic(ErrBadHostcall)
	}
	return b
}

func setResult(stack []uint64, v int32) { stack[0] = uint64(uint32(v)) }

// requestHead: (buf, cap) -> len.
func requestHead(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	head := req.encodeHead()
	if len(head) <= len(buf) {
		copy(buf, head)
	}
	setResult(stack, int32(len(head)))
}

// requestBodyRead: (buf, cap) -> n.
func requestBodyRead(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	if len(buf) > 1<<20 {
		buf = buf[:1<<20] // keep single reads bounded
	}
	n, code := req.readBody(buf)
	if code == codeTooLarge {
		panic(req.err) // stop the guest: the client gets body-too-large
	}
	if code < 0 {
		setResult(stack, code)
		return
	}
	setResult(stack, int32(n))
}

// responseHead: (buf, len) -> err.
func responseHead(ctx context.Context, mod wapi.Module, stack []uint64) {
	stopIfOver(ctx)
	buf := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	req := fromContext(ctx)
	if req == nil || req.headSent {
		setResult(stack, codeBadState)
		return
	}
	status, ok := decodeResponseHead(buf, req.W.Header())
	if !ok {
		setResult(stack, codeInvalid)
		return
	}
	req.writeHead(status)
	setResult(stack, 0)
}

// responseBodyWrite: (buf, len) -> n.
func responseBodyWrite(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	if !req.headSent {
		stopIfOver(ctx)
		req.writeHead(http.StatusOK)
	}
	if len(buf) > maxIO {
		buf = buf[:maxIO] // the count must fit the i32 result; the guest writes the rest next
	}
	var n int
	var err error
	if !req.flushed && req.bodyBytes+int64(len(buf)) <= req.Buffered {
		n, err = req.W.Write(buf) // into the writer's buffer: no wait
	} else {
		req.yield()
		n, err = req.W.Write(buf)
		req.resume()
	}
	req.bodyBytes += int64(n)
	if err != nil {
		setResult(stack, codeIO)
		return
	}
	setResult(stack, int32(n))
}

// responseFlush: () -> err.
func responseFlush(ctx context.Context, mod wapi.Module, stack []uint64) {
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	if !req.headSent {
		req.writeHead(http.StatusOK)
	}
	req.flushed = true
	req.yield()
	err := http.NewResponseController(req.W).Flush()
	req.resume()
	if err != nil {
		setResult(stack, codeIO)
		return
	}
	setResult(stack, 0)
}

// decodeResponseHead reads ":status" and the header fields of a response
// head into h. Header names must be tokens and values free of control
// characters; hop-by-hop fields are dropped (the edge manages connections).
// A malformed head leaves h untouched: the guest may send another one.
func decodeResponseHead(b []byte, h http.Header) (int, bool) {
	status, fields, ok := walkResponseHead(b, nil)
	if !ok {
		return 0, false
	}
	if fields > 0 {
		walkResponseHead(b, &headerAdder{h: h, whole: string(b), head: b, vals: make([]string, fields)})
	}
	return status, true
}

// headerAdder adds a head's fields to h in two allocations, however many
// there are: the values are substrings of the whole head, and each name's
// slice comes from one array.
type headerAdder struct {
	h     http.Header
	whole string // head as a string
	head  []byte // the same bytes: values are found by their offset
	vals  []string
}

func (a *headerAdder) add(name, value []byte) {
	key := headerKey(name)
	off := cap(a.head) - cap(value) // value is a subslice of head: both run to the array's end
	v := a.whole[off : off+len(value)]
	if old, ok := a.h[key]; ok {
		a.h[key] = append(old, v)
		return
	}
	a.h[key] = a.vals[:1:1]
	a.h[key][0] = v
	a.vals = a.vals[1:]
}

// headerKey is http.CanonicalHeaderKey(string(name)), without the
// allocations for the names responses use most.
func headerKey(name []byte) string {
	switch string(name) {
	case "Content-Type", "content-type":
		return "Content-Type"
	case "Content-Length", "content-length":
		return "Content-Length"
	case "Cache-Control", "cache-control":
		return "Cache-Control"
	case "Date", "date":
		return "Date"
	case "Etag", "ETag", "etag":
		return "Etag"
	case "Last-Modified", "last-modified":
		return "Last-Modified"
	case "Location", "location":
		return "Location"
	case "Set-Cookie", "set-cookie":
		return "Set-Cookie"
	case "Vary", "vary":
		return "Vary"
	case "X-Content-Type-Options", "x-content-type-options":
		return "X-Content-Type-Options"
	}
	return http.CanonicalHeaderKey(string(name))
}

// dropped reports whether a response header field is one the guest may
// not set: hop-by-hop fields (the edge manages connections) and
// Wedge-Error (only Wedge itself may say that it answered).
func dropped(name []byte) bool {
	for _, d := range [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer", "Wedge-Error"} {
		if len(name) == len(d) && bytes.EqualFold(name, []byte(d)) {
			return true
		}
	}
	return false
}

// walkResponseHead validates a response head and, if a is not nil, adds
// its header fields with it. It returns the status and how many fields
// would be added.
func walkResponseHead(b []byte, a *headerAdder) (status, fields int, ok bool) {
	first := true
	for len(b) > 0 {
		name, rest, ok := cutField(b)
		if !ok {
			return 0, 0, false
		}
		value, rest, ok := cutField(rest)
		if !ok {
			return 0, 0, false
		}
		b = rest
		if first {
			if string(name) != ":status" {
				return 0, 0, false
			}
			s, err := strconv.Atoi(string(value))
			if err != nil || s < 200 || s > 999 {
				return 0, 0, false
			}
			status = s
			first = false
			continue
		}
		if len(name) > 0 && name[0] == ':' {
			continue // unknown pseudo-field: ignored, for later versions
		}
		if !validName(name) || !validValue(value) {
			return 0, 0, false
		}
		if dropped(name) {
			continue
		}
		fields++
		if a != nil {
			a.add(name, value)
		}
	}
	return status, fields, status != 0
}

func cutField(b []byte) ([]byte, []byte, bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

// validName reports whether name is an HTTP token (RFC 9110, 5.6.2).
func validName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

// validValue reports whether value has no control characters but HTAB.
func validValue(value []byte) bool {
	for _, c := range value {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
