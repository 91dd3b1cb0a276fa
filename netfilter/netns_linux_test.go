package netfilter

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNet is a network namespace with one end of a veth pair in it (peer)
// and the other in the test's namespace (host), made for one test and
// removed after it:
//
//	host: 198.18.N.1, 198.18.N.3, 2001:db8:N::1, 2001:db8:N::3
//	peer: 198.18.N.2, 2001:db8:N::2
//
// The second host address is a second source, to block while the first
// one still passes. 198.18.0.0/15 is set aside for benchmarking networks
// and 2001:db8::/32 for documentation: nothing here routes to them.
type testNet struct {
	ns, host, peer string
	n              int
}

var testNets atomic.Int32

// freeSubnet returns an N for 198.18.N.0/24 that no interface of this
// namespace uses: another test process, or one that died, may hold some.
func freeSubnet(t testing.TB) int {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	used := map[int]bool{}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			if b := p.Addr().As4(); b[0] == 198 && b[1] == 18 {
				used[int(b[2])] = true
			}
		}
	}
	start := int(testNets.Add(1)) + os.Getpid()
	for i := range 255 {
		if n := 1 + (start+i)%255; !used[n] {
			return n
		}
	}
	t.Fatal("every 198.18.N.0/24 is in use")
	return 0
}

func (tn *testNet) addr(host int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(tn.n), byte(host)})
}

func (tn *testNet) addr6(host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::%d", tn.n, host))
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// newTestNet makes a namespace and a veth pair, or skips the test when
// this process may not (not root, no iproute2).
func newTestNet(t testing.TB) *testNet {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		skipKernel(t, "iproute2's ip is not installed: cannot make a network namespace")
	}
	if !privileged() {
		skipKernel(t, "making a network namespace and attaching XDP need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	tn := &testNet{ns: "wedge-nf-" + id, host: "wnfh" + id, peer: "wnfp" + id, n: freeSubnet(t)}
	if err := ipCmd("netns", "add", tn.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ipCmd("netns", "del", tn.ns); err != nil {
			t.Error(err)
		}
	})
	if err := ipCmd("link", "add", tn.host, "type", "veth", "peer", "name", tn.peer, "netns", tn.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ipCmd("link", "del", tn.host) }) // gone already if the namespace went first
	steps := [][]string{
		{"addr", "add", tn.addr(1).String() + "/24", "dev", tn.host},
		{"addr", "add", tn.addr(3).String() + "/24", "dev", tn.host},
		{"-6", "addr", "add", tn.addr6(1).String() + "/64", "dev", tn.host, "nodad"},
		{"-6", "addr", "add", tn.addr6(3).String() + "/64", "dev", tn.host, "nodad"},
		{"link", "set", tn.host, "up"},
		{"-n", tn.ns, "addr", "add", tn.addr(2).String() + "/24", "dev", tn.peer},
		{"-n", tn.ns, "-6", "addr", "add", tn.addr6(2).String() + "/64", "dev", tn.peer, "nodad"},
		{"-n", tn.ns, "link", "set", tn.peer, "up"},
		{"-n", tn.ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

// do runs fn on an OS thread that has entered the namespace. Sockets and
// netlink sockets made by fn belong to the namespace for their lifetime.
// fn must not call t.Fatal: it runs on another goroutine.
func (tn *testNet) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread stays locked unless it gets back to its namespace: a
		// goroutine that exits locked takes its thread with it.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := os.Open("/run/netns/" + tn.ns)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// pinDir returns a directory for pins, with a bpffs that Open will mount
// on it unmounted after the test.
func pinDir(t testing.TB) string {
	dir := t.TempDir()
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// testLogger sends the filter's log to the test's.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// dialTimeout is how long a connection from a blocked source is given
// before the test calls it dropped: the SYN gets no answer and the first
// retransmission is a second away.
const dialTimeout = 400 * time.Millisecond

// dial connects from the host address src to the peer's listener; it
// returns nil when the connection was made.
func dial(src netip.Addr, to net.Addr) error {
	d := net.Dialer{Timeout: dialTimeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		return err
	}
	return c.Close()
}

// serve accepts connections on l and closes them, until l is closed.
func serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
