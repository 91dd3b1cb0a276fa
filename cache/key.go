package cache

import (
	"encoding/binary"
	"net/http"
	"net/netip"
	"strings"
)

// appendKey appends the key of a tenant's URL to dst: the tenant's length
// as a uvarint, the tenant, the normalized URL. The length prefix makes
// keys of different tenants differ whatever bytes their names hold, and
// the URL (no NUL, no control byte) never runs into anything after it.
// It reports false when rawURL is not an absolute http or https URL.
func appendKey(dst []byte, tenant, rawURL string) ([]byte, bool) {
	dst = binary.AppendUvarint(dst, uint64(len(tenant)))
	dst = append(dst, tenant...)
	return appendURL(dst, rawURL)
}

// appendURL appends the normalized form of an absolute http or https URL
// (RFC 3986 §6.2.2, §6.2.3, without dot-segment removal): scheme and host
// in lower case, the scheme's default port and an empty port left out, an
// empty path made "/", percent-encodings in upper case and decoded where
// they stand for an unreserved character, bytes outside ASCII
// percent-encoded, the fragment dropped. The query is kept as it is, in
// its order. It reports false for anything else: another scheme, no host,
// user information (deprecated in http URLs, and a way to make one
// resource look like many), a bad port or percent-encoding, control bytes
// or spaces.
//
// Normalizing never merges two URLs that a server could tell apart
// (except by dot-segments, which it leaves alone, or by the equivalences
// RFC 3986 defines); it only spares misses.
func appendURL(dst []byte, s string) ([]byte, bool) {
	var defaultPort string
	switch {
	case len(s) >= 7 && strings.EqualFold(s[:7], "http://"):
		dst, s, defaultPort = append(dst, "http://"...), s[7:], "80"
	case len(s) >= 8 && strings.EqualFold(s[:8], "https://"):
		dst, s, defaultPort = append(dst, "https://"...), s[8:], "443"
	default:
		return dst, false
	}
	end := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '/' || c == '?' || c == '#' {
			end = i
			break
		}
	}
	authority, rest := s[:end], s[end:]
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && i > strings.LastIndexByte(authority, ']') {
		host, port = authority[:i], authority[i+1:]
	}
	var ok bool
	if dst, ok = appendHost(dst, host); !ok {
		return dst, false
	}
	if dst, ok = appendPort(dst, port, defaultPort); !ok {
		return dst, false
	}
	if rest == "" || rest[0] != '/' {
		dst = append(dst, '/')
	}
	for i := 0; i < len(rest); i++ {
		// Copy the run of bytes that stay as they are in one go.
		j := i
		for j < len(rest) && plain[rest[j]] {
			j++
		}
		dst = append(dst, rest[i:j]...)
		if i = j; i == len(rest) {
			break
		}
		switch c := rest[i]; {
		case c == '#':
			return dst, true
		case c == '%':
			if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
				return dst, false
			}
			v := unhex(rest[i+1])<<4 | unhex(rest[i+2])
			i += 2
			if isUnreserved(v) {
				dst = append(dst, v)
			} else {
				dst = appendPercent(dst, v)
			}
		case c <= ' ' || c == 0x7f:
			return dst, false
		case c >= 0x80:
			dst = appendPercent(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

// appendHost appends a host in lower case: a registered name or IPv4
// address (unreserved characters and sub-delims; no percent-encoding,
// which no DNS name needs), or an IPv6 address in brackets.
func appendHost(dst []byte, host string) ([]byte, bool) {
	if host == "" {
		return dst, false
	}
	if host[0] == '[' {
		// An IPv6 address, in its canonical form (RFC 5952); no zone.
		if len(host) < 3 || host[len(host)-1] != ']' {
			return dst, false
		}
		for i := 1; i < len(host)-1; i++ {
			if c := host[i]; !isHex(c) && c != ':' && c != '.' {
				return dst, false
			}
		}
		addr, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !addr.Is6() {
			return dst, false
		}
		return append(addr.AppendTo(append(dst, '[')), ']'), true
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'A' <= c && c <= 'Z':
			dst = append(dst, c+('a'-'A'))
		case isUnreserved(c) || strings.IndexByte("!$&'()*+,;=", c) >= 0:
			dst = append(dst, c)
		default:
			return dst, false
		}
	}
	return dst, true
}

// appendPort appends ":port" unless port is empty or the default; leading
// zeros go.
func appendPort(dst []byte, port, defaultPort string) ([]byte, bool) {
	if port == "" {
		return dst, true
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return dst, false
		}
	}
	port = strings.TrimLeft(port, "0")
	if port == "" || len(port) > 5 || len(port) == 5 && port > "65535" {
		return dst, false // port 0 or past 65535
	}
	if port == defaultPort {
		return dst, true
	}
	return append(append(dst, ':'), port...), true
}

// plain marks the bytes that a path or query keeps as they are: printable
// ASCII but '%' and '#'.
var plain = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = c != '%' && c != '#'
	}
	return t
}()

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func appendPercent(dst []byte, c byte) []byte {
	const hex = "0123456789ABCDEF"
	return append(dst, '%', hex[c>>4], hex[c&15])
}

// fieldLines returns the lines of the field name (given in canonical
// form) in h, and whether the field is there at all. A header built by
// hand may hold a name in another case: such a name is found too (an
// Authorization or a Vary'd field that went unseen would be a wrong hit),
// at the price of a scan of h when the canonical name is not there. When
// several spellings are there, the canonical one wins.
func fieldLines(h http.Header, name string) ([]string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	for k, v := range h {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// appendFieldValue appends the normalized combination of a field's lines,
// as RFC 9111 §4.1 allows for comparing the fields a Vary names: the
// lines joined into one list, the whitespace around each member removed,
// empty members dropped; quoted strings are kept as they are. Members
// themselves are compared exactly (case matters: whether it does is the
// field's business, and a difference only costs a miss).
func appendFieldValue(dst []byte, lines []string) []byte {
	first := true
	for _, s := range lines {
		for s != "" {
			j := skipToComma(s, 0)
			m := strings.Trim(s[:j], " \t")
			if j < len(s) {
				j++
			}
			s = s[j:]
			if m == "" {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, m...)
		}
	}
	return dst
}

// parseVary returns the field names a response's Vary lists, in canonical
// form and without repetition, and whether it lists "*".
func parseVary(lines []string) (names []string, star bool) {
	for _, s := range lines {
		for _, name := range strings.Split(s, ",") {
			name = strings.Trim(name, " \t")
			switch {
			case name == "":
			case name == "*":
				star = true
			default:
				name = http.CanonicalHeaderKey(name)
				if !contains(names, name) {
					names = append(names, name)
				}
			}
		}
	}
	return names, star
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
