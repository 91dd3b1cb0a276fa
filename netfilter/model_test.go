package netfilter

import (
	"errors"
	"maps"
	"net/netip"
	"testing"
	"time"
)

func newModelRules(t testing.TB) (*model, *rules) {
	t.Helper()
	m := newModel()
	r, err := newRules(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

func TestModel(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			m, r := newModelRules(t)
			r.lpmOnly = sc.lpmOnly
			if sc.setup != nil {
				sc.setup(t, r)
			}
			want := map[Verdict]uint64{}
			for _, st := range sc.steps {
				if got := m.verdict(st.frame, monotonic()); got != st.want {
					t.Errorf("%s: verdict %s, want %s", st.name, got, st.want)
				}
				want[st.want]++
			}
			got, _ := m.counters()
			for v, n := range got {
				if n != want[Verdict(v)] {
					t.Errorf("counter %s = %d, want %d", Verdict(v), n, want[Verdict(v)])
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  packet
	}{
		{"v4 SYN", syn4("192.0.2.1", 443), packet{frameIP, netip.MustParseAddr("192.0.2.1"), 444}},
		{"v4 UDP QinQ", udp4("192.0.2.1", 53, etherType8021AD, etherType8021Q), packet{frameIP, netip.MustParseAddr("192.0.2.1"), 65536 + 54}},
		{"v4 ACK: no ceiling", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoTCP, tcpSeg(443, tcpACK), ip4opt{})), packet{frameIP, netip.MustParseAddr("192.0.2.1"), 0}},
		{"v4 UDP port 65535", udp4("192.0.2.1", 65535), packet{frameIP, netip.MustParseAddr("192.0.2.1"), 2 * 65536}},
		{"v6 SYN", syn6("2001:db8::1", 80), packet{frameIP, netip.MustParseAddr("2001:db8::1"), 81}},
		{"v6 UDP behind hop-by-hop and first fragment", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::2", protoHopOpts, ext6(protoFragment, frag6(protoUDP, 0, true, udpDgram(4433))))), packet{frameIP, netip.MustParseAddr("2001:db8::1"), 65536 + 4434}},
		{"v6 AH", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::2", protoAH, append([]byte{protoUDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, udpDgram(53)...))), packet{frameIP, netip.MustParseAddr("2001:db8::1"), 65536 + 54}},
		{"runt", []byte{1, 2, 3}, packet{kind: frameMalformed}},
		{"empty", nil, packet{kind: frameMalformed}},
		{"ARP", eth(0x0806, make([]byte, 28)), packet{kind: frameNonIP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(tt.frame); got != tt.want {
				t.Errorf("parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestConform checks the GCRA arithmetic against the token bucket it
// stands for, on a synthetic clock.
func TestConform(t *testing.T) {
	rate, _ := Rate{PPS: 10, Burst: 5}.normalize()
	interval, burst := rate.gcra()
	if interval != 100e6 || burst != 500e6 {
		t.Fatalf("gcra = %d, %d", interval, burst)
	}
	var tat uint64
	now := uint64(1e9)
	for i := range 5 {
		if !conform(&tat, interval, burst, now) {
			t.Fatalf("packet %d of the burst refused", i)
		}
	}
	if conform(&tat, interval, burst, now) {
		t.Fatal("packet past the burst admitted")
	}
	// One token every 100 ms.
	if conform(&tat, interval, burst, now+99e6) {
		t.Fatal("admitted before a token came back")
	}
	if !conform(&tat, interval, burst, now+100e6) {
		t.Fatal("refused when a token came back")
	}
	// A long quiet period refills the bucket to the burst, no more.
	now += 10e9
	n := 0
	for conform(&tat, interval, burst, now) {
		n++
	}
	if n != 5 {
		t.Fatalf("after a quiet period, %d admitted at once, want 5", n)
	}
}

func TestRateNormalize(t *testing.T) {
	tests := []struct {
		in      Rate
		want    Rate
		wantErr error
	}{
		{Rate{}, Rate{}, nil},
		{Rate{PPS: 100}, Rate{PPS: 100, Burst: 100}, nil},
		{Rate{PPS: 100, Burst: 7}, Rate{PPS: 100, Burst: 7}, nil},
		{Rate{PPS: 1e9}, Rate{PPS: 1e9, Burst: 1e9}, nil},
		{Rate{PPS: 1e9 + 1}, Rate{}, ErrInvalidRate},
		{Rate{Burst: 3}, Rate{}, ErrInvalidRate},
	}
	for _, tt := range tests {
		got, err := tt.in.normalize()
		if !errors.Is(err, tt.wantErr) || (err == nil && got != tt.want) {
			t.Errorf("%+v.normalize() = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNormalizePrefix(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  error
	}{
		{"192.0.2.7/24", "192.0.2.0/24", nil},
		{"::ffff:192.0.2.7/120", "192.0.2.0/24", nil},
		{"::ffff:192.0.2.7/128", "192.0.2.7/32", nil},
		{"::ffff:0:0/80", "", ErrInvalidPrefix},
		{"2001:db8::1/64", "2001:db8::/64", nil},
	}
	for _, tt := range tests {
		got, err := normalizePrefix(netip.MustParsePrefix(tt.in))
		if !errors.Is(err, tt.wantErr) || (err == nil && got.String() != tt.want) {
			t.Errorf("normalizePrefix(%s) = %s, %v; want %s, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := normalizePrefix(netip.Prefix{}); !errors.Is(err, ErrInvalidPrefix) {
		t.Errorf("zero prefix: %v", err)
	}
}

// TestRulesMasks checks that the mask bits follow the prefixes: set by the
// first prefix of a slot, cleared by the last.
func TestRulesMasks(t *testing.T) {
	m, r := newModelRules(t)
	add := func(block bool, p string, exp uint64) { mustAdd(t, r, block, p, exp) }
	mask := func(l list) uint8 { s, _ := m.settings(); return s.mask[l] }

	add(true, "192.0.2.1/32", 0)
	add(true, "192.0.2.2/32", 0)
	add(true, "198.51.100.0/24", 0)
	add(true, "10.0.0.0/12", 0) // shorter than the gates record: SLOT_SHORTER
	add(false, "2001:db8::/48", 0)
	if got, want := mask(listBlock4), uint8(1<<0|1<<1|maskLPM|maskShort|maskShorter|maskGated|maskTable); got != want {
		t.Errorf("block4 mask %08b, want %08b", got, want)
	}
	if got, want := mask(listAllow6), uint8(1<<2|maskGated|maskTable); got != want {
		t.Errorf("allow6 mask %08b, want %08b", got, want)
	}
	for _, p := range []string{"192.0.2.1/32", "198.51.100.0/24", "10.0.0.0/12"} {
		if err := r.remove(true, netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := mask(listBlock4), uint8(1<<0|maskGated|maskTable); got != want {
		t.Errorf("block4 mask after removals %08b, want %08b", got, want)
	}
	if err := r.remove(true, netip.MustParsePrefix("192.0.2.1/32")); !errors.Is(err, ErrNotFound) {
		t.Errorf("second removal: %v, want ErrNotFound", err)
	}
	// A second rules on the same tables (a restart) counts the same.
	r2, err := newRules(m)
	if err != nil {
		t.Fatal(err)
	}
	if r2.count != r.count {
		t.Errorf("recount %v, want %v", r2.count, r.count)
	}
}

// TestRulesRepair checks that opening repairs masks and flags left wrong by
// a process that stopped between two writes.
func TestRulesRepair(t *testing.T) {
	m, r := newModelRules(t)
	mustAdd(t, r, true, "192.0.2.0/24", 0)
	mustPort(t, r, UDP, 53, Rate{PPS: 10})
	s, _ := m.settings()
	broken := s
	broken.mask[listBlock4] = maskLPM // wrong: the /24 slot is populated, the trie is empty
	broken.flags = 0
	_ = m.setSettings(broken)
	sum := maps.Clone(m.sum)
	b := bucket(netip.MustParseAddr("192.0.2.0"))
	_ = m.setSummary(listBlock4, b, 0)       // lost: the /24 would be ignored
	_ = m.setSummary(listAllow6, 12345, 0x7) // stale: probes for nothing
	if _, err := newRules(m); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.settings(); got != s {
		t.Errorf("settings after repair %+v, want %+v", got, s)
	}
	if !maps.Equal(m.sum, sum) {
		t.Errorf("summary after repair %v, want %v", m.sum, sum)
	}
}

// TestSummary checks the summary bits: a bucket's bits are the slots of
// the prefixes in it.
func TestSummary(t *testing.T) {
	m, r := newModelRules(t)
	mustAdd(t, r, true, "192.0.2.1/32", 0)
	mustAdd(t, r, true, "192.0.2.2/32", 0)
	mustAdd(t, r, true, "192.0.3.0/24", 0)
	mustAdd(t, r, true, "192.0.0.0/16", 0)
	mustAdd(t, r, true, "192.0.0.0/12", 0) // the trie, shorter than a bucket: a mask bit
	mustAdd(t, r, true, "192.0.4.0/22", 0) // the trie, in the bucket
	mustAdd(t, r, true, "192.0.8.0/22", 0)
	mustAdd(t, r, true, "2001:db8:1:2::/64", 0)
	mustAdd(t, r, true, "2001:db8:1:100::/56", 0) // the trie, in the /48's bucket
	mustAdd(t, r, true, "2001:db8::/40", 0)       // the trie, shorter than a bucket
	b4 := bucket(netip.MustParseAddr("192.0.0.0"))
	b6 := bucket(netip.MustParseAddr("2001:db8:1::"))
	want := map[sumKey]uint8{{listBlock4, b4}: 0b111 | maskLPM, {listBlock6, b6}: 0b010 | maskLPM}
	if !maps.Equal(m.sum, want) {
		t.Fatalf("summary %v, want %v", m.sum, want)
	}
	if got, want := r.s.mask[listBlock6], uint8(0b010|maskLPM|maskShort|maskGated|maskTable); got != want {
		t.Errorf("block6 mask %08b, want %08b", got, want)
	}
	for _, p := range []string{"192.0.2.1/32", "192.0.3.0/24", "2001:db8:1:2::/64", "192.0.4.0/22", "2001:db8::/40"} {
		if err := r.remove(true, netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	// 192.0.8.0/22 keeps the bucket's trie bit; 2001:db8:1:100::/56 its.
	want = map[sumKey]uint8{{listBlock4, b4}: 0b101 | maskLPM, {listBlock6, b6}: maskLPM}
	if !maps.Equal(m.sum, want) {
		t.Fatalf("summary after removals %v, want %v", m.sum, want)
	}
	if got, want := r.s.mask[listBlock6], uint8(maskLPM|maskGated|maskTable); got != want {
		t.Errorf("block6 mask after removals %08b, want %08b", got, want)
	}
	for _, p := range []string{"192.0.8.0/22", "2001:db8:1:100::/56"} {
		if err := r.remove(true, netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	want = map[sumKey]uint8{{listBlock4, b4}: 0b101}
	if !maps.Equal(m.sum, want) {
		t.Fatalf("summary after the trie's removals %v, want %v", m.sum, want)
	}
	if got, want := r.s.mask[listBlock6], uint8(maskGated|maskTable); got != want {
		t.Errorf("block6 mask when empty %08b, want %08b", got, want)
	}
	if len(r.sum) != 1 {
		t.Errorf("%d buckets counted, want 1", len(r.sum))
	}
	// Every bucket maps to a summary value and back.
	for _, l := range []list{listAllow4, listBlock4, listAllow6, listBlock6} {
		n := uint32(1 << summaryBits4)
		if l >= listAllow6 {
			n = 1 << summaryBits6
		}
		for _, b := range []uint32{0, 7, 8, n - 1} {
			idx := summaryWord(l, b)
			if gl, gb := summaryBucket(idx, int(b%8)); gl != l || gb != b {
				t.Errorf("bucket %d of list %d: value %d, back to %d of %d", b, l, idx, gb, gl)
			}
		}
	}
}

func TestRulesNeverShorten(t *testing.T) {
	_, r := newModelRules(t)
	p := netip.MustParsePrefix("192.0.2.1/32")
	now := monotonic()
	mustAdd(t, r, true, "192.0.2.1/32", now+hour)
	mustAdd(t, r, true, "192.0.2.1/32", now+hour/2) // shorter: ignored
	if got := r.expiring[ruleKey{listBlock4, false, p}]; got != now+hour {
		t.Errorf("expiry %d, want %d", got, now+hour)
	}
	mustAdd(t, r, true, "192.0.2.1/32", now+2*hour) // longer: taken
	if got := r.expiring[ruleKey{listBlock4, false, p}]; got != now+2*hour {
		t.Errorf("expiry %d, want %d", got, now+2*hour)
	}
	mustAdd(t, r, true, "192.0.2.1/32", 0) // permanent: taken
	if _, ok := r.expiring[ruleKey{listBlock4, false, p}]; ok {
		t.Error("a permanent rule is still expiring")
	}
	mustAdd(t, r, true, "192.0.2.1/32", now+hour) // a TTL on a permanent rule: ignored
	if _, ok := r.expiring[ruleKey{listBlock4, false, p}]; ok {
		t.Error("a TTL shortened a permanent rule")
	}
	if r.count[listBlock4][0] != 1 {
		t.Errorf("count %d, want 1", r.count[listBlock4][0])
	}
}

func TestRulesSweep(t *testing.T) {
	m, r := newModelRules(t)
	now := monotonic()
	mustAdd(t, r, true, "192.0.2.1/32", now+10)
	mustAdd(t, r, true, "10.0.0.0/12", now+20)
	mustAdd(t, r, true, "192.0.2.2/32", 0)
	if n, err := r.sweep(now + 15); n != 1 || err != nil {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if n, err := r.sweep(now + 25); n != 1 || err != nil {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	rules, err := r.list(true, now+25, time.Now())
	if err != nil || len(rules) != 1 || rules[0].Prefix.String() != "192.0.2.2/32" {
		t.Fatalf("list = %v, %v", rules, err)
	}
	if s, _ := m.settings(); s.mask[listBlock4] != 1|maskGated|maskTable {
		t.Errorf("mask %08b after the sweep, want 00100001", s.mask[listBlock4])
	}
}

func TestRulesFull(t *testing.T) {
	_, r := newModelRules(t)
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range allowHashMax {
		a := base
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		if err := r.add(false, netip.PrefixFrom(netip.AddrFrom4(a), 32), 0); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	err := r.add(false, netip.MustParsePrefix("192.0.2.1/32"), 0)
	if !errors.Is(err, ErrFull) {
		t.Fatalf("add past capacity: %v, want ErrFull", err)
	}
	// The /24 slot shares the hash map: full too. The trie is not.
	if err := r.add(false, netip.MustParsePrefix("192.0.2.0/24"), 0); !errors.Is(err, ErrFull) {
		t.Fatalf("add /24 past capacity: %v, want ErrFull", err)
	}
	if s := r.s.mask[listAllow4]; s != 1|maskGated|maskTable {
		t.Errorf("mask %08b after failed adds, want 00100001", s)
	}
	if err := r.add(false, netip.MustParsePrefix("192.0.2.0/23"), 0); err != nil {
		t.Fatalf("add to the trie: %v", err)
	}
}

func TestPortLimits(t *testing.T) {
	m, r := newModelRules(t)
	mustPort(t, r, UDP, 443, Rate{PPS: 3})
	mustPort(t, r, TCP, 443, Rate{PPS: 1000, Burst: 10})
	mustPort(t, r, UDP, 53, Rate{PPS: 7, Burst: 1})
	if err := r.setPortLimit(Proto(1), 1, Rate{PPS: 1}); !errors.Is(err, ErrInvalidProto) {
		t.Errorf("ICMP port: %v", err)
	}
	got, err := r.portLimits()
	if err != nil {
		t.Fatal(err)
	}
	want := []PortLimit{
		{TCP, 443, Rate{1000, 10}},
		{UDP, 53, Rate{7, 1}},
		{UDP, 443, Rate{3, 3}},
	}
	if len(got) != len(want) {
		t.Fatalf("port limits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("port limit %d = %v, want %v", i, got[i], want[i])
		}
	}
	if s, _ := m.settings(); s.flags&flagPorts == 0 {
		t.Error("port flag not set")
	}
	for _, pl := range want {
		mustPort(t, r, pl.Proto, pl.Port, Rate{})
	}
	if s, _ := m.settings(); s.flags&flagPorts != 0 {
		t.Error("port flag still set with no ceiling")
	}
}

func TestModelSourcesBounded(t *testing.T) {
	m, r := newModelRules(t)
	mustRate(t, r, Rate{PPS: 1, Burst: 1})
	now := monotonic()
	a := netip.MustParseAddr("10.0.0.0").As4()
	for i := range sourcesMax + 100 {
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		m.decide(packet{kind: frameIP, src: netip.AddrFrom4(a)}, now)
	}
	if n := len(m.sources); n > sourcesMax {
		t.Errorf("%d sources tracked, at most %d", n, sourcesMax)
	}
}

func FuzzParse(f *testing.F) {
	for _, sc := range scenarios() {
		for _, st := range sc.steps {
			f.Add(st.frame)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		pk := parse(frame)
		switch pk.kind {
		case frameIP:
			if !pk.src.IsValid() {
				t.Fatal("IP frame without a source")
			}
			if pk.port > 2*65536 {
				t.Fatalf("port index %d out of range", pk.port)
			}
		case frameNonIP, frameMalformed:
			if pk.src.IsValid() || pk.port != 0 {
				t.Fatalf("%+v: a source or port for a non-IP frame", pk)
			}
		default:
			t.Fatalf("kind %d", pk.kind)
		}
		m := newModel()
		m.s.srcInterval, m.s.srcBurst = 1e6, 1e6
		m.verdict(frame, 1)
	})
}
