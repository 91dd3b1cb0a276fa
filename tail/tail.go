// Package tail carries workers' live request events — each request's
// outcome, its accounting and the log lines its guest wrote — from the
// edge to whoever tails the worker (the control plane's SSE endpoint, and
// through it `wedge tail`).
//
// A Hub is cheap when nobody tails: the edge asks Active before it
// collects anything. Publishing never blocks: a subscriber that does not
// keep up loses events, and its Dropped count says how many. A Hub is
// safe for concurrent use.
package tail

import (
	"sync"
	"sync/atomic"

	"github.com/wedgeworks/wedge/api"
)

// Event is one request served by a worker (the wire type is api's).
type Event = api.TailEvent

// Buffer is how many events a subscriber may fall behind by before it
// loses some.
const Buffer = 256

// MaxLogBytes bounds the log lines one event carries; the rest are cut.
const MaxLogBytes = 64 << 10

type key struct{ tenant, worker string }

// Hub fans events out to the subscribers of their worker.
type Hub struct {
	mu     sync.RWMutex
	subs   map[key]map[*Sub]struct{}
	n      atomic.Int64 // subscribers, for a cheap Active when there are none
	closed bool
}

// New returns a Hub with no subscribers.
func New() *Hub { return &Hub{subs: make(map[key]map[*Sub]struct{})} }

// Sub is one subscription to a worker's events.
type Sub struct {
	C       <-chan Event
	c       chan Event
	h       *Hub
	k       key
	dropped atomic.Int64
	once    sync.Once
}

// Subscribe starts receiving the events of a worker; Close ends it.
func (h *Hub) Subscribe(tenant, worker string) *Sub {
	c := make(chan Event, Buffer)
	s := &Sub{C: c, c: c, h: h, k: key{tenant, worker}}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.once.Do(func() { close(c) })
		return s
	}
	m := h.subs[s.k]
	if m == nil {
		m = make(map[*Sub]struct{})
		h.subs[s.k] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	h.n.Add(1)
	return s
}

// Dropped is how many events the subscriber lost by falling behind.
func (s *Sub) Dropped() int64 { return s.dropped.Load() }

// Close ends the subscription and closes C.
func (s *Sub) Close() {
	s.once.Do(func() {
		s.h.mu.Lock()
		if m := s.h.subs[s.k]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(s.h.subs, s.k)
			}
		}
		close(s.c)
		s.h.mu.Unlock()
		s.h.n.Add(-1)
	})
}

// Close ends every subscription (their channels close: streams end, e.g.
// when the host shuts down) and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*Sub
	for _, m := range h.subs {
		for s := range m {
			all = append(all, s)
		}
	}
	h.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
}

// Active reports whether anyone tails the worker.
func (h *Hub) Active(tenant, worker string) bool {
	if h == nil || h.n.Load() == 0 {
		return false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs[key{tenant, worker}]) > 0
}

// Publish sends e to the worker's subscribers without waiting for any.
func (h *Hub) Publish(e Event) {
	if h == nil || h.n.Load() == 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs[key{e.Tenant, e.Worker}] {
		select {
		case s.c <- e:
		default:
			s.dropped.Add(1)
		}
	}
}
