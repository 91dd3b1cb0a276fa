package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// The first byte of a wedge_kv entry says where the value is.
const (
	tagInline = 0 // the rest of the entry is the value
	tagObject = 1 // the rest is the name of an object in the wedge_kv object store
)

// KVPut implements store.Store. A value of up to inlineMax bytes is kept in
// the entry; a larger one is written to an object of its own first, and the
// entry points at it. The entry is written with a compare-and-set on the
// revision it replaces, so the object that revision pointed at, if any, is
// known and deleted once the new one is committed. It sends no Watch event.
func (s *Store) KVPut(ctx context.Context, tenant, ns, key string, value []byte) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	if err := checkKV(ns, key); err != nil {
		return err
	}
	if len(value) > api.MaxKVValueBytes {
		return invalid("the value is %d bytes long, more than the limit of %d (25 MiB)", len(value), api.MaxKVValueBytes)
	}
	if err := s.tenantExists(ctx, tenant); err != nil {
		return err
	}
	entry := make([]byte, 0, 1+min(len(value), inlineMax))
	object := ""
	if len(value) <= inlineMax {
		entry = append(append(entry, tagInline), value...)
	} else {
		object = newID()
		octx, cancel := op(ctx, objTimeout)
		_, err := s.blobs.PutBytes(octx, object, value)
		cancel()
		if err != nil {
			return s.fail("write KV value", err)
		}
		entry = append(append(entry, tagObject), object...)
	}
	replaced, unknown, err := s.kvPut(ctx, kvKey(tenant, ns, key), entry)
	if err != nil {
		if object != "" && !unknown {
			s.dropBlob(ctx, object)
		}
		return s.fail("write KV key", err)
	}
	if len(replaced) > 0 && replaced[0] == tagObject {
		s.dropBlob(ctx, string(replaced[1:]))
	}
	return nil
}

// kvPut writes entry under k with a compare-and-set on the revision it
// replaces, trying again while others write k, and returns the entry it
// replaced (nil if none). On failure, unknown says whether the write may
// have happened nonetheless.
func (s *Store) kvPut(ctx context.Context, k string, entry []byte) (replaced []byte, unknown bool, err error) {
	for attempt := 1; ; attempt++ {
		octx, cancel := op(ctx, opTimeout)
		var e jetstream.KeyValueEntry
		e, err = s.kv.Get(octx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			replaced = nil
			_, err = s.kv.Create(octx, k, entry)
			unknown = err != nil && !conflict(err)
		case err == nil:
			replaced = e.Value()
			_, err = s.kv.Update(octx, k, entry, e.Revision())
			unknown = err != nil && !conflict(err)
		}
		cancel()
		if err == nil || !conflict(err) {
			return replaced, unknown, err
		}
		if attempt == maxAttempts {
			return nil, false, errContention
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, false, err
		}
	}
}

// dropBlob deletes a large value's object that no entry points at.
func (s *Store) dropBlob(ctx context.Context, object string) {
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := s.deleteObject(cctx, s.blobs, s.blobsObjStream, bucketKV, object); err != nil {
		s.log.Warn("delete a KV value's object", "object", object, "err", err)
	}
}

// KVGet implements store.Store.
func (s *Store) KVGet(ctx context.Context, tenant, ns, key string) ([]byte, error) {
	if err := s.enterNATS(ctx); err != nil {
		return nil, err
	}
	if err := checkKV(ns, key); err != nil {
		return nil, err
	}
	ctx, cancel := op(ctx, objTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		e, err := s.kv.Get(ctx, kvKey(tenant, ns, key))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("KV key in %s/%s: %w", tenant, ns, store.ErrNotFound)
		}
		if err != nil {
			return nil, s.fail("read KV key", err)
		}
		v := e.Value()
		if len(v) == 0 {
			return nil, fmt.Errorf("read KV key in %s/%s: empty entry", tenant, ns)
		}
		switch v[0] {
		case tagInline:
			return clone(v[1:]), nil
		case tagObject:
			data, err := s.blobs.GetBytes(ctx, string(v[1:]))
			if errors.Is(err, jetstream.ErrObjectNotFound) && attempt < 3 {
				continue // replaced since the entry was read
			}
			if err != nil {
				return nil, s.fail("read KV value", err)
			}
			return data, nil
		default:
			return nil, fmt.Errorf("read KV key in %s/%s: unknown entry tag %d", tenant, ns, v[0])
		}
	}
}

// KVDelete implements store.Store: a compare-and-set delete of the
// revision read, so a key deleted twice at once is deleted once and the
// other call gets ErrNotFound. It sends no Watch event.
func (s *Store) KVDelete(ctx context.Context, tenant, ns, key string) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	if err := checkKV(ns, key); err != nil {
		return err
	}
	k := kvKey(tenant, ns, key)
	for attempt := 1; ; attempt++ {
		octx, cancel := op(ctx, opTimeout)
		e, err := s.kv.Get(octx, k)
		if err == nil {
			err = s.kv.Delete(octx, k, jetstream.LastRevision(e.Revision()))
		}
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return fmt.Errorf("KV key in %s/%s: %w", tenant, ns, store.ErrNotFound)
		case err == nil:
			if v := e.Value(); len(v) > 0 && v[0] == tagObject {
				s.dropBlob(ctx, string(v[1:]))
			}
			return nil
		case !conflict(err):
			return s.fail("delete KV key", err)
		case attempt == maxAttempts:
			return s.fail("delete KV key", errContention)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// KVList implements store.Store. NATS lists a namespace's keys in the
// order they were last written, not sorted, and has no "from this key" on
// escaped keys: every key of the namespace is read (headers only), then
// filtered and sorted here. That is one consumer and O(keys in the
// namespace) per call, fine for the namespaces Wedge has today; see
// RATIONALE.md.
func (s *Store) KVList(ctx context.Context, tenant, ns, prefix, after string, limit int) ([]string, error) {
	if err := s.enterNATS(ctx); err != nil {
		return nil, err
	}
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	if err := s.tenantExists(ctx, tenant); err != nil {
		return nil, err
	}
	base := escape(tenant) + "." + escape(ns) + "."
	keys := []string{}
	err := s.list(ctx, s.kv, base+"*", true, func(e jetstream.KeyValueEntry) error {
		k, err := unescape(strings.TrimPrefix(e.Key(), base))
		if err != nil {
			return err
		}
		if strings.HasPrefix(k, prefix) && (after == "" || k > after) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("list KV keys", err)
	}
	slices.Sort(keys) // strings compare as bytes
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit:limit]
	}
	return keys, nil
}
