package netfilter

import (
	"net/netip"
	"slices"
	"testing"
)

// colliding returns n prefixes of list l, of the given length, that share
// one bucket of the probe table: more than it holds, so that some are in
// the hash map only.
func colliding(l list, bits, n int) []netip.Prefix {
	var x index
	var out []netip.Prefix
	want := uint32(0)
	for i := uint32(0); len(out) < n; i++ {
		// i, placed at the end of the prefix: every i a distinct prefix.
		var p netip.Prefix
		if l.family() == 0 {
			a := uint32(10)<<24 + i<<(32-bits)
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), bits)
		} else {
			a := netip.MustParseAddr("2001:db8::").As16()
			at := bits/8 - 4
			a[at], a[at+1], a[at+2], a[at+3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
			p = netip.PrefixFrom(netip.AddrFrom16(a), bits)
		}
		b := x.key(l, p).b
		if len(out) == 0 {
			want = b
		}
		if b == want && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func frameFrom(a netip.Addr) []byte {
	if a.Is4() {
		return udp4(a.String(), 53)
	}
	return udp6(a.String(), 53)
}

// TestKernelIndexOverflow fills a bucket of the probe table past its
// places, for each family, with and without expiries, and checks after
// each change that the kernel decides as the model: prefixes that did not
// fit are found through the hash map, take a place freed, and a restart
// (which rebuilds the index) leaves a clean index as it was and repairs a
// damaged one.
func TestKernelIndexOverflow(t *testing.T) {
	for _, c := range []struct {
		name string
		l    list
		bits int
	}{{"v4-32", listBlock4, 32}, {"v4-24", listBlock4, 24}, {"v6-128", listBlock6, 128}, {"v6-64", listBlock6, 64}, {"v6-48", listBlock6, 48}, {"allow6-128", listAllow6, 128}} {
		t.Run(c.name, func(t *testing.T) {
			objs, kr := kernelRules(t)
			m, mr := newModelRules(t)
			block := c.l == listBlock4 || c.l == listBlock6
			ps := colliding(c.l, c.bits, tableWays+3)
			check := func(when string) {
				t.Helper()
				for _, p := range ps {
					frame := frameFrom(p.Addr())
					if kv, mv := kernelVerdict(t, objs, frame), m.verdict(frame, monotonic()); kv != mv {
						x := kr.t.(*kernelTables).idx
						k := x.key(c.l, p)
						t.Fatalf("%s: %s: kernel %s, model %s; entry %x, bucket %x, spilled %v", when, p, kv, mv,
							k.e, k.t.w[int(k.b)*k.t.stride:int(k.b+1)*k.t.stride], x.spill[k.spillKey()])
					}
				}
			}
			check("empty")
			for i, p := range ps {
				var exp uint64
				if i%3 == 1 {
					exp = monotonic() + hour
				}
				for _, r := range []*rules{kr, mr} {
					if err := r.add(block, p, exp); err != nil {
						t.Fatal(err)
					}
				}
			}
			check("full")
			tab := kr.t.(*kernelTables)
			k := tab.idx.key(c.l, ps[0])
			if n := len(tab.idx.spill[k.spillKey()]); n != 3 || *k.t.overflow(k.b) == 0 {
				t.Fatalf("%d prefixes spilled, overflow %d; want 3, set", n, *k.t.overflow(k.b))
			}
			// A rule that loses its expiry, and one that gets a later one.
			for _, r := range []*rules{kr, mr} {
				if err := r.add(block, ps[1], 0); err != nil {
					t.Fatal(err)
				}
				if err := r.add(block, ps[4], monotonic()+2*hour); err != nil {
					t.Fatal(err)
				}
			}
			check("expiries changed")

			// A clean restart rewrites nothing.
			before := slices.Clone(k.t.w)
			tab2 := newKernelTables(objs)
			t.Cleanup(func() { _ = tab2.close() })
			if _, err := newRules(tab2); err != nil {
				t.Fatal(err)
			}
			after := tab2.idx.t4.w
			if k.v6 {
				after = tab2.idx.t6.w
			}
			if !slices.Equal(before, after) {
				for i := range before {
					if before[i] != after[i] {
						t.Logf("word %d (bucket %d, want %d): %x -> %x", i, i/k.t.stride, k.b, before[i], after[i])
					}
				}
				t.Fatal("a restart changed the probe table")
			}
			// A damaged index is repaired: an entry lost, a stale one.
			k.clear(0)
			k.store(1, tab.idx.key(c.l, colliding(c.l, c.bits, tableWays+4)[tableWays+3]).e)
			tab3 := newKernelTables(objs)
			t.Cleanup(func() { _ = tab3.close() })
			kr3, err := newRules(tab3)
			if err != nil {
				t.Fatal(err)
			}
			check("repaired")
			if stale := colliding(c.l, c.bits, tableWays+4)[tableWays+3]; kernelVerdict(t, objs, frameFrom(stale.Addr())) != VerdictPass {
				t.Fatalf("%s: a stale entry still blocks", stale)
			}

			// Removals free places; the spilled prefixes take them.
			for _, i := range []int{0, 2, len(ps) - 1, 5, 6} {
				for _, r := range []*rules{kr3, mr} {
					if err := r.remove(block, ps[i]); err != nil {
						t.Fatal(err)
					}
				}
				check("removed " + ps[i].String())
			}
			// Left: 1, 3, 4, 7, 8; IPv6 rules with an expiry (4, 7) have
			// no entry.
			want := 0
			if k.v6 {
				want = 2
			}
			if n := len(tab3.idx.spill[k.spillKey()]); n != want || (*k.t.overflow(k.b) != 0) != (n > 0) {
				t.Fatalf("%d prefixes spilled, overflow %d after removals; want %d", n, *k.t.overflow(k.b), want)
			}
		})
	}
}

// TestKernelGate24 checks that the /24 gates send to the trie exactly the
// /24s that a trie prefix overlaps and to the /32 slot those that hold a
// /32, and that a trie prefix of /16 or shorter makes every lookup probe
// the trie.
func TestKernelGate24(t *testing.T) {
	objs, kr := kernelRules(t)
	tab := kr.t.(*kernelTables)
	bit := func(a string, plane uint32) bool {
		b := netip.MustParseAddr(a).As4()
		k := gateWords4*64 + 2*(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2])) + plane
		return *tab.idx.gateWord(k)&(1<<(k%64)) != 0
	}
	marked := func(a string) bool { return bit(a, 0) }
	mustAdd(t, kr, true, "10.1.0.0/22", 0) // 10.1.0.0 - 10.1.3.255
	mustAdd(t, kr, true, "10.2.5.128/25", 0)
	for a, want := range map[string]bool{"10.1.0.1": true, "10.1.3.1": true, "10.1.4.1": false, "10.2.5.1": true, "10.2.6.1": false} {
		if marked(a) != want {
			t.Errorf("%s: marked %v, want %v", a, !want, want)
		}
	}
	for a, want := range map[string]Verdict{"10.1.3.9": VerdictBlocklist, "10.1.4.9": VerdictPass, "10.2.5.200": VerdictBlocklist, "10.2.5.1": VerdictPass} {
		if v := kernelVerdict(t, objs, udp4(a, 53)); v != want {
			t.Errorf("%s: %s, want %s", a, v, want)
		}
	}
	// A /32 marks its /24 for the /32 slot, and only that /24.
	mustAdd(t, kr, true, "10.5.6.7/32", 0)
	if !bit("10.5.6.1", 1) || bit("10.5.7.1", 1) || bit("10.5.6.1", 0) {
		t.Error("/32 gate bits")
	}
	for a, want := range map[string]Verdict{"10.5.6.7": VerdictBlocklist, "10.5.6.8": VerdictPass, "10.5.7.7": VerdictPass} {
		if v := kernelVerdict(t, objs, udp4(a, 53)); v != want {
			t.Errorf("%s: %s, want %s", a, v, want)
		}
	}
	if err := kr.remove(true, netip.MustParsePrefix("10.5.6.7/32")); err != nil {
		t.Fatal(err)
	}
	if bit("10.5.6.1", 1) {
		t.Error("/32 gate bit left after the removal")
	}
	mustAdd(t, kr, true, "10.4.0.0/15", 0)
	if kr.s.mask[listBlock4]&(maskShort|maskShorter) != maskShort|maskShorter {
		t.Error("a /15 in the trie must set SLOT_SHORT and SLOT_SHORTER")
	}
	if err := kr.remove(true, netip.MustParsePrefix("10.1.0.0/22")); err != nil {
		t.Fatal(err)
	}
	if marked("10.1.0.1") || marked("10.1.3.1") {
		t.Error("gate bits left after the removal")
	}
	if v := kernelVerdict(t, objs, udp4("10.1.3.9", 53)); v != VerdictPass {
		t.Errorf("10.1.3.9 after the removal: %s", v)
	}
}
