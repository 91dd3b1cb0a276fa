package jetstream

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/store"
)

// The local copy (Config.CacheDir): how it is taken, checked and read.

// snapshot makes the cache's copy of the state bucket equal to the
// bucket, which was at revision rev or later when called: a write after
// rev is in the copy or, at the latest, delivered by the watcher that
// starts after rev.
func (s *Store) snapshot(ctx context.Context, rev uint64) error {
	entries := map[string][]byte{}
	keep := map[string]bool{}
	err := s.list(ctx, s.state, ">", false, func(e jetstream.KeyValueEntry) error {
		if e.Key() == keyHeartbeat {
			return nil
		}
		entries[e.Key()] = clone(e.Value())
		if strings.HasPrefix(e.Key(), "worker.") {
			var r record
			if err := decode("worker", e.Value(), &r); err != nil {
				return err
			}
			for _, v := range r.Versions {
				keep[v.SHA256] = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("jetstream: copy %s locally: %w", bucketState, err)
	}
	return s.cache.replace(entries, rev, keep)
}

// checkCopy checks the cache's copy before a store opens from it: its
// format, and that its secrets were sealed with this node's key.
func (s *Store) checkCopy() error {
	if v := s.cache.get(keyFormat); string(v) != format {
		return fmt.Errorf("jetstream: the local copy has format %q, want %q", v, format)
	}
	if p, err := s.unseal(s.cache.get(keyKeyCheck), []byte(keyCheckText)); err != nil || string(p) != keyCheckText {
		return ErrWrongSecretKey
	}
	return nil
}

// errNoLocal is a read the local copy cannot answer while NATS is away.
func errNoLocal(what string) error {
	return fmt.Errorf("%s: not in this node's local copy: %w", what, store.ErrUnavailable)
}

// readLocal reports whether a read must come from the local copy, and the
// error to return when there is none.
func (s *Store) readLocal() (bool, error) {
	if !s.offline() {
		return false, nil
	}
	if s.cache == nil {
		return true, errUnavailable
	}
	return true, nil
}

func (s *Store) localTenant(name string) (store.Tenant, error) {
	v := s.cache.get(tenantKey(name))
	if v == nil {
		return store.Tenant{}, fmt.Errorf("tenant %q: %w", name, store.ErrNotFound)
	}
	var t store.Tenant
	err := decode("tenant", v, &t)
	return t, err
}

func (s *Store) localTenants() ([]store.Tenant, error) {
	ts := []store.Tenant{}
	err := s.cache.scan("tenant.", func(_ string, v []byte) error {
		var t store.Tenant
		if err := decode("tenant", v, &t); err != nil {
			return err
		}
		ts = append(ts, t)
		return nil
	})
	slices.SortFunc(ts, func(a, b store.Tenant) int { return cmp.Compare(a.Name, b.Name) })
	return ts, err
}

func (s *Store) localRecord(tenant, worker string) (record, error) {
	v := s.cache.get(workerKey(tenant, worker))
	if v == nil {
		return record{}, fmt.Errorf("worker %s/%s: %w", tenant, worker, store.ErrNotFound)
	}
	var r record
	err := decode("worker", v, &r)
	return r, err
}

func (s *Store) localWorkers(tenant string) ([]store.Worker, error) {
	prefix := "worker."
	if tenant != "" {
		if _, err := s.localTenant(tenant); err != nil {
			return nil, err
		}
		prefix += escape(tenant) + "."
	}
	ws := []store.Worker{}
	err := s.cache.scan(prefix, func(_ string, v []byte) error {
		var r record
		if err := decode("worker", v, &r); err != nil {
			return err
		}
		ws = append(ws, r.Worker)
		return nil
	})
	slices.SortFunc(ws, func(a, b store.Worker) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Name, b.Name))
	})
	return ws, err
}

func (s *Store) localMeta(key string) ([]byte, error) {
	v := s.cache.get(metaKey(key))
	if v == nil {
		return nil, fmt.Errorf("meta %q: %w", key, store.ErrNotFound)
	}
	return v, nil
}

// localSecrets decrypts a worker's secrets from the sealed entries the
// cache kept when they were last read from NATS.
func (s *Store) localSecrets(tenant, worker string) (map[string]string, error) {
	r, err := s.localRecord(tenant, worker)
	if err != nil {
		return nil, err
	}
	secrets := make(map[string]string, len(r.Secrets))
	for _, name := range slices.Sorted(maps.Keys(r.Secrets)) {
		sealed := s.cache.secret(secretKey(tenant, worker, name, r.Secrets[name]))
		if sealed == nil {
			return nil, errNoLocal(fmt.Sprintf("secret %s of %s/%s", name, tenant, worker))
		}
		plain, err := s.unseal(sealed, secretAAD(tenant, worker, name))
		if err != nil {
			return nil, fmt.Errorf("secret %s of %s/%s: %w", name, tenant, worker, err)
		}
		secrets[name] = string(plain)
	}
	return secrets, nil
}

// localModule returns a module from the cache, or an error wrapping
// store.ErrUnavailable.
func (s *Store) localModule(sha string) ([]byte, error) {
	if s.cache != nil {
		if data, ok := s.cache.module(sha); ok {
			return data, nil
		}
	}
	return nil, errNoLocal("module " + sha)
}
