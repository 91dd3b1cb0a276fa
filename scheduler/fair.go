package scheduler

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// fairSem is the scheduler's places on the CPU: a counting semaphore whose
// waiters are served by tenant, first come first served within a tenant.
// A released place goes to the waiting tenant that holds the fewest places
// (round-robin among equals): a tenant that queues a hundred requests
// delays its own requests, not every tenant's, and a tenant with nothing
// running goes first.
type fairSem struct {
	mu      sync.Mutex
	free    int
	queue   map[string]*tenantQueue
	ring    []*tenantQueue // tenants with waiters, in turn order
	next    int            // the ring's next turn
	running map[string]int // places held, by tenant
	// starved counts the waiting tenants that hold no place: a guest
	// that runs on should give its place up to them at once.
	starved atomic.Int32
}

type tenantQueue struct {
	name    string
	waiters []chan struct{}
}

func newFairSem(n int) *fairSem {
	return &fairSem{free: n, queue: make(map[string]*tenantQueue), running: make(map[string]int)}
}

// acquire takes a place for tenant, waiting up to wait (forever when wait
// is negative) or until ctx is done.
func (s *fairSem) acquire(ctx context.Context, tenant string, wait time.Duration) bool {
	s.mu.Lock()
	if s.free > 0 && len(s.ring) == 0 {
		s.free--
		s.running[tenant]++
		s.mu.Unlock()
		return true
	}
	ch := make(chan struct{}, 1)
	q := s.queue[tenant]
	if q == nil {
		q = &tenantQueue{name: tenant}
		s.queue[tenant] = q
	}
	if len(q.waiters) == 0 {
		s.ring = append(s.ring, q)
	}
	q.waiters = append(q.waiters, ch)
	s.count()
	s.mu.Unlock()

	var timeout <-chan time.Time
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return true
	case <-timeout:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dequeue(q, ch) {
		// Granted as we gave up: the place is ours, pass it on.
		s.drop(tenant)
		s.handOver()
	}
	s.count()
	return false
}

// dequeue removes ch from q (and q from the ring when it empties); false
// if ch was not there any more (it was granted a place).
func (s *fairSem) dequeue(q *tenantQueue, ch chan struct{}) bool {
	for i, w := range q.waiters {
		if w == ch {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			if len(q.waiters) == 0 {
				s.leaveRing(q)
			}
			return true
		}
	}
	return false
}

func (s *fairSem) leaveRing(q *tenantQueue) {
	for i, r := range s.ring {
		if r == q {
			s.ring = append(s.ring[:i], s.ring[i+1:]...)
			if s.next > i {
				s.next--
			}
			break
		}
	}
	delete(s.queue, q.name)
	if len(s.ring) == 0 {
		s.next = 0
	}
}

// release gives tenant's place back: to the next tenant waiting, or to
// the pool.
func (s *fairSem) release(tenant string) {
	s.mu.Lock()
	s.drop(tenant)
	s.handOver()
	s.count()
	s.mu.Unlock()
}

func (s *fairSem) drop(tenant string) {
	if s.running[tenant]--; s.running[tenant] <= 0 {
		delete(s.running, tenant)
	}
}

// handOver passes a place to the waiting tenant holding the fewest, the
// first in turn among equals; s.mu is held.
func (s *fairSem) handOver() {
	if len(s.ring) == 0 {
		s.free++
		return
	}
	if s.next >= len(s.ring) {
		s.next = 0
	}
	best := s.next
	for i := range s.ring {
		j := (s.next + i) % len(s.ring)
		if s.running[s.ring[j].name] < s.running[s.ring[best].name] {
			best = j
		}
	}
	q := s.ring[best]
	ch := q.waiters[0]
	q.waiters = q.waiters[1:]
	s.running[q.name]++
	s.next = best
	if len(q.waiters) == 0 {
		s.leaveRing(q) // the turn moves to what slid into its index
	} else {
		s.next++
	}
	ch <- struct{}{}
}

// count updates starved; s.mu is held.
func (s *fairSem) count() {
	n := int32(0)
	for _, q := range s.ring {
		if s.running[q.name] == 0 {
			n++
		}
	}
	s.starved.Store(n)
}

// contended reports whether anyone waits for a place.
func (s *fairSem) contended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ring) > 0
}
