package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNetfilterAPI drives the packet filter through the operator API on a
// host without --xdp: the same rules apply at the edge listener. Blocking
// the test's own address cuts the edge off (the API, on its own listener,
// keeps answering); unblocking restores it.
func TestNetfilterAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	s := startServer(t, t.TempDir())
	tenant := s.createTenant("acme")

	resp, body := s.apiDo("GET", "/v1/netfilter", adminToken, nil)
	var st struct {
		Mode     string
		Counters map[string]uint64
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Mode != "userspace" {
		t.Fatalf("GET /v1/netfilter: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.apiDo("GET", "/v1/netfilter", tenant, nil); resp.StatusCode != 403 {
		t.Errorf("a tenant token on /v1/netfilter: %d, want 403", resp.StatusCode)
	}

	edgeOK := func() bool {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + s.edge + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true // a 404 no-route is an answer: the connection got through
	}
	if !edgeOK() {
		t.Fatal("the edge does not answer before any rule")
	}

	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/netfilter/blocklist", `{"prefix":"not-a-prefix"}`, 400},
		{"POST", "/v1/netfilter/blocklist", `{"prefix":"10.0.0.0/8","ttl_seconds":-1}`, 400},
		{"DELETE", "/v1/netfilter/blocklist?prefix=192.0.2.0/24", "", 404},
		{"PUT", "/v1/netfilter/ports/sctp/80", `{"pps":10}`, 400},
		{"PUT", "/v1/netfilter/ports/tcp/0", `{"pps":10}`, 400},
		{"PUT", "/v1/netfilter/ports/udp/443", `{"pps":1000,"burst":100}`, 200},
		{"DELETE", "/v1/netfilter/ports/udp/443", "", 200},
		{"PUT", "/v1/netfilter/source-rate", `{"pps":100000}`, 200},
		{"PUT", "/v1/netfilter/source-rate", `{"pps":0}`, 200},
		{"POST", "/v1/netfilter/allowlist", `{"prefix":"2001:db8::/48","ttl_seconds":60}`, 200},
	} {
		resp, body := s.apiDo(tc.method, tc.path, adminToken, strings.NewReader(tc.body))
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, resp.StatusCode, body, tc.status)
		}
	}
	if _, body := s.apiDo("GET", "/v1/netfilter/allowlist", adminToken, nil); !strings.Contains(body, `"2001:db8::/48"`) || !strings.Contains(body, `"expires"`) {
		t.Errorf("allowlist: %s", body)
	}

	// Block 127.0.0.1 (the test's own address) and the edge goes silent.
	if resp, body := s.apiDo("POST", "/v1/netfilter/blocklist", adminToken, strings.NewReader(`{"prefix":"127.0.0.1"}`)); resp.StatusCode != 200 || !strings.Contains(body, `"127.0.0.1/32"`) {
		t.Fatalf("block: %d %s", resp.StatusCode, body)
	}
	if edgeOK() {
		t.Fatal("the edge still answers a blocked source")
	}
	_, body = s.apiDo("GET", "/v1/netfilter", adminToken, nil)
	json.Unmarshal([]byte(body), &st)
	if st.Counters["drop-blocklist"] == 0 {
		t.Errorf("counters after a blocked connection: %s", body)
	}
	if _, metrics := s.apiDo("GET", "/metrics", "", nil); !strings.Contains(metrics, `wedge_netfilter_packets_total{verdict="drop-blocklist"}`) {
		t.Error("/metrics has no wedge_netfilter_packets_total for drop-blocklist")
	}
	if resp, body := s.apiDo("DELETE", "/v1/netfilter/blocklist?prefix=127.0.0.1/32", adminToken, nil); resp.StatusCode != 204 {
		t.Fatalf("unblock: %d %s", resp.StatusCode, body)
	}
	if !edgeOK() {
		t.Fatal("the edge does not answer after the block was removed")
	}
}

// TestEscalation: a client that keeps being answered rate-limited at L7 is
// pushed into the packet filter's blocklist, for a TTL, and logged.
func TestEscalation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	s := startServer(t, t.TempDir(), "--source-rps", "0.1", "--source-burst", "1", "--escalate-after", "2", "--escalate-ttl", "1m")
	c := &http.Client{Timeout: 2 * time.Second}
	var statuses []int
	for range 3 {
		resp, err := c.Get("http://" + s.edge + "/")
		if err != nil {
			statuses = append(statuses, 0)
			continue
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 404 || statuses[1] != 429 || statuses[2] != 429 {
		t.Fatalf("statuses %v, want 404 (no route, admitted), 429, 429", statuses)
	}
	_, body := s.apiDo("GET", "/v1/netfilter/blocklist", adminToken, nil)
	if !strings.Contains(body, `"127.0.0.1/32"`) || !strings.Contains(body, `"expires"`) {
		t.Fatalf("blocklist after the escalation: %s", body)
	}
	if _, err := c.Get("http://" + s.edge + "/"); err == nil {
		t.Error("the escalated address still reaches the edge")
	}
	if !strings.Contains(s.stderr.String(), "127.0.0.1") {
		t.Error("the escalation was not logged")
	}
}
