package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/store/jetstream"
)

// TestStoreUnavailable: with the shared store's server gone, every change
// is refused with 503 unavailable and a message that says why, while reads
// are answered from the node's local copy.
func TestStoreUnavailable(t *testing.T) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	defer srv.Shutdown()
	url := "nats://127.0.0.1:" + strconv.Itoa(srv.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := jetstream.Open(ctx, jetstream.Config{URL: url, SecretKey: bytes.Repeat([]byte{7}, 32), CacheDir: t.TempDir(), Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	e := newEnvStore(t, st, func(c *control.Config) {
		c.Writable = st.Writable
		c.Nodes = func(ctx context.Context, tenant, worker string) ([]api.NodeStatus, bool) {
			return []api.NodeStatus{{Node: "n1", Version: 1}}, st.Writable() != nil
		}
	})
	acme := e.createTenant("acme")
	module := testdata(t, "worker.wasm")
	e.deploy("acme", "hello", acme, module)

	srv.Shutdown()
	srv.WaitForShutdown()
	deadline := time.Now().Add(10 * time.Second)
	for st.Writable() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}

	for _, c := range []struct {
		method, path, contentType string
		body                      []byte
	}{
		{"PUT", "/v1/tenants/acme/workers/hello", "application/wasm", module},
		{"PUT", "/v1/tenants/acme/workers/other", "application/wasm", module},
		{"DELETE", "/v1/tenants/acme/workers/hello", "", nil},
		{"POST", "/v1/tenants/acme/workers/hello/rollback", "application/json", []byte(`{"version":1}`)},
		{"PUT", "/v1/tenants/acme/workers/hello/secrets/KEY", "", []byte("v")},
		{"PUT", "/v1/tenants/acme/kv/NS/k", "", []byte("v")},
		{"GET", "/v1/tenants/acme/kv/NS/k", "", nil},
		{"POST", "/v1/tenants", "application/json", []byte(`{"name":"beta"}`)},
	} {
		r := e.request(c.method, c.path, e.opToken, c.contentType, c.body)
		var body api.ErrorBody
		json.Unmarshal(r.body, &body)
		if r.status != http.StatusServiceUnavailable || body.Error.Code != api.CodeUnavailable || !strings.Contains(body.Error.Message, "unreachable") {
			t.Errorf("%s %s with the store away: %v; want 503 unavailable saying the store is unreachable", c.method, c.path, r)
		}
	}
	// Reads come from the node's copy; the tenant's own token works too.
	for _, token := range []string{e.opToken, acme} {
		r := e.request("GET", "/v1/tenants/acme/workers/hello", token, "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET worker with the store away: %v", r)
		}
		var w api.Worker
		decode(t, r, &w)
		if w.ActiveVersion != 1 || !w.NodesPartial || len(w.Nodes) != 1 {
			t.Errorf("GET worker with the store away = %+v", w)
		}
	}
	if r := e.request("GET", "/v1/tenants/acme/workers", acme, "", nil); r.status != http.StatusOK {
		t.Errorf("GET workers with the store away: %v", r)
	}
}
