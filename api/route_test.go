package api

import "testing"

func TestParseRoute(t *testing.T) {
	tests := []struct {
		in   string
		want RouteSpec
		err  bool
	}{
		{in: "shop.example.com/api/*", want: RouteSpec{Host: "shop.example.com", Path: "/api/", Prefix: true}},
		{in: "Shop.Example.com", want: RouteSpec{Host: "shop.example.com", Path: "/", Prefix: true}},
		{in: "*.example.com/*", want: RouteSpec{Host: "example.com", Wildcard: true, Path: "/", Prefix: true}},
		{in: "example.com/login", want: RouteSpec{Host: "example.com", Path: "/login"}},
		{in: "", err: true},
		{in: "https://example.com", err: true},
		{in: "/path", err: true},
		{in: "localhost", err: true},
		{in: "a.*.example.com", err: true},
		{in: "example.com/a*/b", err: true},
		{in: "example.com/a?b", err: true},
		{in: "-bad.example.com", err: true},
		{in: "ex ample.com", err: true},
	}
	for _, tt := range tests {
		got, err := ParseRoute(tt.in)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("ParseRoute(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestRouteOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"shop.example.com", "shop.example.com/api/*", true},
		{"shop.example.com", "blog.example.com", false},
		{"*.example.com", "shop.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "*.shop.example.com", true},
		{"*.example.com", "*.example.org", false},
		{"a.b.example.com", "*.example.com", true},
	}
	for _, tt := range tests {
		a, _ := ParseRoute(tt.a)
		b, _ := ParseRoute(tt.b)
		if got := a.Overlaps(b); got != tt.want || b.Overlaps(a) != tt.want {
			t.Errorf("%q overlaps %q: %v, want %v (both ways)", tt.a, tt.b, got, tt.want)
		}
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"shop.example.com/api/*", "*.example.com", "example.com/x", "a..b", "*.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRoute(s)
		if err != nil {
			return
		}
		if !validHost(r.Host) || r.Path == "" || r.Path[0] != '/' {
			t.Fatalf("ParseRoute(%q) = %+v: invalid result", s, r)
		}
		if !r.Overlaps(r) {
			t.Fatalf("%+v does not overlap itself", r)
		}
	})
}
