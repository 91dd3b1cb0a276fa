package edge

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Certs is the edge's TLS certificate, read by every handshake (HTTPS and
// HTTP/3) through GetCertificate and replaced atomically by Reload: a
// reload reaches new connections at once and leaves established ones as
// they are. A Certs is safe for concurrent use.
type Certs struct {
	certFile, keyFile string // empty for a self-signed certificate
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCerts reads a certificate chain and its private key from PEM files
// (the leaf first, then the intermediates). Reload reads them again.
func LoadCerts(certFile, keyFile string) (*Certs, error) {
	c := &Certs{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the certificate files again and, if they hold a valid
// pair, serves them from the next handshake on. On error the certificate
// in use stays. A self-signed Certs has nothing to reload.
func (c *Certs) Reload() error {
	if c.certFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&cert)
	return nil
}

// Files returns the certificate and key files; empty for a self-signed
// certificate.
func (c *Certs) Files() (cert, key string) { return c.certFile, c.keyFile }

// GetCertificate returns the current certificate, whatever the client
// asked for (tls.Config.GetCertificate).
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// Leaf returns the current certificate's leaf.
func (c *Certs) Leaf() *x509.Certificate { return c.cur.Load().Leaf }

// Fingerprint returns the SHA-256 of the current leaf certificate (its DER
// bytes), as colon-separated upper-case hex: what browsers and
// `openssl x509 -fingerprint -sha256` show.
func (c *Certs) Fingerprint() string {
	return Fingerprint(c.cur.Load().Leaf)
}

// Fingerprint returns the SHA-256 of cert's DER bytes in the form Certs.Fingerprint uses.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// selfSignedFile is where SelfSignedCerts keeps its certificate, under the
// data directory.
const selfSignedFile = "tls/self-signed.pem"

// SelfSignedCerts returns a self-signed ECDSA P-256 certificate for
// development, valid for *.zone, zone, localhost, 127.0.0.1 and ::1. It is
// kept (certificate and key, mode 0600) in dataDir/tls/self-signed.pem and
// reused while it covers these names and has more than 30 days to run, so
// that its fingerprint stays the same across restarts; an empty dataDir
// keeps it in memory only.
//
// A wildcard covers one label: worker W of tenant T answers at W.T.zone,
// which *.zone does not match, so clients must skip verification or pin the
// fingerprint (development only; use LoadCerts for real certificates).
func SelfSignedCerts(zone, dataDir string) (*Certs, error) {
	zone = strings.ToLower(strings.TrimSuffix(zone, "."))
	if zone == "" {
		zone = DefaultZone
	}
	names := []string{"*." + zone, zone, "localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	path := ""
	if dataDir != "" {
		path = filepath.Join(dataDir, selfSignedFile)
		if cert, err := loadSelfSigned(path, names, ips); err == nil {
			c := &Certs{}
			c.cur.Store(cert)
			return c, nil
		}
	}
	certPEM, keyPEM, err := newSelfSigned(names, ips, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("keep the self-signed certificate: %w", err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, append(certPEM, keyPEM...), 0o600); err != nil {
			return nil, fmt.Errorf("keep the self-signed certificate: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("keep the self-signed certificate: %w", err)
		}
	}
	c := &Certs{}
	c.cur.Store(&cert)
	return c, nil
}

// loadSelfSigned returns the kept self-signed certificate if it still
// covers names and ips and has more than 30 days to run.
func loadSelfSigned(path string, names []string, ips []net.IP) (*tls.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, err
	}
	leaf := cert.Leaf
	if time.Until(leaf.NotAfter) < 30*24*time.Hour || !slices.Equal(leaf.DNSNames, names) || len(leaf.IPAddresses) != len(ips) {
		return nil, errors.New("stale")
	}
	for i, ip := range ips {
		if !leaf.IPAddresses[i].Equal(ip) {
			return nil, errors.New("stale")
		}
	}
	return &cert, nil
}

// newSelfSigned makes a self-signed ECDSA P-256 certificate for names and
// ips, valid for a year from now, and returns it and its key as PEM.
func newSelfSigned(names []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Wedge development"}, CommonName: names[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	var cb, kb bytes.Buffer
	pem.Encode(&cb, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&kb, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return cb.Bytes(), kb.Bytes(), nil
}

// tlsConfig is the TLS configuration of the HTTPS listener: TLS 1.2 and
// later with Go's default cipher suites and curves, the certificate from c.
func (c *Certs) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.GetCertificate,
	}
}
