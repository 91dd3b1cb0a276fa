// Package cache is Wedge's edge HTTP cache: one per host, shared by all
// tenants, held in memory by ristretto. Workers reach it through the
// guest's wedge.Cache() (Match, Put, Delete) and through Fetch, which
// reads through the cache to an origin and makes concurrent misses for
// one URL share one origin request.
//
// # What is stored, and under which key
//
// An entry is a GET response, kept under the tenant and the normalized
// URL (lower-case scheme and host, no default port, no fragment,
// percent-encodings in upper case and decoded where they stand for
// unreserved characters; the query as it is). A HEAD request is answered
// from the GET entry without its body; other methods never match. The
// tenant is part of the key and of every count: tenant A never sees
// tenant B's entries, whatever the URL.
//
// A response with Vary is stored with the storing request's values of the
// fields it names, normalized (lines joined, whitespace around list
// members dropped); a later request matches only with the same values, or
// the same absence. One URL keeps up to 8 such variants, all varying on
// the same fields (a response that varies on other fields replaces them).
//
// # The policy (RFC 9111, as a shared cache)
//
// Put stores a response only if all of these hold; otherwise it returns
// an error that is ErrNotStored, whose text names the rule:
//   - the request is a GET and has no Cache-Control: no-store;
//   - the status is final and not 206 or 304 (any other status may be
//     stored when the response gives it a freshness lifetime);
//   - the response has none of no-store, private and no-cache. no-cache
//     allows storing, but only for use after revalidation, and the cache
//     does not revalidate, so such a response could never be served: it
//     is not stored at all. A qualified private="F" or no-cache="F"
//     only removes field F from the stored copy;
//   - a request with Authorization only if the response says public,
//     s-maxage or must-revalidate (§3.5);
//   - no Vary: * (no request could match it);
//   - no Set-Cookie, unless private="Set-Cookie" or no-cache="Set-Cookie"
//     says to drop it (it is then removed): otherwise one visitor's
//     cookie would be handed to the next;
//   - explicit freshness: the lifetime is s-maxage, else max-age, else
//     Expires minus Date. There is no heuristic freshness: a response
//     without any of these is not stored (as Cloudflare does by default;
//     guessing lifetimes for a worker's responses would serve stale
//     content that its author never asked to cache);
//   - it is not stale on arrival: a max-age or s-maxage that is not
//     digits, or given twice with different values, or an Expires that is
//     invalid ("0" too), duplicated with another value or not after Date,
//     or an Age at or past the lifetime, all make a response stale;
//   - it fits: at most Config.MaxEntryBytes.
//
// The stored copy has no hop-by-hop fields (Connection and what it names,
// Keep-Alive, Transfer-Encoding, ...) and no Age. Its age is worked out as
// RFC 9111 §4.2.3 says: the apparent age (the response's arrival minus
// its Date) or the received Age plus the response delay, whichever is
// larger, plus the time spent in the cache since. Put knows no request
// time, so its response delay is 0; Fetch measures it around the origin
// call. A missing or invalid Date counts as the arrival time.
//
// Match returns an entry only while it is fresh (age below lifetime):
// stale entries are never served, there is no revalidation, and
// max-stale, stale-while-revalidate and stale-if-error are ignored. The
// request's Cache-Control counts too: no-cache, max-age=0 (a browser's
// reload) and invalid values of max-age or min-fresh bypass the cache;
// max-age=N only accepts entries at most N seconds old; min-fresh=N only
// entries fresh for N more seconds. Pragma is ignored (RFC 9111 deprecates
// it). Range and conditional fields (If-None-Match, If-Modified-Since) are
// not evaluated: a hit is the whole stored response, which a server may
// always send instead. The Entry's Age is the value to send in the Age
// field.
//
// # Budgets
//
// Config.MaxBytes bounds all entries together (256 MiB by default);
// ristretto admits and evicts within it (TinyLFU admission, sampled LFU
// eviction), so a new entry may be turned down when the cache is full of
// more popular ones. Config.MaxTenantBytes bounds one tenant's entries (a
// quarter of MaxBytes by default): a store that would take a tenant past
// it first evicts that tenant's own least recently used entries (exactly
// while it has at most 64 URLs stored, by sampling 16 of them otherwise),
// never another tenant's. So a tenant never holds more than its cap, and
// its stores push out other tenants' entries only while it is below its
// cap: whatever one tenant does, the others keep at least MaxBytes -
// MaxTenantBytes between them once the cache is full (and everything they
// have while it is not). Which of their entries stay then is ristretto's
// choice, by popularity; that part is best effort, its frequency counts
// being sampled. An entry's size counts its body, header, key and Vary
// values, plus a fixed overhead.
//
// # Concurrency
//
// A Cache is safe for concurrent use. A hit takes only read locks (the
// cache's, which Close takes exclusively, and ristretto's shard lock) and
// allocates nothing. The stores and deletes of one tenant are
// serialized, and Put returns only once ristretto has applied the store:
// a Match that follows a successful Put finds the entry (until it is
// evicted or goes stale). Fetch calls of one tenant for one URL share an
// origin request (see Fetch). Close waits for the calls in progress.
package cache
