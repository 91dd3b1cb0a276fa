package hostapi

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
)

// DecodeResponseHead exports decodeResponseHead to the fuzz tests.
var DecodeResponseHead = decodeResponseHead

// DecodeOutbound decodes a request head from the guest: method, URL,
// header, Host, body length, or why it is refused.
func DecodeOutbound(b []byte) (method, rawURL string, header map[string][]string, host string, length int64, refused string) {
	o, msg := decodeOutbound(b)
	return o.method, o.rawURL, o.header, o.host, o.length, msg
}

// Denied says why e refuses a, or "".
func (e *Egress) Denied(a netip.Addr) string { return e.denied(a) }

// TrustRoots makes e trust the certificates in pool (test servers'); call
// it before e's first request.
func (e *Egress) TrustRoots(pool *x509.CertPool) {
	e.transport.TLSClientConfig = &tls.Config{RootCAs: pool}
}

// SetMaxShared changes the largest response cache_fetch shares, until
// the returned function is called.
func SetMaxShared(n int64) (restore func()) {
	old := maxShared
	maxShared = n
	return func() { maxShared = old }
}
