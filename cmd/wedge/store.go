package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/scheduler"
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
//
// nodeID names this node among those sharing a NATS store; the store keeps
// a local copy under dataDir/nats-cache, which the node serves from while
// NATS is unreachable.
func openStore(dataDir, storeURL string, secretKey []byte, nodeID string, log *slog.Logger) (store.Store, error) {
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
	s, err := jetstream.Open(ctx, jetstream.Config{
		URL: storeURL, SecretKey: secretKey, Logger: log,
		Node: nodeID, CacheDir: filepath.Join(dataDir, "nats-cache"),
	})
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

// nodeIDFile, in the data directory, keeps the node's name between starts.
const nodeIDFile = "node-id"

// resolveNodeID returns the node's name: flag (--node-id) if set, else the
// one kept in dataDir, made on the first start from the host name and four
// random hex digits, so that nodes sharing a host differ and a node keeps
// its name across restarts.
func resolveNodeID(dataDir, flag string) (string, error) {
	if flag != "" {
		if !validNodeID(flag) {
			return "", fmt.Errorf("--node-id %q: use 1-64 letters, digits, '.', '-' and '_'", flag)
		}
		return flag, nil
	}
	path := filepath.Join(dataDir, nodeIDFile)
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); validNodeID(id) {
			return id, nil
		}
		return "", fmt.Errorf("%s holds no valid node name: remove it, or give --node-id", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("node name: %w", err)
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return r
		}
		return -1
	}, host)
	if host == "" {
		host = "wedge"
	}
	var b [2]byte
	rand.Read(b[:])
	id := fmt.Sprintf("%.59s-%x", host, b)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node name: %w", err)
	}
	return id, nil
}

func validNodeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c == '.' || c == '-' || c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// nodeReport tells the API which version of each worker the nodes serve:
// this node's own from the routing table, the others' from the NATS
// store's nodes bucket, to which it reports this node's.
type nodeReport struct {
	id      string
	js      *jetstream.Store // nil: the embedded store, one node
	serving atomic.Pointer[map[workerKey]int]
}

func newNodeReport(id string, st store.Store) *nodeReport {
	if id == "" {
		id = "local" // wedge dev
	}
	n := &nodeReport{id: id}
	n.js, _ = st.(*jetstream.Store)
	return n
}

// synced records what the edge now serves (called by the reconciler after
// each reload; current must only be read).
func (n *nodeReport) synced(current map[workerKey]*scheduler.Worker) {
	m := make(map[workerKey]int, len(current))
	var report map[jetstream.WorkerID]int
	if n.js != nil {
		report = make(map[jetstream.WorkerID]int, len(current))
	}
	for k, w := range current {
		m[k] = w.Version
		if report != nil {
			report[jetstream.WorkerID{Tenant: k.tenant, Worker: k.name}] = w.Version
		}
	}
	n.serving.Store(&m)
	if n.js != nil {
		n.js.SetServing(report)
	}
}

// nodes implements control.Config.Nodes.
func (n *nodeReport) nodes(ctx context.Context, tenant, worker string) ([]api.NodeStatus, bool) {
	if n.js != nil {
		nodes, err := n.js.Nodes(ctx)
		if err == nil {
			out := make([]api.NodeStatus, 0, len(nodes))
			for _, nd := range nodes {
				out = append(out, api.NodeStatus{Node: nd.ID, Version: nd.Serving[jetstream.WorkerID{Tenant: tenant, Worker: worker}], Seen: nd.Seen.UTC()})
			}
			return out, false
		}
	}
	v := 0
	if m := n.serving.Load(); m != nil {
		v = (*m)[workerKey{tenant, worker}]
	}
	return []api.NodeStatus{{Node: n.id, Version: v, Seen: time.Now().UTC()}}, n.js != nil
}

// writable implements control.Config.Writable.
func (n *nodeReport) writable() error {
	if n.js == nil {
		return nil
	}
	return n.js.Writable()
}
