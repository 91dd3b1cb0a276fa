package edge_test

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/edge"
)

// A client over its per-source rate gets 429 rate-limited, and the
// escalation hook hears of it with the client's address.
func TestSourceRate(t *testing.T) {
	var mu sync.Mutex
	var limited []netip.Addr
	srv, _ := newEdge(t, edge.Config{SourceRate: 1, SourceBurst: 2, OnRateLimited: func(a netip.Addr) {
		mu.Lock()
		limited = append(limited, a)
		mu.Unlock()
	}}, api.Limits{})
	var statuses []int
	var code string
	for range 3 {
		resp, _ := do(t, srv, "GET", "guest.t1.wedge.localhost", "/counter", nil)
		statuses = append(statuses, resp.StatusCode)
		code = resp.Header.Get(api.HeaderError)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 || code != string(api.CodeRateLimited) {
		t.Fatalf("statuses %v, last Wedge-Error %q; want 200 200 429 rate-limited", statuses, code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(limited) != 1 || limited[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("OnRateLimited heard %v, want [127.0.0.1]", limited)
	}
}
