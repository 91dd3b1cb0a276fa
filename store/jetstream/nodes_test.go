package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// TestNodes: every node's report reaches every other; a node that closes
// leaves at once, one that vanishes stops counting as live after nodeLive.
func TestNodes(t *testing.T) {
	n := startServer(t)
	tm := defaultTiming
	tm.node = 100 * time.Millisecond
	open := func(name string) *Store {
		return newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey, Node: name}, tm)
	}
	a, b, c := open("edge-a"), open("edge b/2"), open("edge-c")
	if a.NodeID() != "edge-a" {
		t.Errorf("NodeID = %q", a.NodeID())
	}
	api1 := WorkerID{"acme", "api"}
	a.SetServing(map[WorkerID]int{api1: 2, {"beta", "web"}: 1})
	b.SetServing(map[WorkerID]int{api1: 1})
	ctx := t.Context()

	want := func(what string, want map[string]map[WorkerID]int) {
		t.Helper()
		eventually(t, 5*time.Second, what, func() error {
			nodes, err := c.Nodes(ctx)
			if err != nil {
				return err
			}
			got := map[string]map[WorkerID]int{}
			for _, nd := range nodes {
				got[nd.ID] = nd.Serving
				if nd.Seen.IsZero() {
					return fmt.Errorf("node %s: no Seen", nd.ID)
				}
			}
			if !maps.EqualFunc(got, want, func(x, y map[WorkerID]int) bool { return maps.Equal(x, y) }) {
				return fmt.Errorf("nodes = %v, want %v", got, want)
			}
			return nil
		})
	}
	want("every node's report", map[string]map[WorkerID]int{
		"edge-a":   {api1: 2, {"beta", "web"}: 1},
		"edge b/2": {api1: 1},
		"edge-c":   {},
	})
	b.SetServing(map[WorkerID]int{api1: 2})
	want("a change of what b serves", map[string]map[WorkerID]int{
		"edge-a":   {api1: 2, {"beta", "web"}: 1},
		"edge b/2": {api1: 2},
		"edge-c":   {},
	})

	b.Close()
	want("after b closed", map[string]map[WorkerID]int{
		"edge-a": {api1: 2, {"beta", "web"}: 1},
		"edge-c": {},
	})
	// a vanishes without a word: its entry stays, but stops being fresh.
	a.nc.Close()
	start := time.Now()
	want("after a's connection died", map[string]map[WorkerID]int{"edge-c": {}})
	t.Logf("a vanished node stopped counting as live after %v (nodeLive %v)", time.Since(start), 3*tm.node)
}

// TestLocalCopy: a node with a cache directory serves its last known state
// while NATS is away, refuses writes at once, opens from the copy after a
// restart, and catches up (deploys, deletions) when NATS is back.
func TestLocalCopy(t *testing.T) {
	n := startServer(t)
	dir := t.TempDir()
	ctx := t.Context()
	s := newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey, CacheDir: dir}, defaultTiming)
	setup(t, s)
	if err := s.PutSecret(ctx, "acme", "api", "TOKEN", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(ctx, "op", []byte("hash")); err != nil {
		t.Fatal(err)
	}
	other := newStore(t, n.URL(), testKey)
	v2, err := other.Deploy(ctx, "acme", "web", []byte("\x00asm web"), api.WorkerSettings{Vars: map[string]string{"A": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	// What a host reads to serve (the secrets and modules are copied as
	// they are read).
	want := serveState(t, s)

	check := func(what string, s *Store) {
		t.Helper()
		if got := serveState(t, s); got != want {
			t.Errorf("%s: the store serves\n%s\nwant\n%s", what, got, want)
		}
		if err := s.Writable(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: Writable = %v, want ErrUnavailable", what, err)
		}
		for _, c := range []struct {
			name string
			call func(context.Context) error
		}{
			{"Deploy", func(ctx context.Context) error {
				_, err := s.Deploy(ctx, "acme", "api", []byte("v9"), api.WorkerSettings{})
				return err
			}},
			{"Activate", func(ctx context.Context) error { return s.Activate(ctx, "acme", "api", 1) }},
			{"DeleteWorker", func(ctx context.Context) error { return s.DeleteWorker(ctx, "acme", "api") }},
			{"CreateTenant", func(ctx context.Context) error { return s.CreateTenant(ctx, store.Tenant{Name: "new"}) }},
			{"PutSecret", func(ctx context.Context) error { return s.PutSecret(ctx, "acme", "api", "K", []byte("v")) }},
			{"PutMeta", func(ctx context.Context) error { return s.PutMeta(ctx, "k", []byte("v")) }},
			{"KVPut", func(ctx context.Context) error { return s.KVPut(ctx, "acme", "NS", "k", []byte("v")) }},
			{"KVGet", func(ctx context.Context) error { _, err := s.KVGet(ctx, "acme", "NS", "k"); return err }},
			{"Nodes", func(ctx context.Context) error { _, err := s.Nodes(ctx); return err }},
			{"Module of another", func(ctx context.Context) error {
				_, err := s.Module(ctx, strings.Repeat("ab", 32))
				return err
			}},
		} {
			start := time.Now()
			err := c.call(ctx)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s: %s = %v, want ErrUnavailable", what, c.name, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s: %s took %v to fail", what, c.name, d)
			}
		}
	}

	n.Stop()
	eventually(t, 5*time.Second, "the store notices NATS is gone", func() error {
		if s.Writable() == nil {
			return errors.New("still writable")
		}
		return nil
	})
	check("NATS stopped", s)

	// A restart while NATS is away opens from the copy.
	s.Close()
	s = newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey, CacheDir: dir}, defaultTiming)
	check("restarted without NATS", s)
	if _, err := open(ctx, Config{URL: n.URL(), SecretKey: testKey, CacheDir: t.TempDir()}, defaultTiming); err == nil {
		t.Error("Open without NATS and without a copy succeeded")
	}
	s.Close()
	wrong := make([]byte, 32)
	if _, err := open(ctx, Config{URL: n.URL(), SecretKey: wrong, CacheDir: dir}, defaultTiming); !errors.Is(err, ErrWrongSecretKey) {
		t.Errorf("Open from the copy with another key: %v, want ErrWrongSecretKey", err)
	}
	s = newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey, CacheDir: dir}, defaultTiming)
	events := s.Watch(ctx)

	// NATS comes back; the store binds, announces everything, and reads
	// what changed while it was cut off.
	n.Start()
	other = newStore(t, n.URL(), testKey)
	if err := other.DeleteWorker(ctx, "acme", "web"); err != nil {
		t.Fatal(err)
	}
	v3, err := other.Deploy(ctx, "acme", "api", []byte("\x00asm v3"), api.WorkerSettings{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	await(t, events, 15*time.Second, "", "", "the event for everything after binding")
	t.Logf("bound %v after NATS came back", time.Since(start))
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable after binding: %v", err)
	}
	w, err := s.Worker(ctx, "acme", "api")
	if err != nil || w.Active != v3.Number {
		t.Fatalf("Worker after binding: active %d, %v; want %d", w.Active, err, v3.Number)
	}
	_ = v2

	// The copy follows: with NATS gone again, the node serves v3 and no
	// longer the deleted worker.
	s.Close()
	n.Stop()
	s = newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey, CacheDir: dir}, defaultTiming)
	ws, err := s.Workers(ctx, "")
	if err != nil || len(ws) != 1 || ws[0].Name != "api" || ws[0].Active != v3.Number {
		t.Fatalf("Workers from the copy after catching up = %+v, %v", ws, err)
	}
	if _, err := s.Module(ctx, v3.SHA256); !errors.Is(err, store.ErrUnavailable) {
		// v3's module was never read by this node: the copy cannot have it.
		t.Errorf("Module v3 from the copy: %v, want ErrUnavailable", err)
	}
}

// serveState reads what a host reads to serve every worker, as text.
func serveState(t *testing.T, s *Store) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	ts, err := s.Tenants(ctx)
	if err != nil {
		t.Fatalf("Tenants: %v", err)
	}
	for _, tn := range ts {
		fmt.Fprintf(&b, "tenant %s\n", tn.Name)
	}
	if _, err := s.Tenant(ctx, "acme"); err != nil {
		t.Fatalf("Tenant: %v", err)
	}
	if _, err := s.Tenant(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Tenant nobody: %v", err)
	}
	ws, err := s.Workers(ctx, "")
	if err != nil {
		t.Fatalf("Workers: %v", err)
	}
	for _, w := range ws {
		v, _ := w.ActiveVersion()
		mod, err := s.Module(ctx, v.SHA256)
		if err != nil {
			t.Fatalf("Module %s/%s: %v", w.Tenant, w.Name, err)
		}
		sum := sha256.Sum256(mod)
		sec, err := s.Secrets(ctx, w.Tenant, w.Name)
		if err != nil {
			t.Fatalf("Secrets %s/%s: %v", w.Tenant, w.Name, err)
		}
		names, err := s.SecretNames(ctx, w.Tenant, w.Name)
		if err != nil {
			t.Fatalf("SecretNames: %v", err)
		}
		one, err := s.Worker(ctx, w.Tenant, w.Name)
		if err != nil || one.Active != w.Active {
			t.Fatalf("Worker %s/%s: %v", w.Tenant, w.Name, err)
		}
		settings, _ := json.Marshal(v.Settings)
		fmt.Fprintf(&b, "worker %s/%s v%d module %s settings %s secrets %v %v\n", w.Tenant, w.Name, w.Active, hex.EncodeToString(sum[:4]), settings, sec, names)
	}
	acme, err := s.Workers(ctx, "acme")
	if err != nil || len(acme) != len(ws) {
		t.Fatalf("Workers acme = %d, %v", len(acme), err)
	}
	if _, err := s.Workers(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Workers nobody: %v", err)
	}
	meta, err := s.Meta(ctx, "op")
	if err != nil {
		t.Fatalf("Meta: %v", err)
	}
	fmt.Fprintf(&b, "meta %s\n", meta)
	return b.String()
}

// TestModuleDigest: a module whose object holds other bytes is an error,
// never the wrong module.
func TestModuleDigest(t *testing.T) {
	n := startServer(t)
	s := newStore(t, n.URL(), testKey)
	setup(t, s)
	ctx := t.Context()
	v, err := s.Deploy(ctx, "acme", "web", []byte("\x00asm web"), api.WorkerSettings{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Worker(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	api1, _ := w.ActiveVersion()
	// Point web's reference at api's object.
	js := client(t, n.URL())
	refs, err := js.KeyValue(ctx, bucketModules)
	if err != nil {
		t.Fatal(err)
	}
	e, err := refs.Get(ctx, api1.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var ref moduleRef
	json.Unmarshal(e.Value(), &ref)
	e2, err := refs.Get(ctx, v.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var ref2 moduleRef
	json.Unmarshal(e2.Value(), &ref2)
	ref2.Object = ref.Object
	if _, err := refs.Put(ctx, v.SHA256, mustJSON(&ref2)); err != nil {
		t.Fatal(err)
	}
	fresh := newStore(t, n.URL(), testKey) // no local copy of web's module
	data, err := fresh.Module(ctx, v.SHA256)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Module with another module's object = %q, %v; want an error", data, err)
	}
	t.Logf("error: %v", err)
}
