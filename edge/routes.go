package edge

import (
	"cmp"
	"slices"
	"strings"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/scheduler"
)

// routeTable holds the custom routes of one routing snapshot (workers'
// wedge.toml routes), besides their default W.T.ZONE hosts. The most
// specific route wins: an exact host over a wildcard, a longer wildcard
// over a shorter one, then the longest path (an exact path over a prefix
// of the same length). It is immutable once built.
type routeTable struct {
	exact map[string][]route // by host
	wild  []wildRoutes       // longest suffix first
}

type route struct {
	spec api.RouteSpec
	w    *scheduler.Worker
}

type wildRoutes struct {
	suffix string // "." + the wildcard's host
	routes []route
}

func newRouteTable(workers []*scheduler.Worker) *routeTable {
	t := &routeTable{exact: make(map[string][]route)}
	wild := make(map[string][]route)
	for _, w := range workers {
		for _, p := range w.Routes {
			spec, err := api.ParseRoute(p)
			if err != nil {
				continue // the control plane refused such patterns at deploy
			}
			if spec.Wildcard {
				wild[spec.Host] = append(wild[spec.Host], route{spec, w})
			} else {
				t.exact[spec.Host] = append(t.exact[spec.Host], route{spec, w})
			}
		}
	}
	for h, rs := range t.exact {
		t.exact[h] = sortRoutes(rs)
	}
	for h, rs := range wild {
		t.wild = append(t.wild, wildRoutes{suffix: "." + h, routes: sortRoutes(rs)})
	}
	slices.SortFunc(t.wild, func(a, b wildRoutes) int {
		return cmp.Or(cmp.Compare(len(b.suffix), len(a.suffix)), strings.Compare(a.suffix, b.suffix))
	})
	return t
}

// sortRoutes orders one host's routes most specific first; among equal
// patterns the order of workers is by tenant and name, so that a table
// built twice routes the same way.
func sortRoutes(rs []route) []route {
	slices.SortStableFunc(rs, func(a, b route) int {
		return cmp.Or(
			cmp.Compare(len(b.spec.Path), len(a.spec.Path)),
			boolOrder(a.spec.Prefix, b.spec.Prefix),
			strings.Compare(a.w.Tenant, b.w.Tenant),
			strings.Compare(a.w.Name, b.w.Name),
		)
	})
	return rs
}

// boolOrder puts exact paths (Prefix false) first.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// match finds the worker for a host (normalized) and a request path.
func (t *routeTable) match(host, path string) *scheduler.Worker {
	if t == nil {
		return nil
	}
	if w := matchPath(t.exact[host], path); w != nil {
		return w
	}
	for _, wr := range t.wild {
		if strings.HasSuffix(host, wr.suffix) {
			if w := matchPath(wr.routes, path); w != nil {
				return w
			}
		}
	}
	return nil
}

func matchPath(rs []route, path string) *scheduler.Worker {
	for _, r := range rs {
		if r.spec.Prefix && strings.HasPrefix(path, r.spec.Path) || !r.spec.Prefix && path == r.spec.Path {
			return r.w
		}
	}
	return nil
}
