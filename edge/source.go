package edge

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// sourceLimiter is a token bucket per client address (IPv6 per /64, as
// the packet filter counts): SourceRate requests per second, bursts of
// SourceBurst. Buckets idle for a minute are dropped.
type sourceLimiter struct {
	rate, burst float64

	mu      sync.Mutex
	buckets map[netip.Prefix]*sourceBucket
	swept   time.Time
}

type sourceBucket struct {
	tokens float64
	last   time.Time
}

func newSourceLimiter(rate float64, burst int) *sourceLimiter {
	if rate <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(rate))
	}
	return &sourceLimiter{rate: rate, burst: float64(burst), buckets: make(map[netip.Prefix]*sourceBucket)}
}

// allow takes a token from src's bucket.
func (l *sourceLimiter) allow(src netip.Prefix, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for p, b := range l.buckets {
			if now.Sub(b.last) > time.Minute {
				delete(l.buckets, p)
			}
		}
		l.swept = now
	}
	b := l.buckets[src]
	if b == nil {
		b = &sourceBucket{tokens: l.burst}
		l.buckets[src] = b
	} else {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sourceOf is the client's address from the connection (never from
// X-Forwarded-For: a client could name anyone), as a prefix: the address
// itself for IPv4, its /64 for IPv6.
func sourceOf(r *http.Request) (netip.Prefix, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p, true
}
