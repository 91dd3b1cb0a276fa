package jetstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// cache is a node's copy of what it needs to serve while NATS is away:
// every entry of the state bucket (tenants, workers with their versions,
// meta), the sealed secret entries it read, and the modules it read or
// stored. The state is a bbolt file, kept equal to the bucket by the
// watcher (a snapshot when the store binds, then every change it
// delivers); modules are files named by their SHA-256, checked on every
// read. Secrets stay sealed: the copy holds nothing NATS does not.
//
// Watcher changes are queued and committed by flush, in order, several to
// a transaction: a write to disk never delays the event that announces a
// change.
type cache struct {
	db      *bolt.DB
	modules string // directory of module files
	log     *slog.Logger

	mu      sync.Mutex // guards pending
	pending []cacheOp
	wmu     sync.Mutex // serializes commits, so that they keep the queue's order
}

// cacheOp is one change of the state bucket to copy.
type cacheOp struct {
	key   string
	value []byte // nil: deleted
	rev   uint64
}

// Buckets of the cache file.
var (
	cacheState   = []byte("state")   // state key → value
	cacheSecrets = []byte("secrets") // secret entry key (T.W.NAME.ID) → sealed value
	cacheInfo    = []byte("info")    // "revision" → the last state revision copied; "snapshot" → when the last snapshot was taken
)

// errNoCopy: the cache holds no snapshot of the store yet.
var errNoCopy = errors.New("no local copy of the store")

func openCache(dir string, log *slog.Logger) (*cache, error) {
	mods := filepath.Join(dir, "modules")
	if err := os.MkdirAll(mods, 0o700); err != nil {
		return nil, fmt.Errorf("jetstream: cache directory: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("jetstream: cache %s: %w", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{cacheState, cacheSecrets, cacheInfo} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("jetstream: cache %s: %w", dir, err)
	}
	return &cache{db: db, modules: mods, log: log}, nil
}

func (c *cache) close() error {
	c.flush()
	return c.db.Close()
}

// hasSnapshot reports whether the cache holds a copy of a store.
func (c *cache) hasSnapshot() bool {
	ok := false
	c.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(cacheInfo).Get([]byte("snapshot")) != nil
		return nil
	})
	return ok
}

// snapshotAt returns when the last snapshot was taken and the last
// revision copied since.
func (c *cache) snapshotAt() (time.Time, uint64) {
	var at time.Time
	var rev uint64
	c.db.View(func(tx *bolt.Tx) error {
		info := tx.Bucket(cacheInfo)
		at.UnmarshalText(info.Get([]byte("snapshot")))
		if v := info.Get([]byte("revision")); len(v) == 8 {
			rev = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return at, rev
}

// replace makes the copy of the state bucket equal to entries (key →
// value, taken at revision rev) in one transaction, and removes the
// module files no version in it refers to.
func (c *cache) replace(entries map[string][]byte, rev uint64, keepModules map[string]bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	c.pending = nil // older than the snapshot
	c.mu.Unlock()
	err := c.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(cacheState); err != nil {
			return err
		}
		b, err := tx.CreateBucket(cacheState)
		if err != nil {
			return err
		}
		for k, v := range entries {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		info := tx.Bucket(cacheInfo)
		now, _ := time.Now().UTC().MarshalText()
		if err := info.Put([]byte("snapshot"), now); err != nil {
			return err
		}
		return info.Put([]byte("revision"), binary.BigEndian.AppendUint64(nil, rev))
	})
	if err != nil {
		return fmt.Errorf("cache: snapshot: %w", err)
	}
	files, err := os.ReadDir(c.modules)
	if err != nil {
		return nil
	}
	for _, f := range files {
		if !keepModules[f.Name()] {
			os.Remove(filepath.Join(c.modules, f.Name()))
		}
	}
	return nil
}

// queue adds a change of the state bucket, to be committed by the next
// flush.
func (c *cache) queue(op cacheOp) {
	c.mu.Lock()
	c.pending = append(c.pending, op)
	c.mu.Unlock()
}

// flush commits the queued changes.
func (c *cache) flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	ops := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(ops) == 0 {
		return
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheState)
		var last uint64
		for _, op := range ops {
			var err error
			if op.value == nil {
				err = b.Delete([]byte(op.key))
			} else {
				err = b.Put([]byte(op.key), op.value)
			}
			if err != nil {
				return err
			}
			last = max(last, op.rev)
		}
		return tx.Bucket(cacheInfo).Put([]byte("revision"), binary.BigEndian.AppendUint64(nil, last))
	})
	if err != nil {
		c.log.Warn("update the local copy of the store", "err", err)
	}
}

// get returns a state entry, or nil.
func (c *cache) get(key string) []byte {
	c.flush()
	var v []byte
	c.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(cacheState).Get([]byte(key)))
		return nil
	})
	return v
}

// scan calls fn with every state entry whose key starts with prefix.
func (c *cache) scan(prefix string, fn func(key string, value []byte) error) error {
	c.flush()
	return c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(cacheState).Cursor()
		p := []byte(prefix)
		for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
			if err := fn(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// putSecrets replaces the cached sealed entries of the worker whose
// secret keys start with prefix.
func (c *cache) putSecrets(prefix string, entries map[string][]byte) {
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheSecrets)
		cur := b.Cursor()
		p := []byte(prefix)
		var old [][]byte
		for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
			if _, keep := entries[string(k)]; !keep {
				old = append(old, bytes.Clone(k))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		for k, v := range entries {
			if !bytes.Equal(b.Get([]byte(k)), v) {
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		c.log.Warn("copy secrets locally", "err", err)
	}
}

// secret returns a cached sealed entry, or nil.
func (c *cache) secret(key string) []byte {
	var v []byte
	c.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(cacheSecrets).Get([]byte(key)))
		return nil
	})
	return v
}

// module returns a module's bytes if the cache holds them intact.
func (c *cache) module(sha string) ([]byte, bool) {
	if !validSHA(sha) {
		return nil, false
	}
	data, err := os.ReadFile(filepath.Join(c.modules, sha))
	if err != nil {
		return nil, false
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sha {
		os.Remove(filepath.Join(c.modules, sha))
		return nil, false
	}
	return data, true
}

// putModule keeps a module's bytes (which the caller has checked against
// sha).
func (c *cache) putModule(sha string, data []byte) {
	if !validSHA(sha) {
		return
	}
	path := filepath.Join(c.modules, sha)
	if _, err := os.Stat(path); err == nil {
		return
	}
	tmp, err := os.CreateTemp(c.modules, ".tmp-*")
	if err == nil {
		_, err = tmp.Write(data)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		c.log.Warn("copy a module locally", "sha256", sha, "err", err)
	}
}

// validSHA reports whether s is 64 lower-case hex digits: a module file's
// name, never a path.
func validSHA(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}
