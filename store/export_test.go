package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
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

// CheckConsistency checks the file against every invariant of the layout:
// bbolt's own page structure; every worker decodes, sits under its own key,
// belongs to a tenant, has versions numbered 1, 2, 3, ... and an active
// version that exists; every version's
// module is present and hashes to its key; and the reference counts equal
// the versions referring to each module, with no module left unreferenced.
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
		return errors.Join(errs...)
	})
}
