package hostapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/store"
)

// storeKV adapts the store's KV namespaces to hostapi.KV, as cmd/wedge
// does (cmd/wedge/kv.go): the tests run the kv_* calls against the real
// bbolt store.
type storeKV struct{ st store.Store }

func (k storeKV) Get(ctx context.Context, tenant, ns, key string) ([]byte, error) {
	v, err := k.st.KVGet(ctx, tenant, ns, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, hostapi.ErrKVNotFound
	}
	return v, err
}

func (k storeKV) Put(ctx context.Context, tenant, ns, key string, value []byte) error {
	return k.st.KVPut(ctx, tenant, ns, key, value)
}

func (k storeKV) Delete(ctx context.Context, tenant, ns, key string) error {
	if err := k.st.KVDelete(ctx, tenant, ns, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

func (k storeKV) List(ctx context.Context, tenant, ns, prefix string, limit int) ([]string, error) {
	return k.st.KVList(ctx, tenant, ns, prefix, "", limit)
}

// openStore opens a bbolt store in a temporary directory, closed at the
// end of the test, with the given tenants.
func openStore(tb testing.TB, tenants ...string) *store.Bolt {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "wedge.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	for _, name := range tenants {
		if err := st.CreateTenant(context.Background(), store.Tenant{Name: name, Created: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

// The steps of the kv_* calls. Each writes its namespace at 0, its key at
// 4096 and its value at (or takes its buffer from) 8192.
const (
	kvNSAt  = 0
	kvKeyAt = 4096
	kvBufAt = 8192
)

func kvGet(ns, key string, bufCap uint32) step {
	return step{kind: kindKVGet, ptr: kvNSAt, len: uint32(len(ns)), data: []byte(ns),
		p2: kvKeyAt, l2: uint32(len(key)), data2: []byte(key), p3: kvBufAt, l3: bufCap}
}

func kvPut(ns, key, value string) step {
	return step{kind: kindKVPut, ptr: kvNSAt, len: uint32(len(ns)), data: []byte(ns),
		p2: kvKeyAt, l2: uint32(len(key)), data2: []byte(key), p3: kvBufAt, l3: uint32(len(value)), data3: []byte(value)}
}

func kvDelete(ns, key string) step {
	return step{kind: kindKVDelete, ptr: kvNSAt, len: uint32(len(ns)), data: []byte(ns),
		p2: kvKeyAt, l2: uint32(len(key)), data2: []byte(key)}
}

func kvList(ns, prefix string, bufCap uint32) step {
	return step{kind: kindKVList, ptr: kvNSAt, len: uint32(len(ns)), data: []byte(ns),
		p2: kvKeyAt, l2: uint32(len(prefix)), data2: []byte(prefix), p3: kvBufAt, l3: bufCap}
}

// strs encodes strings as kv_list does: each a u32 length and its bytes.
func strs(s ...string) []byte {
	b := []byte{}
	for _, k := range s {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
	}
	return b
}

// Error codes of docs/abi.md.
const (
	eBadState = -1
	eInvalid  = -2
	eIO       = -3
	eTooLarge = -4
	eDenied   = -5
	eNotFound = -7
)

// checkStored checks what the store holds in tenant's namespace ns.
func checkStored(t *testing.T, st store.Store, tenant, ns string, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	keys, err := st.KVList(ctx, tenant, ns, "", "", 0)
	if err != nil {
		t.Fatalf("KVList %s/%s: %v", tenant, ns, err)
	}
	got := map[string]string{}
	for _, k := range keys {
		v, err := st.KVGet(ctx, tenant, ns, k)
		if err != nil {
			t.Fatalf("KVGet %s/%s %q: %v", tenant, ns, k, err)
		}
		got[k] = string(v)
	}
	if len(got) != len(want) {
		t.Errorf("%s/%s holds %q, want %q", tenant, ns, got, want)
		return
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s/%s holds %q, want %q", tenant, ns, got, want)
			return
		}
	}
}

// TestKVCalls runs the kv_* calls against the real store, as
// docs/abi.md documents them.
func TestKVCalls(t *testing.T) {
	st := openStore(t, "acme", "other")
	kv := storeKV{st}
	ctx := context.Background()
	// Another tenant's keys, and the tenant's own in a namespace the
	// worker does not bind: never seen.
	for _, ns := range []string{"A", "B"} {
		for _, k := range []string{"k", "a", "hidden"} {
			if err := st.KVPut(ctx, "other", ns, k, []byte("other's")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.KVPut(ctx, "acme", "C", "k", []byte("unbound")); err != nil {
		t.Fatal(err)
	}
	value100 := strings.Repeat("0123456789", 10)
	key512, key513 := strings.Repeat("k", 512), strings.Repeat("k", 513)
	long := strings.Repeat("N", 70) // quoted in messages as its first 64 bytes
	unbound := func(ns string) string {
		return `KV namespace "` + ns + `" is not bound to this worker: add [[kv_namespaces]] binding = "` + ns + `" to wedge.toml`
	}
	// outOfRange moves a step's range i (0 namespace, 1 key, 2 value or
	// buffer) to end one byte past the guest's memory, its first page.
	outOfRange := func(s step, i int) step {
		switch i {
		case 0:
			s.ptr, s.data = pageSize-s.len+1, nil
		case 1:
			s.p2, s.data2 = pageSize-s.l2+1, nil
		case 2:
			s.p3, s.data3 = pageSize-s.l3+1, nil
		}
		return s
	}
	for _, tt := range []struct {
		outboundTest
		noKV     bool
		bindings []string                  // default A and B
		stored   map[string]string         // what namespace A holds afterwards (nil: not checked)
		more     func(t *testing.T, r run) // more checks
	}{
		{outboundTest: outboundTest{name: "get of a missing key",
			steps:   []step{kvGet("A", "k", 100), errorMessage(0, 100)},
			results: []int32{eNotFound, int32(len("no such key"))},
			written: map[int]string{0: "", 1: "no such key"}}},
		{outboundTest: outboundTest{name: "put, get",
			steps:   []step{kvPut("A", "k", "hello"), kvGet("A", "k", 100), kvGet("B", "k", 100), errorMessage(0, 100)},
			results: []int32{0, 5, eNotFound, 11},
			written: map[int]string{1: "hello"}},
			stored: map[string]string{"k": "hello"}},
		{outboundTest: outboundTest{name: "put, put again, get",
			steps:   []step{kvPut("A", "k", "hello"), kvPut("A", "k", "bye"), kvGet("A", "k", 100)},
			results: []int32{0, 0, 3},
			written: map[int]string{2: "bye"}},
			stored: map[string]string{"k": "bye"}},
		{outboundTest: outboundTest{name: "get into a buffer too small",
			steps: []step{kvPut("A", "k", value100), kvGet("A", "k", 99), kvGet("A", "k", 0), kvGet("A", "k", 100), kvGet("A", "k", 101)},
			// The probe checks that the host wrote nothing when the value
			// did not fit, and nothing past the value when it did.
			results: []int32{0, 100, 100, 100, 100},
			written: map[int]string{1: "", 2: "", 3: value100, 4: value100}}},
		{outboundTest: outboundTest{name: "an empty value",
			steps:   []step{kvPut("A", "k", ""), kvGet("A", "k", 0), kvGet("A", "k", 10)},
			results: []int32{0, 0, 0},
			written: map[int]string{1: "", 2: ""}},
			stored: map[string]string{"k": ""}},
		{outboundTest: outboundTest{name: "the value is copied",
			// Put, then overwrite the guest's buffer: the store keeps
			// what was put.
			steps:   []step{kvPut("A", "k", "first"), poke(kvBufAt, []byte("XXXXX")), kvGet("A", "k", 100)},
			results: []int32{0, 0, 5},
			written: map[int]string{2: "first"}}},
		{outboundTest: outboundTest{name: "any bytes in a value",
			steps:   []step{kvPut("A", "k", "\x00\xff\r\n"), kvGet("A", "k", 4)},
			results: []int32{0, 4},
			written: map[int]string{1: "\x00\xff\r\n"}}},
		{outboundTest: outboundTest{name: "list",
			steps: []step{
				kvList("A", "", 100),
				kvPut("A", "b", "2"), kvPut("A", "a/2", "3"), kvPut("A", "c", "4"), kvPut("A", "a", "1"), kvPut("A", "é", "5"), kvPut("B", "a/1", "x"),
				kvList("A", "", 1000), kvList("A", "a", 1000), kvList("A", "a/", 1000), kvList("A", "d", 1000), kvList("A", "\xc3", 1000),
				kvList("B", "", 1000),
			},
			results: []int32{0, 0, 0, 0, 0, 0, 0,
				int32(len(strs("a", "a/2", "b", "c", "é"))), int32(len(strs("a", "a/2"))), int32(len(strs("a/2"))), 0, int32(len(strs("é"))),
				int32(len(strs("a/1")))},
			written: map[int]string{0: "",
				7: string(strs("a", "a/2", "b", "c", "é")), 8: string(strs("a", "a/2")), 9: string(strs("a/2")), 10: "", 11: string(strs("é")),
				12: string(strs("a/1"))}}},
		{outboundTest: outboundTest{name: "list into a buffer too small",
			steps: []step{kvPut("A", "a", "1"), kvPut("A", "bb", "2"),
				kvList("A", "", 10), kvList("A", "", 0), kvList("A", "", 11), kvList("A", "", 12)},
			results: []int32{0, 0, 11, 11, 11, 11},
			written: map[int]string{2: "", 3: "", 4: string(strs("a", "bb")), 5: string(strs("a", "bb"))}}},
		{outboundTest: outboundTest{name: "delete",
			steps:   []step{kvPut("A", "k", "v"), kvPut("A", "k2", "v"), kvDelete("A", "k"), kvGet("A", "k", 10), kvDelete("A", "k"), kvDelete("A", "never"), kvList("A", "", 100)},
			results: []int32{0, 0, 0, eNotFound, 0, 0, int32(len(strs("k2")))},
			written: map[int]string{6: string(strs("k2"))}},
			stored: map[string]string{"k2": "v"}},
		{outboundTest: outboundTest{name: "an unbound namespace",
			steps: []step{kvGet("C", "k", 100), errorMessage(0, 300), kvPut("C", "k", "v"), kvDelete("C", "k"), kvList("C", "", 100),
				kvGet("", "k", 100), kvGet("a", "k", 100), kvGet(long, "k", 100), errorMessage(0, 300)},
			results: []int32{eDenied, int32(len(unbound("C"))), eDenied, eDenied, eDenied, eDenied, eDenied, eDenied,
				int32(len(unbound(long[:64] + "…")))},
			written: map[int]string{0: "", 1: unbound("C"), 4: "", 8: unbound(long[:64] + "…")}},
			more: func(t *testing.T, r run) {
				if v, err := st.KVGet(ctx, "acme", "C", "k"); err != nil || string(v) != "unbound" {
					t.Errorf("C/k = %q, %v; want the value put before", v, err)
				}
			}},
		{outboundTest: outboundTest{name: "no bindings",
			steps:   []step{kvGet("A", "k", 100), kvList("A", "", 100)},
			results: []int32{eDenied, eDenied}},
			bindings: []string{}},
		{outboundTest: outboundTest{name: "no KV store",
			steps:   []step{kvGet("A", "k", 100), kvPut("A", "k", "v"), kvDelete("A", "k"), kvList("A", "", 100), errorMessage(0, 100)},
			results: []int32{eDenied, eDenied, eDenied, eDenied, int32(len("no KV store on this host"))},
			written: map[int]string{4: "no KV store on this host"}},
			noKV: true},
		{outboundTest: outboundTest{name: "keys of 512 and 513 bytes",
			steps: []step{kvPut("A", key512, "v"), kvGet("A", key512, 10), kvList("A", key512, 1000),
				kvPut("A", key513, "v"), errorMessage(0, 100), kvGet("A", key513, 10), kvDelete("A", key513), kvList("A", key513, 1000)},
			results: []int32{0, 1, int32(len(strs(key512))), eTooLarge, int32(len("KV keys are at most 512 bytes")), eTooLarge, eTooLarge, eTooLarge},
			written: map[int]string{1: "v", 2: string(strs(key512)), 4: "KV keys are at most 512 bytes"}},
			stored: map[string]string{key512: "v"}},
		{outboundTest: outboundTest{name: "an empty key",
			steps:   []step{kvGet("A", "", 10), errorMessage(0, 100), kvPut("A", "", "v"), kvDelete("A", "")},
			results: []int32{eInvalid, int32(len("empty KV key")), eInvalid, eInvalid},
			written: map[int]string{1: "empty KV key"}},
			stored: map[string]string{}},
		{outboundTest: outboundTest{name: "keys the store refuses",
			steps: []step{kvPut("A", "a\x00b", "v"), kvGet("A", "a\x00b", 10), kvDelete("A", "a\x00b"),
				kvPut("A", "\xff", "v"), kvGet("A", "\xff", 10), kvDelete("A", "\xff"), kvList("A", "\xff", 100), kvList("A", "a\x00", 100)},
			results: []int32{eInvalid, eInvalid, eInvalid, eInvalid, eInvalid, eInvalid, 0, 0}},
			stored: map[string]string{}},
		{outboundTest: outboundTest{name: "UTF-8 keys",
			steps:   []step{kvPut("A", "héllo/世界", "v"), kvGet("A", "héllo/世界", 10), kvList("A", "h", 100)},
			results: []int32{0, 1, int32(len(strs("héllo/世界")))},
			written: map[int]string{1: "v", 2: string(strs("héllo/世界"))}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tenant := "t" + strconv.Itoa(int(tenants.Add(1)))
			if err := st.CreateTenant(ctx, store.Tenant{Name: tenant}); err != nil {
				t.Fatal(err)
			}
			tt.opts = runOptions{kv: kv, tenant: tenant, kvBindings: []string{"A", "B"}}
			if tt.noKV {
				tt.opts.kv = nil
			}
			if tt.bindings != nil {
				tt.opts.kvBindings = tt.bindings
			}
			r := tt.run(t)
			if tt.stored != nil {
				checkStored(t, st, tenant, "A", tt.stored)
			}
			if tt.more != nil {
				tt.more(t, r)
			}
		})
	}

	// Out-of-range pointers trap, before the call does anything.
	t.Run("out of range", func(t *testing.T) {
		tenant := "t" + strconv.Itoa(int(tenants.Add(1)))
		if err := st.CreateTenant(ctx, store.Tenant{Name: tenant}); err != nil {
			t.Fatal(err)
		}
		opts := runOptions{kv: kv, tenant: tenant, kvBindings: []string{"A"}}
		for _, s := range []step{kvGet("A", "k", 10), kvPut("A", "k", "value"), kvDelete("A", "k"), kvList("A", "", 10)} {
			ranges := 3
			if s.kind == kindKVDelete {
				ranges = 2
			}
			for i := range ranges {
				for _, far := range []bool{false, true} {
					bad := outOfRange(s, i)
					if far {
						switch i {
						case 0:
							bad.ptr = 0xffffffff
						case 1:
							bad.p2 = 0xffffffff
						case 2:
							bad.p3 = 0xffffffff
						}
					}
					r := runScript(t, []step{kvPut("A", "k", "before"), bad}, opts)
					for _, e := range r.errs {
						t.Error(e)
					}
					if api.CodeOf(r.err) != api.CodeWorkerTrap || !errors.Is(r.err, hostapi.ErrBadHostcall) || !slices.Equal(r.results, []int32{0}) {
						t.Errorf("kind %d, range %d out of memory (far %v): results %v, Run: %v; want a worker-trap for a bad hostcall", s.kind, i, far, r.results, r.err)
					}
					checkStored(t, st, tenant, "A", map[string]string{"k": "before"})
				}
			}
		}
		// A range that ends exactly at the end of memory is fine, as is an
		// empty one right after it.
		s := kvGet("A", "k", 6)
		s.p3 = pageSize - 6
		empty := kvPut("A", "e", "")
		empty.p3 = pageSize
		r := runScript(t, []step{kvPut("A", "k", "before"), s, empty}, opts)
		if r.err != nil || !slices.Equal(r.results, []int32{0, 6, 0}) || string(at(r.written, 1)) != "before" {
			t.Errorf("results %v, written %q, Run: %v", r.results, at(r.written, 1), r.err)
		}
	})

	// The store failing is EIO, for every call.
	t.Run("the store failed", func(t *testing.T) {
		closed := openStore(t, "acme")
		closed.Close()
		tt := outboundTest{name: "closed store",
			steps:   []step{kvGet("A", "k", 10), kvPut("A", "k", "v"), kvDelete("A", "k"), kvList("A", "", 10), errorMessage(0, 200)},
			results: []int32{eIO, eIO, eIO, eIO, int32(len("KV: " + store.ErrClosed.Error()))},
			written: map[int]string{4: "KV: " + store.ErrClosed.Error()},
			opts:    runOptions{kv: storeKV{closed}, tenant: "acme", kvBindings: []string{"A"}}}
		tt.run(t)
	})

	// Without a Request: EBADSTATE, nothing written.
	t.Run("no request", func(t *testing.T) {
		tt := outboundTest{name: "no request",
			steps:   []step{kvGet("A", "k", 10), kvPut("A", "k", "v"), kvDelete("A", "k"), kvList("A", "", 10)},
			results: []int32{eBadState, eBadState, eBadState, eBadState},
			written: map[int]string{0: "", 3: ""},
			opts:    runOptions{noRequest: true}}
		tt.run(t)
	})
}

// tenants numbers the tenants the tests create, so that each script
// starts from an empty KV.
var tenants atomic.Int64

// kvKinds are the steps FuzzKVCalls makes (gets and puts twice as often
// as the others).
var kvKinds = []int32{kindKVGet, kindKVPut, kindKVGet, kindKVPut, kindKVDelete, kindKVList, kindErrorMessage, kindGrow}

// The fuzzed scripts' namespaces (bound: A, B; not bound: the others)
// and keys (or prefixes), some of which the store refuses. A selector
// byte picks them: without its top bit, its bits 0-1 pick one of the
// first 4 namespaces and bits 2-3 one of the first 4 keys, the common
// ones, so that the calls of a script meet; with it, bits 0-2 pick one
// of the last 8 namespaces and bits 3-6 one of all 16 keys.
var (
	kvFuzzNS   = []string{"A", "A", "A", "B", "A", "B", "C", "", "A", "B", "", strings.Repeat("N", 70)}
	kvFuzzKeys = []string{"k", "k", "k1", "k/2", "ka", "", "é", "\xc3", "x", strings.Repeat("x", 512), strings.Repeat("x", 513),
		"a\x00b", "\xff", "k\x00", "k1", "k/2/3"}
)

// decodeKVSteps turns fuzz input into a script: 10 bytes a step, a kind
// byte, a selector byte, a pointer and a length. The selector picks the
// namespace and the key; pointer and length place them (namespace in
// [0, 4096), key in [4096, 8192), buffer or value at [16384, 32768)) and
// size the buffer (mostly under 600 bytes, else up to the end of the
// second page) or the value (under 300 bytes, else up to the end of the
// first page). When the kind byte's top four bits are 1111, one range
// (the selector picks which) takes pointer and length raw instead, and
// the others are fixed; when they are 1011, the same range takes them
// folded into [0, 2 pages]. Such a range gets no data: the call reads
// whatever memory holds.
func decodeKVSteps(b []byte) []step {
	var steps []step
	for len(b) >= 10 && len(steps) < 16 {
		k, sel, ptr, n := b[0], b[1], binary.LittleEndian.Uint32(b[2:]), binary.LittleEndian.Uint32(b[6:])
		b = b[10:]
		st := step{kind: kvKinds[int(k&0x3f)%len(kvKinds)]}
		switch st.kind {
		case kindGrow:
			st.ptr = ptr % 4
			steps = append(steps, st)
			continue
		case kindErrorMessage:
			st.ptr, st.len = ptr%pageSize, n%300
			steps = append(steps, st)
			continue
		}
		ns, key := kvFuzzNS[sel&3], kvFuzzKeys[sel>>2&3]
		if sel&0x80 != 0 {
			ns, key = kvFuzzNS[4+sel&7], kvFuzzKeys[sel>>3&15]
		}
		st.ptr, st.len, st.data = ptr%4096, uint32(len(ns)), []byte(ns)
		st.p2, st.l2, st.data2 = 4096+(ptr>>12)%(4096-513), uint32(len(key)), []byte(key)
		st.p3 = 16384 + (ptr>>24)*64
		switch {
		case st.kind == kindKVPut && n&0xe000 == 0xe000:
			st.l3 = n % (pageSize - st.p3 + 1) // up to the end of the first page
		case st.kind == kindKVPut:
			st.l3 = n % 300
		case n&0xe000 == 0xe000:
			st.l3 = n % (2*pageSize + 1 - st.p3) // out of memory unless grown
		default:
			st.l3 = n % 600
		}
		if st.kind == kindKVPut {
			st.data3 = make([]byte, st.l3)
			for i := range st.data3 {
				st.data3[i] = byte(i) + sel + byte(n>>16)
			}
		}
		if st.kind == kindKVDelete {
			st.p3, st.l3 = 0, 0
		}
		if k&0xb0 == 0xb0 {
			ranges := 3
			if st.kind == kindKVDelete {
				ranges = 2
			}
			if k&0x40 == 0 {
				ptr %= 2*pageSize + 1
				n %= 2*pageSize + 1
				if sel&0x40 != 0 {
					n %= 600
				}
			}
			switch (int(k) + int(sel>>4)) % ranges {
			case 0:
				st.ptr, st.len, st.data = ptr, n, nil
			case 1:
				st.p2, st.l2, st.data2 = ptr, n, nil
				st.ptr, st.data = 0, []byte(ns)
			case 2:
				st.p3, st.l3, st.data3 = ptr, n, nil
				st.ptr, st.data = 0, []byte(ns)
				st.p2 = 4096
			}
		}
		steps = append(steps, st)
	}
	return steps
}

// kvFuzzStep encodes a step for decodeKVSteps.
func kvFuzzStep(kind int, sel byte, ptr, n uint32) []byte {
	b := []byte{byte(kind), sel}
	b = binary.LittleEndian.AppendUint32(b, ptr)
	return binary.LittleEndian.AppendUint32(b, n)
}

// kvSel is a selector of namespace ns and key.
func kvSel(ns, key string) byte {
	i, j := slices.Index(kvFuzzNS[4:], ns), slices.Index(kvFuzzKeys, key)
	if i < 0 || j < 0 {
		panic("kvSel: " + ns + ", " + key)
	}
	return byte(0x80 | j<<3 | i)
}

// FuzzKVCalls runs scripts of the kv_* calls (and error_message and
// memory.grow) with arbitrary namespaces, keys, pointers and lengths
// against the real host functions and a real store, and checks every step
// against a model of the ABI and of the store: a trap exactly when a
// step's range is outside memory, never a host panic; the host writes only
// inside the buffer it was given, and only a value or a list that fits;
// results are the documented ones (EDENIED for a namespace the worker does
// not bind or a host without a store, ETOOLARGE for a key over 512 bytes,
// EINVAL for a key the store cannot hold, ENOTFOUND, the full length);
// the values read and listed are those put, per tenant and namespace; and
// the store holds what the model says afterwards.
//
// The first byte of the input picks the world: 15 (mod 16) is a host
// without a KV store, 14 a worker that binds no namespace; else the worker
// binds A and B. Every input has a tenant of its own, so that it starts
// from an empty KV; the store also holds another tenant's keys, in A, B
// and C, which must never show.
func FuzzKVCalls(f *testing.F) {
	st := openStore(f, "other")
	kv := storeKV{st}
	ctx := context.Background()
	for _, ns := range []string{"A", "B", "C"} {
		for _, k := range kvFuzzKeys {
			if api.CheckKVKey(k) == nil {
				if err := st.KVPut(ctx, "other", ns, k, []byte("other's")); err != nil {
					f.Fatal(err)
				}
			}
		}
	}
	const get, put, del, list, msg, grow = 0, 1, 4, 5, 6, 7
	const raw, folded = 0xf0, 0xb0
	const big = 0xe000 // a length's bits for a large buffer or value
	k, x512, x513 := kvSel("A", "k"), kvSel("A", strings.Repeat("x", 512)), kvSel("A", strings.Repeat("x", 513))
	f.Add(slices.Concat([]byte{0},
		kvFuzzStep(get, k, 0, 100), kvFuzzStep(put, k, 0x01002010, 12), kvFuzzStep(get, k, 0, 100),
		kvFuzzStep(get, k, 0, 5), kvFuzzStep(list, kvSel("A", ""), 0, 100), kvFuzzStep(msg, 0, 0, 100)))
	f.Add(slices.Concat([]byte{0},
		kvFuzzStep(put, k, 0, 3), kvFuzzStep(put, kvSel("A", "k1"), 0, 4), kvFuzzStep(put, kvSel("A", "k/2"), 0, 5), kvFuzzStep(put, kvSel("B", "ka"), 0, 6),
		kvFuzzStep(list, k, 0, 600), kvFuzzStep(list, k, 0, 10), kvFuzzStep(del, kvSel("A", "k1"), 0, 0), kvFuzzStep(list, kvSel("A", ""), 0, 600),
		kvFuzzStep(del, kvSel("A", "k1"), 0, 0), kvFuzzStep(list, kvSel("B", "k"), 0, 600)))
	f.Add(slices.Concat([]byte{0},
		kvFuzzStep(get, kvSel("C", "k"), 0, 100), kvFuzzStep(msg, 0, 0, 299), kvFuzzStep(put, kvSel(strings.Repeat("N", 70), "k"), 0, 1), kvFuzzStep(msg, 0, 0, 299),
		kvFuzzStep(put, x513, 0, 1), kvFuzzStep(put, x512, 0, 1), kvFuzzStep(list, x512, 0, 600), kvFuzzStep(list, x513, 0, 600), kvFuzzStep(msg, 0, 0, 299)))
	f.Add(slices.Concat([]byte{0},
		kvFuzzStep(put, kvSel("A", ""), 0, 1), kvFuzzStep(get, kvSel("A", ""), 0, 1), kvFuzzStep(del, kvSel("A", ""), 0, 0),
		kvFuzzStep(put, kvSel("A", "a\x00b"), 0, 1), kvFuzzStep(get, kvSel("A", "\xff"), 0, 1), kvFuzzStep(del, kvSel("A", "\xc3"), 0, 0),
		kvFuzzStep(put, kvSel("A", "é"), 0, 7), kvFuzzStep(list, kvSel("A", "\xc3"), 0, 100), kvFuzzStep(msg, 0, 0, 100)))
	f.Add(slices.Concat([]byte{0},
		kvFuzzStep(put, k, 0, big|40000), kvFuzzStep(grow, 0, 1, 0), kvFuzzStep(get, k, 0, big|(pageSize+20000)),
		kvFuzzStep(get, k, 0, big|100), kvFuzzStep(list, kvSel("A", ""), 0, big|pageSize), kvFuzzStep(get, k, 0xff000000, big|(2*pageSize-20000))))
	f.Add(slices.Concat([]byte{15}, kvFuzzStep(get, k, 0, 10), kvFuzzStep(put, k, 0, 10), kvFuzzStep(msg, 0, 0, 100)))
	f.Add(slices.Concat([]byte{14}, kvFuzzStep(list, kvSel("A", ""), 0, 10), kvFuzzStep(msg, 0, 0, 100)))
	f.Add(slices.Concat([]byte{0}, kvFuzzStep(put|raw, k, 0xfffffff0, 0x20)))
	f.Add(slices.Concat([]byte{0}, kvFuzzStep(get|folded, k|0x40, pageSize-3, 4), kvFuzzStep(list|folded, k, pageSize, 0), kvFuzzStep(grow, 0, 2, 0)))
	f.Add(slices.Concat([]byte{0}, kvFuzzStep(put|folded, k|0x10, 100, 20), kvFuzzStep(list|folded, k, 0, 70000), kvFuzzStep(del|raw, k|0x10, 0, 0xffffffff)))

	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) == 0 {
			return
		}
		tenant := "f" + strconv.Itoa(int(tenants.Add(1)))
		if err := st.CreateTenant(ctx, store.Tenant{Name: tenant}); err != nil {
			t.Fatal(err)
		}
		m := kvModel{store: map[string]map[string][]byte{"A": {}, "B": {}}, bindings: []string{"A", "B"}}
		opts := runOptions{kv: kv, tenant: tenant, kvBindings: m.bindings, wallTime: 10 * time.Second}
		switch program[0] % 16 {
		case 15:
			opts.kv, m.noStore = nil, true
		case 14:
			opts.kvBindings, m.bindings = nil, nil
		}
		steps := decodeKVSteps(program[1:])
		r := runScript(t, steps, opts)
		m.check(t, steps, r)
		for ns, want := range m.store {
			got := map[string]string{}
			for k, v := range want {
				got[k] = string(v)
			}
			checkStored(t, st, tenant, ns, got)
		}
		checkStored(t, st, tenant, "C", map[string]string{})
	})
}

// kvModel is what a script's kv_* calls should do.
type kvModel struct {
	noStore  bool
	bindings []string
	store    map[string]map[string][]byte // namespace, key: value
}

// check checks a run of steps against the model, updating it.
func (m *kvModel) check(t *testing.T, steps []step, r run) {
	t.Helper()
	for _, e := range r.errs {
		t.Error(e)
	}
	pages := uint64(1)
	oob := func(ptr, n uint32) bool { return uint64(ptr)+uint64(n) > pages*pageSize }
	trapped := -1
	var lastErr int32   // the code of the latest failure
	var lastNS []byte   // its namespace
	var msgSeen *string // for the latest failure: the message error_message gave, once it fit
	for i, st := range steps {
		var bad bool
		switch st.kind {
		case kindKVGet, kindKVPut, kindKVList:
			bad = oob(st.ptr, st.len) || oob(st.p2, st.l2) || oob(st.p3, st.l3)
		case kindKVDelete:
			bad = oob(st.ptr, st.len) || oob(st.p2, st.l2)
		case kindErrorMessage:
			bad = oob(st.ptr, st.len)
		}
		if bad {
			trapped = i
			break
		}
		if i >= len(r.results) {
			t.Fatalf("step %d (%s) did not return; Run: %v", i, describe(st), r.err)
		}
		got, written := r.results[i], r.written[i]
		fail := func(format string, args ...any) {
			t.Fatalf("step %d (%s): result %d, wrote %q; want %s", i, describe(st), got, trunc(written), fmt.Sprintf(format, args...))
		}
		switch st.kind {
		case kindGrow:
			want := int32(-1)
			if pages+uint64(st.ptr) <= 2 {
				want = int32(pages)
				pages += uint64(st.ptr)
			}
			if got != want {
				fail("%d", want)
			}
			continue
		case kindErrorMessage:
			switch {
			case lastErr == 0 && got != 0:
				fail("0: no call failed")
			case lastErr != 0 && got <= 0:
				fail("the length of a message")
			case lastErr != 0 && uint32(got) <= st.len:
				msg := string(written)
				if msgSeen != nil && *msgSeen != msg {
					fail("the message given before, %q", *msgSeen)
				}
				msgSeen = &msg
				if !kvMessageFits(lastErr, lastNS, m.noStore, msg) {
					fail("a message for code %d", lastErr)
				}
			case lastErr != 0 && len(written) != 0:
				fail("nothing written: the message does not fit")
			}
			continue
		}
		ns, key, value := r.in[i][0], r.in[i][1], r.in[i][2]
		want := m.apply(st.kind, ns, key, value)
		wantWritten := []byte{}
		if want.out != nil && len(want.out) <= int(st.l3) {
			wantWritten = want.out
		}
		if got != want.code || !bytes.Equal(written, wantWritten) {
			fail("%d, %q (ns %q, key %q, value %d bytes)", want.code, trunc(wantWritten), trunc(ns), trunc(key), len(value))
		}
		if got < 0 {
			lastErr, lastNS, msgSeen = got, ns, nil
		}
	}
	if trapped >= 0 {
		var ae *api.Error
		if !errors.As(r.err, &ae) || ae.Code != api.CodeWorkerTrap || !errors.Is(r.err, hostapi.ErrBadHostcall) {
			t.Fatalf("step %d (%s) is out of bounds: Run: %v, want a worker-trap for a bad hostcall", trapped, describe(steps[trapped]), r.err)
		}
		if len(r.results) != trapped {
			t.Fatalf("%d steps returned, want %d (up to the bad one)", len(r.results), trapped)
		}
	} else if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
}

// kvResult is a call's expected result and, for kv_get and kv_list, what
// it has to write when it fits.
type kvResult struct {
	code int32
	out  []byte
}

// apply is the model of one kv_* call with the bytes it read.
func (m *kvModel) apply(kind int32, nsb, keyb, value []byte) kvResult {
	ns, key := string(nsb), string(keyb)
	switch {
	case m.noStore || !slices.Contains(m.bindings, ns):
		return kvResult{code: eDenied}
	case len(key) > 512:
		return kvResult{code: eTooLarge}
	}
	valid := api.CheckKVKey(key) == nil
	kv := m.store[ns]
	switch kind {
	case kindKVGet:
		if !valid {
			return kvResult{code: eInvalid}
		}
		v, ok := kv[key]
		if !ok {
			return kvResult{code: eNotFound}
		}
		return kvResult{code: int32(len(v)), out: v}
	case kindKVPut:
		if !valid {
			return kvResult{code: eInvalid}
		}
		kv[key] = bytes.Clone(value)
		return kvResult{}
	case kindKVDelete:
		if !valid {
			return kvResult{code: eInvalid}
		}
		delete(kv, key)
		return kvResult{}
	case kindKVList:
		var keys []string
		for k := range kv {
			if strings.HasPrefix(k, key) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		keys = keys[:min(len(keys), hostapi.MaxKVList)]
		out := strs(keys...)
		return kvResult{code: int32(len(out)), out: out}
	}
	panic("not a kv_* call")
}

// kvMessageFits reports whether msg is error_message's answer after a
// kv_* call failed with code in namespace ns.
func kvMessageFits(code int32, ns []byte, noStore bool, msg string) bool {
	switch code {
	case eDenied:
		if noStore {
			return msg == "no KV store on this host"
		}
		q := string(ns)
		if len(q) > 64 {
			q = q[:64] + "…"
		}
		return msg == `KV namespace "`+q+`" is not bound to this worker: add [[kv_namespaces]] binding = "`+q+`" to wedge.toml`
	case eTooLarge:
		return msg == "KV keys are at most 512 bytes"
	case eNotFound:
		return msg == "no such key"
	case eInvalid:
		return strings.Contains(msg, "key") && utf8.ValidString(msg)
	}
	return false
}

func describe(st step) string {
	return fmt.Sprintf("kind %d, (%#x, %d) (%#x, %d) (%#x, %d)", st.kind, st.ptr, st.len, st.p2, st.l2, st.p3, st.l3)
}

// trunc shortens b for a message.
func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…(" + strconv.Itoa(len(b)) + " bytes)"
	}
	return string(b)
}

// BenchmarkHostcallKVGet is one kv_get of a 100-byte value from the real
// store, through the ops guest (without the probe's memory checks).
// "no call" is the same script with steps that make no hostcall: the
// guest's and the probe's own cost per step, to subtract.
func BenchmarkHostcallKVGet(b *testing.B) {
	st := openStore(b, "acme")
	value := bytes.Repeat([]byte("v"), 100)
	if err := st.KVPut(context.Background(), "acme", "A", "key", value); err != nil {
		b.Fatal(err)
	}
	get := kvGet("A", "key", 128)
	m := opsModule(b)
	for _, bb := range []struct {
		name string
		step step
		want int32
	}{{"kv_get", get, 100}, {"no call", poke(0, nil), 0}} {
		b.Run(bb.name, func(b *testing.B) {
			// Scripts of 1,000 steps: the run's own cost is spread over
			// them. The first step writes the namespace and the key.
			const chunk = 1000
			steps := make([]step, chunk)
			for i := range steps {
				steps[i] = bb.step
				if i > 0 {
					steps[i].data, steps[i].data2 = nil, nil
				}
			}
			written := 0
			w := discard{h: http.Header{}, n: &written}
			r := newRequest(http.NoBody, 0)
			kv := storeKV{st}
			b.ReportAllocs()
			b.ResetTimer()
			for n := b.N; n > 0; n -= chunk {
				s := &script{steps: steps[:min(n, chunk)], fast: true}
				req := &hostapi.Request{W: w, R: r, Tenant: "acme", KV: kv, KVBindings: []string{"A"}}
				ctx := hostapi.NewContext(context.WithValue(context.Background(), scriptKey{}, s), req)
				if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
					b.Fatal(err)
				}
				if s.results[0] != bb.want {
					b.Fatalf("result %d, want %d", s.results[0], bb.want)
				}
			}
		})
	}
}
