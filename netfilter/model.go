package netfilter

import (
	"fmt"
	"net/netip"
	"sync"
)

// Capacities of the XDP program's maps (xdp.c), kept by the model too so
// that both refuse the same insertions.
const (
	allowHashMax = 16384
	blockHashMax = 262144
	allowLPMMax  = 16384
	blockLPMMax  = 131072
	sourcesMax   = 65536
)

func capacity(l list, lpm bool) int {
	block := l == listBlock4 || l == listBlock6
	switch {
	case block && lpm:
		return blockLPMMax
	case block:
		return blockHashMax
	case lpm:
		return allowLPMMax
	}
	return allowHashMax
}

// model is the XDP program in Go: the same tables and the same decision,
// for the userspace fallback and for the tests, which check that the kernel
// and the model decide every packet alike. It implements tables.
//
// The one intended difference: the kernel's source table is an LRU hash,
// the model's a map that, when full, forgets the sources whose bucket is
// full again (which changes no verdict) and then arbitrary ones.
type model struct {
	mu      sync.Mutex
	hash    [numLists]map[netip.Prefix]uint64
	lpm     [numLists]map[netip.Prefix]uint64
	lpmBits [numLists][129]int // prefixes per length in lpm
	lpmLens [numLists][]int    // lengths present in lpm, longest first
	s       settings
	sources map[[16]byte]uint64
	ports   map[uint32]portLimit
	sum     map[sumKey]uint8
	count   [numVerdicts]uint64
}

func newModel() *model {
	m := &model{
		sources: make(map[[16]byte]uint64),
		ports:   make(map[uint32]portLimit),
		sum:     make(map[sumKey]uint8),
	}
	for l := range numLists {
		m.hash[l] = make(map[netip.Prefix]uint64)
		m.lpm[l] = make(map[netip.Prefix]uint64)
	}
	return m
}

var _ tables = (*model)(nil)

// verdict parses a frame and decides it, as the XDP program does at time
// now (monotonic ns).
func (m *model) verdict(frame []byte, now uint64) Verdict {
	return m.decide(parse(frame), now)
}

// decide decides a parsed packet and counts the verdict.
func (m *model) decide(pk packet, now uint64) Verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.decideLocked(pk, now)
	m.count[v]++
	return v
}

func (m *model) decideLocked(pk packet, now uint64) Verdict {
	switch pk.kind {
	case frameNonIP:
		return VerdictNonIP
	case frameMalformed:
		return VerdictMalformed
	}
	allow, block := listAllow4, listBlock4
	if pk.src.Is6() {
		allow, block = listAllow6, listBlock6
	}
	if m.match(allow, pk.src, now) {
		return VerdictAllow
	}
	if m.match(block, pk.src, now) {
		return VerdictBlocklist
	}
	if m.s.srcInterval != 0 {
		k := sourceKey(pk.src)
		tat, ok := m.sources[k]
		if !ok {
			m.newSource(k, now)
		} else if conform(&tat, m.s.srcInterval, m.s.srcBurst, now) {
			m.sources[k] = tat
		} else {
			return VerdictRateLimit
		}
	}
	if m.s.flags&flagPorts != 0 && pk.port != 0 {
		idx := pk.port - 1
		if pl, ok := m.ports[idx]; ok && pl.interval != 0 {
			if !conform(&pl.tat, pl.interval, pl.burst, now) {
				return VerdictPortLimit
			}
			m.ports[idx] = pl
		}
	}
	return VerdictPass
}

func (m *model) newSource(k [16]byte, now uint64) {
	if len(m.sources) >= sourcesMax {
		for k, tat := range m.sources {
			if tat <= now { // a full bucket: the same as no bucket
				delete(m.sources, k)
			}
		}
		for k := range m.sources {
			if len(m.sources) < sourcesMax {
				break
			}
			delete(m.sources, k)
		}
	}
	m.sources[k] = now + m.s.srcInterval
}

// sourceKey is struct source in xdp.c: an IPv4 address as ::ffff:a.b.c.d,
// an IPv6 address as its /64.
func sourceKey(a netip.Addr) [16]byte {
	k := a.As16()
	if !a.Is4() {
		clear(k[8:])
	}
	return k
}

func live(expires, now uint64) bool { return expires == 0 || expires > now }

// match is match4 and match6 in xdp.c.
func (m *model) match(l list, a netip.Addr, now uint64) bool {
	mask := m.slots(l, bucket(a), m.s.mask[l])
	for slot, bits := range slotBits[l.family()] {
		if mask&(1<<slot) == 0 {
			continue
		}
		if exp, ok := m.hash[l][netip.PrefixFrom(a, bits).Masked()]; ok && live(exp, now) {
			return true
		}
	}
	if mask&maskLPM != 0 {
		for _, bits := range m.lpmLens[l] {
			if exp, ok := m.lpm[l][netip.PrefixFrom(a, bits).Masked()]; ok {
				return live(exp, now) // longest match only, as the trie
			}
		}
	}
	return false
}

// slots is slots in xdp.c: the hash slots and the trie that the bucket's
// summary lists, and the trie whatever the bucket when it holds a prefix
// shorter than a bucket or the list is not gated.
func (m *model) slots(l list, b uint32, mask uint8) uint8 {
	const probed = 1<<numSlots - 1 | maskLPM
	if mask&probed == 0 {
		return 0
	}
	var always uint8
	if mask&maskShort != 0 || mask&maskGated == 0 {
		always = mask & maskLPM
	}
	return always | m.sum[sumKey{l, b}]&probed
}

func (m *model) table(l list, lpm bool) map[netip.Prefix]uint64 {
	if lpm {
		return m.lpm[l]
	}
	return m.hash[l]
}

func (m *model) insertPrefix(l list, lpm bool, p netip.Prefix, expires uint64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.table(l, lpm)
	if _, ok := t[p]; ok {
		return false, nil
	}
	if len(t) >= capacity(l, lpm) {
		return false, fmt.Errorf("%s: %w", p, ErrFull)
	}
	t[p] = expires
	if lpm {
		m.lpmCount(l, p.Bits(), +1)
	}
	return true, nil
}

func (m *model) updatePrefix(l list, lpm bool, p netip.Prefix, expires uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.table(l, lpm)[p] = expires
	return nil
}

func (m *model) deletePrefix(l list, lpm bool, p netip.Prefix) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.table(l, lpm)
	if _, ok := t[p]; !ok {
		return false, nil
	}
	delete(t, p)
	if lpm {
		m.lpmCount(l, p.Bits(), -1)
	}
	return true, nil
}

func (m *model) lpmCount(l list, bits, d int) {
	m.lpmBits[l][bits] += d
	if n := m.lpmBits[l][bits]; (d > 0 && n == 1) || (d < 0 && n == 0) {
		m.lpmLens[l] = m.lpmLens[l][:0]
		for b := 128; b >= 0; b-- {
			if m.lpmBits[l][b] > 0 {
				m.lpmLens[l] = append(m.lpmLens[l], b)
			}
		}
	}
}

func (m *model) eachPrefix(l list, lpm bool, fn func(netip.Prefix, uint64)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, exp := range m.table(l, lpm) {
		fn(p, exp)
	}
	return nil
}

func (m *model) settings() (settings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s, nil
}

func (m *model) setSettings(s settings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s = s
	return nil
}

func (m *model) port(idx uint32) (portLimit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ports[idx], nil
}

func (m *model) setPort(idx uint32, pl portLimit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pl.interval == 0 {
		delete(m.ports, idx)
	} else {
		m.ports[idx] = pl
	}
	return nil
}

func (m *model) eachPort(fn func(uint32, portLimit)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for idx, pl := range m.ports {
		fn(idx, pl)
	}
	return nil
}

func (m *model) counters() ([numVerdicts]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count, nil
}

func (m *model) setSummary(l list, b uint32, mask uint8) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mask == 0 {
		delete(m.sum, sumKey{l, b})
	} else {
		m.sum[sumKey{l, b}] = mask
	}
	return nil
}

// reindex does nothing: the model has no index besides the summary.
func (m *model) reindex() error { return nil }

func (m *model) eachSummary(fn func(list, uint32, uint8)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, mask := range m.sum {
		fn(k.l, k.bucket, mask)
	}
	return nil
}
