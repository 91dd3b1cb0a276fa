package netfilter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// BenchmarkVethDrop floods one end of a veth pair with UDP packets from a
// blocked source and measures, for each way of dropping them at the other
// end, the packets dropped per second and the CPU time spent per packet.
// One op is one packet sent; each configuration has a namespace and a veth
// pair of its own, made before it and removed after it:
//
//   - iptables-raw: `iptables -t raw -A PREROUTING -s SRC -j DROP` (the
//     baseline of the ratios), and iptables-legacy-raw, the same rule with
//     iptables-legacy where it is installed;
//   - nftables-set: an nftables interval set holding the 100k prefixes of
//     blocklist4 and SRC, and `ip saddr @set drop` at the raw priority;
//   - xdp-generic, xdp-native: this package's filter, in each XDP mode,
//     with the same prefixes blocked; xdp-trivial-drop, a native program
//     that only returns XDP_DROP, is the floor: what the veth costs;
//   - userspace: the fallback, the same prefixes in the model: packets
//     reach a UDP socket, and a goroutine reads them and drops each after
//     the model's verdict (as Filter.Listener does with a connection).
//
// The sender is in the kernel: a program that returns XDP_TX, run with
// BPF_PROG_TEST_RUN in live frame mode (BPF_F_TEST_XDP_LIVE_FRAMES) on the
// near end of the pair, transmits each repetition of one 60-byte frame to
// the far end (a socket sender is slower than any of the filters: veth
// copies its packets). The far end has GRO on, which gives it the NAPI
// context that XDP_TX to a veth needs, in every configuration alike.
//
// The sender runs on CPU 0, and the far end receives each batch of 64
// frames in the NET_RX softirq that the sender raises, on the same CPU
// (the userspace reader runs on CPU 1). CPU per packet is the time spent
// in NET_RX softirqs — measured by two raw tracepoint programs on
// softirq_entry and softirq_exit, to the nanosecond, on every CPU —
// divided by the packets the far end received; for the fallback, plus the
// reader thread's CPU time (schedstat) per packet it read. all-cpu/pkt is
// every CPU's non-idle time (/proc/stat, in ticks) per packet received,
// the sender included. drops/s is the filter's own count of drops over the
// sending time; both ends share a CPU, so it is bounded by the sender's
// cost as well.
//
// It needs root, iptables and nftables:
//
//	go test -run NONE -bench BenchmarkVethDrop -benchtime 3s ./netfilter
//
// or scripts/bench-xdp.sh, which installs them.
func BenchmarkVethDrop(b *testing.B) {
	if !privileged() {
		skipKernel(b, "flooding a veth pair with live XDP frames needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
	}
	meter := newNetRxMeter(b)
	sender := trivialProgram(b, ebpf.AttachXDP, xdpTX)
	prefixes := blocklist4(100_000)
	var results []vethResult

	for _, c := range vethConfigs() {
		b.Run(c.name, func(b *testing.B) {
			if c.tool != "" {
				if _, err := exec.LookPath(c.tool); err != nil {
					skipKernel(b, "%s is not installed (Debian: apt-get install iptables nftables)", c.tool)
				}
			}
			tn := newTestNet(b)
			v := newVethFlood(b, tn, sender)
			drops, userCPU := c.setup(b, tn, v.src, prefixes)
			waitQuiet(b)
			b.Run(c.rules, func(b *testing.B) {
				r := v.measure(b, meter, drops, userCPU)
				r.name = c.name
				if i := slices.IndexFunc(results, func(r vethResult) bool { return r.name == "iptables-raw" }); i >= 0 && c.name != "iptables-raw" {
					base := results[i]
					b.ReportMetric(base.cpuPerPkt/r.cpuPerPkt, "x-iptables-cpu")
					b.ReportMetric(r.dropsPerSec/base.dropsPerSec, "x-iptables-rate")
				}
				// The last run of a benchmark is the one with the final b.N.
				results = slices.DeleteFunc(results, func(o vethResult) bool { return o.name == r.name })
				results = append(results, r)
			})
		})
	}
	logVethResults(b, results)
}

// A vethConfig is one way of dropping the flood at the far end.
type vethConfig struct {
	name, rules string
	// tool is the command the configuration needs, if any.
	tool string
	// setup makes the far end of tn drop packets from src (and the
	// prefixes); it returns the filter's count of drops so far and, for
	// the userspace fallback, the CPU time its reader has used so far.
	setup func(b *testing.B, tn *testNet, src netip.Addr, ps []netip.Prefix) (drops func() (uint64, error), userCPU func() (time.Duration, error))
}

func vethConfigs() []vethConfig {
	return []vethConfig{
		{name: "iptables-raw", rules: "1-rule", tool: "iptables", setup: iptablesSetup("iptables")},
		{name: "iptables-legacy-raw", rules: "1-rule", tool: "iptables-legacy", setup: iptablesSetup("iptables-legacy")},
		{name: "nftables-set", rules: "100k-prefixes", tool: "nft", setup: nftSetup},
		{name: "xdp-generic", rules: "100k-prefixes", setup: xdpSetup(ModeGeneric)},
		{name: "xdp-native", rules: "100k-prefixes", setup: xdpSetup(ModeNative)},
		{name: "xdp-trivial-drop", rules: "native", setup: trivialDropSetup},
		{name: "userspace", rules: "100k-prefixes", setup: userspaceSetup},
	}
}

// vethPort is the UDP port the flood goes to (where the fallback listens).
const vethPort = 9999

func xdpSetup(mode Mode) func(*testing.B, *testNet, netip.Addr, []netip.Prefix) (func() (uint64, error), func() (time.Duration, error)) {
	return func(b *testing.B, tn *testNet, src netip.Addr, ps []netip.Prefix) (func() (uint64, error), func() (time.Duration, error)) {
		var f *Filter
		err := tn.do(func() (err error) {
			f, err = Open(Config{Interface: tn.peer, PinDir: pinDir(b), Mode: mode})
			return err
		})
		requireKernel(b, err, "open the filter on "+tn.peer)
		b.Cleanup(func() { _ = f.Detach() })
		for _, p := range append(ps, prefix(src)) {
			if err := f.Block(p, 0); err != nil {
				b.Fatal(err)
			}
		}
		return func() (uint64, error) {
			c, err := f.Counters()
			return c[VerdictBlocklist], err
		}, nil
	}
}

// trivialDropSetup attaches, in native mode, an XDP program that drops
// everything: the floor of XDP on a veth, what the veth costs per packet.
func trivialDropSetup(b *testing.B, tn *testNet, _ netip.Addr, _ []netip.Prefix) (func() (uint64, error), func() (time.Duration, error)) {
	prog := trivialProgram(b, ebpf.AttachXDP, xdpDrop)
	var l link.Link
	err := tn.do(func() error {
		ifc, err := net.InterfaceByName(tn.peer)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
		return err
	})
	requireKernel(b, err, "attach a trivial XDP program to "+tn.peer)
	b.Cleanup(func() { l.Close() })
	// It drops what it receives.
	return func() (uint64, error) { return tn.received(tn.peer) }, nil
}

func iptablesSetup(cmd string) func(*testing.B, *testNet, netip.Addr, []netip.Prefix) (func() (uint64, error), func() (time.Duration, error)) {
	return func(b *testing.B, tn *testNet, src netip.Addr, _ []netip.Prefix) (func() (uint64, error), func() (time.Duration, error)) {
		if _, err := tn.exec(cmd, "-w", "-t", "raw", "-A", "PREROUTING", "-s", prefix(src).String(), "-j", "DROP"); err != nil {
			b.Fatal(err)
		}
		return func() (uint64, error) {
			out, err := tn.exec(cmd, "-w", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n")
			if err != nil {
				return 0, err
			}
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[2] == "DROP" {
					return strconv.ParseUint(f[0], 10, 64)
				}
			}
			return 0, fmt.Errorf("no DROP rule in:\n%s", out)
		}, nil
	}
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

func nftSetup(b *testing.B, tn *testNet, src netip.Addr, ps []netip.Prefix) (func() (uint64, error), func() (time.Duration, error)) {
	// auto-merge: an interval set refuses overlapping elements otherwise,
	// and a blocklist has them (a /32 inside a blocked /24).
	var sb strings.Builder
	sb.WriteString("table ip wedge_bench {\n\tcounter drops {\n\t}\n\tset blocked {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { ")
	for _, p := range append(ps, prefix(src)) {
		sb.WriteString(p.String())
		sb.WriteString(", ")
	}
	sb.WriteString("}\n\t}\n\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n" +
		"\t\tip saddr @blocked counter name drops drop\n\t}\n}\n")
	file := filepath.Join(b.TempDir(), "ruleset.nft")
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if _, err := tn.exec("nft", "-f", file); err != nil {
		b.Fatal(err)
	}
	return func() (uint64, error) {
		out, err := tn.exec("nft", "list", "counter", "ip", "wedge_bench", "drops")
		if err != nil {
			return 0, err
		}
		m := nftPackets.FindStringSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("no counter in:\n%s", out)
		}
		return strconv.ParseUint(m[1], 10, 64)
	}, nil
}

func userspaceSetup(b *testing.B, tn *testNet, src netip.Addr, ps []netip.Prefix) (func() (uint64, error), func() (time.Duration, error)) {
	f, err := Open(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	for _, p := range append(ps, prefix(src)) {
		if err := f.Block(p, 0); err != nil {
			b.Fatal(err)
		}
	}
	var conn *net.UDPConn
	err = tn.do(func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(tn.addr(2), vethPort)))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	var dropped, admitted atomic.Uint64
	tid := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The reader has a thread and a CPU of its own (the sender has
		// CPU 0), so that its CPU time is its own. Never unlocked: the
		// pinned thread ends with the goroutine.
		runtime.LockOSThread()
		if runtime.NumCPU() > 1 {
			var set unix.CPUSet
			set.Set(1)
			_ = unix.SchedSetaffinity(0, &set)
		}
		tid <- unix.Gettid()
		local := conn.LocalAddr()
		buf := make([]byte, 2048)
		for {
			_, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if f.admitAddr(from.Addr(), local) {
				admitted.Add(1)
			} else {
				dropped.Add(1)
			}
		}
	}()
	stat := fmt.Sprintf("/proc/self/task/%d/schedstat", <-tid)
	b.Cleanup(func() {
		conn.Close()
		<-done
		if n := admitted.Load(); n != 0 {
			b.Errorf("the model admitted %d packets from a blocked source", n)
		}
	})
	return func() (uint64, error) { return dropped.Load(), nil }, func() (time.Duration, error) {
		ns, err := firstField(stat)
		return time.Duration(ns), err
	}
}

// vethFlood sends live frames from the near end of tn to the far end.
type vethFlood struct {
	tn      *testNet
	sender  *ebpf.Program
	frame   []byte
	ifindex int
	src     netip.Addr
}

func newVethFlood(b *testing.B, tn *testNet, sender *ebpf.Program) *vethFlood {
	host, err := net.InterfaceByName(tn.host)
	if err != nil {
		b.Fatal(err)
	}
	var peer *net.Interface
	err = tn.do(func() error {
		// XDP_TX to a veth needs NAPI on its peer: an XDP program there,
		// or GRO, which the configurations without one get so.
		if err := setGRO(tn.peer, true); err != nil {
			return err
		}
		peer, err = net.InterfaceByName(tn.peer)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	src := tn.addr(3)
	return &vethFlood{
		tn: tn, sender: sender, ifindex: host.Index, src: src,
		frame: udpFrame(host.HardwareAddr, peer.HardwareAddr, src, tn.addr(2), vethPort),
	}
}

// send transmits n frames from a thread pinned to CPU 0.
func (v *vethFlood) send(n int) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the pinned thread ends with the goroutine.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(0)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pin the sender to CPU 0: %w", err)
			return
		}
		// The frame arrives on the near end, and XDP_TX sends it back out
		// of it, to the far end.
		ctx := xdpMD{DataEnd: uint32(len(v.frame)), IngressIfindex: uint32(v.ifindex)}
		for n > 0 {
			c := min(n, 1<<20)
			if _, err := v.sender.Run(&ebpf.RunOptions{
				Data:    v.frame,
				Context: ctx,
				Repeat:  uint32(c),
				Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			}); err != nil {
				errc <- fmt.Errorf("send live frames: %w", err)
				return
			}
			n -= c
		}
		errc <- nil
	}()
	return <-errc
}

// xdpMD is struct xdp_md, the XDP program's context (linux/bpf.h).
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

type vethResult struct {
	name                    string
	sent, received, dropped uint64
	seconds                 float64
	dropsPerSec             float64
	netRxPerPkt, userPerPkt float64 // ns
	cpuPerPkt, allCPUPerPkt float64 // ns
	cpusBusy                float64
}

// measure sends b.N frames and reports what the far end did with them.
// drops may be slow (iptables and nft are commands): it is called outside
// the time measured, except for the fallback's, which is a counter.
func (v *vethFlood) measure(b *testing.B, meter *netRxMeter, drops func() (uint64, error), userCPU func() (time.Duration, error)) vethResult {
	must := func(n uint64, err error) uint64 {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	dur := func(d time.Duration, err error) time.Duration {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	user := func() time.Duration {
		if userCPU == nil {
			return 0
		}
		return dur(userCPU())
	}
	d0 := must(drops())
	rx0, n0, c0, u0 := must(v.received()), dur(meter.read()), dur(busyCPU()), user()
	t0 := time.Now()
	b.ResetTimer()
	start := time.Now()
	if err := v.send(b.N); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var dEnd uint64
	if userCPU != nil {
		dEnd = must(drops())
	}
	// Let the far end finish: the fallback's reader lags behind; the
	// kernel has received everything when the sender returns, unless
	// ksoftirqd took over.
	for last := ^uint64(0); ; {
		time.Sleep(20 * time.Millisecond)
		n := must(v.received())
		if userCPU != nil {
			n += must(drops())
		}
		if n == last {
			break
		}
		last = n
	}
	rx1, n1, c1, u1 := must(v.received()), dur(meter.read()), dur(busyCPU()), user()
	wall := time.Since(t0)
	d1 := must(drops())
	if userCPU == nil {
		dEnd = d1
	}

	r := vethResult{sent: uint64(b.N), received: rx1 - rx0, dropped: d1 - d0, seconds: elapsed.Seconds()}
	b.Logf("%d sent, %d received, %d dropped by the filter in %v; NET_RX %v, busy CPU %v, userspace %v",
		r.sent, r.received, r.dropped, elapsed, n1-n0, c1-c0, u1-u0)
	if r.received == 0 {
		b.Fatalf("%d frames sent, none received by %s", b.N, v.tn.peer)
	}
	// The far end receives a few packets of its own (IPv6 neighbour
	// discovery, MLD): the kernel's filters must drop all but those.
	if userCPU == nil && r.dropped+16 < min(r.sent, r.received)*99/100 {
		b.Errorf("%d packets sent, %d received, %d dropped by the filter", r.sent, r.received, r.dropped)
	}
	r.dropsPerSec = float64(dEnd-d0) / r.seconds
	r.netRxPerPkt = float64(n1-n0) / float64(r.received)
	if userCPU != nil && r.dropped > 0 {
		r.userPerPkt = float64(u1-u0) / float64(r.dropped)
	}
	r.cpuPerPkt = r.netRxPerPkt + r.userPerPkt
	r.allCPUPerPkt = float64(c1-c0) / float64(r.received)
	r.cpusBusy = float64(c1-c0) / float64(wall)
	b.ReportMetric(r.dropsPerSec, "drops/s")
	b.ReportMetric(r.cpuPerPkt, "cpu-ns/pkt")
	b.ReportMetric(r.allCPUPerPkt, "all-cpu-ns/pkt")
	return r
}

// waitQuiet waits, up to 10 s, until the machine's CPUs are idle (less
// than a tenth of one busy over a quarter of a second): the previous
// configuration's namespace, removed, is torn down in the background, and
// the figures are for this benchmark alone. The "CPUs busy" column of the
// results tells whether something else ran during a measurement.
func waitQuiet(b *testing.B) {
	const window = 250 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		c0, err := busyCPU()
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(window)
		c1, err := busyCPU()
		if err != nil {
			b.Fatal(err)
		}
		if busy := float64(c1-c0) / float64(window); busy < 0.1 || time.Now().After(deadline) {
			if busy >= 0.1 {
				b.Logf("the machine is busy: %.1f CPUs in use before the measurement", busy)
			}
			return
		}
	}
}

// received returns how many packets the far end has received.
func (v *vethFlood) received() (uint64, error) { return v.tn.received(v.tn.peer) }

// received returns how many packets dev, in the namespace, has received.
func (tn *testNet) received(dev string) (uint64, error) {
	var n uint64
	err := tn.do(func() error {
		f, err := os.Open("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			name, stats, ok := strings.Cut(s.Text(), ":")
			if ok && strings.TrimSpace(name) == dev {
				fields := strings.Fields(stats) // rx bytes, rx packets...
				if len(fields) < 2 {
					break
				}
				n, err = strconv.ParseUint(fields[1], 10, 64)
				return err
			}
		}
		return fmt.Errorf("no %s in /proc/net/dev", dev)
	})
	return n, err
}

// logVethResults writes the results as a table, with their ratios to
// iptables-raw.
func logVethResults(b *testing.B, results []vethResult) {
	if len(results) == 0 {
		return
	}
	var base *vethResult
	for i := range results {
		if results[i].name == "iptables-raw" {
			base = &results[i]
		}
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "configuration\tsent\treceived\tdropped\tdrops/s\tNET_RX ns/pkt\tuser ns/pkt\tCPU ns/pkt\tall-CPU ns/pkt\tCPUs busy\tiptables CPU ÷ CPU\tdrops/s ÷ iptables'\t")
	for _, r := range results {
		cpuX, rateX := "-", "-"
		if base != nil {
			cpuX = fmt.Sprintf("%.2f", base.cpuPerPkt/r.cpuPerPkt)
			rateX = fmt.Sprintf("%.2f", r.dropsPerSec/base.dropsPerSec)
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%s\t%s\t\n", r.name, r.sent, r.received, r.dropped,
			r.dropsPerSec, r.netRxPerPkt, r.userPerPkt, r.cpuPerPkt, r.allCPUPerPkt, r.cpusBusy, cpuX, rateX)
	}
	w.Flush()
	// On stdout: a benchmark with sub-benchmarks prints its log only with -v.
	fmt.Printf("veth flood, one run (%s):\n%s", b.Name(), sb.String())
}

// exec runs a command inside the namespace and returns its output.
func (tn *testNet) exec(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", tn.ns, name}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// udpFrame builds an Ethernet frame carrying a UDP datagram of 18 bytes,
// 60 bytes in all, with a correct IPv4 header checksum (the stack checks
// it) and no UDP checksum.
func udpFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, port uint16) []byte {
	payload := []byte("wedge veth flood!!")
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], port)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	ip := ip4(src.String(), dst.String(), protoUDP, udp, ip4opt{})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	frame := append(append(append([]byte{}, dstMAC...), srcMAC...), 0x08, 0x00)
	return append(frame, ip...)
}

// setGRO turns GRO on or off on a device of this thread's namespace
// (ETHTOOL_SGRO, what `ethtool -K DEV gro on` does).
func setGRO(dev string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_SGRO}
	if on {
		v.data = 1
	}
	// struct ifreq: the name, then a pointer to the ethtool command.
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], dev)
	ifr.data = unsafe.Pointer(&v)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("ETHTOOL_SGRO on %s: %w", dev, errno)
	}
	runtime.KeepAlive(&v)
	return nil
}

// netRxMeter adds up the time every CPU spends in NET_RX softirqs: two raw
// tracepoint programs, on softirq_entry and softirq_exit, keep per CPU the
// start of the current one and the total so far.
type netRxMeter struct {
	m *ebpf.Map
}

// netRxSoftirq is NET_RX_SOFTIRQ, the softirq vector of packet reception.
const netRxSoftirq = 3

func newNetRxMeter(b *testing.B) *netRxMeter {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "wedge_netrx", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: 1})
	requireKernel(b, err, "make a per-CPU array")
	b.Cleanup(func() { m.Close() })
	// lookup leaves in R0 the CPU's {start, total} and in R7 the time; it
	// jumps to "out" on another vector.
	lookup := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // args[0]: the vector
		asm.JNE.Imm(asm.R6, netRxSoftirq, "out"),
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
	}
	out := asm.Instructions{asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return()}
	entry := slices.Concat(lookup, asm.Instructions{
		asm.StoreMem(asm.R0, 0, asm.R7, asm.DWord),
	}, out)
	exit := slices.Concat(lookup, asm.Instructions{
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "out"), // entered before the meter was
		asm.Sub.Reg(asm.R7, asm.R1),
		asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R2, asm.R7),
		asm.StoreMem(asm.R0, 8, asm.R2, asm.DWord),
	}, out)
	for _, p := range []struct {
		name  string
		insns asm.Instructions
	}{{"softirq_entry", entry}, {"softirq_exit", exit}} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "wedge_" + p.name, Type: ebpf.RawTracepoint, License: "MIT", Instructions: p.insns})
		requireKernel(b, err, "load a raw tracepoint program for "+p.name)
		b.Cleanup(func() { prog.Close() })
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.name, Program: prog})
		requireKernel(b, err, "attach to the raw tracepoint "+p.name)
		b.Cleanup(func() { l.Close() })
	}
	return &netRxMeter{m: m}
}

// read returns the time spent in NET_RX softirqs, on all CPUs, since the
// meter was made.
func (n *netRxMeter) read() (time.Duration, error) {
	var per []struct{ Start, Total uint64 }
	if err := n.m.Lookup(uint32(0), &per); err != nil {
		return 0, err
	}
	var t uint64
	for _, c := range per {
		t += c.Total
	}
	return time.Duration(t), nil
}

// busyCPU returns the non-idle time of all CPUs since boot (/proc/stat,
// in clock ticks of 10 ms).
func busyCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat")
	}
	var busy uint64
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, err
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond, nil
}

// firstField returns the first number of a file (schedstat: the CPU time
// of a thread, in ns).
func firstField(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s is empty", path)
	}
	return strconv.ParseUint(f[0], 10, 64)
}
