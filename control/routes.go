package control

import (
	"context"
	"fmt"
	"strings"

	"github.com/wedgeworks/wedge/api"
)

// MaxRoutes is how many custom routes one worker may have.
const MaxRoutes = 100

// checkRoutes validates a worker's custom routes and refuses any whose
// host another tenant holds — by its own routes, or because the host is
// under another tenant's default names (W.T2.ZONE). Routes of the same
// tenant may overlap: the most specific wins at the edge.
//
// The check reads every tenant's active routes; routesMu serializes
// deploys with routes so that two tenants cannot claim one host at once
// on this node.
func (s *Server) checkRoutes(ctx context.Context, tenant string, routes []api.Route) error {
	if len(routes) == 0 {
		return nil
	}
	if len(routes) > MaxRoutes {
		return badRequest(fmt.Sprintf("a worker may have at most %d routes", MaxRoutes))
	}
	specs := make([]api.RouteSpec, len(routes))
	for i, r := range routes {
		spec, err := api.ParseRoute(r.Pattern)
		if err != nil {
			return badRequest(err.Error())
		}
		if s.zone != "" && s.claimsOthersZone(tenant, spec) {
			return api.NewError(api.CodeConflict, fmt.Sprintf("route %q is under %s, where only the names of tenant %s's workers (*.%s.%s) are yours", r.Pattern, s.zone, tenant, tenant, s.zone), nil)
		}
		specs[i] = spec
	}
	workers, err := s.store.Workers(ctx, "")
	if err != nil {
		return err
	}
	for _, w := range workers {
		if w.Tenant == tenant {
			continue
		}
		v, ok := w.ActiveVersion()
		if !ok {
			continue
		}
		for _, theirs := range v.Settings.Routes {
			ts, err := api.ParseRoute(theirs.Pattern)
			if err != nil {
				continue
			}
			for i, mine := range specs {
				if mine.Overlaps(ts) {
					return api.NewError(api.CodeConflict, fmt.Sprintf("route %q: another tenant already holds %s", routes[i].Pattern, hostOf(ts)), nil)
				}
			}
		}
	}
	return nil
}

// claimsOthersZone reports whether a route could answer a name under the
// zone (W.T.ZONE) that is not one of tenant's own.
func (s *Server) claimsOthersZone(tenant string, spec api.RouteSpec) bool {
	own := tenant + "." + s.zone
	if spec.Host == own || strings.HasSuffix(spec.Host, "."+own) {
		return false
	}
	return spec.Host == s.zone || strings.HasSuffix(spec.Host, "."+s.zone) || spec.Wildcard && strings.HasSuffix(s.zone, "."+spec.Host)
}

func hostOf(r api.RouteSpec) string {
	if r.Wildcard {
		return "*." + r.Host
	}
	return r.Host
}
