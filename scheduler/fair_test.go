package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Waiters are served round-robin across tenants, in order within one.
func TestFairSemOrder(t *testing.T) {
	s := newFairSem(1)
	if !s.acquire(context.Background(), "holder", 0) {
		t.Fatal("the first acquire waited")
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for _, name := range []string{"a1", "a2", "a3", "b1", "c1", "b2"} {
		tenant := name[:1]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !s.acquire(context.Background(), tenant, -1) {
				t.Error("acquire without a deadline failed")
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			s.release(tenant)
		}()
		// Queue them in this order.
		for deadline := time.Now().Add(5 * time.Second); ; {
			s.mu.Lock()
			n := 0
			for _, q := range s.queue {
				n += len(q.waiters)
			}
			s.mu.Unlock()
			if n == len(order)+countStarted(name) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	s.release("holder")
	wg.Wait()
	want := []string{"a1", "b1", "c1", "a2", "b2", "a3"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	if s.free != 1 || len(s.ring) != 0 || len(s.queue) != 0 {
		t.Errorf("after all released: free %d, ring %d, queues %d", s.free, len(s.ring), len(s.queue))
	}
}

// countStarted is how many of the waiters up to name are queued: their
// index in the list, plus one.
func countStarted(name string) int {
	return map[string]int{"a1": 1, "a2": 2, "a3": 3, "b1": 4, "c1": 5, "b2": 6}[name]
}

// A waiter that gives up leaves no trace, and a place granted just as it
// gave up is passed on, not lost.
func TestFairSemGiveUp(t *testing.T) {
	s := newFairSem(1)
	s.acquire(context.Background(), "x", 0)
	if s.acquire(context.Background(), "y", 10*time.Millisecond) {
		t.Fatal("acquired a place that is held")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s.acquire(ctx, "y", -1) {
		t.Fatal("acquired with a canceled context")
	}
	if len(s.ring) != 0 || len(s.queue) != 0 {
		t.Fatalf("waiters that gave up are still queued: ring %d", len(s.ring))
	}
	s.release("x")
	for range 1000 { // races between a grant and a timeout
		done := make(chan bool)
		s.acquire(context.Background(), "x", -1)
		go func() { done <- s.acquire(context.Background(), "y", time.Microsecond) }()
		s.release("x")
		if <-done {
			s.release("y")
		}
		if !s.acquire(context.Background(), "z", time.Second) {
			t.Fatal("a place was lost")
		}
		s.release("z")
	}
	if s.free != 1 || len(s.running) != 0 {
		t.Fatalf("free = %d, running %v after everything was released, want 1 and none", s.free, s.running)
	}
}
