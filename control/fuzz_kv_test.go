package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// FuzzKVPath sends a KV write whose key is the raw rest of the path, as a
// client may spell it: whatever it is, the answer is 204 or a well-formed
// 4xx; after a 204 the store holds exactly one new, valid key, which reads
// back through its canonical spelling (url.PathEscape).
func FuzzKVPath(f *testing.F) {
	for _, s := range []string{
		"k", "a/b/c", "a%2Fb", "a%2fb/c", "dir/", "/", "//", "%2F", "a//b", "./a", "../a", "a/../../b",
		"%25", "%", "%2", "%zz", "%00", "a%00b", "%FF", "%C3%A9", "é", "%F0%9F%94%91", "a b", "a%20b", "a+b",
		"?x=1", "a?b", "#frag", "%3F", "%23", "\x00", "\t", "%0A", strings.Repeat("k", 512), strings.Repeat("k", 513),
		strings.Repeat("%C3%A9", 256), strings.Repeat("%C3%A9", 257), "",
	} {
		f.Add(s)
	}
	h, st, _, token := fuzzServer(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.NewRequest("PUT", "http://wedge.test/v1/tenants/acme/kv/NS/"+raw, strings.NewReader("value"))
		if err != nil {
			return // not a URL any client could send
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, http.StatusNoContent)
		if rec.Code != http.StatusNoContent {
			return
		}
		keys, err := st.KVList(ctx, "acme", "NS", "", "", 0)
		if err != nil || len(keys) != 1 {
			t.Fatalf("after a 204 for %q: keys %q, %v", raw, keys, err)
		}
		key := keys[0]
		if err := api.CheckKVKey(key); err != nil {
			t.Fatalf("204 for %q stored an invalid key %q: %v", raw, key, err)
		}
		// The key is the rest of the decoded path, '/' and all.
		if want := strings.TrimPrefix(req.URL.Path, "/v1/tenants/acme/kv/NS/"); key != want {
			t.Fatalf("204 for %q stored key %q, want %q", raw, key, want)
		}
		get := httptest.NewRequest("GET", "/v1/tenants/acme/kv/NS/"+url.PathEscape(key), nil)
		get.Header.Set("Authorization", "Bearer "+token)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, get)
		if rec.Code != http.StatusOK || rec.Body.String() != "value" {
			t.Fatalf("GET of key %q stored for %q: %d %q", key, raw, rec.Code, rec.Body)
		}
		if err := st.KVDelete(ctx, "acme", "NS", key); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzKVList checks that any query of a listing is answered with keys that
// match it, or a well-formed 4xx.
func FuzzKVList(f *testing.F) {
	for _, s := range []string{
		"", "prefix=a", "prefix=a%2F", "prefix=%00", "limit=1", "limit=1000", "limit=1001", "limit=0", "limit=-1",
		"limit=x", "cursor=YQ", "cursor=YS9i", "cursor=!!", "cursor=", "prefix=a&cursor=YQ&limit=2", "prefix=%FF",
		"limit=99999999999999999999",
	} {
		f.Add(s)
	}
	h, st, _, token := fuzzServer(f)
	ctx := context.Background()
	for _, k := range []string{"a", "a/b", "a/c", "ab", "b", "é"} {
		if err := st.KVPut(ctx, "acme", "NS", k, nil); err != nil {
			f.Fatal(err)
		}
	}

	f.Fuzz(func(t *testing.T, query string) {
		req, err := http.NewRequest("GET", "http://wedge.test/v1/tenants/acme/kv/NS?"+query, nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, http.StatusOK)
		if rec.Code != http.StatusOK {
			return
		}
		var out api.KVKeys
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil || out.Keys == nil {
			t.Fatalf("200 with %v, keys %v", err, out.Keys)
		}
		q := req.URL.Query()
		if !slices.IsSorted(out.Keys) || len(out.Keys) > 1000 {
			t.Fatalf("query %q: keys %q", query, out.Keys)
		}
		for _, k := range out.Keys {
			if !strings.HasPrefix(k, q.Get("prefix")) {
				t.Fatalf("query %q: key %q lacks the prefix", query, k)
			}
		}
	})
}

// FuzzSecret sends a secret of any name and value: it is stored exactly
// when the name and value are valid, and its value is never in the answer.
func FuzzSecret(f *testing.F) {
	for _, c := range []struct{ name, value string }{
		{"TOKEN", "s3cret"}, {"_x1", ""}, {"1A", "v"}, {"A-B", "v"}, {"A B", "v"}, {"A/B", "v"}, {"A%2FB", "v"},
		{"É", "v"}, {"A", "with\x00nul"}, {"A", "line\n"}, {"A", "\xff\xfe"}, {strings.Repeat("A", 256), "v"},
		{strings.Repeat("A", 257), "v"}, {"A", strings.Repeat("v", 64<<10)}, {"A", strings.Repeat("v", 64<<10+1)},
		{"", "v"}, {".", "v"}, {"..", "v"},
	} {
		f.Add(c.name, []byte(c.value))
	}
	h, st, _, token := fuzzServer(f)
	ctx := context.Background()
	if _, err := st.Deploy(ctx, "acme", "w", []byte("module"), api.WorkerSettings{}); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, name string, value []byte) {
		req := httptest.NewRequest("PUT", "/v1/tenants/acme/workers/w/secrets/x", bytes.NewReader(value))
		req.URL.Path = "/v1/tenants/acme/workers/w/secrets/" + name
		req.URL.RawPath = "/v1/tenants/acme/workers/w/secrets/" + url.PathEscape(name)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, http.StatusNoContent)
		// (A name is quoted in errors, and may contain the value.)
		if len(value) >= 32 && !strings.Contains(name, string(value)) && bytes.Contains(rec.Body.Bytes(), value) {
			t.Fatalf("the answer holds the value: %s", rec.Body)
		}
		valid := api.ValidEnvName(name) && api.CheckSecretValue(value) == nil
		if valid != (rec.Code == http.StatusNoContent) {
			t.Fatalf("name %q, %d-byte value (valid %v): status %d %s", name, len(value), valid, rec.Code, rec.Body)
		}
		secrets, err := st.Secrets(ctx, "acme", "w")
		if err != nil {
			t.Fatal(err)
		}
		if !valid {
			if len(secrets) != 0 {
				t.Fatalf("a refused secret was stored: %q", keys(secrets))
			}
			return
		}
		if len(secrets) != 1 || secrets[name] != string(value) {
			t.Fatalf("stored %q, want only %q", keys(secrets), name)
		}
		if err := st.DeleteSecret(ctx, "acme", "w", name); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	})
}
