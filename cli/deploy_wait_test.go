package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wedgeworks/wedge/api"
)

// TestDeployWait: --wait polls GET of the worker until every node it lists
// serves the new version; nodes that do not by --timeout are named, with
// exit code ExitNotEverywhere.
func TestDeployWait(t *testing.T) {
	type poll func(n int) api.Worker // the answer to the n-th GET (from 0)
	nodes := func(vs ...int) []api.NodeStatus {
		out := make([]api.NodeStatus, len(vs))
		for i, v := range vs {
			out[i] = api.NodeStatus{Node: "node-" + string(rune('a'+i)), Version: v}
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		answer  poll
		json    bool
		code    int
		out     []string // in stdout
		errOut  []string // in stderr
		notErr  []string // not in stderr
		minGets int
	}{
		{
			name:   "everywhere at once",
			answer: func(int) api.Worker { return api.Worker{Nodes: nodes(2, 2, 2)} },
			code:   ExitOK, out: []string{"deployed hello version 2", "3 of 3 serve it"}, minGets: 1,
		},
		{
			name: "a laggard catches up",
			answer: func(n int) api.Worker {
				if n < 3 {
					return api.Worker{Nodes: nodes(2, 1, 2)}
				}
				return api.Worker{Nodes: nodes(2, 2, 2)}
			},
			code: ExitOK, out: []string{"3 of 3 serve it"}, minGets: 4,
		},
		{
			name:   "a newer version counts",
			answer: func(int) api.Worker { return api.Worker{Nodes: nodes(2, 3)} },
			code:   ExitOK, out: []string{"2 of 2 serve it"},
		},
		{
			name:   "laggards after the timeout",
			answer: func(int) api.Worker { return api.Worker{Nodes: nodes(2, 1, 0)} },
			code:   ExitNotEverywhere,
			errOut: []string{"version 2 is deployed and active, but not served everywhere", "node-b serves version 1", "node-c serves no version"},
			notErr: []string{"node-a"}, minGets: 2,
		},
		{
			name:   "laggards, with --json",
			answer: func(int) api.Worker { return api.Worker{Nodes: nodes(2, 1)} },
			json:   true,
			code:   ExitNotEverywhere,
			out:    []string{`"nodes"`, `"node-b"`},
			errOut: []string{"node-b serves version 1"},
		},
		{
			name:   "the API's node cut off from the store",
			answer: func(int) api.Worker { return api.Worker{Nodes: nodes(2), NodesPartial: true} },
			code:   ExitNotEverywhere,
			errOut: []string{"cannot reach the shared store"},
		},
		{
			name:   "an API without nodes",
			answer: func(int) api.Worker { return api.Worker{} },
			code:   ExitNotEverywhere,
			errOut: []string{"lists no nodes"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var gets atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.Method + " " + r.URL.Path {
				case "PUT /v1/tenants/acme/workers/hello":
					w.WriteHeader(http.StatusCreated)
					json.NewEncoder(w).Encode(api.DeployResult{Tenant: "acme", Name: "hello", Version: 2})
				case "GET /v1/tenants/acme/workers/hello":
					a := tt.answer(int(gets.Add(1) - 1))
					a.Tenant, a.Name, a.ActiveVersion = "acme", "hello", 2
					json.NewEncoder(w).Encode(a)
				default:
					w.WriteHeader(http.StatusNotFound)
				}
			}))
			defer srv.Close()
			env := Env{API: srv.URL, Token: "tok", Tenant: "acme"}
			wasm := filepath.Join(t.TempDir(), "w.wasm")
			os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
			args := []string{"deploy", wasm, "--name", "hello", "--wait", "--timeout", "400ms"}
			if tt.json {
				args = append(args, "--json")
			}
			code, out, errOut := run(t, env, args)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, w := range tt.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.errOut {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, w := range tt.notErr {
				if strings.Contains(errOut, w) {
					t.Errorf("stderr has %q:\n%s", w, errOut)
				}
			}
			if n := int(gets.Load()); n < tt.minGets {
				t.Errorf("%d GETs, want at least %d", n, tt.minGets)
			}
		})
	}

	t.Run("bad timeout", func(t *testing.T) {
		code, _, errOut := run(t, Env{API: "http://127.0.0.1:1", Token: "t", Tenant: "acme"}, []string{"deploy", "x.wasm", "--name", "hello", "--wait", "--timeout", "0s"})
		if code != ExitUsage || !strings.Contains(errOut, "--timeout") {
			t.Errorf("exit %d, %q", code, errOut)
		}
	})
}
