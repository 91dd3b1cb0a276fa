package edge

import (
	"testing"

	"github.com/wedgeworks/wedge/scheduler"
)

func TestRouteTable(t *testing.T) {
	w := func(name string, routes ...string) *scheduler.Worker {
		return &scheduler.Worker{Tenant: "t", Name: name, Routes: routes}
	}
	site, api, login, wild, deep := w("site", "shop.example.com"), w("api", "shop.example.com/api/*"),
		w("login", "shop.example.com/login"), w("wild", "*.example.com"), w("deep", "*.eu.example.com/x/*", "bad pattern")
	tbl := newRouteTable([]*scheduler.Worker{wild, site, api, login, deep})
	for _, tt := range []struct {
		host, path string
		want       *scheduler.Worker
	}{
		{"shop.example.com", "/", site},
		{"shop.example.com", "/api/v1", api},
		{"shop.example.com", "/api", site},
		{"shop.example.com", "/login", login},
		{"shop.example.com", "/login/x", site},
		{"blog.example.com", "/", wild},
		{"a.eu.example.com", "/x/1", deep},
		{"a.eu.example.com", "/y", wild},
		{"example.com", "/", nil},
		{"other.org", "/", nil},
	} {
		if got := tbl.match(tt.host, tt.path); got != tt.want {
			name := func(w *scheduler.Worker) string {
				if w == nil {
					return "none"
				}
				return w.Name
			}
			t.Errorf("%s%s: %s, want %s", tt.host, tt.path, name(got), name(tt.want))
		}
	}
	var empty *routeTable
	if empty.match("a.b", "/") != nil {
		t.Error("a nil table matched")
	}
}

func TestNormalizeHost(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"hello.demo.wedge.localhost", "hello.demo.wedge.localhost"},
		{"Hello.Demo.Wedge.Localhost:8080", "hello.demo.wedge.localhost"},
		{"example.com.", "example.com"},
		{"example.com.:443", "example.com"},
		{"[::1]:8080", "::1"},
		{"[::1]", "[::1]"},
		{"127.0.0.1", "127.0.0.1"},
		{"", ""},
	} {
		if got := normalizeHost(tt.in); got != tt.want {
			t.Errorf("normalizeHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { normalizeHost("hello.demo.wedge.localhost") }); n != 0 {
		t.Errorf("normalizeHost of a host without a port: %v allocations, want 0", n)
	}
}
