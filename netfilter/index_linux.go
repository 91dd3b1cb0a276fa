package netfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The index of the hash maps and the tries that the XDP program probes
// (xdp.c: the probe tables, ptable and ptable6, and the gates of the
// tries): the kernel's hash lookup costs more than a whole trivial XDP
// program on the machines measured, an array load next to nothing.
// kernelTables keeps the index in step with the maps it writes; the model
// has none (it is the maps' meaning that the model holds, and the index
// never changes a verdict).
//
// The arrays are BPF_F_MMAPABLE and written through a shared mapping with
// 8-byte atomic stores, so that the program never reads a torn word, in
// this order: an entry is written after its hash map entry and cleared
// before it (an IPv6 entry's second word written before its first, its
// first cleared before its second); a bucket's overflow word is set before
// its bucket stops showing a prefix of it, and cleared after the entry
// that fits again is written; a gate bit is set before its trie prefix is
// inserted and cleared after it is deleted.

// The probe tables' layout (xdp.c): per list, 2^bits buckets of tableWays
// entries and an overflow word, the allowlist's first.
const (
	tableWays       = 7
	tableBitsAllow  = 12
	tableBitsBlock  = 16
	table6BitsAllow = 12
	table6BitsBlock = 15
	entryExpires    = 1 << 40
	tag64           = 0xffffffffffffff40 // the second word of an IPv6 /64 entry
	tag48           = 0xffffffffffffff30 // of a /48 entry
	golden          = 0x9E3779B97F4A7C15
	gateWords4      = 1 << 19 // per IPv4 list: two bits per /24
	gateBits6       = 20      // per IPv6 list: a bit per hash of the /32
	gateWords6      = 1 << (gateBits6 - 6)
	gateAllWords    = 2*gateWords4 + 2*gateWords6
	table4Buckets   = 1<<tableBitsAllow + 1<<tableBitsBlock
	table6Buckets   = 1<<table6BitsAllow + 1<<table6BitsBlock
	spill6          = 1 << 31 // marks an IPv6 bucket in index.spill
)

// ptab is a probe table mapped: buckets of stride words, tableWays entries
// of width words, the overflow word last.
type ptab struct {
	w             []uint64
	stride, width int
}

var (
	ptab4Shape = ptab{stride: 8, width: 1}
	ptab6Shape = ptab{stride: 16, width: 2}
)

func (t *ptab) entry(b uint32, i int) []uint64 {
	off := int(b)*t.stride + i*t.width
	return t.w[off : off+t.width]
}

func (t *ptab) overflow(b uint32) *uint64 { return &t.w[(int(b)+1)*t.stride-1] }

// tkey is where a prefix goes in the probe tables: its table, bucket and
// entry (without ENTRY_EXPIRES), and whether it can have one at all.
type tkey struct {
	t      *ptab
	b      uint32 // bucket in t
	e      [2]uint64
	v6, ok bool
}

// spillKey names the bucket in index.spill.
func (k tkey) spillKey() uint32 {
	if k.v6 {
		return spill6 | k.b
	}
	return k.b
}

// key returns where prefix p of list l goes (probe4, probe6 in xdp.c).
func (x *index) key(l list, p netip.Prefix) tkey {
	allow := l == listAllow4 || l == listAllow6
	if p.Addr().Is4() {
		a := p.Addr().As4()
		key := uint64(p.Bits())<<32 | uint64(binary.BigEndian.Uint32(a[:]))
		b := uint32((key * golden) >> (64 - tableBitsBlock))
		if allow {
			b = uint32((key * golden) >> (64 - tableBitsAllow))
		} else {
			b += 1 << tableBitsAllow
		}
		return tkey{t: &x.t4, b: b, e: [2]uint64{key}, ok: true}
	}
	a := p.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	y := (hi ^ uint64(p.Bits())<<56) * golden
	y = (y ^ y>>29 ^ lo) * 0xBF58476D1CE4E5B9
	y ^= y >> 32
	y *= golden
	b := uint32(y>>(64-table6BitsBlock)) + 1<<table6BitsAllow
	if allow {
		b = uint32(y >> (64 - table6BitsAllow))
	}
	k := tkey{t: &x.t6, b: b, v6: true, e: [2]uint64{hi, lo}, ok: hi != 0}
	switch p.Bits() {
	case 64:
		k.e[1] = tag64
	case 48:
		k.e[1] = tag48
	default:
		k.ok = k.ok && lo != tag64 && lo != tag48
	}
	return k
}

// index is the Go side of the probe tables and the gates: the arrays
// mapped, the prefixes of each bucket that have no entry (in the hash map
// only), and how many trie prefixes set each bit of the gates.
type index struct {
	t4, t6 ptab
	gate   []uint64 // mapped gates
	unmap  []func() error
	spill  map[uint32][]netip.Prefix // spillKey → prefixes without an entry
	gates  map[uint32]int32          // bit of the gates → trie prefixes
}

// mapWords maps an BPF_F_MMAPABLE array of n 64-bit words.
func mapWords(m *ebpf.Map, n int) ([]uint64, func() error, error) {
	b, err := unix.Mmap(m.FD(), 0, n*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", m, err)
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n), func() error { return unix.Munmap(b) }, nil
}

// index returns the index, mapping the arrays on first use.
func (t *kernelTables) index() (*index, error) {
	if t.idx != nil {
		return t.idx, nil
	}
	x := &index{t4: ptab4Shape, t6: ptab6Shape, spill: map[uint32][]netip.Prefix{}, gates: map[uint32]int32{}}
	for _, m := range []struct {
		m *ebpf.Map
		n int
		w *[]uint64
	}{
		{t.objs.Ptable, table4Buckets * ptab4Shape.stride, &x.t4.w},
		{t.objs.Ptable6, table6Buckets * ptab6Shape.stride, &x.t6.w},
		{t.objs.Gates, gateAllWords, &x.gate},
	} {
		if size := int(m.m.MaxEntries()) * int(m.m.ValueSize()); size != m.n*8 {
			err := fmt.Errorf("map %s: %d bytes, want %d", m.m, size, m.n*8)
			for _, f := range x.unmap {
				_ = f()
			}
			return nil, err
		}
		w, unmap, err := mapWords(m.m, m.n)
		if err != nil {
			for _, f := range x.unmap {
				_ = f()
			}
			return nil, err
		}
		*m.w = w
		x.unmap = append(x.unmap, unmap)
	}
	t.idx = x
	return x, nil
}

// close unmaps the arrays.
func (t *kernelTables) close() error {
	if t.idx == nil {
		return nil
	}
	var err error
	for _, f := range t.idx.unmap {
		if e := f(); e != nil && err == nil {
			err = e
		}
	}
	t.idx = nil
	return err
}

// entryOf returns the entry of k for a rule with the given expiry, and
// whether it may have one (an IPv6 rule with an expiry may not).
func (k tkey) entryOf(expires uint64) ([2]uint64, bool) {
	e := k.e
	if expires != 0 {
		if k.v6 {
			return e, false
		}
		e[0] |= entryExpires
	}
	return e, k.ok
}

// find returns the place of k's entry in its bucket, or -1.
func (k tkey) find() int {
	for i := range tableWays {
		e := k.t.entry(k.b, i)
		if k.v6 && e[0] == k.e[0] && e[1] == k.e[1] || !k.v6 && e[0] != 0 && e[0]&^entryExpires == k.e[0] {
			return i
		}
	}
	return -1
}

// store writes entry e at place i: the second word first.
func (k tkey) store(i int, e [2]uint64) {
	w := k.t.entry(k.b, i)
	if k.v6 {
		atomic.StoreUint64(&w[1], e[1])
	}
	atomic.StoreUint64(&w[0], e[0])
}

// clear empties place i: the first word first.
func (k tkey) clear(i int) {
	w := k.t.entry(k.b, i)
	atomic.StoreUint64(&w[0], 0)
	if k.v6 {
		atomic.StoreUint64(&w[1], 0)
	}
}

// place writes entry e into a free place of k's bucket; false when full.
func (k tkey) place(e [2]uint64) bool {
	for i := range tableWays {
		if k.t.entry(k.b, i)[0] == 0 {
			k.store(i, e)
			return true
		}
	}
	return false
}

func (k tkey) setOverflow(on bool) {
	var v uint64
	if on {
		v = 1
	}
	if w := k.t.overflow(k.b); *w != v {
		atomic.StoreUint64(w, v)
	}
}

// spillAdd records p as without an entry in k's bucket, overflow first.
func (x *index) spillAdd(k tkey, p netip.Prefix) {
	k.setOverflow(true)
	x.spill[k.spillKey()] = append(x.spill[k.spillKey()], p)
}

// add indexes p of list l's hash map, which holds it with expiry expires.
func (x *index) add(l list, p netip.Prefix, expires uint64) {
	k := x.key(l, p)
	if k.find() >= 0 {
		return
	}
	if e, ok := k.entryOf(expires); !ok || !k.place(e) {
		x.spillAdd(k, p)
	}
}

// setExpires gives the entry of p the expiry the hash map gets: called
// before the map gets an expiry, after it loses it. An IPv6 rule with an
// expiry has no entry.
func (x *index) setExpires(l list, p netip.Prefix, expires uint64, expiry func(netip.Prefix) (uint64, bool)) {
	k := x.key(l, p)
	i := k.find()
	switch {
	case i >= 0 && !k.v6:
		e, _ := k.entryOf(expires)
		atomic.StoreUint64(&k.t.entry(k.b, i)[0], e[0])
	case i >= 0 && expires != 0:
		x.spillAdd(k, p)
		k.clear(i)
	case i < 0 && expires == 0:
		x.refill(l, k, expiry) // p may have an entry now
	}
}

// remove unindexes p, before it leaves the hash map; a prefix without an
// entry in the bucket takes the place freed if it may.
func (x *index) remove(l list, p netip.Prefix, expiry func(netip.Prefix) (uint64, bool)) {
	k := x.key(l, p)
	if i := k.find(); i >= 0 {
		k.clear(i)
	} else {
		s := x.spill[k.spillKey()]
		for j, q := range s {
			if q == p {
				x.spill[k.spillKey()] = append(s[:j:j], s[j+1:]...)
				break
			}
		}
	}
	x.refill(l, k, expiry)
}

// refill gives the prefixes of k's bucket that have no entry one where
// they may and there is room, and clears the overflow word if none is
// left. expiry returns a prefix's expiry in the hash map.
func (x *index) refill(l list, k tkey, expiry func(netip.Prefix) (uint64, bool)) {
	sk := k.spillKey()
	var left []netip.Prefix
	for _, q := range x.spill[sk] {
		exp, there := expiry(q)
		if !there {
			continue
		}
		qk := x.key(l, q)
		if e, ok := qk.entryOf(exp); !ok || !qk.place(e) {
			left = append(left, q)
		}
	}
	if len(left) == 0 {
		delete(x.spill, sk)
		k.setOverflow(false)
		return
	}
	x.spill[sk] = left
}

// gateBits calls fn with each bit of the gates that p, a prefix of list
// l's trie (lpm) or hash map that gateable accepts, sets: for an IPv4 trie
// prefix the first bit of each /24 it overlaps, for an IPv4 /32 the second
// bit of its /24, for an IPv6 trie prefix the bit of the hash of its /32.
func gateBits(l list, lpm bool, p netip.Prefix, fn func(bit uint32)) {
	if l.family() == 1 {
		a := p.Addr().As16()
		base := uint32(2*gateWords4) * 64
		if l == listBlock6 {
			base += gateWords6 * 64
		}
		fn(base + uint32((uint64(binary.BigEndian.Uint32(a[:4]))*golden)>>(64-gateBits6)))
		return
	}
	a := p.Addr().As4()
	first := binary.BigEndian.Uint32(a[:]) >> 8
	base := uint32(0)
	if l == listBlock4 {
		base = gateWords4 * 64
	}
	if !lpm {
		fn(base + 2*first + 1)
		return
	}
	n := uint32(1)
	if p.Bits() < 24 {
		n <<= 24 - p.Bits()
	}
	for i := range n {
		fn(base + 2*(first+i))
	}
}

// gateable reports whether the gates record prefix p of list l's trie
// (lpm) or hash map: IPv4 trie prefixes of /17 and longer, IPv4 /32s, IPv6
// trie prefixes of /32 to /47 (the summary has those of /48 and longer).
// trieBits and gateShortest in rules.go say the same.
func gateable(l list, lpm bool, p netip.Prefix) bool {
	switch {
	case !lpm:
		return l.family() == 0 && p.Bits() == 32
	case l.family() == 0:
		return p.Bits() >= gateShortest[0]
	}
	return p.Bits() >= gateShortest[1] && p.Bits() < trieBits[1]
}

func (x *index) gateWord(bit uint32) *uint64 { return &x.gate[bit/64] }

// gateAdd counts prefix p in the bits of the gates it sets, and sets
// those that it is the first in.
func (x *index) gateAdd(l list, lpm bool, p netip.Prefix) {
	gateBits(l, lpm, p, func(k uint32) {
		if x.gates[k]++; x.gates[k] == 1 {
			atomic.OrUint64(x.gateWord(k), 1<<(k%64))
		}
	})
}

// gateRemove uncounts p and clears the bits it was the last in.
func (x *index) gateRemove(l list, lpm bool, p netip.Prefix) {
	gateBits(l, lpm, p, func(k uint32) {
		if x.gates[k]--; x.gates[k] <= 0 {
			delete(x.gates, k)
			atomic.AndUint64(x.gateWord(k), ^uint64(1<<(k%64)))
		}
	})
}

// reindex makes the index say what the hash maps and the tries hold,
// whatever it held: maps pinned by an older Wedge have an empty index, or
// a stale one if it ran after a newer one, and a crash may stop between two
// writes. It writes only the words that differ, so that the index of a
// clean restart stays as the program reads it.
func (t *kernelTables) reindex() error {
	x, err := t.index()
	if err != nil {
		return err
	}
	type want struct {
		k tkey
		e [2]uint64
		p netip.Prefix
	}
	wanted := map[uint32][]want{} // spillKey → prefixes
	gates := map[uint32]int32{}
	for l := range numLists {
		err := t.eachPrefix(l, false, func(p netip.Prefix, expires uint64) {
			if l.slot(p.Bits()) == slotLPM {
				return // a length no slot probes
			}
			if gateable(l, false, p) {
				gateBits(l, false, p, func(k uint32) { gates[k]++ })
			}
			k := x.key(l, p)
			e, ok := k.entryOf(expires)
			if !ok {
				k.ok = false
			}
			wanted[k.spillKey()] = append(wanted[k.spillKey()], want{k, e, p})
		})
		if err != nil {
			return err
		}
		err = t.eachPrefix(l, true, func(p netip.Prefix, _ uint64) {
			if gateable(l, true, p) {
				gateBits(l, true, p, func(k uint32) { gates[k]++ })
			}
		})
		if err != nil {
			return err
		}
	}
	// The tables: keep the right entries where they are, fix the flags,
	// clear the others, then place what is missing.
	x.spill = map[uint32][]netip.Prefix{}
	for _, tab := range []struct {
		t  *ptab
		n  uint32
		v6 bool
	}{{&x.t4, table4Buckets, false}, {&x.t6, table6Buckets, true}} {
		for b := range tab.n {
			k := tkey{t: tab.t, b: b, v6: tab.v6}
			ws := wanted[k.spillKey()]
			if len(ws) == 0 {
				for i := range tableWays {
					if e := tab.t.entry(b, i); e[0] != 0 || e[len(e)-1] != 0 {
						k.clear(i)
					}
				}
				k.setOverflow(false)
				continue
			}
			have := map[[2]uint64]bool{}
			for i := range tableWays {
				e := tab.t.entry(b, i)
				if e[0] == 0 {
					if k.v6 && e[1] != 0 {
						k.clear(i)
					}
					continue
				}
				var cur [2]uint64
				copy(cur[:], e)
				keep := false
				for _, w := range ws {
					if w.k.ok && !have[w.e] && (cur == w.e || !k.v6 && cur[0]&^entryExpires == w.e[0]&^entryExpires) {
						if cur != w.e {
							atomic.StoreUint64(&e[0], w.e[0])
						}
						have[w.e], keep = true, true
						break
					}
				}
				if !keep {
					k.clear(i)
				}
			}
			for _, w := range ws {
				if !w.k.ok || (!have[w.e] && !w.k.place(w.e)) {
					x.spill[k.spillKey()] = append(x.spill[k.spillKey()], w.p)
				}
			}
			k.setOverflow(len(x.spill[k.spillKey()]) > 0)
		}
	}
	// The gate: every word as the counts say.
	x.gates = gates
	words := make([]uint64, len(x.gate))
	for k := range gates {
		words[k/64] |= 1 << (k % 64)
	}
	for i := range x.gate {
		if x.gate[i] != words[i] {
			atomic.StoreUint64(&x.gate[i], words[i])
		}
	}
	return nil
}
