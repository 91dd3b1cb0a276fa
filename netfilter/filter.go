package netfilter

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"
)

// Mode is where the filter runs: asked for in Config.Mode, reported by
// Filter.Mode.
type Mode uint8

const (
	// ModeAuto (Config only): native XDP, else generic XDP, else — when
	// the kernel refuses BPF — userspace.
	ModeAuto Mode = iota
	// ModeNative: XDP in the driver, before any socket buffer exists.
	ModeNative
	// ModeGeneric: XDP in the kernel's generic receive path (SKB mode),
	// for drivers without native XDP.
	ModeGeneric
	// ModeUserspace: no XDP; Listener and Middleware apply the rules to
	// connections and requests.
	ModeUserspace
)

// String returns "auto", "native", "generic" or "userspace".
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	case ModeUserspace:
		return "userspace"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// DefaultPinDir is where the pins go when Config.PinDir is empty.
const DefaultPinDir = "/run/wedge/xdp"

// sweepInterval is how often expired rules are deleted from the tables.
// They stop matching at their expiry whatever this is; deleting them frees
// room and stops an expired LPM prefix from hiding a shorter one.
const sweepInterval = time.Second

// Config configures a Filter. The zero Config is valid: a filter in
// userspace mode, attached to nothing.
type Config struct {
	// Interface is the network interface to attach the XDP program to.
	// Empty: no XDP; the filter runs in userspace mode.
	Interface string

	// PinDir is the directory under which the program's link and maps are
	// pinned, in PinDir/Interface, so that the next process takes them
	// over. A bpf file system is mounted on PinDir unless it is on one.
	// Default DefaultPinDir.
	PinDir string

	// Mode is where to run; default ModeAuto. ModeNative and ModeGeneric
	// make Open fail rather than fall back.
	Mode Mode

	// Logger receives attach, take-over and fall-back events. Default: no
	// logging.
	Logger *slog.Logger
}

func (c Config) pinDir() string {
	if c.PinDir == "" {
		return DefaultPinDir
	}
	return filepath.Clean(c.PinDir)
}

// Filter is the packet filter: an XDP program on an interface, or its
// userspace fallback, and the rules they apply. All methods are safe for
// concurrent use.
type Filter struct {
	cfg   Config
	log   *slog.Logger
	mode  Mode
	rules *rules
	model *model  // userspace mode
	kern  *kernel // native and generic modes

	stop, done chan struct{}
	once       sync.Once
}

// Open starts the filter. With an Interface, it loads the XDP program and
// attaches it, re-using the maps (so the rules) and taking over the link
// pinned by a previous process without a moment unfiltered; in ModeAuto it
// falls back to userspace mode, with a warning in the log, when the kernel
// refuses BPF. Without an Interface, or in ModeUserspace, it starts in
// userspace mode.
func Open(cfg Config) (*Filter, error) {
	if cfg.Mode > ModeUserspace {
		return nil, fmt.Errorf("netfilter: unknown mode %d", cfg.Mode)
	}
	if cfg.Interface == "" && (cfg.Mode == ModeNative || cfg.Mode == ModeGeneric) {
		return nil, fmt.Errorf("netfilter: mode %s needs an interface", cfg.Mode)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Filter{cfg: cfg, log: log, stop: make(chan struct{}), done: make(chan struct{})}

	var t tables
	if cfg.Interface != "" && cfg.Mode != ModeUserspace {
		k, err := openKernel(cfg, log)
		switch {
		case err == nil:
			f.kern, f.mode, t = k, k.mode, k.tab
		case cfg.Mode == ModeAuto && refused(err):
			log.Warn("netfilter: the kernel refused XDP; filtering connections in userspace",
				"interface", cfg.Interface, "err", err)
		case refused(err) && !errors.Is(err, ErrRefused):
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		default:
			return nil, err
		}
	}
	if t == nil {
		f.model = newModel()
		f.mode, t = ModeUserspace, f.model
	}
	r, err := newRules(t)
	if err != nil {
		if f.kern != nil {
			_ = f.kern.close()
		}
		return nil, err
	}
	f.rules = r
	go f.sweep()
	log.Info("netfilter: filter open", "interface", cfg.Interface, "mode", f.mode)
	return f, nil
}

func (f *Filter) sweep() {
	defer close(f.done)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			n, err := f.rules.sweep(monotonic())
			if err != nil && !errors.Is(err, ErrClosed) {
				f.log.Warn("netfilter: deleting expired rules", "err", err)
			}
			if n > 0 {
				f.log.Debug("netfilter: expired rules deleted", "count", n)
			}
		}
	}
}

// Mode returns where the filter runs: ModeNative, ModeGeneric or
// ModeUserspace.
func (f *Filter) Mode() Mode { return f.mode }

// expiry converts a TTL to a CLOCK_MONOTONIC deadline; 0 for no TTL.
func expiry(ttl time.Duration) (uint64, error) {
	switch {
	case ttl < 0:
		return 0, fmt.Errorf("%w: %s", ErrInvalidTTL, ttl)
	case ttl == 0:
		return 0, nil
	}
	return monotonic() + uint64(ttl), nil
}

func (f *Filter) add(block bool, p netip.Prefix, ttl time.Duration) error {
	p, err := normalizePrefix(p)
	if err != nil {
		return err
	}
	exp, err := expiry(ttl)
	if err != nil {
		return err
	}
	return f.rules.add(block, p, exp)
}

func (f *Filter) remove(block bool, p netip.Prefix) error {
	p, err := normalizePrefix(p)
	if err != nil {
		return err
	}
	return f.rules.remove(block, p)
}

// Block drops every packet from the prefix, for ttl or, with ttl 0, until
// Unblock. Blocking a prefix that is blocked already keeps the later
// expiry: Block never shortens a block. An IPv4-mapped IPv6 prefix is
// taken as the IPv4 prefix.
func (f *Filter) Block(p netip.Prefix, ttl time.Duration) error { return f.add(true, p, ttl) }

// Unblock removes the prefix (exactly this prefix, not the ones it
// contains) from the blocklist; ErrNotFound if it is not there.
func (f *Filter) Unblock(p netip.Prefix) error { return f.remove(true, p) }

// Blocklist returns the prefixes of the blocklist, sorted.
func (f *Filter) Blocklist() ([]Rule, error) {
	return f.rules.list(true, monotonic(), time.Now())
}

// Allow exempts the prefix from every other rule, for ttl or, with ttl 0,
// until RemoveAllow; as Block otherwise.
func (f *Filter) Allow(p netip.Prefix, ttl time.Duration) error { return f.add(false, p, ttl) }

// RemoveAllow removes the prefix from the allowlist; ErrNotFound if it is
// not there.
func (f *Filter) RemoveAllow(p netip.Prefix) error { return f.remove(false, p) }

// Allowlist returns the prefixes of the allowlist, sorted.
func (f *Filter) Allowlist() ([]Rule, error) {
	return f.rules.list(false, monotonic(), time.Now())
}

// SetSourceRate sets the token bucket of every source (an IPv4 address,
// an IPv6 /64); the zero Rate removes the limit.
func (f *Filter) SetSourceRate(r Rate) error { return f.rules.setSourceRate(r) }

// SourceRate returns the per-source rate, its Burst filled in.
func (f *Filter) SourceRate() Rate { return f.rules.sourceRate() }

// SetPortLimit sets the ceiling of a destination port, shared by all
// sources; the zero Rate removes it. For UDP, every packet counts; for TCP,
// connection attempts (SYN without ACK), so that a port's established
// traffic is never throttled while a SYN flood is.
func (f *Filter) SetPortLimit(proto Proto, port uint16, r Rate) error {
	return f.rules.setPortLimit(proto, port, r)
}

// PortLimits returns the port ceilings, TCP ports first, by port.
func (f *Filter) PortLimits() ([]PortLimit, error) { return f.rules.portLimits() }

// Counters returns how many packets (in userspace mode: connections and
// requests) got each verdict, summed over CPUs. With XDP, the counters live
// as long as the pinned maps: across restarts, until Detach.
func (f *Filter) Counters() (map[Verdict]uint64, error) {
	c, err := f.rules.counters()
	if err != nil {
		return nil, err
	}
	out := make(map[Verdict]uint64, numVerdicts)
	for v, n := range c {
		out[Verdict(v)] = n
	}
	return out, nil
}

// Close stops the filter's goroutine and releases its file descriptors.
// The XDP program stays attached and keeps filtering with the rules as
// they are, its link and maps pinned, until the next Open takes them over:
// a restart leaves no moment unfiltered. Use Detach to remove it.
func (f *Filter) Close() error { return f.shut(false) }

// Detach removes the XDP program from the interface and deletes its pins
// (and so its rules and counters), then closes the filter. In userspace
// mode it is Close.
func (f *Filter) Detach() error { return f.shut(true) }

func (f *Filter) shut(detach bool) error {
	err := ErrClosed
	f.once.Do(func() {
		close(f.stop)
		<-f.done
		f.rules.close()
		err = nil
		if f.kern != nil {
			if detach {
				err = f.kern.detach()
			} else {
				err = f.kern.close()
			}
		}
	})
	return err
}
