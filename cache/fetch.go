package cache

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// Origin produces the response to a request that the cache cannot answer,
// typically with an outbound fetch. It runs on the goroutine that called
// Fetch, with that call's context. The cache keeps the returned body (it
// may store it and hand it to other callers): the origin must not modify
// it afterwards.
type Origin func(ctx context.Context) (Response, error)

// flight is one origin request that concurrent Fetch calls for the same
// key wait for. Its fields are written before done is closed.
type flight struct {
	done chan struct{}
	// v is the response as stored (or as it would have been, had it fit),
	// nil when it may not be shared: not storable, or an error.
	v   *variant
	err error
	// abandoned: the leader's context ended, so its error says nothing
	// about the URL; the waiters try again.
	abandoned bool
	waiters   atomic.Int32 // calls waiting, for tests
}

// maxJoins bounds how often one Fetch waits for another's origin request
// (whose response may turn out to be for other Vary values, or abandoned)
// before it goes to the origin itself.
const maxJoins = 3

var errOriginPanicked = errors.New("cache: the origin function of a concurrent Fetch panicked")

// Fetch answers req from the cache, or else from origin, storing what it
// may (Put's rules). Concurrent Fetch calls of one tenant for one URL
// that miss share one origin request: the first calls origin, the others
// wait for it, so a hundred simultaneous requests make one origin request.
//
// A waiter uses the shared response only when it may (RFC 9111 §4: a
// collapsed request gets the response only if the cache could have used
// it): when the response is storable, matches the waiter's values for the
// fields its Vary names and meets the waiter's Cache-Control. Otherwise,
// and when the response is private, no-store or the like, each waiter
// calls origin itself. An origin error reaches every waiter and is not
// cached; if the first caller's context ends, the waiters try again
// without it. A waiter whose own context ends returns ctx.Err().
//
// Requests that cannot be answered from a shared entry go to origin
// directly, without waiting for others: methods other than GET (after an
// unsafe one, such as POST, that succeeds, the URL's entries are deleted,
// RFC 9111 §4.4), requests with Authorization or with Cache-Control
// no-store, and URLs that are not absolute http or https. A request with
// Cache-Control only-if-cached that misses gets a 504 without origin
// being called (§5.2.1.7).
//
// The Entry says whether the response comes from the cache (see Entry).
func (c *Cache) Fetch(ctx context.Context, tenant string, req Request, origin Origin) (Entry, error) {
	t := c.tenant(tenant)
	if e, ok := c.match(t, req, c.now()); ok {
		t.count(true)
		return e, nil
	}
	hit := false
	defer func() { t.count(hit) }()

	switch req.Method {
	case "", http.MethodGet:
	case http.MethodHead, http.MethodOptions, http.MethodTrace:
		return c.forward(ctx, t, req, origin)
	default:
		e, err := c.forward(ctx, t, req, origin)
		if err == nil && e.Status >= 200 && e.Status < 400 {
			c.Delete(tenant, req)
		}
		return e, err
	}
	lines, _ := fieldLines(req.Header, "Cache-Control")
	cc := parseDirectives(lines)
	if cc.onlyIfCached {
		return Entry{Response: Response{Status: http.StatusGatewayTimeout, Header: http.Header{}}}, nil
	}
	_, auth := fieldLines(req.Header, "Authorization")
	key, ok := appendKey(nil, tenant, req.URL)
	if !ok || auth || cc.noStore {
		return c.forward(ctx, t, req, origin)
	}
	k := string(key)

	for joins := 0; joins < maxJoins; joins++ {
		t.flightsMu.Lock()
		f := t.flights[k]
		if f == nil {
			// A flight that has just ended stored its response before it
			// left the map: look again, so that it is not fetched twice.
			if e, ok := c.match(t, req, c.now()); ok {
				t.flightsMu.Unlock()
				hit = true
				return e, nil
			}
			f = &flight{done: make(chan struct{})}
			t.flights[k] = f
			t.flightsMu.Unlock()
			return c.lead(ctx, t, req, k, f, origin)
		}
		f.waiters.Add(1)
		t.flightsMu.Unlock()

		select {
		case <-f.done:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		}
		switch {
		case f.abandoned:
			// The leader gave up, which says nothing about the URL: try
			// again, unless we are done too.
			if err := ctx.Err(); err != nil {
				return Entry{}, err
			}
			continue
		case f.err != nil:
			return Entry{}, f.err
		case f.v == nil:
			return c.forward(ctx, t, req, origin)
		case !f.v.matches(req.Header):
			continue // a response for other Vary values: fetch ours
		}
		age := f.v.age(c.now())
		if !requestAllows(&cc, f.v, age) {
			return c.forward(ctx, t, req, origin)
		}
		t.coalesced.Add(1)
		return Entry{Response: f.v.resp, FromCache: true, Age: int64(age / time.Second)}, nil
	}
	return c.forward(ctx, t, req, origin)
}

// lead calls origin for the flight f, stores the response if it may and
// lets the waiters go. If origin panics, the waiters get an error and the
// panic goes on.
func (c *Cache) lead(ctx context.Context, t *tenant, req Request, k string, f *flight, origin Origin) (Entry, error) {
	landed := false
	defer func() {
		if !landed {
			f.err = errOriginPanicked
			c.land(t, k, f)
		}
	}()
	requestTime := c.now()
	resp, err := origin(ctx)
	if err != nil {
		f.err, f.abandoned = err, ctx.Err() != nil
	} else {
		// Stored before the flight lands: a Fetch that finds no flight
		// then finds the entry.
		f.v, _ = c.put(t, req, resp, requestTime, c.now(), true)
	}
	landed = true
	c.land(t, k, f)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Response: resp}, nil
}

// land removes the flight from the map and releases its waiters.
func (c *Cache) land(t *tenant, k string, f *flight) {
	t.flightsMu.Lock()
	delete(t.flights, k)
	t.flightsMu.Unlock()
	close(f.done)
}

// forward calls origin without sharing its response with anyone, and
// stores the response if it may.
func (c *Cache) forward(ctx context.Context, t *tenant, req Request, origin Origin) (Entry, error) {
	requestTime := c.now()
	resp, err := origin(ctx)
	if err != nil {
		return Entry{}, err
	}
	if req.Method == "" || req.Method == http.MethodGet {
		_, _ = c.put(t, req, resp, requestTime, c.now(), true)
	}
	return Entry{Response: resp}, nil
}
