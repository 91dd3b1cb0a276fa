package netfilter

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// gateAddr returns a random address of a small space (four IPv4 /16
// buckets, eight IPv6 /48s in two /32s), so that random prefixes overlap
// and share buckets.
func gateAddr(rng *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		a := netip.MustParseAddr("2001:db8::").As16()
		a[3] += byte(rng.IntN(2)) // two /32s, for the kernel's /32 gate
		a[5] = byte(rng.IntN(4))
		for i := 6; i < 16; i++ {
			a[i] = byte(rng.IntN(4)) << 6 // few values, so that prefixes collide
		}
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(4)) << 6, byte(rng.IntN(256))})
}

// gatePrefix returns a random prefix around gateAddr, of any length: hash
// slots, trie prefixes in a bucket and trie prefixes shorter than one.
func gatePrefix(rng *rand.Rand, v6 bool) netip.Prefix {
	a := gateAddr(rng, v6)
	bits := 8 + rng.IntN(25)
	if v6 {
		bits = 24 + rng.IntN(105)
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// refMatch is the lookup without summary or masks: every hash slot, then
// the longest trie prefix, as the program did before the gates. The gates
// must never change its answer.
func refMatch(m *model, l list, a netip.Addr, now uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, bits := range slotBits[l.family()] {
		if exp, ok := m.hash[l][netip.PrefixFrom(a, bits).Masked()]; ok && live(exp, now) {
			return true
		}
	}
	for _, bits := range m.lpmLens[l] {
		if exp, ok := m.lpm[l][netip.PrefixFrom(a, bits).Masked()]; ok {
			return live(exp, now)
		}
	}
	return false
}

// gateOps adds and removes random prefixes, some with a TTL that sweeps
// expire, through each of rs, and calls check after each step.
func gateOps(t testing.TB, seed uint64, steps int, check func(step int), rs ...*rules) {
	rng := rand.New(rand.NewPCG(seed, seed))
	var added []netip.Prefix
	now := monotonic()
	for step := range steps {
		v6 := rng.IntN(2) == 1
		switch x := rng.IntN(10); {
		case x < 6 || len(added) == 0:
			p := gatePrefix(rng, v6)
			var exp uint64
			if rng.IntN(3) == 0 {
				exp = now + uint64(1+rng.IntN(steps))
			}
			for _, r := range rs {
				if err := r.add(true, p, exp); err != nil {
					t.Fatal(err)
				}
			}
			added = append(added, p)
		case x < 9:
			i := rng.IntN(len(added))
			p := added[i]
			added = append(added[:i], added[i+1:]...)
			for _, r := range rs {
				if err := r.remove(true, p); err != nil && !isNotFound(err) {
					t.Fatal(err)
				}
			}
		default:
			for _, r := range rs {
				if _, err := r.sweep(now + uint64(step)); err != nil {
					t.Fatal(err)
				}
			}
		}
		check(step)
	}
}

// TestTrieGate checks the trie's summary bits and SLOT_SHORT through
// random additions, removals and expiries: the model's gated lookup always
// answers as the lookup without gates, and a restart counts the same bits.
func TestTrieGate(t *testing.T) {
	m, r := newModelRules(t)
	rng := rand.New(rand.NewPCG(1, 2))
	gateOps(t, 3, 3000, func(step int) {
		for range 20 {
			v6 := rng.IntN(2) == 1
			a := gateAddr(rng, v6)
			l := listOf(true, netip.PrefixFrom(a, 0))
			if got, want := m.match(l, a, 0), refMatch(m, l, a, 0); got != want {
				t.Fatalf("step %d: %s: gated %v, ungated %v (mask %08b, bucket %08b)", step, a, got, want,
					m.s.mask[l], m.sum[sumKey{l, bucket(a)}])
			}
		}
	}, r)
	sum := m.sum
	r2, err := newRules(m)
	if err != nil {
		t.Fatal(err)
	}
	if r2.count != r.count || len(m.sum) != len(sum) {
		t.Errorf("restart: counts %v, want %v; %d buckets, want %d", r2.count, r.count, len(m.sum), len(sum))
	}
	// Remove everything: no bit may stay.
	for l := range numLists {
		for _, lpm := range []bool{false, true} {
			var ps []netip.Prefix
			_ = m.eachPrefix(l, lpm, func(p netip.Prefix, _ uint64) { ps = append(ps, p) })
			for _, p := range ps {
				if err := r.remove(true, p); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(m.sum) != 0 || len(r.sum) != 0 {
		t.Errorf("summary left after removing everything: %v", m.sum)
	}
	for l := range numLists {
		if m.s.mask[l] != maskGated|maskTable {
			t.Errorf("list %d: mask %08b left after removing everything", l, m.s.mask[l])
		}
	}
}

// TestTrieUngated checks that masks without SLOT_GATED (maps written by an
// older Wedge, whose summary has no trie bits) probe the trie whatever the
// summary says, and that opening sets the bits and then the gate.
func TestTrieUngated(t *testing.T) {
	m, r := newModelRules(t)
	mustAdd(t, r, true, "10.1.2.0/23", 0)
	a := netip.MustParseAddr("10.1.2.3")
	// As an older Wedge left them: no trie bit in the summary, no gate.
	s := r.s
	s.mask[listBlock4] = maskLPM
	_ = m.setSettings(s)
	_ = m.setSummary(listBlock4, bucket(a), 0)
	if !m.match(listBlock4, a, 0) {
		t.Fatal("ungated: the trie was not probed")
	}
	if _, err := newRules(m); err != nil {
		t.Fatal(err)
	}
	if got := m.s.mask[listBlock4]; got != maskLPM|maskGated|maskTable {
		t.Errorf("mask after repair %08b", got)
	}
	if got := m.sum[sumKey{listBlock4, bucket(a)}]; got != maskLPM {
		t.Errorf("summary after repair %08b", got)
	}
	if !m.match(listBlock4, a, 0) || m.match(listBlock4, netip.MustParseAddr("10.2.2.3"), 0) {
		t.Error("gated lookup after repair")
	}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
