package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/wedgeworks/wedge/api"
)

// openTimeout is how long Open waits for the file lock before it reports
// that another process holds the data directory.
const openTimeout = 2 * time.Second

// errInUse is returned by Open when another process (or another Open in
// this process) holds the file.
var errInUse = errors.New("data directory is in use by another wedge process")

// format is the layout version written to a new file. Open refuses a file
// with a different version rather than misreading it.
const format = "1"

// Buckets. Keys and values:
//
//	tenants  name                 → JSON Tenant
//	workers  tenant "\x00" name   → JSON Worker (every version, in order)
//	modules  sha256 (hex)         → module bytes
//	refs     sha256 (hex)         → uint64 big-endian: versions referring to it
//	meta     key                  → value
//	secrets  tenant "\x00" worker "\x00" name → value
//	kv       tenant "\x00" namespace "\x00" key → value
//	store    "format"             → format
//
// Names never contain NUL, so the byte order of worker keys is the order by
// (tenant, name) and a tenant's workers are exactly the keys with the prefix
// tenant "\x00"; likewise a worker's secrets are the keys with the prefix
// tenant "\x00" worker "\x00", and a namespace's entries those with the
// prefix tenant "\x00" namespace "\x00" (KV keys contain no NUL either, so
// their order is the order of the KV keys' bytes).
//
// The secrets and kv buckets came after format "1" was first written; Open
// adds them to an older file, which stays format "1": nothing else changed.
var (
	bucketTenants = []byte("tenants")
	bucketWorkers = []byte("workers")
	bucketModules = []byte("modules")
	bucketRefs    = []byte("refs")
	bucketMeta    = []byte("meta")
	bucketSecrets = []byte("secrets")
	bucketKV      = []byte("kv")
	bucketStore   = []byte("store")

	keyFormat = []byte("format")
)

// Bolt is the embedded Store: one bbolt file holding every bucket. Every
// write is one bbolt transaction, committed with fsync before the method
// returns. Reads run concurrently with each other and with the one writer.
//
// Values returned by Bolt are decoded afresh for each call: callers own
// them and may modify them.
type Bolt struct {
	db     *bbolt.DB
	closed atomic.Bool

	mu       sync.Mutex              // guards watchers; held while sending to them
	watchers map[chan Event]struct{} // nil once closed
	done     chan struct{}           // closed by Close
}

var _ Store = (*Bolt)(nil)

// Open opens the bbolt file at path, creating it and its parent directory
// (mode 0700) if needed. Only one Bolt may hold a file at a time: if another
// process, or another Open in this process, has it, Open gives up after two
// seconds with an error saying the data directory is in use.
func Open(path string) (*Bolt, error) {
	return open(path, openTimeout)
}

func open(path string, timeout time.Duration) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, errInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(initialize); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Bolt{
		db:       db,
		watchers: make(map[chan Event]struct{}),
		done:     make(chan struct{}),
	}, nil
}

// initialize creates the buckets of a new file and checks the format of an
// existing one.
func initialize(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketTenants, bucketWorkers, bucketModules, bucketRefs, bucketMeta, bucketSecrets, bucketKV, bucketStore} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	s := tx.Bucket(bucketStore)
	v, ok := get(s, keyFormat)
	if !ok {
		return s.Put(keyFormat, []byte(format))
	}
	if string(v) != format {
		return fmt.Errorf("unsupported store format %q (want %q)", v, format)
	}
	return nil
}

// Close closes the file and every Watch channel. Methods called after Close
// return ErrClosed, and so does a second Close.
func (b *Bolt) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	// bbolt's Close waits for running transactions to finish.
	err := b.db.Close()
	b.mu.Lock()
	for ch := range b.watchers {
		close(ch)
	}
	b.watchers = nil
	close(b.done)
	b.mu.Unlock()
	return err
}

// enter is the check at the top of every method.
func (b *Bolt) enter(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

func (b *Bolt) view(fn func(*bbolt.Tx) error) error {
	return closedErr(b.db.View(fn))
}

// update runs fn in a write transaction and, once it has committed, tells
// watchers about ev.
func (b *Bolt) update(ev Event, fn func(*bbolt.Tx) error) error {
	if err := b.db.Update(fn); err != nil {
		return closedErr(err)
	}
	b.notify(ev)
	return nil
}

// write runs fn in a write transaction that tells no watcher: for KV
// writes, which nothing reloads.
func (b *Bolt) write(fn func(*bbolt.Tx) error) error {
	return closedErr(b.db.Update(fn))
}

// closedErr turns bbolt's error for a closed file, which a method racing
// with Close can meet, into ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// CreateTenant implements Store.
func (b *Bolt) CreateTenant(ctx context.Context, t Tenant) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if err := checkName("tenant", t.Name); err != nil {
		return err
	}
	data, err := json.Marshal(&t)
	if err != nil {
		return fmt.Errorf("encode tenant: %w", err)
	}
	return b.update(Event{Tenant: t.Name}, func(tx *bbolt.Tx) error {
		ts := tx.Bucket(bucketTenants)
		if _, ok := get(ts, []byte(t.Name)); ok {
			return fmt.Errorf("tenant %q: %w", t.Name, ErrExists)
		}
		return ts.Put([]byte(t.Name), data)
	})
}

// Tenant implements Store.
func (b *Bolt) Tenant(ctx context.Context, name string) (Tenant, error) {
	if err := b.enter(ctx); err != nil {
		return Tenant{}, err
	}
	var t Tenant
	err := b.view(func(tx *bbolt.Tx) error {
		data, ok := get(tx.Bucket(bucketTenants), []byte(name))
		if !ok {
			return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
		}
		return decode("tenant", data, &t)
	})
	if err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// Tenants implements Store.
func (b *Bolt) Tenants(ctx context.Context) ([]Tenant, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	ts := []Tenant{}
	err := b.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTenants).ForEach(func(_, data []byte) error {
			var t Tenant
			if err := decode("tenant", data, &t); err != nil {
				return err
			}
			ts = append(ts, t)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return ts, nil
}

// Deploy implements Store. The module is stored under the lower-case hex
// SHA-256 of its bytes, computed here; the new version's number is one more
// than the worker's last, so numbers are never reused while the worker
// exists. A worker deleted and deployed again starts at 1.
func (b *Bolt) Deploy(ctx context.Context, tenant, worker string, module []byte, settings api.WorkerSettings) (Version, error) {
	if err := b.enter(ctx); err != nil {
		return Version{}, err
	}
	if err := checkName("worker", worker); err != nil {
		return Version{}, err
	}
	settings, err := canonical(settings)
	if err != nil {
		return Version{}, err
	}
	sum := sha256.Sum256(module)
	sha := hex.EncodeToString(sum[:])
	now := time.Now().UTC()

	var v Version
	err = b.update(Event{Tenant: tenant, Worker: worker}, func(tx *bbolt.Tx) error {
		if _, ok := get(tx.Bucket(bucketTenants), []byte(tenant)); !ok {
			return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
		}
		ws := tx.Bucket(bucketWorkers)
		key := workerKey(tenant, worker)
		w := Worker{Tenant: tenant, Name: worker}
		if data, ok := get(ws, key); ok {
			if err := decode("worker", data, &w); err != nil {
				return err
			}
		}
		number := 1
		if n := len(w.Versions); n > 0 {
			number = w.Versions[n-1].Number + 1
		}
		v = Version{Number: number, SHA256: sha, Size: int64(len(module)), Created: now, Settings: settings}
		w.Versions = append(w.Versions, v)
		w.Active = number
		w.Updated = now
		if err := addRef(tx, sha, module); err != nil {
			return err
		}
		return putJSON(ws, key, &w)
	})
	if err != nil {
		return Version{}, err
	}
	return v, nil
}

// Activate implements Store.
func (b *Bolt) Activate(ctx context.Context, tenant, worker string, version int) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	now := time.Now().UTC()
	return b.update(Event{Tenant: tenant, Worker: worker}, func(tx *bbolt.Tx) error {
		ws := tx.Bucket(bucketWorkers)
		key := workerKey(tenant, worker)
		w, err := getWorker(ws, key, tenant, worker)
		if err != nil {
			return err
		}
		found := false
		for _, v := range w.Versions {
			if v.Number == version {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("worker %s/%s version %d: %w", tenant, worker, version, ErrNotFound)
		}
		w.Active = version
		w.Updated = now
		return putJSON(ws, key, &w)
	})
}

// Worker implements Store.
func (b *Bolt) Worker(ctx context.Context, tenant, worker string) (Worker, error) {
	if err := b.enter(ctx); err != nil {
		return Worker{}, err
	}
	var w Worker
	err := b.view(func(tx *bbolt.Tx) error {
		var err error
		w, err = getWorker(tx.Bucket(bucketWorkers), workerKey(tenant, worker), tenant, worker)
		return err
	})
	if err != nil {
		return Worker{}, err
	}
	return w, nil
}

// Workers implements Store.
func (b *Bolt) Workers(ctx context.Context, tenant string) ([]Worker, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var prefix []byte
	if tenant != "" {
		prefix = workerKey(tenant, "")
	}
	ws := []Worker{}
	err := b.view(func(tx *bbolt.Tx) error {
		if tenant != "" {
			if _, ok := get(tx.Bucket(bucketTenants), []byte(tenant)); !ok {
				return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
			}
		}
		c := tx.Bucket(bucketWorkers).Cursor()
		k, data := c.First()
		if prefix != nil {
			k, data = c.Seek(prefix)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, data = c.Next() {
			var w Worker
			if err := decode("worker", data, &w); err != nil {
				return err
			}
			ws = append(ws, w)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// DeleteWorker implements Store. Modules are reference-counted by version,
// in the same transaction as the delete, so a module goes exactly when the
// last version referring to it does; the worker's secrets go in the same
// transaction too.
func (b *Bolt) DeleteWorker(ctx context.Context, tenant, worker string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	return b.update(Event{Tenant: tenant, Worker: worker}, func(tx *bbolt.Tx) error {
		ws := tx.Bucket(bucketWorkers)
		key := workerKey(tenant, worker)
		w, err := getWorker(ws, key, tenant, worker)
		if err != nil {
			return err
		}
		for _, v := range w.Versions {
			if err := dropRef(tx, v.SHA256); err != nil {
				return err
			}
		}
		if err := deletePrefix(tx.Bucket(bucketSecrets), secretKey(tenant, worker, "")); err != nil {
			return err
		}
		return ws.Delete(key)
	})
}

// Module implements Store.
func (b *Bolt) Module(ctx context.Context, sha string) ([]byte, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var module []byte
	err := b.view(func(tx *bbolt.Tx) error {
		data, ok := get(tx.Bucket(bucketModules), []byte(sha))
		if !ok {
			return fmt.Errorf("module %s: %w", sha, ErrNotFound)
		}
		module = clone(data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return module, nil
}

// Meta implements Store.
func (b *Bolt) Meta(ctx context.Context, key string) ([]byte, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	var value []byte
	err := b.view(func(tx *bbolt.Tx) error {
		data, ok := get(tx.Bucket(bucketMeta), []byte(key))
		if !ok {
			return fmt.Errorf("meta %q: %w", key, ErrNotFound)
		}
		value = clone(data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return value, nil
}

// PutMeta implements Store.
func (b *Bolt) PutMeta(ctx context.Context, key string, value []byte) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if key == "" {
		return invalid("meta: empty key")
	}
	value = clone(value)
	return b.update(Event{}, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(key), value)
	})
}

// PutSecret implements Store. The worker's existence, the count of its
// secrets and the write are one transaction.
func (b *Bolt) PutSecret(ctx context.Context, tenant, worker, key string, value []byte) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if err := checkSecretName(key); err != nil {
		return err
	}
	if err := api.CheckSecretValue(value); err != nil {
		return invalid("secret %s: %v", key, err)
	}
	return b.update(Event{Tenant: tenant, Worker: worker}, func(tx *bbolt.Tx) error {
		if _, ok := get(tx.Bucket(bucketWorkers), workerKey(tenant, worker)); !ok {
			return fmt.Errorf("worker %s/%s: %w", tenant, worker, ErrNotFound)
		}
		ss := tx.Bucket(bucketSecrets)
		k := secretKey(tenant, worker, key)
		if _, ok := get(ss, k); !ok {
			n := 0
			prefix := secretKey(tenant, worker, "")
			c := ss.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				n++
			}
			if n >= api.MaxSecretsPerWorker {
				return invalid("worker %s has %d secrets, the most allowed: delete one first", worker, n)
			}
		}
		return ss.Put(k, value)
	})
}

// DeleteSecret implements Store.
func (b *Bolt) DeleteSecret(ctx context.Context, tenant, worker, key string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if err := checkSecretName(key); err != nil {
		return err
	}
	return b.update(Event{Tenant: tenant, Worker: worker}, func(tx *bbolt.Tx) error {
		if _, ok := get(tx.Bucket(bucketWorkers), workerKey(tenant, worker)); !ok {
			return fmt.Errorf("worker %s/%s: %w", tenant, worker, ErrNotFound)
		}
		ss := tx.Bucket(bucketSecrets)
		k := secretKey(tenant, worker, key)
		if _, ok := get(ss, k); !ok {
			return fmt.Errorf("secret %s of worker %s/%s: %w", key, tenant, worker, ErrNotFound)
		}
		return ss.Delete(k)
	})
}

// SecretNames implements Store.
func (b *Bolt) SecretNames(ctx context.Context, tenant, worker string) ([]string, error) {
	names := []string{}
	err := b.secrets(ctx, tenant, worker, func(name string, _ []byte) {
		names = append(names, name)
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// Secrets implements Store.
func (b *Bolt) Secrets(ctx context.Context, tenant, worker string) (map[string]string, error) {
	secrets := map[string]string{}
	err := b.secrets(ctx, tenant, worker, func(name string, value []byte) {
		secrets[name] = string(value)
	})
	if err != nil {
		return nil, err
	}
	return secrets, nil
}

// secrets calls fn with each of a worker's secrets, in the order of their
// names, in one read transaction that also checks the worker exists. fn
// must not keep value.
func (b *Bolt) secrets(ctx context.Context, tenant, worker string, fn func(name string, value []byte)) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	return b.view(func(tx *bbolt.Tx) error {
		if _, ok := get(tx.Bucket(bucketWorkers), workerKey(tenant, worker)); !ok {
			return fmt.Errorf("worker %s/%s: %w", tenant, worker, ErrNotFound)
		}
		prefix := secretKey(tenant, worker, "")
		c := tx.Bucket(bucketSecrets).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			fn(string(k[len(prefix):]), v)
		}
		return nil
	})
}

// KVPut implements Store. It sends no Watch event.
func (b *Bolt) KVPut(ctx context.Context, tenant, ns, key string, value []byte) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if err := checkKV(ns, key); err != nil {
		return err
	}
	if len(value) > api.MaxKVValueBytes {
		return invalid("the value is %d bytes long, more than the limit of %d (25 MiB)", len(value), api.MaxKVValueBytes)
	}
	return b.write(func(tx *bbolt.Tx) error {
		if _, ok := get(tx.Bucket(bucketTenants), []byte(tenant)); !ok {
			return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
		}
		return tx.Bucket(bucketKV).Put(kvKey(tenant, ns, key), value)
	})
}

// KVGet implements Store.
func (b *Bolt) KVGet(ctx context.Context, tenant, ns, key string) ([]byte, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	if err := checkKV(ns, key); err != nil {
		return nil, err
	}
	var value []byte
	err := b.view(func(tx *bbolt.Tx) error {
		data, ok := get(tx.Bucket(bucketKV), kvKey(tenant, ns, key))
		if !ok {
			return fmt.Errorf("KV key in %s/%s: %w", tenant, ns, ErrNotFound)
		}
		value = clone(data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return value, nil
}

// KVDelete implements Store. It sends no Watch event.
func (b *Bolt) KVDelete(ctx context.Context, tenant, ns, key string) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	if err := checkKV(ns, key); err != nil {
		return err
	}
	return b.write(func(tx *bbolt.Tx) error {
		kv := tx.Bucket(bucketKV)
		k := kvKey(tenant, ns, key)
		if _, ok := get(kv, k); !ok {
			return fmt.Errorf("KV key in %s/%s: %w", tenant, ns, ErrNotFound)
		}
		return kv.Delete(k)
	})
}

// KVList implements Store: one cursor walk from the first key after both
// prefix and after.
func (b *Bolt) KVList(ctx context.Context, tenant, ns, prefix, after string, limit int) ([]string, error) {
	if err := b.enter(ctx); err != nil {
		return nil, err
	}
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	base := kvKey(tenant, ns, "")
	from := kvKey(tenant, ns, prefix)
	var skip []byte // after's own key, which is not listed
	if after != "" {
		if a := kvKey(tenant, ns, after); bytes.Compare(a, from) >= 0 {
			from, skip = a, a
		}
	}
	keys := []string{}
	err := b.view(func(tx *bbolt.Tx) error {
		if _, ok := get(tx.Bucket(bucketTenants), []byte(tenant)); !ok {
			return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
		}
		want := kvKey(tenant, ns, prefix)
		c := tx.Bucket(bucketKV).Cursor()
		for k, _ := c.Seek(from); k != nil && bytes.HasPrefix(k, want); k, _ = c.Next() {
			if skip != nil && bytes.Equal(k, skip) {
				continue
			}
			if limit > 0 && len(keys) == limit {
				break
			}
			keys = append(keys, string(k[len(base):]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// Watch implements Store. Each channel has a buffer of one event. When a
// write commits while the channel's event is still unread, the two merge
// into one event naming the narrowest scope that covers both: the same
// worker, else the same tenant (Worker empty), else everything (both
// empty). A slow receiver therefore never blocks a write and never misses a
// change, it only learns of several at once. The channel is closed when ctx
// is done or the store is closed; after Close, Watch returns a closed
// channel.
func (b *Bolt) Watch(ctx context.Context) <-chan Event {
	ch := make(chan Event, 1)
	b.mu.Lock()
	if b.watchers == nil {
		b.mu.Unlock()
		close(ch)
		return ch
	}
	b.watchers[ch] = struct{}{}
	b.mu.Unlock()

	go func() {
		select {
		case <-ctx.Done():
		case <-b.done:
			return // Close has closed ch.
		}
		b.mu.Lock()
		if _, ok := b.watchers[ch]; ok {
			delete(b.watchers, ch)
			close(ch)
		}
		b.mu.Unlock()
	}()
	return ch
}

// notify hands ev to every watcher without blocking. Only notify sends, and
// only while holding b.mu, so once it has taken a pending event out of a
// full channel the send that follows cannot block.
func (b *Bolt) notify(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.watchers {
		select {
		case ch <- ev:
			continue
		default:
		}
		select {
		case pending := <-ch:
			ch <- merge(pending, ev)
		default: // the receiver took the pending event meanwhile
			ch <- ev
		}
	}
}

// merge returns the narrowest event that covers both a and b.
func merge(a, b Event) Event {
	switch {
	case a.Tenant != b.Tenant:
		return Event{}
	case a.Worker != b.Worker:
		return Event{Tenant: a.Tenant}
	default:
		return a
	}
}

// invalidError is an ErrInvalid with a message of its own.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// checkName rejects names the key layout cannot hold.
func checkName(kind, name string) error {
	if name == "" {
		return invalid("empty %s name", kind)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return invalid("%s name %q contains NUL", kind, name)
	}
	return nil
}

// checkSecretName rejects a secret's name that is not an environment
// variable's.
func checkSecretName(key string) error {
	if !api.ValidEnvName(key) {
		return invalid("invalid secret name %q: use 1-%d letters, digits and _, not starting with a digit", key, api.MaxEnvNameBytes)
	}
	return nil
}

// checkKV rejects a namespace or key the KV layout and limits refuse. Its
// messages never quote the key, which may be long.
func checkKV(ns, key string) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	if err := api.CheckKVKey(key); err != nil {
		return invalid("invalid KV key: %v", err)
	}
	return nil
}

func checkNamespace(ns string) error {
	if !api.ValidKVNamespace(ns) {
		return invalid("invalid KV namespace %q: use 1-%d letters, digits and _, not starting with a digit", ns, api.MaxKVNamespaceBytes)
	}
	return nil
}

// secretKey is the key of a secret; with an empty name, the prefix of all
// of a worker's secrets.
func secretKey(tenant, worker, name string) []byte {
	return join3(tenant, worker, name)
}

// kvKey is the key of a KV entry; with an empty key (or a prefix), the
// prefix of the namespace's entries (that start with it).
func kvKey(tenant, ns, key string) []byte {
	return join3(tenant, ns, key)
}

func join3(a, b, c string) []byte {
	k := make([]byte, 0, len(a)+1+len(b)+1+len(c))
	k = append(k, a...)
	k = append(k, 0)
	k = append(k, b...)
	k = append(k, 0)
	return append(k, c...)
}

// deletePrefix deletes every key of bucket that starts with prefix.
func deletePrefix(bucket *bbolt.Bucket, prefix []byte) error {
	// Collect first: deleting under a cursor can make it skip a key.
	var keys [][]byte
	c := bucket.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, clone(k))
	}
	for _, k := range keys {
		if err := bucket.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func workerKey(tenant, worker string) []byte {
	k := make([]byte, 0, len(tenant)+1+len(worker))
	k = append(k, tenant...)
	k = append(k, 0)
	return append(k, worker...)
}

// get looks key up in bucket. Unlike Bucket.Get it tells an empty value
// from a missing one.
func get(bucket *bbolt.Bucket, key []byte) ([]byte, bool) {
	k, v := bucket.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

func getWorker(ws *bbolt.Bucket, key []byte, tenant, worker string) (Worker, error) {
	data, ok := get(ws, key)
	if !ok {
		return Worker{}, fmt.Errorf("worker %s/%s: %w", tenant, worker, ErrNotFound)
	}
	var w Worker
	if err := decode("worker", data, &w); err != nil {
		return Worker{}, err
	}
	return w, nil
}

// addRef counts one more version referring to the module sha, storing the
// module if it is new.
func addRef(tx *bbolt.Tx, sha string, module []byte) error {
	refs := tx.Bucket(bucketRefs)
	key := []byte(sha)
	n, err := refCount(refs, key)
	if err != nil {
		return err
	}
	if n == 0 {
		if err := tx.Bucket(bucketModules).Put(key, module); err != nil {
			return fmt.Errorf("put module %s: %w", sha, err)
		}
	}
	return refs.Put(key, binary.BigEndian.AppendUint64(nil, n+1))
}

// dropRef counts one version fewer referring to the module sha, deleting
// the module with its last reference.
func dropRef(tx *bbolt.Tx, sha string) error {
	refs := tx.Bucket(bucketRefs)
	key := []byte(sha)
	n, err := refCount(refs, key)
	if err != nil {
		return err
	}
	if n > 1 {
		return refs.Put(key, binary.BigEndian.AppendUint64(nil, n-1))
	}
	if err := refs.Delete(key); err != nil {
		return err
	}
	return tx.Bucket(bucketModules).Delete(key)
}

func refCount(refs *bbolt.Bucket, key []byte) (uint64, error) {
	v, ok := get(refs, key)
	if !ok {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("corrupt reference count for module %s", key)
	}
	return binary.BigEndian.Uint64(v), nil
}

func putJSON(bucket *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return bucket.Put(key, data)
}

func decode(kind string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", kind, err)
	}
	return nil
}

// canonical returns a deep copy of s in the form it has after a trip
// through the store (empty maps and slices become nil), so the Version that
// Deploy returns equals the one Worker returns later.
func canonical(s api.WorkerSettings) (api.WorkerSettings, error) {
	data, err := json.Marshal(&s)
	if err != nil {
		return api.WorkerSettings{}, fmt.Errorf("encode settings: %w", err)
	}
	var c api.WorkerSettings
	if err := json.Unmarshal(data, &c); err != nil {
		return api.WorkerSettings{}, fmt.Errorf("decode settings: %w", err)
	}
	return c, nil
}

// clone copies b, keeping an empty value non-nil.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
