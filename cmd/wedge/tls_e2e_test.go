package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/internal/testwasm"
)

// The tests in this file drive `wedge serve --https`: HTTP/1.1 and HTTP/2
// over TLS, HTTP/3 over QUIC, certificates and their reload, and the
// graceful shutdown of all three.

const tlsHost = "tls.acme.wedge.localhost"

// startHTTPS starts wedge serve with --https on a free port and deploys
// the TLS test guest as worker "tls" of tenant acme.
func startHTTPS(t *testing.T, data string, extra ...string) (*server, string) {
	t.Helper()
	addr := freeAddr(t)
	s := startServer(t, data, append([]string{"--https", addr}, extra...)...)
	if _, err := os.Stat(filepath.Join(data, "deployed-tls")); err == nil {
		return s, addr // a restart: already deployed
	}
	token := s.createTenant("acme")
	dir := project(t, testwasm.Build(t, "cmd/wedge/testdata/tlsguest"), "name = \"tls\"\nmain = \"worker.wasm\"\n")
	s.mustCLI(token, "acme", "deploy", dir)
	os.WriteFile(filepath.Join(data, "deployed-tls"), nil, 0o600)
	return s, addr
}

// fingerprint returns the fingerprint of the last "TLS certificate…"
// log line.
func (s *server) fingerprint() string {
	m := regexp.MustCompile(`msg="TLS certificate[^"]*".*? sha256=([0-9A-F:]{95})`).FindAllStringSubmatch(s.stderr.String(), -1)
	if len(m) == 0 {
		s.t.Fatalf("no certificate fingerprint in the log:\n%s", s.stderr)
	}
	return m[len(m)-1][1]
}

func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// tlsClient returns a client of proto ("h1", "h2" or "h3") that connects
// to addr whatever the URL says, with tlsCfg.
func tlsClient(t *testing.T, proto, addr string, tlsCfg *tls.Config) *http.Client {
	t.Helper()
	tlsCfg = tlsCfg.Clone() // the transports set NextProtos in theirs
	if proto == "h3" {
		tr := &http3.Transport{
			TLSClientConfig: tlsCfg,
			Dial: func(ctx context.Context, _ string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				return quic.DialAddrEarly(ctx, addr, tc, qc)
			},
		}
		t.Cleanup(func() { tr.Close() })
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}
	}
	var p http.Protocols
	if proto == "h2" {
		p.SetHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{
		TLSClientConfig: tlsCfg, Protocols: &p,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// pinned trusts exactly the certificate with this fingerprint, as a
// developer may pin --tls-self-signed's default certificate.
func pinned(fingerprint string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := fingerprintOf(cs.PeerCertificates[0].Raw); got != fingerprint {
				return fmt.Errorf("certificate %s, want %s", got, fingerprint)
			}
			return nil
		},
	}
}

func getBody(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestHTTPS: one worker over HTTP/1.1, HTTP/2 and HTTP/3 with the
// self-signed certificate: the same answer, the protocol and TLS state as
// the worker sees them, Alt-Svc, the fingerprint, and a restart that
// keeps the certificate.
func TestHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped in -short mode")
	}
	data := t.TempDir()
	s, addr := startHTTPS(t, data, "--tls-self-signed", "--server-timing")
	fp := s.fingerprint()
	kept, err := os.ReadFile(filepath.Join(data, "tls", "self-signed.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(kept); block == nil || fingerprintOf(block.Bytes) != fp {
		t.Fatalf("the logged fingerprint %s is not the kept certificate's", fp)
	}
	// Clients trust the development CA: it covers the worker's name.
	cfg := &tls.Config{RootCAs: devCA(t, data)}
	if !strings.Contains(s.stderr.String(), " ca="+filepath.Join(data, "tls", "ca.pem")) {
		t.Errorf("the log does not say which CA to trust:\n%s", s.stderr)
	}
	altSvc := `h3=":` + addr[strings.LastIndexByte(addr, ':')+1:] + `"; ma=86400`
	bodies := map[string]string{}
	for _, c := range []struct{ client, proto, altSvc string }{
		{"h1", "HTTP/1.1", altSvc},
		{"h2", "HTTP/2.0", altSvc},
		{"h3", "HTTP/3.0", ""},
	} {
		resp, body := getBody(t, tlsClient(t, c.client, addr, cfg), "https://"+tlsHost+"/x?y=1")
		want := c.proto + " https://" + tlsHost + "/x?y=1 tls=[sni=" + tlsHost + " version=TLS 1.3] early=\n"
		if resp.StatusCode != 200 || resp.Proto != c.proto || body != want {
			t.Errorf("%s: %d %s %q, want %q", c.client, resp.StatusCode, resp.Proto, body, want)
		}
		if got := resp.Header.Get("Alt-Svc"); got != c.altSvc {
			t.Errorf("%s: Alt-Svc %q, want %q", c.client, got, c.altSvc)
		}
		bodies[c.client] = strings.TrimPrefix(body, c.proto)
	}
	if bodies["h1"] != bodies["h2"] || bodies["h2"] != bodies["h3"] {
		t.Errorf("the answers differ beyond the protocol: %q", bodies)
	}

	t.Run("pooled instances", func(t *testing.T) {
		// A TLS request's head has more fields than a plain one's: the
		// first of them must not make the guest's heap grow, which would
		// keep its instance from being reset and reused.
		c := tlsClient(t, "h2", addr, cfg)
		fresh := 0
		for range 12 {
			resp, _ := getBody(t, c, "https://"+tlsHost+"/")
			var ms float64
			fmt.Sscanf(resp.Header.Get("Server-Timing"), "instantiate;dur=%g", &ms)
			if ms >= 0.05 {
				fresh++
			}
			time.Sleep(10 * time.Millisecond) // the instance is reset after the response
		}
		if fresh > 3 {
			t.Errorf("%d of 12 requests over TLS instantiated a new instance instead of a pooled one", fresh)
		}
	})
	if strings.Contains(s.stderr.String(), "UDP-Buffer-Sizes") {
		t.Errorf("quic-go's own buffer warning reached the log (Wedge logs its own):\n%s", s.stderr)
	}
	t.Run("no route over TLS", func(t *testing.T) {
		resp, _ := getBody(t, tlsClient(t, "h2", addr, cfg), "https://nope.acme.wedge.localhost/")
		if resp.StatusCode != 404 || resp.Header.Get("Wedge-Error") != "no-route" || resp.Header.Get("Alt-Svc") != altSvc {
			t.Errorf("%d, Wedge-Error %q, Alt-Svc %q", resp.StatusCode, resp.Header.Get("Wedge-Error"), resp.Header.Get("Alt-Svc"))
		}
	})
	t.Run("plain HTTP is unchanged", func(t *testing.T) {
		resp, body := s.get(tlsHost, "/x")
		if want := "HTTP/1.1 http://" + tlsHost + "/x tls=[none] early=\n"; body != want || resp.Header.Get("Alt-Svc") != "" {
			t.Errorf("%q, Alt-Svc %q; want %q and none", body, resp.Header.Get("Alt-Svc"), want)
		}
	})
	t.Run("verification against the names", func(t *testing.T) {
		for name, ok := range map[string]bool{"localhost": true, "wedge.localhost": true, "acme.wedge.localhost": true, tlsHost: true, "other.other.wedge.localhost": true, "example.com": false} {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: cfg.RootCAs, ServerName: name})
			if err == nil {
				c.Close()
			}
			if (err == nil) != ok {
				t.Errorf("%s: verified %v, want %v (%v)", name, err == nil, ok, err)
			}
		}
	})
	t.Run("SIGHUP", func(t *testing.T) {
		s.cmd.Process.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(s.stderr.String(), "SIGHUP: the self-signed certificate has nothing to reload") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if resp, _ := getBody(t, tlsClient(t, "h3", addr, cfg), "https://"+tlsHost+"/"); resp.StatusCode != 200 {
			t.Errorf("after SIGHUP: %d", resp.StatusCode)
		}
	})

	// A restart keeps the certificates: pinned and trusting clients keep working.
	s.stop()
	s2, addr2 := startHTTPS(t, data, "--tls-self-signed")
	if got := s2.fingerprint(); got != fp {
		t.Errorf("after a restart the fingerprint is %s, was %s", got, fp)
	}
	if resp, _ := getBody(t, tlsClient(t, "h2", addr2, cfg), "https://"+tlsHost+"/"); resp.StatusCode != 200 {
		t.Errorf("after a restart: %d", resp.StatusCode)
	}
	if resp, _ := getBody(t, tlsClient(t, "h1", addr2, pinned(fp)), "https://localhost/"); resp.StatusCode != 404 {
		t.Errorf("pinned, after a restart: %d", resp.StatusCode)
	}
}

// devCA returns a pool with the development CA of --tls-self-signed in data.
func devCA(t *testing.T, data string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("tls/ca.pem holds no certificate")
	}
	return pool
}

// servedFingerprint returns the fingerprint of the certificate a new TLS
// (proto "tcp") or QUIC ("udp") connection to addr gets.
func servedFingerprint(t *testing.T, proto, addr string) string {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: tlsHost}
	if proto == "udp" {
		cfg.NextProtos = []string{http3.NextProtoH3}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := quic.DialAddr(ctx, addr, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseWithError(0, "")
		return fingerprintOf(c.ConnectionState().TLS.PeerCertificates[0].Raw)
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return fingerprintOf(c.ConnectionState().PeerCertificates[0].Raw)
}

// certPair makes a certificate for *.acme.wedge.localhost and writes it
// to certFile and keyFile (each replaced at once); it returns the pool
// that trusts it and its fingerprint.
func certPair(t *testing.T, certFile, keyFile string) (*x509.CertPool, string) {
	t.Helper()
	c, err := edge.SelfSignedCerts("acme.wedge.localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := c.GetCertificate(nil)
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	for file, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
	} {
		if err := os.WriteFile(file+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf())
	return pool, c.Fingerprint()
}

// TestHTTPSCertReload: --tls-cert and --tls-key are served, verified
// against their names, and replaced without a restart when the files
// change and on SIGHUP; a broken pair keeps the previous certificate.
func TestHTTPSCertReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped in -short mode")
	}
	// The files are symlinks into another directory: writing there is
	// invisible to the watcher, so only SIGHUP reloads those changes.
	dir, hidden := t.TempDir(), t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool, a := certPair(t, filepath.Join(hidden, "cert.pem"), filepath.Join(hidden, "key.pem"))
	os.Symlink(filepath.Join(hidden, "cert.pem"), certFile)
	os.Symlink(filepath.Join(hidden, "key.pem"), keyFile)
	s, addr := startHTTPS(t, t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	if got := s.fingerprint(); got != a {
		t.Fatalf("logged fingerprint %s, want %s", got, a)
	}
	for _, proto := range []string{"h1", "h2", "h3"} {
		resp, _ := getBody(t, tlsClient(t, proto, addr, &tls.Config{RootCAs: pool}), "https://"+tlsHost+"/")
		if resp.StatusCode != 200 {
			t.Errorf("%s with the certificate verified: %d", proto, resp.StatusCode)
		}
	}
	waitServed := func(want, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			tcp, udp := servedFingerprint(t, "tcp", addr), servedFingerprint(t, "udp", addr)
			if tcp == want && udp == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: serving %s (TCP) and %s (QUIC), want %s\n%s", what, tcp, udp, want, s.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A renewal that replaces the files (here: the symlinks) in the
	// watched directory.
	b := filepath.Join(t.TempDir(), "b")
	os.Mkdir(b, 0o700)
	_, fb := certPair(t, filepath.Join(b, "cert.pem"), filepath.Join(b, "key.pem"))
	for _, f := range []string{"cert.pem", "key.pem"} {
		os.Symlink(filepath.Join(b, f), filepath.Join(dir, f+".new"))
		os.Rename(filepath.Join(dir, f+".new"), filepath.Join(dir, f))
	}
	waitServed(fb, "after the files changed")
	if !strings.Contains(s.stderr.String(), `msg="TLS certificate reloaded" trigger="file change" sha256=`+fb) {
		t.Errorf("no reload log line for the file change:\n%s", s.stderr)
	}

	// A change the watcher cannot see, then SIGHUP.
	_, fc := certPair(t, filepath.Join(b, "cert.pem"), filepath.Join(b, "key.pem"))
	time.Sleep(500 * time.Millisecond)
	if got := servedFingerprint(t, "tcp", addr); got != fb {
		t.Fatalf("the certificate changed without a reload: %s", got)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitServed(fc, "after SIGHUP")

	// A broken key: the reload fails, the certificate stays, the host lives.
	os.WriteFile(filepath.Join(b, "key.pem"), []byte("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String(), "TLS certificate reload failed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.stderr.String(), "TLS certificate reload failed") {
		t.Errorf("no warning for a broken key:\n%s", s.stderr)
	}
	if got := servedFingerprint(t, "tcp", addr); got != fc {
		t.Errorf("after a failed reload: serving %s, want %s", got, fc)
	}
}

// TestHTTPSDrain: SIGTERM while a slow request is in flight on each of
// HTTP/1.1, HTTP/2 and HTTP/3: they complete, new connections are
// refused meanwhile, HTTP/3 ends with H3_NO_ERROR, and the process exits 0.
func TestHTTPSDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped in -short mode")
	}
	arrived := make(chan struct{}, 8)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(time.Second)
		io.WriteString(w, "slow done\n")
	}))
	defer origin.Close()
	data := t.TempDir()
	s, addr := startHTTPS(t, data, "--tls-self-signed", "--egress-allow", "127.0.0.1")
	cfg := &tls.Config{RootCAs: devCA(t, data)}
	var h3conn *quic.Conn
	h3 := &http3.Transport{
		TLSClientConfig: cfg.Clone(),
		Dial: func(ctx context.Context, _ string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			c, err := quic.DialAddrEarly(ctx, addr, tc, qc)
			h3conn = c
			return c, err
		},
	}
	defer h3.Close()
	clients := map[string]*http.Client{"h1": tlsClient(t, "h1", addr, cfg), "h2": tlsClient(t, "h2", addr, cfg), "h3": {Transport: h3}}
	type result struct {
		proto, body string
		status      int
		err         error
	}
	results := make(chan result, len(clients))
	for proto, c := range clients {
		go func() {
			resp, err := c.Get("https://" + tlsHost + "/fetch?url=" + origin.URL + "/slow")
			if err != nil {
				results <- result{proto: proto, err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{proto, string(b), resp.StatusCode, err}
		}()
	}
	for range clients {
		select {
		case <-arrived:
		case <-time.After(20 * time.Second):
			t.Fatalf("the slow requests did not reach the origin\n%s", s.stderr)
		}
	}
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	for _, a := range []string{addr, s.edge} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s accepted a TCP connection after SIGTERM", a)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	if c, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}, nil); err == nil {
		c.CloseWithError(0, "")
		t.Error("a QUIC connection was accepted after SIGTERM")
	}
	cancel()
	for range clients {
		r := <-results
		if r.err != nil || r.status != 200 || r.body != "slow done\n" {
			t.Errorf("%s: %d %q %v", r.proto, r.status, r.body, r.err)
		}
	}
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d\n%s", code, s.stderr)
		}
		t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5 s after the drained requests\n%s", s.stderr)
	}
	<-h3conn.Context().Done()
	var appErr *quic.ApplicationError
	if err := context.Cause(h3conn.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != quic.ApplicationErrorCode(http3.ErrCodeNoError) {
		t.Errorf("the HTTP/3 connection ended with %v, want H3_NO_ERROR", err)
	}
}

// TestHTTPSFlags: --https needs a certificate, and the TLS flags need --https.
func TestHTTPSFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	for _, args := range [][]string{
		{"--https", "127.0.0.1:0"},
		{"--https", "127.0.0.1:0", "--tls-cert", "c.pem"},
		{"--https", "127.0.0.1:0", "--tls-self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
		{"--tls-self-signed"},
	} {
		cmd := exec.Command(wedgeBin(t), append([]string{"serve", "--data", t.TempDir()}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "error: ") {
			t.Errorf("wedge serve %v: %v\n%s", args, err, out)
		}
	}
}
