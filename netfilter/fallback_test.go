package netfilter

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

func openUserspace(t *testing.T) *Filter {
	t.Helper()
	f, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if f.Mode() != ModeUserspace {
		t.Fatalf("mode %s, want userspace", f.Mode())
	}
	return f
}

var loopback = netip.MustParsePrefix("127.0.0.1/32")

// connState dials l and tells whether the filter kept the connection: the
// server writes a byte on every connection it accepts; one the filter
// dropped is reset without it.
func connState(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if errors.Is(err, syscall.ECONNRESET) {
		return false // reset before the dialer saw its connection made
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var b [1]byte
	_, err = c.Read(b[:])
	return err == nil
}

func TestUserspaceListener(t *testing.T) {
	f := openUserspace(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := f.Listener(inner)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{1})
			c.Close()
		}
	}()
	addr := l.Addr().String()
	if !connState(t, addr) {
		t.Fatal("connection dropped with no rules")
	}
	if err := f.Block(loopback, 0); err != nil {
		t.Fatal(err)
	}
	if connState(t, addr) {
		t.Fatal("connection from a blocked source kept")
	}
	if err := f.Unblock(loopback); err != nil {
		t.Fatal(err)
	}
	if !connState(t, addr) {
		t.Fatal("connection dropped after Unblock")
	}
	port := uint16(inner.Addr().(*net.TCPAddr).Port)
	if err := f.SetPortLimit(TCP, port, Rate{PPS: 1, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	if !connState(t, addr) {
		t.Fatal("first connection under the port ceiling dropped")
	}
	if connState(t, addr) {
		t.Fatal("second connection over the port ceiling kept")
	}
	c, _ := f.Counters()
	if c[VerdictBlocklist] != 1 || c[VerdictPortLimit] != 1 || c[VerdictPass] != 3 {
		t.Errorf("counters %v", c)
	}
}

func TestUserspaceMiddleware(t *testing.T) {
	f := openUserspace(t)
	srv := httptest.NewServer(f.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})))
	defer srv.Close()
	get := func() error {
		// A new connection each time: an aborted request closes its own.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
		resp, err := c.Get(srv.URL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
			return fmt.Errorf("body %q", b)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("no rules: %v", err)
	}
	if err := f.Block(loopback, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := get(); err == nil {
		t.Fatal("request from a blocked source answered")
	}
	if err := f.Allow(netip.MustParsePrefix("127.0.0.0/8"), 0); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("allowlisted: %v", err)
	}
	if err := f.RemoveAllow(netip.MustParsePrefix("127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	if err := f.Unblock(loopback); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSourceRate(Rate{PPS: 1, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		if err := get(); (err == nil) != want {
			t.Fatalf("request %d under a rate of 2: %v", i, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"native without an interface", Config{Mode: ModeNative}},
		{"generic without an interface", Config{Mode: ModeGeneric}},
		{"unknown mode", Config{Mode: 9}},
		// A typo is an error, not a silent fall-back to userspace.
		{"no such interface", Config{Interface: "wedge-no-such0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.cfg)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestClosed(t *testing.T) {
	f, err := Open(Config{Mode: ModeUserspace, Interface: "ignored0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("192.0.2.0/24")
	for name, err := range map[string]error{
		"Close":         f.Close(),
		"Detach":        f.Detach(),
		"Block":         f.Block(p, 0),
		"Unblock":       f.Unblock(p),
		"Allow":         f.Allow(p, 0),
		"SetSourceRate": f.SetSourceRate(Rate{PPS: 1}),
		"SetPortLimit":  f.SetPortLimit(UDP, 1, Rate{PPS: 1}),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := f.Counters(); !errors.Is(err, ErrClosed) {
		t.Errorf("Counters after Close: %v", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	f := openUserspace(t)
	p := netip.MustParsePrefix("192.0.2.0/24")
	if err := f.Block(p, -time.Second); !errors.Is(err, ErrInvalidTTL) {
		t.Errorf("negative TTL: %v", err)
	}
	if err := f.Block(netip.Prefix{}, 0); !errors.Is(err, ErrInvalidPrefix) {
		t.Errorf("zero prefix: %v", err)
	}
	if err := f.Unblock(p); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unblock of nothing: %v", err)
	}
	if err := f.SetSourceRate(Rate{PPS: 2e9}); !errors.Is(err, ErrInvalidRate) {
		t.Errorf("rate too high: %v", err)
	}
	// Unblock takes the prefix as Block does: masked, IPv4-mapped as IPv4.
	if err := f.Block(netip.MustParsePrefix("::ffff:192.0.2.77/120"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Unblock(netip.MustParsePrefix("192.0.2.1/24")); err != nil {
		t.Errorf("Unblock of the same prefix written otherwise: %v", err)
	}
}

func TestListExpiry(t *testing.T) {
	f := openUserspace(t)
	start := time.Now()
	if err := f.Block(netip.MustParsePrefix("192.0.2.1/32"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.Block(netip.MustParsePrefix("2001:db8::/64"), 0); err != nil {
		t.Fatal(err)
	}
	rules, err := f.Blocklist()
	if err != nil || len(rules) != 2 {
		t.Fatalf("Blocklist = %v, %v", rules, err)
	}
	if exp := rules[0].Expires; exp.Before(start.Add(time.Hour-time.Second)) || exp.After(time.Now().Add(time.Hour+time.Second)) {
		t.Errorf("expiry %v, want an hour from %v", exp, start)
	}
	if !rules[1].Expires.IsZero() {
		t.Errorf("permanent rule expires %v", rules[1].Expires)
	}
	if got, _ := f.Allowlist(); len(got) != 0 {
		t.Errorf("Allowlist = %v, want none", got)
	}
}

// TestHammer uses one filter from many goroutines at once, for the race
// detector.
func TestHammer(t *testing.T) {
	f := openUserspace(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, byte(g), byte(i)}), 32)
				switch i % 6 {
				case 0:
					_ = f.Block(p, time.Duration(i%3)*time.Millisecond)
				case 1:
					_ = f.Unblock(p)
				case 2:
					_ = f.SetSourceRate(Rate{PPS: uint32(1 + i)})
				case 3:
					_, _ = f.Blocklist()
					_, _ = f.Counters()
				case 4:
					_ = f.SetPortLimit(UDP, uint16(i), Rate{PPS: 5})
					_, _ = f.PortLimits()
				}
				f.admitAddr(p.Addr(), &net.UDPAddr{Port: i})
			}
		}()
	}
	wg.Wait()
}
