package netfilter

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Blocker is what an Escalator blocks sources with; *Filter is one.
type Blocker interface {
	Block(p netip.Prefix, ttl time.Duration) error
}

// EscalatorConfig configures an Escalator. The zero value is valid and
// turns escalation off.
type EscalatorConfig struct {
	// Threshold is how many L7 rate-limit hits from one source within
	// Window get it blocked at L3. Zero: escalation is off.
	Threshold int
	// Window is the period the hits are counted in, from a source's first
	// hit; default 10 s.
	Window time.Duration
	// TTL is how long an escalated source stays blocked; default 10 min.
	TTL time.Duration
	// Logger receives one warning per escalation. Default: no logging.
	Logger *slog.Logger
}

// Default escalation window and TTL.
const (
	DefaultEscalationWindow = 10 * time.Second
	DefaultEscalationTTL    = 10 * time.Minute
)

// maxTracked bounds the sources an Escalator counts hits for.
const maxTracked = 65536

// Escalator turns repeated L7 rate limiting of one source into an L3
// block: its caller reports each request it rate-limited with Observe, and
// the Threshold-th report from a source within Window blocks the source —
// an IPv4 address, or the /64 of an IPv6 address, as the XDP program counts
// sources — for TTL. Safe for concurrent use; a nil *Escalator does
// nothing.
type Escalator struct {
	b   Blocker
	cfg EscalatorConfig
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	seen map[netip.Prefix]*hits
}

type hits struct {
	start time.Time
	n     int
}

// NewEscalator returns an Escalator that blocks through b, which must not
// be nil when cfg.Threshold is set.
func NewEscalator(b Blocker, cfg EscalatorConfig) *Escalator {
	if cfg.Window <= 0 {
		cfg.Window = DefaultEscalationWindow
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultEscalationTTL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Escalator{b: b, cfg: cfg, log: log, now: time.Now, seen: make(map[netip.Prefix]*hits)}
}

// sourcePrefix is the prefix the XDP program counts addr in.
func sourcePrefix(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	return netip.PrefixFrom(addr, 64).Masked()
}

// Observe records that a request from addr was rate-limited at L7, and
// reports whether this escalated the source to a block.
func (e *Escalator) Observe(addr netip.Addr) bool {
	if e == nil || e.cfg.Threshold <= 0 || !addr.IsValid() {
		return false
	}
	p := sourcePrefix(addr)
	now := e.now()
	e.mu.Lock()
	h := e.seen[p]
	if h == nil || now.Sub(h.start) > e.cfg.Window {
		if h == nil && len(e.seen) >= maxTracked {
			e.forget(now)
		}
		h = &hits{start: now}
		e.seen[p] = h
	}
	h.n++
	n := h.n
	if n < e.cfg.Threshold {
		e.mu.Unlock()
		return false
	}
	delete(e.seen, p)
	e.mu.Unlock()

	err := e.b.Block(p, e.cfg.TTL)
	if err != nil {
		e.log.Error("netfilter: escalation to an L3 block failed", "source", p, "hits", n,
			"window", e.cfg.Window, "err", err)
		return false
	}
	e.log.Warn("netfilter: source escalated to an L3 block", "source", p, "hits", n,
		"window", e.cfg.Window, "ttl", e.cfg.TTL)
	return true
}

// forget makes room: sources whose window is over, then arbitrary ones.
func (e *Escalator) forget(now time.Time) {
	for p, h := range e.seen {
		if now.Sub(h.start) > e.cfg.Window {
			delete(e.seen, p)
		}
	}
	for p := range e.seen {
		if len(e.seen) < maxTracked {
			break
		}
		delete(e.seen, p)
	}
}
