package netfilter

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"
)

// benchXDP runs prog on frame b.N times in the kernel (BPF_PROG_TEST_RUN
// with repeat) and reports the kernel's time per run as ns/pkt (the kernel
// measures it to the nanosecond). With floor, the trivial XDP_DROP
// program's ns/pkt in the same run, it reports the ratio to it too.
func benchXDP(b *testing.B, prog *ebpf.Program, frame []byte, floor float64) float64 {
	b.Helper()
	_, per, err := prog.Benchmark(frame, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	ns := float64(per.Nanoseconds())
	b.ReportMetric(ns, "ns/pkt")
	if floor > 0 {
		b.ReportMetric(ns/floor, "x-trivial-drop")
	}
	return ns
}

// blocklist4 returns n distinct IPv4 prefixes shaped like a real
// blocklist: 70% /32, 15% /24, 5% /16 (the hash maps) and 10% of other
// lengths, /17 to /31 but /24 (the LPM trie), in 11.0.0.0 to 223.255.255.255.
func blocklist4(n int) []netip.Prefix {
	rng := rand.New(rand.NewPCG(9, 9))
	seen := make(map[netip.Prefix]bool, n)
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		a := [4]byte{byte(11 + rng.IntN(213)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}
		bits := 32
		switch x := rng.IntN(20); {
		case x < 1:
			bits = 16
		case x < 4:
			bits = 24
		case x < 6:
			if bits = 17 + rng.IntN(14); bits >= 24 {
				bits++
			}
		}
		p := netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// blocklist6 returns n distinct IPv6 prefixes shaped like a real
// blocklist: 60% /128, 25% /64, 5% /48 (the hash maps) and 10% of other
// lengths, /32 to /127 (the LPM trie), in 2400::/8.
func blocklist6(n int) []netip.Prefix {
	rng := rand.New(rand.NewPCG(12, 12))
	seen := make(map[netip.Prefix]bool, n)
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		a := addr6(rng)
		bits := 128
		switch x := rng.IntN(20); {
		case x < 1:
			bits = 48
		case x < 6:
			bits = 64
		case x < 8:
			for bits == 48 || bits == 64 || bits == 128 {
				bits = 32 + rng.IntN(96)
			}
		}
		p := netip.PrefixFrom(a, bits).Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// addr6 returns a random address of 2400::/8.
func addr6(rng *rand.Rand) netip.Addr {
	var a [16]byte
	a[0] = 0x24
	for i := 1; i < 16; i++ {
		a[i] = byte(rng.IntN(256))
	}
	return netip.AddrFrom16(a)
}

// missing returns an address of the space of ps (IPv4 11.0.0.0 to
// 223.255.255.255, IPv6 2400::/8) that no prefix of ps, of any length,
// covers.
func missing(ps []netip.Prefix) netip.Addr {
	set := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		set[p] = true
	}
	rng := rand.New(rand.NewPCG(10, 10))
	for {
		a := netip.AddrFrom4([4]byte{byte(11 + rng.IntN(213)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		if ps[0].Addr().Is6() {
			a = addr6(rng)
		}
		covered := false
		for bits := 0; bits <= a.BitLen() && !covered; bits++ {
			covered = set[netip.PrefixFrom(a, bits).Masked()]
		}
		if !covered {
			return a
		}
	}
}

// missingGated returns an address that no prefix of ps covers, in a /16
// that holds no trie prefix of ps: a miss whose trie lookup the summary
// skips (missing's address, chosen at random, may be in one that holds
// some: 17% of them do at 100k).
func missingGated(ps []netip.Prefix) netip.Addr {
	trie := map[uint32]bool{}
	for _, p := range ps {
		if bits := p.Bits(); bits != 32 && bits != 24 && bits != 16 {
			trie[bucket(p.Addr())] = true
		}
	}
	rng := rand.New(rand.NewPCG(11, 11))
	for {
		a := netip.AddrFrom4([4]byte{byte(11 + rng.IntN(213)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		if !trie[bucket(a)] && !covered(ps, a) {
			return a
		}
	}
}

// covered reports whether a prefix of ps covers a.
func covered(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// benchPrefixes returns n distinct prefixes shaped like a blocklist —
// for IPv4 70% /32, 20% /24, 10% /16; for IPv6 60% /128, 30% /64, 10%
// /48 — none of them in 10.0.0.0/8 or 2001:db8::/32, the sources of the
// misses.
func benchPrefixes(n int, v6 bool) []netip.Prefix {
	rng := rand.New(rand.NewPCG(7, 7))
	seen := make(map[netip.Prefix]bool, n)
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		var p netip.Prefix
		if v6 {
			var a [16]byte
			a[0], a[1] = 0x24, byte(rng.IntN(256)) // 2400::/8: not 2001:db8::/32
			for i := 2; i < 16; i++ {
				a[i] = byte(rng.IntN(256))
			}
			bits := 128
			switch x := rng.IntN(10); {
			case x < 1:
				bits = 48
			case x < 4:
				bits = 64
			}
			p = netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked()
		} else {
			a := [4]byte{byte(11 + rng.IntN(213)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}
			bits := 32
			switch x := rng.IntN(10); {
			case x < 1:
				bits = 16
			case x < 3:
				bits = 24
			}
			p = netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// uncovered returns an address of the populated space that no prefix of ps
// covers: a miss that the LPM trie cannot reject near its root.
func uncovered(ps []netip.Prefix, v6 bool) netip.Addr {
	set := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		set[p] = true
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for {
		a := netip.AddrFrom4([4]byte{byte(11 + rng.IntN(213)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		lens := []int{32, 24, 16}
		if v6 {
			var b [16]byte
			b[0], b[1] = 0x24, byte(rng.IntN(256))
			for i := 2; i < 16; i++ {
				b[i] = byte(rng.IntN(256))
			}
			a, lens = netip.AddrFrom16(b), []int{128, 64, 48}
		}
		covered := false
		for _, bits := range lens {
			covered = covered || set[netip.PrefixFrom(a, bits).Masked()]
		}
		if !covered {
			return a
		}
	}
}

func first(ps []netip.Prefix, bits int) netip.Addr {
	for _, p := range ps {
		if p.Bits() == bits {
			return p.Addr()
		}
	}
	panic("no such prefix")
}

// BenchmarkXDP measures the XDP program per packet, in the kernel
// (BPF_PROG_TEST_RUN with repeat, one 60-byte UDP frame), as ns/pkt and as
// a multiple of the trivial XDP_DROP program measured in the same run:
//
//   - trivial-drop, trivial-pass: programs that only return XDP_DROP or
//     XDP_PASS, the floor;
//   - v4-10, v4-10k, v4-100k: ours with 10, 10k and 100k blocked IPv4
//     prefixes shaped like a real blocklist (blocklist4), for a source
//     that no prefix covers (pass) and for one in a blocked /32 (drop);
//   - v6-10, v6-10k, v6-100k: the same with IPv6 prefixes (blocklist6), a
//     drop in a blocked /128;
//
// then the cases behind RATIONALE.md: no rules, and 100k prefixes of
// IPv4 and IPv6 in the LPM tries only or in the hash maps per prefix
// length, for misses and for hits of each hashed length.
//
//	go test -run NONE -bench BenchmarkXDP -benchtime 2000000x -count 8 ./netfilter > xdp.txt
//	benchstat -filter '.unit:(ns/pkt OR x-trivial-drop)' xdp.txt
//
// or scripts/bench-xdp.sh.
func BenchmarkXDP(b *testing.B) {
	const n = 100_000
	frame4 := func(src netip.Addr) []byte { return udp4(src.String(), 53) }
	frame6 := func(src netip.Addr) []byte { return udp6(src.String(), 53) }

	var floor float64
	b.Run("trivial-drop", func(b *testing.B) {
		floor = benchXDP(b, trivialProgram(b, ebpf.AttachXDP, xdpDrop), frame4(netip.MustParseAddr("10.1.2.3")), 0)
	})
	b.Run("trivial-pass", func(b *testing.B) {
		benchXDP(b, trivialProgram(b, ebpf.AttachXDP, xdpPass), frame4(netip.MustParseAddr("10.1.2.3")), floor)
	})
	for _, size := range []struct {
		name string
		n    int
	}{{"10", 10}, {"10k", 10_000}, {"100k", 100_000}} {
		b.Run("v4-"+size.name, func(b *testing.B) {
			ps := blocklist4(size.n)
			objs, r := kernelRules(b)
			for _, p := range ps {
				if err := r.add(true, p, 0); err != nil {
					b.Fatal(err)
				}
			}
			// The previous case's maps are being freed (RCU callbacks, in
			// softirqs that BPF_PROG_TEST_RUN's clock counts): let that end.
			waitQuiet(b)
			for _, c := range []struct {
				name string
				src  netip.Addr
				want Verdict
			}{{"pass", missing(ps), VerdictPass}, {"pass-gated", missingGated(ps), VerdictPass}, {"drop", first(ps, 32), VerdictBlocklist}} {
				if v := kernelVerdict(b, objs, frame4(c.src)); v != c.want {
					b.Fatalf("%s from %s: verdict %s, want %s", c.name, c.src, v, c.want)
				}
				b.Run(c.name, func(b *testing.B) { benchXDP(b, objs.WedgeXdp, frame4(c.src), floor) })
			}
		})
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"10", 10}, {"10k", 10_000}, {"100k", 100_000}} {
		b.Run("v6-"+size.name, func(b *testing.B) {
			ps := blocklist6(size.n)
			objs, r := kernelRules(b)
			for _, p := range ps {
				if err := r.add(true, p, 0); err != nil {
					b.Fatal(err)
				}
			}
			// The previous case's maps are being freed (RCU callbacks, in
			// softirqs that BPF_PROG_TEST_RUN's clock counts): let that end.
			waitQuiet(b)
			for _, c := range []struct {
				name string
				src  netip.Addr
				want Verdict
			}{{"pass", missing(ps), VerdictPass}, {"drop", first(ps, 128), VerdictBlocklist}} {
				if v := kernelVerdict(b, objs, frame6(c.src)); v != c.want {
					b.Fatalf("%s from %s: verdict %s, want %s", c.name, c.src, v, c.want)
				}
				b.Run(c.name, func(b *testing.B) { benchXDP(b, objs.WedgeXdp, frame6(c.src), floor) })
			}
		})
	}

	b.Run("empty", func(b *testing.B) {
		objs, _ := kernelRules(b)
		benchXDP(b, objs.WedgeXdp, frame4(netip.MustParseAddr("10.1.2.3")), floor)
	})
	for _, family := range []string{"v4", "v6"} {
		ps := benchPrefixes(n, family == "v6")
		frame, miss, hits := frame4, netip.MustParseAddr("10.1.2.3"), []int{32, 24, 16}
		if family == "v6" {
			frame, miss, hits = frame6, netip.MustParseAddr("2001:db8::1"), []int{128, 64, 48}
		}
		for _, scheme := range []string{"lpm", "hash"} {
			b.Run(family+"-100k-"+scheme, func(b *testing.B) {
				objs, r := kernelRules(b)
				r.lpmOnly = scheme == "lpm"
				for _, p := range ps {
					if err := r.add(true, p, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.Run("miss", func(b *testing.B) { benchXDP(b, objs.WedgeXdp, frame(miss), floor) })
				b.Run("miss-dense", func(b *testing.B) {
					benchXDP(b, objs.WedgeXdp, frame(uncovered(ps, family == "v6")), floor)
				})
				for _, bits := range hits {
					b.Run("hit-"+strconv.Itoa(bits), func(b *testing.B) {
						benchXDP(b, objs.WedgeXdp, frame(first(ps, bits)), floor)
					})
				}
			})
		}
	}
	// Every rule kind on: the cost of a packet that passes them all.
	b.Run("v4-100k-hash-all-rules", func(b *testing.B) {
		objs, r := kernelRules(b)
		for _, p := range benchPrefixes(n, false) {
			if err := r.add(true, p, 0); err != nil {
				b.Fatal(err)
			}
		}
		mustAdd(b, r, false, "192.0.2.0/24", 0)
		mustRate(b, r, Rate{PPS: 1e9})
		mustPort(b, r, UDP, 53, Rate{PPS: 1e9})
		benchXDP(b, objs.WedgeXdp, frame4(netip.MustParseAddr("10.1.2.3")), floor)
	})
}
