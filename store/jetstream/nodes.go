package jetstream

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The nodes bucket: one entry per node, under its escaped name, holding
// the version of each worker the node serves. A node rewrites its entry
// every nodeEvery and at once when what it serves changes, deletes it when
// it closes, and the bucket drops entries nobody rewrote for nodeTTL.

// WorkerID names a worker.
type WorkerID struct{ Tenant, Worker string }

// Node is a live node as its entry in the nodes bucket describes it.
type Node struct {
	ID string
	// Seen is when the node last wrote its entry, by the server's clock.
	Seen time.Time
	// Serving is the version of each worker the node serves.
	Serving map[WorkerID]int
}

// nodeEntry is a node's entry in the nodes bucket.
type nodeEntry struct {
	Node string `json:"node"`
	// Instance is random per Open: two processes that were given one node
	// name can be told apart in `nats kv get`.
	Instance string `json:"instance"`
	At       string `json:"at"` // the node's clock, for people; liveness uses the server's
	// Serving maps escape(tenant)+"."+escape(worker) to the version the
	// node serves.
	Serving map[string]int `json:"serving"`
}

// NodeID returns the name of this node in the nodes bucket.
func (s *Store) NodeID() string { return s.node }

// SetServing records which version of each worker this node serves; it
// replaces what was set before. The node's entry is rewritten in the
// background, at once if the set changed; while NATS is away it is
// rewritten when NATS comes back.
func (s *Store) SetServing(serving map[WorkerID]int) {
	s.servMu.Lock()
	changed := !maps.Equal(s.serving, serving)
	if changed {
		s.serving = maps.Clone(serving)
	}
	s.servMu.Unlock()
	if changed {
		select {
		case s.servKick <- struct{}{}:
		default:
		}
	}
}

// presenceLoop writes this node's entry every s.tm.node and whenever
// SetServing changes it.
func (s *Store) presenceLoop() {
	defer s.loops.Done()
	t := time.NewTicker(s.tm.node)
	defer t.Stop()
	instance := newID()
	for {
		s.writePresence(instance)
		select {
		case <-s.done:
			return
		case <-t.C:
		case <-s.servKick:
		}
	}
}

func (s *Store) writePresence(instance string) {
	if s.offline() {
		return
	}
	s.servMu.Lock()
	e := nodeEntry{Node: s.node, Instance: instance, At: time.Now().UTC().Format(time.RFC3339Nano), Serving: make(map[string]int, len(s.serving))}
	for w, v := range s.serving {
		e.Serving[escape(w.Tenant)+"."+escape(w.Worker)] = v
	}
	s.servMu.Unlock()
	ctx, cancel := context.WithTimeout(s.bg, s.tm.node)
	defer cancel()
	if _, err := s.nodes.Put(ctx, escape(s.node), mustJSON(&e)); err != nil && !s.closed.Load() {
		s.log.Debug("write this node's entry", "err", err)
	}
}

// leave deletes this node's entry when the store closes, so that the node
// stops counting as live at once.
func (s *Store) leave() {
	if s.offline() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.nodes.Delete(ctx, escape(s.node)); err != nil {
		s.log.Debug("delete this node's entry", "err", err)
	}
}

// Nodes returns the live nodes, sorted by ID: those whose entry was
// written within nodeLive of the newest entry. Both times are the
// server's, so the nodes' clocks do not matter, and the newest entry is
// at most nodeEvery old while any node (this one, say) is up. While NATS
// is away it fails with store.ErrUnavailable.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	if s.offline() {
		return nil, errUnavailable
	}
	type seen struct {
		e  nodeEntry
		at time.Time
	}
	var all []seen
	err := s.list(ctx, s.nodes, ">", false, func(e jetstream.KeyValueEntry) error {
		var n nodeEntry
		if err := json.Unmarshal(e.Value(), &n); err != nil || n.Node == "" {
			return nil // not an entry this version understands
		}
		all = append(all, seen{n, e.Created()})
		return nil
	})
	if err != nil {
		return nil, s.fail("list nodes", err)
	}
	var newest time.Time
	for _, n := range all {
		if n.at.After(newest) {
			newest = n.at
		}
	}
	live := s.tm.node * 3
	nodes := make([]Node, 0, len(all))
	for _, n := range all {
		if newest.Sub(n.at) > live {
			continue
		}
		node := Node{ID: n.e.Node, Seen: n.at, Serving: make(map[WorkerID]int, len(n.e.Serving))}
		for k, v := range n.e.Serving {
			a, b, ok := strings.Cut(k, ".")
			t, err1 := unescape(a)
			w, err2 := unescape(b)
			if ok && err1 == nil && err2 == nil {
				node.Serving[WorkerID{t, w}] = v
			}
		}
		nodes = append(nodes, node)
	}
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return nodes, nil
}
