package cache

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Errors that callers branch on.
var (
	// ErrNotStored: Put did not store the response. The error's text
	// says why (no-store, private, no explicit freshness, too large...);
	// errors.Is(err, ErrNotStored) holds for every such reason. Workers
	// usually ignore it: a response that may not be cached is not an
	// error of theirs.
	ErrNotStored = errors.New("not stored")
	// ErrInvalidURL: the request's URL is not an absolute http or https
	// URL without user information (see Request).
	ErrInvalidURL = errors.New("invalid URL: want an absolute http or https URL")
	// ErrClosed: the cache was closed.
	ErrClosed = errors.New("cache closed")
)

// Defaults of Config.
const (
	DefaultMaxBytes      = 256 << 20
	DefaultMaxEntryBytes = 16 << 20
)

// maxVariants is how many variants (responses for different values of
// the fields a Vary names) one URL keeps; a new one pushes out the oldest.
const maxVariants = 8

// Config configures a Cache. The zero value is valid.
type Config struct {
	// MaxBytes is the host-wide budget: the bytes all tenants' entries
	// may take together (body, header and key, roughly; see doc.go).
	// Zero means DefaultMaxBytes (256 MiB).
	MaxBytes int64
	// MaxTenantBytes caps what one tenant's entries may take. A tenant at
	// its cap makes room by evicting its own least recently used entries,
	// never another tenant's. Zero means a quarter of MaxBytes; more than
	// MaxBytes means MaxBytes.
	MaxTenantBytes int64
	// MaxEntryBytes caps one response. Zero means DefaultMaxEntryBytes
	// (16 MiB); it never exceeds MaxTenantBytes.
	MaxEntryBytes int64
	// Now is the clock for ages and freshness. Nil means time.Now.
	Now func() time.Time
}

// Request is what the cache needs to know of a request.
type Request struct {
	// Method is GET (also when empty) or HEAD for Match; Put stores GET
	// responses only; Fetch passes other methods through to the origin.
	Method string
	// URL is the absolute http or https URL; the key is its normalized
	// form (lower-case scheme and host, no default port, no fragment).
	URL string
	// Header holds the fields the cache reads: Cache-Control,
	// Authorization and the fields a stored response's Vary names. It is
	// only read, never kept. Its keys should be canonical, as net/http
	// makes them: Match reads Cache-Control by its canonical key only
	// (the other fields are found under any spelling).
	Header http.Header
}

// Response is a response as the origin gives it and as Put takes it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Entry is a response that Match or Fetch returns. Its Header and Body
// are shared with the cache and with other callers: read only.
type Entry struct {
	Response
	// FromCache says the response comes from the cache: a stored one, or
	// (Fetch) one fetched for a concurrent request for the same URL. Then
	// Header holds no Age field and Age is the value to send in one (RFC
	// 9111 §4.2.3: the age at the origin plus the time spent in the
	// cache, in seconds). Otherwise the response is the origin's, as it
	// came, and Age is 0.
	FromCache bool
	Age       int64
}

// Stats counts one tenant's use of the cache.
type Stats struct {
	Entries   int64 // responses stored (each variant counts)
	Bytes     int64 // what they take, as counted against the budgets
	Hits      int64 // Match and Fetch calls answered with a stored response
	Misses    int64 // Match and Fetch calls that found none (Coalesced among them)
	Stores    int64 // responses stored by Put and Fetch
	Evictions int64 // groups of entries (a URL's variants) removed to make room: host budget or tenant cap
	Coalesced int64 // Fetch calls answered with the response to another call's origin request
}

// Cache is the host's edge cache, shared by all tenants. It is safe for
// concurrent use.
type Cache struct {
	rc        *ristretto.Cache[[]byte, *group]
	now       func() time.Time
	tenantCap int64
	entryCap  int64

	// mu makes Close exclusive: ristretto must not be closed during a call.
	mu     sync.RWMutex
	closed bool

	tenantsMu sync.Mutex                         // for adding tenants
	tenants   atomic.Pointer[map[string]*tenant] // copied on write
}

// group is what ristretto stores under a key: the variants of one
// tenant's URL, newest first, all varying on the same fields. Like a
// variant it never changes once stored (but for lastUse and dead); a Put
// stores a new group.
type group struct {
	key      []byte
	t        *tenant
	variants []*variant
	cost     int64
	seq      uint64       // order of storing, ties of lastUse
	lastUse  atomic.Int64 // cache clock, Unix seconds, of the last hit or store
	dead     atomic.Bool  // no longer counted: evicted, replaced or deleted
}

// release stops counting g against its tenant, once. evicted says that it
// was removed to make room.
func (g *group) release(evicted bool) bool {
	if g == nil || !g.dead.CompareAndSwap(false, true) {
		return false
	}
	g.t.bytes.Add(-g.cost)
	g.t.entries.Add(-int64(len(g.variants)))
	g.t.groups.Add(-1)
	if evicted {
		g.t.evictions.Add(1)
	}
	return true
}

// New returns a Cache for cfg.
func New(cfg Config) (*Cache, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxTenantBytes <= 0 {
		cfg.MaxTenantBytes = cfg.MaxBytes / 4
	}
	cfg.MaxTenantBytes = min(cfg.MaxTenantBytes, cfg.MaxBytes)
	if cfg.MaxEntryBytes <= 0 {
		cfg.MaxEntryBytes = DefaultMaxEntryBytes
	}
	cfg.MaxEntryBytes = min(cfg.MaxEntryBytes, cfg.MaxTenantBytes)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{now: cfg.Now, tenantCap: cfg.MaxTenantBytes, entryCap: cfg.MaxEntryBytes}
	c.tenants.Store(&map[string]*tenant{})
	rc, err := ristretto.NewCache(&ristretto.Config[[]byte, *group]{
		// Ristretto advises 10 counters per entry the cache holds when
		// full; entries are assumed to be 4 KiB on average. The counters
		// halve every NumCounters requests, so few counters would forget
		// what is popular within a flood of new URLs.
		NumCounters:        max(1<<16, cfg.MaxBytes/4096*10),
		MaxCost:            cfg.MaxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true, // costs count our own overheads
		OnEvict: func(item *ristretto.Item[*group]) {
			// A policy eviction has no expiration; a TTL cleanup has
			// one, in the past: that is an expiry, not an eviction.
			item.Value.release(item.Expiration.IsZero() || item.Expiration.After(time.Now()))
		},
		OnExit: func(g *group) { g.release(false) }, // replaced, deleted or rejected
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.rc = rc
	return c, nil
}

// Close empties the cache and stops its goroutines. Calls after Close
// find nothing and store nothing: Match misses, Put returns ErrClosed,
// Delete finds nothing, Fetch goes to the origin (concurrent calls still
// share a request). Close waits for the calls in progress.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.rc.Close()
	}
}

// keyBuf holds a key while it is built and looked up.
type keyBuf struct{ b []byte }

var keyPool = sync.Pool{New: func() any { return &keyBuf{b: make([]byte, 0, 256)} }}

// Match returns the tenant's stored response for req if there is one that
// may answer it: same normalized URL, GET or HEAD (a HEAD gets the GET
// response without its body), the same values for the fields the
// response's Vary names, fresh (its age below its freshness lifetime) and
// acceptable to the request's Cache-Control (no-cache and max-age=0
// bypass the cache; max-age=N and min-fresh=N are honoured). A stale
// response is never returned: there is no revalidation.
//
// A hit allocates nothing (unless a field that a Vary names has a value
// longer than 128 bytes).
func (c *Cache) Match(tenant string, req Request) (Entry, bool) {
	t := c.tenant(tenant)
	e, ok := c.match(t, req, c.now())
	t.count(ok)
	return e, ok
}

func (c *Cache) match(t *tenant, req Request, now time.Time) (Entry, bool) {
	head := false
	switch req.Method {
	case "", http.MethodGet:
	case http.MethodHead:
		head = true
	default:
		return Entry{}, false
	}
	// The request's Cache-Control by its canonical name only: the scan
	// for other spellings would cost a hit a fifth of its time, and what
	// a missed spelling can do is serve a fresh response for the right
	// URL and Vary values to a request that wanted to bypass the cache.
	cc := parseDirectives(req.Header["Cache-Control"])
	if cc.bypass() {
		return Entry{}, false
	}
	kb := keyPool.Get().(*keyBuf)
	defer keyPool.Put(kb)
	key, ok := appendKey(kb.b[:0], t.name, req.URL)
	kb.b = key
	if !ok {
		return Entry{}, false
	}
	c.mu.RLock()
	g, ok := c.get(key)
	c.mu.RUnlock()
	if !ok {
		return Entry{}, false
	}
	for _, v := range g.variants {
		if !v.matches(req.Header) {
			continue
		}
		age := v.age(now)
		if !requestAllows(&cc, v, age) {
			return Entry{}, false
		}
		if s := now.Unix(); g.lastUse.Load() != s {
			g.lastUse.Store(s)
		}
		e := Entry{Response: v.resp, FromCache: true, Age: int64(age / time.Second)}
		if head {
			e.Body = nil
		}
		return e, true
	}
	return Entry{}, false
}

// get returns the live group stored under key; c.mu is held.
func (c *Cache) get(key []byte) (*group, bool) {
	if c.closed {
		return nil, false
	}
	g, ok := c.rc.Get(key)
	if !ok || g == nil || g.dead.Load() || !bytes.Equal(g.key, key) {
		return nil, false
	}
	return g, true
}

// Put stores resp, the response to req, for tenant, if a shared cache may
// (see doc.go for the rules). It returns nil when the response is stored
// and visible to Match, an error that is ErrNotStored (with the reason in
// its text) when it is not, ErrInvalidURL or ErrClosed.
//
// Put keeps no reference to req or resp: it copies the header (without
// hop-by-hop fields and Age) and the body.
func (c *Cache) Put(tenant string, req Request, resp Response) error {
	now := c.now()
	_, err := c.put(c.tenant(tenant), req, resp, now, now, false)
	return err
}

// put makes the variant and stores it. It returns the variant when the
// response is storable, even if it was not stored (too large, turned down
// by the admission policy, the cache closed): Fetch shares it with the
// requests that waited for it.
func (c *Cache) put(t *tenant, req Request, resp Response, requestTime, responseTime time.Time, ownBody bool) (*variant, error) {
	key, ok := appendKey(nil, t.name, req.URL)
	if !ok {
		return nil, ErrInvalidURL
	}
	v, err := newVariant(req, resp, requestTime, responseTime, ownBody)
	if err != nil {
		return nil, err
	}
	if v.cost > c.entryCap {
		return v, errTooLarge
	}
	return v, c.store(t, key, v, responseTime)
}

// store puts v into the tenant's group under key. Stores of one tenant
// are serialized by t.mu, which is held until ristretto has applied the
// store, so that Put's result is final and Match sees the entry once Put
// returns. Ristretto's callbacks never take t.mu, so waiting for ristretto
// under it cannot deadlock.
func (c *Cache) store(t *tenant, key []byte, v *variant, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}

	// The new group: v, then the older variants that vary on the same
	// fields, are still fresh and are for other values.
	variants := []*variant{v}
	old, _ := c.get(key)
	if old != nil && slices.Equal(old.variants[0].vary, v.vary) {
		for _, o := range old.variants {
			if len(variants) < maxVariants && o.age(now) < o.lifetime && !slices.Equal(o.values, v.values) {
				variants = append(variants, o)
			}
		}
	}
	g := &group{key: key, t: t, seq: t.seq.Add(1)}
	g.cost = groupOverhead + int64(len(key))
	for i, o := range variants {
		if g.cost+o.cost > c.tenantCap {
			variants = variants[:i] // the oldest variants go first
			break
		}
		g.cost += o.cost
	}
	if len(variants) == 0 {
		return errTooLarge
	}
	g.variants = variants
	g.lastUse.Store(now.Unix())

	// Make room within the tenant's cap, from its own entries only.
	var oldCost int64
	if old != nil {
		oldCost = old.cost
	}
	for t.bytes.Load()-oldCost+g.cost > c.tenantCap {
		victim := t.victim(old)
		if victim == nil {
			break
		}
		if victim.release(true) {
			c.rc.Del(victim.key)
		}
	}
	old.release(false) // replaced (ristretto's OnExit comes too late for the sums)

	t.bytes.Add(g.cost)
	t.entries.Add(int64(len(variants)))
	t.groups.Add(1)
	t.add(g)

	// Ristretto forgets the group a while after its last variant goes
	// stale; Match checks freshness itself, on the cache's clock.
	var ttl time.Duration
	for _, o := range variants {
		ttl = max(ttl, o.lifetime-o.age(now))
	}
	ttl = ttl.Truncate(time.Second) + 2*time.Second
	if !c.rc.SetWithTTL(key, g, g.cost, ttl) {
		g.release(false)
		return errRejected
	}
	c.rc.Wait()
	if g.dead.Load() {
		return errRejected
	}
	t.stores.Add(1)
	return nil
}

// Delete removes the tenant's stored responses for req's URL, every
// variant, and reports whether there were any. The method does not
// matter. An invalid URL has nothing stored.
func (c *Cache) Delete(tenant string, req Request) bool {
	key, ok := appendKey(nil, tenant, req.URL)
	if !ok {
		return false
	}
	t := c.tenant(tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	g, _ := c.get(key)
	found := g.release(false)
	c.rc.Del(key) // whatever is there, fresh or not
	return found
}

// Stats returns the tenant's counters.
func (c *Cache) Stats(tenant string) Stats {
	t := (*c.tenants.Load())[tenant]
	if t == nil {
		return Stats{}
	}
	return Stats{
		Entries:   t.entries.Load(),
		Bytes:     t.bytes.Load(),
		Hits:      t.hits.Load(),
		Misses:    t.misses.Load(),
		Stores:    t.stores.Load(),
		Evictions: t.evictions.Load(),
		Coalesced: t.coalesced.Load(),
	}
}

// Tenants lists, sorted, the tenants that have used the cache.
func (c *Cache) Tenants() []string {
	m := *c.tenants.Load()
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// tenant returns the tenant's state, made on first use.
func (c *Cache) tenant(name string) *tenant {
	if t := (*c.tenants.Load())[name]; t != nil {
		return t
	}
	c.tenantsMu.Lock()
	defer c.tenantsMu.Unlock()
	m := *c.tenants.Load()
	if t := m[name]; t != nil {
		return t
	}
	t := &tenant{name: name, flights: make(map[string]*flight)}
	next := make(map[string]*tenant, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	next[name] = t
	c.tenants.Store(&next)
	return t
}
