package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/wedgeworks/wedge/store"
	"github.com/wedgeworks/wedge/store/jetstream"
)

// secretKeyEnv names the environment variable that holds the operator's
// key for secrets kept in NATS: 32 random bytes, as 64 hex digits or in
// base64 (standard or URL alphabet, padded or not), the same on every node.
// `openssl rand -hex 32` makes one. The embedded store does not use it.
const secretKeyEnv = "WEDGE_SECRET_KEY"

// storeOpenTimeout bounds connecting to NATS and preparing its buckets.
const storeOpenTimeout = 30 * time.Second

// openStore opens the store --store names: the embedded bbolt file in
// dataDir when storeURL is empty, NATS JetStream for nats:// or tls:// URLs
// (several, comma-separated, for the servers of one cluster). secretKey
// (see secretKeyFromEnv) is required for NATS and ignored for bbolt.
func openStore(dataDir, storeURL string, secretKey []byte, log *slog.Logger) (store.Store, error) {
	if storeURL == "" {
		return store.Open(filepath.Join(dataDir, "wedge.db"))
	}
	for _, u := range strings.Split(storeURL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Host == "" || (p.Scheme != "nats" && p.Scheme != "tls") {
			return nil, fmt.Errorf("--store %q: want nats://HOST:PORT (or tls://…, several separated by commas), or nothing for the embedded store", redactURL(storeURL))
		}
	}
	if secretKey == nil {
		return nil, fmt.Errorf("--store %s: set %s to the key that encrypts workers' secrets in NATS, the same on every node: 32 random bytes, hex or base64 (e.g. openssl rand -hex 32)", redactURL(storeURL), secretKeyEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeOpenTimeout)
	defer cancel()
	s, err := jetstream.Open(ctx, jetstream.Config{URL: storeURL, SecretKey: secretKey, Logger: log})
	if errors.Is(err, jetstream.ErrWrongSecretKey) {
		return nil, fmt.Errorf("%s: %w (check %s on this node)", redactURL(storeURL), err, secretKeyEnv)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// secretKeyFromEnv reads the secret key from secretKeyEnv: nil when it is
// unset or empty, an error when it is set but not 32 bytes in hex or
// base64.
func secretKeyFromEnv(getenv func(string) string) ([]byte, error) {
	s := strings.TrimSpace(getenv(secretKeyEnv))
	if s == "" {
		return nil, nil
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%s: want 32 bytes as 64 hex digits or in base64 (e.g. openssl rand -hex 32)", secretKeyEnv)
}

// redactURL hides passwords and tokens in (comma-separated) NATS URLs.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.User != nil {
			p.User = url.User("***")
			parts[i] = p.String()
		}
	}
	return strings.Join(parts, ",")
}
