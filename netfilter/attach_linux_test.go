package netfilter

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// openIn opens a filter on the peer end of tn, inside its namespace, with a
// TCP and a UDP listener on the peer's address.
func openIn(t *testing.T, tn *testNet, cfg Config) (*Filter, net.Listener, net.PacketConn) {
	t.Helper()
	var (
		f  *Filter
		tl net.Listener
		ul net.PacketConn
	)
	err := tn.do(func() (err error) {
		if f, err = Open(cfg); err != nil {
			return err
		}
		if tl, err = net.Listen("tcp", net.JoinHostPort(tn.addr(2).String(), "0")); err != nil {
			return err
		}
		ul, err = net.ListenPacket("udp", net.JoinHostPort(tn.addr(2).String(), "0"))
		return err
	})
	if f != nil {
		t.Cleanup(func() { _ = f.Detach() })
	}
	if tl != nil {
		t.Cleanup(func() { tl.Close() })
		go serve(tl)
	}
	if ul != nil {
		t.Cleanup(func() { ul.Close() })
	}
	requireKernel(t, err, "open the filter on "+cfg.Interface)
	return f, tl, ul
}

func mustPass(t *testing.T, src netip.Addr, to net.Addr) {
	t.Helper()
	if err := dial(src, to); err != nil {
		t.Fatalf("from %s: %v, want a connection", src, err)
	}
}

func mustDrop(t *testing.T, src netip.Addr, to net.Addr) {
	t.Helper()
	var ne net.Error
	if err := dial(src, to); err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("from %s: %v, want a time-out", src, err)
	}
}

func counter(t *testing.T, f *Filter, v Verdict) uint64 {
	t.Helper()
	c, err := f.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c[v]
}

// sendUDP sends n datagrams from src to to, and returns how many arrived.
func sendUDP(t *testing.T, src netip.Addr, to net.PacketConn, n int) int {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), to.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range n {
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 64)
	for {
		_ = to.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := to.ReadFrom(buf); err != nil {
			return got
		}
		got++
	}
}

func prefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// TestAttach attaches the filter to a veth in a namespace, in each XDP
// mode, and checks with real traffic from the other end that blocked
// sources are dropped and others pass.
func TestAttach(t *testing.T) {
	for _, mode := range []Mode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			tn := newTestNet(t)
			f, tl, ul := openIn(t, tn, Config{Interface: tn.peer, PinDir: pinDir(t), Mode: mode, Logger: testLogger(t)})
			if f.Mode() != mode {
				t.Fatalf("mode %s, want %s", f.Mode(), mode)
			}
			if st := xdpStateIn(t, tn); (mode == ModeNative && st.drv == 0) || (mode == ModeGeneric && st.skb == 0) {
				t.Fatalf("XDP programs %+v, want one in %s mode", st, mode)
			}
			// The kernel filters: the userspace wrappers stand aside.
			if f.Listener(tl) != tl {
				t.Error("Listener wrapped a listener in XDP mode")
			}
			good, bad := tn.addr(1), tn.addr(3)
			mustPass(t, good, tl.Addr())
			mustPass(t, bad, tl.Addr())

			if err := f.Block(prefix(bad), 0); err != nil {
				t.Fatal(err)
			}
			before := counter(t, f, VerdictBlocklist)
			mustDrop(t, bad, tl.Addr())
			mustPass(t, good, tl.Addr())
			if after := counter(t, f, VerdictBlocklist); after <= before {
				t.Errorf("blocklist counter %d → %d, want an increase", before, after)
			}

			// The allowlist wins over the blocklist.
			if err := f.Allow(prefix(bad), 0); err != nil {
				t.Fatal(err)
			}
			mustPass(t, bad, tl.Addr())
			if err := f.RemoveAllow(prefix(bad)); err != nil {
				t.Fatal(err)
			}
			mustDrop(t, bad, tl.Addr())

			if err := f.Unblock(prefix(bad)); err != nil {
				t.Fatal(err)
			}
			mustPass(t, bad, tl.Addr())

			// IPv6. The first connection resolves the peer's address: a
			// neighbour solicitation from a blocked source would be dropped.
			var tl6 net.Listener
			err := tn.do(func() (err error) {
				tl6, err = net.Listen("tcp", net.JoinHostPort(tn.addr6(2).String(), "0"))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer tl6.Close()
			go serve(tl6)
			mustPass(t, tn.addr6(1), tl6.Addr())
			if err := f.Block(prefix(tn.addr6(3)), 0); err != nil {
				t.Fatal(err)
			}
			mustDrop(t, tn.addr6(3), tl6.Addr())
			mustPass(t, tn.addr6(1), tl6.Addr())

			// A port ceiling bounds all sources together.
			port := uint16(ul.LocalAddr().(*net.UDPAddr).Port)
			if err := f.SetPortLimit(UDP, port, Rate{PPS: 1, Burst: 2}); err != nil {
				t.Fatal(err)
			}
			before = counter(t, f, VerdictPortLimit)
			if got := sendUDP(t, good, ul, 5); got != 2 {
				t.Errorf("%d datagrams through a ceiling of 2, want 2", got)
			}
			if d := counter(t, f, VerdictPortLimit) - before; d != 3 {
				t.Errorf("port limit counter +%d, want +3", d)
			}
			if err := f.SetPortLimit(UDP, port, Rate{}); err != nil {
				t.Fatal(err)
			}

			// A per-source bucket bounds each source.
			if err := f.SetSourceRate(Rate{PPS: 1, Burst: 3}); err != nil {
				t.Fatal(err)
			}
			before = counter(t, f, VerdictRateLimit)
			if got := sendUDP(t, bad, ul, 6); got != 3 {
				t.Errorf("%d datagrams through a bucket of 3, want 3", got)
			}
			if d := counter(t, f, VerdictRateLimit) - before; d != 3 {
				t.Errorf("rate limit counter +%d, want +3", d)
			}
		})
	}
}

// TestRestart closes a filter and opens another on the same pins, as a
// restart of Wedge does: the program filters all along, the rules are
// still there, and the new program is swapped into the same link.
func TestRestart(t *testing.T) {
	tn := newTestNet(t)
	dir := pinDir(t)
	cfg := Config{Interface: tn.peer, PinDir: dir, Logger: testLogger(t)}
	a, tl, _ := openIn(t, tn, cfg)
	good, bad := tn.addr(1), tn.addr(3)
	if err := a.Block(prefix(bad), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Block(netip.MustParsePrefix("192.0.2.0/24"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.Allow(netip.MustParsePrefix("2001:db8:ffff::/48"), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSourceRate(Rate{PPS: 100000}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPortLimit(TCP, 443, Rate{PPS: 5000, Burst: 100}); err != nil {
		t.Fatal(err)
	}
	mustDrop(t, bad, tl.Addr())
	info, err := a.kern.lnk.Info()
	if err != nil {
		t.Fatal(err)
	}
	blocked, _ := a.Blocklist()
	allowed, _ := a.Allowlist()
	ports, _ := a.PortLimits()
	drops := counter(t, a, VerdictBlocklist)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// No process holds the program: the pinned link keeps it attached.
	mustDrop(t, bad, tl.Addr())
	mustPass(t, good, tl.Addr())

	b, _, _ := openIn(t, tn, cfg)
	if b.Mode() != a.Mode() {
		t.Errorf("mode %s after the restart, was %s", b.Mode(), a.Mode())
	}
	info2, err := b.kern.lnk.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info2.ID != info.ID {
		t.Errorf("link %d after the restart, was %d: the link was replaced, not updated", info2.ID, info.ID)
	}
	if info2.Program == info.Program {
		t.Errorf("program %d still attached after the restart", info.Program)
	}
	if got, _ := b.Blocklist(); !slices.EqualFunc(got, blocked, sameRule) {
		t.Errorf("blocklist %v after the restart, was %v", got, blocked)
	}
	if got, _ := b.Allowlist(); !slices.EqualFunc(got, allowed, sameRule) {
		t.Errorf("allowlist %v after the restart, was %v", got, allowed)
	}
	if got, _ := b.PortLimits(); !slices.Equal(got, ports) {
		t.Errorf("port limits %v after the restart, were %v", got, ports)
	}
	if got := b.SourceRate(); got != (Rate{PPS: 100000, Burst: 100000}) {
		t.Errorf("source rate %v after the restart", got)
	}
	if got := counter(t, b, VerdictBlocklist); got <= drops {
		t.Errorf("blocklist counter %d after the restart, was %d before the drop while closed", got, drops)
	}
	mustDrop(t, bad, tl.Addr())

	if err := b.Detach(); err != nil {
		t.Fatal(err)
	}
	if err := b.Detach(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Detach: %v, want ErrClosed", err)
	}
	if _, err := b.Blocklist(); !errors.Is(err, ErrClosed) {
		t.Errorf("Blocklist after Detach: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, tn.peer)); !isNotExist(err) {
		t.Errorf("pin directory after Detach: %v", err)
	}
	mustPass(t, bad, tl.Addr())
	if st := xdpStateIn(t, tn); st != (xdpState{}) {
		t.Errorf("XDP programs %+v after Detach, want none", st)
	}
}

func xdpStateIn(t *testing.T, tn *testNet) xdpState {
	t.Helper()
	var st xdpState
	err := tn.do(func() error {
		n, err := openRtnl()
		if err != nil {
			return err
		}
		defer n.close()
		ifc, err := net.InterfaceByName(tn.peer)
		if err != nil {
			return err
		}
		st, err = n.xdpQuery(ifc.Index)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// XDP actions (linux/bpf.h).
const (
	xdpDrop = 1
	xdpPass = 2
	xdpTX   = 3
)

// passProgram is the trivial XDP program: return XDP_PASS.
func passProgram(t testing.TB, attach ebpf.AttachType) *ebpf.Program {
	t.Helper()
	return trivialProgram(t, attach, xdpPass)
}

// trivialProgram is an XDP program that returns action and does nothing
// else, built here rather than compiled.
func trivialProgram(t testing.TB, attach ebpf.AttachType, action int32) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "wedge_test_" + map[int32]string{xdpDrop: "drop", xdpPass: "pass", xdpTX: "tx"}[action],
		Type:         ebpf.XDP,
		AttachType:   attach,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, action), asm.Return()},
	})
	requireKernel(t, err, "load a trivial XDP program")
	t.Cleanup(func() { p.Close() })
	return p
}

func progID(t *testing.T, p *ebpf.Program) uint32 {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return uint32(id)
}

// TestTakeOver opens the filter on a device that has an XDP program
// already, left by something else: attached through netlink, or through a
// link that is not ours.
func TestTakeOver(t *testing.T) {
	tests := []struct {
		name string
		// attach attaches the stale program inside the namespace; it
		// returns what to close after the filter took over.
		attach     func(ifindex int, p *ebpf.Program) (func(), error)
		attachType ebpf.AttachType
	}{
		{"netlink", func(ifindex int, p *ebpf.Program) (func(), error) {
			n, err := openRtnl()
			if err != nil {
				return nil, err
			}
			defer n.close()
			return func() {}, n.xdpSet(ifindex, p.FD(), uint32(link.XDPGenericMode), -1)
		}, ebpf.AttachXDP},
		{"link", func(ifindex int, p *ebpf.Program) (func(), error) {
			l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ifindex, Flags: link.XDPGenericMode})
			if err != nil {
				return nil, err
			}
			return func() { l.Close() }, nil
		}, ebpf.AttachXDP},
		// A program loaded without the XDP attach type (as older cilium/ebpf
		// did) cannot be swapped for one with it: the filter replaces the
		// link instead.
		{"link of an AttachNone program", func(ifindex int, p *ebpf.Program) (func(), error) {
			l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ifindex, Flags: link.XDPGenericMode})
			if err != nil {
				return nil, err
			}
			return func() { l.Close() }, nil
		}, ebpf.AttachNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTestNet(t)
			stale := passProgram(t, tt.attachType)
			var release func()
			err := tn.do(func() error {
				ifc, err := net.InterfaceByName(tn.peer)
				if err != nil {
					return err
				}
				release, err = tt.attach(ifc.Index, stale)
				return err
			})
			requireKernel(t, err, "attach a stale program")
			if st := xdpStateIn(t, tn); st.skb != progID(t, stale) {
				t.Fatalf("stale program not attached: %+v", st)
			}

			cfg := Config{Interface: tn.peer, PinDir: pinDir(t), Logger: testLogger(t)}
			f, tl, _ := openIn(t, tn, cfg)
			release()
			if f.Mode() != ModeGeneric {
				t.Errorf("mode %s, want generic (the stale program's)", f.Mode())
			}
			if st := xdpStateIn(t, tn); st.skb != progID(t, f.kern.objs.WedgeXdp) {
				t.Errorf("XDP programs %+v, want ours (%d) in generic mode", st, progID(t, f.kern.objs.WedgeXdp))
			}
			if err := f.Block(prefix(tn.addr(3)), 0); err != nil {
				t.Fatal(err)
			}
			mustDrop(t, tn.addr(3), tl.Addr())
			mustPass(t, tn.addr(1), tl.Addr())

			// A restart keeps filtering, however the program is attached.
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			mustDrop(t, tn.addr(3), tl.Addr())
			g, _, _ := openIn(t, tn, cfg)
			mustDrop(t, tn.addr(3), tl.Addr())
			if err := g.Detach(); err != nil {
				t.Fatal(err)
			}
			if st := xdpStateIn(t, tn); st != (xdpState{}) {
				t.Errorf("XDP programs %+v after Detach, want none", st)
			}
			mustPass(t, tn.addr(3), tl.Addr())
		})
	}
}

// sameRule compares rules, with their expiry to the millisecond: the wall
// time of an expiry is computed from the monotonic clock at each call.
func sameRule(a, b Rule) bool {
	d := a.Expires.Sub(b.Expires)
	return a.Prefix == b.Prefix && a.Expires.IsZero() == b.Expires.IsZero() && d < time.Millisecond && d > -time.Millisecond
}

// TestAutoGeneric opens the filter in ModeAuto on a device without native
// XDP (a bridge, or else an ifb): the driver says no, the filter attaches in
// generic mode.
func TestAutoGeneric(t *testing.T) {
	tn := newTestNet(t)
	dummy := "wnfd" + tn.host[4:]
	if err := ipCmd("-n", tn.ns, "link", "add", dummy, "type", "bridge"); err != nil {
		if err2 := ipCmd("-n", tn.ns, "link", "add", dummy, "type", "ifb"); err2 != nil {
			skipKernel(t, "no device type without native XDP in this kernel: %v; %v", err, err2)
		}
	}
	if err := ipCmd("-n", tn.ns, "link", "set", dummy, "up"); err != nil {
		t.Fatal(err)
	}
	var f *Filter
	err := tn.do(func() (err error) {
		f, err = Open(Config{Interface: dummy, PinDir: pinDir(t), Logger: testLogger(t)})
		return err
	})
	requireKernel(t, err, "open the filter on a bridge")
	defer f.Detach()
	if f.Mode() != ModeGeneric {
		t.Errorf("mode %s, want generic", f.Mode())
	}
	// Forced native mode fails, with the driver's word.
	err = tn.do(func() error {
		g, err := Open(Config{Interface: dummy, PinDir: pinDir(t), Mode: ModeNative})
		if err == nil {
			g.Detach()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "native") {
		t.Errorf("Open in ModeNative without native XDP: %v, want the driver's refusal", err)
	}
}

// TestNetlinkError checks that a netlink refusal carries the kernel's
// message (extended ack): native XDP on the loopback device, which has no
// driver support and so attaches nothing.
func TestNetlinkError(t *testing.T) {
	p := passProgram(t, ebpf.AttachXDP)
	n, err := openRtnl()
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	err = n.xdpSet(lo.Index, p.FD(), uint32(link.XDPDriverMode), -1)
	var ne *netlinkError
	if !errors.As(err, &ne) || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("native XDP on lo: %v, want EOPNOTSUPP from netlink", err)
	}
	if ne.msg == "" {
		t.Errorf("no extended ack message in %v", err)
	}
	if st, err := n.xdpQuery(lo.Index); err != nil || st != (xdpState{}) {
		t.Errorf("lo's XDP programs %+v, %v; want none", st, err)
	}
}
