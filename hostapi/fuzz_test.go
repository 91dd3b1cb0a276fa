package hostapi_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/hostapi"
)

// decodeSteps turns fuzz input into a script: 9 bytes a step, a kind byte
// then a little-endian pointer and length. The kind byte's top bit keeps
// pointer and length raw; without it they are folded into [0, 2 pages], so
// that most steps land near or inside memory.
func decodeSteps(b []byte) []step {
	var steps []step
	for len(b) >= 9 && len(steps) < 16 {
		k, ptr, n := b[0], binary.LittleEndian.Uint32(b[1:]), binary.LittleEndian.Uint32(b[5:])
		b = b[9:]
		if k&0x80 == 0 {
			ptr %= 2*pageSize + 1
			n %= 2*pageSize + 1
		}
		st := step{kind: int32(k&0x7f) % (kindGrow + 1), ptr: ptr, len: n}
		if st.kind == kindGrow {
			st.ptr %= 4 // grow by 0 to 3 pages; the guest's maximum is 2
		}
		steps = append(steps, st)
	}
	return steps
}

func encodeStep(kind byte, ptr, n uint32) []byte {
	b := []byte{kind | 0x80} // raw
	b = binary.LittleEndian.AppendUint32(b, ptr)
	return binary.LittleEndian.AppendUint32(b, n)
}

// FuzzHostcalls runs scripts of hostcalls with arbitrary pointers and
// lengths against the real host functions in a real runtime, and checks
// the outcome against a model of the ABI: the run ends with a worker-trap
// exactly when a step's range is outside memory, never with a host panic;
// the host never writes outside the range it was given (the probe checks
// every step); every result and the client's response are the ABI's.
func FuzzHostcalls(f *testing.F) {
	head := fields(":status", "201", "X-A", "b")
	var seed []byte
	seed = append(seed, encodeStep(kindRequestHead, 0, 4096)...)
	seed = append(seed, encodeStep(kindRequestBodyRead, 100, uint32(len(head)))...)
	seed = append(seed, encodeStep(kindResponseHead, 100, uint32(len(head)))...)
	seed = append(seed, encodeStep(kindResponseBodyWrite, 0, 16)...)
	seed = append(seed, encodeStep(kindResponseFlush, 0, 0)...)
	f.Add(seed, head)
	f.Add(slices.Concat(encodeStep(kindGrow, 1, 0), encodeStep(kindRequestHead, 2*pageSize-10, 10), encodeStep(kindResponseBodyWrite, pageSize, pageSize)), []byte("body"))
	f.Add(encodeStep(kindRequestHead, 0xffffffff, 1), []byte(nil))
	f.Add(encodeStep(kindRequestBodyRead, pageSize-3, 4), []byte("hello"))
	f.Add(encodeStep(kindResponseHead, 0, 0xffffffff), []byte(nil))
	f.Add(slices.Concat(encodeStep(kindResponseBodyWrite, 10, 20), encodeStep(kindResponseHead, pageSize, 0)), []byte(nil))
	f.Add(slices.Concat(encodeStep(kindRequestBodyRead, 0, 3), encodeStep(kindRequestBodyRead, 3, 100), encodeStep(kindResponseBodyWrite, 0, 8)), []byte("abcdefgh"))
	f.Add([]byte{2, 0, 0, 0, 0, 10, 0, 0, 0, 3, 1, 0, 0, 0, 2, 0, 0, 0}, []byte{})

	f.Fuzz(func(t *testing.T, program, body []byte) {
		steps := decodeSteps(program)
		r := runScript(t, steps, runOptions{body: bytes.NewReader(body)})
		checkModel(t, steps, body, r)
	})
}

// checkModel checks a run of steps against the ABI.
func checkModel(t *testing.T, steps []step, body []byte, r run) {
	t.Helper()
	for _, e := range r.errs {
		t.Error(e)
	}
	requestHead := testHead("-1")
	pages := uint64(1)
	headSent, status, bodyOff := false, 0, 0
	header := http.Header{}
	var sent []byte
	var accepted int64 // body bytes the writer took
	trapped := -1
	for i, st := range steps {
		if st.kind != kindResponseFlush && st.kind != kindGrow && uint64(st.ptr)+uint64(st.len) > pages*pageSize {
			trapped = i
			break
		}
		if i >= len(r.results) {
			t.Fatalf("step %d (%+v) did not return; Run: %v", i, st, r.err)
		}
		got := r.results[i]
		want := int32(0)
		switch st.kind {
		case kindRequestHead:
			want = int32(len(requestHead))
			if uint32(want) <= st.len && !bytes.Equal(r.written[i], requestHead) {
				t.Errorf("step %d: request head %q, want %q", i, r.written[i], requestHead)
			}
		case kindRequestBodyRead:
			want = int32(min(int(st.len), 1<<20, len(body)-bodyOff))
			if !bytes.Equal(r.written[i], body[bodyOff:bodyOff+int(want)]) {
				t.Errorf("step %d: read %q, want %q", i, r.written[i], body[bodyOff:bodyOff+int(want)])
			}
			bodyOff += int(want)
		case kindResponseHead:
			h := http.Header{}
			switch s, ok := hostapi.DecodeResponseHead(r.args[i], h); {
			case headSent:
				want = -1
			case !ok:
				want = -2
			default:
				headSent, status = true, s
				maps.Copy(header, h)
			}
		case kindResponseBodyWrite:
			if !headSent {
				headSent, status = true, 200
			}
			// The recorder keeps what it refuses (no body with 204
			// and 304, as net/http), but the write fails: EIO.
			sent = append(sent, r.args[i]...)
			want = int32(st.len)
			if status == http.StatusNoContent || status == http.StatusNotModified {
				want = -3
			} else {
				accepted += int64(st.len)
			}
		case kindResponseFlush:
			if !headSent {
				headSent, status = true, 200
			}
		case kindGrow:
			want = -1
			if pages+uint64(st.ptr) <= 2 {
				want = int32(pages)
				pages += uint64(st.ptr)
			}
		}
		if got != want {
			t.Fatalf("step %d (%+v): result %d, want %d", i, st, got, want)
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

	// The client got exactly what the steps before the trap sent.
	if !headSent {
		status = 0
		header = nil
	}
	checkResponse(t, r, status, header, string(sent), accepted)
}

// FuzzDecodeResponseHead: any bytes decode without a panic, a refused head
// leaves the header alone, and an accepted one holds only valid, non
// hop-by-hop fields and survives encoding and decoding again.
func FuzzDecodeResponseHead(f *testing.F) {
	f.Add(fields(":status", "200"))
	f.Add(fields(":status", "404", "Content-Type", "text/plain", "x-a", "1", "X-A", "2", ":x", "y", "Connection", "close"))
	f.Add(fields(":status", "200", "X-A", "b\r\nX-Evil: 1"))
	f.Add(fields(":status", "99"))
	f.Add(fields("X-A", "b", ":status", "200"))
	f.Add([]byte{7, 0, 0, 0, ':', 's', 't', 'a', 't', 'u', 's', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := http.Header{"Preset": {"x"}}
		status, ok := hostapi.DecodeResponseHead(b, h)
		if !ok {
			if status != 0 || !reflect.DeepEqual(h, http.Header{"Preset": {"x"}}) {
				t.Fatalf("refused head: status %d, header %v", status, h)
			}
			return
		}
		if status < 100 || status > 999 {
			t.Fatalf("status %d accepted", status)
		}
		if want := referenceHeader(b); !reflect.DeepEqual(h, want) {
			t.Fatalf("header %v, want %v", h, want)
		}
		delete(h, "Preset")
		checkHeader(t, h)
		h2 := http.Header{}
		status2, ok := hostapi.DecodeResponseHead(encodeHead(status, h), h2)
		if !ok || status2 != status || !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip: %d %v %v, want %d %v", status2, ok, h2, status, h)
		}
	})
}

// referenceHeader is what an accepted head adds to the Preset header:
// each field after the status, by its canonical name, in order, but for
// pseudo-fields and hop-by-hop ones.
func referenceHeader(b []byte) http.Header {
	h := http.Header{"Preset": {"x"}}
	var kv []string
	for len(b) >= 4 {
		n := int(binary.LittleEndian.Uint32(b))
		kv = append(kv, string(b[4:4+n]))
		b = b[4+n:]
	}
	for i := 2; i+1 < len(kv); i += 2 {
		key := http.CanonicalHeaderKey(kv[i])
		if strings.HasPrefix(kv[i], ":") || hopByHop[key] {
			continue
		}
		h[key] = append(h[key], kv[i+1])
	}
	return h
}

// FuzzResponseHeadRoundTrip: a head made of one valid field decodes to
// exactly that field.
func FuzzResponseHeadRoundTrip(f *testing.F) {
	f.Add(200, "Content-Type", "text/html; charset=utf-8")
	f.Add(999, "x-y", "")
	f.Add(302, "Location", "/a?b=c\td")
	f.Fuzz(func(t *testing.T, status int, name, value string) {
		if status < 200 || status > 999 || !validName(name) || !validValue(value) {
			t.Skip("not a valid head: covered by FuzzDecodeResponseHead")
		}
		key := http.CanonicalHeaderKey(name)
		want := http.Header{key: {value}}
		if hopByHop[key] {
			want = http.Header{}
		}
		h := http.Header{}
		got, ok := hostapi.DecodeResponseHead(fields(":status", strconv.Itoa(status), name, value), h)
		if !ok || got != status || !reflect.DeepEqual(h, want) {
			t.Fatalf("decode: %d %v %v, want %d %v", got, ok, h, status, want)
		}
	})
}

var hopByHop = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Upgrade": true, "Te": true, "Trailer": true, "Wedge-Error": true}

// checkHeader checks that h holds only what may go to a client.
func checkHeader(t *testing.T, h http.Header) {
	t.Helper()
	for name, values := range h {
		if !validName(name) || http.CanonicalHeaderKey(name) != name || hopByHop[name] {
			t.Errorf("header name %q", name)
		}
		for _, v := range values {
			if !validValue(v) {
				t.Errorf("header %s: value %q", name, v)
			}
		}
	}
}

// validName and validValue restate RFC 9110 independently of the code
// under test.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0) {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// encodeHead encodes a status and header, names in sorted order.
func encodeHead(status int, h http.Header) []byte {
	kv := []string{":status", strconv.Itoa(status)}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			kv = append(kv, name, v)
		}
	}
	return fields(kv...)
}
