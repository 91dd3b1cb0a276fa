package hostapi

import (
	"context"
	"errors"
	"slices"

	wapi "github.com/tetratelabs/wazero/api"

	"github.com/wedgeworks/wedge/api"
)

// KV is the key-value store behind the kv_* host functions: namespaces
// per tenant (package store implements it; cmd/wedge adapts it). A
// request reaches only the namespaces its worker binds (Request.KVBindings).
type KV interface {
	// Get returns a value, or an error matching ErrKVNotFound.
	Get(ctx context.Context, tenant, namespace, key string) ([]byte, error)
	Put(ctx context.Context, tenant, namespace, key string, value []byte) error
	// Delete removes a key; a key that is not there is not an error.
	Delete(ctx context.Context, tenant, namespace, key string) error
	// List returns up to limit keys with the prefix, sorted.
	List(ctx context.Context, tenant, namespace, prefix string, limit int) ([]string, error)
}

// ErrKVNotFound is what KV.Get returns (or wraps) for a key that is not
// there.
var ErrKVNotFound = errors.New("hostapi: KV key not found")

// KV limits, checked before the store is asked.
const (
	MaxKVKeyBytes   = 512
	MaxKVValueBytes = 25 << 20
	// MaxKVList is the most keys one kv_list answers.
	MaxKVList = 1000
)

// kvArgs reads a namespace and a key from the guest and checks that the
// worker binds the namespace. A non-zero code is the call's answer.
func kvArgs(req *Request, mod wapi.Module, stack []uint64) (ns, key string, code int32) {
	nsb := guestBytes(mod, uint32(stack[0]), uint32(stack[1]))
	keyb := guestBytes(mod, uint32(stack[2]), uint32(stack[3]))
	ns = string(nsb)
	switch {
	case req.KV == nil:
		return "", "", req.fail(codeDenied, "no KV store on this host")
	case !slices.Contains(req.KVBindings, ns):
		return "", "", req.fail(codeDenied, "KV namespace "+quote(ns)+" is not bound to this worker: add [[kv_namespaces]] binding = "+quote(ns)+" to wedge.toml")
	case len(keyb) > MaxKVKeyBytes:
		return "", "", req.fail(codeTooLarge, "KV keys are at most 512 bytes")
	}
	return ns, string(keyb), 0
}

// checkKey answers EINVAL for a key of kv_get, kv_put or kv_delete that
// no store holds: empty, or not UTF-8 without NUL (api.CheckKVKey; kvArgs
// answered ETOOLARGE for a long one). Left to the store, it would be a
// store failure, EIO. A non-zero code is the call's answer.
func checkKey(req *Request, key string) int32 {
	if key == "" {
		return req.fail(codeInvalid, "empty KV key")
	}
	if err := api.CheckKVKey(key); err != nil {
		return req.fail(codeInvalid, "invalid KV key: "+err.Error())
	}
	return 0
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// kvGet: (ns, ns_len, key, key_len, buf, cap) -> len. Writes the value into
// buf if it fits and returns its full length; ENOTFOUND when absent.
func kvGet(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[4]), uint32(stack[5]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	ns, key, code := kvArgs(req, mod, stack)
	if code != 0 {
		setResult(stack, code)
		return
	}
	if code := checkKey(req, key); code != 0 {
		setResult(stack, code)
		return
	}
	req.yield()
	value, err := req.KV.Get(ctx, req.Tenant, ns, key)
	req.resume()
	switch {
	case errors.Is(err, ErrKVNotFound):
		setResult(stack, req.fail(codeNotFound, "no such key"))
		return
	case err != nil:
		setResult(stack, req.fail(codeIO, "KV: "+err.Error()))
		return
	}
	if len(value) <= len(buf) {
		copy(buf, value)
	}
	setResult(stack, int32(len(value)))
}

// kvPut: (ns, ns_len, key, key_len, value, value_len) -> err.
func kvPut(ctx context.Context, mod wapi.Module, stack []uint64) {
	value := guestBytes(mod, uint32(stack[4]), uint32(stack[5]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	ns, key, code := kvArgs(req, mod, stack)
	if code != 0 {
		setResult(stack, code)
		return
	}
	if code := checkKey(req, key); code != 0 {
		setResult(stack, code)
		return
	}
	if len(value) > MaxKVValueBytes {
		setResult(stack, req.fail(codeTooLarge, "KV values are at most 25 MiB"))
		return
	}
	// The store copies the value out of the guest's memory before Put
	// returns.
	req.yield()
	err := req.KV.Put(ctx, req.Tenant, ns, key, value)
	req.resume()
	if err != nil {
		// The arguments were checked: the store failed.
		setResult(stack, req.fail(codeIO, "KV: "+err.Error()))
		return
	}
	setResult(stack, 0)
}

// kvDelete: (ns, ns_len, key, key_len) -> err.
func kvDelete(ctx context.Context, mod wapi.Module, stack []uint64) {
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	ns, key, code := kvArgs(req, mod, stack)
	if code != 0 {
		setResult(stack, code)
		return
	}
	if code := checkKey(req, key); code != 0 {
		setResult(stack, code)
		return
	}
	req.yield()
	err := req.KV.Delete(ctx, req.Tenant, ns, key)
	req.resume()
	if err != nil && !errors.Is(err, ErrKVNotFound) {
		setResult(stack, req.fail(codeIO, "KV: "+err.Error()))
		return
	}
	setResult(stack, 0)
}

// kvList: (ns, ns_len, prefix, prefix_len, buf, cap) -> len. The keys (up
// to MaxKVList, sorted) in the field encoding, one string per key, written
// into buf if they fit; the full length is returned.
func kvList(ctx context.Context, mod wapi.Module, stack []uint64) {
	buf := guestBytes(mod, uint32(stack[4]), uint32(stack[5]))
	req := fromContext(ctx)
	if req == nil {
		setResult(stack, codeBadState)
		return
	}
	ns, prefix, code := kvArgs(req, mod, stack)
	if code != 0 {
		setResult(stack, code)
		return
	}
	req.yield()
	keys, err := req.KV.List(ctx, req.Tenant, ns, prefix, MaxKVList)
	req.resume()
	if err != nil {
		setResult(stack, req.fail(codeIO, "KV: "+err.Error()))
		return
	}
	var enc []byte
	for _, k := range keys {
		enc = appendString(enc, k)
	}
	if len(enc) <= len(buf) {
		copy(buf, enc)
	}
	setResult(stack, int32(len(enc)))
}

// appendString appends s in the field encoding: a little-endian u32
// length, then the bytes.
func appendString(b []byte, s string) []byte {
	n := uint32(len(s))
	b = append(b, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	return append(b, s...)
}
