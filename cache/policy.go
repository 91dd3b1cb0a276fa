package cache

import (
	"net/http"
	"strings"
	"time"
)

// reason is why a response was not stored. Every reason is ErrNotStored
// for errors.Is; its text says which rule refused it.
type reason string

func (r reason) Error() string        { return "not stored: " + string(r) }
func (r reason) Is(target error) bool { return target == ErrNotStored }

// The reasons Put gives, preallocated.
var (
	errMethod         error = reason("method is not GET")
	errRequestNoStore error = reason("request has Cache-Control: no-store")
	errStatus         error = reason("status is not storable (1xx, 206, 304 or out of range)")
	errNoStore        error = reason("response has Cache-Control: no-store")
	errPrivate        error = reason("response has Cache-Control: private")
	errNoCache        error = reason("response has Cache-Control: no-cache (it would need revalidation, which the cache does not do)")
	errAuthorization  error = reason("request has Authorization and the response is not public, s-maxage or must-revalidate")
	errVaryStar       error = reason("response has Vary: *")
	errSetCookie      error = reason("response has Set-Cookie")
	errNoFreshness    error = reason("response has no explicit freshness (max-age, s-maxage or Expires)")
	errStale          error = reason("response is stale on arrival or its freshness information is invalid")
	errTooLarge       error = reason("response is larger than the entry or tenant limit")
	errRejected       error = reason("the cache's admission policy turned it down")
)

// variant is one stored response: for a URL without Vary the only one,
// otherwise one per combination of the request fields the Vary names.
// It never changes once made, so readers share it without locks.
type variant struct {
	vary   []string     // canonical names of the fields the response varies on
	values []fieldValue // the storing request's values for them, normalized
	resp   Response     // Header cleaned (no Age, no hop-by-hop fields); owned

	responseTime time.Time     // when the cache received the response
	initialAge   time.Duration // corrected_initial_age (RFC 9111 §4.2.3)
	lifetime     time.Duration // freshness_lifetime (§4.2.1)
	cost         int64
}

// fieldValue is a request field's normalized value, or its absence (which
// matches absence only, RFC 9111 §4.1).
type fieldValue struct {
	value   string
	present bool
}

// age returns the variant's current_age at now.
func (v *variant) age(now time.Time) time.Duration {
	resident := now.Sub(v.responseTime)
	if resident < 0 {
		resident = 0
	}
	return v.initialAge + resident
}

// matches reports whether h, a request's header, selects v: each field
// the Vary names has the same normalized value as in the request that v
// was stored for, or is absent in both. It does not allocate unless a
// value is longer than a small stack buffer.
func (v *variant) matches(h http.Header) bool {
	for i, name := range v.vary {
		lines, ok := fieldLines(h, name)
		want := v.values[i]
		if ok != want.present {
			return false
		}
		var buf [128]byte
		if string(appendFieldValue(buf[:0], lines)) != want.value {
			return false
		}
	}
	return true
}

// Costs that a variant and a group add to their bytes: Go's headers of
// maps, slices and strings, roughly.
const (
	variantOverhead = 256
	groupOverhead   = 128
	fieldOverhead   = 32
)

// newVariant decides whether a shared cache may store resp, received for
// req, and makes the variant to store. requestTime and responseTime are
// when the request went to the origin and when the response came back
// (equal when unknown). The caller checks the size.
//
// The rules, in order (RFC 9111 §3 unless said otherwise):
//   - only GET responses are stored (HEAD is answered from them);
//   - not when the request says no-store;
//   - status: final, not 206 (no range support) nor 304;
//   - not when the response says no-store, private or no-cache (no-cache
//     means "revalidate before every use", which the cache does not do);
//     a qualified private="f" or no-cache="f" only removes field f;
//   - not for a request with Authorization unless the response says
//     public, s-maxage or must-revalidate (§3.5);
//   - not with Vary: *, which no later request can match (§4.1);
//   - not with Set-Cookie, unless a qualified private or no-cache names
//     it (then it is removed): one visitor's cookie must not reach the
//     next;
//   - only with explicit freshness: s-maxage, else max-age, else Expires
//     minus Date (§4.2.1); no heuristic freshness (§4.2.2): a response
//     whose origin said nothing is not cached;
//   - not when it is stale already: an invalid or duplicated freshness
//     directive, an Expires that is invalid or not after Date, an Age at
//     or past the lifetime.
func newVariant(req Request, resp Response, requestTime, responseTime time.Time, ownBody bool) (*variant, error) {
	if req.Method != "" && req.Method != http.MethodGet {
		return nil, errMethod
	}
	reqLines, _ := fieldLines(req.Header, "Cache-Control")
	if parseDirectives(reqLines).noStore {
		return nil, errRequestNoStore
	}
	if resp.Status < 200 || resp.Status > 999 || resp.Status == http.StatusPartialContent || resp.Status == http.StatusNotModified {
		return nil, errStatus
	}
	ccLines, _ := fieldLines(resp.Header, "Cache-Control")
	cc := parseDirectives(ccLines)
	switch {
	case cc.noStore:
		return nil, errNoStore
	case cc.private:
		return nil, errPrivate
	case cc.noCache:
		return nil, errNoCache
	}
	if _, auth := fieldLines(req.Header, "Authorization"); auth && !cc.public && !cc.mustRevalidate && cc.sMaxAge == absent {
		return nil, errAuthorization
	}
	varyLines, _ := fieldLines(resp.Header, "Vary")
	vary, star := parseVary(varyLines)
	if star {
		return nil, errVaryStar
	}
	removed := func(name string) bool {
		return listed(cc.privateFields, name) || listed(cc.noCacheFields, name)
	}
	if _, ok := fieldLines(resp.Header, "Set-Cookie"); ok && !removed("Set-Cookie") {
		return nil, errSetCookie
	}

	date, hasDate := httpDate(resp.Header, "Date")
	if !hasDate {
		date = responseTime
	}
	var lifetime time.Duration
	switch {
	case cc.sMaxAge != absent:
		lifetime = deltaDuration(cc.sMaxAge)
	case cc.maxAge != absent:
		lifetime = deltaDuration(cc.maxAge)
	default:
		lines, ok := fieldLines(resp.Header, "Expires")
		if !ok {
			return nil, errNoFreshness
		}
		// An invalid Expires, "0" among them, is in the past (§5.3); so
		// are two different ones (§4.2.1).
		expires, err := http.ParseTime(strings.Trim(lines[0], " \t"))
		for _, l := range lines[1:] {
			if strings.Trim(l, " \t") != strings.Trim(lines[0], " \t") {
				err = errStale
			}
		}
		if err != nil {
			return nil, errStale
		}
		lifetime = expires.Sub(date)
	}
	if lifetime < 0 || cc.sMaxAge == invalid || cc.maxAge == invalid && cc.sMaxAge == absent {
		return nil, errStale
	}

	// current_age at arrival (§4.2.3).
	apparentAge := max(0, responseTime.Sub(date))
	responseDelay := max(0, responseTime.Sub(requestTime))
	initialAge := max(apparentAge, ageValue(resp.Header)+responseDelay)
	if lifetime <= initialAge {
		return nil, errStale
	}

	v := &variant{
		vary:         vary,
		responseTime: responseTime,
		initialAge:   initialAge,
		lifetime:     lifetime,
	}
	v.values = make([]fieldValue, len(vary))
	for i, name := range vary {
		lines, ok := fieldLines(req.Header, name)
		v.values[i] = fieldValue{value: string(appendFieldValue(nil, lines)), present: ok}
		v.cost += int64(len(name)+len(v.values[i].value)) + fieldOverhead
	}
	v.resp = Response{Status: resp.Status, Header: storedHeader(resp.Header, removed), Body: resp.Body}
	if !ownBody && resp.Body != nil {
		v.resp.Body = append([]byte(nil), resp.Body...)
	}
	for name, values := range v.resp.Header {
		v.cost += int64(len(name)) + fieldOverhead
		for _, s := range values {
			v.cost += int64(len(s)) + fieldOverhead
		}
	}
	v.cost += int64(len(v.resp.Body)) + variantOverhead
	return v, nil
}

// hopByHop are the fields a cache must not store (RFC 9111 §3.1, RFC 9110
// §7.6.1), with Age, which the cache works out itself on every hit.
var hopByHop = []string{"Age", "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authentication-Info",
	"Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// storedHeader copies h without the hop-by-hop fields, the fields that
// Connection names and the fields that removed reports.
func storedHeader(h http.Header, removed func(string) bool) http.Header {
	connection, _ := fieldLines(h, "Connection")
	out := make(http.Header, len(h))
	for name, values := range h {
		canonical := http.CanonicalHeaderKey(name)
		if contains(hopByHop, canonical) || removed(canonical) || connectionNames(connection, canonical) {
			continue
		}
		out[canonical] = append(out[canonical], values...)
	}
	return out
}

func connectionNames(lines []string, name string) bool {
	for _, l := range lines {
		if listed(l, name) {
			return true
		}
	}
	return false
}

// httpDate parses the first line of a date field; false when it is not
// there or invalid.
func httpDate(h http.Header, name string) (time.Time, bool) {
	lines, ok := fieldLines(h, name)
	if !ok {
		return time.Time{}, false
	}
	t, err := http.ParseTime(strings.Trim(lines[0], " \t"))
	return t, err == nil
}

// ageValue parses the Age field: its first member, ignored when invalid
// (RFC 9111 §5.1).
func ageValue(h http.Header) time.Duration {
	lines, ok := fieldLines(h, "Age")
	if !ok {
		return 0
	}
	first, _, _ := strings.Cut(lines[0], ",")
	n := parseDelta(strings.Trim(first, " \t"), true)
	if n < 0 {
		return 0
	}
	return deltaDuration(n)
}

func deltaDuration(seconds int64) time.Duration {
	return time.Duration(seconds) * time.Second
}

// requestAllows reports whether a stored variant, at current age age, may
// answer a request with directives cc: it is fresh and meets the
// request's max-age and min-fresh. The caller has already turned away
// no-cache and max-age=0 requests.
func requestAllows(cc *directives, v *variant, age time.Duration) bool {
	if age >= v.lifetime {
		return false // stale: never served, there is no revalidation
	}
	if cc.maxAge >= 0 && age > deltaDuration(cc.maxAge) {
		return false
	}
	if cc.minFresh >= 0 && v.lifetime-age < deltaDuration(cc.minFresh) {
		return false
	}
	return true
}

// bypass reports whether a request's directives rule out any stored
// response: no-cache, max-age=0 (how browsers ask for a reload), or an
// invalid max-age or min-fresh (read as the strictest).
func (d *directives) bypass() bool {
	return d.noCache || d.maxAge == 0 || d.maxAge == invalid || d.minFresh == invalid
}
