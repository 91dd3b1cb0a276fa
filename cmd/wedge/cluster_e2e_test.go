package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/internal/natstest"
	"github.com/wedgeworks/wedge/internal/testwasm"
)

// testSecretKey is WEDGE_SECRET_KEY for the nodes of a test cluster.
const testSecretKey = "4242424242424242424242424242424242424242424242424242424242424242"

// startNATS starts the cluster's NATS server, which syncs every write:
// the test stops it and expects it back with everything.
func startNATS(t testing.TB) *natstest.Server {
	return natstest.Start(t, "wedge-cluster-test", true)
}

// startNode starts `wedge serve` on the shared store as node id.
func startNode(t *testing.T, n *natstest.Server, data, id string) *server {
	t.Helper()
	return startServer(t, data, "--store", n.URL(), "--node-id", id)
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
	// Only node 1 compiled the Go module: nodes 2 and 3 imported what it
	// compiled and loaded it from their caches.
	for i, n := range nodes {
		_, metrics := n.apiDo("GET", "/metrics", "", nil)
		compiled := metricValue(t, metrics, "wedge_code_compiled_total")
		imported := metricValue(t, metrics, "wedge_code_imported_total")
		loads := metricValue(t, metrics, "wedge_code_cache_loads_total")
		if (i == 0 && compiled != 1) || (i > 0 && (compiled != 0 || imported != 1 || loads != 1)) {
			t.Errorf("node %d: compiled %v, imported %v, loaded from the cache %v; want node 1 alone to compile\n%s", i+1, compiled, imported, loads, n.stderr)
		}
		for _, line := range strings.Split(n.stderr.String(), "\n") {
			if strings.Contains(line, `msg="worker loaded"`) {
				t.Logf("node %d: %s", i+1, line[strings.Index(line, "msg="):])
			}
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
	nats.Stop()
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
	nats.Start()
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

// metricValue returns the value of an unlabelled metric in a /metrics page.
func metricValue(t *testing.T, page, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("metric %s: %q: %v", name, v, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in /metrics", name)
	return 0
}

// BenchmarkPropagation measures, with five `wedge serve` processes on one
// NATS server, the time from a deploy API's answer (through each node in
// turn) until every node's edge serves the new version, over b.N deploys:
// p50, p99 and the worst, in milliseconds. The node that took the deploy
// serves it before it answers, so this is the other four nodes' lag.
//
//   - go-settings: the Go hello worker, each deploy changing only a var:
//     the module is the same, so no node compiles again.
//   - c-module: the C hello worker, each deploy a new module (another
//     greeting in its data): every node fetches it and compiles it.
//   - go-module: the Go hello worker, each deploy a new module (a custom
//     section more): the node that takes it compiles it (seconds), the
//     others import the compiled code it shares and load it.
//
// It also reports, from the nodes' logs, where the nodes that did not take
// the deploy spent the time.
//
// scripts/bench-propagation.sh runs it.
func BenchmarkPropagation(b *testing.B) {
	b.Setenv(secretKeyEnv, testSecretKey)
	goHello := testwasm.Build(b, "examples/hello")
	cHello, err := os.ReadFile(filepath.Join(testwasm.Root(b), "examples", "c-hello", "hello.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	if bytes.Count(cHello, []byte("Hello from ")) != 1 {
		b.Fatal("examples/c-hello/hello.wasm does not hold \"Hello from \" exactly once")
	}
	for _, mode := range []struct {
		name string
		// deploy returns the i-th deploy's module, settings and the body
		// the edge then answers at /.
		deploy func(i int) (module []byte, vars map[string]string, body string)
	}{
		{"go-settings", func(i int) ([]byte, map[string]string, string) {
			g := fmt.Sprintf("G%06d", i)
			return goHello, map[string]string{"GREETING": g}, g + " from /\n"
		}},
		{"c-module", func(i int) ([]byte, map[string]string, string) {
			g := fmt.Sprintf("%05d", i%100000)
			return bytes.Replace(cHello, []byte("Hello from "), []byte(g+" from "), 1), nil, g + " from /\n"
		}},
		{"go-module", func(i int) ([]byte, map[string]string, string) {
			g := fmt.Sprintf("M%06d", i)
			return withCustomSection(goHello, "wedge-bench", []byte(g)), map[string]string{"GREETING": g}, g + " from /\n"
		}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			benchPropagation(b, 5, mode.deploy)
		})
	}
}

// pollEvery is how often benchPropagation asks each node's edge whether it
// serves the new version.
const pollEvery = 2 * time.Millisecond

func benchPropagation(b *testing.B, size int, deploy func(int) ([]byte, map[string]string, string)) {
	nats := startNATS(b)
	nodes := make([]*benchNode, size)
	for i := range nodes {
		nodes[i] = startBenchNode(b, "--data", b.TempDir(), "--store", nats.URL(), "--node-id", fmt.Sprintf("bench-%d", i+1))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	do := func(method, url, contentType string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	if code, body := do("POST", "http://"+nodes[0].api+"/v1/tenants", "application/json", []byte(`{"name":"bench"}`)); code != 201 {
		b.Fatalf("create tenant: %d %s", code, body)
	}
	const host = "w.bench.wedge.localhost"
	served := func(n *benchNode, want string, deadline time.Time) (time.Duration, bool) {
		start := time.Now()
		for time.Now().Before(deadline) {
			req, _ := http.NewRequest("GET", "http://"+n.edge+"/", nil)
			req.Host = host
			if resp, err := client.Do(req); err == nil {
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) == want {
					return time.Since(start), true
				}
			}
			// Every poll is a request the node's worker serves: polled
			// faster, five nodes on two cores spend much of their CPU on
			// the measurement (the lag is known to within this).
			time.Sleep(pollEvery)
		}
		return 0, false
	}
	var answer, lag, total []time.Duration
	round := func(i int) {
		module, vars, want := deploy(i)
		body, ct := benchUpload(b, module, vars)
		via := nodes[(i+len(nodes))%len(nodes)]
		start := time.Now()
		if code, out := do("PUT", "http://"+via.api+"/v1/tenants/bench/workers/w", ct, body); code != 201 {
			b.Fatalf("deploy %d: %d %s", i, code, out)
		}
		answered := time.Now()
		answer = append(answer, answered.Sub(start))
		var wg sync.WaitGroup
		lags := make([]time.Duration, len(nodes))
		for k, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, ok := served(n, want, answered.Add(60*time.Second))
				if !ok {
					b.Errorf("deploy %d: node %d does not serve it after 60s", i, k+1)
				}
				lags[k] = d
			}()
		}
		wg.Wait()
		lag = append(lag, slices.Max(lags))
		total = append(total, answered.Sub(start)+slices.Max(lags))
	}
	round(-1) // the first deploy creates the worker: not measured
	answer, lag, total = nil, nil, nil
	logFrom := make([]int, len(nodes))
	for k, n := range nodes {
		logFrom[k] = len(n.stderr.String())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round(i)
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lag, 0.50), "p50-ms")
	b.ReportMetric(pct(lag, 0.99), "p99-ms")
	b.ReportMetric(pct(lag, 1), "max-ms")
	b.ReportMetric(pct(answer, 0.50), "deploy-p50-ms")
	// Where the time goes: the nodes log each worker they load.
	steps := map[string][]time.Duration{}
	warnings := 0
	for k, n := range nodes {
		for _, line := range strings.Split(n.stderr.String()[logFrom[k]:], "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				warnings++
				if warnings <= 3 {
					b.Logf("node %d: %s", k+1, line)
				}
			}
			if !strings.Contains(line, `msg="worker loaded"`) {
				continue
			}
			if strings.Contains(line, "fetch_code=0s") {
				continue // the node that took the deploy: compiled by its API
			}
			fields := map[string]time.Duration{}
			for _, f := range strings.Fields(line) {
				if key, val, ok := strings.Cut(f, "="); ok {
					if d, err := time.ParseDuration(val); err == nil {
						fields[key] = d
					}
				}
			}
			for key, d := range fields {
				steps[key] = append(steps[key], d)
			}
		}
	}
	var where []string
	for _, key := range []string{"read_module", "fetch_code", "compile", "init"} {
		if ds := steps[key]; len(ds) > 0 {
			where = append(where, fmt.Sprintf("%s p50 %.1f ms p99 %.1f ms", key, pct(ds, 0.5), pct(ds, 0.99)))
		}
	}
	if len(where) > 0 {
		b.Logf("on the %d loads by nodes that did not take the deploy: %s; %d warnings or errors logged", len(steps["compile"]), strings.Join(where, ", "), warnings)
	}
	b.Logf("%d deploys to %d nodes: propagation after the API's answer p50 %.1f ms, p99 %.1f ms, max %.1f ms; the deploy call itself p50 %.1f ms, p99 %.1f ms; from the call to every node p50 %.1f ms, p99 %.1f ms",
		len(lag), len(nodes), pct(lag, 0.5), pct(lag, 0.99), pct(lag, 1), pct(answer, 0.5), pct(answer, 0.99), pct(total, 0.5), pct(total, 0.99))
}

// benchUpload is a worker upload: module and vars as multipart/form-data.
func benchUpload(tb testing.TB, module []byte, vars map[string]string) ([]byte, string) {
	meta, _ := json.Marshal(api.WorkerSettings{Vars: vars})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range []struct {
		name string
		data []byte
	}{{"metadata", meta}, {"module", module}} {
		w, err := mw.CreateFormField(p.name)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// withCustomSection appends a custom section to a module: another module
// (another SHA-256, compiled anew) that behaves the same.
func withCustomSection(module []byte, name string, payload []byte) []byte {
	content := binary.AppendUvarint(nil, uint64(len(name)))
	content = append(content, name...)
	content = append(content, payload...)
	out := append(slices.Clone(module), 0)
	out = binary.AppendUvarint(out, uint64(len(content)))
	return append(out, content...)
}

// benchNode is a `wedge serve` started by a benchmark.
type benchNode struct {
	cmd       *exec.Cmd
	edge, api string
	stderr    *lockedBuffer
}

// startBenchNode starts `wedge serve` with args and waits until it is
// ready; it is stopped when the benchmark ends.
func startBenchNode(b *testing.B, args ...string) *benchNode {
	b.Helper()
	n := &benchNode{edge: freeAddrTB(b), api: freeAddrTB(b), stderr: &lockedBuffer{}}
	n.cmd = exec.Command(benchBin(b), append([]string{"serve", "--http", n.edge, "--admin", n.api}, args...)...)
	n.cmd.Env = append(os.Environ(), "WEDGE_ADMIN_TOKEN="+adminToken)
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { n.cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			n.cmd.Process.Kill()
		}
	})
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(n.stderr.String(), "msg=ready"); time.Sleep(10 * time.Millisecond) {
		select {
		case <-exited:
			b.Fatalf("wedge serve exited:\n%s", n.stderr)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("wedge serve not ready after 60s:\n%s", n.stderr)
		}
	}
	return n
}

var (
	benchBinOnce sync.Once
	benchBinPath string
	benchBinErr  error
)

// benchBin builds the wedge binary once per run.
func benchBin(b *testing.B) string {
	benchBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wedge-bench-bin")
		if err != nil {
			benchBinErr = err
			return
		}
		benchBinPath = filepath.Join(dir, "wedge")
		if out, err := exec.Command("go", "build", "-o", benchBinPath, ".").CombinedOutput(); err != nil {
			benchBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBinErr != nil {
		b.Fatal(benchBinErr)
	}
	return benchBinPath
}

func freeAddrTB(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
