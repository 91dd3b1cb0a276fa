package control_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// kvPath returns the path of a key, escaped as the CLI does: every '/' of
// the key as %2F.
func kvPath(tenant, ns, key string) string {
	return "/v1/tenants/" + tenant + "/kv/" + ns + "/" + url.PathEscape(key)
}

// kvList returns GET …/kv/{ns} with query, expecting 200.
func (e *env) kvList(tenant, ns, token, query string) api.KVKeys {
	e.t.Helper()
	r := e.request("GET", "/v1/tenants/"+tenant+"/kv/"+ns+query, token, "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("list %s/%s%s: %v", tenant, ns, query, r)
	}
	var out api.KVKeys
	decode(e.t, r, &out)
	if out.Keys == nil {
		e.t.Errorf("list %s/%s%s: keys null, want a list: %s", tenant, ns, query, r.body)
	}
	return out
}

// kvGet returns the value of a key, expecting 200.
func (e *env) kvGet(path, token string) []byte {
	e.t.Helper()
	r := e.request("GET", path, token, "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %v", path, r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		e.t.Errorf("GET %s: Content-Type %q, want application/octet-stream", path, ct)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		e.t.Errorf("GET %s: Content-Length %q for %d bytes", path, cl, len(r.body))
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("GET %s: Cache-Control %q, want no-store", path, cc)
	}
	return r.body
}

func (e *env) kvPut(path, token string, value []byte) {
	e.t.Helper()
	r := e.request("PUT", path, token, "application/octet-stream", value)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		e.t.Fatalf("PUT %s: %v", path, r)
	}
}

func TestKV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acme := e.createTenant("acme")
	beta := e.createTenant("beta")
	ctx := context.Background()

	// A namespace nobody wrote to is empty, not missing.
	if got := e.kvList("acme", "COUNTS", acme, ""); len(got.Keys) != 0 || got.Cursor != "" {
		t.Errorf("empty namespace: %+v", got)
	}
	checkError(t, e.request("GET", kvPath("acme", "COUNTS", "absent"), acme, "", nil), 404, api.CodeNotFound, "COUNTS")
	checkError(t, e.request("DELETE", kvPath("acme", "COUNTS", "absent"), acme, "", nil), 404, api.CodeNotFound)

	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	e.kvPut(kvPath("acme", "COUNTS", "bytes"), acme, binary)
	if got := e.kvGet(kvPath("acme", "COUNTS", "bytes"), acme); !bytes.Equal(got, binary) {
		t.Errorf("GET = %q, want every byte value", got)
	}
	e.kvPut(kvPath("acme", "COUNTS", "empty"), acme, nil)
	if got := e.kvGet(kvPath("acme", "COUNTS", "empty"), acme); len(got) != 0 {
		t.Errorf("empty value read back as %q", got)
	}
	e.kvPut(kvPath("acme", "COUNTS", "bytes"), acme, []byte("replaced"))
	if got := e.kvGet(kvPath("acme", "COUNTS", "bytes"), acme); string(got) != "replaced" {
		t.Errorf("after replacing: %q", got)
	}

	t.Run("keys in the path", func(t *testing.T) {
		// Each key is written through one spelling of its path and read
		// back through another (the CLI's, every '/' escaped).
		for _, c := range []struct{ raw, key string }{
			{"a/b/c", "a/b/c"},
			{"a%2Fb%2Fc", "a/b/c"},
			{"a%2Fb/c", "a/b/c"},
			{"dir/", "dir/"},
			{"a//b", "a//b"},
			{"a/./b", "a/./b"},
			{"a/../b", "a/../b"},
			{"%2Fleading", "/leading"},
			{"with%20space", "with space"},
			{"plus+sign", "plus+sign"},
			{"%25", "%"},
			{"100%25%2Fsure", "100%/sure"},
			{"%3F%23", "?#"},
			{"caf%C3%A9", "café"},
			{"%F0%9F%94%91", "🔑"},
			{"tab%09and%0Anewline", "tab\tand\nnewline"},
			{"semi;colon=eq&amp", "semi;colon=eq&amp"},
			{strings.Repeat("k", api.MaxKVKeyBytes), strings.Repeat("k", api.MaxKVKeyBytes)},
		} {
			value := []byte("value of " + c.raw)
			e.kvPut("/v1/tenants/acme/kv/PATHS/"+c.raw, acme, value)
			if got := e.kvGet(kvPath("acme", "PATHS", c.key), acme); !bytes.Equal(got, value) {
				t.Errorf("PUT …/%s then GET %s: %q", c.raw, kvPath("acme", "PATHS", c.key), got)
			}
			v, err := e.store.KVGet(ctx, "acme", "PATHS", c.key)
			if err != nil || !bytes.Equal(v, value) {
				t.Errorf("PUT …/%s: the store has under %q: %q, %v", c.raw, c.key, v, err)
			}
		}
		keys := e.kvList("acme", "PATHS", acme, "").Keys
		if !slices.Contains(keys, "a/b/c") || !slices.Contains(keys, "🔑") || !slices.Contains(keys, "100%/sure") || !slices.IsSorted(keys) {
			t.Errorf("keys = %q", keys)
		}
		// DELETE through yet another spelling.
		if r := e.request("DELETE", "/v1/tenants/acme/kv/PATHS/a%2Fb/c", acme, "", nil); r.status != 204 {
			t.Fatalf("DELETE: %v", r)
		}
		if _, err := e.store.KVGet(ctx, "acme", "PATHS", "a/b/c"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after DELETE the store has a/b/c: %v", err)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		long := strings.Repeat("k", api.MaxKVKeyBytes+1)
		for _, c := range []struct {
			name, path string
			msg        []string
		}{
			{"namespace with a hyphen", "/v1/tenants/acme/kv/a-b/k", []string{"invalid KV namespace", "a-b"}},
			{"namespace with a digit first", "/v1/tenants/acme/kv/1NS/k", []string{"invalid KV namespace"}},
			{"namespace too long", "/v1/tenants/acme/kv/" + strings.Repeat("N", api.MaxKVNamespaceBytes+1) + "/k", []string{"invalid KV namespace", "64"}},
			{"namespace encoded", "/v1/tenants/acme/kv/N%2FS/k", []string{"invalid KV namespace"}},
			{"empty key", "/v1/tenants/acme/kv/NS/", []string{"missing key"}},
			{"no key", "/v1/tenants/acme/kv/NS", []string{"missing key"}},
			{"key too long", "/v1/tenants/acme/kv/NS/" + long, []string{"513 bytes", "512"}},
			{"key too long in UTF-8", "/v1/tenants/acme/kv/NS/" + strings.Repeat("%C3%A9", 257), []string{"514 bytes", "512"}},
			{"NUL in the key", "/v1/tenants/acme/kv/NS/a%00b", []string{"NUL"}},
			{"invalid UTF-8", "/v1/tenants/acme/kv/NS/a%FFb", []string{"UTF-8"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				checkError(t, e.request("PUT", c.path, acme, "", []byte("v")), 400, api.CodeBadRequest, c.msg...)
				if c.name != "empty key" && c.name != "no key" {
					checkError(t, e.request("GET", c.path, acme, "", nil), 400, api.CodeBadRequest, c.msg...)
					checkError(t, e.request("DELETE", c.path, acme, "", nil), 400, api.CodeBadRequest, c.msg...)
				}
			})
		}
		for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?limit=-1", "?cursor=%21%21", "?cursor=a+b", "?cursor=YQ=="} {
			checkError(t, e.request("GET", "/v1/tenants/acme/kv/COUNTS"+q, acme, "", nil), 400, api.CodeBadRequest)
		}
		checkError(t, e.request("POST", "/v1/tenants/acme/kv/NS/k", acme, "", nil), 405, "method-not-allowed")
		checkError(t, e.request("PUT", kvPath("nobody", "NS", "k"), e.opToken, "", []byte("v")), 404, api.CodeNotFound, "nobody")
	})

	t.Run("value size", func(t *testing.T) {
		max := bytes.Repeat([]byte("0123456789abcdef"), api.MaxKVValueBytes/16)
		e.kvPut(kvPath("acme", "BIG", "max"), acme, max)
		if got := e.kvGet(kvPath("acme", "BIG", "max"), acme); !bytes.Equal(got, max) {
			t.Errorf("the largest value read back as %d bytes", len(got))
		}
		over := append(max, 'x')
		checkError(t, e.request("PUT", kvPath("acme", "BIG", "over"), acme, "", over), 413, api.CodeBodyTooLarge, "26214400", "25 MiB")
		req, _ := http.NewRequest("PUT", e.srv.URL+kvPath("acme", "BIG", "over"), io.NopCloser(bytes.NewReader(over)))
		req.ContentLength = -1 // chunked: the limit applies as the body is read
		req.Header.Set("Authorization", "Bearer "+acme)
		checkError(t, e.send(req), 413, api.CodeBodyTooLarge, "25 MiB")
		checkError(t, e.request("GET", kvPath("acme", "BIG", "over"), acme, "", nil), 404, api.CodeNotFound)
		if r := e.request("DELETE", kvPath("acme", "BIG", "max"), acme, "", nil); r.status != 204 {
			t.Fatal(r)
		}
	})

	t.Run("tenants are apart", func(t *testing.T) {
		e.kvPut(kvPath("beta", "COUNTS", "bytes"), beta, []byte("beta's"))
		if got := e.kvGet(kvPath("acme", "COUNTS", "bytes"), acme); string(got) != "replaced" {
			t.Errorf("acme's value became %q", got)
		}
		if got := e.kvGet(kvPath("beta", "COUNTS", "bytes"), beta); string(got) != "beta's" {
			t.Errorf("beta's value is %q", got)
		}
		if got := e.kvList("beta", "COUNTS", beta, "").Keys; !slices.Equal(got, []string{"bytes"}) {
			t.Errorf("beta's keys = %q", got)
		}
		// The operator reaches both.
		if got := e.kvGet(kvPath("beta", "COUNTS", "bytes"), e.opToken); string(got) != "beta's" {
			t.Errorf("operator reads beta's value as %q", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := e.request("DELETE", kvPath("acme", "COUNTS", "empty"), acme, "", nil)
		if r.status != 204 || len(r.body) != 0 {
			t.Fatalf("DELETE: %v", r)
		}
		checkError(t, e.request("GET", kvPath("acme", "COUNTS", "empty"), acme, "", nil), 404, api.CodeNotFound)
		checkError(t, e.request("DELETE", kvPath("acme", "COUNTS", "empty"), acme, "", nil), 404, api.CodeNotFound)
	})

	t.Run("KV writes send no store event", func(t *testing.T) {
		events := e.store.Watch(t.Context())
		e.kvPut(kvPath("acme", "COUNTS", "quiet"), acme, []byte("1"))
		select {
		case ev := <-events:
			t.Errorf("a KV write sent %+v", ev)
		case <-time.After(100 * time.Millisecond):
		}
	})
}

func TestKVList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acme := e.createTenant("acme")
	ctx := context.Background()
	var all []string
	for i := range 25 {
		for _, dir := range []string{"users/", "posts/", ""} {
			k := fmt.Sprintf("%s%02d", dir, i)
			all = append(all, k)
			if err := e.store.KVPut(ctx, "acme", "NS", k, []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, k := range []string{"users/ü", "users/a b", "users/%", "users/a&b=c"} {
		all = append(all, k)
		if err := e.store.KVPut(ctx, "acme", "NS", k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(all)
	withPrefix := func(p string) []string {
		var out []string
		for _, k := range all {
			if strings.HasPrefix(k, p) {
				out = append(out, k)
			}
		}
		return out
	}

	if got := e.kvList("acme", "NS", acme, ""); !slices.Equal(got.Keys, all) || got.Cursor != "" {
		t.Errorf("every key: %q (cursor %q), want %q", got.Keys, got.Cursor, all)
	}
	// The trailing slash lists too.
	if got := e.kvList("acme", "NS", acme, "/"); !slices.Equal(got.Keys, all) {
		t.Errorf("GET …/NS/ = %q", got.Keys)
	}
	for _, prefix := range []string{"users/", "users/0", "users/a", "users/%", "posts/1", "0", "nothing", "users/ü"} {
		got := e.kvList("acme", "NS", acme, "?prefix="+url.QueryEscape(prefix))
		if want := withPrefix(prefix); !slices.Equal(got.Keys, want) || got.Cursor != "" {
			t.Errorf("prefix %q: %q (cursor %q), want %q", prefix, got.Keys, got.Cursor, want)
		}
	}

	// Paging: every key once, in order, pages of the limit; the last page
	// has no cursor.
	for _, c := range []struct {
		prefix string
		limit  int
	}{{"", 7}, {"users/", 5}, {"users/", 29}, {"users/", 30}, {"", 1}} {
		var got []string
		query := "?limit=" + strconv.Itoa(c.limit) + "&prefix=" + url.QueryEscape(c.prefix)
		pages := 0
		for cursor := ""; ; {
			q := query
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			page := e.kvList("acme", "NS", acme, q)
			pages++
			if len(page.Keys) > c.limit {
				t.Fatalf("limit %d: a page of %d keys", c.limit, len(page.Keys))
			}
			got = append(got, page.Keys...)
			if page.Cursor == "" {
				break
			}
			if len(page.Keys) != c.limit {
				t.Errorf("limit %d: a page of %d keys with a cursor", c.limit, len(page.Keys))
			}
			cursor = page.Cursor
			if pages > len(all)+1 {
				t.Fatal("paging does not end")
			}
		}
		want := withPrefix(c.prefix)
		if !slices.Equal(got, want) {
			t.Errorf("prefix %q limit %d: paged through %q, want %q", c.prefix, c.limit, got, want)
		}
		if wantPages := (len(want) + c.limit - 1) / c.limit; pages != wantPages && pages != wantPages+1 {
			t.Errorf("prefix %q limit %d: %d pages for %d keys", c.prefix, c.limit, pages, len(want))
		}
	}

	// The default page is 1000 keys.
	for i := range 1001 - len(all) {
		if err := e.store.KVPut(ctx, "acme", "NS", fmt.Sprintf("zz/%04d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	first := e.kvList("acme", "NS", acme, "")
	if len(first.Keys) != 1000 || first.Cursor == "" {
		t.Fatalf("1001 keys: first page %d keys, cursor %q", len(first.Keys), first.Cursor)
	}
	if rest := e.kvList("acme", "NS", acme, "?cursor="+first.Cursor); len(rest.Keys) != 1 || rest.Cursor != "" {
		t.Errorf("1001 keys: second page %q, cursor %q", rest.Keys, rest.Cursor)
	}
}
