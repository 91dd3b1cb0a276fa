package cache

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// tenant is one tenant's share of the cache: its counters, the groups it
// has stored (to pick its own victims when it reaches its cap) and its
// Fetch calls in flight.
type tenant struct {
	name string

	// mu serializes the tenant's stores and deletes and guards stored.
	mu     sync.Mutex
	stored []*group // live groups, and dead ones not yet swept out
	seq    atomic.Uint64

	// Sums, kept by group.release and store; ristretto's callbacks change
	// them with atomics only, never taking mu.
	bytes, entries, groups atomic.Int64

	hits, misses, stores, evictions, coalesced atomic.Int64

	flightsMu sync.Mutex
	flights   map[string]*flight // by key
}

func (t *tenant) count(hit bool) {
	if hit {
		t.hits.Add(1)
	} else {
		t.misses.Add(1)
	}
}

// sampleAll is how many stored groups victim looks at all of; past it, it
// samples evictionSample of them.
const (
	sampleAll      = 64
	evictionSample = 16
)

// victim picks the tenant's live group to evict, never except: the least
// recently used of all its groups when it has few, of a random sample of
// them otherwise (as ristretto samples for its own evictions). It sweeps
// out the dead groups it meets. Nil when there is none. t.mu is held.
func (t *tenant) victim(except *group) *group {
	if len(t.stored) <= sampleAll {
		t.sweep()
		var best *group
		for _, g := range t.stored {
			if g != except && older(g, best) {
				best = g
			}
		}
		return best
	}
	var best *group
	for seen, tries := 0, 0; seen < evictionSample && tries < 4*evictionSample && len(t.stored) > 0; tries++ {
		i := rand.IntN(len(t.stored))
		g := t.stored[i]
		switch {
		case g.dead.Load():
			t.remove(i)
		case g != except:
			seen++
			if older(g, best) {
				best = g
			}
		}
	}
	if best == nil && len(t.stored) > 0 {
		// The samples were dead or except: look at everything.
		t.sweep()
		for _, g := range t.stored {
			if g != except && older(g, best) {
				best = g
			}
		}
	}
	return best
}

// older reports whether a was used less recently than b (nil: never).
func older(a, b *group) bool {
	if b == nil {
		return true
	}
	la, lb := a.lastUse.Load(), b.lastUse.Load()
	return la < lb || la == lb && a.seq < b.seq
}

// add records a stored group, sweeping out the dead ones when they have
// come to outnumber the live ones. t.mu is held.
func (t *tenant) add(g *group) {
	t.stored = append(t.stored, g)
	if n := len(t.stored); n > sampleAll && int64(n) > 2*t.groups.Load()+sampleAll {
		t.sweep()
	}
}

func (t *tenant) remove(i int) {
	last := len(t.stored) - 1
	t.stored[i] = t.stored[last]
	t.stored[last] = nil
	t.stored = t.stored[:last]
}

// sweep removes the dead groups from t.stored.
func (t *tenant) sweep() {
	live := t.stored[:0]
	for _, g := range t.stored {
		if !g.dead.Load() {
			live = append(live, g)
		}
	}
	clear(t.stored[len(live):])
	t.stored = live
}
