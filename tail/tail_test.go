package tail

import (
	"sync"
	"testing"
)

func TestHub(t *testing.T) {
	h := New()
	if h.Active("t", "w") {
		t.Fatal("active with no subscriber")
	}
	a := h.Subscribe("t", "w")
	other := h.Subscribe("t", "x")
	if !h.Active("t", "w") || h.Active("u", "w") {
		t.Fatal("Active wrong")
	}
	h.Publish(Event{Tenant: "t", Worker: "w", Status: 200})
	if e := <-a.C; e.Status != 200 {
		t.Fatalf("got %+v", e)
	}
	select {
	case e := <-other.C:
		t.Fatalf("another worker's subscriber got %+v", e)
	default:
	}
	for range Buffer + 10 { // a subscriber that does not read loses events, never blocks
		h.Publish(Event{Tenant: "t", Worker: "w"})
	}
	if a.Dropped() != 10 {
		t.Errorf("dropped %d, want 10", a.Dropped())
	}
	a.Close()
	a.Close()
	other.Close()
	if h.Active("t", "w") || h.n.Load() != 0 {
		t.Error("still active after Close")
	}
	h.Publish(Event{Tenant: "t", Worker: "w"}) // no subscriber: nothing to do
}

func TestHubHammer(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				if i%2 == 0 {
					s := h.Subscribe("t", "w")
					h.Publish(Event{Tenant: "t", Worker: "w"})
					s.Close()
				} else {
					h.Publish(Event{Tenant: "t", Worker: "w"})
					h.Active("t", "w")
				}
			}
		})
	}
	wg.Wait()
	if h.n.Load() != 0 || len(h.subs) != 0 {
		t.Errorf("leftovers: %d subscribers, %d keys", h.n.Load(), len(h.subs))
	}
}

func TestHubClose(t *testing.T) {
	h := New()
	a := h.Subscribe("t", "w")
	h.Close()
	if _, ok := <-a.C; ok {
		t.Fatal("a subscription's channel is open after Close")
	}
	b := h.Subscribe("t", "w")
	if _, ok := <-b.C; ok {
		t.Fatal("a subscription after Close is open")
	}
	b.Close()
	h.Publish(Event{Tenant: "t", Worker: "w"})
}
