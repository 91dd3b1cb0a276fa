package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/wedgeworks/wedge/api"
)

// Hooks for the external tests in package store_test.
var (
	OpenTimeout = open
	ErrInUse    = errInUse
)

// ModuleCount returns how many modules the file holds.
func (b *Bolt) ModuleCount() (int, error) {
	var n int
	err := b.view(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketModules).Stats().KeyN
		return nil
	})
	return n, err
}

// PutRaw writes a key straight into a bucket, bypassing every check.
func (b *Bolt) PutRaw(bucket, key, value string) error {
	return b.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put([]byte(key), []byte(value))
	})
}

// DeleteRaw deletes a key straight from a bucket.
func (b *Bolt) DeleteRaw(bucket, key string) error {
	return b.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Delete([]byte(key))
	})
}

// CheckConsistency checks the file against every invariant of the layout:
// bbolt's own page structure; every worker decodes, sits under its own key,
// belongs to a tenant, has versions numbered 1, 2, 3, ... and an active
// version that exists; every version's
// module is present and hashes to its key; the reference counts equal
// the versions referring to each module, with no module left unreferenced;
// every secret belongs to a worker that exists and is valid, no worker has
// too many; every KV entry belongs to a tenant that exists and is valid.
func (b *Bolt) CheckConsistency() error {
	return b.view(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, fmt.Errorf("bbolt: %w", err))
		}

		refs := map[string]uint64{}
		err := tx.Bucket(bucketWorkers).ForEach(func(k, data []byte) error {
			var w Worker
			if err := decode("worker", data, &w); err != nil {
				return err
			}
			if string(workerKey(w.Tenant, w.Name)) != string(k) {
				errs = append(errs, fmt.Errorf("worker %s/%s stored under key %q", w.Tenant, w.Name, k))
			}
			if _, ok := get(tx.Bucket(bucketTenants), []byte(w.Tenant)); !ok {
				errs = append(errs, fmt.Errorf("worker %s/%s: tenant missing", w.Tenant, w.Name))
			}
			for i, v := range w.Versions {
				if v.Number != i+1 {
					errs = append(errs, fmt.Errorf("worker %s/%s: version #%d numbered %d", w.Tenant, w.Name, i+1, v.Number))
				}
				refs[v.SHA256]++
				m, ok := get(tx.Bucket(bucketModules), []byte(v.SHA256))
				if !ok {
					errs = append(errs, fmt.Errorf("worker %s/%s v%d: module %s missing", w.Tenant, w.Name, v.Number, v.SHA256))
					continue
				}
				if int64(len(m)) != v.Size {
					errs = append(errs, fmt.Errorf("worker %s/%s v%d: module is %d bytes, version says %d", w.Tenant, w.Name, v.Number, len(m), v.Size))
				}
			}
			if _, ok := w.ActiveVersion(); !ok {
				errs = append(errs, fmt.Errorf("worker %s/%s: active version %d does not exist", w.Tenant, w.Name, w.Active))
			}
			return nil
		})
		if err != nil {
			return err
		}

		err = tx.Bucket(bucketModules).ForEach(func(k, m []byte) error {
			sum := sha256.Sum256(m)
			if hex.EncodeToString(sum[:]) != string(k) {
				errs = append(errs, fmt.Errorf("module %s hashes to %x", k, sum))
			}
			if refs[string(k)] == 0 {
				errs = append(errs, fmt.Errorf("module %s: no version refers to it", k))
			}
			return nil
		})
		if err != nil {
			return err
		}

		counted := 0
		err = tx.Bucket(bucketRefs).ForEach(func(k, v []byte) error {
			counted++
			if len(v) != 8 || binary.BigEndian.Uint64(v) != refs[string(k)] {
				errs = append(errs, fmt.Errorf("module %s: reference count %x, want %d", k, v, refs[string(k)]))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if counted != len(refs) {
			errs = append(errs, fmt.Errorf("%d reference counts for %d referenced modules", counted, len(refs)))
		}

		perWorker := map[string]int{}
		err = tx.Bucket(bucketSecrets).ForEach(func(k, v []byte) error {
			parts := bytes.Split(k, []byte{0})
			if len(parts) != 3 {
				errs = append(errs, fmt.Errorf("secret key %q has %d parts, want tenant, worker, name", k, len(parts)))
				return nil
			}
			tenant, worker, name := string(parts[0]), string(parts[1]), string(parts[2])
			if _, ok := get(tx.Bucket(bucketWorkers), workerKey(tenant, worker)); !ok {
				errs = append(errs, fmt.Errorf("secret %s of %s/%s: the worker does not exist", name, tenant, worker))
			}
			if !api.ValidEnvName(name) {
				errs = append(errs, fmt.Errorf("secret %q of %s/%s: invalid name", name, tenant, worker))
			}
			if err := api.CheckSecretValue(v); err != nil {
				errs = append(errs, fmt.Errorf("secret %s of %s/%s: %v", name, tenant, worker, err))
			}
			perWorker[tenant+"/"+worker]++
			return nil
		})
		if err != nil {
			return err
		}
		for w, n := range perWorker {
			if n > api.MaxSecretsPerWorker {
				errs = append(errs, fmt.Errorf("worker %s has %d secrets, more than %d", w, n, api.MaxSecretsPerWorker))
			}
		}

		err = tx.Bucket(bucketKV).ForEach(func(k, v []byte) error {
			parts := bytes.SplitN(k, []byte{0}, 3)
			if len(parts) != 3 {
				errs = append(errs, fmt.Errorf("KV key %q has %d parts, want tenant, namespace, key", k, len(parts)))
				return nil
			}
			tenant, ns, key := string(parts[0]), string(parts[1]), string(parts[2])
			if _, ok := get(tx.Bucket(bucketTenants), []byte(tenant)); !ok {
				errs = append(errs, fmt.Errorf("KV %s/%s: the tenant does not exist", tenant, ns))
			}
			if !api.ValidKVNamespace(ns) {
				errs = append(errs, fmt.Errorf("KV %s/%q: invalid namespace", tenant, ns))
			}
			if err := api.CheckKVKey(key); err != nil {
				errs = append(errs, fmt.Errorf("KV %s/%s: key %q: %v", tenant, ns, key, err))
			}
			if len(v) > api.MaxKVValueBytes {
				errs = append(errs, fmt.Errorf("KV %s/%s: a value of %d bytes", tenant, ns, len(v)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return errors.Join(errs...)
	})
}
