package netfilter

import (
	"net"
	"net/http"
	"net/netip"
)

// Listener returns l wrapped so that, in userspace mode, each accepted
// connection is decided as the XDP program decides a packet (the TCP
// connection as its SYN: allowlist, blocklist, per-source bucket, port
// ceiling of the local port), and a connection that would be dropped is
// reset and not returned. In the XDP modes the kernel filters already, and
// Listener returns l itself.
//
// In userspace mode a rate is in connections per second, not packets.
func (f *Filter) Listener(l net.Listener) net.Listener {
	if f.model == nil {
		return l
	}
	return &listener{Listener: l, f: f}
}

type listener struct {
	net.Listener
	f *Filter
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.f.admit(c.RemoteAddr(), c.LocalAddr()) {
			return c, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a goodbye
		}
		_ = c.Close()
	}
}

// Middleware returns next wrapped so that, in userspace mode, each request
// is decided as the XDP program decides a packet (source: the request's
// RemoteAddr; port: the local address of its connection), and a request
// that would be dropped is aborted with panic(http.ErrAbortHandler): the
// server closes an HTTP/1 connection, resets an HTTP/2 or HTTP/3 stream,
// and sends no response. A recovering middleware outside this one must
// re-panic http.ErrAbortHandler. In the XDP modes Middleware returns next
// itself.
//
// Use Listener for TCP listeners and Middleware where there is no
// listener to wrap (HTTP/3); with both, a TCP request counts twice.
func (f *Filter) Middleware(next http.Handler) http.Handler {
	if f.model == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if remote, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && !f.admitAddr(remote.Addr(), local) {
			panic(http.ErrAbortHandler)
		}
		next.ServeHTTP(w, r)
	})
}

// admit decides a connection from remote to local; true to keep it.
func (f *Filter) admit(remote, local net.Addr) bool {
	var src netip.Addr
	switch a := remote.(type) {
	case *net.TCPAddr:
		src = a.AddrPort().Addr()
	case *net.UDPAddr:
		src = a.AddrPort().Addr()
	default:
		ap, err := netip.ParseAddrPort(remote.String())
		if err != nil {
			return true // not IP: nothing to decide on
		}
		src = ap.Addr()
	}
	return f.admitAddr(src, local)
}

func (f *Filter) admitAddr(src netip.Addr, local net.Addr) bool {
	if !src.IsValid() {
		return true
	}
	pk := packet{kind: frameIP, src: src.Unmap().WithZone("")}
	switch a := local.(type) {
	case *net.TCPAddr:
		pk.port = portIndex(TCP, uint16(a.Port))
	case *net.UDPAddr:
		pk.port = portIndex(UDP, uint16(a.Port))
	}
	return !f.model.decide(pk, monotonic()).Drop()
}
