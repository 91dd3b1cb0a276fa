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
	"sync"
	"sync/atomic"
	"time"
)

// Certs is the edge's TLS certificate, read by every handshake (HTTPS and
// HTTP/3) through GetCertificate and replaced atomically by Reload: a
// reload reaches new connections at once and leaves established ones as
// they are. A Certs is safe for concurrent use.
type Certs struct {
	certFile, keyFile string // empty for the development certificates
	cur               atomic.Pointer[tls.Certificate]
	dev               *devCA // the development CA (SelfSignedCerts); nil otherwise
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

// GetCertificate returns the current certificate (tls.Config.GetCertificate),
// whatever the client asked for, except for the development certificates:
// there a name under the zone that the default does not cover gets one
// from the development CA.
func (c *Certs) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c.dev != nil && hello != nil && hello.ServerName != "" {
		if cert := c.dev.forName(hello.ServerName); cert != nil {
			return cert, nil
		}
	}
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

// Files of the development certificates, under the data directory: the
// CA (its certificate is what a developer trusts: curl --cacert), its key,
// and the default leaf with its key.
const (
	devCAFile      = "tls/ca.pem"
	devCAKeyFile   = "tls/ca-key.pem"
	selfSignedFile = "tls/self-signed.pem"
)

// maxDevLeaves bounds the per-tenant certificates a development CA keeps:
// beyond it, one is forgotten (and made again when asked for).
const maxDevLeaves = 1024

// SelfSignedCerts returns certificates for development from a local
// certificate authority, made on the first start and kept in dataDir:
// tls/ca.pem is the CA's certificate, the one file a developer trusts
// (curl --cacert, or the system's store); tls/ca-key.pem its key (0600).
// The CA is name-constrained to zone, localhost and the loopback
// addresses, so trusting it trusts nothing else.
//
// The default certificate covers *.zone, zone, localhost, 127.0.0.1 and
// ::1 and is kept in tls/self-signed.pem, so that its fingerprint stays
// the same across restarts. A wildcard covers one label, so a handshake
// for a deeper name under the zone — worker W of tenant T at W.T.zone —
// gets a certificate for *.T.zone, issued by the CA when first asked for
// and kept in memory. Every file is reused while it still fits the zone
// and has more than 30 days to run. An empty dataDir keeps everything in
// memory only. Development only: use LoadCerts for real certificates.
func SelfSignedCerts(zone, dataDir string) (*Certs, error) {
	zone = strings.ToLower(strings.TrimSuffix(zone, "."))
	if zone == "" {
		zone = DefaultZone
	}
	now := time.Now()
	ca, caFresh, err := loadOrMakeCA(zone, dataDir, now)
	if err != nil {
		return nil, err
	}
	names := []string{"*." + zone, zone, "localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	path := ""
	if dataDir != "" {
		path = filepath.Join(dataDir, selfSignedFile)
		if !caFresh {
			if cert, err := loadLeaf(path, ca, names, ips); err == nil {
				c := &Certs{dev: ca}
				c.cur.Store(cert)
				return c, nil
			}
		}
	}
	certPEM, keyPEM, err := ca.issue(names, ips, now)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := writeFileAtomic(path, append(certPEM, keyPEM...), 0o600); err != nil {
			return nil, fmt.Errorf("keep the development certificate: %w", err)
		}
	}
	c := &Certs{dev: ca}
	c.cur.Store(&cert)
	return c, nil
}

// CAFile returns the development CA's certificate file (for clients to
// trust), or "" for certificates that are not the development ones or are
// kept in memory only.
func (c *Certs) CAFile() string {
	if c.dev == nil {
		return ""
	}
	return c.dev.file
}

// devCA is the development certificate authority of SelfSignedCerts.
type devCA struct {
	zone string
	file string // its certificate's file; "" in memory only
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// leafKey is the key of every per-tenant certificate: issuing one is
	// then a signature, not a key generation.
	leafKey *ecdsa.PrivateKey

	mu     sync.Mutex
	leaves map[string]*tls.Certificate // by the name's parent: T.zone
}

// loadOrMakeCA returns the CA kept in dataDir if it is constrained to zone
// and has more than 30 days to run, or makes (and keeps) a new one; fresh
// reports the latter.
func loadOrMakeCA(zone, dataDir string, now time.Time) (ca *devCA, fresh bool, err error) {
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	ca = &devCA{zone: zone, leafKey: leafKey, leaves: map[string]*tls.Certificate{}}
	if dataDir != "" {
		ca.file = filepath.Join(dataDir, devCAFile)
		certPEM, err1 := os.ReadFile(ca.file)
		keyPEM, err2 := os.ReadFile(filepath.Join(dataDir, devCAKeyFile))
		if err1 == nil && err2 == nil {
			if pair, err := tls.X509KeyPair(certPEM, keyPEM); err == nil {
				k, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
				if ok && pair.Leaf.IsCA && slices.Equal(pair.Leaf.PermittedDNSDomains, caDomains(zone)) && pair.Leaf.NotAfter.Sub(now) > 30*24*time.Hour {
					ca.cert, ca.key = pair.Leaf, k
					return ca, false, nil
				}
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     pkix.Name{Organization: []string{"Wedge development"}, CommonName: "Wedge development CA for " + zone},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         caDomains(zone),
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, false, err
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return nil, false, err
	}
	ca.key = key
	if ca.file != "" {
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, err
		}
		// The key first: a certificate on disk always has its key.
		if err := writeFileAtomic(filepath.Join(dataDir, devCAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return nil, false, fmt.Errorf("keep the development CA: %w", err)
		}
		if err := writeFileAtomic(ca.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return nil, false, fmt.Errorf("keep the development CA: %w", err)
		}
	}
	return ca, true, nil
}

// caDomains are the DNS names a development CA for zone may certify.
func caDomains(zone string) []string {
	if zone == "localhost" {
		return []string{"localhost"}
	}
	return []string{zone, "localhost"}
}

// issue makes a certificate for names and ips signed by the CA, valid for
// a year (at most until the CA expires), with a new key, and returns it
// and its key as PEM.
func (ca *devCA) issue(names []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := ca.sign(names, ips, &key.PublicKey, now)
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

func (ca *devCA) sign(names []string, ips []net.IP, pub *ecdsa.PublicKey, now time.Time) ([]byte, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(365 * 24 * time.Hour)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Wedge development"}, CommonName: names[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}

// forName returns the certificate for a handshake's server name when the
// default one does not cover it: a name of two or more labels under the
// zone gets one for *.PARENT (worker.tenant.zone: *.tenant.zone). It
// returns nil for every other name, and on error.
func (ca *devCA) forName(name string) *tls.Certificate {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	rest, ok := strings.CutSuffix(name, "."+ca.zone)
	if !ok {
		return nil
	}
	_, parent, ok := strings.Cut(rest, ".")
	if !ok || !validDNSName(name) {
		return nil // zone itself, or one label under it: the default covers it
	}
	parent += "." + ca.zone
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[parent]; c != nil && time.Until(c.Leaf.NotAfter) > 24*time.Hour {
		return c
	}
	der, err := ca.sign([]string{"*." + parent}, nil, &ca.leafKey.PublicKey, time.Now())
	if err != nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	if len(ca.leaves) >= maxDevLeaves {
		for k := range ca.leaves {
			delete(ca.leaves, k)
			break
		}
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: ca.leafKey, Leaf: leaf}
	ca.leaves[parent] = c
	return c
}

// validDNSName reports whether name is a host name a certificate may
// carry: labels of letters, digits and hyphens (not at either end), at
// most 63 bytes each and 253 in all.
func validDNSName(name string) bool {
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// loadLeaf returns the kept default certificate if the CA signed it, it
// covers names and ips, and has more than 30 days to run.
func loadLeaf(path string, ca *devCA, names []string, ips []net.IP) (*tls.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, err
	}
	leaf := cert.Leaf
	if leaf.CheckSignatureFrom(ca.cert) != nil || time.Until(leaf.NotAfter) < 30*24*time.Hour || !slices.Equal(leaf.DNSNames, names) || len(leaf.IPAddresses) != len(ips) {
		return nil, errors.New("stale")
	}
	for i, ip := range ips {
		if !leaf.IPAddresses[i].Equal(ip) {
			return nil, errors.New("stale")
		}
	}
	return &cert, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// writeFileAtomic replaces path with b: written beside it, then renamed.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tlsConfig is the TLS configuration of the HTTPS listener: TLS 1.2 and
// later with Go's default cipher suites and curves, the certificate from c.
func (c *Certs) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.GetCertificate,
	}
}
