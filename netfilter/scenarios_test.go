package netfilter

import (
	"net/netip"
	"testing"
)

// A scenario is rules and a sequence of frames with the verdict each must
// get, in order (rate limits make the order matter). TestModel runs them
// through the Go model; TestKernelMatchesModel through the XDP program and
// the model side by side.
type scenario struct {
	name string
	// lpmOnly puts every prefix in the LPM tries.
	lpmOnly bool
	setup   func(t testing.TB, r *rules)
	steps   []step
}

type step struct {
	name  string
	frame []byte
	want  Verdict
}

// hour is a TTL far enough not to expire during a test, in ns.
const hour = 3600e9

func mustAdd(t testing.TB, r *rules, block bool, prefix string, expires uint64) {
	t.Helper()
	p, err := normalizePrefix(netip.MustParsePrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.add(block, p, expires); err != nil {
		t.Fatalf("add %s: %v", prefix, err)
	}
}

func mustRate(t testing.TB, r *rules, rate Rate) {
	t.Helper()
	if err := r.setSourceRate(rate); err != nil {
		t.Fatal(err)
	}
}

func mustPort(t testing.TB, r *rules, proto Proto, port uint16, rate Rate) {
	t.Helper()
	if err := r.setPortLimit(proto, port, rate); err != nil {
		t.Fatal(err)
	}
}

func blocklistSetup(t testing.TB, r *rules) {
	for _, p := range []string{
		"192.0.2.1/32",       // hash slot /32
		"198.51.100.0/24",    // hash slot /24
		"203.0.0.0/16",       // hash slot /16
		"10.20.0.0/20",       // LPM
		"2001:db8::5/128",    // hash slot /128
		"2001:db8:2:3::/64",  // hash slot /64
		"2001:db8:1::/48",    // hash slot /48
		"2001:db8:ff00::/40", // LPM
	} {
		mustAdd(t, r, true, p, 0)
	}
}

func blocklistSteps() []step {
	return []step{
		{"v4 /32 blocked", syn4("192.0.2.1", 443), VerdictBlocklist},
		{"v4 /32 neighbour", syn4("192.0.2.2", 443), VerdictPass},
		{"v4 /24 blocked", udp4("198.51.100.77", 53), VerdictBlocklist},
		{"v4 /16 blocked", syn4("203.0.255.1", 80), VerdictBlocklist},
		{"v4 /16 neighbour", syn4("203.1.0.1", 80), VerdictPass},
		{"v4 /20 LPM blocked", syn4("10.20.15.1", 80), VerdictBlocklist},
		{"v4 /20 LPM neighbour", syn4("10.20.16.1", 80), VerdictPass},
		{"v4 blocked, 802.1Q", syn4("192.0.2.1", 443, etherType8021Q), VerdictBlocklist},
		{"v4 blocked, QinQ", udp4("198.51.100.1", 443, etherType8021AD, etherType8021Q), VerdictBlocklist},
		{"v4 blocked, later fragment", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.254", protoUDP, []byte("rest of it"), ip4opt{fragOff: 185})), VerdictBlocklist},
		{"v6 /128 blocked", syn6("2001:db8::5", 443), VerdictBlocklist},
		{"v6 /128 neighbour", syn6("2001:db8::6", 443), VerdictPass},
		{"v6 /64 blocked", udp6("2001:db8:2:3:aaaa::1", 443), VerdictBlocklist},
		{"v6 /64 neighbour", udp6("2001:db8:2:4::1", 443), VerdictPass},
		{"v6 /48 blocked", syn6("2001:db8:1:ffff::1", 443), VerdictBlocklist},
		{"v6 /40 LPM blocked", syn6("2001:db8:ffaa::1", 443), VerdictBlocklist},
		{"v6 /40 LPM neighbour", syn6("2001:db8:fe00::1", 443), VerdictPass},
		{"v6 blocked, QinQ", syn6("2001:db8::5", 443, etherType8021AD, etherType8021Q), VerdictBlocklist},
		{"v4-mapped v6 source is not the v4 address", syn6("::ffff:192.0.2.1", 443), VerdictPass},
	}
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "parse",
			steps: []step{
				{"v4 TCP SYN", syn4("192.0.2.1", 443), VerdictPass},
				{"v4 UDP", udp4("192.0.2.1", 53), VerdictPass},
				{"v6 TCP SYN", syn6("2001:db8::1", 443), VerdictPass},
				{"v6 UDP", udp6("2001:db8::1", 53), VerdictPass},
				{"802.1Q v4", syn4("192.0.2.1", 443, etherType8021Q), VerdictPass},
				{"802.1ad+802.1Q v4", syn4("192.0.2.1", 443, etherType8021AD, etherType8021Q), VerdictPass},
				{"802.1Q+802.1Q v6", udp6("2001:db8::1", 443, etherType8021Q, etherType8021Q), VerdictPass},
				{"three VLAN tags", syn4("192.0.2.1", 443, etherType8021AD, etherType8021Q, etherType8021Q), VerdictMalformed},
				{"truncated VLAN tag", eth(etherType8021Q, []byte{0, 1})[:16], VerdictMalformed},
				{"ARP", eth(0x0806, make([]byte, 28)), VerdictNonIP},
				{"LLDP", eth(0x88CC, make([]byte, 46)), VerdictNonIP},
				{"ARP in a VLAN", eth(0x0806, make([]byte, 28), etherType8021Q), VerdictNonIP},
				{"Ethernet header only, IPv4", eth(etherTypeIPv4, nil), VerdictMalformed},
				{"Ethernet header only, IPv6", eth(etherTypeIPv6, nil), VerdictMalformed},
				{"IPv4 truncated", eth(etherTypeIPv4, make([]byte, 19)), VerdictMalformed},
				{"IPv4 version 6", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoTCP, tcpSeg(80, tcpSYN), ip4opt{version: 6})), VerdictMalformed},
				{"IPv4 IHL 4", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoTCP, tcpSeg(80, tcpSYN), ip4opt{ihl: 4})), VerdictMalformed},
				{"IPv4 IHL past the end", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoTCP, nil, ip4opt{ihl: 15})[:40]), VerdictMalformed},
				{"IPv4 with options", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoUDP, udpDgram(53), ip4opt{ihl: 6})), VerdictPass},
				{"IPv4 TCP header truncated", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoTCP, tcpSeg(80, tcpSYN)[:10], ip4opt{})), VerdictPass},
				{"IPv4 later fragment", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoUDP, []byte("middle"), ip4opt{fragOff: 100, moreFrag: true})), VerdictPass},
				{"IPv4 ICMP", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", 1, make([]byte, 8), ip4opt{})), VerdictPass},
				{"IPv6 truncated", eth(etherTypeIPv6, make([]byte, 39)), VerdictMalformed},
				{"IPv6 version 4", eth(etherTypeIPv6, append([]byte{0x40}, make([]byte, 50)...)), VerdictMalformed},
				{"IPv6 hop-by-hop, fragment, UDP", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::2", protoHopOpts, ext6(protoFragment, frag6(protoUDP, 0, true, udpDgram(53))))), VerdictPass},
				{"IPv6 later fragment", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::2", protoFragment, frag6(protoUDP, 10, false, []byte("rest")))), VerdictPass},
				{"IPv6 five extension headers", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::2", protoHopOpts, ext6(protoDstOpts, ext6(protoRouting, ext6(protoDstOpts, ext6(protoDstOpts, ext6(protoUDP, udpDgram(53)))))))), VerdictPass},
				{"IPv6 extension header truncated", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::2", protoHopOpts, []byte{17})), VerdictPass},
			},
		},
		{name: "blocklist", setup: blocklistSetup, steps: blocklistSteps()},
		{name: "blocklist in LPM tries only", lpmOnly: true, setup: blocklistSetup, steps: blocklistSteps()},
		{
			name: "allowlist",
			setup: func(t testing.TB, r *rules) {
				mustAdd(t, r, true, "192.0.2.1/32", 0)
				mustAdd(t, r, false, "192.0.2.0/24", 0)
				mustAdd(t, r, true, "0.0.0.0/0", 0)
				mustAdd(t, r, false, "198.51.100.7/32", 0)
				mustAdd(t, r, true, "::/0", 0)
				mustAdd(t, r, false, "2001:db8:1:2::/64", 0)
				mustAdd(t, r, false, "2001:db8:70::/44", 0)
				mustRate(t, r, Rate{PPS: 1, Burst: 1})
			},
			steps: []step{
				{"allowlist beats blocklist", syn4("192.0.2.1", 443), VerdictAllow},
				{"allowlist bypasses the rate limit", syn4("192.0.2.1", 443), VerdictAllow},
				{"allowed /32 under blocked /0", syn4("198.51.100.7", 443), VerdictAllow},
				{"blocked /0", syn4("198.51.100.8", 443), VerdictBlocklist},
				{"v6 allowed /64", udp6("2001:db8:1:2::99", 53), VerdictAllow},
				{"v6 allowed /44 (LPM)", udp6("2001:db8:7f:f::1", 53), VerdictAllow},
				{"v6 blocked /0", udp6("2001:db8:1:3::99", 53), VerdictBlocklist},
				{"non-IP passes whatever the rules", eth(0x0806, make([]byte, 28)), VerdictNonIP},
			},
		},
		{
			name: "expiry",
			setup: func(t testing.TB, r *rules) {
				now := monotonic()
				mustAdd(t, r, true, "192.0.2.1/32", now-1)
				mustAdd(t, r, true, "192.0.2.2/32", now+hour)
				mustAdd(t, r, true, "10.0.0.0/8", 0)
				mustAdd(t, r, true, "10.1.0.0/20", now-1)
				mustAdd(t, r, true, "2001:db8::/64", now-1)
				mustAdd(t, r, false, "198.51.100.0/24", now-1)
				mustAdd(t, r, true, "198.51.100.0/24", 0)
			},
			steps: []step{
				{"expired block", syn4("192.0.2.1", 443), VerdictPass},
				{"live block", syn4("192.0.2.2", 443), VerdictBlocklist},
				{"permanent LPM block", syn4("10.2.0.1", 443), VerdictBlocklist},
				// The trie answers with the longest prefix only: an expired
				// /20 hides the /8 until the sweeper deletes it.
				{"expired LPM prefix hides a shorter one", syn4("10.1.0.1", 443), VerdictPass},
				{"expired v6 block", syn6("2001:db8::1", 443), VerdictPass},
				{"expired allow", syn4("198.51.100.1", 443), VerdictBlocklist},
			},
		},
		{
			name: "per-source rate",
			setup: func(t testing.TB, r *rules) {
				mustRate(t, r, Rate{PPS: 1, Burst: 3})
			},
			steps: []step{
				{"A 1", syn4("192.0.2.1", 443), VerdictPass},
				{"A 2", udp4("192.0.2.1", 53), VerdictPass},
				{"A 3", syn4("192.0.2.1", 80, etherType8021Q), VerdictPass},
				{"A 4 over", syn4("192.0.2.1", 443), VerdictRateLimit},
				{"A 5 over", eth(etherTypeIPv4, ip4("192.0.2.1", "192.0.2.2", protoUDP, []byte("x"), ip4opt{fragOff: 9})), VerdictRateLimit},
				{"B 1", syn4("192.0.2.2", 443), VerdictPass},
				{"v6 /64 one", syn6("2001:db8::1", 443), VerdictPass},
				{"v6 /64 two", syn6("2001:db8::2", 443), VerdictPass},
				{"v6 /64 three", syn6("2001:db8::3:4", 443), VerdictPass},
				{"v6 /64 four over", syn6("2001:db8::ffff", 443), VerdictRateLimit},
				{"v6 other /64", syn6("2001:db8:0:1::1", 443), VerdictPass},
				{"::ffff:192.0.2.1 is a v6 /64", syn6("::ffff:192.0.2.1", 443), VerdictPass},
				{"non-IP is not counted", eth(0x0806, make([]byte, 28)), VerdictNonIP},
				{"malformed is not counted", eth(etherTypeIPv4, make([]byte, 10)), VerdictMalformed},
			},
		},
		{
			name: "port ceiling",
			setup: func(t testing.TB, r *rules) {
				mustPort(t, r, UDP, 53, Rate{PPS: 1, Burst: 2})
				mustPort(t, r, TCP, 443, Rate{PPS: 1, Burst: 1})
			},
			steps: []step{
				{"UDP 53 from A", udp4("192.0.2.1", 53), VerdictPass},
				{"UDP 53 from B", udp4("192.0.2.2", 53), VerdictPass},
				{"UDP 53 from C over", udp4("192.0.2.3", 53), VerdictPortLimit},
				{"UDP 53 from v6 over", udp6("2001:db8::1", 53), VerdictPortLimit},
				{"UDP 53 later fragment", eth(etherTypeIPv4, ip4("192.0.2.4", "192.0.2.254", protoUDP, []byte("rest"), ip4opt{fragOff: 3})), VerdictPass},
				{"UDP 53 v6 later fragment", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::fe", protoFragment, frag6(protoUDP, 7, false, []byte("rest")))), VerdictPass},
				{"UDP 53 v6 first fragment over", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::fe", protoFragment, frag6(protoUDP, 0, true, udpDgram(53)))), VerdictPortLimit},
				{"UDP 54", udp4("192.0.2.3", 54), VerdictPass},
				{"TCP 53 is another port", syn4("192.0.2.3", 53), VerdictPass},
				{"TCP 443 SYN", syn4("192.0.2.5", 443), VerdictPass},
				{"TCP 443 SYN over", syn6("2001:db8::5", 443), VerdictPortLimit},
				{"TCP 443 ACK", eth(etherTypeIPv4, ip4("192.0.2.5", "192.0.2.254", protoTCP, tcpSeg(443, tcpACK), ip4opt{})), VerdictPass},
				{"TCP 443 SYN-ACK", eth(etherTypeIPv4, ip4("192.0.2.5", "192.0.2.254", protoTCP, tcpSeg(443, tcpSYN|tcpACK), ip4opt{})), VerdictPass},
				{"TCP 443 SYN, header truncated", eth(etherTypeIPv4, ip4("192.0.2.5", "192.0.2.254", protoTCP, tcpSeg(443, tcpSYN)[:13], ip4opt{})), VerdictPass},
				{"TCP 443 SYN behind extension headers", eth(etherTypeIPv6, ip6("2001:db8::1", "2001:db8::fe", protoDstOpts, ext6(protoTCP, tcpSeg(443, tcpSYN)))), VerdictPortLimit},
			},
		},
		{
			name: "rate-limited packets spare the port ceiling",
			setup: func(t testing.TB, r *rules) {
				mustRate(t, r, Rate{PPS: 1, Burst: 2})
				mustPort(t, r, UDP, 53, Rate{PPS: 1, Burst: 3})
				mustAdd(t, r, true, "192.0.2.9/32", 0)
			},
			steps: []step{
				{"A 1", udp4("192.0.2.1", 53), VerdictPass},
				{"A 2", udp4("192.0.2.1", 53), VerdictPass},
				{"A 3 over its rate", udp4("192.0.2.1", 53), VerdictRateLimit},
				{"A 4 over its rate", udp4("192.0.2.1", 53), VerdictRateLimit},
				{"blocked", udp4("192.0.2.9", 53), VerdictBlocklist},
				{"B 1 takes the last port token", udp4("192.0.2.2", 53), VerdictPass},
				{"B 2 over the ceiling", udp4("192.0.2.2", 53), VerdictPortLimit},
				{"C 1 over the ceiling", udp4("192.0.2.3", 53), VerdictPortLimit},
			},
		},
	}
}
