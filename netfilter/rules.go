package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Rate is a token bucket: PPS packets per second on average, up to Burst at
// once. The zero Rate means no limit.
type Rate struct {
	// PPS is the sustained rate in packets per second, at most 1e9.
	PPS uint32
	// Burst is how many packets may arrive at once after a quiet period.
	// Zero means PPS: one second's worth.
	Burst uint32
}

// maxPPS is the highest rate: one packet per nanosecond.
const maxPPS = 1e9

// IsZero reports whether r is the zero Rate, no limit.
func (r Rate) IsZero() bool { return r.PPS == 0 }

// normalize validates r and fills in the default burst.
func (r Rate) normalize() (Rate, error) {
	switch {
	case r.PPS == 0 && r.Burst != 0:
		return r, fmt.Errorf("%w: burst %d without a rate", ErrInvalidRate, r.Burst)
	case r.PPS > maxPPS:
		return r, fmt.Errorf("%w: %d packets per second is more than %d", ErrInvalidRate, r.PPS, int(maxPPS))
	case r.PPS != 0 && r.Burst == 0:
		r.Burst = r.PPS
	}
	return r, nil
}

// gcra returns the GCRA parameters of a normalized rate: the emission
// interval in nanoseconds and the burst tolerance (burst × interval).
// Both are zero for no limit.
func (r Rate) gcra() (interval, burst uint64) {
	if r.PPS == 0 {
		return 0, 0
	}
	interval = uint64(maxPPS) / uint64(r.PPS)
	return interval, uint64(r.Burst) * interval
}

// conform is conform in xdp.c: it takes one packet from the bucket whose
// theoretical arrival time is *tat, and reports whether the packet conforms.
func conform(tat *uint64, interval, burst, now uint64) bool {
	next := max(*tat, now) + interval
	if next-now > burst {
		return false
	}
	*tat = next
	return true
}

// Proto is a transport protocol of a port ceiling.
type Proto uint8

// The protocols a port ceiling can apply to, by their IP protocol numbers.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// String returns "tcp" or "udp".
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// PortLimit is a global ceiling on the packets to one destination port,
// whatever their source.
type PortLimit struct {
	Proto Proto
	Port  uint16
	Rate  Rate
}

// Rule is one prefix of the allowlist or the blocklist.
type Rule struct {
	Prefix netip.Prefix
	// Expires is when the rule stops applying; the zero Time means never.
	Expires time.Time
}

// list is one of the four prefix lists; the index of its mask in settings.
type list uint8

const (
	listAllow4 list = iota
	listBlock4
	listAllow6
	listBlock6
	numLists
)

func listOf(block bool, p netip.Prefix) list {
	l := listAllow4
	if p.Addr().Is6() {
		l = listAllow6
	}
	if block {
		l++
	}
	return l
}

// slotBits are the prefix lengths kept in the hash maps, per family (IPv4,
// IPv6), in the order of the mask bits SLOT_0, SLOT_1, SLOT_2.
var slotBits = [2][3]int{{32, 24, 16}, {128, 64, 48}}

// trieBits is, per family, the shortest trie prefix that the summary
// counts in its bucket (IPv4 /16, IPv6 a hash of the /48): IPv4 /17, the
// shortest that the kernel's /24 gate records too (index_linux.go), IPv6
// /48. A shorter one is counted globally, SLOT_SHORT.
var trieBits = [2]int{17, 48}

// gateShortest is, per family, the shortest trie prefix that the kernel's
// gates record (index_linux.go): IPv4 /17 (a bit per /24), IPv6 /32 (a bit
// per hash of the /32, for /32 to /47; the summary has the longer ones).
// A shorter one makes the list SLOT_SHORTER: the program probes the trie
// for every address.
var gateShortest = [2]int{17, 32}

const (
	numSlots  = 3
	slotLPM   = numSlots     // the trie, a prefix of a bucket's length or longer
	slotShort = numSlots + 1 // the trie, a prefix shorter than a bucket
	// the trie, a prefix shorter than the gates record; counted apart
	// from slotShort, and short too
	slotShorter = numSlots + 2
	maskTable   = 1 << 3 // SLOT_TABLE in xdp.c
	maskShorter = 1 << 4 // SLOT_SHORTER in xdp.c
	maskGated   = 1 << 5 // SLOT_GATED in xdp.c
	maskShort   = 1 << 6 // SLOT_SHORT in xdp.c
	maskLPM     = 1 << 7 // SLOT_LPM in xdp.c
	flagPorts   = 1 << 0 // FLAG_PORTS in xdp.c
)

func (l list) family() int { return int(l) / 2 }

// slot returns the hash slot of a prefix length in list l, or slotLPM.
func (l list) slot(bits int) int {
	if i := slices.Index(slotBits[l.family()][:], bits); i >= 0 {
		return i
	}
	return slotLPM
}

// slotOf returns the slot counting a prefix length in the hash map (which
// may be slotLPM: a length no slot probes) or in the trie of list l.
func (l list) slotOf(lpm bool, bits int) int {
	switch {
	case !lpm:
		return l.slot(bits)
	case bits < gateShortest[l.family()]:
		return slotShorter
	case bits < trieBits[l.family()]:
		return slotShort
	}
	return slotLPM
}

func maskBit(slot int) uint8 {
	if slot == slotLPM {
		return maskLPM
	}
	return 1 << slot
}

// settings is struct settings in xdp.c.
type settings struct {
	srcInterval uint64
	srcBurst    uint64
	mask        [numLists]uint8
	flags       uint32
	srcRate     Rate
}

// portLimit is struct port_limit in xdp.c.
type portLimit struct {
	interval, burst, tat uint64
	rate                 Rate
}

// tables is the state of the filter: the XDP program's maps (kernel_linux.go)
// or their mirror in Go (model.go). Methods are called with rules.mu held.
type tables interface {
	// insertPrefix adds p unless it is there (created false); it returns
	// an error wrapping ErrFull when the table is full. (The LPM tries
	// have no exact lookup, so rules tracks what an insert did instead.)
	insertPrefix(l list, lpm bool, p netip.Prefix, expires uint64) (created bool, err error)
	// updatePrefix sets the expiry of p, which is there.
	updatePrefix(l list, lpm bool, p netip.Prefix, expires uint64) error
	deletePrefix(l list, lpm bool, p netip.Prefix) (ok bool, err error)
	eachPrefix(l list, lpm bool, fn func(p netip.Prefix, expires uint64)) error
	settings() (settings, error)
	setSettings(s settings) error
	port(idx uint32) (portLimit, error)
	setPort(idx uint32, pl portLimit) error
	eachPort(fn func(idx uint32, pl portLimit)) error // ports with a ceiling only
	counters() ([numVerdicts]uint64, error)
	// The summary: which hash slots are populated per bucket.
	setSummary(l list, bucket uint32, m uint8) error
	eachSummary(fn func(l list, bucket uint32, m uint8)) error // non-zero only
	// reindex rebuilds whatever index of the prefixes the tables keep
	// besides the summary (the kernel's probe table and /24 gate), from
	// the prefixes; the masks' SLOT_TABLE, set after it, tells the
	// program that the index can be used.
	reindex() error
}

// The summary's size in xdp.c: 2^16 buckets per IPv4 list, 2^18 per IPv6
// list, 8 buckets per value.
const (
	summaryBits4  = 16
	summaryBits6  = 18
	summaryWords4 = 1 << summaryBits4 / 8
	summaryWords6 = 1 << summaryBits6 / 8
)

// summaryWord returns the index of the summary value holding a bucket of
// list l; summaryBucket is the inverse.
func summaryWord(l list, b uint32) uint32 {
	if l < listAllow6 {
		return uint32(l)*summaryWords4 + b/8
	}
	return 2*summaryWords4 + uint32(l-listAllow6)*summaryWords6 + b/8
}

func summaryBucket(idx uint32, i int) (list, uint32) {
	if idx < 2*summaryWords4 {
		return list(idx / summaryWords4), idx%summaryWords4*8 + uint32(i)
	}
	idx -= 2 * summaryWords4
	return listAllow6 + list(idx/summaryWords6), idx%summaryWords6*8 + uint32(i)
}

// bucket is the summary bucket of an address (bucket6 in xdp.c): its /16
// for IPv4, a hash of its /48 for IPv6. The shortest hash slots, /16 and
// /48, keep every prefix of a slot inside one bucket.
func bucket(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		return uint32(b[0])<<8 | uint32(b[1])
	}
	b := a.As16()
	hi := uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
	return uint32((hi * 0x9E3779B97F4A7C15) >> (64 - summaryBits6))
}

// slotCounts is the number of prefixes of each hash slot, and of the trie
// (slotLPM), in one bucket.
type slotCounts [numSlots + 1]int32

type sumKey struct {
	l      list
	bucket uint32
}

// rules keeps the tables consistent: which structure holds a prefix, the
// masks of populated slots and the summary, the port flag, and the expiry
// of rules with a TTL. It is the one writer of the tables.
type rules struct {
	mu       sync.Mutex
	t        tables
	s        settings
	count    [numLists][slotShorter + 1]int // prefixes per list and slot
	sum      map[sumKey]*slotCounts         // prefixes per bucket and slot
	ports    int
	expiring map[ruleKey]uint64 // rules with a TTL: their expiry
	closed   bool
	// lpmOnly puts every prefix in the LPM tries; the benchmarks compare.
	lpmOnly bool
}

type ruleKey struct {
	l   list
	lpm bool
	p   netip.Prefix
}

// newRules reads the tables, counts what they hold and repairs the masks,
// the summary and the flags if a previous process stopped between two
// writes, or was a version that kept no trie bits in the summary (the
// masks' SLOT_GATED, set here after the summary, tells the program).
func newRules(t tables) (*rules, error) {
	r := &rules{t: t, expiring: make(map[ruleKey]uint64), sum: make(map[sumKey]*slotCounts)}
	s, err := t.settings()
	if err != nil {
		return nil, err
	}
	r.s = s
	for l := range numLists {
		for _, lpm := range []bool{false, true} {
			err := t.eachPrefix(l, lpm, func(p netip.Prefix, expires uint64) {
				slot := l.slotOf(lpm, p.Bits())
				if !lpm && slot == slotLPM {
					return // a length no slot probes; never matches
				}
				r.count[l][slot]++
				if slot < slotShort {
					r.sumCount(l, p)[slot]++
				}
				if expires != 0 {
					r.expiring[ruleKey{l, lpm, p}] = expires
				}
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if err := t.eachPort(func(uint32, portLimit) { r.ports++ }); err != nil {
		return nil, err
	}
	if err := t.reindex(); err != nil {
		return nil, err
	}
	// Repair the summary: every bucket as the prefixes say.
	have := map[sumKey]uint8{}
	if err := t.eachSummary(func(l list, b uint32, m uint8) { have[sumKey{l, b}] = m }); err != nil {
		return nil, err
	}
	for k, c := range r.sum {
		if m := c.mask(); have[k] != m {
			if err := t.setSummary(k.l, k.bucket, m); err != nil {
				return nil, err
			}
		}
		delete(have, k)
	}
	for k := range have {
		if err := t.setSummary(k.l, k.bucket, 0); err != nil {
			return nil, err
		}
	}
	want := s
	for l := range numLists {
		want.mask[l] = r.maskOf(l)
	}
	want.flags &^= flagPorts
	if r.ports > 0 {
		want.flags |= flagPorts
	}
	if want != s {
		if err := t.setSettings(want); err != nil {
			return nil, err
		}
		r.s = want
	}
	return r, nil
}

// normalizePrefix returns p masked, with an IPv4-mapped IPv6 prefix as
// IPv4 and any zone dropped.
func normalizePrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("%w: %q", ErrInvalidPrefix, p.String())
	}
	a := p.Addr().WithZone("")
	bits := p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return p, fmt.Errorf("%w: %s mixes IPv4-mapped and IPv6 space", ErrInvalidPrefix, p)
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

// place returns the list, the slot and the structure (trie or hash) of p.
func (r *rules) place(block bool, p netip.Prefix) (list, int, bool) {
	l := listOf(block, p)
	lpm := r.lpmOnly || l.slot(p.Bits()) == slotLPM
	return l, l.slotOf(lpm, p.Bits()), lpm
}

// add puts p in the allowlist or the blocklist until expires (monotonic
// ns; 0: never). An existing rule for p keeps the later expiry: adding
// never shortens a rule.
func (r *rules) add(block bool, p netip.Prefix, expires uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	l, slot, lpm := r.place(block, p)
	k := ruleKey{l, lpm, p}
	// Count p first and set the bits it needs before inserting it: a bit
	// without entries costs a probe, an entry without its bit would be
	// ignored. undo takes the count back if p was there or cannot be.
	r.count[l][slot]++
	var sc *slotCounts
	undo := func() {
		if sc != nil {
			if sc[slot]--; sc[slot] == 0 {
				_ = r.t.setSummary(l, bucket(p.Addr()), sc.mask())
				r.dropSum(l, p)
			}
		}
		r.count[l][slot]--
		_ = r.syncMask(l)
	}
	if err := r.syncMask(l); err != nil {
		undo()
		return err
	}
	if slot < slotShort {
		// The same for the bucket's summary bit.
		sc = r.sumCount(l, p)
		if sc[slot]++; sc[slot] == 1 {
			if err := r.t.setSummary(l, bucket(p.Addr()), sc.mask()); err != nil {
				undo()
				return err
			}
		}
	}
	created, err := r.t.insertPrefix(l, lpm, p, expires)
	if created {
		if expires != 0 {
			r.expiring[k] = expires
		}
		return nil
	}
	undo() // where p was there already, its bits stay set
	if err != nil {
		return err
	}
	old, ttl := r.expiring[k]
	if !ttl || (expires != 0 && old >= expires) {
		return nil // already there for at least as long
	}
	if err := r.t.updatePrefix(l, lpm, p, expires); err != nil {
		return err
	}
	if expires != 0 {
		r.expiring[k] = expires
	} else {
		delete(r.expiring, k)
	}
	return nil
}

// remove deletes p from the allowlist or the blocklist.
func (r *rules) remove(block bool, p netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	l, slot, lpm := r.place(block, p)
	return r.removeLocked(l, slot, lpm, p)
}

func (r *rules) removeLocked(l list, slot int, lpm bool, p netip.Prefix) error {
	ok, err := r.t.deletePrefix(l, lpm, p)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	delete(r.expiring, ruleKey{l, lpm, p})
	// Clear the bits only after the entry is gone.
	if slot < slotShort {
		sc := r.sumCount(l, p)
		if sc[slot]--; sc[slot] == 0 {
			if err := r.t.setSummary(l, bucket(p.Addr()), sc.mask()); err != nil {
				return err
			}
			r.dropSum(l, p)
		}
	}
	r.count[l][slot]--
	return r.syncMask(l)
}

// sumCount returns the counts of the bucket of p, a prefix of a hash slot.
func (r *rules) sumCount(l list, p netip.Prefix) *slotCounts {
	k := sumKey{l, bucket(p.Addr())}
	c := r.sum[k]
	if c == nil {
		c = new(slotCounts)
		r.sum[k] = c
	}
	return c
}

// dropSum forgets the counts of p's bucket if they are all zero.
func (r *rules) dropSum(l list, p netip.Prefix) {
	k := sumKey{l, bucket(p.Addr())}
	if c := r.sum[k]; c != nil && c.mask() == 0 {
		delete(r.sum, k)
	}
}

// mask returns the summary bits of a bucket's counts.
func (c *slotCounts) mask() uint8 {
	var m uint8
	for slot, n := range c {
		if n > 0 {
			m |= maskBit(slot)
		}
	}
	return m
}

// maskOf returns the mask of list l as its counts say: the populated hash
// slots, SLOT_LPM if the trie is not empty, SLOT_SHORT if it holds a
// prefix shorter than a bucket, SLOT_SHORTER if shorter than the kernel's
// gates record, SLOT_GATED and SLOT_TABLE.
func (r *rules) maskOf(l list) uint8 {
	c := &r.count[l]
	m := uint8(maskGated | maskTable)
	for slot := range numSlots {
		if c[slot] > 0 {
			m |= maskBit(slot)
		}
	}
	if c[slotLPM]+c[slotShort]+c[slotShorter] > 0 {
		m |= maskLPM
	}
	if c[slotShort]+c[slotShorter] > 0 {
		m |= maskShort
	}
	if c[slotShorter] > 0 {
		m |= maskShorter
	}
	return m
}

// syncMask writes the mask of list l if its counts changed it.
func (r *rules) syncMask(l list) error {
	if m := r.maskOf(l); m != r.s.mask[l] {
		return r.setMask(l, m)
	}
	return nil
}

func (r *rules) setMask(l list, m uint8) error {
	s := r.s
	s.mask[l] = m
	if err := r.t.setSettings(s); err != nil {
		return err
	}
	r.s = s
	return nil
}

// list returns the live rules of the allowlist or the blocklist, sorted.
func (r *rules) list(block bool, now uint64, wall time.Time) ([]Rule, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	var out []Rule
	lists := []list{listAllow4, listAllow6}
	if block {
		lists = []list{listBlock4, listBlock6}
	}
	for _, l := range lists {
		for _, lpm := range []bool{false, true} {
			err := r.t.eachPrefix(l, lpm, func(p netip.Prefix, expires uint64) {
				if expires != 0 && expires <= now {
					return
				}
				rule := Rule{Prefix: p}
				if expires != 0 {
					rule.Expires = wall.Add(time.Duration(expires - now))
				}
				out = append(out, rule)
			})
			if err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(out, func(a, b Rule) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return slices.CompactFunc(out, func(a, b Rule) bool { return a.Prefix == b.Prefix }), nil
}

// sweep deletes the rules that expired by now.
func (r *rules) sweep(now uint64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	n := 0
	var errs []error
	for k, exp := range r.expiring {
		if exp > now {
			continue
		}
		if err := r.removeLocked(k.l, k.l.slotOf(k.lpm, k.p.Bits()), k.lpm, k.p); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		delete(r.expiring, k)
		n++
	}
	return n, errors.Join(errs...)
}

func (r *rules) setSourceRate(rate Rate) error {
	rate, err := rate.normalize()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	s := r.s
	s.srcInterval, s.srcBurst = rate.gcra()
	s.srcRate = rate
	if err := r.t.setSettings(s); err != nil {
		return err
	}
	r.s = s
	return nil
}

func (r *rules) sourceRate() Rate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s.srcRate
}

func (r *rules) setPortLimit(proto Proto, port uint16, rate Rate) error {
	if proto != TCP && proto != UDP {
		return fmt.Errorf("%w: %s", ErrInvalidProto, proto)
	}
	rate, err := rate.normalize()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	idx := portIndex(proto, port) - 1
	old, err := r.t.port(idx)
	if err != nil {
		return err
	}
	var pl portLimit
	pl.interval, pl.burst = rate.gcra()
	pl.rate = rate
	if err := r.t.setPort(idx, pl); err != nil {
		return err
	}
	n := r.ports
	switch {
	case old.interval == 0 && pl.interval != 0:
		n++
	case old.interval != 0 && pl.interval == 0:
		n--
	}
	s := r.s
	s.flags &^= flagPorts
	if n > 0 {
		s.flags |= flagPorts
	}
	if s != r.s {
		if err := r.t.setSettings(s); err != nil {
			return err
		}
		r.s = s
	}
	r.ports = n
	return nil
}

func (r *rules) portLimits() ([]PortLimit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	var out []PortLimit
	err := r.t.eachPort(func(idx uint32, pl portLimit) {
		proto := TCP
		if idx >= 65536 {
			proto, idx = UDP, idx-65536
		}
		out = append(out, PortLimit{Proto: proto, Port: uint16(idx), Rate: pl.rate})
	})
	slices.SortFunc(out, func(a, b PortLimit) int {
		return int(portIndex(a.Proto, a.Port)) - int(portIndex(b.Proto, b.Port))
	})
	return out, err
}

func (r *rules) counters() ([numVerdicts]uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return [numVerdicts]uint64{}, ErrClosed
	}
	return r.t.counters()
}

// close makes every later call return ErrClosed; the tables' owner closes
// them after.
func (r *rules) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
}
