package api

import (
	"errors"
	"fmt"
	"strings"
)

// RouteSpec is a parsed route pattern: a host, exact ("shop.example.com")
// or a wildcard over its subdomains ("*.example.com"), and a path, exact
// ("/login") or a prefix ("/api/*", and "" or "/*" for every path).
type RouteSpec struct {
	Host     string // lower case, without the "*." of a wildcard
	Wildcard bool   // Host's subdomains (not Host itself)
	Path     string // without the trailing "*" of a prefix
	Prefix   bool   // Path is a prefix
}

// ParseRoute parses a route pattern such as "shop.example.com/api/*" or
// "*.example.com". A host without a path matches every path.
func ParseRoute(pattern string) (RouteSpec, error) {
	var r RouteSpec
	if pattern == "" {
		return r, errors.New(`empty route pattern: write it as "example.com/path/*"`)
	}
	if strings.Contains(pattern, "://") {
		return r, fmt.Errorf("route %q must not have a scheme", pattern)
	}
	host, path, hasPath := strings.Cut(pattern, "/")
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		r.Wildcard, host = true, rest
	}
	if !validHost(host) {
		return r, fmt.Errorf("route %q: %q is not a host name (a wildcard is only allowed as the first label, as in *.example.com)", pattern, host)
	}
	r.Host = host
	if !hasPath || path == "*" || path == "" {
		r.Path, r.Prefix = "/", true
		return r, nil
	}
	path = "/" + path
	if strings.ContainsAny(path, "?#") || strings.ContainsFunc(path, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return r, fmt.Errorf("route %q: the path must not contain a query, a fragment, spaces or control characters", pattern)
	}
	if p, ok := strings.CutSuffix(path, "*"); ok {
		if strings.Contains(p, "*") {
			return r, fmt.Errorf("route %q: '*' is allowed only at the end of the path", pattern)
		}
		r.Path, r.Prefix = p, true
		return r, nil
	}
	if strings.Contains(path, "*") {
		return r, fmt.Errorf("route %q: '*' is allowed only at the end of the path", pattern)
	}
	r.Path = path
	return r, nil
}

// validHost reports whether h is a DNS name: labels of letters, digits and
// '-', not starting or ending with '-', at least two labels.
func validHost(h string) bool {
	if len(h) == 0 || len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Matches reports whether the route's host covers host (lower case, no
// port).
func (r RouteSpec) Matches(host string) bool {
	if r.Wildcard {
		return strings.HasSuffix(host, "."+r.Host)
	}
	return host == r.Host
}

// Overlaps reports whether two routes' hosts could both answer a host:
// then they may not belong to different tenants.
func (r RouteSpec) Overlaps(o RouteSpec) bool {
	switch {
	case !r.Wildcard && !o.Wildcard:
		return r.Host == o.Host
	case r.Wildcard && o.Wildcard:
		return r.Host == o.Host || strings.HasSuffix(r.Host, "."+o.Host) || strings.HasSuffix(o.Host, "."+r.Host)
	case r.Wildcard:
		return r.Matches(o.Host)
	default:
		return o.Matches(r.Host)
	}
}
