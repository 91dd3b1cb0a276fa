package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/store"
)

// How events reach a Store's Watch channels.
//
// Every change that sends an event is a write to the state bucket, and one
// watcher per Store (an ordered consumer on the whole bucket) delivers
// every such write, whichever node made it. A write this Store commits is
// also announced at once, when the call returns, so a caller that writes
// and then waits for its event never waits for the round trip; each write
// is then seen twice, once by each path, and the second sighting is
// dropped: own and seen hold, per key, the writes one path reported and
// the other has not yet, matched by revision (a delete, whose revision the
// client does not return, by "the first delete after the revision it
// replaced", which its compare-and-set makes exact).
//
// After the client reconnects, the watcher is replaced at once: the
// client's ordered consumer does not always recover by itself (in our
// tests, after a server restart, it did not within three seconds). In
// every other case the watcher is kept honest by a heartbeat: every node
// writes the heartbeat key each heartbeatEvery unless it saw a heartbeat
// within half of that, so a live watcher hears something about every
// second however quiet the store is. A watcher that hears nothing for
// silenceAfter is stopped and replaced by one that resumes after the last
// revision it delivered; with history 1 per key, what the new one
// delivers is the latest write of every key changed meanwhile, so the
// events it sends are as precise as the ones missed.

// mark is one write to a state key: a put with revision rev, or, with del
// set, a delete (as committed: the delete after revision rev; as
// delivered: the delete with revision rev).
type mark struct {
	rev uint64
	del bool
	at  time.Time
}

// keepMarks is how long an unmatched mark is kept.
const keepMarks = 30 * time.Second

func matches(committed, delivered mark) bool {
	if committed.del != delivered.del {
		return false
	}
	if committed.del {
		return delivered.rev > committed.rev
	}
	return delivered.rev == committed.rev
}

// committed announces a write this Store committed to key of the state
// bucket, unless the watcher has delivered it already.
func (s *Store) committed(key string, m mark, ev store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.seen[key], func(d mark) bool { return matches(m, d) }); i >= 0 {
		s.seen[key] = slices.Delete(s.seen[key], i, i+1)
		if len(s.seen[key]) == 0 {
			delete(s.seen, key)
		}
		return
	}
	m.at = time.Now()
	s.own[key] = append(s.own[key], m)
	s.notify(ev)
}

// delivered announces a write the watcher delivered, unless this Store
// committed it and has announced it already.
func (s *Store) delivered(key string, m mark, ev store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.IndexFunc(s.own[key], func(c mark) bool { return matches(c, m) }); i >= 0 {
		s.own[key] = slices.Delete(s.own[key], i, i+1)
		if len(s.own[key]) == 0 {
			delete(s.own, key)
		}
		return
	}
	m.at = time.Now()
	s.seen[key] = append(s.seen[key], m)
	s.notify(ev)
}

// prune forgets marks older than keepMarks: writes of other nodes (which
// no commit here will match) and own writes the watcher missed.
func (s *Store) prune() {
	old := time.Now().Add(-keepMarks)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, marks := range []map[string][]mark{s.own, s.seen} {
		for k, ms := range marks {
			ms = slices.DeleteFunc(ms, func(m mark) bool { return m.at.Before(old) })
			if len(ms) == 0 {
				delete(marks, k)
			} else {
				marks[k] = ms
			}
		}
	}
}

// Watch implements store.Store. Each channel has a buffer of one event;
// an event that finds it full merges with the pending one into the
// narrowest scope that covers both (the same worker, else the same tenant,
// else everything), so a slow receiver never blocks the watcher or a write
// and never misses a change. Events come from this Store's writes and,
// through the state watcher, from every other node's. The channel is
// closed when ctx is done or the store is closed; after Close, Watch
// returns a closed channel.
func (s *Store) Watch(ctx context.Context) <-chan store.Event {
	ch := make(chan store.Event, 1)
	s.mu.Lock()
	if s.watchers == nil {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
			return // Close closes ch.
		}
		s.mu.Lock()
		if _, ok := s.watchers[ch]; ok {
			delete(s.watchers, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	return ch
}

// notify hands ev to every Watch channel without blocking. Only notify
// sends, with s.mu held, so once it has taken a pending event out of a full
// channel the send that follows cannot block.
func (s *Store) notify(ev store.Event) {
	for ch := range s.watchers {
		select {
		case ch <- ev:
			continue
		default:
		}
		select {
		case pending := <-ch:
			ch <- merge(pending, ev)
		default: // the receiver took the pending event meanwhile
			ch <- ev
		}
	}
}

// merge returns the narrowest event that covers both a and b.
func merge(a, b store.Event) store.Event {
	switch {
	case a.Tenant != b.Tenant:
		return store.Event{}
	case a.Worker != b.Worker:
		return store.Event{Tenant: a.Tenant}
	default:
		return a
	}
}

// stateWatch is a running watcher of the state bucket.
type stateWatch struct {
	w      jetstream.KeyWatcher
	cancel context.CancelFunc
}

func (w *stateWatch) stop() { stopWatcher(w.w, w.cancel) }

// watchFrom starts a watcher of the whole state bucket that delivers every
// write from revision rev on. Its context is the Store's, not a call's:
// the client ends a watcher when the context it was created with is done.
// Creating it waits for the server, but no longer than opTimeout.
func (s *Store) watchFrom(rev uint64) (*stateWatch, error) {
	ctx, cancel := context.WithCancel(s.bg)
	type result struct {
		w   jetstream.KeyWatcher
		err error
	}
	done := make(chan result, 1)
	go func() {
		w, err := s.state.WatchAll(ctx, jetstream.ResumeFromRevision(rev))
		done <- result{w, err}
	}()
	t := time.NewTimer(opTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			cancel()
			return nil, r.err
		}
		return &stateWatch{w: r.w, cancel: cancel}, nil
	case <-t.C:
		cancel()
		go func() {
			if r := <-done; r.err == nil {
				stopWatcher(r.w, cancel)
			}
		}()
		return nil, errors.New("timed out creating the watch consumer")
	}
}

// watchLoop turns the watcher's updates into events until Close, and
// replaces the watcher when it closes or falls silent.
func (s *Store) watchLoop(w *stateWatch, last uint64) {
	defer s.loops.Done()
	silence := time.NewTimer(s.tm.silence)
	defer silence.Stop()
	failures := 0
	for {
		if w == nil {
			var err error
			if w, last, err = s.rewatch(last); err != nil {
				failures++
				if failures == 1 || failures%10 == 0 {
					s.log.Warn("cannot watch the store; retrying", "failures", failures, "err", err)
				}
				d := min(100*time.Millisecond<<min(failures, 6), 5*time.Second)
				select {
				case <-s.done:
					return
				case <-time.After(d):
				}
				continue
			}
			if failures > 0 {
				s.log.Info("watching the store again", "after_revision", last, "failures", failures)
			}
			failures = 0
			silence.Reset(s.tm.silence)
		}
		select {
		case <-s.done:
			w.stop()
			return
		case e, ok := <-w.w.Updates():
			if !ok {
				s.log.Warn("the store's watch ended; resuming", "after_revision", last)
				w.cancel()
				w = nil
				continue
			}
			silence.Reset(s.tm.silence)
			if e == nil || e.Revision() <= last {
				continue // the end of the initial values, or a repeat
			}
			last = e.Revision()
			s.deliver(e)
		case <-s.reconnected:
			// The client may or may not recreate the watcher's consumer
			// after a reconnection (some never recover): replace it now
			// rather than after silenceAfter.
			s.log.Info("reconnected: resuming the store's watch", "after_revision", last)
			w.stop()
			w = nil
		case <-silence.C:
			s.log.Warn("the store's watch fell silent; resuming", "silent_for", s.tm.silence, "after_revision", last)
			w.stop()
			w = nil
		}
	}
}

// rewatch starts a watcher after revision last. If the bucket now ends
// before last (it was lost and created anew), it starts from its end and
// sends an event for everything.
func (s *Store) rewatch(last uint64) (*stateWatch, uint64, error) {
	ctx, cancel := context.WithTimeout(s.bg, opTimeout)
	info, err := s.stateStream.Info(ctx)
	cancel()
	if err != nil {
		return nil, last, err
	}
	if end := info.State.LastSeq; end < last {
		s.log.Warn("the store's state bucket is shorter than what was seen of it: reloading everything", "last_seen", last, "end", end)
		last = end
		s.mu.Lock()
		s.notify(store.Event{})
		s.mu.Unlock()
	}
	w, err := s.watchFrom(last + 1)
	return w, last, err
}

// deliver turns one update of the state bucket into an event.
func (s *Store) deliver(e jetstream.KeyValueEntry) {
	key := e.Key()
	if key == keyHeartbeat {
		s.lastBeat.Store(time.Now().UnixNano())
		return
	}
	if s.cache != nil {
		op := cacheOp{key: key, rev: e.Revision()}
		if e.Operation() == jetstream.KeyValuePut {
			op.value = clone(e.Value())
		}
		s.cache.queue(op)
		select {
		case s.cacheKick <- struct{}{}:
		default:
		}
	}
	ev, ok := eventOf(key)
	if !ok {
		return
	}
	if e.Operation() == jetstream.KeyValuePut && strings.HasPrefix(key, "tenant.") {
		s.tenants.Store(ev.Tenant, struct{}{})
	}
	s.delivered(key, mark{rev: e.Revision(), del: e.Operation() != jetstream.KeyValuePut}, ev)
}

// heartbeatLoop writes the heartbeat key each heartbeatEvery, unless the
// watcher delivered one (this node's or another's) within half of it: a
// store with many nodes gets about one heartbeat a second in all, and a
// node whose watcher hears nothing keeps writing its own.
func (s *Store) heartbeatLoop() {
	defer s.loops.Done()
	t := time.NewTicker(s.tm.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.lastBeat.Load())) >= s.tm.heartbeat/2 {
			ctx, cancel := context.WithTimeout(s.bg, s.tm.heartbeat)
			_, err := s.state.Put(ctx, keyHeartbeat, heartbeat(s.node))
			cancel()
			if err != nil && !s.closed.Load() {
				s.log.Debug("write heartbeat", "err", err)
			}
		}
		s.prune()
	}
}

func heartbeat(node string) []byte {
	data, _ := json.Marshal(struct {
		Node string    `json:"node"`
		At   time.Time `json:"at"`
	}{node, time.Now().UTC()})
	return data
}
