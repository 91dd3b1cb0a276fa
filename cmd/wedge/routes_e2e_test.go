package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/internal/testwasm"
)

// TestRoutes: custom routes from wedge.toml reach their workers, the most
// specific winning; a tenant cannot claim a host another tenant holds, nor
// a name under another tenant's default names.
func TestRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	cHello, err := os.ReadFile(filepath.Join(testwasm.Root(t), "examples", "c-hello", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	goHello := testwasm.Build(t, "examples/hello")
	s := startServer(t, t.TempDir())
	acme := s.createTenant("acme")
	beta := s.createTenant("beta")

	s.mustCLI(acme, "acme", "deploy", project(t, goHello,
		"name = \"site\"\nmain = \"worker.wasm\"\n[vars]\nGREETING = \"Site\"\n[[routes]]\npattern = \"shop.example.com\"\n"))
	s.mustCLI(acme, "acme", "deploy", project(t, cHello,
		"name = \"api\"\nmain = \"worker.wasm\"\n[[routes]]\npattern = \"shop.example.com/api/*\"\n[[routes]]\npattern = \"*.acme.dev\"\n"))

	for _, tt := range []struct{ host, path, want string }{
		{"shop.example.com", "/", "Site from /\n"},
		{"shop.example.com", "/about", "Site from /about\n"},
		{"SHOP.example.com:8080", "/api/orders", "Hello from /api/orders\n"},
		{"eu.acme.dev", "/x", "Hello from /x\n"},
		{"site.acme.wedge.localhost", "/", "Site from /\n"},
	} {
		if resp, body := s.get(tt.host, tt.path); resp.StatusCode != 200 || body != tt.want {
			t.Errorf("%s%s: %d %q, want %q", tt.host, tt.path, resp.StatusCode, body, tt.want)
		}
	}
	if resp, _ := s.get("acme.dev", "/"); resp.StatusCode != 404 {
		t.Errorf("acme.dev (not under the wildcard): %d, want 404", resp.StatusCode)
	}

	for _, tt := range []struct{ pattern, want string }{
		{"shop.example.com/other/*", "another tenant already holds shop.example.com"},
		{"*.example.com", "another tenant already holds shop.example.com"},
		{"x.acme.dev", "another tenant already holds *.acme.dev"},
		{"evil.acme.wedge.localhost", "only the names of tenant beta's workers"},
		{"localhost/x", "not a host name"},
	} {
		dir := project(t, cHello, "name = \"grab\"\nmain = \"worker.wasm\"\n[[routes]]\npattern = \""+tt.pattern+"\"\n")
		_, stderr, code := s.cli(beta, "beta", "deploy", dir)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("beta claims %q: exit %d, stderr %q, want it refused with %q", tt.pattern, code, stderr, tt.want)
		}
	}
	// Beta's own names and unclaimed hosts are fine.
	s.mustCLI(beta, "beta", "deploy", project(t, cHello,
		"name = \"mine\"\nmain = \"worker.wasm\"\n[[routes]]\npattern = \"beta.example.org/*\"\n[[routes]]\npattern = \"x.beta.wedge.localhost\"\n"))
	if resp, body := s.get("beta.example.org", "/y"); resp.StatusCode != 200 || body != "Hello from /y\n" {
		t.Errorf("beta's route: %d %q", resp.StatusCode, body)
	}
}
