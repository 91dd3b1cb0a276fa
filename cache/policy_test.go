package cache_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/cache"
)

const url = "https://example.com/a"

// probe is one Match after the store, at a time relative to the store.
type probe struct {
	at      time.Duration
	req     cache.Request // zero: GET url
	hit     bool
	age     int64 // when hit
	noBody  bool  // when hit: HEAD
	headers map[string]string
}

func TestPolicy(t *testing.T) {
	date := t0.Format(http.TimeFormat)
	at := func(d time.Duration) string { return t0.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name    string
		req     cache.Request // zero: GET url
		resp    []string      // header fields of a 200 dated t0
		status  int           // zero: 200
		wantErr string        // "" stored; else a word of the reason
		probes  []probe
	}{
		// Freshness lifetime, from each source (§4.2.1).
		{name: "max-age", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{{at: 0, hit: true, age: 0}, {at: 10 * time.Second, hit: true, age: 10}, {at: 59 * time.Second, hit: true, age: 59}, {at: 60 * time.Second}}},
		{name: "max-age quoted", resp: []string{"Cache-Control", `max-age="60"`},
			probes: []probe{{at: 59 * time.Second, hit: true, age: 59}, {at: 60 * time.Second}}},
		{name: "max-age case and spaces", resp: []string{"Cache-Control", "  Public ,MAX-AGE = 60 , x-ext=\"a,b\""},
			probes: []probe{{at: 30 * time.Second, hit: true, age: 30}}},
		{name: "s-maxage over max-age", resp: []string{"Cache-Control", "max-age=10, s-maxage=120"},
			probes: []probe{{at: 100 * time.Second, hit: true, age: 100}, {at: 120 * time.Second}}},
		{name: "s-maxage shorter than max-age", resp: []string{"Cache-Control", "max-age=120, s-maxage=10"},
			probes: []probe{{at: 9 * time.Second, hit: true, age: 9}, {at: 10 * time.Second}}},
		{name: "max-age over Expires", resp: []string{"Cache-Control", "max-age=60", "Expires", at(time.Hour)},
			probes: []probe{{at: 60 * time.Second}}},
		{name: "max-age over invalid Expires", resp: []string{"Cache-Control", "max-age=60", "Expires", "0"},
			probes: []probe{{at: 30 * time.Second, hit: true, age: 30}}},
		{name: "Expires minus Date", resp: []string{"Expires", at(300 * time.Second)},
			probes: []probe{{at: 299 * time.Second, hit: true, age: 299}, {at: 300 * time.Second}}},
		{name: "Expires in RFC 850 form", resp: []string{"Expires", t0.Add(300 * time.Second).Format("Monday, 02-Jan-06 15:04:05 GMT")},
			probes: []probe{{at: 299 * time.Second, hit: true, age: 299}}},
		{name: "Expires without Date", resp: []string{"Date", "", "Expires", at(300 * time.Second)},
			probes: []probe{{at: 200 * time.Second, hit: true, age: 200}}},
		{name: "Expires in the past", resp: []string{"Expires", at(-time.Second)}, wantErr: "stale"},
		{name: "Expires equal to Date", resp: []string{"Expires", date}, wantErr: "stale"},
		{name: "Expires invalid", resp: []string{"Expires", "tomorrow"}, wantErr: "stale"},
		{name: "Expires 0", resp: []string{"Expires", "0"}, wantErr: "stale"},
		{name: "two different Expires", resp: []string{"Expires", at(time.Hour), "Expires", at(2 * time.Hour)}, wantErr: "stale"},
		{name: "max-age=0", resp: []string{"Cache-Control", "max-age=0"}, wantErr: "stale"},
		{name: "max-age not digits", resp: []string{"Cache-Control", "max-age=6O"}, wantErr: "stale"},
		{name: "max-age negative", resp: []string{"Cache-Control", "max-age=-1"}, wantErr: "stale"},
		{name: "max-age twice, different", resp: []string{"Cache-Control", "max-age=60", "Cache-Control", "max-age=120"}, wantErr: "stale"},
		{name: "max-age twice, same", resp: []string{"Cache-Control", "max-age=60, max-age=60"},
			probes: []probe{{at: 30 * time.Second, hit: true, age: 30}}},
		{name: "max-age past 2^31", resp: []string{"Cache-Control", "max-age=99999999999999999999999"},
			probes: []probe{{at: 1000 * time.Hour, hit: true, age: 3600000}}},
		{name: "no explicit freshness", resp: []string{"Cache-Control", "public", "Last-Modified", at(-24 * time.Hour)}, wantErr: "explicit freshness"},

		// Age (§4.2.3).
		{name: "Age received", resp: []string{"Cache-Control", "max-age=60", "Age", "50"},
			probes: []probe{{at: 0, hit: true, age: 50}, {at: 9 * time.Second, hit: true, age: 59}, {at: 10 * time.Second}}},
		{name: "Age at lifetime", resp: []string{"Cache-Control", "max-age=60", "Age", "60"}, wantErr: "stale"},
		{name: "Age list: first member", resp: []string{"Cache-Control", "max-age=60", "Age", "10, 40"},
			probes: []probe{{at: 0, hit: true, age: 10}}},
		{name: "Age invalid: ignored", resp: []string{"Cache-Control", "max-age=60", "Age", "ten"},
			probes: []probe{{at: 5 * time.Second, hit: true, age: 5}}},
		{name: "apparent age from Date", resp: []string{"Cache-Control", "max-age=60", "Date", at(-30 * time.Second)},
			probes: []probe{{at: 0, hit: true, age: 30}, {at: 29 * time.Second, hit: true, age: 59}, {at: 30 * time.Second}}},
		{name: "apparent age over smaller Age", resp: []string{"Cache-Control", "max-age=60", "Date", at(-30 * time.Second), "Age", "5"},
			probes: []probe{{at: 0, hit: true, age: 30}}},
		{name: "Age over smaller apparent age", resp: []string{"Cache-Control", "max-age=60", "Date", at(-5 * time.Second), "Age", "20"},
			probes: []probe{{at: 0, hit: true, age: 20}}},
		{name: "Date in the future", resp: []string{"Cache-Control", "max-age=60", "Date", at(time.Hour)},
			probes: []probe{{at: 10 * time.Second, hit: true, age: 10}}},
		{name: "Date invalid", resp: []string{"Cache-Control", "max-age=60", "Date", "yesterday"},
			probes: []probe{{at: 10 * time.Second, hit: true, age: 10}}},

		// What may not be stored (§3, §3.5).
		{name: "no-store", resp: []string{"Cache-Control", "max-age=60, no-store"}, wantErr: "no-store"},
		{name: "no-store in a second line", resp: []string{"Cache-Control", "max-age=60", "Cache-Control", "NO-STORE"}, wantErr: "no-store"},
		{name: "private", resp: []string{"Cache-Control", "private, max-age=60"}, wantErr: "private"},
		{name: "no-cache", resp: []string{"Cache-Control", "no-cache, max-age=60"}, wantErr: "no-cache"},
		{name: "request no-store", req: get(url, "Cache-Control", "no-store"), resp: []string{"Cache-Control", "max-age=60"}, wantErr: "no-store"},
		{name: "Authorization", req: get(url, "Authorization", "Bearer x"), resp: []string{"Cache-Control", "max-age=60"}, wantErr: "Authorization"},
		{name: "Authorization, lower-case key", req: cache.Request{URL: url, Header: http.Header{"authorization": {"Bearer x"}}},
			resp: []string{"Cache-Control", "max-age=60"}, wantErr: "Authorization"},
		{name: "Authorization and public", req: get(url, "Authorization", "Bearer x"), resp: []string{"Cache-Control", "public, max-age=60"},
			probes: []probe{{at: time.Second, hit: true, age: 1}}},
		{name: "Authorization and s-maxage", req: get(url, "Authorization", "Bearer x"), resp: []string{"Cache-Control", "s-maxage=60"},
			probes: []probe{{at: time.Second, hit: true, age: 1}}},
		{name: "Authorization and must-revalidate", req: get(url, "Authorization", "Bearer x"), resp: []string{"Cache-Control", "must-revalidate, max-age=60"},
			probes: []probe{{at: time.Second, hit: true, age: 1}}},
		{name: "Set-Cookie", resp: []string{"Cache-Control", "max-age=60", "Set-Cookie", "id=1"}, wantErr: "Set-Cookie"},
		{name: "Set-Cookie dropped by private=", resp: []string{"Cache-Control", `max-age=60, private="Set-Cookie"`, "Set-Cookie", "id=1"},
			probes: []probe{{at: 0, hit: true, headers: map[string]string{"Set-Cookie": "", "Cache-Control": `max-age=60, private="Set-Cookie"`}}}},
		{name: "fields dropped by no-cache=", resp: []string{"Cache-Control", `max-age=60, no-cache="set-cookie, X-User"`, "Set-Cookie", "id=1", "X-User", "u", "X-Other", "o"},
			probes: []probe{{at: 0, hit: true, headers: map[string]string{"Set-Cookie": "", "X-User": "", "X-Other": "o"}}}},
		{name: "Vary *", resp: []string{"Cache-Control", "max-age=60", "Vary", "Accept-Encoding, *"}, wantErr: "Vary"},
		{name: "HEAD is not stored", req: cache.Request{Method: http.MethodHead, URL: url}, resp: []string{"Cache-Control", "max-age=60"}, wantErr: "method"},
		{name: "POST is not stored", req: cache.Request{Method: http.MethodPost, URL: url}, resp: []string{"Cache-Control", "max-age=60"}, wantErr: "method"},

		// Status codes: any final one with explicit freshness, but 206 and 304.
		{name: "404 with max-age", status: 404, resp: []string{"Cache-Control", "max-age=60"}, probes: []probe{{at: 0, hit: true}}},
		{name: "500 with max-age", status: 500, resp: []string{"Cache-Control", "max-age=60"}, probes: []probe{{at: 0, hit: true}}},
		{name: "404 without freshness", status: 404, wantErr: "explicit freshness"},
		{name: "206", status: 206, resp: []string{"Cache-Control", "max-age=60"}, wantErr: "status"},
		{name: "304", status: 304, resp: []string{"Cache-Control", "max-age=60"}, wantErr: "status"},
		{name: "103", status: 103, resp: []string{"Cache-Control", "max-age=60"}, wantErr: "status"},

		// The stored header.
		{name: "hop-by-hop fields and Age dropped", resp: []string{"Cache-Control", "max-age=60", "Age", "1", "Connection", "X-Hop, close",
			"X-Hop", "h", "Keep-Alive", "timeout=5", "Transfer-Encoding", "chunked", "X-Kept", "k"},
			probes: []probe{{at: 0, hit: true, age: 1, headers: map[string]string{"Age": "", "Connection": "", "X-Hop": "", "Keep-Alive": "",
				"Transfer-Encoding": "", "X-Kept": "k", "Cache-Control": "max-age=60"}}}},

		// The request's side of the match.
		{name: "HEAD from GET", resp: []string{"Cache-Control", "max-age=60", "Content-Length", "4"},
			probes: []probe{{at: time.Second, req: cache.Request{Method: http.MethodHead, URL: url}, hit: true, age: 1, noBody: true,
				headers: map[string]string{"Content-Length": "4"}}}},
		{name: "other methods never match", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{{req: cache.Request{Method: http.MethodPost, URL: url}}, {req: cache.Request{Method: "OPTIONS", URL: url}}}},
		{name: "request no-cache", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{{req: get(url, "Cache-Control", "no-cache")}}},
		{name: "request max-age=0", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{{req: get(url, "Cache-Control", "max-age=0")}}},
		{name: "request max-age", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{
				{at: 10 * time.Second, req: get(url, "Cache-Control", "max-age=10"), hit: true, age: 10},
				{at: 11 * time.Second, req: get(url, "Cache-Control", "max-age=10")},
				{at: 11 * time.Second, hit: true, age: 11}}},
		{name: "request max-age invalid", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{{at: 10 * time.Second, req: get(url, "Cache-Control", "max-age=soon")}}},
		{name: "request min-fresh", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{
				{at: 10 * time.Second, req: get(url, "Cache-Control", "min-fresh=50"), hit: true, age: 10},
				{at: 11 * time.Second, req: get(url, "Cache-Control", "min-fresh=50")}}},
		{name: "request max-stale does not serve stale", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{{at: 61 * time.Second, req: get(url, "Cache-Control", "max-stale")}}},
		{name: "request Authorization may use a stored response", resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{{at: time.Second, req: get(url, "Authorization", "Bearer y"), hit: true, age: 1}}},
		{name: "Pragma is ignored", resp: []string{"Cache-Control", "max-age=60", "Pragma", "no-cache"},
			probes: []probe{{at: time.Second, req: get(url, "Pragma", "no-cache"), hit: true, age: 1}}},
		{name: "normalized URL", req: get("HTTPS://Example.COM:443/%7euser/%2f?q=%aa#frag"), resp: []string{"Cache-Control", "max-age=60"},
			probes: []probe{
				{req: get("https://example.com/~user/%2F?q=%AA"), hit: true},
				{req: get("https://example.com/~user/%2f?q=%aa"), hit: true},
				{req: get("https://example.com/~user/%2F?q=%AA&")},
				{req: get("http://example.com/~user/%2F?q=%AA")},
				{req: get("https://example.com:8443/~user/%2F?q=%AA")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t, cache.Config{})
			req := tt.req
			if req.URL == "" {
				req.URL = url
			}
			resp := ok200(clk, "body", append([]string{"Date", date}, tt.resp...)...)
			if v := resp.Header.Values("Date"); len(v) > 1 { // the case's own Date
				resp.Header["Date"] = v[1:]
				if v[1] == "" {
					delete(resp.Header, "Date")
				}
			}
			if tt.status != 0 {
				resp.Status = tt.status
			}
			err := c.Put("acme", req, resp)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Put: %v, want stored", err)
			case tt.wantErr != "" && (!errors.Is(err, cache.ErrNotStored) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Put: %v, want ErrNotStored because of %q", err, tt.wantErr)
			case tt.wantErr != "":
				if e, ok := c.Match("acme", get(url)); ok {
					t.Fatalf("not stored, yet Match hit: %+v", e)
				}
				if s := c.Stats("acme"); s.Entries != 0 || s.Bytes != 0 {
					t.Fatalf("not stored, yet counted: %+v", s)
				}
			}
			var now time.Duration
			for i, p := range tt.probes {
				clk.Advance(p.at - now)
				now = p.at
				preq := p.req
				if preq.URL == "" {
					preq = get(url)
				}
				e, ok := c.Match("acme", preq)
				if ok != p.hit {
					t.Fatalf("probe %d (%s %s at +%v): hit %v, want %v", i, preq.Method, preq.URL, p.at, ok, p.hit)
				}
				if !ok {
					continue
				}
				if e.Age != p.age || !e.FromCache {
					t.Errorf("probe %d: Age %d, FromCache %v; want %d, true", i, e.Age, e.FromCache, p.age)
				}
				wantStatus := resp.Status
				if e.Status != wantStatus {
					t.Errorf("probe %d: status %d, want %d", i, e.Status, wantStatus)
				}
				if wantBody := map[bool]string{false: "body", true: ""}[p.noBody]; string(e.Body) != wantBody {
					t.Errorf("probe %d: body %q, want %q", i, e.Body, wantBody)
				}
				for name, want := range p.headers {
					if got := strings.Join(e.Header.Values(name), ", "); got != want {
						t.Errorf("probe %d: %s: %q, want %q", i, name, got, want)
					}
				}
			}
		})
	}
}

func TestVary(t *testing.T) {
	const ae = "Accept-Encoding"
	tests := []struct {
		name   string
		vary   string
		stored []string // the storing request's fields
		probe  []string // the matching request's fields
		hit    bool
	}{
		{"same value", ae, []string{ae, "gzip"}, []string{ae, "gzip"}, true},
		{"other value", ae, []string{ae, "gzip"}, []string{ae, "br"}, false},
		{"absent in probe", ae, []string{ae, "gzip"}, nil, false},
		{"absent in both", ae, nil, nil, true},
		{"absent when stored", ae, nil, []string{ae, "gzip"}, false},
		{"empty is not absent", ae, []string{ae, ""}, nil, false},
		{"whitespace around members", ae, []string{ae, "gzip, br"}, []string{ae, "  gzip ,br  "}, true},
		{"lines combined", ae, []string{ae, "gzip, br"}, []string{ae, "gzip", ae, "br"}, true},
		{"empty members", ae, []string{ae, "gzip,,br"}, []string{ae, "gzip, br,"}, true},
		{"order matters", ae, []string{ae, "gzip, br"}, []string{ae, "br, gzip"}, false},
		{"case matters", ae, []string{ae, "gzip"}, []string{ae, "GZIP"}, false},
		{"quoted strings kept", "X-Q", []string{"X-Q", `"a , b"`}, []string{"X-Q", `"a ,b"`}, false},
		{"vary name case-insensitive", "accept-encoding", []string{ae, "gzip"}, []string{ae, "gzip"}, true},
		{"non-canonical request key", ae, []string{ae, "gzip"}, []string{"accept-encoding", "br"}, false},
		{"two fields, one differs", "Accept-Encoding, Accept-Language", []string{ae, "gzip", "Accept-Language", "en"}, []string{ae, "gzip", "Accept-Language", "fr"}, false},
		{"two fields, same", "Accept-Encoding, Accept-Language", []string{ae, "gzip", "Accept-Language", "en"}, []string{"Accept-Language", "en", ae, "gzip"}, true},
		{"unrelated fields do not matter", ae, []string{ae, "gzip", "User-Agent", "a"}, []string{ae, "gzip", "User-Agent", "b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(t, cache.Config{})
			req := cache.Request{URL: url, Header: hdr(tt.stored...)}
			if tt.name == "non-canonical request key" {
				req.Header = http.Header{"accept-encoding": {"gzip"}}
			}
			if err := c.Put("acme", req, ok200(clk, "body", "Cache-Control", "max-age=60", "Vary", tt.vary)); err != nil {
				t.Fatal(err)
			}
			probe := cache.Request{URL: url, Header: hdr(tt.probe...)}
			if tt.name == "non-canonical request key" {
				probe.Header = http.Header{"accept-encoding": {"br"}}
			}
			if _, ok := c.Match("acme", probe); ok != tt.hit {
				t.Errorf("hit %v, want %v", ok, tt.hit)
			}
		})
	}
}

// TestVariants: one URL keeps a response per Vary value, a newer one for
// the same value replaces the older, and a response varying on other
// fields replaces them all.
func TestVariants(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	put := func(enc, body string, vary string) {
		t.Helper()
		if err := c.Put("acme", get(url, "Accept-Encoding", enc, "Accept-Language", "en"), ok200(clk, body, "Cache-Control", "max-age=60", "Vary", vary)); err != nil {
			t.Fatal(err)
		}
	}
	match := func(enc string) string {
		e, ok := c.Match("acme", get(url, "Accept-Encoding", enc, "Accept-Language", "en"))
		if !ok {
			return "miss"
		}
		return string(e.Body)
	}
	put("gzip", "g1", "Accept-Encoding")
	put("br", "b1", "Accept-Encoding")
	if g, b := match("gzip"), match("br"); g != "g1" || b != "b1" {
		t.Fatalf("variants: gzip %s, br %s; want g1, b1", g, b)
	}
	put("gzip", "g2", "Accept-Encoding")
	if g, b := match("gzip"), match("br"); g != "g2" || b != "b1" {
		t.Fatalf("after a new gzip: gzip %s, br %s; want g2, b1", g, b)
	}
	if s := c.Stats("acme"); s.Entries != 2 {
		t.Fatalf("entries %d, want 2", s.Entries)
	}
	for i := range 12 {
		put(string(rune('a'+i)), "x", "Accept-Encoding")
	}
	if s := c.Stats("acme"); s.Entries != 8 {
		t.Fatalf("entries %d after 14 variants, want the cap of 8", s.Entries)
	}
	put("gzip", "lang", "Accept-Language")
	if g, b := match("gzip"), match("br"); g != "lang" || b != "lang" {
		t.Fatalf("after a response varying on another field: gzip %s, br %s; want lang, lang", g, b)
	}
	if s := c.Stats("acme"); s.Entries != 1 {
		t.Fatalf("entries %d, want 1", s.Entries)
	}
	// A variant gone stale is dropped when the next one is stored.
	clk.Advance(61 * time.Second)
	put("br", "b3", "Accept-Language, Accept-Encoding")
	if s := c.Stats("acme"); s.Entries != 1 {
		t.Fatalf("entries %d, want 1", s.Entries)
	}
}

func TestPutErrors(t *testing.T) {
	c, clk := newCache(t, cache.Config{MaxEntryBytes: 1000})
	for _, u := range []string{"", "/a", "example.com/a", "ftp://example.com/a", "https://user:pw@example.com/a", "https://exa mple.com/", "https:///a",
		"https://example.com:99999/", "https://example.com/%zz", "https://example.com/a\x00b"} {
		if err := c.Put("acme", get(u), ok200(clk, "x", "Cache-Control", "max-age=60")); !errors.Is(err, cache.ErrInvalidURL) {
			t.Errorf("Put(%q): %v, want ErrInvalidURL", u, err)
		}
	}
	if err := c.Put("acme", get(url), ok200(clk, strings.Repeat("x", 1000), "Cache-Control", "max-age=60")); !errors.Is(err, cache.ErrNotStored) {
		t.Errorf("Put of a body past MaxEntryBytes: %v, want ErrNotStored", err)
	}
	c.Close()
	if err := c.Put("acme", get(url), ok200(clk, "x", "Cache-Control", "max-age=60")); !errors.Is(err, cache.ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if _, ok := c.Match("acme", get(url)); ok {
		t.Error("Match after Close hit")
	}
	if c.Delete("acme", get(url)) {
		t.Error("Delete after Close found something")
	}
}

// TestPutCopies: Put keeps no reference to the caller's header or body.
func TestPutCopies(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	resp := ok200(clk, "body", "Cache-Control", "max-age=60", "X-A", "a")
	if err := c.Put("acme", get(url), resp); err != nil {
		t.Fatal(err)
	}
	resp.Body[0] = 'X'
	resp.Header.Set("X-A", "changed")
	e, ok := c.Match("acme", get(url))
	if !ok || string(e.Body) != "body" || e.Header.Get("X-A") != "a" {
		t.Fatalf("Match after the caller changed its response: %v %q %v", ok, e.Body, e.Header)
	}
}

func TestDelete(t *testing.T) {
	c, clk := newCache(t, cache.Config{})
	for _, enc := range []string{"gzip", "br"} {
		if err := c.Put("acme", get(url, "Accept-Encoding", enc), ok200(clk, enc, "Cache-Control", "max-age=60", "Vary", "Accept-Encoding")); err != nil {
			t.Fatal(err)
		}
	}
	if c.Delete("other", get(url)) {
		t.Error("another tenant's Delete found the entry")
	}
	if _, ok := c.Match("acme", get(url, "Accept-Encoding", "br")); !ok {
		t.Fatal("another tenant's Delete removed the entry")
	}
	if !c.Delete("acme", cache.Request{Method: http.MethodHead, URL: "https://EXAMPLE.com/a#x"}) {
		t.Error("Delete did not find the entry")
	}
	for _, enc := range []string{"gzip", "br"} {
		if _, ok := c.Match("acme", get(url, "Accept-Encoding", enc)); ok {
			t.Errorf("variant %s still there after Delete", enc)
		}
	}
	if s := c.Stats("acme"); s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("after Delete: %+v", s)
	}
	if c.Delete("acme", get(url)) {
		t.Error("second Delete found something")
	}
	if c.Delete("acme", get("not a URL")) {
		t.Error("Delete of an invalid URL found something")
	}
}
