package hostapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EgressConfig configures the workers' outbound requests. The zero value
// is valid: workers reach globally routable addresses only.
type EgressConfig struct {
	// Allow lists address ranges that workers may reach although they are
	// not globally routable: loopback, private (RFC 1918, CGNAT, ULA),
	// link-local, documentation and other special-purpose ranges. An
	// address in one of them is allowed whatever its kind. Empty means
	// none (the operator's --egress-allow; see ParsePrefixes).
	Allow []netip.Prefix
}

// Egress is the host's way out for workers: one HTTP transport shared by
// every request of every tenant (pooled keep-alive connections, HTTP/2
// where the server offers it) and the policy that says which addresses a
// worker may reach.
//
// The policy is applied to the address of every connection attempt,
// after DNS resolution (net.Dialer's ControlContext, before any packet is
// sent), so a name that resolves to a private address (DNS rebinding) is
// refused like the address itself. Redirects are not followed by the
// host: a 3xx goes back to the guest, whose next request is checked again.
// There is no proxy (HTTP_PROXY and the like are ignored: a proxy would be
// the only address checked).
//
// An Egress is safe for concurrent use.
type Egress struct {
	allow     []netip.Prefix
	transport *http.Transport
}

// NewEgress returns an Egress for cfg.
func NewEgress(cfg EgressConfig) *Egress {
	e := &Egress{}
	for _, p := range cfg.Allow {
		if p.IsValid() {
			e.allow = append(e.allow, p.Masked())
		}
	}
	d := &net.Dialer{
		Timeout:        30 * time.Second, // and the request's own deadline
		KeepAlive:      30 * time.Second,
		ControlContext: e.control,
	}
	e.transport = &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 256 << 10,
		// The guest gets the bytes the origin sent: its own
		// Accept-Encoding goes out as it set it, and a compressed body is
		// not decompressed behind its back.
		DisableCompression: true,
	}
	return e
}

// defaultEgress serves requests whose Egress is nil.
var defaultEgress = sync.OnceValue(func() *Egress { return NewEgress(EgressConfig{}) })

// CloseIdleConnections closes the pooled connections that are not in use.
func (e *Egress) CloseIdleConnections() { e.transport.CloseIdleConnections() }

// ParsePrefixes parses a list of CIDR prefixes ("127.0.0.0/8,fd00::/8"),
// separated by commas or white space, as the --egress-allow flag gives
// it. A bare address stands for itself alone (a /32 or /128).
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("egress: %w", err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("egress: %q is neither a CIDR prefix nor an address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// egressError is a connection the policy refused.
type egressError struct {
	addr   string // as dialled
	reason string // "a loopback address"
}

func (e *egressError) Error() string {
	return "egress denied: " + e.addr + " is " + e.reason + ", which workers may not reach (not in the host's egress allowlist)"
}

// control checks every connection attempt's address, after resolution.
func (e *Egress) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &egressError{addr: address, reason: "not an IP address"} // fail closed
	}
	if reason := e.denied(ap.Addr()); reason != "" {
		return &egressError{addr: ap.Addr().WithZone("").Unmap().String(), reason: reason}
	}
	return nil
}

// denied says why a may not be reached, or "" if it may.
func (e *Egress) denied(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	reason := nonGlobal(a)
	if reason == "" {
		return ""
	}
	for _, p := range e.allow {
		if p.Contains(a) {
			return ""
		}
	}
	if v4, ok := embeddedIPv4(a); ok {
		for _, p := range e.allow {
			if p.Contains(v4) {
				return ""
			}
		}
	}
	return reason
}

// Special-purpose ranges (IANA's registries) that are not globally
// reachable and that netip.Addr's methods do not name.
var (
	special4 = []struct {
		p      netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), `in "this network" (0.0.0.0/8)`},
		{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
		{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
		{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
		{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay anycast address"},
		{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
		{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
		{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
		{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"}, // and the broadcast address
	}
	special6 = []struct {
		p      netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment"},
		{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
		{netip.MustParsePrefix("3fff::/20"), "a documentation address"},
	}
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// nonGlobal says why a (unmapped, without zone) is not a globally
// routable unicast address, or "" if it is.
func nonGlobal(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "not an IP address"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast():
		return "a multicast address"
	}
	if a.Is4() {
		for _, s := range special4 {
			if s.p.Contains(a) {
				return s.reason
			}
		}
		return ""
	}
	// IPv6: a translated IPv4 address is judged as that address.
	if v4, ok := embeddedIPv4(a); ok {
		if r := nonGlobal(v4); r != "" {
			return r + " (" + v4.String() + ", embedded in an IPv6 address)"
		}
		return ""
	}
	if !globalUnicast6.Contains(a) {
		return "not a global unicast address"
	}
	for _, s := range special6 {
		if s.p.Contains(a) {
			return s.reason
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address that a NAT64 (64:ff9b::/96) or
// 6to4 (2002::/16) address stands for.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
