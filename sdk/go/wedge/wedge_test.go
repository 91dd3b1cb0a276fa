package wedge

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
)

// fakeHost plays the host side of the ABI in memory.
type fakeHost struct {
	unsupported // no outbound calls: fetchHost has them
	head        []byte
	body        *strings.Reader
	status      int
	header      http.Header
	out         bytes.Buffer
	writes      int
	flushes     int
	heads       int
}

func newFakeHost(method, url, body string, header ...string) *fakeHost {
	h := &fakeHost{body: strings.NewReader(body)}
	pairs := []string{":method", method, ":url", url, ":proto", "HTTP/1.1", ":remote", "192.0.2.1:1234", ":content-length", fmt.Sprint(len(body))}
	pairs = append(pairs, header...)
	for _, s := range pairs {
		h.head = appendField(h.head, s)
	}
	return h
}

func (h *fakeHost) requestHead(buf []byte) int32 {
	if len(h.head) <= len(buf) {
		copy(buf, h.head)
	}
	return int32(len(h.head))
}

func (h *fakeHost) requestBodyRead(buf []byte) int32 {
	n, _ := h.body.Read(buf)
	return int32(n)
}

func (h *fakeHost) responseHead(head []byte) int32 {
	h.heads++
	if h.heads > 1 {
		return codeBadState
	}
	h.header = make(http.Header)
	first := true
	err := decodeFields(head, func(name, value string) {
		if first {
			fmt.Sscan(value, &h.status)
			first = false
			return
		}
		h.header.Add(name, value)
	})
	if err != nil {
		return codeInvalid
	}
	return 0
}

func (h *fakeHost) responseBodyWrite(p []byte) int32 {
	h.writes++
	h.out.Write(p)
	return int32(len(p))
}

func (h *fakeHost) responseFlush() int32 { h.flushes++; return 0 }

func TestServe(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		body    string
		check   func(t *testing.T, h *fakeHost)
	}{
		{
			name: "request fields",
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s %s %s %s %s %d %s %q", r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.RemoteAddr, r.ContentLength, r.Header.Get("X-A"), b)
			},
			body: "payload",
			check: func(t *testing.T, h *fakeHost) {
				want := `POST /p q=1 example.com 192.0.2.1:1234 7 one "payload"`
				if h.out.String() != want {
					t.Errorf("got %q, want %q", h.out.String(), want)
				}
				if h.status != 200 || h.header.Get("Content-Length") != fmt.Sprint(len(want)) || !strings.HasPrefix(h.header.Get("Content-Type"), "text/plain") {
					t.Errorf("status %d header %v", h.status, h.header)
				}
			},
		},
		{
			name: "status and headers",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Add("Set-Cookie", "a=1")
				w.Header().Add("Set-Cookie", "b=2")
				w.WriteHeader(http.StatusCreated)
				w.WriteHeader(http.StatusTeapot) // ignored, as in net/http
				io.WriteString(w, `{}`)
			},
			check: func(t *testing.T, h *fakeHost) {
				if h.status != 201 || h.header.Get("Content-Type") != "application/json" || len(h.header["Set-Cookie"]) != 2 {
					t.Errorf("status %d header %v", h.status, h.header)
				}
			},
		},
		{
			name:    "no write: empty 200",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			check: func(t *testing.T, h *fakeHost) {
				if h.status != 200 || h.header.Get("Content-Length") != "0" || h.out.Len() != 0 {
					t.Errorf("status %d header %v body %q", h.status, h.header, h.out.String())
				}
			},
		},
		{
			name: "204 has no body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
					t.Errorf("write after 204: %v", err)
				}
			},
			check: func(t *testing.T, h *fakeHost) {
				if h.status != 204 || h.header.Get("Content-Length") != "" {
					t.Errorf("status %d header %v", h.status, h.header)
				}
			},
		},
		{
			name: "large response is streamed without Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i < 100; i++ {
					io.WriteString(w, strings.Repeat("z", 1000))
				}
			},
			check: func(t *testing.T, h *fakeHost) {
				if h.out.Len() != 100000 || h.header.Get("Content-Length") != "" || h.writes < 10 {
					t.Errorf("len %d writes %d header %v", h.out.Len(), h.writes, h.header)
				}
			},
		},
		{
			name: "flush",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				io.WriteString(w, "b")
			},
			check: func(t *testing.T, h *fakeHost) {
				if h.out.String() != "ab" || h.flushes != 1 || h.header.Get("Content-Length") != "" {
					t.Errorf("body %q flushes %d header %v", h.out.String(), h.flushes, h.header)
				}
			},
		},
		{
			name:    "no handler",
			handler: nil,
			check: func(t *testing.T, h *fakeHost) {
				if h.status != 500 || !strings.Contains(h.out.String(), "no handler registered") {
					t.Errorf("status %d body %q", h.status, h.out.String())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler = nil
			if tt.handler != nil {
				HandleFunc(tt.handler)
			}
			h := newFakeHost("POST", "http://example.com/p?q=1", tt.body, "X-A", "one")
			serve(h)
			tt.check(t, h)
		})
	}
}

func TestLargeHead(t *testing.T) {
	big := strings.Repeat("v", 5000) // more than the first buffer
	h := newFakeHost("GET", "http://h/", "", "X-Big", big)
	HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, fmt.Sprint(len(r.Header.Get("X-Big"))))
	})
	serve(h)
	if h.out.String() != "5000" {
		t.Errorf("got %q", h.out.String())
	}
}

// TestManyHeaders: more fields than the exchange has room for, repeated
// names among them, and a handler that adds to one: every value arrives,
// in order, and the additions do not overwrite another field's value.
func TestManyHeaders(t *testing.T) {
	var fields []string
	want := http.Header{}
	for i := range 20 {
		name := fmt.Sprintf("X-H%d", i)
		fields = append(fields, name, "v"+fmt.Sprint(i))
		want.Add(name, "v"+fmt.Sprint(i))
		if i%7 == 0 {
			fields = append(fields, name, "again")
			want.Add(name, "again")
		}
	}
	for _, spared := range []bool{false, true} {
		if spared {
			spare = newExchange()
			spare.inImage = true // as in the image: the head's strings are not copied
		}
		var got http.Header
		HandleFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Add("X-H0", "added")
			r.Header.Add("X-H1", "added")
			got = r.Header.Clone()
		})
		serve(newFakeHost("GET", "http://h/", "", fields...))
		want := want.Clone()
		want.Add("X-H0", "added")
		want.Add("X-H1", "added")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("spare %v: header\n%v\nwant\n%v", spared, got, want)
		}
		if spare != nil {
			t.Errorf("spare %v: the request did not take the spare exchange", spared)
		}
	}
}

func TestRequestTLS(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   string
	}{
		{"plain HTTP", nil, "http <nil>"},
		{"TLS 1.3 with SNI", []string{":tls-sni", "hello.acme.example", ":tls-version", "TLS 1.3"}, "https sni=hello.acme.example version=304 complete=true"},
		{"TLS 1.2 without SNI", []string{":tls-sni", "", ":tls-version", "TLS 1.2"}, "https sni= version=303 complete=true"},
		{"an unknown version", []string{":tls-sni", "h", ":tls-version", "TLS 9"}, "https sni=h version=0 complete=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://h/"
			if tt.fields != nil {
				url = "https://h/"
			}
			// Pseudo-fields come first; newFakeHost appends its extras after
			// the standard ones, and the SDK takes them in any order.
			h := newFakeHost("GET", url, "", tt.fields...)
			HandleFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.TLS == nil {
					fmt.Fprintf(w, "%s %v", r.URL.Scheme, r.TLS)
					return
				}
				fmt.Fprintf(w, "%s sni=%s version=%x complete=%v", r.URL.Scheme, r.TLS.ServerName, r.TLS.Version, r.TLS.HandshakeComplete)
			})
			serve(h)
			if got := h.out.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMalformedHead(t *testing.T) {
	h := &fakeHost{head: []byte{1, 2, 3}, body: strings.NewReader("")}
	HandleFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("handler called") })
	serve(h)
	if h.status != 400 {
		t.Errorf("status %d", h.status)
	}
}

func FuzzDecodeFields(f *testing.F) {
	f.Add(newFakeHost("GET", "http://h/", "").head)
	f.Add([]byte{255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		var n int
		if err := decodeFields(b, func(name, value string) { n++ }); err == nil {
			// A head that decodes re-encodes to the same bytes.
			var out []byte
			decodeFields(b, func(name, value string) { out = appendField(appendField(out, name), value) })
			if !bytes.Equal(out, b) {
				t.Errorf("re-encoding differs")
			}
		}
	})
}

// FuzzParseSimpleURL holds parseSimpleURL to url.Parse: whatever it
// accepts, url.Parse must parse to the same URL, with the same request
// URI.
func FuzzParseSimpleURL(f *testing.F) {
	for _, s := range []string{
		"http://h/", "https://hello.demo.wedge.localhost/a/b?c=d&e=f", "http://127.0.0.1:8080/x;y=1",
		"http://h/%41", "http://h/a b", "http://H/", "http://h:/", "http://h:80x/", "http://[::1]:80/",
		"http://h/?", "http://h/?a#b", "http://h/a?b?c", "http://h/!", "http://u@h/", "http://h", "ftp://h/",
		"http://h/~user/-_.$&+,:;=@", "http://h/?a=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u := new(url.URL)
		uri, ok := parseSimpleURL(raw, u)
		if !ok {
			return
		}
		want, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("parseSimpleURL(%q) accepted what url.Parse refuses: %v", raw, err)
		}
		if *u != *want {
			t.Errorf("parseSimpleURL(%q) = %#v, url.Parse = %#v", raw, *u, *want)
		}
		if uri != want.RequestURI() {
			t.Errorf("parseSimpleURL(%q) request URI %q, want %q", raw, uri, want.RequestURI())
		}
	})
}

// FuzzIsCanonical holds isCanonical to http.CanonicalHeaderKey.
func FuzzIsCanonical(f *testing.F) {
	for _, s := range []string{"Host", "host", "X-Forwarded-For", "x-Forwarded-for", "Content-type", "A--B", "-a", "X_Y", "Ünï", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if isCanonical(name) && http.CanonicalHeaderKey(name) != name {
			t.Errorf("isCanonical(%q), but CanonicalHeaderKey gives %q", name, http.CanonicalHeaderKey(name))
		}
	})
}

// TestPrimeAllocator checks that priming leaves every small size class
// allocating at the start of a page, which is where a fresh span begins.
// (Natively a goroutine could change Ps, and so allocator caches, in the
// middle; the thread is locked so that it does not.)
func TestPrimeAllocator(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	classes, primed := primeAllocator()
	if classes != 2*len(primeSizes)-1 {
		t.Errorf("%d span classes tried, want %d", classes, 2*len(primeSizes)-1)
	}
	if primed != classes {
		t.Errorf("only %d of %d span classes primed", primed, classes)
	}
	t.Logf("%d of %d span classes primed", primed, classes)
}

// FuzzDetectContentType holds detectContentType's shortcut to
// http.DetectContentType.
func FuzzDetectContentType(f *testing.F) {
	for _, s := range []string{"Hello from /\n", "  <html>", "<?xml", "%PDF-1", "GIF89a", "BMx", "hello\x00", "RIFF....WEBPVP8",
		"....ftypmp42....", strings.Repeat("a", 34) + "LP", "\xEF\xBB\xBFtext", "{\"a\":1}", "plain \x1b[0m", "\n\nfoo", "héllo"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := detectContentType(b), http.DetectContentType(b); got != want {
			t.Errorf("detectContentType(%q) = %q, DetectContentType = %q", b, got, want)
		}
	})
}
