package control

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wedgeworks/wedge/api"
)

// Netfilter is what the API needs of the packet filter (package netfilter,
// adapted by cmd/wedge). Methods return *api.Error values for what the
// caller got wrong (an unknown prefix, an invalid rate).
type Netfilter interface {
	Status() (api.NetfilterStatus, error)
	// Rules lists the blocklist (block true) or the allowlist.
	Rules(block bool) ([]api.NetfilterRule, error)
	AddRule(block bool, p netip.Prefix, ttl time.Duration) error
	RemoveRule(block bool, p netip.Prefix) error
	SetSourceRate(api.NetfilterRate) error
	SetPortLimit(proto string, port uint16, r api.NetfilterRate) error
}

// netfilterRoutes are the operator's endpoints for the packet filter:
//
//	GET    /v1/netfilter                         mode, rates, counters
//	GET    /v1/netfilter/{blocklist|allowlist}   the prefixes
//	POST   /v1/netfilter/{blocklist|allowlist}   {"prefix": "...", "ttl_seconds": N}
//	DELETE /v1/netfilter/{blocklist|allowlist}?prefix=P
//	PUT    /v1/netfilter/source-rate             {"pps": N, "burst": M}
//	PUT    /v1/netfilter/ports/{proto}/{port}    {"pps": N, "burst": M}
//	DELETE /v1/netfilter/ports/{proto}/{port}
func (s *Server) netfilterRoutes(r chi.Router) {
	r.Get("/", s.netfilterStatus)
	for _, list := range []string{"blocklist", "allowlist"} {
		block := list == "blocklist"
		r.Get("/"+list, func(w http.ResponseWriter, r *http.Request) { s.netfilterRules(w, r, block) })
		r.Post("/"+list, func(w http.ResponseWriter, r *http.Request) { s.netfilterAdd(w, r, block) })
		r.Delete("/"+list, func(w http.ResponseWriter, r *http.Request) { s.netfilterRemove(w, r, block) })
	}
	r.Put("/source-rate", s.netfilterSourceRate)
	r.Put("/ports/{proto}/{port}", s.netfilterPort)
	r.Delete("/ports/{proto}/{port}", s.netfilterPort)
}

func (s *Server) netfilterStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.netfilter.Status()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) netfilterRules(w http.ResponseWriter, r *http.Request, block bool) {
	rules, err := s.netfilter.Rules(block)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rules == nil {
		rules = []api.NetfilterRule{}
	}
	writeJSON(w, http.StatusOK, rules)
}

func (s *Server) netfilterAdd(w http.ResponseWriter, r *http.Request, block bool) {
	var rule api.NetfilterRule
	if err := decodeJSON(r, &rule); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := parsePrefix(rule.Prefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rule.TTLSeconds < 0 || rule.TTLSeconds > 10*365*24*3600 {
		s.writeError(w, r, badRequest("ttl_seconds must be between 0 (never expires) and ten years"))
		return
	}
	if err := s.netfilter.AddRule(block, p, time.Duration(rule.TTLSeconds)*time.Second); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("netfilter rule added", "list", listName(block), "prefix", p, "ttl_seconds", rule.TTLSeconds)
	s.netfilterRules(w, r, block)
}

func (s *Server) netfilterRemove(w http.ResponseWriter, r *http.Request, block bool) {
	p, err := parsePrefix(r.URL.Query().Get("prefix"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.netfilter.RemoveRule(block, p); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("netfilter rule removed", "list", listName(block), "prefix", p)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) netfilterSourceRate(w http.ResponseWriter, r *http.Request) {
	var rate api.NetfilterRate
	if err := decodeJSON(r, &rate); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.netfilter.SetSourceRate(rate); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("netfilter source rate set", "pps", rate.PPS, "burst", rate.Burst)
	s.netfilterStatus(w, r)
}

func (s *Server) netfilterPort(w http.ResponseWriter, r *http.Request) {
	proto := chi.URLParam(r, "proto")
	port, err := strconv.ParseUint(chi.URLParam(r, "port"), 10, 16)
	if err != nil || port == 0 {
		s.writeError(w, r, badRequest("the port must be a number from 1 to 65535"))
		return
	}
	var rate api.NetfilterRate // DELETE: the zero rate, no limit
	if r.Method == http.MethodPut {
		if err := decodeJSON(r, &rate); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := s.netfilter.SetPortLimit(proto, uint16(port), rate); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("netfilter port limit set", "proto", proto, "port", port, "pps", rate.PPS, "burst", rate.Burst)
	s.netfilterStatus(w, r)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, badRequest(`give a prefix, e.g. "203.0.113.0/24" or "2001:db8::/48"`)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		// A bare address means just that address.
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.Prefix{}, badRequest("invalid prefix " + strconv.Quote(s) + `: give an address or a CIDR prefix, e.g. "203.0.113.0/24"`)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return p, nil
}

func listName(block bool) string {
	if block {
		return "blocklist"
	}
	return "allowlist"
}

// noNetfilter answers when the host runs without a packet filter.
func (s *Server) noNetfilter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.netfilter == nil {
			s.writeError(w, r, api.NewError(api.CodeNotFound, "this host runs without a packet filter", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}
