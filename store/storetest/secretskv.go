package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

func testSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	deploy(t, s, "acme", "api", "v1")
	deploy(t, s, "acme", "api-2", "v1") // "api" is a prefix of its name
	deploy(t, s, "other", "api", "v1")

	// A worker without secrets lists none, as empty, not nil, values.
	checkSecrets(t, s, "acme", "api", map[string]string{})

	for _, tt := range []struct {
		name           string
		tenant, worker string
	}{
		{"unknown tenant", "nobody", "api"},
		{"unknown worker", "acme", "web"},
		{"prefix of a worker", "acme", "ap"},
		{"worker of another tenant", "other", "api-2"},
	} {
		if err := s.PutSecret(ctx, tt.tenant, tt.worker, "TOKEN", []byte("x")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutSecret on %s: err = %v, want ErrNotFound", tt.name, err)
		}
		if err := s.DeleteSecret(ctx, tt.tenant, tt.worker, "TOKEN"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSecret on %s: err = %v, want ErrNotFound", tt.name, err)
		}
		if names, err := s.SecretNames(ctx, tt.tenant, tt.worker); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SecretNames on %s = %q, %v; want ErrNotFound", tt.name, names, err)
		}
		if _, err := s.Secrets(ctx, tt.tenant, tt.worker); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Secrets on %s: err = %v, want ErrNotFound", tt.name, err)
		}
	}

	max := strings.Repeat("v", api.MaxSecretBytes)
	want := map[string]string{
		"TOKEN":  "s3cret",
		"EMPTY":  "",
		"_under": "line one\nline two\r\n\t\x01\xff", // any byte but NUL
		"UTF8":   "héllo, 世界",
		"MAX":    max,
		"Z9":     "z",
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		putSecret(t, s, "acme", "api", k, want[k])
	}
	putSecret(t, s, "acme", "api-2", "TOKEN", "api-2's")
	putSecret(t, s, "other", "api", "TOKEN", "other's")
	checkSecrets(t, s, "acme", "api", want)
	checkSecrets(t, s, "acme", "api-2", map[string]string{"TOKEN": "api-2's"})
	checkSecrets(t, s, "other", "api", map[string]string{"TOKEN": "other's"})

	// Put replaces.
	putSecret(t, s, "acme", "api", "TOKEN", "rotated")
	want["TOKEN"] = "rotated"
	checkSecrets(t, s, "acme", "api", want)

	// Deploys and rollbacks leave secrets alone: they belong to the worker,
	// not to a version.
	deploy(t, s, "acme", "api", "v2")
	if err := s.Activate(ctx, "acme", "api", 1); err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, s, "acme", "api", want)

	if err := s.DeleteSecret(ctx, "acme", "api", "EMPTY"); err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	delete(want, "EMPTY")
	checkSecrets(t, s, "acme", "api", want)
	for _, k := range []string{"EMPTY", "TOKE", "TOKENS", "token"} {
		if err := s.DeleteSecret(ctx, "acme", "api", k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSecret(%s) of an absent secret: err = %v, want ErrNotFound", k, err)
		}
	}
	checkSecrets(t, s, "acme", "api", want)

	// Deleting a worker deletes its secrets, and only its own; a worker
	// deployed again under the name starts with none.
	if err := s.DeleteWorker(ctx, "acme", "api"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secrets(ctx, "acme", "api"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Secrets of a deleted worker: err = %v, want ErrNotFound", err)
	}
	checkSecrets(t, s, "acme", "api-2", map[string]string{"TOKEN": "api-2's"})
	checkSecrets(t, s, "other", "api", map[string]string{"TOKEN": "other's"})
	deploy(t, s, "acme", "api", "reborn")
	checkSecrets(t, s, "acme", "api", map[string]string{})
}

func testSecretsInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	deploy(t, s, "acme", "api", "v1")
	for _, tt := range []struct {
		name, key, value string
	}{
		{"empty name", "", "v"},
		{"name with a digit first", "1A", "v"},
		{"name with a hyphen", "A-B", "v"},
		{"name with a space", "A B", "v"},
		{"name with NUL", "A\x00B", "v"},
		{"name with '='", "A=B", "v"},
		{"non-ASCII name", "É", "v"},
		{"name too long", strings.Repeat("A", api.MaxEnvNameBytes+1), "v"},
		{"value with NUL", "A", "x\x00y"},
		{"value too large", "A", strings.Repeat("v", api.MaxSecretBytes+1)},
	} {
		err := s.PutSecret(ctx, "acme", "api", tt.key, []byte(tt.value))
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutSecret with %s: err = %v, want ErrInvalid", tt.name, err)
		}
		if err != nil && len(tt.value) > 1 && strings.Contains(err.Error(), tt.value) {
			t.Errorf("PutSecret with %s: the error quotes the value", tt.name)
		}
	}
	for _, key := range []string{"", "1A", "A\x00B"} {
		if err := s.DeleteSecret(ctx, "acme", "api", key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("DeleteSecret(%q): err = %v, want ErrInvalid", key, err)
		}
	}
	// The longest name is fine.
	long := strings.Repeat("A", api.MaxEnvNameBytes)
	putSecret(t, s, "acme", "api", long, "v")
	checkSecrets(t, s, "acme", "api", map[string]string{long: "v"})
}

func testSecretsLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	deploy(t, s, "acme", "api", "v1")
	deploy(t, s, "acme", "web", "v1")
	want := map[string]string{}
	for i := range api.MaxSecretsPerWorker {
		k := fmt.Sprintf("S%03d", i)
		putSecret(t, s, "acme", "api", k, k)
		want[k] = k
	}
	if err := s.PutSecret(ctx, "acme", "api", "ONE_MORE", nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("secret #%d: err = %v, want ErrInvalid", api.MaxSecretsPerWorker+1, err)
	}
	// Replacing one at the limit is fine, and the limit is per worker.
	putSecret(t, s, "acme", "api", "S000", "rotated")
	want["S000"] = "rotated"
	putSecret(t, s, "acme", "web", "ONE_MORE", "x")
	checkSecrets(t, s, "acme", "api", want)
	// After a delete there is room again.
	if err := s.DeleteSecret(ctx, "acme", "api", "S001"); err != nil {
		t.Fatal(err)
	}
	putSecret(t, s, "acme", "api", "ONE_MORE", "x")
}

func testKV(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	createTenant(t, s, "other")

	if _, err := s.KVGet(ctx, "acme", "NS", "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("KVGet of an absent key: err = %v, want ErrNotFound", err)
	}
	if err := s.KVDelete(ctx, "acme", "NS", "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("KVDelete of an absent key: err = %v, want ErrNotFound", err)
	}
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"KVPut", func() error { return s.KVPut(ctx, "nobody", "NS", "k", []byte("v")) }},
		{"KVGet", func() error { _, err := s.KVGet(ctx, "nobody", "NS", "k"); return err }},
		{"KVDelete", func() error { return s.KVDelete(ctx, "nobody", "NS", "k") }},
		{"KVList", func() error { _, err := s.KVList(ctx, "nobody", "NS", "", "", 0); return err }},
		{"KVPut tenant prefix", func() error { return s.KVPut(ctx, "acm", "NS", "k", []byte("v")) }},
	} {
		if err := tt.call(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of an unknown tenant: err = %v, want ErrNotFound", tt.name, err)
		}
	}

	entries := []struct{ tenant, ns, key, value string }{
		{"acme", "NS", "k", "v"},
		{"acme", "NS", "a/b/c", "slashes"},
		{"acme", "NS", "/leading/and/trailing/", "edges"},
		{"acme", "NS", "with space and ?#%", "punctuation"},
		{"acme", "NS", "ключ 🔑", "unicode"},
		{"acme", "NS", "empty", ""},
		{"acme", "NS", "binary", "\x00\x01\xff\xfe"},
		{"acme", "NS", strings.Repeat("k", api.MaxKVKeyBytes), "the longest key"},
		{"acme", "NS2", "k", "another namespace"},
		{"acme", "N", "S\x01k", "a namespace that is a prefix"},
		{"other", "NS", "k", "another tenant"},
	}
	for _, e := range entries {
		if err := s.KVPut(ctx, e.tenant, e.ns, e.key, []byte(e.value)); err != nil {
			t.Fatalf("KVPut(%s, %s, %.20q): %v", e.tenant, e.ns, e.key, err)
		}
	}
	for _, e := range entries {
		checkKV(t, s, e.tenant, e.ns, e.key, e.value)
	}

	// Put replaces; the empty value is a value.
	if err := s.KVPut(ctx, "acme", "NS", "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	checkKV(t, s, "acme", "NS", "k", "v2")
	checkKV(t, s, "acme", "NS2", "k", "another namespace")
	checkKV(t, s, "other", "NS", "k", "another tenant")
	if v, err := s.KVGet(ctx, "acme", "NS", "empty"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("KVGet(empty) = %q (nil %v), %v; want an empty, non-nil value", v, v == nil, err)
	}

	// Delete removes one key of one namespace of one tenant.
	if err := s.KVDelete(ctx, "acme", "NS", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVGet(ctx, "acme", "NS", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KVGet after KVDelete: err = %v, want ErrNotFound", err)
	}
	if err := s.KVDelete(ctx, "acme", "NS", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second KVDelete: err = %v, want ErrNotFound", err)
	}
	checkKV(t, s, "acme", "NS2", "k", "another namespace")
	checkKV(t, s, "other", "NS", "k", "another tenant")
	checkKV(t, s, "acme", "NS", "a/b/c", "slashes")

	// Deleting a worker leaves the tenant's KV alone.
	deploy(t, s, "acme", "api", "v1")
	if err := s.DeleteWorker(ctx, "acme", "api"); err != nil {
		t.Fatal(err)
	}
	checkKV(t, s, "acme", "NS", "a/b/c", "slashes")
}

func testKVInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	for _, tt := range []struct {
		name, ns, key string
	}{
		{"empty namespace", "", "k"},
		{"namespace with a hyphen", "A-B", "k"},
		{"namespace with a digit first", "1NS", "k"},
		{"namespace with NUL", "N\x00S", "k"},
		{"namespace too long", strings.Repeat("N", api.MaxKVNamespaceBytes+1), "k"},
		{"empty key", "NS", ""},
		{"key with NUL", "NS", "a\x00b"},
		{"key of invalid UTF-8", "NS", "a\xffb"},
		{"key too long", "NS", strings.Repeat("k", api.MaxKVKeyBytes+1)},
		{"key too long in runes", "NS", strings.Repeat("é", api.MaxKVKeyBytes/2+1)},
	} {
		if err := s.KVPut(ctx, "acme", tt.ns, tt.key, []byte("v")); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("KVPut with %s: err = %v, want ErrInvalid", tt.name, err)
		}
		if _, err := s.KVGet(ctx, "acme", tt.ns, tt.key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("KVGet with %s: err = %v, want ErrInvalid", tt.name, err)
		}
		if err := s.KVDelete(ctx, "acme", tt.ns, tt.key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("KVDelete with %s: err = %v, want ErrInvalid", tt.name, err)
		}
		if tt.key == "k" {
			if _, err := s.KVList(ctx, "acme", tt.ns, "", "", 0); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("KVList with %s: err = %v, want ErrInvalid", tt.name, err)
			}
		}
	}
	if err := s.KVPut(ctx, "acme", "NS", "k", make([]byte, api.MaxKVValueBytes+1)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("KVPut of a value over the limit: err = %v, want ErrInvalid", err)
	}
	checkKeys(t, s, "acme", "NS", "", []string{})
}

func testKVList(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	createTenant(t, s, "other")
	checkKeys(t, s, "acme", "NS", "", []string{})

	keys := []string{"b", "a", "a/", "a/b", "a/b/c", "a0", "ab", "A", "é", "~", "a/c", " ", "\x01"}
	for _, k := range keys {
		kvPut(t, s, "acme", "NS", k, "v")
	}
	kvPut(t, s, "acme", "NS2", "a/x", "v")
	kvPut(t, s, "acme", "N", "a/y", "v")
	kvPut(t, s, "other", "NS", "a/z", "v")
	sorted := slices.Clone(keys)
	slices.Sort(sorted) // byte order
	checkKeys(t, s, "acme", "NS", "", sorted)

	for _, tt := range []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"a/", "", 0, []string{"a/", "a/b", "a/b/c", "a/c"}},
		{"a/b", "", 0, []string{"a/b", "a/b/c"}},
		{"a", "", 3, []string{"a", "a/", "a/b"}},
		{"a", "a/b", 0, []string{"a/b/c", "a/c", "a0", "ab"}},
		{"a", "a/b", 2, []string{"a/b/c", "a/c"}},
		{"a", "a/bb", 0, []string{"a/c", "a0", "ab"}}, // after need not exist
		{"a", "0", 1, []string{"a"}},                  // after before the prefix
		{"a", "b", 0, []string{}},                     // after past the prefix
		{"", "ab", 0, []string{"b", "~", "é"}},
		{"", "", 1, []string{"\x01"}},
		{"", "", -1, sorted},
		{"zz", "", 0, []string{}},
		{"a/b/c/d", "", 0, []string{}},
		{"\x00", "", 0, []string{}},
		{"é", "", 0, []string{"é"}},
	} {
		got, err := s.KVList(ctx, "acme", "NS", tt.prefix, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("KVList(%q, after %q, limit %d): %v", tt.prefix, tt.after, tt.limit, err)
		}
		if got == nil || !slices.Equal(got, tt.want) {
			t.Errorf("KVList(%q, after %q, limit %d) = %q, want %q", tt.prefix, tt.after, tt.limit, got, tt.want)
		}
	}

	// Paging by the last key returned visits every key once.
	var paged []string
	after := ""
	for {
		page, err := s.KVList(ctx, "acme", "NS", "", after, 4)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, sorted) {
		t.Errorf("paging through the namespace = %q, want %q", paged, sorted)
	}

	checkKeys(t, s, "acme", "NS2", "", []string{"a/x"})
	checkKeys(t, s, "acme", "N", "", []string{"a/y"})
	checkKeys(t, s, "other", "NS", "", []string{"a/z"})
	checkKeys(t, s, "other", "NS2", "", []string{})
}

// testKVLargeValue stores the largest value allowed.
func testKVLargeValue(t *testing.T, s store.Store) {
	createTenant(t, s, "acme")
	big := bytes.Repeat([]byte("0123456789abcdef"), api.MaxKVValueBytes/16)
	if err := s.KVPut(t.Context(), "acme", "NS", "big", big); err != nil {
		t.Fatalf("KVPut of %d bytes: %v", len(big), err)
	}
	got, err := s.KVGet(t.Context(), "acme", "NS", "big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("KVGet = %d bytes, %v; want the %d stored", len(got), err, len(big))
	}
	if err := s.KVDelete(t.Context(), "acme", "NS", "big"); err != nil {
		t.Fatal(err)
	}
}

// testWatchKV checks that KV writes send no event: the next event after
// them is the secret's, for its worker alone.
func testWatchKV(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTenant(t, s, "acme")
	deploy(t, s, "acme", "api", "v1")
	events := s.Watch(ctx)
	kvPut(t, s, "acme", "NS", "k", "v")
	kvPut(t, s, "acme", "NS", "k", "v2")
	if err := s.KVDelete(ctx, "acme", "NS", "k"); err != nil {
		t.Fatal(err)
	}
	putSecret(t, s, "acme", "api", "TOKEN", "x")
	select {
	case ev := <-events:
		if ev != (store.Event{Tenant: "acme", Worker: "api"}) {
			t.Errorf("first event after KV writes and a PutSecret = %+v, want the secret's worker alone", ev)
		}
	case <-time.After(wait):
		t.Fatal("no event after PutSecret")
	}
}

// testHammerSecretsKV writes secrets and KV entries from many goroutines
// while workers come and go, then checks that nothing was lost or left
// behind.
func testHammerSecretsKV(t *testing.T, s store.Store) {
	const (
		goroutines = 8
		rounds     = 16
	)
	ctx := t.Context()
	createTenant(t, s, "acme")
	deploy(t, s, "acme", "keep", "keep")

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			own := fmt.Sprintf("w%d", g)
			key := fmt.Sprintf("S%d", g)
			for i := range rounds {
				value := fmt.Sprintf("%s round %d", own, i)
				// Shared worker, own secret.
				if err := s.PutSecret(ctx, "acme", "keep", key, []byte(value)); err != nil {
					t.Errorf("PutSecret keep/%s: %v", key, err)
					return
				}
				// Own worker, deleted every other round with its secrets.
				if _, err := s.Deploy(ctx, "acme", own, []byte(own), api.WorkerSettings{}); err != nil {
					t.Errorf("Deploy %s: %v", own, err)
					return
				}
				if err := s.PutSecret(ctx, "acme", own, "TOKEN", []byte(value)); err != nil {
					t.Errorf("PutSecret %s: %v", own, err)
					return
				}
				if got, err := s.Secrets(ctx, "acme", own); err != nil || got["TOKEN"] != value {
					t.Errorf("Secrets %s = %q, %v; want TOKEN %q", own, got, err, value)
				}
				if i%2 == 1 {
					if err := s.DeleteWorker(ctx, "acme", own); err != nil {
						t.Errorf("DeleteWorker %s: %v", own, err)
					}
				}
				// KV: own keys in a shared namespace, read back at once.
				k := fmt.Sprintf("%s/%03d", own, i)
				if err := s.KVPut(ctx, "acme", "NS", k, []byte(value)); err != nil {
					t.Errorf("KVPut %s: %v", k, err)
					return
				}
				if got, err := s.KVGet(ctx, "acme", "NS", k); err != nil || string(got) != value {
					t.Errorf("KVGet %s = %q, %v", k, got, err)
				}
				if i%4 == 3 {
					if err := s.KVDelete(ctx, "acme", "NS", k); err != nil {
						t.Errorf("KVDelete %s: %v", k, err)
					}
				}
				if _, err := s.KVList(ctx, "acme", "NS", own+"/", "", 0); err != nil {
					t.Errorf("KVList: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	want := map[string]string{}
	for g := range goroutines {
		want[fmt.Sprintf("S%d", g)] = fmt.Sprintf("w%d round %d", g, rounds-1)
		// Deleted in the last round (rounds is even): no secrets left.
		if _, err := s.Secrets(ctx, "acme", fmt.Sprintf("w%d", g)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("w%d: Secrets err = %v, want ErrNotFound", g, err)
		}
		var keys []string
		for i := range rounds {
			if i%4 != 3 {
				keys = append(keys, fmt.Sprintf("w%d/%03d", g, i))
			}
		}
		checkKeys(t, s, "acme", "NS", fmt.Sprintf("w%d/", g), keys)
	}
	checkSecrets(t, s, "acme", "keep", want)
}

func putSecret(t *testing.T, s store.Store, tenant, worker, key, value string) {
	t.Helper()
	if err := s.PutSecret(t.Context(), tenant, worker, key, []byte(value)); err != nil {
		t.Fatalf("PutSecret(%s/%s, %s): %v", tenant, worker, key, err)
	}
}

func kvPut(t *testing.T, s store.Store, tenant, ns, key, value string) {
	t.Helper()
	if err := s.KVPut(t.Context(), tenant, ns, key, []byte(value)); err != nil {
		t.Fatalf("KVPut(%s/%s, %q): %v", tenant, ns, key, err)
	}
}

// checkSecrets checks a worker's secrets through both SecretNames and
// Secrets.
func checkSecrets(t *testing.T, s store.Store, tenant, worker string, want map[string]string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	got, err := s.Secrets(ctx, tenant, worker)
	if err != nil {
		t.Fatalf("Secrets(%s/%s): %v", tenant, worker, err)
	}
	if got == nil || !maps.Equal(got, want) {
		t.Errorf("Secrets(%s/%s) = %s, want %s", tenant, worker, short(got), short(want))
	}
	names, err := s.SecretNames(ctx, tenant, worker)
	if err != nil {
		t.Fatalf("SecretNames(%s/%s): %v", tenant, worker, err)
	}
	if wantNames := slices.Sorted(maps.Keys(want)); names == nil || !slices.Equal(names, wantNames) {
		t.Errorf("SecretNames(%s/%s) = %q, want %q", tenant, worker, names, wantNames)
	}
}

// short formats secrets for a failure message, long values shortened.
func short(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if len(v) > 32 {
			v = fmt.Sprintf("%.32s… (%d bytes)", v, len(v))
		}
		fmt.Fprintf(&b, "%s=%q ", k, v)
	}
	return "[" + strings.TrimSpace(b.String()) + "]"
}

func checkKV(t *testing.T, s store.Store, tenant, ns, key, want string) {
	t.Helper()
	got, err := s.KVGet(context.WithoutCancel(t.Context()), tenant, ns, key)
	if err != nil || string(got) != want {
		t.Errorf("KVGet(%s, %s, %.20q) = %q, %v; want %q", tenant, ns, key, trim(got), err, want)
	}
}

// checkKeys checks the keys with prefix in a namespace.
func checkKeys(t *testing.T, s store.Store, tenant, ns, prefix string, want []string) {
	t.Helper()
	got, err := s.KVList(context.WithoutCancel(t.Context()), tenant, ns, prefix, "", 0)
	if err != nil {
		t.Fatalf("KVList(%s, %s, %q): %v", tenant, ns, prefix, err)
	}
	if got == nil || !slices.Equal(got, want) {
		t.Errorf("KVList(%s, %s, %q) = %q, want %q", tenant, ns, prefix, got, want)
	}
}
