package jetstream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// sealVersion is the first byte of every sealed value: the layout
// (version, 12-byte nonce, AES-256-GCM ciphertext and tag).
const sealVersion = 1

// seal encrypts plain with the store's key; aad binds the ciphertext to
// where it belongs (secretAAD), so that it will not decrypt anywhere else.
func (s *Store) seal(plain, aad []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return s.aead.Seal(out, out[1:], plain, aad)
}

// unseal decrypts what seal returned. Any failure, a wrong key above all,
// is ErrWrongSecretKey: a value never comes back garbled.
func (s *Store) unseal(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrWrongSecretKey
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, ErrWrongSecretKey
	}
	return plain, nil
}

// secretAAD names a secret for the cipher. Names hold no NUL.
func secretAAD(tenant, worker, name string) []byte {
	return []byte("wedge secret\x00" + tenant + "\x00" + worker + "\x00" + name)
}

// PutSecret implements store.Store. The value is sealed and written to an
// entry of its own (T.W.NAME.ID), then the worker's record is updated to
// point at it: that compare-and-set is the commit, and checks that the
// worker exists and has room in the same step. The entry it replaces is
// purged afterwards.
func (s *Store) PutSecret(ctx context.Context, tenant, worker, key string, value []byte) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	if err := checkSecretName(key); err != nil {
		return err
	}
	if err := api.CheckSecretValue(value); err != nil {
		return invalid("secret %s: %v", key, err)
	}
	sealed := s.seal(value, secretAAD(tenant, worker, key))
	id := newID()
	entry := secretKey(tenant, worker, key, id)
	written := false // the entry, once, after the first checks passed
	var old string
	wkey := workerKey(tenant, worker)
	rev, _, unknown, err := s.update(ctx, wkey, false, func(r *record) error {
		old = r.Secrets[key]
		if old == "" && len(r.Secrets) >= api.MaxSecretsPerWorker {
			return invalid("worker %s has %d secrets, the most allowed: delete one first", worker, len(r.Secrets))
		}
		if !written {
			pctx, cancel := op(ctx, opTimeout)
			_, err := s.secrets.Put(pctx, entry, sealed)
			cancel()
			if err != nil {
				return fmt.Errorf("write secret %s: %w", key, err)
			}
			written = true
		}
		if r.Secrets == nil {
			r.Secrets = map[string]string{}
		}
		r.Secrets[key] = id
		return nil
	})
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err != nil {
		if written && !unknown {
			s.purgeSecret(cctx, entry)
		}
		return s.fail(fmt.Sprintf("put secret %s of %s/%s", key, tenant, worker), err)
	}
	s.committed(wkey, mark{rev: rev}, store.Event{Tenant: tenant, Worker: worker})
	if old != "" {
		s.purgeSecret(cctx, secretKey(tenant, worker, key, old))
	}
	return nil
}

// DeleteSecret implements store.Store.
func (s *Store) DeleteSecret(ctx context.Context, tenant, worker, key string) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	if err := checkSecretName(key); err != nil {
		return err
	}
	var old string
	wkey := workerKey(tenant, worker)
	rev, _, _, err := s.update(ctx, wkey, false, func(r *record) error {
		old = r.Secrets[key]
		if old == "" {
			return fmt.Errorf("secret %s of worker %s/%s: %w", key, tenant, worker, store.ErrNotFound)
		}
		delete(r.Secrets, key)
		return nil
	})
	if err != nil {
		return s.fail(fmt.Sprintf("delete secret %s of %s/%s", key, tenant, worker), err)
	}
	s.committed(wkey, mark{rev: rev}, store.Event{Tenant: tenant, Worker: worker})
	cctx, cancel := cleanup(ctx)
	defer cancel()
	s.purgeSecret(cctx, secretKey(tenant, worker, key, old))
	return nil
}

// SecretNames implements store.Store: the names are in the worker's
// record, so no value is read, let alone decrypted.
func (s *Store) SecretNames(ctx context.Context, tenant, worker string) ([]string, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	local, err := s.readLocal()
	var r record
	switch {
	case local && err != nil:
		return nil, err
	case !local:
		if r, _, err = s.record(ctx, tenant, worker); err != nil && s.local(ctx, err) {
			local = true
		} else if err != nil {
			return nil, err
		}
	}
	if local {
		if r, err = s.localRecord(tenant, worker); err != nil {
			return nil, err
		}
	}
	names := slices.Sorted(maps.Keys(r.Secrets))
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// Secrets implements store.Store: the worker's record names the entries,
// read together from one consumer on the worker's prefix and decrypted.
// An entry replaced between the two reads (a concurrent rotation) makes it
// read again.
func (s *Store) Secrets(ctx context.Context, tenant, worker string) (map[string]string, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	if local, err := s.readLocal(); local {
		if err != nil {
			return nil, err
		}
		return s.localSecrets(tenant, worker)
	}
	for attempt := 0; ; attempt++ {
		r, _, err := s.record(ctx, tenant, worker)
		if err != nil {
			if s.local(ctx, err) {
				return s.localSecrets(tenant, worker)
			}
			return nil, err
		}
		secrets := make(map[string]string, len(r.Secrets))
		if len(r.Secrets) == 0 {
			return secrets, nil
		}
		want := make(map[string]string, len(r.Secrets)) // entry key → name
		for name, id := range r.Secrets {
			want[secretKey(tenant, worker, name, id)] = name
		}
		sealed := make(map[string][]byte, len(r.Secrets)) // for the local copy
		err = s.list(ctx, s.secrets, secretPrefix(tenant, worker)+">", false, func(e jetstream.KeyValueEntry) error {
			name, ok := want[e.Key()]
			if !ok {
				return nil // replaced, or left behind by a failed write
			}
			sealed[e.Key()] = clone(e.Value())
			plain, err := s.unseal(e.Value(), secretAAD(tenant, worker, name))
			if err != nil {
				return fmt.Errorf("secret %s of %s/%s: %w", name, tenant, worker, err)
			}
			secrets[name] = string(plain)
			return nil
		})
		if err != nil {
			if s.local(ctx, err) {
				return s.localSecrets(tenant, worker)
			}
			return nil, s.fail(fmt.Sprintf("read secrets of %s/%s", tenant, worker), err)
		}
		if len(secrets) == len(r.Secrets) {
			if s.cache != nil {
				s.cache.putSecrets(secretPrefix(tenant, worker), sealed)
			}
			return secrets, nil
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("read secrets of %s/%s: %w", tenant, worker, errContention)
		}
		if err := backoff(ctx, attempt+1); err != nil {
			return nil, err
		}
	}
}

// purgeSecret removes a secret's entry, with no marker left behind: the
// stream purge of its subject, not a KV delete. Failures are logged; the
// entry, sealed, is then garbage no record points at.
func (s *Store) purgeSecret(ctx context.Context, key string) {
	err := s.secretsStream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucketSecrets+"."+key))
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("purge a secret's old entry", "key", key, "err", err)
	}
}
