package edge

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServeConfig says where Serve serves a handler. Listeners left nil are
// not served; Serve closes those it is given.
type ServeConfig struct {
	// Handler answers requests: an Edge. Required.
	Handler http.Handler
	// HTTP, if not nil, serves plain HTTP/1.1 and h2c (HTTP/2 with prior
	// knowledge or Upgrade: h2c).
	HTTP net.Listener
	// HTTPS, if not nil, serves HTTP/1.1 and HTTP/2 over TLS (ALPN h2 and
	// http/1.1; TLS 1.2 and later with Go's default cipher suites).
	// Requires Certs.
	HTTPS net.Listener
	// QUIC, if not nil, serves HTTP/3 on this UDP socket, normally bound to
	// the port number of HTTPS, and responses on HTTPS advertise it with
	// Alt-Svc: h3=":PORT"; ma=86400. Requires Certs. Serve asks the kernel
	// for the socket buffers QUIC wants (7 MiB) and logs one warning when
	// it gets less (see net.core.rmem_max and wmem_max).
	QUIC *net.UDPConn
	// QUICHandler, if not nil, answers the HTTP/3 requests instead of
	// Handler: a QUIC socket has no listener to wrap, so per-connection
	// filtering must happen per request there.
	QUICHandler http.Handler
	// Certs is the certificate of HTTPS and QUIC, read at every handshake.
	Certs *Certs
	// Drain is how long Serve lets in-flight requests finish once ctx is
	// done; zero means 10 s. Past it, connections are closed.
	Drain time.Duration
	// Logger receives the servers' errors; nil means slog.Default().
	Logger *slog.Logger
}

// Limits of the edge listeners, for HTTP/1.1, HTTP/2 and HTTP/3 alike.
const (
	// readHeaderTimeout bounds the TLS handshake and, over TCP, the wait
	// for a request's head (slowloris; http3 has no such timeout). Bodies
	// are bounded by the worker's wall time instead: a timeout on the
	// whole request would cut slow uploads.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes a connection with no request in flight.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes caps a request's header section.
	maxHeaderBytes = 64 << 10
	// maxStreams is the most requests one HTTP/2 or HTTP/3 connection may
	// have in flight (SETTINGS_MAX_CONCURRENT_STREAMS, QUIC's
	// initial_max_streams_bidi).
	maxStreams = 100
	// altSvcMaxAge is how long a client may remember the HTTP/3 endpoint.
	altSvcMaxAge = 86400
)

// Serve serves cfg.Handler on the listeners of cfg until ctx is done, then
// shuts down gracefully: it stops accepting connections (TCP listeners
// are closed; new QUIC connections are refused), tells HTTP/2 and HTTP/3
// clients to go away (GOAWAY), lets in-flight requests finish for up to
// cfg.Drain, then closes what remains (HTTP/3 connections with
// H3_NO_ERROR). It returns nil after a shutdown, or the error of a
// listener that failed (having shut the others down).
func Serve(ctx context.Context, cfg ServeConfig) error {
	if cfg.Handler == nil {
		return errors.New("edge: Serve without a handler")
	}
	if (cfg.HTTPS != nil || cfg.QUIC != nil) && cfg.Certs == nil {
		return errors.New("edge: HTTPS and QUIC need certificates")
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	type server struct {
		name     string
		serve    func() error
		shutdown func(context.Context) error
	}
	var servers []server
	if cfg.HTTP != nil {
		srv := newHTTPServer(cfg.Handler, cfg.Logger, false)
		ln := cfg.HTTP
		servers = append(servers, server{"http", func() error { return srv.Serve(ln) }, shutdownHTTP(srv)})
	}
	var h3 *h3Server
	if cfg.QUIC != nil {
		h := cfg.QUICHandler
		if h == nil {
			h = cfg.Handler
		}
		h3 = newH3Server(cfg.QUIC, h, cfg.Certs, cfg.Logger)
		servers = append(servers, server{"quic", h3.serve, h3.shutdown})
	}
	if cfg.HTTPS != nil {
		h := cfg.Handler
		if h3 != nil {
			h = altSvc(h, `h3=":`+strconv.Itoa(h3.port)+`"; ma=`+strconv.Itoa(altSvcMaxAge))
		}
		srv := newHTTPServer(h, cfg.Logger, true)
		srv.TLSConfig = cfg.Certs.tlsConfig()
		ln := cfg.HTTPS
		servers = append(servers, server{"https", func() error { return srv.ServeTLS(ln, "", "") }, shutdownHTTP(srv)})
	}
	if len(servers) == 0 {
		return errors.New("edge: Serve without a listener")
	}

	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			err := s.serve()
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("%s listener: %w", s.name, err)
			}
			errc <- err
		}()
	}
	var failed error
	pending := len(servers)
	select {
	case <-ctx.Done():
	case failed = <-errc:
		pending--
	}
	// Shut every server down at once, within one deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Drain)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				cfg.Logger.Warn("edge shutdown", "listener", s.name, "err", err)
			}
		})
	}
	wg.Wait()
	for ; pending > 0; pending-- {
		if err := <-errc; failed == nil && ctx.Err() == nil {
			failed = err
		}
	}
	return failed
}

// newHTTPServer returns the server of a TCP edge listener: HTTP/1.1 and
// HTTP/2 over TLS, or HTTP/1.1 and h2c.
func newHTTPServer(h http.Handler, logger *slog.Logger, tls bool) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tls {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxStreams},
		ErrorLog:          log.New(serverLog{logger}, "", 0),
	}
}

// shutdownHTTP drains srv until ctx is done, then closes its connections.
func shutdownHTTP(srv *http.Server) func(context.Context) error {
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			srv.Close()
		}
		return err
	}
}

// altSvc adds an Alt-Svc field to every response of h.
func altSvc(h http.Handler, value string) http.Handler {
	v := []string{value}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Alt-Svc"] = v
		h.ServeHTTP(w, r)
	})
}

// serverLog turns an http.Server's error log into records of l: what a
// client did wrong (failed TLS handshakes from scanners or clients that
// distrust the certificate, HTTP/2 protocol errors) at debug level, so
// that a client cannot flood the log; the rest as warnings.
type serverLog struct{ l *slog.Logger }

// clientFaults are the prefixes of the messages about a client's faults.
var clientFaults = []string{
	"http: TLS handshake error",
	"http2: server connection error",
	"http2: server: error reading preface",
	"http2: received GOAWAY",
	"http2: timeout waiting for SETTINGS frames",
}

func (s serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	for _, prefix := range clientFaults {
		if strings.HasPrefix(msg, prefix) {
			level = slog.LevelDebug
			break
		}
	}
	s.l.Log(context.Background(), level, msg)
	return len(p), nil
}
