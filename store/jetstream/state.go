package jetstream

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// record is a worker as kept under worker.T.W: the worker with every
// version, and the names of its secrets, each with the ID of the entry
// that holds its value in wedge_secrets. The entry is written first and
// the record then points at it, so the record is the one place a secret
// is committed: a rotation, a delete or the worker's deletion is one
// compare-and-set of the record.
type record struct {
	store.Worker
	Secrets map[string]string `json:"secrets,omitempty"` // name → entry ID
}

// moduleRef is a module as kept in the wedge_modules KV bucket, under its
// SHA-256: the object holding its bytes and the number of versions that
// refer to it.
type moduleRef struct {
	Object string `json:"object"` // SHA256.ID in the wedge_modules object store
	Size   int64  `json:"size"`
	Refs   int    `json:"refs"`
	// Code names the objects holding the module's compiled code, by
	// platform (code.go).
	Code map[string]string `json:"code,omitempty"`
}

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	if err := checkName("tenant", t.Name); err != nil {
		return err
	}
	data, err := json.Marshal(&t)
	if err != nil {
		return fmt.Errorf("encode tenant: %w", err)
	}
	ctx, cancel := op(ctx, opTimeout)
	defer cancel()
	key := tenantKey(t.Name)
	rev, err := s.state.Create(ctx, key, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("tenant %q: %w", t.Name, store.ErrExists)
	}
	if err != nil {
		return s.fail("create tenant "+t.Name, err)
	}
	s.tenants.Store(t.Name, struct{}{})
	s.committed(key, mark{rev: rev}, store.Event{Tenant: t.Name})
	return nil
}

// Tenant implements store.Store.
func (s *Store) Tenant(ctx context.Context, name string) (store.Tenant, error) {
	if err := s.enter(ctx); err != nil {
		return store.Tenant{}, err
	}
	if local, err := s.readLocal(); local {
		if err != nil {
			return store.Tenant{}, err
		}
		return s.localTenant(name)
	}
	octx, cancel := op(ctx, opTimeout)
	defer cancel()
	e, err := s.state.Get(octx, tenantKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return store.Tenant{}, fmt.Errorf("tenant %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		if s.local(ctx, err) {
			return s.localTenant(name)
		}
		return store.Tenant{}, s.fail("read tenant "+name, err)
	}
	var t store.Tenant
	if err := decode("tenant", e.Value(), &t); err != nil {
		return store.Tenant{}, err
	}
	return t, nil
}

// Tenants implements store.Store.
func (s *Store) Tenants(ctx context.Context) ([]store.Tenant, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	if local, err := s.readLocal(); local {
		if err != nil {
			return nil, err
		}
		return s.localTenants()
	}
	ts := []store.Tenant{}
	err := s.list(ctx, s.state, "tenant.*", false, func(e jetstream.KeyValueEntry) error {
		var t store.Tenant
		if err := decode("tenant", e.Value(), &t); err != nil {
			return err
		}
		ts = append(ts, t)
		return nil
	})
	if err != nil {
		if s.local(ctx, err) {
			return s.localTenants()
		}
		return nil, s.fail("list tenants", err)
	}
	slices.SortFunc(ts, func(a, b store.Tenant) int { return cmp.Compare(a.Name, b.Name) })
	return ts, nil
}

// tenantExists returns nil if the tenant exists, else an ErrNotFound.
// Tenants are never deleted, so a tenant seen once is remembered and not
// looked up again: KV calls, which check their tenant, cost no extra round
// trip after the first.
func (s *Store) tenantExists(ctx context.Context, name string) error {
	if _, ok := s.tenants.Load(name); ok {
		return nil
	}
	ctx, cancel := op(ctx, opTimeout)
	defer cancel()
	_, err := s.state.Get(ctx, tenantKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("tenant %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return s.fail("read tenant "+name, err)
	}
	s.tenants.Store(name, struct{}{})
	return nil
}

// Deploy implements store.Store. The module is stored first (or its
// reference count raised), then the worker's record is updated with a
// compare-and-set that appends the version: the record's write is the
// commit. A deploy that fails before it leaves the count one too high
// only when its outcome is unknown (a timeout): a module then outlives its
// last version, but no version ever refers to a module that is gone.
func (s *Store) Deploy(ctx context.Context, tenant, worker string, module []byte, settings api.WorkerSettings) (store.Version, error) {
	if err := s.enterNATS(ctx); err != nil {
		return store.Version{}, err
	}
	if err := checkName("worker", worker); err != nil {
		return store.Version{}, err
	}
	settings, err := canonical(settings)
	if err != nil {
		return store.Version{}, err
	}
	if err := s.tenantExists(ctx, tenant); err != nil {
		return store.Version{}, err
	}
	sum := sha256.Sum256(module)
	sha := hex.EncodeToString(sum[:])
	if err := s.acquire(ctx, sha, module); err != nil {
		return store.Version{}, err
	}
	if s.cache != nil {
		s.cache.putModule(sha, module) // this node will serve it: no need to read it back
	}
	s.shareCode(ctx, sha) // before the commit: a node that sees the version finds the code
	now := time.Now().UTC()
	var v store.Version
	key := workerKey(tenant, worker)
	rev, _, unknown, err := s.update(ctx, key, true, func(r *record) error {
		r.Tenant, r.Name = tenant, worker
		number := 1
		if n := len(r.Versions); n > 0 {
			number = r.Versions[n-1].Number + 1
		}
		v = store.Version{Number: number, SHA256: sha, Size: int64(len(module)), Created: now, Settings: settings}
		r.Versions = append(r.Versions, v)
		r.Active = number
		r.Updated = now
		return nil
	})
	if err != nil {
		if !unknown {
			cctx, cancel := cleanup(ctx)
			defer cancel()
			s.release(cctx, sha, 1)
		}
		return store.Version{}, s.fail(fmt.Sprintf("deploy %s/%s", tenant, worker), err)
	}
	s.committed(key, mark{rev: rev}, store.Event{Tenant: tenant, Worker: worker})
	return v, nil
}

// Activate implements store.Store.
func (s *Store) Activate(ctx context.Context, tenant, worker string, version int) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	now := time.Now().UTC()
	key := workerKey(tenant, worker)
	rev, _, _, err := s.update(ctx, key, false, func(r *record) error {
		if !slices.ContainsFunc(r.Versions, func(v store.Version) bool { return v.Number == version }) {
			return fmt.Errorf("worker %s/%s version %d: %w", tenant, worker, version, store.ErrNotFound)
		}
		r.Active = version
		r.Updated = now
		return nil
	})
	if err != nil {
		return s.fail(fmt.Sprintf("activate %s/%s", tenant, worker), err)
	}
	s.committed(key, mark{rev: rev}, store.Event{Tenant: tenant, Worker: worker})
	return nil
}

// Worker implements store.Store.
func (s *Store) Worker(ctx context.Context, tenant, worker string) (store.Worker, error) {
	if err := s.enter(ctx); err != nil {
		return store.Worker{}, err
	}
	local, err := s.readLocal()
	var r record
	switch {
	case local && err != nil:
		return store.Worker{}, err
	case !local:
		if r, _, err = s.record(ctx, tenant, worker); err == nil || !s.local(ctx, err) {
			return r.Worker, err
		}
	}
	r, err = s.localRecord(tenant, worker)
	return r.Worker, err
}

// record reads a worker's record and its revision.
func (s *Store) record(ctx context.Context, tenant, worker string) (record, uint64, error) {
	ctx, cancel := op(ctx, opTimeout)
	defer cancel()
	e, err := s.state.Get(ctx, workerKey(tenant, worker))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, 0, fmt.Errorf("worker %s/%s: %w", tenant, worker, store.ErrNotFound)
	}
	if err != nil {
		return record{}, 0, s.fail(fmt.Sprintf("read worker %s/%s", tenant, worker), err)
	}
	var r record
	if err := decode("worker", e.Value(), &r); err != nil {
		return record{}, 0, err
	}
	return r, e.Revision(), nil
}

// Workers implements store.Store.
func (s *Store) Workers(ctx context.Context, tenant string) ([]store.Worker, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	if local, err := s.readLocal(); local {
		if err != nil {
			return nil, err
		}
		return s.localWorkers(tenant)
	}
	filter := "worker.>"
	if tenant != "" {
		if err := s.tenantExists(ctx, tenant); err != nil {
			if s.local(ctx, err) {
				return s.localWorkers(tenant)
			}
			return nil, err
		}
		filter = "worker." + escape(tenant) + ".*"
	}
	ws := []store.Worker{}
	err := s.list(ctx, s.state, filter, false, func(e jetstream.KeyValueEntry) error {
		var r record
		if err := decode("worker", e.Value(), &r); err != nil {
			return err
		}
		ws = append(ws, r.Worker)
		return nil
	})
	if err != nil {
		if s.local(ctx, err) {
			return s.localWorkers(tenant)
		}
		return nil, s.fail("list workers", err)
	}
	slices.SortFunc(ws, func(a, b store.Worker) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Name, b.Name))
	})
	return ws, nil
}

// DeleteWorker implements store.Store. The record's deletion (a
// compare-and-set on its revision) is the commit; then the worker's
// secret entries are purged and its modules' reference counts lowered,
// deleting the modules that lose their last reference. A failure after the
// commit leaves garbage (logged), never a dangling reference.
func (s *Store) DeleteWorker(ctx context.Context, tenant, worker string) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	key := workerKey(tenant, worker)
	var (
		r    record
		prev uint64
	)
	for attempt := 1; ; attempt++ {
		var err error
		if r, prev, err = s.record(ctx, tenant, worker); err != nil {
			return err
		}
		octx, cancel := op(ctx, opTimeout)
		err = s.state.Delete(octx, key, jetstream.LastRevision(prev))
		cancel()
		if err == nil {
			break
		}
		if !conflict(err) {
			return s.fail(fmt.Sprintf("delete worker %s/%s", tenant, worker), err)
		}
		if attempt == maxAttempts {
			return fmt.Errorf("delete worker %s/%s: %w", tenant, worker, errContention)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
	s.committed(key, mark{rev: prev, del: true}, store.Event{Tenant: tenant, Worker: worker})

	cctx, cancel := cleanup(ctx)
	defer cancel()
	for name, id := range r.Secrets {
		s.purgeSecret(cctx, secretKey(tenant, worker, name, id))
	}
	counts := map[string]int{}
	for _, v := range r.Versions {
		counts[v.SHA256]++
	}
	for _, sha := range slices.Sorted(maps.Keys(counts)) {
		s.release(cctx, sha, counts[sha])
	}
	return nil
}

// update runs a read-modify-write of a worker's record: read it (a new
// one when create is set and there is none, else ErrNotFound), apply fn,
// and write it back only if it has not changed since it was read, trying
// again when it has. It returns the revision written and the one replaced
// (0 for a new record). When it fails, unknown says whether a write may
// have happened nonetheless (a timeout or a lost connection while writing):
// callers then must not undo what the write would have referred to.
func (s *Store) update(ctx context.Context, key string, create bool, fn func(*record) error) (rev, prev uint64, unknown bool, err error) {
	for attempt := 1; ; attempt++ {
		octx, cancel := op(ctx, opTimeout)
		rev, prev, unknown, err = s.updateOnce(octx, key, create, fn)
		cancel()
		if err == nil || !conflict(err) {
			return rev, prev, unknown, err
		}
		if attempt == maxAttempts {
			return 0, 0, false, errContention
		}
		if err := backoff(ctx, attempt); err != nil {
			return 0, 0, false, err
		}
	}
}

func (s *Store) updateOnce(ctx context.Context, key string, create bool, fn func(*record) error) (rev, prev uint64, unknown bool, err error) {
	var r record
	e, err := s.state.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if !create {
			t, w := workerNames(key)
			return 0, 0, false, fmt.Errorf("worker %s/%s: %w", t, w, store.ErrNotFound)
		}
	case err != nil:
		return 0, 0, false, err
	default:
		if err := decode("worker", e.Value(), &r); err != nil {
			return 0, 0, false, err
		}
		prev = e.Revision()
	}
	if err := fn(&r); err != nil {
		return 0, 0, false, err
	}
	data, err := json.Marshal(&r)
	if err != nil {
		return 0, 0, false, fmt.Errorf("encode worker: %w", err)
	}
	if len(data) > int(s.nc.MaxPayload())-4096 {
		t, w := workerNames(key)
		return 0, 0, false, fmt.Errorf("worker %s/%s: %d bytes with its versions, more than one NATS message may hold", t, w, len(data))
	}
	if prev == 0 {
		rev, err = s.state.Create(ctx, key, data)
	} else {
		rev, err = s.state.Update(ctx, key, data, prev)
	}
	if err != nil {
		return 0, 0, !conflict(err), err
	}
	return rev, prev, false, nil
}

// workerNames recovers tenant and worker from a worker key, for messages.
func workerNames(key string) (string, string) {
	ev, _ := eventOf(key)
	return ev.Tenant, ev.Worker
}

// Module implements store.Store. A module is read from the local copy
// when it holds it (it is checked against its SHA-256 there), else from
// the object store: the field notes on issue 8 saw a Get from one node
// right after another node's Put fail now and then ("object not found",
// "digests do not match") and succeed on a retry within 300 ms, so the
// bytes are checked against sha and a failed read is retried, up to
// about a second and a half, before it counts.
func (s *Store) Module(ctx context.Context, sha string) ([]byte, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	if s.cache != nil {
		if data, ok := s.cache.module(sha); ok {
			return data, nil
		}
	}
	if s.offline() {
		if s.cache == nil {
			return nil, errUnavailable
		}
		return s.localModule(sha)
	}
	octx, cancel := op(ctx, objTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		data, err := s.readModule(octx, sha)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			if err == nil && s.cache != nil {
				s.cache.putModule(sha, data)
			}
			return data, err
		}
		if attempt == 5 || octx.Err() != nil {
			if s.local(ctx, err) {
				return s.localModule(sha)
			}
			return nil, s.fail("read module "+sha, err)
		}
		s.log.Debug("read module: retrying", "sha256", sha, "attempt", attempt+1, "err", err)
		t := time.NewTimer(25 * time.Millisecond << attempt)
		select {
		case <-t.C:
		case <-octx.Done():
			t.Stop()
		}
	}
}

// readModule reads a module's reference and then its object, once, and
// checks the bytes against sha.
func (s *Store) readModule(ctx context.Context, sha string) ([]byte, error) {
	e, err := s.refs.Get(ctx, escape(sha))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("module %s: %w", sha, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var ref moduleRef
	if err := decode("module reference", e.Value(), &ref); err != nil {
		return nil, err
	}
	data, err := s.modules.GetBytes(ctx, ref.Object)
	if err != nil {
		return nil, err // not found: deleted (and perhaps stored again) since the reference was read
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Errorf("module %s: object %s holds other bytes (sha256 %x)", sha, ref.Object, sum)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// acquire counts one more version referring to the module sha, storing it
// first if no version does yet. A new module goes to an object of a name
// of its own (SHA256.ID), then its reference is created; a node that loses
// the race to create it deletes its object and counts on the winner's. An
// object is deleted only with its reference (release), and a reference
// that is created again names a new object, so a node late in deleting an
// old object can never delete a newer one.
func (s *Store) acquire(ctx context.Context, sha string, module []byte) error {
	for attempt := 1; ; attempt++ {
		err := s.acquireOnce(ctx, sha, module)
		if err == nil || !conflict(err) {
			return s.fail("store module "+sha, err)
		}
		if attempt == maxAttempts {
			return fmt.Errorf("store module %s: %w", sha, errContention)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

func (s *Store) acquireOnce(ctx context.Context, sha string, module []byte) error {
	ctx, cancel := op(ctx, objTimeout)
	defer cancel()
	e, err := s.refs.Get(ctx, sha)
	if err == nil {
		var ref moduleRef
		if err := decode("module reference", e.Value(), &ref); err != nil {
			return err
		}
		ref.Refs++
		_, err = s.refs.Update(ctx, sha, mustJSON(&ref), e.Revision())
		return err
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	name := sha + "." + newID()
	if _, err := s.modules.PutBytes(ctx, name, module); err != nil {
		return err
	}
	_, err = s.refs.Create(ctx, sha, mustJSON(&moduleRef{Object: name, Size: int64(len(module)), Refs: 1}))
	if conflict(err) {
		// Another node stored it meanwhile: ours is not referred to.
		if derr := s.deleteObject(context.WithoutCancel(ctx), s.modules, s.modulesObjStream, bucketModules, name); derr != nil {
			s.log.Warn("delete a module stored twice", "object", name, "err", derr)
		}
	}
	return err
}

// release counts n versions fewer referring to the module sha; with the
// last one the reference is deleted (compare-and-set), then its object.
// Failures are logged: they leave a module behind, nothing worse.
func (s *Store) release(ctx context.Context, sha string, n int) {
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e, err := s.refs.Get(ctx, sha)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Warn("module reference missing on release", "sha256", sha)
			return
		}
		if err != nil {
			s.log.Warn("release module", "sha256", sha, "err", err)
			return
		}
		var ref moduleRef
		if err := decode("module reference", e.Value(), &ref); err != nil {
			s.log.Warn("release module", "sha256", sha, "err", err)
			return
		}
		ref.Refs -= n
		if ref.Refs > 0 {
			_, err = s.refs.Update(ctx, sha, mustJSON(&ref), e.Revision())
		} else {
			err = s.refs.Delete(ctx, sha, jetstream.LastRevision(e.Revision()))
		}
		if conflict(err) {
			if backoff(ctx, attempt) != nil {
				return
			}
			continue
		}
		if err != nil {
			s.log.Warn("release module", "sha256", sha, "err", err)
			return
		}
		if ref.Refs <= 0 {
			if err := s.deleteObject(ctx, s.modules, s.modulesObjStream, bucketModules, ref.Object); err != nil {
				s.log.Warn("delete module", "sha256", sha, "object", ref.Object, "err", err)
			}
			for _, obj := range ref.Code {
				if err := s.deleteObject(ctx, s.modules, s.modulesObjStream, bucketModules, obj); err != nil {
					s.log.Warn("delete compiled code", "sha256", sha, "object", obj, "err", err)
				}
			}
		}
		return
	}
	s.log.Warn("release module: too many concurrent writers", "sha256", sha)
}

// Meta implements store.Store.
func (s *Store) Meta(ctx context.Context, key string) ([]byte, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	if local, err := s.readLocal(); local {
		if err != nil {
			return nil, err
		}
		return s.localMeta(key)
	}
	octx, cancel := op(ctx, opTimeout)
	defer cancel()
	e, err := s.state.Get(octx, metaKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("meta %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		if s.local(ctx, err) {
			return s.localMeta(key)
		}
		return nil, s.fail("read meta "+key, err)
	}
	return clone(e.Value()), nil
}

// PutMeta implements store.Store.
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	if err := s.enterNATS(ctx); err != nil {
		return err
	}
	if key == "" {
		return invalid("meta: empty key")
	}
	ctx, cancel := op(ctx, opTimeout)
	defer cancel()
	k := metaKey(key)
	rev, err := s.state.Put(ctx, k, clone(value))
	if err != nil {
		return s.fail("write meta "+key, err)
	}
	s.committed(k, mark{rev: rev}, store.Event{})
	return nil
}

// list calls fn with the latest entry of every key of kv that matches
// filter (deleted keys left out), from an ordered consumer that ends once
// it has delivered them. metaOnly leaves the values out.
func (s *Store) list(ctx context.Context, kv jetstream.KeyValue, filter string, metaOnly bool, fn func(jetstream.KeyValueEntry) error) error {
	ctx, cancel := op(ctx, opTimeout)
	defer cancel()
	opts := []jetstream.WatchOpt{jetstream.IgnoreDeletes()}
	if metaOnly {
		opts = append(opts, jetstream.MetaOnly())
	}
	w, err := kv.Watch(ctx, filter, opts...)
	if err != nil {
		return err
	}
	defer stopWatcher(w, cancel)
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if s.closed.Load() {
					return store.ErrClosed
				}
				return errors.New("watch ended before it delivered every key")
			}
			if e == nil {
				return nil
			}
			if err := fn(e); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stopWatcher stops w and reads what it still delivers until it closes its
// channel: the client blocks delivering to a full channel, so a watcher
// left unread would keep its subscription's goroutine forever. Stop
// deletes the consumer on the server, which waits up to the client's
// request timeout when the server is away: it runs in the background, so
// that neither a replaced watcher nor Close waits for it.
func stopWatcher(w jetstream.KeyWatcher, cancel context.CancelFunc) {
	cancel()
	go func() {
		_ = w.Stop()
		timeout := time.NewTimer(time.Minute)
		defer timeout.Stop()
		for {
			select {
			case _, ok := <-w.Updates():
				if !ok {
					return
				}
			case <-timeout.C:
				return
			}
		}
	}()
}

func decode(kind string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", kind, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only for types that always encode
	}
	return data
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
