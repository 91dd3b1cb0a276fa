package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

// TestSecretsAndKV: vars and secrets reach the worker's environment (a
// secret set through the API within moments, no deploy; a secret wins over
// a var of its name, and its value is never logged), and the worker's KV
// namespace is the tenant's: what it writes the API reads, and another
// tenant's worker sees none of it.
func TestSecretsAndKV(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test guest and runs the real binary; skipped in -short mode")
	}
	guest := testwasm.Build(t, "internal/testguest")
	s := startServer(t, t.TempDir())
	acme := s.createTenant("acme")
	beta := s.createTenant("beta")
	toml := "name = \"guest\"\nmain = \"worker.wasm\"\n[vars]\nGREETING = \"hi\"\n[[kv_namespaces]]\nbinding = \"COUNTS\"\n"
	s.mustCLI(acme, "acme", "deploy", project(t, guest, toml))
	s.mustCLI(beta, "beta", "deploy", project(t, guest, toml))
	const host = "guest.acme.wedge.localhost"

	body := func(host, path string) (int, string) {
		resp, b := s.get(host, path)
		if strings.HasPrefix(path, "/env") {
			b = strings.TrimSuffix(b, "\n")
		}
		return resp.StatusCode, b
	}
	eventually := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, got := body(host, path)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %q, want %q", path, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, got := body(host, "/env?key=GREETING"); got != "hi" {
		t.Fatalf("var: %q", got)
	}
	put := func(path, token, value string) {
		t.Helper()
		resp, b := s.apiDo("PUT", path, token, strings.NewReader(value))
		if resp.StatusCode/100 != 2 {
			t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, b)
		}
	}
	put("/v1/tenants/acme/workers/guest/secrets/API_KEY", acme, "s3cret-value")
	eventually("/env?key=API_KEY", "s3cret-value")
	put("/v1/tenants/acme/workers/guest/secrets/GREETING", acme, "secret-hi")
	eventually("/env?key=GREETING", "secret-hi")
	if _, b := s.apiDo("GET", "/v1/tenants/acme/workers/guest/secrets", acme, nil); strings.Contains(b, "s3cret") || !strings.Contains(b, "API_KEY") {
		t.Errorf("secret list: %s", b)
	}

	for i, want := range []string{"count=1\n", "count=2\n"} {
		if code, got := body(host, "/kv?op=incr&key=visits"); code != 200 || got != want {
			t.Fatalf("incr %d: %d %q, want %q", i, code, got, want)
		}
	}
	if resp, b := s.apiDo("GET", "/v1/tenants/acme/kv/COUNTS/visits", acme, nil); resp.StatusCode != 200 || b != "2" {
		t.Errorf("the API reads what the worker wrote: %d %q", resp.StatusCode, b)
	}
	put("/v1/tenants/acme/kv/COUNTS/users/ada", acme, "admin")
	if code, got := body(host, "/kv?op=get&key=users/ada"); code != 200 || got != "admin" {
		t.Errorf("the worker reads what the API wrote: %d %q", code, got)
	}
	if _, got := body(host, "/kv?op=list&prefix=users/"); got != "keys=users/ada\n" {
		t.Errorf("list: %q", got)
	}
	if code, got := body(host, "/kv?op=get&key=visits&ns=OTHER"); code != 403 || !strings.Contains(got, "not bound") {
		t.Errorf("an unbound namespace: %d %q", code, got)
	}
	if code, _ := body("guest.beta.wedge.localhost", "/kv?op=get&key=visits"); code != 404 {
		t.Errorf("another tenant reads acme's key: %d, want 404", code)
	}
	if code, got := body(host, "/kv?op=delete&key=visits"); code != 200 {
		t.Errorf("delete: %d %q", code, got)
	}
	if code, _ := body(host, "/kv?op=get&key=visits"); code != 404 {
		t.Errorf("after delete: %d, want 404", code)
	}
	// Nor can beta read acme's secrets through the API, or acme's cache
	// entries from its worker.
	if resp, _ := s.apiDo("GET", "/v1/tenants/acme/workers/guest/secrets", beta, nil); resp.StatusCode != 403 {
		t.Errorf("beta lists acme's secrets: %d, want 403", resp.StatusCode)
	}
	if resp, _ := s.apiDo("GET", "/v1/tenants/acme/kv/COUNTS/users/ada", beta, nil); resp.StatusCode != 403 {
		t.Errorf("beta reads acme's KV through the API: %d, want 403", resp.StatusCode)
	}
	const cached = "/cache-put?url=http://example.com/shared&cc=max-age%3D600&body=acme-only"
	if code, got := body(host, cached); code != 200 || got != "put body=acme-only\n" {
		t.Fatalf("cache put: %d %q", code, got)
	}
	if _, got := body(host, "/cache-match?url=http://example.com/shared"); !strings.Contains(got, "acme-only") {
		t.Errorf("acme's own cache match: %q", got)
	}
	if _, got := body("guest.beta.wedge.localhost", "/cache-match?url=http://example.com/shared"); got != "miss\n" {
		t.Errorf("beta's worker matches acme's cache entry: %q", got)
	}
	if strings.Contains(s.stderr.String(), "s3cret") {
		t.Error("a secret's value is in the server's log")
	}
}
