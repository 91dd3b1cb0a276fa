package hostapi

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// outbound is a request head that a guest sends out (fetch_send,
// cache_fetch) or asks the cache about (cache_match, cache_put,
// cache_delete).
type outbound struct {
	method string
	rawURL string
	url    *url.URL
	header http.Header
	host   string // the Host field, if the guest set one
	// length is the request body's length: 0 for none (the default), -1
	// for a body of unknown length, streamed.
	length int64
}

// hasBody reports whether the guest will write a request body.
func (o *outbound) hasBody() bool { return o.length != 0 }

// decodeOutbound decodes and checks a request head from the guest. The
// pseudo-fields are :method (default GET), :url (required: an absolute
// http or https URL) and :content-length (absent or 0: no body; -1: a
// body of unknown length; N: exactly N bytes); others are ignored. Header
// names must be tokens and values free of control characters; hop-by-hop
// fields and Content-Length are dropped (the host frames the body), Host
// overrides the URL's host in the request sent. The string says what is
// wrong with a head that is refused.
func decodeOutbound(b []byte) (outbound, string) {
	o := outbound{header: http.Header{}}
	var haveMethod, haveURL, haveLength bool
	for len(b) > 0 {
		name, rest, ok := cutField(b)
		if !ok {
			return outbound{}, "malformed head: a field's length runs past its end"
		}
		value, rest, ok := cutField(rest)
		if !ok {
			return outbound{}, "malformed head: a field's length runs past its end"
		}
		b = rest
		if len(name) > 0 && name[0] == ':' {
			switch string(name) {
			case ":method":
				if haveMethod {
					return outbound{}, "malformed head: :method given twice"
				}
				haveMethod = true
				if !validName(value) {
					return outbound{}, "invalid method " + strconv.Quote(string(value))
				}
				o.method = string(value)
			case ":url":
				if haveURL {
					return outbound{}, "malformed head: :url given twice"
				}
				haveURL = true
				o.rawURL = string(value)
			case ":content-length":
				if haveLength {
					return outbound{}, "malformed head: :content-length given twice"
				}
				haveLength = true
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < -1 {
					return outbound{}, "invalid :content-length " + strconv.Quote(string(value))
				}
				o.length = n
			}
			continue // unknown pseudo-field: ignored, for later versions
		}
		if !validName(name) {
			return outbound{}, "invalid header field name " + strconv.Quote(string(name))
		}
		if !validValue(value) {
			return outbound{}, "invalid value for header field " + string(name)
		}
		key := http.CanonicalHeaderKey(string(name))
		switch key {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer", "Content-Length":
			continue
		case "Host":
			o.host = string(value)
			continue
		}
		o.header[key] = append(o.header[key], string(value))
	}
	if !haveMethod {
		o.method = http.MethodGet
	}
	if o.method == http.MethodConnect {
		return outbound{}, "the CONNECT method is not supported"
	}
	if !haveURL {
		return outbound{}, "malformed head: no :url"
	}
	u, err := url.Parse(o.rawURL)
	if err != nil {
		return outbound{}, "invalid URL: " + err.Error()
	}
	if u.Scheme == "" {
		return outbound{}, "invalid URL " + strconv.Quote(o.rawURL) + ": want an absolute http or https URL"
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return outbound{}, "unsupported URL scheme " + strconv.Quote(u.Scheme) + ": only http and https may be fetched"
	}
	if u.Host == "" || u.Opaque != "" {
		return outbound{}, "invalid URL " + strconv.Quote(o.rawURL) + ": want an absolute http or https URL with a host"
	}
	u.Scheme = strings.ToLower(u.Scheme)
	o.url = u
	return o, ""
}

// request builds the *http.Request to send, without its body.
func (o *outbound) request(ctx context.Context) *http.Request {
	u := *o.url
	r := &http.Request{
		Method:     o.method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     o.header, // RoundTrip does not modify it
		Host:       o.host,
		Body:       http.NoBody,
	}
	if o.length > 0 {
		r.ContentLength = o.length
	}
	return r.WithContext(ctx)
}

// appendResponseHead encodes a response head for the guest: :status,
// :proto (if known), :content-length (-1 when unknown), Age when age >= 0
// (a response from the cache), then the header fields.
func appendResponseHead(b []byte, status int, proto string, length, age int64, h http.Header) []byte {
	b = appendPair(b, ":status", strconv.Itoa(status))
	if proto != "" {
		b = appendPair(b, ":proto", proto)
	}
	b = binary.LittleEndian.AppendUint32(b, 15)
	b = append(b, ":content-length"...)
	n := strconv.AppendInt(nil, length, 10)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(n)))
	b = append(b, n...)
	if age >= 0 {
		b = appendPair(b, "Age", strconv.FormatInt(age, 10))
	}
	for name, values := range h {
		if age >= 0 && name == "Age" {
			continue
		}
		for _, v := range values {
			b = appendPair(b, name, v)
		}
	}
	return b
}
