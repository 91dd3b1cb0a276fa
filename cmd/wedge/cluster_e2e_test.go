package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/internal/testwasm"
)

// testSecretKey is WEDGE_SECRET_KEY for the nodes of a test cluster.
const testSecretKey = "4242424242424242424242424242424242424242424242424242424242424242"

// natsServer is an in-process NATS server with JetStream that can be
// stopped and started again on the same port and directory.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	srv  *natsserver.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{t: t, dir: t.TempDir(), port: natsserver.RANDOM_PORT}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "wedge-cluster-test", Host: "127.0.0.1", Port: n.port,
		JetStream: true, StoreDir: n.dir, SyncAlways: true, NoLog: true, NoSigs: true,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		n.t.Fatal("NATS server not ready")
	}
	n.srv = srv
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// startNode starts `wedge serve` on the shared store as node id.
func startNode(t *testing.T, n *natsServer, data, id string) *server {
	t.Helper()
	return startServer(t, data, "--store", n.url(), "--node-id", id)
}

// eventuallyServes waits until s's edge answers host with body.
func eventuallyServes(t *testing.T, s *server, host, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		req, _ := http.NewRequest("GET", "http://"+s.edge+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var b strings.Builder
			buf := make([]byte, 512)
			for {
				k, err := resp.Body.Read(buf)
				b.Write(buf[:k])
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			last = fmt.Sprintf("%d %q", resp.StatusCode, b.String())
			if resp.StatusCode == 200 && b.String() == want {
				return time.Since(start)
			}
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node at %s does not answer %q after %v; last answer %s\n%s", s.edge, want, within, last, s.stderr)
	return 0
}

// TestCluster is the acceptance test of issue 8: three `wedge serve`
// processes on one NATS JetStream server.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three real wedge processes and a NATS server; skipped in -short mode")
	}
	t.Setenv(secretKeyEnv, testSecretKey)
	hello := testwasm.Build(t, "examples/hello")
	begin := time.Now()
	nats := startNATS(t)
	data := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	ids := []string{"node-1", "node-2", "node-3"}
	nodes := make([]*server, 3)
	for i := range nodes {
		nodes[i] = startNode(t, nats, data[i], ids[i])
	}
	const host = "hello.acme.wedge.localhost"
	greet := func(g string) string {
		return "name = \"hello\"\nmain = \"worker.wasm\"\n[vars]\nGREETING = \"" + g + "\"\n"
	}
	acme := nodes[0].createTenant("acme")
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(begin).Seconds(), what) }
	step("three nodes up")

	// 1. Deployed through node 1, served by nodes 2 and 3; --wait says so.
	out := nodes[0].mustCLI(acme, "acme", "deploy", project(t, hello, greet("Hello")), "--wait", "--timeout", "45s")
	if !strings.Contains(out, "version 1") || !strings.Contains(out, "3 of 3 serve it") {
		t.Errorf("deploy --wait: %q", out)
	}
	for _, n := range nodes {
		eventuallyServes(t, n, host, "Hello from /\n", time.Second)
	}
	// Each node's API knows every node's version.
	for i, n := range nodes {
		resp, body := n.apiDo("GET", "/v1/tenants/acme/workers/hello", acme, nil)
		var w api.Worker
		if err := json.Unmarshal([]byte(body), &w); resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET worker on node %d: %d %s", i+1, resp.StatusCode, body)
		}
		got := map[string]int{}
		for _, ns := range w.Nodes {
			got[ns.Node] = ns.Version
		}
		if len(got) != 3 || got["node-1"] != 1 || got["node-2"] != 1 || got["node-3"] != 1 || w.NodesPartial {
			t.Errorf("GET worker on node %d: nodes %v (partial %v)", i+1, got, w.NodesPartial)
		}
	}
	step("v1 deployed on node 1, served by all")

	// 2. Node 2 stops; v2 goes out; node 2 restarts and serves v2.
	nodes[1].stop()
	out = nodes[0].mustCLI(acme, "acme", "deploy", project(t, hello, greet("Howdy")), "--wait", "--timeout", "30s")
	if !strings.Contains(out, "version 2") || !strings.Contains(out, "2 of 2 serve it") {
		t.Errorf("deploy --wait with node 2 stopped: %q", out)
	}
	eventuallyServes(t, nodes[2], host, "Howdy from /\n", time.Second)
	nodes[1] = startNode(t, nats, data[1], ids[1])
	eventuallyServes(t, nodes[1], host, "Howdy from /\n", time.Second)
	step("node 2 restarted after missing v2, serves v2")

	// 3. NATS stops: every node keeps serving; changes are refused with a
	// clear error; a node restarted meanwhile serves from its copy.
	nats.stop()
	for _, n := range nodes {
		eventuallyServes(t, n, host, "Howdy from /\n", time.Second)
	}
	var errOut string
	var code int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// The nodes notice the lost connection at once (the server closed
		// it), but give them the time a reconnect attempt takes.
		if _, errOut, code = nodes[0].cli(acme, "acme", "deploy", project(t, hello, greet("Nope")), "--wait", "--timeout", "2s"); code != 0 {
			break
		}
	}
	if code != 1 || !strings.Contains(errOut, "unreachable") || !strings.Contains(errOut, "unavailable, HTTP 503") {
		t.Errorf("deploy with NATS stopped: exit %d, stderr %q; want 1 and 503 unavailable", code, errOut)
	}
	resp, body := nodes[2].apiDo("GET", "/v1/tenants/acme/workers/hello", acme, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"nodes_partial": true`) || !strings.Contains(body, `"active_version": 2`) {
		t.Errorf("GET worker with NATS stopped: %d %s", resp.StatusCode, body)
	}
	nodes[2].stop()
	nodes[2] = startNode(t, nats, data[2], ids[2])
	eventuallyServes(t, nodes[2], host, "Howdy from /\n", time.Second)
	for _, n := range nodes {
		eventuallyServes(t, n, host, "Howdy from /\n", time.Second)
	}
	step("NATS stopped: all serve v2, writes refused, node 3 restarted from its copy")

	// 4. NATS returns: the nodes rebind, and a deploy through node 2
	// reaches all three.
	nats.start()
	var outs string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		outs, errOut, code = nodes[1].cli(acme, "acme", "deploy", project(t, hello, greet("Hi")), "--wait", "--timeout", "20s")
		if code == 0 || time.Now().After(deadline) || !strings.Contains(errOut, "unavailable") {
			break
		}
	}
	if code != 0 || !strings.Contains(outs, "3 of 3 serve it") {
		t.Fatalf("deploy after NATS returned: exit %d\nstdout: %s\nstderr: %s\nnode 3's log:\n%s", code, outs, errOut, nodes[2].stderr)
	}
	for _, n := range nodes {
		eventuallyServes(t, n, host, "Hi from /\n", time.Second)
	}
	step("NATS back: v3 deployed on node 2, served by all")
}
