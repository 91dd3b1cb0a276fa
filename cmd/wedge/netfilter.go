package main

import (
	"errors"
	"net/netip"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/metrics"
	"github.com/wedgeworks/wedge/netfilter"
)

// netfilterAPI adapts the packet filter to the control plane's Netfilter.
type netfilterAPI struct {
	f     *netfilter.Filter
	iface string
}

func (n netfilterAPI) Status() (api.NetfilterStatus, error) {
	st := api.NetfilterStatus{Mode: n.f.Mode().String(), Interface: n.iface, SourceRate: wireRate(n.f.SourceRate())}
	limits, err := n.f.PortLimits()
	if err != nil {
		return st, err
	}
	st.PortLimits = []api.NetfilterPortLimit{}
	for _, l := range limits {
		st.PortLimits = append(st.PortLimits, api.NetfilterPortLimit{Proto: l.Proto.String(), Port: l.Port, NetfilterRate: wireRate(l.Rate)})
	}
	counters, err := n.f.Counters()
	if err != nil {
		return st, err
	}
	st.Counters = make(map[string]uint64, len(counters))
	for v, c := range counters {
		st.Counters[v.String()] = c
	}
	return st, nil
}

func (n netfilterAPI) Rules(block bool) ([]api.NetfilterRule, error) {
	list := n.f.Allowlist
	if block {
		list = n.f.Blocklist
	}
	rules, err := list()
	if err != nil {
		return nil, err
	}
	out := make([]api.NetfilterRule, 0, len(rules))
	for _, r := range rules {
		w := api.NetfilterRule{Prefix: r.Prefix.String()}
		if !r.Expires.IsZero() {
			exp := r.Expires.UTC().Truncate(time.Second)
			w.Expires = &exp
		}
		out = append(out, w)
	}
	return out, nil
}

func (n netfilterAPI) AddRule(block bool, p netip.Prefix, ttl time.Duration) error {
	if block {
		return netfilterError(n.f.Block(p, ttl))
	}
	return netfilterError(n.f.Allow(p, ttl))
}

func (n netfilterAPI) RemoveRule(block bool, p netip.Prefix) error {
	if block {
		return netfilterError(n.f.Unblock(p))
	}
	return netfilterError(n.f.RemoveAllow(p))
}

func (n netfilterAPI) SetSourceRate(r api.NetfilterRate) error {
	return netfilterError(n.f.SetSourceRate(netfilter.Rate{PPS: r.PPS, Burst: r.Burst}))
}

func (n netfilterAPI) SetPortLimit(proto string, port uint16, r api.NetfilterRate) error {
	var p netfilter.Proto
	switch proto {
	case "tcp":
		p = netfilter.TCP
	case "udp":
		p = netfilter.UDP
	default:
		return api.NewError(api.CodeBadRequest, `the protocol must be "tcp" or "udp"`, nil)
	}
	return netfilterError(n.f.SetPortLimit(p, port, netfilter.Rate{PPS: r.PPS, Burst: r.Burst}))
}

func wireRate(r netfilter.Rate) api.NetfilterRate {
	return api.NetfilterRate{PPS: r.PPS, Burst: r.Burst}
}

// netfilterError maps the filter's sentinel errors to API errors.
func netfilterError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, netfilter.ErrNotFound):
		return api.NewError(api.CodeNotFound, "no such rule", err)
	case errors.Is(err, netfilter.ErrInvalidPrefix), errors.Is(err, netfilter.ErrInvalidRate),
		errors.Is(err, netfilter.ErrInvalidProto), errors.Is(err, netfilter.ErrInvalidTTL):
		return api.NewError(api.CodeBadRequest, err.Error(), err)
	case errors.Is(err, netfilter.ErrFull):
		return api.NewError(api.CodeConflict, "the rule table is full: remove rules or use shorter prefixes", err)
	}
	return err
}

// registerNetfilterMetrics exports the filter's verdict counters.
func registerNetfilterMetrics(m *metrics.Metrics, f *netfilter.Filter) error {
	return m.CounterVecFunc("wedge_netfilter_packets_total",
		"Packets (connections in the userspace fallback) by the packet filter's verdict.", "verdict",
		func() map[string]float64 {
			counters, err := f.Counters()
			if err != nil {
				return nil
			}
			out := make(map[string]float64, len(counters))
			for v, c := range counters {
				out[v.String()] = float64(c)
			}
			return out
		})
}
