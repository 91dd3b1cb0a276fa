// Package storetest is the test kit every store.Store backend runs: the
// behaviour the interface promises, checked through the interface alone.
//
// A backend's tests call Run with a function that returns a new, empty
// store:
//
//	func TestBolt(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := store.Open(filepath.Join(t.TempDir(), "wedge.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The subtests run in parallel, each on its own store; some close their
// store themselves, so the cleanup must tolerate a second Close.
package storetest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// wait bounds every wait for an event or a closed channel.
const wait = 10 * time.Second

// Run runs the kit against the backend that open creates.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Tenants", testTenants},
		{"Deploy", testDeploy},
		{"Activate", testActivate},
		{"Workers", testWorkers},
		{"DeleteWorker", testDeleteWorker},
		{"ContentAddressing", testContentAddressing},
		{"Meta", testMeta},
		{"Secrets", testSecrets},
		{"SecretsInvalid", testSecretsInvalid},
		{"SecretsLimit", testSecretsLimit},
		{"KV", testKV},
		{"KVInvalid", testKVInvalid},
		{"KVList", testKVList},
		{"KVLargeValue", testKVLargeValue},
		{"DeepCopy", testDeepCopy},
		{"InvalidNames", testInvalidNames},
		{"Watch", testWatch},
		{"WatchSlowReceiver", testWatchSlowReceiver},
		{"WatchCancel", testWatchCancel},
		{"WatchKV", testWatchKV},
		{"Canceled", testCanceled},
		{"Closed", testClosed},
		{"Hammer", testHammer},
		{"HammerSecretsKV", testHammerSecretsKV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func testTenants(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ts, err := s.Tenants(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("Tenants on an empty store = %v, %v; want none", ts, err)
	}
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	want := []store.Tenant{
		{Name: "charlie", TokenHash: sum("c"), Created: created},
		{Name: "alpha", TokenHash: sum("a"), Created: created.Add(time.Hour)},
		{Name: "bravo", Created: created.Add(2 * time.Hour)},
	}
	for _, tn := range want {
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatalf("CreateTenant(%s): %v", tn.Name, err)
		}
	}
	for _, tn := range want {
		got, err := s.Tenant(ctx, tn.Name)
		if err != nil {
			t.Fatalf("Tenant(%s): %v", tn.Name, err)
		}
		checkTenant(t, got, tn)
	}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"CreateTenant existing", func() error { return s.CreateTenant(ctx, store.Tenant{Name: "alpha"}) }, store.ErrExists},
		{"Tenant unknown", func() error { _, err := s.Tenant(ctx, "delta"); return err }, store.ErrNotFound},
		{"Tenant prefix of existing", func() error { _, err := s.Tenant(ctx, "alph"); return err }, store.ErrNotFound},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	// The failed CreateTenant changed nothing.
	got, err := s.Tenant(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	checkTenant(t, got, want[1])

	list, err := s.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(want)
	slices.SortFunc(sorted, func(a, b store.Tenant) int { return cmp.Compare(a.Name, b.Name) })
	if len(list) != len(sorted) {
		t.Fatalf("Tenants = %d tenants, want %d", len(list), len(sorted))
	}
	for i := range list {
		checkTenant(t, list[i], sorted[i])
	}
}

func testDeploy(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")

	for _, tt := range []struct {
		name           string
		tenant, worker string
	}{
		{"unknown tenant", "nobody", "api"},
		{"tenant prefix", "acm", "api"},
	} {
		if _, err := s.Deploy(ctx, tt.tenant, tt.worker, []byte("m"), api.WorkerSettings{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Deploy with %s: err = %v, want ErrNotFound", tt.name, err)
		}
	}
	if _, err := s.Worker(ctx, "nobody", "api"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed Deploy created its worker: Worker err = %v", err)
	}
	if _, err := s.Worker(ctx, "acme", "api"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Worker before any deploy: err = %v, want ErrNotFound", err)
	}

	before := time.Now().Add(-time.Second)
	deploys := []struct {
		module   []byte
		settings api.WorkerSettings
	}{
		{[]byte("\x00asm module one"), settings("one")},
		{[]byte("\x00asm module two"), api.WorkerSettings{}},
		{[]byte{}, settings("empty module")},
		{bytes.Repeat([]byte("big"), 200_000), settings("big")},
	}
	var versions []store.Version
	for i, d := range deploys {
		v, err := s.Deploy(ctx, "acme", "api", d.module, d.settings)
		if err != nil {
			t.Fatalf("Deploy #%d: %v", i+1, err)
		}
		want := store.Version{Number: i + 1, SHA256: hexSum(d.module), Size: int64(len(d.module)), Settings: d.settings}
		if v.Created.Before(before) || v.Created.After(time.Now().Add(time.Second)) {
			t.Errorf("Deploy #%d: Created = %v, want about now", i+1, v.Created)
		}
		want.Created = v.Created
		checkVersion(t, v, want)
		versions = append(versions, v)

		w, err := s.Worker(ctx, "acme", "api")
		if err != nil {
			t.Fatal(err)
		}
		if w.Tenant != "acme" || w.Name != "api" || w.Active != i+1 || w.Updated.IsZero() {
			t.Fatalf("after Deploy #%d: Worker = %s/%s active %d updated %v; want acme/api active %d",
				i+1, w.Tenant, w.Name, w.Active, w.Updated, i+1)
		}
		checkVersions(t, w.Versions, versions)
		if av, ok := w.ActiveVersion(); !ok || av.Number != i+1 {
			t.Fatalf("ActiveVersion = %d, %v; want %d", av.Number, ok, i+1)
		}

		m, err := s.Module(ctx, v.SHA256)
		if err != nil {
			t.Fatalf("Module(%s): %v", v.SHA256, err)
		}
		if !bytes.Equal(m, d.module) {
			t.Fatalf("Module(%s) = %d bytes, want the %d deployed", v.SHA256, len(m), len(d.module))
		}
	}
	if _, err := s.Module(ctx, hexSum([]byte("never deployed"))); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Module(unknown): err = %v, want ErrNotFound", err)
	}
}

func testActivate(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	deploy(t, s, "acme", "api", "v1")
	deploy(t, s, "acme", "api", "v2")
	deploy(t, s, "other", "web", "w1")

	for _, tt := range []struct {
		name           string
		tenant, worker string
		version        int
	}{
		{"unknown tenant", "nobody", "api", 1},
		{"unknown worker", "acme", "web", 1},
		{"worker of another tenant", "other", "api", 1},
		{"version 0", "acme", "api", 0},
		{"negative version", "acme", "api", -1},
		{"version past the last", "acme", "api", 3},
	} {
		if err := s.Activate(ctx, tt.tenant, tt.worker, tt.version); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Activate with %s: err = %v, want ErrNotFound", tt.name, err)
		}
	}
	checkActive(t, s, "acme", "api", 2, 2)

	// Roll back, deploy, roll forward: numbers are never reused.
	steps := []struct {
		deploy   string // module to deploy, or "" to activate
		activate int
		active   int // wanted afterwards
		last     int // wanted number of the last version
	}{
		{activate: 1, active: 1, last: 2},
		{deploy: "v3", active: 3, last: 3},
		{activate: 2, active: 2, last: 3},
		{activate: 2, active: 2, last: 3}, // activating the active version is fine
		{deploy: "v4", active: 4, last: 4},
		{activate: 1, active: 1, last: 4},
		{deploy: "v1", active: 5, last: 5}, // same module as v1: a new version all the same
	}
	for i, st := range steps {
		if st.deploy != "" {
			if v := deploy(t, s, "acme", "api", st.deploy); v.Number != st.active {
				t.Fatalf("step %d: Deploy = version %d, want %d", i, v.Number, st.active)
			}
		} else if err := s.Activate(ctx, "acme", "api", st.activate); err != nil {
			t.Fatalf("step %d: Activate(%d): %v", i, st.activate, err)
		}
		checkActive(t, s, "acme", "api", st.active, st.last)
	}
	// The other tenant's worker is untouched.
	checkActive(t, s, "other", "web", 1, 1)
}

func testWorkers(t *testing.T, s store.Store) {
	ctx := t.Context()
	// "ab" sorts between "a" and "b", and "a" is a prefix of it.
	for _, tn := range []string{"b", "ab", "a", "empty"} {
		createTenant(t, s, tn)
	}
	for _, tw := range [][2]string{{"b", "z"}, {"a", "y"}, {"ab", "w"}, {"a", "x"}, {"a", "x-2"}, {"b", "a"}} {
		deploy(t, s, tw[0], tw[1], tw[0]+"/"+tw[1])
	}
	deploy(t, s, "a", "x", "second version")

	tests := []struct {
		tenant string
		want   []string // tenant/name
	}{
		{"a", []string{"a/x", "a/x-2", "a/y"}},
		{"ab", []string{"ab/w"}},
		{"b", []string{"b/a", "b/z"}},
		{"empty", nil},
		{"", []string{"a/x", "a/x-2", "a/y", "ab/w", "b/a", "b/z"}},
	}
	for _, tt := range tests {
		ws, err := s.Workers(ctx, tt.tenant)
		if err != nil {
			t.Fatalf("Workers(%q): %v", tt.tenant, err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.Tenant+"/"+w.Name)
			one, err := s.Worker(ctx, w.Tenant, w.Name)
			if err != nil {
				t.Fatal(err)
			}
			checkWorker(t, w, one)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Workers(%q) = %q, want %q", tt.tenant, got, tt.want)
		}
	}
	if _, err := s.Workers(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Workers(unknown tenant): err = %v, want ErrNotFound", err)
	}
}

func testDeleteWorker(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	deploy(t, s, "acme", "api", "v1")
	deploy(t, s, "acme", "api", "v2")
	deploy(t, s, "acme", "web", "web")
	deploy(t, s, "other", "api", "other api")

	for _, tt := range []struct {
		name           string
		tenant, worker string
	}{
		{"unknown tenant", "nobody", "api"},
		{"unknown worker", "acme", "nope"},
		{"worker of another tenant", "other", "web"},
	} {
		if err := s.DeleteWorker(ctx, tt.tenant, tt.worker); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteWorker with %s: err = %v, want ErrNotFound", tt.name, err)
		}
	}

	if err := s.DeleteWorker(ctx, "acme", "api"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Worker(ctx, "acme", "api"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Worker after DeleteWorker: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteWorker(ctx, "acme", "api"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteWorker: err = %v, want ErrNotFound", err)
	}
	if err := s.Activate(ctx, "acme", "api", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Activate after DeleteWorker: err = %v, want ErrNotFound", err)
	}
	ws, err := s.Workers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Tenant+"/"+w.Name)
	}
	if want := []string{"acme/web", "other/api"}; !slices.Equal(names, want) {
		t.Errorf("Workers after DeleteWorker = %q, want %q", names, want)
	}
	checkActive(t, s, "other", "api", 1, 1)

	// The name can be deployed again, as a new worker.
	v := deploy(t, s, "acme", "api", "reborn")
	w, err := s.Worker(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Versions) != 1 || w.Active != v.Number || w.Versions[0].SHA256 != hexSum([]byte("reborn")) {
		t.Errorf("re-created worker = active %d, %d versions; want only the new version", w.Active, len(w.Versions))
	}
}

func testContentAddressing(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	shared := []byte("\x00asm shared module")
	sha := hexSum(shared)

	v1 := deploy(t, s, "acme", "one", string(shared))
	v2 := deploy(t, s, "other", "two", string(shared))
	if v1.SHA256 != sha || v2.SHA256 != sha {
		t.Fatalf("SHA256 = %s and %s, want %s for both", v1.SHA256, v2.SHA256, sha)
	}
	// "one" refers to the module twice, and to one of its own.
	deploy(t, s, "acme", "one", "only one")
	deploy(t, s, "acme", "one", string(shared))
	only := hexSum([]byte("only one"))

	present := func(sha string, want bool) {
		t.Helper()
		m, err := s.Module(ctx, sha)
		switch {
		case want && err != nil:
			t.Fatalf("Module(%s): %v", sha, err)
		case !want && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("Module(%s) = %d bytes, %v; want ErrNotFound", sha, len(m), err)
		case want && hexSum(m) != sha:
			t.Fatalf("Module(%s) returned bytes hashing to %s", sha, hexSum(m))
		}
	}
	present(sha, true)
	present(only, true)

	if err := s.DeleteWorker(ctx, "other", "two"); err != nil {
		t.Fatal(err)
	}
	present(sha, true)
	present(only, true)

	if err := s.DeleteWorker(ctx, "acme", "one"); err != nil {
		t.Fatal(err)
	}
	present(sha, false)
	present(only, false)

	// Deploying it again stores it again.
	deploy(t, s, "acme", "three", string(shared))
	present(sha, true)
}

func testMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Meta(ctx, "operator"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Meta(absent): err = %v, want ErrNotFound", err)
	}
	for _, value := range [][]byte{[]byte("hash one"), []byte("hash two"), {}, bytes.Repeat([]byte{0xff}, 10_000)} {
		if err := s.PutMeta(ctx, "operator", value); err != nil {
			t.Fatalf("PutMeta(%d bytes): %v", len(value), err)
		}
		got, err := s.Meta(ctx, "operator")
		if err != nil {
			t.Fatalf("Meta after PutMeta(%d bytes): %v", len(value), err)
		}
		if !bytes.Equal(got, value) {
			t.Fatalf("Meta = %q, want %q", trim(got), trim(value))
		}
	}
	if err := s.PutMeta(ctx, "other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Meta(ctx, "operator"); err != nil || len(got) != 10_000 {
		t.Fatalf("PutMeta of another key changed operator: %d bytes, %v", len(got), err)
	}
	if _, err := s.Meta(ctx, "operato"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Meta(prefix of a key): err = %v, want ErrNotFound", err)
	}
}

// testDeepCopy checks that neither the values passed in nor the values
// returned share memory with what the store keeps.
func testDeepCopy(t *testing.T, s store.Store) {
	ctx := t.Context()

	hash := sum("token")
	if err := s.CreateTenant(ctx, store.Tenant{Name: "acme", TokenHash: hash}); err != nil {
		t.Fatal(err)
	}
	hash[0] ^= 0xff
	tn, err := s.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tn.TokenHash, sum("token")) {
		t.Fatal("changing the TokenHash passed to CreateTenant changed the stored tenant")
	}
	tn.TokenHash[0] ^= 0xff
	ts, err := s.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ts[0].TokenHash, sum("token")) {
		t.Fatal("changing a TokenHash returned by Tenant changed the stored tenant")
	}
	ts[0].TokenHash[0] ^= 0xff
	if tn, _ := s.Tenant(ctx, "acme"); !bytes.Equal(tn.TokenHash, sum("token")) {
		t.Fatal("changing a TokenHash returned by Tenants changed the stored tenant")
	}

	module := []byte("\x00asm module")
	set := settings("original")
	v, err := s.Deploy(ctx, "acme", "api", module, set)
	if err != nil {
		t.Fatal(err)
	}
	module[0] = 'X'
	set.Vars["name"] = "changed input"
	set.Routes[0].Pattern = "changed.example.com/*"
	set.KVNamespaces[0].Binding = "CHANGED"
	v.Settings.Vars["name"] = "changed result"
	v.Settings.Routes[0].Pattern = "result.example.com/*"

	check := func(what string) {
		t.Helper()
		w, err := s.Worker(ctx, "acme", "api")
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Versions) != 1 || !reflect.DeepEqual(w.Versions[0].Settings, settings("original")) {
			t.Fatalf("%s changed the stored worker: %+v", what, w.Versions)
		}
		m, err := s.Module(ctx, hexSum([]byte("\x00asm module")))
		if err != nil || !bytes.Equal(m, []byte("\x00asm module")) {
			t.Fatalf("%s changed the stored module: %q, %v", what, m, err)
		}
	}
	check("changing what was passed to and returned by Deploy")

	w, err := s.Worker(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	w.Versions[0].Settings.Vars["name"] = "changed"
	w.Versions[0].Settings.Routes[0].Pattern = "changed"
	w.Versions[0].Settings.KVNamespaces = nil
	w.Versions[0].Number = 99
	w.Versions = append(w.Versions[:0], store.Version{Number: 42})
	check("changing a Worker result")

	ws, err := s.Workers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ws[0].Versions[0].Settings.Vars["name"] = "changed"
	ws[0].Versions[0].SHA256 = "changed"
	check("changing a Workers result")

	m, err := s.Module(ctx, hexSum([]byte("\x00asm module")))
	if err != nil {
		t.Fatal(err)
	}
	m[0] = 'X'
	check("changing a Module result")

	value := []byte("value")
	if err := s.PutMeta(ctx, "key", value); err != nil {
		t.Fatal(err)
	}
	value[0] = 'X'
	got, err := s.Meta(ctx, "key")
	if err != nil || string(got) != "value" {
		t.Fatalf("changing the value passed to PutMeta changed it: %q, %v", got, err)
	}
	got[0] = 'X'
	if got, _ := s.Meta(ctx, "key"); string(got) != "value" {
		t.Fatalf("changing a Meta result changed it: %q", got)
	}

	testDeepCopySecretsKV(t, s)
}

// testDeepCopySecretsKV is testDeepCopy for secrets and KV values.
func testDeepCopySecretsKV(t *testing.T, s store.Store) {
	ctx := t.Context()
	secret := []byte("s3cret")
	if err := s.PutSecret(ctx, "acme", "api", "TOKEN", secret); err != nil {
		t.Fatal(err)
	}
	secret[0] = 'X'
	got, err := s.Secrets(ctx, "acme", "api")
	if err != nil || got["TOKEN"] != "s3cret" {
		t.Fatalf("changing the value passed to PutSecret changed it: %q, %v", got["TOKEN"], err)
	}
	got["TOKEN"] = "changed"
	got["NEW"] = "added"
	checkSecrets(t, s, "acme", "api", map[string]string{"TOKEN": "s3cret"})
	names, err := s.SecretNames(ctx, "acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	names[0] = "CHANGED"
	checkSecrets(t, s, "acme", "api", map[string]string{"TOKEN": "s3cret"})

	value := []byte("value")
	if err := s.KVPut(ctx, "acme", "NS", "k", value); err != nil {
		t.Fatal(err)
	}
	value[0] = 'X'
	v, err := s.KVGet(ctx, "acme", "NS", "k")
	if err != nil || string(v) != "value" {
		t.Fatalf("changing the value passed to KVPut changed it: %q, %v", v, err)
	}
	v[0] = 'X'
	if v, _ := s.KVGet(ctx, "acme", "NS", "k"); string(v) != "value" {
		t.Fatalf("changing a KVGet result changed it: %q", v)
	}
	keys, err := s.KVList(ctx, "acme", "NS", "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	keys[0] = "changed"
	checkKeys(t, s, "acme", "NS", "", []string{"k"})
}

func testInvalidNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	tests := []struct {
		name string
		call func() error
	}{
		{"CreateTenant empty", func() error { return s.CreateTenant(ctx, store.Tenant{}) }},
		{"Deploy empty worker", func() error {
			_, err := s.Deploy(ctx, "acme", "", []byte("m"), api.WorkerSettings{})
			return err
		}},
		{"PutMeta empty key", func() error { return s.PutMeta(ctx, "", []byte("v")) }},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
		}
	}
	if ts, err := s.Tenants(ctx); err != nil || len(ts) != 1 {
		t.Errorf("Tenants after rejected writes = %d tenants, %v; want 1", len(ts), err)
	}
	if ws, err := s.Workers(ctx, ""); err != nil || len(ws) != 0 {
		t.Errorf("Workers after rejected writes = %d workers, %v; want none", len(ws), err)
	}
}

func testWatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	events := s.Watch(ctx)
	other := s.Watch(ctx) // a second watcher sees the same changes

	writes := []struct {
		name           string
		tenant, worker string // the scope the event must cover
		write          func() error
	}{
		{"CreateTenant", "acme", "", func() error { return s.CreateTenant(ctx, store.Tenant{Name: "acme"}) }},
		{"Deploy", "acme", "api", func() error {
			_, err := s.Deploy(ctx, "acme", "api", []byte("v1"), api.WorkerSettings{})
			return err
		}},
		{"Deploy again", "acme", "api", func() error {
			_, err := s.Deploy(ctx, "acme", "api", []byte("v2"), api.WorkerSettings{})
			return err
		}},
		{"Activate", "acme", "api", func() error { return s.Activate(ctx, "acme", "api", 1) }},
		{"Deploy another", "acme", "web", func() error {
			_, err := s.Deploy(ctx, "acme", "web", []byte("web"), api.WorkerSettings{})
			return err
		}},
		{"PutSecret", "acme", "api", func() error { return s.PutSecret(ctx, "acme", "api", "TOKEN", []byte("s3cret")) }},
		{"PutSecret again", "acme", "api", func() error { return s.PutSecret(ctx, "acme", "api", "TOKEN", []byte("other")) }},
		{"PutSecret on another worker", "acme", "web", func() error { return s.PutSecret(ctx, "acme", "web", "TOKEN", nil) }},
		{"DeleteSecret", "acme", "api", func() error { return s.DeleteSecret(ctx, "acme", "api", "TOKEN") }},
		{"DeleteWorker", "acme", "api", func() error { return s.DeleteWorker(ctx, "acme", "api") }},
		{"PutMeta", "", "", func() error { return s.PutMeta(ctx, "k", []byte("v")) }},
	}
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		for _, ch := range []<-chan store.Event{events, other} {
			awaitEvent(t, ch, w.tenant, w.worker, w.name)
		}
	}
}

// testWatchSlowReceiver checks that a receiver that does not read blocks no
// write and, when it reads, learns of the changes it missed.
func testWatchSlowReceiver(t *testing.T, s store.Store) {
	ctx := t.Context()
	events := s.Watch(ctx)
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			if _, err := s.Deploy(ctx, "acme", "api", fmt.Appendf(nil, "v%d", i), api.WorkerSettings{}); err != nil {
				t.Error(err)
				return
			}
		}
		if _, err := s.Deploy(ctx, "other", "web", []byte("web"), api.WorkerSettings{}); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("writes blocked on a watcher that does not read")
	}
	// However they were coalesced, the changes to both workers are
	// reported.
	api, web := false, false
	timeout := time.After(wait)
	for !api || !web {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("Watch channel closed")
			}
			api = api || covers(ev, "acme", "api")
			web = web || covers(ev, "other", "web")
		case <-timeout:
			t.Fatalf("after deploys to acme/api and other/web: events covered api %v, web %v", api, web)
		}
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	events := s.Watch(ctx)
	keep := s.Watch(t.Context())
	createTenant(t, s, "acme")
	cancel()
	awaitClosed(t, events, "after its context was canceled")

	// The watcher whose context is live still works.
	deploy(t, s, "acme", "api", "v1")
	awaitEvent(t, keep, "acme", "api", "Deploy after another watcher's cancel")

	// A watch whose context is done already closes at once.
	awaitClosed(t, s.Watch(ctx), "opened with a canceled context")
}

func testCanceled(t *testing.T, s store.Store) {
	createTenant(t, s, "acme")
	v := deploy(t, s, "acme", "api", "v1")
	if err := s.PutMeta(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	putSecret(t, s, "acme", "api", "OLD", "old secret")
	kvPut(t, s, "acme", "NS", "old", "old value")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, err := range calls(ctx, s, v.SHA256) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: err = %v, want context.Canceled", name, err)
		}
	}
	// Nothing changed.
	checkActive(t, s, "acme", "api", 1, 1)
	if _, err := s.Tenant(t.Context(), "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateTenant with a canceled context created the tenant: err = %v", err)
	}
	checkSecrets(t, s, "acme", "api", map[string]string{"OLD": "old secret"})
	checkKeys(t, s, "acme", "NS", "", []string{"old"})
}

func testClosed(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	v := deploy(t, s, "acme", "api", "v1")
	putSecret(t, s, "acme", "api", "OLD", "old secret")
	kvPut(t, s, "acme", "NS", "old", "old value")
	events := s.Watch(ctx)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	awaitClosed(t, events, "after Close")
	for name, err := range calls(ctx, s, v.SHA256) {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	awaitClosed(t, s.Watch(ctx), "opened after Close")
}

// calls calls every method but Watch and Close, yielding their errors.
func calls(ctx context.Context, s store.Store, sha string) func(yield func(string, error) bool) {
	return func(yield func(string, error) bool) {
		_ = yield("CreateTenant", s.CreateTenant(ctx, store.Tenant{Name: "new"})) &&
			yield("Tenant", second(s.Tenant(ctx, "acme"))) &&
			yield("Tenants", second(s.Tenants(ctx))) &&
			yield("Deploy", second(s.Deploy(ctx, "acme", "api", []byte("v2"), api.WorkerSettings{}))) &&
			yield("Activate", s.Activate(ctx, "acme", "api", 1)) &&
			yield("Worker", second(s.Worker(ctx, "acme", "api"))) &&
			yield("Workers", second(s.Workers(ctx, "acme"))) &&
			yield("Workers all", second(s.Workers(ctx, ""))) &&
			yield("DeleteWorker", s.DeleteWorker(ctx, "acme", "api")) &&
			yield("Module", second(s.Module(ctx, sha))) &&
			yield("Meta", second(s.Meta(ctx, "k"))) &&
			yield("PutMeta", s.PutMeta(ctx, "k", []byte("v2"))) &&
			yield("PutSecret", s.PutSecret(ctx, "acme", "api", "NEW", []byte("v"))) &&
			yield("DeleteSecret", s.DeleteSecret(ctx, "acme", "api", "OLD")) &&
			yield("SecretNames", second(s.SecretNames(ctx, "acme", "api"))) &&
			yield("Secrets", second(s.Secrets(ctx, "acme", "api"))) &&
			yield("KVPut", s.KVPut(ctx, "acme", "NS", "new", []byte("v"))) &&
			yield("KVGet", second(s.KVGet(ctx, "acme", "NS", "old"))) &&
			yield("KVDelete", s.KVDelete(ctx, "acme", "NS", "old")) &&
			yield("KVList", second(s.KVList(ctx, "acme", "NS", "", "", 0)))
	}
}

// testHammer runs deploys, rollbacks, deletes and reads from many
// goroutines at once, then checks that no write was lost or mixed up.
func testHammer(t *testing.T, s store.Store) {
	const (
		goroutines = 8
		rounds     = 8
	)
	ctx := t.Context()
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	common := []byte("\x00asm common module")
	deploy(t, s, "other", "pin", string(common)) // keeps common alive throughout

	watchCtx, stopWatch := context.WithCancel(ctx)
	events := s.Watch(watchCtx)
	var watched sync.WaitGroup
	watched.Go(func() {
		for range events {
		}
	})

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			own := fmt.Sprintf("w%d", g)
			for i := range rounds {
				module := fmt.Appendf(nil, "\x00asm %s round %d", own, i)
				if i%3 == 0 {
					module = common
				}
				v, err := s.Deploy(ctx, "acme", own, module, settings(own))
				if err != nil {
					t.Errorf("Deploy %s: %v", own, err)
					return
				}
				if v.Number != i+1 {
					t.Errorf("Deploy %s round %d: version %d, want %d", own, i, v.Number, i+1)
				}
				if _, err := s.Deploy(ctx, "acme", "shared", module, settings(own)); err != nil {
					t.Errorf("Deploy shared: %v", err)
					return
				}
				if err := s.Activate(ctx, "acme", own, 1+i/2); err != nil {
					t.Errorf("Activate %s: %v", own, err)
				}
				tmp := own + "-tmp"
				if _, err := s.Deploy(ctx, "other", tmp, common, api.WorkerSettings{}); err != nil {
					t.Errorf("Deploy %s: %v", tmp, err)
					return
				}
				if err := s.DeleteWorker(ctx, "other", tmp); err != nil {
					t.Errorf("DeleteWorker %s: %v", tmp, err)
				}

				if m, err := s.Module(ctx, v.SHA256); err != nil || hexSum(m) != v.SHA256 {
					t.Errorf("Module(%s) = %d bytes, %v", v.SHA256, len(m), err)
				}
				if m, err := s.Module(ctx, hexSum(common)); err != nil || !bytes.Equal(m, common) {
					t.Errorf("Module(common) = %q, %v", m, err)
				}
				w, err := s.Worker(ctx, "acme", "shared")
				if err != nil {
					t.Errorf("Worker shared: %v", err)
				} else if _, ok := w.ActiveVersion(); !ok {
					t.Errorf("shared: active version %d is not among its %d versions", w.Active, len(w.Versions))
				}
				if _, err := s.Workers(ctx, ""); err != nil {
					t.Errorf("Workers: %v", err)
				}
			}
		})
	}
	wg.Wait()
	stopWatch()
	watched.Wait()
	if t.Failed() {
		return
	}

	ws, err := s.Workers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != goroutines+2 {
		t.Errorf("%d workers, want %d", len(ws), goroutines+2)
	}
	for _, w := range ws {
		want := rounds
		switch w.Name {
		case "pin":
			want = 1
		case "shared":
			want = goroutines * rounds
		}
		if len(w.Versions) != want {
			t.Errorf("%s/%s has %d versions, want %d", w.Tenant, w.Name, len(w.Versions), want)
		}
		for i, v := range w.Versions {
			if v.Number != i+1 {
				t.Errorf("%s/%s: version #%d is numbered %d", w.Tenant, w.Name, i+1, v.Number)
			}
			if m, err := s.Module(ctx, v.SHA256); err != nil || hexSum(m) != v.SHA256 {
				t.Errorf("%s/%s v%d: Module(%s) = %d bytes, %v", w.Tenant, w.Name, v.Number, v.SHA256, len(m), err)
			}
		}
		if _, ok := w.ActiveVersion(); !ok {
			t.Errorf("%s/%s: active version %d does not exist", w.Tenant, w.Name, w.Active)
		}
		if w.Tenant == "acme" && w.Name != "shared" && w.Active != 1+(rounds-1)/2 {
			t.Errorf("%s/%s: active %d, want %d", w.Tenant, w.Name, w.Active, 1+(rounds-1)/2)
		}
	}
}

// awaitEvent receives from events until an event covers the change to
// tenant and worker (an empty worker: to the tenant itself; both empty: to
// the host). Earlier, unrelated events may arrive first.
func awaitEvent(t *testing.T, events <-chan store.Event, tenant, worker, after string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("Watch channel closed while waiting for the event after %s", after)
			}
			if covers(ev, tenant, worker) {
				return
			}
		case <-timeout:
			t.Fatalf("no event covering %q/%q after %s", tenant, worker, after)
		}
	}
}

func covers(ev store.Event, tenant, worker string) bool {
	switch {
	case ev.Tenant == "":
		return ev.Worker == ""
	case ev.Tenant != tenant:
		return false
	default:
		return ev.Worker == "" || ev.Worker == worker
	}
}

// awaitClosed drains events until the channel is closed.
func awaitClosed(t *testing.T, events <-chan store.Event, what string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("Watch channel not closed %s", what)
		}
	}
}

func createTenant(t *testing.T, s store.Store, name string) {
	t.Helper()
	if err := s.CreateTenant(t.Context(), store.Tenant{Name: name, TokenHash: sum(name), Created: time.Now()}); err != nil {
		t.Fatalf("CreateTenant(%s): %v", name, err)
	}
}

func deploy(t *testing.T, s store.Store, tenant, worker, module string) store.Version {
	t.Helper()
	v, err := s.Deploy(t.Context(), tenant, worker, []byte(module), settings(module))
	if err != nil {
		t.Fatalf("Deploy(%s/%s): %v", tenant, worker, err)
	}
	return v
}

// checkActive checks a worker's active version and that its versions are
// numbered 1 to last.
func checkActive(t *testing.T, s store.Store, tenant, worker string, active, last int) {
	t.Helper()
	w, err := s.Worker(t.Context(), tenant, worker)
	if err != nil {
		t.Fatalf("Worker(%s/%s): %v", tenant, worker, err)
	}
	var numbers []int
	for _, v := range w.Versions {
		numbers = append(numbers, v.Number)
	}
	want := make([]int, last)
	for i := range want {
		want[i] = i + 1
	}
	if w.Active != active || !slices.Equal(numbers, want) {
		t.Fatalf("%s/%s: active %d, versions %v; want active %d, versions %v", tenant, worker, w.Active, numbers, active, want)
	}
	if v, ok := w.ActiveVersion(); !ok || v.Number != active {
		t.Fatalf("%s/%s: ActiveVersion = %d, %v; want %d", tenant, worker, v.Number, ok, active)
	}
}

func checkTenant(t *testing.T, got, want store.Tenant) {
	t.Helper()
	if got.Name != want.Name || !bytes.Equal(got.TokenHash, want.TokenHash) || !got.Created.Equal(want.Created) {
		t.Errorf("tenant = %+v, want %+v", got, want)
	}
}

func checkWorker(t *testing.T, got, want store.Worker) {
	t.Helper()
	if got.Tenant != want.Tenant || got.Name != want.Name || got.Active != want.Active || !got.Updated.Equal(want.Updated) {
		t.Errorf("worker = %s/%s active %d updated %v, want %s/%s active %d updated %v",
			got.Tenant, got.Name, got.Active, got.Updated, want.Tenant, want.Name, want.Active, want.Updated)
	}
	checkVersions(t, got.Versions, want.Versions)
}

func checkVersions(t *testing.T, got, want []store.Version) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d versions, want %d", len(got), len(want))
	}
	for i := range got {
		checkVersion(t, got[i], want[i])
	}
}

func checkVersion(t *testing.T, got, want store.Version) {
	t.Helper()
	if got.Number != want.Number || got.SHA256 != want.SHA256 || got.Size != want.Size ||
		!got.Created.Equal(want.Created) || !reflect.DeepEqual(got.Settings, want.Settings) {
		t.Errorf("version = %+v, want %+v", got, want)
	}
}

// settings returns settings with every field set, derived from name.
func settings(name string) api.WorkerSettings {
	return api.WorkerSettings{
		Vars:         map[string]string{"name": name, "env": "test"},
		Limits:       api.Limits{CPUMillis: 10, MemoryMB: 64},
		Routes:       []api.Route{{Pattern: "shop.example.com/api/*"}, {Pattern: "*.example.net/*"}},
		KVNamespaces: []api.KVBinding{{Binding: "CACHE"}},
	}
}

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func second[T any](_ T, err error) error { return err }

// trim shortens a value for a failure message.
func trim(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
