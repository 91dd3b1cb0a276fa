package edge_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/scheduler"
)

// listeners is an edge.Serve on loopback with every listener, serving a
// handler that echoes what it sees of the request.
type listeners struct {
	plain, secure string // TCP addresses; QUIC is on secure's port too
	pool          *x509.CertPool
	logs          *syncBuffer
	done          chan error
	cancel        context.CancelFunc
}

func startServe(t *testing.T, h http.Handler) *listeners {
	t.Helper()
	certs, err := edge.SelfSignedCerts("wedge.localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sni, early := "-", r.Header.Get("Early-Data")
			if r.TLS != nil {
				sni = r.TLS.ServerName
			}
			fmt.Fprintf(w, "%s %s sni=%s early=%s\n", r.Proto, r.Host, sni, early)
		})
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: secure.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	l := &listeners{plain: plain.Addr().String(), secure: secure.Addr().String(), pool: x509.NewCertPool(), logs: &syncBuffer{}, done: make(chan error, 1)}
	l.pool.AddCert(certs.Leaf())
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		l.done <- edge.Serve(ctx, edge.ServeConfig{
			Handler: h, HTTP: plain, HTTPS: secure, QUIC: udp, Certs: certs, Drain: 5 * time.Second,
			Logger: slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return within 10 s of its context's end")
		}
	})
	return l
}

func (l *listeners) tlsConfig(alpn ...string) *tls.Config {
	return &tls.Config{RootCAs: l.pool, ServerName: "localhost", NextProtos: alpn}
}

// client returns a client of one protocol: "h1" (plain), "h2c", "h1s"
// (HTTP/1.1 over TLS), "h2" or "h3", and the URL base to use with it.
func (l *listeners) client(t *testing.T, proto string) (*http.Client, string) {
	t.Helper()
	var p http.Protocols
	tr := &http.Transport{TLSClientConfig: l.tlsConfig(), Protocols: &p}
	base := "https://localhost:" + port(l.secure)
	switch proto {
	case "h1":
		p.SetHTTP1(true)
		base = "http://" + l.plain
	case "h2c":
		p.SetUnencryptedHTTP2(true)
		base = "http://" + l.plain
	case "h1s":
		p.SetHTTP1(true)
	case "h2":
		p.SetHTTP2(true)
	case "h3":
		h3 := &http3.Transport{TLSClientConfig: l.tlsConfig()}
		t.Cleanup(func() { h3.Close() })
		return &http.Client{Transport: h3, Timeout: 10 * time.Second}, base
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		// "localhost" is the certificate's name; the listener is 127.0.0.1.
		return (&net.Dialer{}).DialContext(ctx, network, strings.Replace(addr, "localhost", "127.0.0.1", 1))
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, base
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestServeProtocols(t *testing.T) {
	l := startServe(t, nil)
	altSvc := `h3=":` + port(l.secure) + `"; ma=86400`
	for _, c := range []struct{ client, proto, sni, altSvc string }{
		{"h1", "HTTP/1.1", "-", ""},
		{"h2c", "HTTP/2.0", "-", ""},
		{"h1s", "HTTP/1.1", "localhost", altSvc},
		{"h2", "HTTP/2.0", "localhost", altSvc},
		{"h3", "HTTP/3.0", "localhost", ""},
	} {
		t.Run(c.client, func(t *testing.T) {
			client, base := l.client(t, c.client)
			req, _ := http.NewRequest("GET", base+"/x", nil)
			req.Host = "w.t.wedge.localhost"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := c.proto + " w.t.wedge.localhost sni=" + c.sni + " early=\n"
			if string(body) != want || resp.Proto != c.proto {
				t.Errorf("got %s %q, want %s %q", resp.Proto, body, c.proto, want)
			}
			if got := resp.Header.Get("Alt-Svc"); got != c.altSvc {
				t.Errorf("Alt-Svc %q, want %q", got, c.altSvc)
			}
		})
	}

	t.Run("TLS 1.1 refused", func(t *testing.T) {
		cfg := l.tlsConfig()
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		if c, err := tls.Dial("tcp", l.secure, cfg); err == nil {
			c.Close()
			t.Error("a TLS 1.1 handshake succeeded")
		}
	})
	t.Run("ALPN", func(t *testing.T) {
		for _, alpn := range []string{"h2", "http/1.1"} {
			c, err := tls.Dial("tcp", l.secure, l.tlsConfig(alpn))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ConnectionState().NegotiatedProtocol; got != alpn {
				t.Errorf("ALPN %s negotiated %q", alpn, got)
			}
			c.Close()
		}
	})
	t.Run("HTTP/2 stream limit", func(t *testing.T) {
		c, err := tls.Dial("tcp", l.secure, l.tlsConfig("h2"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := maxConcurrentStreams(t, c); got != 100 {
			t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 100", got)
		}
		plain, err := net.Dial("tcp", l.plain)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		if got := maxConcurrentStreams(t, plain); got != 100 {
			t.Errorf("h2c: SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 100", got)
		}
	})
}

// maxConcurrentStreams sends the HTTP/2 preface on c and returns the
// server's SETTINGS_MAX_CONCURRENT_STREAMS (0 if absent).
func maxConcurrentStreams(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// The preface, then an empty SETTINGS frame.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var head [9]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		t.Fatal(err)
	}
	n := int(head[0])<<16 | int(head[1])<<8 | int(head[2])
	if head[3] != 0x4 {
		t.Fatalf("first frame of type %d, want SETTINGS", head[3])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	for ; len(payload) >= 6; payload = payload[6:] {
		if binary.BigEndian.Uint16(payload) == 0x3 {
			return binary.BigEndian.Uint32(payload[2:])
		}
	}
	return 0
}

// TestServeShutdown: once Serve's context ends, requests in flight on
// HTTP/1.1, HTTP/2 and HTTP/3 finish, new connections are refused, and
// the HTTP/3 connection is closed with H3_NO_ERROR.
func TestServeShutdown(t *testing.T) {
	arrived := make(chan string, 8)
	release := make(chan struct{})
	l := startServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Proto
		<-release
		fmt.Fprintf(w, "done %s\n", r.Proto)
	}))
	var quicConn *quic.Conn
	h3 := &http3.Transport{
		TLSClientConfig: l.tlsConfig(),
		Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
			c, err := quic.DialAddrEarly(ctx, addr, tlsCfg, cfg)
			quicConn = c
			return c, err
		},
	}
	defer h3.Close()
	clients := map[string]*http.Client{"h3": {Transport: h3}}
	bases := map[string]string{"h3": "https://localhost:" + port(l.secure)}
	for _, p := range []string{"h1s", "h2"} {
		clients[p], bases[p] = l.client(t, p)
	}
	type result struct {
		proto, body string
		err         error
	}
	results := make(chan result, len(clients))
	for p, c := range clients {
		go func() {
			resp, err := c.Get(bases[p] + "/slow")
			if err != nil {
				results <- result{p, "", err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{p, string(b), err}
		}()
	}
	for range clients {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the requests did not arrive")
		}
	}
	// A QUIC connection that does nothing with the GOAWAY (the quic-go
	// client closes its own once its requests are done; not every client
	// does): the server closes it.
	idle, err := quic.DialAddr(context.Background(), l.secure, l.tlsConfig(http3.NextProtoH3), nil)
	if err != nil {
		t.Fatal(err)
	}
	l.cancel()
	time.Sleep(200 * time.Millisecond) // the listeners close
	if c, err := net.DialTimeout("tcp", l.secure, time.Second); err == nil {
		c.Close()
		t.Error("a new TCP connection was accepted after shutdown began")
	}
	if c, err := net.DialTimeout("tcp", l.plain, time.Second); err == nil {
		c.Close()
		t.Error("a new plain TCP connection was accepted after shutdown began")
	}
	dctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if c, err := quic.DialAddr(dctx, l.secure, l.tlsConfig(http3.NextProtoH3), &quic.Config{HandshakeIdleTimeout: time.Second}); err == nil {
		c.CloseWithError(0, "")
		t.Error("a new QUIC connection was accepted after shutdown began")
	}
	cancel()
	select {
	case err := <-l.done:
		t.Fatalf("Serve returned %v with requests in flight", err)
	default:
	}
	close(release)
	for range clients {
		r := <-results
		if r.err != nil || !strings.HasPrefix(r.body, "done HTTP/") {
			t.Errorf("%s: %q, %v", r.proto, r.body, r.err)
		}
	}
	select {
	case err := <-l.done:
		l.done <- err // for the cleanup
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return once the requests were done")
	}
	for name, c := range map[string]*quic.Conn{"the client's": quicConn, "an idle": idle} {
		<-c.Context().Done()
		var appErr *quic.ApplicationError
		if err := context.Cause(c.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != quic.ApplicationErrorCode(http3.ErrCodeNoError) {
			t.Errorf("%s HTTP/3 connection ended with %v, want H3_NO_ERROR", name, err)
		} else if c == idle && !appErr.Remote {
			t.Errorf("the idle connection was closed by the client, not the server")
		}
	}
}

// TestEarlyData: a GET in QUIC 0-RTT data reaches the handler with
// Early-Data: 1; one with a body gets 425 Too Early.
func TestEarlyData(t *testing.T) {
	l := startServe(t, nil)
	// A relay that holds the server's datagrams for 300 ms, as a long
	// path would: the client sends its 0-RTT request at once, and the
	// server has it well before the handshake can complete. (It also keeps
	// the client from opening its stream while it handles the server's
	// transport parameters: quic-go/quic-go#4303, a race in the client.)
	relay := delayRelay(t, l.secure, 300*time.Millisecond)
	cache := tls.NewLRUClientSessionCache(4)
	dial := func(conn **quic.Conn, via string) *http3.Transport {
		cfg := l.tlsConfig()
		cfg.ClientSessionCache = cache
		return &http3.Transport{
			TLSClientConfig: cfg,
			Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				c, err := quic.DialAddrEarly(ctx, via, tlsCfg, qc)
				*conn = c
				return c, err
			},
		}
	}
	get := func(tr *http3.Transport, method string, body io.Reader, length int64) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://localhost:"+port(l.secure)+"/", body)
		req.ContentLength = length
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	// A first connection, direct, gets a session ticket.
	var first *quic.Conn
	tr := dial(&first, l.secure)
	if code, body := get(tr, "GET", nil, 0); code != 200 || !strings.Contains(body, "early=\n") {
		t.Fatalf("first request: %d %q", code, body)
	}
	time.Sleep(100 * time.Millisecond) // the ticket arrives after the handshake
	tr.Close()

	for _, c := range []struct {
		name   string
		body   io.Reader
		length int64
		code   int
		want   string
	}{
		{"GET", nil, 0, 200, "HTTP/3.0 localhost:" + port(l.secure) + " sni=localhost early=1\n"},
		{"GET with a body", strings.NewReader("x"), 1, 425, "too-early"},
		{"GET with a body of unknown length", strings.NewReader("x"), -1, 425, "too-early"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var conn *quic.Conn
			tr := dial(&conn, relay)
			defer tr.Close()
			code, body := get(tr, http3.MethodGet0RTT, c.body, c.length)
			if !conn.ConnectionState().Used0RTT {
				t.Fatal("the connection did not use 0-RTT")
			}
			if code != c.code || !strings.Contains(body, c.want) {
				t.Errorf("got %d %q, want %d %q", code, body, c.code, c.want)
			}
		})
	}
}

// delayRelay relays UDP datagrams between clients and target; target's
// wait for delay.
func delayRelay(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	taddr, _ := net.ResolveUDPAddr("udp", target)
	var mu sync.Mutex
	backs := map[string]*net.UDPConn{} // per client address
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p := append([]byte(nil), buf[:n]...)
			mu.Lock()
			back, ok := backs[from.String()]
			if !ok {
				back, err = net.DialUDP("udp", nil, taddr)
				if err != nil {
					mu.Unlock()
					continue
				}
				backs[from.String()] = back
				t.Cleanup(func() { back.Close() })
				go func() {
					b := make([]byte, 2048)
					for {
						n, err := back.Read(b)
						if err != nil {
							return
						}
						p := append([]byte(nil), b[:n]...)
						time.AfterFunc(delay, func() { front.WriteToUDP(p, from) })
					}
				}()
			}
			mu.Unlock()
			back.Write(p)
		}
	}()
	return front.LocalAddr().String()
}

func TestCertsReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(zone string) string {
		t.Helper()
		c, err := edge.SelfSignedCerts(zone, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := c.GetCertificate(nil)
		writePEM(t, certFile, keyFile, cert)
		return c.Fingerprint()
	}
	a := write("a.example")
	certs, err := edge.LoadCerts(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if certs.Fingerprint() != a {
		t.Fatal("LoadCerts: not the certificate in the files")
	}
	b := write("b.example")
	if certs.Fingerprint() != a {
		t.Fatal("the certificate changed before Reload")
	}
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, _ := certs.GetCertificate(nil); edge.Fingerprint(got.Leaf) != b || certs.Fingerprint() != b {
		t.Fatal("Reload did not swap in the new certificate")
	}
	// A key that does not match: the reload fails and b stays.
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	if err := certs.Reload(); err == nil {
		t.Error("Reload accepted a broken key")
	}
	if certs.Fingerprint() != b {
		t.Error("a failed Reload changed the certificate")
	}
	if _, err := edge.LoadCerts(certFile, keyFile); err == nil {
		t.Error("LoadCerts accepted a broken key")
	}
}

func TestSelfSignedCerts(t *testing.T) {
	data := t.TempDir()
	c, err := edge.SelfSignedCerts("Example.TEST.", data)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf()
	if got := strings.Join(leaf.DNSNames, " "); got != "*.example.test example.test localhost" {
		t.Errorf("DNS names %q", got)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses %v", leaf.IPAddresses)
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", leaf.PublicKeyAlgorithm)
	}
	for _, name := range []string{"w.example.test", "example.test", "localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	fi, err := os.Stat(filepath.Join(data, "tls", "self-signed.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept certificate: %v %v", fi, err)
	}
	// The next start reuses it; another zone replaces it.
	again, err := edge.SelfSignedCerts("example.test", data)
	if err != nil || again.Fingerprint() != c.Fingerprint() {
		t.Errorf("restart: %v, fingerprint %s, want %s", err, again.Fingerprint(), c.Fingerprint())
	}
	other, err := edge.SelfSignedCerts("other.test", data)
	if err != nil || other.Fingerprint() == c.Fingerprint() || other.Leaf().VerifyHostname("w.other.test") != nil {
		t.Errorf("another zone: %v, same certificate: %v", err, other.Fingerprint() == c.Fingerprint())
	}
	if f := c.Fingerprint(); len(f) != 95 || strings.Count(f, ":") != 31 {
		t.Errorf("fingerprint %q: want 32 colon-separated hex bytes", f)
	}
}

// TestDevelopmentCA: the development certificates chain to a kept,
// name-constrained CA, and a worker's name under the zone (W.T.zone, which
// *.zone does not cover) gets a certificate of its own that verifies.
func TestDevelopmentCA(t *testing.T) {
	data := t.TempDir()
	c, err := edge.SelfSignedCerts("wedge.test", data)
	if err != nil {
		t.Fatal(err)
	}
	if c.CAFile() != filepath.Join(data, "tls", "ca.pem") {
		t.Fatalf("CAFile %q", c.CAFile())
	}
	if fi, err := os.Stat(filepath.Join(data, "tls", "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the CA's key: %v %v", fi, err)
	}
	caPEM, err := os.ReadFile(c.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	verify := func(c *edge.Certs, serverName, name string) error {
		cert, err := c.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName})
		if err != nil {
			return err
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return err
		}
		_, err = leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots})
		return err
	}
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"wedge.test", true},
		{"acme.wedge.test", true},
		{"hello.acme.wedge.test", true},
		{"HELLO.Acme.wedge.test.", true},
		{"a.b.acme.wedge.test", true},
		{"localhost", true},
		{"127.0.0.1", true},
		{"example.com", false},            // not the zone's: the default, which does not cover it
		{"hello.acme.example.com", false}, // likewise
		{"bad_label.acme.wedge.test", false},
	} {
		if err := verify(c, tt.name, strings.ToLower(strings.TrimSuffix(tt.name, "."))); (err == nil) != tt.ok {
			t.Errorf("%s: verified %v, want %v (%v)", tt.name, err == nil, tt.ok, err)
		}
	}
	// One certificate per tenant, reused.
	a, _ := c.GetCertificate(&tls.ClientHelloInfo{ServerName: "one.acme.wedge.test"})
	b, _ := c.GetCertificate(&tls.ClientHelloInfo{ServerName: "two.acme.wedge.test"})
	if a != b || a.Leaf.DNSNames[0] != "*.acme.wedge.test" {
		t.Errorf("two workers of one tenant: %v and %v", a.Leaf.DNSNames, b.Leaf.DNSNames)
	}
	// The CA cannot vouch for names outside the zone, whatever it signs.
	block, _ := pem.Decode(caPEM)
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !caCert.PermittedDNSDomainsCritical || strings.Join(caCert.PermittedDNSDomains, " ") != "wedge.test localhost" || !caCert.IsCA {
		t.Errorf("CA constraints: %v critical %v", caCert.PermittedDNSDomains, caCert.PermittedDNSDomainsCritical)
	}
	// A restart keeps the CA: clients that trust it go on trusting.
	again, err := edge.SelfSignedCerts("wedge.test", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(again, "w.t.wedge.test", "w.t.wedge.test"); err != nil || again.Fingerprint() != c.Fingerprint() {
		t.Errorf("after a restart: %v; default certificate kept: %v", err, again.Fingerprint() == c.Fingerprint())
	}
}

// writePEM writes cert's chain and key to PEM files, each replaced at once.
func writePEM(t *testing.T, certFile, keyFile string, cert *tls.Certificate) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	for file, b := range map[string][]byte{certFile: chain, keyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})} {
		if err := os.WriteFile(file+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSRequestsPooled: requests over TLS (whose heads carry :tls-sni and
// :tls-version) are served by pooled instances, reset to the image, as
// plain ones are: the first TLS request must not grow the guest's memory
// (the SDK's warm-up goes through the TLS fields too).
func TestTLSRequestsPooled(t *testing.T) {
	if raceDetector {
		t.Skip("compiling examples/hello under the race detector takes most of a minute; cmd/wedge's TestHTTPS checks the same with the real binary")
	}
	ctx := context.Background()
	rt := hostRuntime(t)
	mod, err := rt.Compile(ctx, testwasm.Build(t, "examples/hello"))
	if err != nil {
		t.Fatal(err)
	}
	s := scheduler.New(scheduler.Config{})
	e := edge.New(edge.Config{}, s)
	w, err := s.NewWorker(ctx, "t1", "hello", 1, mod, api.DefaultLimits, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	e.SetWorkers(nil, w)
	srv := httptest.NewTLSServer(e)
	t.Cleanup(srv.Close)
	const n = 20
	for i := range n {
		resp, body := do(t, srv, "GET", "hello.t1.wedge.localhost", "/x", nil)
		if resp.StatusCode != 200 || body != "Hello from /x\n" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond) // the instance is reset after the response
	}
	if created, reused := w.Stats(); created > 3 || reused < n-3 {
		t.Errorf("%d requests over TLS: %d instances created, %d reused; want nearly all reused", n, created, reused)
	}
}
