package cache

import "strings"

// Values of a delta-seconds directive besides its seconds.
const (
	absent  = -1 // the directive is not there
	invalid = -2 // its argument is not delta-seconds, or it is there twice with different arguments
)

// maxDelta is what a delta-seconds too large to represent stands for
// (RFC 9111 §1.2.2): 2^31 seconds, about 68 years.
const maxDelta = 1 << 31

// directives are the Cache-Control directives (RFC 9111 §5.2) the cache
// acts on, from every field line of one request or response. Unknown
// directives are ignored, as the RFC requires.
type directives struct {
	noStore         bool
	noCache         bool   // unqualified: the whole response, or a request's no-cache
	noCacheFields   string // no-cache="field, ...": those fields only (comma-separated)
	private         bool   // unqualified
	privateFields   string // private="field, ..."
	public          bool
	mustRevalidate  bool
	proxyRevalidate bool
	onlyIfCached    bool

	// delta-seconds directives: seconds, absent or invalid
	maxAge   int64
	sMaxAge  int64
	minFresh int64
	maxStale int64 // maxStaleAny when given without an argument
}

// maxStaleAny is max-stale without an argument: any staleness.
const maxStaleAny = maxDelta

// parseDirectives parses the lines of a Cache-Control field. It never
// fails: what it cannot read it skips, up to the next comma outside a
// quoted string. Directive names are case-insensitive; arguments may be
// tokens or quoted strings (recipients accept both, §5.2). It allocates
// only for a quoted argument with backslash escapes or for the second
// qualified no-cache or private directive.
func parseDirectives(lines []string) directives {
	d := directives{maxAge: absent, sMaxAge: absent, minFresh: absent, maxStale: absent}
	for _, s := range lines {
		for s != "" {
			var name, arg string
			var hasArg bool
			name, arg, hasArg, s = nextDirective(s)
			if name != "" {
				d.apply(name, arg, hasArg)
			}
		}
	}
	return d
}

// nextDirective reads one directive from the start of s and returns it
// with the rest of s after the comma that ends it.
func nextDirective(s string) (name, arg string, hasArg bool, rest string) {
	i := skipOWS(s, 0)
	j := i
	for j < len(s) && isTokenChar(s[j]) {
		j++
	}
	name = s[i:j]
	j = skipOWS(s, j)
	if j < len(s) && s[j] == '=' {
		hasArg = true
		j = skipOWS(s, j+1)
		if j < len(s) && s[j] == '"' {
			arg, j = quotedString(s, j)
		} else {
			k := j
			for k < len(s) && isTokenChar(s[k]) {
				k++
			}
			arg, j = s[j:k], k
		}
		j = skipOWS(s, j)
	}
	if j < len(s) && s[j] != ',' {
		// Something that is not a directive: skip it.
		name = ""
		j = skipToComma(s, j)
	}
	if j < len(s) {
		j++ // the comma
	}
	return name, arg, hasArg, s[j:]
}

// quotedString reads the quoted string that starts at s[i] (a '"') and
// returns its content, unescaped, and the index after it. An unterminated
// string runs to the end of s.
func quotedString(s string, i int) (string, int) {
	start := i + 1
	escaped := false
	for j := start; j < len(s); j++ {
		switch s[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if !escaped {
				return s[start:j], j + 1
			}
			return unescape(s[start:j]), j + 1
		}
	}
	if !escaped {
		return s[start:], len(s)
	}
	return unescape(s[start:]), len(s)
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// skipToComma returns the index of the first comma at or after i that is
// not inside a quoted string, or len(s).
func skipToComma(s string, i int) int {
	quoted := false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return i
		}
	}
	return len(s)
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (d *directives) apply(name, arg string, hasArg bool) {
	switch {
	case strings.EqualFold(name, "no-store"):
		d.noStore = true
	case strings.EqualFold(name, "no-cache"):
		if hasArg {
			d.noCacheFields = joinList(d.noCacheFields, arg)
		} else {
			d.noCache = true
		}
	case strings.EqualFold(name, "private"):
		if hasArg {
			d.privateFields = joinList(d.privateFields, arg)
		} else {
			d.private = true
		}
	case strings.EqualFold(name, "public"):
		d.public = true
	case strings.EqualFold(name, "must-revalidate"):
		d.mustRevalidate = true
	case strings.EqualFold(name, "proxy-revalidate"):
		d.proxyRevalidate = true
	case strings.EqualFold(name, "only-if-cached"):
		d.onlyIfCached = true
	case strings.EqualFold(name, "max-age"):
		d.maxAge = setDelta(d.maxAge, arg, hasArg)
	case strings.EqualFold(name, "s-maxage"):
		d.sMaxAge = setDelta(d.sMaxAge, arg, hasArg)
	case strings.EqualFold(name, "min-fresh"):
		d.minFresh = setDelta(d.minFresh, arg, hasArg)
	case strings.EqualFold(name, "max-stale"):
		if hasArg {
			d.maxStale = setDelta(d.maxStale, arg, true)
		} else {
			d.maxStale = setDelta(d.maxStale, "2147483648", true)
		}
	}
}

// joinList appends the field names of a qualified no-cache or private to
// those already seen.
func joinList(list, arg string) string {
	if list == "" {
		return arg
	}
	return list + "," + arg
}

// setDelta records a delta-seconds argument. The same directive twice with
// different arguments is invalid (RFC 9111 §4.2.1: the response "should be
// considered stale").
func setDelta(cur int64, arg string, hasArg bool) int64 {
	v := parseDelta(arg, hasArg)
	switch {
	case cur == absent || cur == v:
		return v
	default:
		return invalid
	}
}

// parseDelta parses delta-seconds (1*DIGIT). Values past 2^31 are 2^31
// (RFC 9111 §1.2.2); anything else that is not digits is invalid.
func parseDelta(s string, hasArg bool) int64 {
	if !hasArg || s == "" {
		return invalid
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return invalid
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDelta)
}

// listed reports whether the comma-separated list of field names (the
// argument of a qualified no-cache or private) names field.
func listed(list, field string) bool {
	for list != "" {
		var name string
		name, list, _ = strings.Cut(list, ",")
		if strings.EqualFold(strings.Trim(name, " \t"), field) {
			return true
		}
	}
	return false
}
