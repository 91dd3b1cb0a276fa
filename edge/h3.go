package edge

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wedgeworks/wedge/api"
)

// h3Server serves HTTP/3 on one UDP socket.
type h3Server struct {
	conn *net.UDPConn
	port int
	srv  *http3.Server
	log  *slog.Logger
	// active counts the requests in a handler; started counts every
	// request that entered one. Shutdown closes the connections once no
	// request is active and none started for a moment.
	active, started atomic.Int64
}

// quicSettle is how long the shutdown waits, once no request is in
// flight, for requests whose stream QUIC accepted before the GOAWAY but
// whose head had not arrived yet.
const quicSettle = 100 * time.Millisecond

func newH3Server(conn *net.UDPConn, h http.Handler, certs *Certs, log *slog.Logger) *h3Server {
	s := &h3Server{conn: conn, log: log}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		s.port = a.Port
	}
	s.srv = &http3.Server{
		Handler: s.count(earlyData(h)),
		// http3 adds h3 to ALPN, requires TLS 1.3 (as QUIC does) and keeps
		// its SETTINGS in session tickets, to refuse 0-RTT should they change.
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: certs.GetCertificate},
		QUICConfig: &quic.Config{
			HandshakeIdleTimeout: readHeaderTimeout / 2, // doubled for the whole handshake
			MaxIdleTimeout:       30 * time.Second,
			MaxIncomingStreams:   maxStreams,
			// Control and QPACK streams: three are used, a few more are tolerated.
			MaxIncomingUniStreams: 16,
			Allow0RTT:             true,
		},
		MaxHeaderBytes: maxHeaderBytes,
		IdleTimeout:    idleTimeout,
		Logger:         log,
	}
	return s
}

func (s *h3Server) serve() error {
	rcv, snd := setUDPBuffers(s.conn, udpBufferSize)
	if rcv < udpBufferSize || snd < udpBufferSize {
		// One line, with the fix: quic-go's own warning is silenced (cmd/wedge).
		s.log.Warn("HTTP/3: the kernel capped the UDP socket buffers below what QUIC wants, which drops packets at high rates; raise the caps: sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000",
			"receive_kib", rcv>>10, "send_kib", snd>>10, "want_kib", udpBufferSize>>10)
	}
	return s.srv.Serve(s.conn)
}

// shutdown stops accepting QUIC connections, sends GOAWAY on each, waits
// until the requests in flight are done (or ctx is), then closes the
// connections with H3_NO_ERROR and the socket.
func (s *h3Server) shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Shutdown(ctx) }()
	// http3 waits for the clients to close their connections after the
	// GOAWAY, which they need not do: close them once the requests are done.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var quiet time.Time
	seen := s.started.Load()
wait:
	for {
		select {
		case err := <-done:
			s.conn.Close()
			return err
		case <-ctx.Done():
			break wait
		case now := <-tick.C:
			if n := s.started.Load(); s.active.Load() > 0 || n != seen {
				seen, quiet = n, time.Time{}
				continue
			}
			if quiet.IsZero() {
				quiet = now
			} else if now.Sub(quiet) >= quicSettle {
				break wait
			}
		}
	}
	s.srv.Close()
	err := <-done
	s.conn.Close()
	return err
}

func (s *h3Server) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.started.Add(1)
		s.active.Add(1)
		defer s.active.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// earlyDataWait bounds the wait for the end of a 0-RTT GET or HEAD whose
// length the client did not declare: a request withholding it is
// answered 425.
const earlyDataWait = 2 * time.Second

// earlyData keeps replayable requests away from workers. A request that
// arrived in QUIC 0-RTT data (before the handshake completed: r.TLS says
// so) can be replayed by anyone who captured it. Such a request reaches h
// only if it is a GET or HEAD without a body, with an Early-Data: 1 field
// (RFC 8470) so that a worker whose GET has effects can answer 425 itself;
// any other is answered 425 Too Early, which tells the client to send it
// again once the handshake is done.
func earlyData(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.HandshakeComplete {
			h.ServeHTTP(w, r)
			return
		}
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.ContentLength > 0 || r.ContentLength < 0 && !emptyBody(w, r) {
			tooEarly(w)
			return
		}
		r.Header.Set("Early-Data", "1")
		h.ServeHTTP(w, r)
	})
}

// emptyBody reports whether a request of unknown length has no body: for
// a GET it normally ends with its head, so the read returns at once.
func emptyBody(w http.ResponseWriter, r *http.Request) bool {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(earlyDataWait)) != nil {
		return false
	}
	var one [1]byte
	n, err := r.Body.Read(one[:])
	rc.SetReadDeadline(time.Time{})
	if n == 0 && err == io.EOF {
		r.Body = http.NoBody
		r.ContentLength = 0
		return true
	}
	return false
}

func tooEarly(w http.ResponseWriter) {
	h := w.Header()
	h.Set(api.HeaderError, string(api.CodeTooEarly))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(api.CodeTooEarly.Status())
	io.WriteString(w, "wedge: "+string(api.CodeTooEarly)+": only GET and HEAD without a body may be sent in 0-RTT data; send it again after the handshake\n")
}
