package netfilter

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeBlocker struct {
	mu    sync.Mutex
	calls []Rule
	err   error
}

func (b *fakeBlocker) Block(p netip.Prefix, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, Rule{Prefix: p, Expires: time.Time{}.Add(ttl)})
	return b.err
}

func TestEscalator(t *testing.T) {
	var logs bytes.Buffer
	b := &fakeBlocker{}
	e := NewEscalator(b, EscalatorConfig{Threshold: 3, Window: 10 * time.Second, TTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")

	if e.Observe(a) || e.Observe(a) {
		t.Fatal("escalated before the threshold")
	}
	now = now.Add(11 * time.Second) // the window is over: counting restarts
	if e.Observe(a) || e.Observe(a) {
		t.Fatal("escalated with hits from an old window")
	}
	if !e.Observe(a) {
		t.Fatal("third hit within the window not escalated")
	}
	if len(b.calls) != 1 || b.calls[0].Prefix.String() != "192.0.2.1/32" || b.calls[0].Expires.Sub(time.Time{}) != time.Hour {
		t.Fatalf("blocks %v", b.calls)
	}
	if !strings.Contains(logs.String(), "escalated") || !strings.Contains(logs.String(), "192.0.2.1/32") {
		t.Errorf("log %q", logs.String())
	}
	// Counting starts again after an escalation.
	if e.Observe(a) {
		t.Fatal("escalated again at once")
	}

	// IPv6 sources count, and are blocked, by /64; IPv4-mapped as IPv4.
	for _, s := range []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"} {
		e.Observe(netip.MustParseAddr(s))
	}
	if got := b.calls[len(b.calls)-1].Prefix.String(); got != "2001:db8::/64" {
		t.Errorf("v6 block %s, want 2001:db8::/64", got)
	}
	for range 3 {
		e.Observe(netip.MustParseAddr("::ffff:198.51.100.1"))
	}
	if got := b.calls[len(b.calls)-1].Prefix.String(); got != "198.51.100.1/32" {
		t.Errorf("mapped block %s, want 198.51.100.1/32", got)
	}

	b.err = errors.New("no room")
	for range 2 {
		e.Observe(netip.MustParseAddr("203.0.113.1"))
	}
	if e.Observe(netip.MustParseAddr("203.0.113.1")) {
		t.Error("a failed block reported as an escalation")
	}
}

func TestEscalatorOff(t *testing.T) {
	b := &fakeBlocker{}
	e := NewEscalator(b, EscalatorConfig{})
	for range 1000 {
		if e.Observe(netip.MustParseAddr("192.0.2.1")) {
			t.Fatal("escalated with escalation off")
		}
	}
	var nilE *Escalator
	if nilE.Observe(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("nil Escalator escalated")
	}
	if len(b.calls) != 0 {
		t.Fatalf("blocks %v", b.calls)
	}
}

func TestEscalatorBounded(t *testing.T) {
	e := NewEscalator(&fakeBlocker{}, EscalatorConfig{Threshold: 2})
	for i := range maxTracked + 10 {
		e.Observe(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(e.seen); n > maxTracked {
		t.Errorf("%d sources tracked, at most %d", n, maxTracked)
	}
}

// TestEscalatorFilter escalates into a real (userspace) filter.
func TestEscalatorFilter(t *testing.T) {
	f := openUserspace(t)
	e := NewEscalator(f, EscalatorConfig{Threshold: 2, TTL: time.Minute})
	a := netip.MustParseAddr("192.0.2.9")
	e.Observe(a)
	if !e.Observe(a) {
		t.Fatal("not escalated")
	}
	if f.admitAddr(a, nil) {
		t.Error("escalated source still admitted")
	}
	rules, _ := f.Blocklist()
	if len(rules) != 1 || rules[0].Prefix != netip.PrefixFrom(a, 32) || rules[0].Expires.IsZero() {
		t.Errorf("blocklist %v", rules)
	}
}
