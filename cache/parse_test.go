package cache

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	base := directives{maxAge: absent, sMaxAge: absent, minFresh: absent, maxStale: absent}
	with := func(f func(d *directives)) directives {
		d := base
		f(&d)
		return d
	}
	tests := []struct {
		lines []string
		want  directives
	}{
		{nil, base},
		{[]string{""}, base},
		{[]string{"no-store"}, with(func(d *directives) { d.noStore = true })},
		{[]string{"No-Store, PRIVATE"}, with(func(d *directives) { d.noStore, d.private = true, true })},
		{[]string{"max-age=60"}, with(func(d *directives) { d.maxAge = 60 })},
		{[]string{`max-age="60"`}, with(func(d *directives) { d.maxAge = 60 })},
		{[]string{"max-age = 60"}, with(func(d *directives) { d.maxAge = 60 })},
		{[]string{"max-age=60", "s-maxage=5"}, with(func(d *directives) { d.maxAge, d.sMaxAge = 60, 5 })},
		{[]string{"max-age=60, max-age=60"}, with(func(d *directives) { d.maxAge = 60 })},
		{[]string{"max-age=60, max-age=61"}, with(func(d *directives) { d.maxAge = invalid })},
		{[]string{"max-age=60", "max-age=61"}, with(func(d *directives) { d.maxAge = invalid })},
		{[]string{"max-age"}, with(func(d *directives) { d.maxAge = invalid })},
		{[]string{"max-age="}, with(func(d *directives) { d.maxAge = invalid })},
		{[]string{"max-age=-5"}, with(func(d *directives) { d.maxAge = invalid })},
		{[]string{"max-age=1.5"}, with(func(d *directives) { d.maxAge = invalid })},
		{[]string{"max-age=0"}, with(func(d *directives) { d.maxAge = 0 })},
		{[]string{"max-age=007"}, with(func(d *directives) { d.maxAge = 7 })},
		{[]string{"max-age=2147483648"}, with(func(d *directives) { d.maxAge = maxDelta })},
		{[]string{"max-age=99999999999999999999999999"}, with(func(d *directives) { d.maxAge = maxDelta })},
		{[]string{"max-stale"}, with(func(d *directives) { d.maxStale = maxStaleAny })},
		{[]string{"max-stale=10, min-fresh=5"}, with(func(d *directives) { d.maxStale, d.minFresh = 10, 5 })},
		{[]string{"no-cache"}, with(func(d *directives) { d.noCache = true })},
		{[]string{`no-cache="Set-Cookie, X-A"`}, with(func(d *directives) { d.noCacheFields = "Set-Cookie, X-A" })},
		{[]string{`no-cache=Set-Cookie`}, with(func(d *directives) { d.noCacheFields = "Set-Cookie" })},
		{[]string{`private="a", private="b"`}, with(func(d *directives) { d.privateFields = "a,b" })},
		{[]string{`private="a\"b\\"`}, with(func(d *directives) { d.privateFields = `a"b\` })},
		{[]string{`private, private="a"`}, with(func(d *directives) { d.private, d.privateFields = true, "a" })},
		{[]string{"public, must-revalidate, proxy-revalidate, only-if-cached"}, with(func(d *directives) {
			d.public, d.mustRevalidate, d.proxyRevalidate, d.onlyIfCached = true, true, true, true
		})},
		// Unknown directives and garbage are skipped up to the next comma
		// outside quotes.
		{[]string{`ext="a, no-store", max-age=5`}, with(func(d *directives) { d.maxAge = 5 })},
		{[]string{`max-age=5 garbage, no-store`}, with(func(d *directives) { d.noStore = true })},
		{[]string{`"quoted", ,,, public`}, with(func(d *directives) { d.public = true })},
		{[]string{`no-store="unterminated, public`}, with(func(d *directives) { d.noStore = true })},
		{[]string{"\tpublic\t,\tmax-age=1"}, with(func(d *directives) { d.public, d.maxAge = true, 1 })},
		{[]string{"no-storex, xno-store, no_store"}, base},
	}
	for _, tt := range tests {
		if got := parseDirectives(tt.lines); got != tt.want {
			t.Errorf("parseDirectives(%q)\n got  %+v\n want %+v", tt.lines, got, tt.want)
		}
	}
}

// format writes d back as a Cache-Control value that parses to d.
func (d directives) format() string {
	var parts []string
	for _, f := range []struct {
		on   bool
		name string
	}{{d.noStore, "no-store"}, {d.noCache, "no-cache"}, {d.private, "private"}, {d.public, "public"},
		{d.mustRevalidate, "must-revalidate"}, {d.proxyRevalidate, "proxy-revalidate"}, {d.onlyIfCached, "only-if-cached"}} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	quote := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	if d.noCacheFields != "" {
		parts = append(parts, "no-cache="+quote(d.noCacheFields))
	}
	if d.privateFields != "" {
		parts = append(parts, "private="+quote(d.privateFields))
	}
	for _, f := range []struct {
		v    int64
		name string
	}{{d.maxAge, "max-age"}, {d.sMaxAge, "s-maxage"}, {d.minFresh, "min-fresh"}, {d.maxStale, "max-stale"}} {
		switch f.v {
		case absent:
		case invalid:
			parts = append(parts, f.name+"=invalid")
		default:
			parts = append(parts, f.name+"="+strconv.FormatInt(f.v, 10))
		}
	}
	return strings.Join(parts, ", ")
}

// FuzzDirectives: the parser never panics, and what it parses survives a
// round trip through its canonical form.
func FuzzDirectives(f *testing.F) {
	for _, s := range []string{"max-age=60, public", `private="Set-Cookie", s-maxage=10`, `no-cache="a\"b", no-store`,
		"max-stale, min-fresh=5, only-if-cached", `x="unterminated`, "max-age=60, max-age=61", ",,,=", `a="\`} {
		f.Add(s, "")
	}
	f.Add("max-age=1", "max-age=2")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := parseDirectives([]string{a, b})
		again := parseDirectives([]string{d.format()})
		if again != d {
			t.Fatalf("round trip of %q %q:\n parsed   %+v\n format   %q\n reparsed %+v", a, b, d, d.format(), again)
		}
		// Splitting a value into lines at a top-level comma changes nothing.
		if i := skipToComma(a, 0); i < len(a) && !strings.Contains(a, `\`) {
			if split := parseDirectives([]string{a[:i], a[i+1:], b}); split != d {
				t.Fatalf("%q split at %d: %+v, want %+v", a, i, split, d)
			}
		}
	})
}

func TestAppendURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://example.com", "http://example.com/"},
		{"HTTP://EXAMPLE.COM/A", "http://example.com/A"},
		{"https://example.com:443/", "https://example.com/"},
		{"http://example.com:80/", "http://example.com/"},
		{"http://example.com:443/", "http://example.com:443/"},
		{"https://example.com:0443/", "https://example.com/"},
		{"https://example.com:08443/", "https://example.com:8443/"},
		{"https://example.com:/", "https://example.com/"},
		{"https://example.com?q", "https://example.com/?q"},
		{"https://example.com#f", "https://example.com/"},
		{"https://example.com/a?b#c", "https://example.com/a?b"},
		{"https://example.com/a?", "https://example.com/a?"},
		{"https://example.com/%7e%41%2f%2F%3a%zz", ""},
		{"https://example.com/%7e%41%2f%2F%3a", "https://example.com/~A%2F%2F%3A"},
		{"https://example.com/a%20b?x=%e2%82%ac", "https://example.com/a%20b?x=%E2%82%AC"},
		{"https://example.com/€", "https://example.com/%E2%82%AC"},
		{"https://example.com/a/../b/./c", "https://example.com/a/../b/./c"},
		{"https://example.com/a?b=1&a=2", "https://example.com/a?b=1&a=2"},
		{"https://[::1]:8080/", "https://[::1]:8080/"},
		{"https://[FE80::1]/", "https://[fe80::1]/"},
		{"https://[0:0::0:1]/", "https://[::1]/"},
		{"https://[::ffff:1.2.3.4]/", "https://[::ffff:1.2.3.4]/"},
		{"https://[0]/", ""},
		{"https://[1.2.3.4]/", ""},
		{"https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"},
		{"https://Ex%41mple.com/", ""},
		{"https://127.0.0.1:65535/", "https://127.0.0.1:65535/"},
		// Invalid.
		{"", ""},
		{"example.com/a", ""},
		{"//example.com/a", ""},
		{"ftp://example.com/", ""},
		{"https:/example.com/", ""},
		{"https://", ""},
		{"https:///a", ""},
		{"https://user@example.com/", ""},
		{"https://example.com:65536/", ""},
		{"https://example.com:0/", ""},
		{"https://example.com:8o/", ""},
		{"https://[::1/", ""},
		{"https://[::g]/", ""},
		{"https://exa mple.com/", ""},
		{"https://example.com/a b", ""},
		{"https://example.com/a\nb", ""},
		{"https://example.com/a\x7f", ""},
		{"https://example.com/%", ""},
		{"https://example.com/%4", ""},
		{"https://ex<ample.com/", ""},
	}
	for _, tt := range tests {
		got, ok := appendURL(nil, tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("appendURL(%q) = %q, want invalid", tt.in, got)
			}
			continue
		}
		if !ok || string(got) != tt.want {
			t.Errorf("appendURL(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

// FuzzURL: normalizing never panics, is idempotent, and gives a URL that
// net/url reads as the same scheme and a lower-case host.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"https://example.com/a?b#c", "HTTP://Ex-Ample.COM:080/%7e/%2f", "https://[::1]:8080/x", "http://a/€", "https://a:/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := appendURL(nil, s)
		if !ok {
			return
		}
		again, ok := appendURL(nil, string(n))
		if !ok || !bytes.Equal(again, n) {
			t.Fatalf("%q normalizes to %q, which normalizes to %q, %v", s, n, again, ok)
		}
		u, err := url.Parse(string(n))
		if err != nil {
			t.Fatalf("%q normalizes to %q, which net/url refuses: %v", s, n, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("%q normalizes to %q: scheme %q host %q", s, n, u.Scheme, u.Host)
		}
		if strings.ToLower(u.Host) != u.Host {
			t.Fatalf("%q normalizes to %q: host %q not in lower case", s, n, u.Host)
		}
	})
}

// FuzzKey: two keys are equal exactly when tenants and normalized URLs
// are; the tenant reads back from the key.
func FuzzKey(f *testing.F) {
	f.Add("a", "https://b/c", "ab", "https://c")
	f.Add("acme", "https://example.com/", "acme", "https://EXAMPLE.com:443")
	f.Add("", "http://x/", "\x00", "http://x/")
	f.Fuzz(func(t *testing.T, t1, u1, t2, u2 string) {
		k1, ok1 := appendKey(nil, t1, u1)
		k2, ok2 := appendKey(nil, t2, u2)
		if !ok1 || !ok2 {
			return
		}
		n1, _ := appendURL(nil, u1)
		n2, _ := appendURL(nil, u2)
		same := t1 == t2 && bytes.Equal(n1, n2)
		if bytes.Equal(k1, k2) != same {
			t.Fatalf("keys of (%q, %q) and (%q, %q): equal %v, want %v", t1, u1, t2, u2, !same, same)
		}
		n, w := binary.Uvarint(k1)
		if w <= 0 || uint64(len(k1)-w) < n || string(k1[w:w+int(n)]) != t1 || !bytes.Equal(k1[w+int(n):], n1) {
			t.Fatalf("key %q does not read back as (%q, %q)", k1, t1, n1)
		}
	})
}

func TestAppendFieldValue(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"gzip"}, "gzip"},
		{[]string{" gzip ,  br\t"}, "gzip,br"},
		{[]string{"gzip", "br"}, "gzip,br"},
		{[]string{"gzip,,br,"}, "gzip,br"},
		{[]string{"gzip;q=1.0, br; q=0.5"}, "gzip;q=1.0,br; q=0.5"},
		{[]string{`"a , b" , c`}, `"a , b",c`},
		{[]string{`"a \" , b", c`}, `"a \" , b",c`},
		{[]string{"Mozilla/5.0 (X11; Linux x86_64)"}, "Mozilla/5.0 (X11; Linux x86_64)"},
	}
	for _, tt := range tests {
		if got := string(appendFieldValue(nil, tt.lines)); got != tt.want {
			t.Errorf("appendFieldValue(%q) = %q, want %q", tt.lines, got, tt.want)
		}
	}
}

// FuzzVary: the normalization of Vary'd fields is idempotent and does not
// care how a list is split into lines; a variant always matches the
// request it was stored for, whatever its fields.
func FuzzVary(f *testing.F) {
	f.Add("Accept-Encoding", "gzip, br", "en", "a")
	f.Add("accept-encoding, X-Empty, *", " , ", `"q,"`, "")
	f.Add("X-A,X-B,X-A", "a\tb", "", "c")
	f.Fuzz(func(t *testing.T, vary, v1, v2, v3 string) {
		lines := []string{v1, v2}
		n := appendFieldValue(nil, lines)
		// Idempotent for well-formed lines: joining lines with an
		// unterminated quoted string may close it.
		if again := appendFieldValue(nil, []string{string(n)}); !bytes.Equal(again, n) && quotesClosed(v1) && quotesClosed(v2) {
			t.Fatalf("%q normalizes to %q, then to %q", lines, n, again)
		}
		if !strings.Contains(v1, `"`) {
			var split []string
			for s := v1; ; {
				i := skipToComma(s, 0)
				split = append(split, s[:i])
				if i == len(s) {
					break
				}
				s = s[i+1:]
			}
			if got := appendFieldValue(nil, append(split, v2)); !bytes.Equal(got, n) {
				t.Fatalf("%q split into %q normalizes to %q, want %q", v1, split, got, n)
			}
		}

		names, _ := parseVary([]string{vary})
		h := http.Header{}
		for i, name := range names {
			if name == "" || strings.ContainsAny(name, "\r\n:") {
				return
			}
			switch i % 3 {
			case 0:
				h[name] = []string{v1, v2}
			case 1:
				h[strings.ToLower(name)] = []string{v3}
			}
		}
		req := Request{URL: "https://example.com/", Header: h}
		resp := Response{Status: 200, Header: http.Header{"Cache-Control": {"max-age=60"}, "Vary": {vary}}}
		now := time.Unix(1e9, 0)
		v, err := newVariant(req, resp, now, now, false)
		if strings.Contains(vary, "*") {
			if err == nil && containsStar(vary) {
				t.Fatal("Vary: * stored")
			}
			return
		}
		if err != nil {
			t.Fatalf("newVariant: %v", err)
		}
		if !v.matches(h) {
			t.Fatalf("a variant does not match its own request: vary %q, header %q", vary, h)
		}
	})
}

// quotesClosed reports whether every quoted string in s ends.
func quotesClosed(s string) bool {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		}
	}
	return !quoted
}

func containsStar(vary string) bool {
	for _, name := range strings.Split(vary, ",") {
		if strings.Trim(name, " \t") == "*" {
			return true
		}
	}
	return false
}

// FuzzResponse: whatever the response's header, deciding whether to store
// it never panics, and a stored copy holds no hop-by-hop field, no Age and
// no Set-Cookie that was not explicitly dropped.
func FuzzResponse(f *testing.F) {
	f.Add("max-age=60", "Connection: X-A\nX-A: 1\nAge: 5\nSet-Cookie: a=1", "Authorization: x", int64(0))
	f.Add(`s-maxage=5, private="set-cookie"`, "Set-Cookie: a\nExpires: 0\nDate: Mon, 02 Jan 2006 15:04:05 GMT", "", int64(3))
	f.Add("", "Expires: Mon, 02 Jan 2036 15:04:05 GMT\nVary: accept", "Accept: x", int64(-5))
	f.Fuzz(func(t *testing.T, cc, respFields, reqFields string, delay int64) {
		parse := func(s string) http.Header {
			h := http.Header{}
			for _, line := range strings.Split(s, "\n") {
				if name, value, ok := strings.Cut(line, ":"); ok {
					h.Add(name, strings.TrimSpace(value))
				}
			}
			return h
		}
		resp := Response{Status: 200, Header: parse(respFields), Body: []byte("body")}
		resp.Header.Set("Cache-Control", cc)
		req := Request{URL: "https://example.com/", Header: parse(reqFields)}
		now := time.Unix(1e9, 0)
		v, err := newVariant(req, resp, now.Add(-time.Duration(delay)*time.Second), now, false)
		if err != nil {
			return
		}
		for _, name := range append(hopByHop, "Age") {
			if _, ok := v.resp.Header[name]; ok {
				t.Fatalf("stored %s", name)
			}
		}
		if _, ok := v.resp.Header["Set-Cookie"]; ok {
			t.Fatal("stored Set-Cookie")
		}
		if v.lifetime <= v.initialAge || v.initialAge < 0 {
			t.Fatalf("stored stale: lifetime %v, age %v", v.lifetime, v.initialAge)
		}
		if !v.matches(req.Header) {
			t.Fatal("a variant does not match its own request")
		}
	})
}
