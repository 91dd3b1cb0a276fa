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
// (xdp.c: the probe table, ptable, and the gates of the tries): the kernel's
// hash lookup costs more than a whole trivial XDP program on the machines
// measured, an array load next to nothing. kernelTables keeps the index in
// step with the maps it writes; the model has none (it is the maps' meaning
// that the model holds, and the index never changes a verdict).
//
// Both arrays are BPF_F_MMAPABLE and written through a shared mapping with
// 8-byte atomic stores, so that the program never reads a torn word, in
// this order: an entry is written after its hash map entry and cleared
// before it; a bucket's overflow word is set before its full bucket stops
// showing a prefix of it, and cleared after the entry that fits again is
// written; a gate bit is set before its trie prefix is inserted and cleared
// after it is deleted.

// The probe table's layout (xdp.c): per list, a base bucket and 2^bits
// buckets of tableWays entries and an overflow word.
const (
	tableWays       = 7
	tableWords      = tableWays + 1
	tableBitsAllow  = 12
	tableBitsBlock  = 16
	entryExpires    = 1 << 40
	golden          = 0x9E3779B97F4A7C15
	gateWords4      = 1 << 18 // per IPv4 list: a bit per /24
	gateBits6       = 20      // per IPv6 list: a bit per hash of the /32
	gateWords6      = 1 << (gateBits6 - 6)
	gateAllWords    = 2*gateWords4 + 2*gateWords6
	tableBuckets    = 2<<tableBitsAllow + 2<<tableBitsBlock
	tableBaseAllow4 = 0
	tableBaseBlock4 = tableBaseAllow4 + 1<<tableBitsAllow
	tableBaseAllow6 = tableBaseBlock4 + 1<<tableBitsBlock
	tableBaseBlock6 = tableBaseAllow6 + 1<<tableBitsAllow
)

func tableBase(l list) (base uint32, nbits uint) {
	switch l {
	case listAllow4:
		return tableBaseAllow4, tableBitsAllow
	case listBlock4:
		return tableBaseBlock4, tableBitsBlock
	case listAllow6:
		return tableBaseAllow6, tableBitsAllow
	}
	return tableBaseBlock6, tableBitsBlock
}

// tableKey returns the bucket of prefix p of list l in the probe table and
// its entry there without ENTRY_EXPIRES: for IPv4 the key itself, (length
// << 32 | address), for IPv6 its fingerprint (fingerprint6 in xdp.c).
func tableKey(l list, p netip.Prefix) (bucket uint32, key uint64) {
	base, nbits := tableBase(l)
	if p.Addr().Is4() {
		a := p.Addr().As4()
		key = uint64(p.Bits())<<32 | uint64(binary.BigEndian.Uint32(a[:]))
		return base + uint32((key*golden)>>(64-nbits)), key
	}
	a := p.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	x := (hi ^ uint64(p.Bits())<<56) * golden
	x = (x ^ x>>29 ^ lo) * 0xBF58476D1CE4E5B9
	x ^= x >> 32
	key = (x*golden | 1) &^ entryExpires
	return base + uint32(key>>(64-nbits)), key
}

// index is the Go side of the probe table and the gate: the two arrays
// mapped, the prefixes that did not fit their bucket (in the hash map
// only), and how many trie prefixes overlap each marked /24.
type index struct {
	table, gate []uint64 // mapped ptable, gates
	unmap       []func() error
	spill       map[uint32][]netip.Prefix // bucket → prefixes not in it
	gates       map[uint32]int32          // bit of the gates → trie prefixes
}

// mapWords maps an BPF_F_MMAPABLE array of n 64-bit words.
func mapWords(m *ebpf.Map, n int) ([]uint64, func() error, error) {
	size := n * 8
	b, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
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
	table, unmapTable, err := mapWords(t.objs.Ptable, tableBuckets*tableWords)
	if err != nil {
		return nil, err
	}
	gate, unmapGate, err := mapWords(t.objs.Gates, gateAllWords)
	if err != nil {
		_ = unmapTable()
		return nil, err
	}
	t.idx = &index{table: table, gate: gate, unmap: []func() error{unmapTable, unmapGate},
		spill: map[uint32][]netip.Prefix{}, gates: map[uint32]int32{}}
	return t.idx, nil
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

func entryOf(key uint64, p netip.Prefix, expires uint64) uint64 {
	if p.Addr().Is4() && expires != 0 {
		return key | entryExpires
	}
	return key
}

// find returns the place of key in bucket b, or -1.
func (x *index) find(b uint32, key uint64) int {
	for i := range tableWays {
		if e := x.table[int(b)*tableWords+i]; e&^entryExpires == key && e != 0 {
			return i
		}
	}
	return -1
}

// place writes an entry into a free place of bucket b; false when full.
func (x *index) place(b uint32, e uint64) bool {
	for i := range tableWays {
		if w := &x.table[int(b)*tableWords+i]; *w == 0 {
			atomic.StoreUint64(w, e)
			return true
		}
	}
	return false
}

func (x *index) setOverflow(b uint32, on bool) {
	var v uint64
	if on {
		v = 1
	}
	if w := &x.table[int(b)*tableWords+tableWays]; *w != v {
		atomic.StoreUint64(w, v)
	}
}

// add indexes p of list l's hash map, which holds it with expiry expires.
func (x *index) add(l list, p netip.Prefix, expires uint64) {
	b, key := tableKey(l, p)
	if x.find(b, key) >= 0 {
		return
	}
	if !x.place(b, entryOf(key, p, expires)) {
		x.spill[b] = append(x.spill[b], p)
		x.setOverflow(b, true)
	}
}

// setExpires sets or clears ENTRY_EXPIRES on the entry of p: before the
// hash map gets an expiry, after it loses it.
func (x *index) setExpires(l list, p netip.Prefix, expires uint64) {
	b, key := tableKey(l, p)
	if i := x.find(b, key); i >= 0 {
		atomic.StoreUint64(&x.table[int(b)*tableWords+i], entryOf(key, p, expires))
	}
}

// remove unindexes p, before it leaves the hash map. A prefix that did not
// fit its bucket takes the place freed; expiry returns the expiry in the
// hash map of such a prefix.
func (x *index) remove(l list, p netip.Prefix, expiry func(netip.Prefix) (uint64, bool)) {
	b, key := tableKey(l, p)
	if i := x.find(b, key); i >= 0 {
		atomic.StoreUint64(&x.table[int(b)*tableWords+i], 0)
	} else if s := x.spill[b]; len(s) > 0 {
		for j, q := range s {
			if q == p {
				x.spill[b] = append(s[:j:j], s[j+1:]...)
				break
			}
		}
	}
	for len(x.spill[b]) > 0 {
		s := x.spill[b]
		q := s[len(s)-1]
		exp, ok := expiry(q)
		if ok {
			_, qkey := tableKey(l, q)
			if !x.place(b, entryOf(qkey, q, exp)) {
				break
			}
		}
		x.spill[b] = s[:len(s)-1]
	}
	if len(x.spill[b]) == 0 {
		delete(x.spill, b)
		x.setOverflow(b, false)
	}
}

// gateBits calls fn with each bit of the gates that p, a trie prefix of
// list l that gateable accepts, sets: for IPv4 the /24s it overlaps, for
// IPv6 the hash of its /32.
func gateBits(l list, p netip.Prefix, fn func(bit uint32)) {
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
	n := uint32(1)
	if p.Bits() < 24 {
		n <<= 24 - p.Bits()
	}
	base := uint32(0)
	if l == listBlock4 {
		base = gateWords4 * 64
	}
	for i := range n {
		fn(base + first + i)
	}
}

// gateable reports whether the gates record trie prefix p of list l:
// IPv4 /17 and longer, IPv6 /32 to /47 (the summary has those of /48 and
// longer). trieBits and gateBits in rules.go say the same.
func gateable(l list, p netip.Prefix) bool {
	if l.family() == 0 {
		return p.Bits() >= gateShortest[0]
	}
	return p.Bits() >= gateShortest[1] && p.Bits() < trieBits[1]
}

func (x *index) gateWord(bit uint32) *uint64 { return &x.gate[bit/64] }

// gateAdd counts trie prefix p in the bits of the gates it sets, and sets
// those that it is the first in.
func (x *index) gateAdd(l list, p netip.Prefix) {
	gateBits(l, p, func(k uint32) {
		if x.gates[k]++; x.gates[k] == 1 {
			atomic.OrUint64(x.gateWord(k), 1<<(k%64))
		}
	})
}

// gateRemove uncounts p and clears the bits it was the last in.
func (x *index) gateRemove(l list, p netip.Prefix) {
	gateBits(l, p, func(k uint32) {
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
		p       netip.Prefix
		expires uint64
	}
	wanted := map[uint32][]want{}
	gates := map[uint32]int32{}
	for l := range numLists {
		err := t.eachPrefix(l, false, func(p netip.Prefix, expires uint64) {
			if l.slot(p.Bits()) == slotLPM {
				return // a length no slot probes
			}
			b, _ := tableKey(l, p)
			wanted[b] = append(wanted[b], want{p, expires})
		})
		if err != nil {
			return err
		}
		err = t.eachPrefix(l, true, func(p netip.Prefix, _ uint64) {
			if gateable(l, p) {
				gateBits(l, p, func(k uint32) { gates[k]++ })
			}
		})
		if err != nil {
			return err
		}
	}
	// The table: keep the right entries where they are, fix the flags,
	// clear the others, then place what is missing.
	x.spill = map[uint32][]netip.Prefix{}
	for b := range uint32(tableBuckets) {
		ws := wanted[b]
		row := x.table[int(b)*tableWords : int(b+1)*tableWords]
		if len(ws) == 0 {
			for i, w := range row {
				if w != 0 {
					atomic.StoreUint64(&row[i], 0)
				}
			}
			continue
		}
		keep := map[uint64]uint64{} // key → entry
		for _, w := range ws {
			_, key := tableKey(listOfBucket(b), w.p)
			keep[key] = entryOf(key, w.p, w.expires)
		}
		for i := range tableWays {
			key := row[i] &^ entryExpires
			if row[i] == 0 {
				continue
			}
			if e, ok := keep[key]; ok && (row[i] == e || row[i] == key) {
				if row[i] != e {
					atomic.StoreUint64(&row[i], e)
				}
				delete(keep, key)
				continue
			}
			atomic.StoreUint64(&row[i], 0)
		}
		for _, w := range ws {
			_, key := tableKey(listOfBucket(b), w.p)
			e, ok := keep[key]
			if !ok {
				continue // in place
			}
			if !x.place(b, e) {
				x.spill[b] = append(x.spill[b], w.p)
			}
		}
		x.setOverflow(b, len(x.spill[b]) > 0)
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

// listOfBucket returns the list whose part of the probe table holds bucket b.
func listOfBucket(b uint32) list {
	switch {
	case b < tableBaseBlock4:
		return listAllow4
	case b < tableBaseAllow6:
		return listBlock4
	case b < tableBaseBlock6:
		return listAllow6
	}
	return listBlock6
}
