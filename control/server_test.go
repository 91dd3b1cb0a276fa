package control_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/store"
)

func TestNewConfig(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.TempDir() + "/wedge.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rt := testRuntime(t)
	hash := control.HashToken(control.NewOperatorToken())
	for _, tc := range []struct {
		name string
		cfg  control.Config
	}{
		{"no store", control.Config{Runtime: rt, OperatorTokenHash: hash}},
		{"no runtime", control.Config{Store: st, OperatorTokenHash: hash}},
		{"no token", control.Config{Store: st, Runtime: rt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := control.New(tc.cfg); err == nil {
				t.Error("New accepted an incomplete Config")
			}
		})
	}
	if _, err := control.New(control.Config{Store: st, Runtime: rt, OperatorTokenHash: hash}); err != nil {
		t.Errorf("New with the required fields only: %v", err)
	}
}

func TestTokenFormat(t *testing.T) {
	t.Parallel()
	a, b := control.NewOperatorToken(), control.NewOperatorToken()
	if !strings.HasPrefix(a, "wo_") || len(a) < 40 {
		t.Errorf("operator token %q: want wo_ and at least 256 random bits", a)
	}
	if a == b {
		t.Error("two operator tokens are equal")
	}
	if h := control.HashToken(a); !bytes.Equal(h, sha256Of(a)) {
		t.Errorf("HashToken = %x, want the SHA-256 of the token", h)
	}
}

func sha256Of(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func TestHealthzAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	r := e.request("GET", "/healthz", "", "", nil)
	if r.status != http.StatusOK || string(r.body) != "ok\n" {
		t.Errorf("GET /healthz without a token: %v", r)
	}

	e.createTenant("acme")
	e.deploy("acme", "w", e.opToken, testdata(t, "worker.wasm"))
	e.request("PUT", "/v1/tenants/acme/workers/w", e.opToken, "application/wasm", []byte("garbage"))

	r = e.request("GET", "/metrics", "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics: %v", r)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want the Prometheus text format", ct)
	}
	for _, want := range []string{
		`wedge_deploys_total{result="ok"} 1`,
		`wedge_deploys_total{result="invalid"} 1`,
		"go_goroutines",
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Without Metrics there is no /metrics, and deploys still work.
	e2 := newEnv(t, func(c *control.Config) { c.Metrics = nil })
	checkError(t, e2.request("GET", "/metrics", "", "", nil), http.StatusNotFound, api.CodeNotFound)
	e2.createTenant("acme")
	e2.deploy("acme", "w", e2.opToken, testdata(t, "worker.wasm"))
	e2.request("PUT", "/v1/tenants/acme/workers/w", e2.opToken, "application/wasm", []byte("garbage"))
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acme := e.createTenant("acme")
	beta := e.createTenant("beta")
	e.deploy("acme", "w", e.opToken, testdata(t, "worker.wasm"))
	e.deploy("beta", "w", e.opToken, testdata(t, "worker.wasm"))
	e.putSecret("beta", "w", e.opToken, "TOKEN", "beta's secret")
	e.kvPut(kvPath("beta", "NS", "k"), e.opToken, []byte("beta's value"))

	// A token for a tenant this store does not know: made by another
	// server, where "gone" exists.
	other := newEnv(t, nil)
	gone := other.createTenant("gone")
	otherAcme := other.createTenant("acme")

	betaSecret := beta[strings.Index(beta, ".")+1:]
	wasm := testdata(t, "worker.wasm")

	type tc struct {
		name          string
		method, path  string
		authorization string // the whole header; empty: none
		contentType   string
		body          []byte
		status        int
	}
	bearer := func(tok string) string { return "Bearer " + tok }
	cases := []tc{
		// Missing and malformed credentials.
		{"no token", "GET", "/v1/tenants", "", "", nil, 401},
		{"no token on a tenant", "GET", "/v1/tenants/acme/workers", "", "", nil, 401},
		{"no token on an unknown endpoint", "GET", "/v1/nope", "", "", nil, 401},
		{"Bearer alone", "GET", "/v1/tenants", "Bearer", "", nil, 401},
		{"Bearer and a space", "GET", "/v1/tenants", "Bearer ", "", nil, 401},
		{"Bearer and spaces", "GET", "/v1/tenants", "Bearer    ", "", nil, 401},
		{"Basic scheme", "GET", "/v1/tenants", "Basic " + e.opToken, "", nil, 401},
		{"token without scheme", "GET", "/v1/tenants", e.opToken, "", nil, 401},
		{"wrong operator token", "GET", "/v1/tenants", bearer(control.NewOperatorToken()), "", nil, 401},
		{"operator token with a suffix", "GET", "/v1/tenants", bearer(e.opToken + "x"), "", nil, 401},
		{"operator token truncated", "GET", "/v1/tenants", bearer(e.opToken[:len(e.opToken)-1]), "", nil, 401},
		{"wt_", "GET", "/v1/tenants/acme/workers", bearer("wt_"), "", nil, 401},
		{"wt_acme", "GET", "/v1/tenants/acme/workers", bearer("wt_acme"), "", nil, 401},
		{"wt_acme.", "GET", "/v1/tenants/acme/workers", bearer("wt_acme."), "", nil, 401},
		{"wt_.secret", "GET", "/v1/tenants/acme/workers", bearer("wt_." + betaSecret), "", nil, 401},
		{"acme with beta's secret", "GET", "/v1/tenants/acme/workers", bearer("wt_acme." + betaSecret), "", nil, 401},
		{"beta's token renamed to acme", "GET", "/v1/tenants/acme/workers", bearer(strings.Replace(beta, "wt_beta.", "wt_acme.", 1)), "", nil, 401},
		{"unknown tenant's token", "GET", "/v1/tenants/gone/workers", bearer(gone), "", nil, 401},
		{"another host's acme token", "GET", "/v1/tenants/acme/workers", bearer(otherAcme), "", nil, 401},
		{"tenant token with path characters", "GET", "/v1/tenants/acme/workers", bearer("wt_../acme." + betaSecret), "", nil, 401},

		// Tenant tokens stay within their tenant.
		{"acme lists beta's workers", "GET", "/v1/tenants/beta/workers", bearer(acme), "", nil, 403},
		{"acme reads beta's worker", "GET", "/v1/tenants/beta/workers/w", bearer(acme), "", nil, 403},
		{"acme reads beta's versions", "GET", "/v1/tenants/beta/workers/w/versions", bearer(acme), "", nil, 403},
		{"acme deploys to beta", "PUT", "/v1/tenants/beta/workers/w", bearer(acme), "application/wasm", wasm, 403},
		{"acme rolls beta back", "POST", "/v1/tenants/beta/workers/w/rollback", bearer(acme), "", nil, 403},
		{"acme deletes beta's worker", "DELETE", "/v1/tenants/beta/workers/w", bearer(acme), "", nil, 403},
		{"acme reads tenant beta", "GET", "/v1/tenants/beta", bearer(acme), "", nil, 403},
		{"beta lists acme's workers", "GET", "/v1/tenants/acme/workers", bearer(beta), "", nil, 403},
		{"acme on an unknown tenant", "GET", "/v1/tenants/nobody/workers", bearer(acme), "", nil, 403},
		{"acme lists beta's secrets", "GET", "/v1/tenants/beta/workers/w/secrets", bearer(acme), "", nil, 403},
		{"acme sets beta's secret", "PUT", "/v1/tenants/beta/workers/w/secrets/TOKEN", bearer(acme), "", []byte("evil"), 403},
		{"acme deletes beta's secret", "DELETE", "/v1/tenants/beta/workers/w/secrets/TOKEN", bearer(acme), "", nil, 403},
		{"acme reads beta's KV", "GET", "/v1/tenants/beta/kv/NS/k", bearer(acme), "", nil, 403},
		{"acme writes beta's KV", "PUT", "/v1/tenants/beta/kv/NS/k", bearer(acme), "", []byte("evil"), 403},
		{"acme deletes beta's KV", "DELETE", "/v1/tenants/beta/kv/NS/k", bearer(acme), "", nil, 403},
		{"acme lists beta's KV", "GET", "/v1/tenants/beta/kv/NS", bearer(acme), "", nil, 403},
		{"no token on secrets", "GET", "/v1/tenants/beta/workers/w/secrets", "", "", nil, 401},
		{"no token on KV", "GET", "/v1/tenants/beta/kv/NS/k", "", "", nil, 401},
		{"another host's acme token on KV", "GET", "/v1/tenants/acme/kv/NS", bearer(otherAcme), "", nil, 401},
		{"tenant creates a tenant", "POST", "/v1/tenants", bearer(acme), "application/json", []byte(`{"name":"evil"}`), 403},
		{"tenant lists tenants", "GET", "/v1/tenants", bearer(acme), "", nil, 403},

		// A tenant token within its tenant.
		{"acme reads tenant acme", "GET", "/v1/tenants/acme", bearer(acme), "", nil, 200},
		{"acme lists its workers", "GET", "/v1/tenants/acme/workers", bearer(acme), "", nil, 200},
		{"acme reads its worker", "GET", "/v1/tenants/acme/workers/w", bearer(acme), "", nil, 200},
		{"acme reads its versions", "GET", "/v1/tenants/acme/workers/w/versions", bearer(acme), "", nil, 200},
		{"acme deploys", "PUT", "/v1/tenants/acme/workers/x", bearer(acme), "application/wasm", wasm, 201},
		{"beta deploys", "PUT", "/v1/tenants/beta/workers/x", bearer(beta), "application/wasm", wasm, 201},
		{"acme deletes its worker", "DELETE", "/v1/tenants/acme/workers/x", bearer(acme), "", nil, 204},
		{"acme sets its secret", "PUT", "/v1/tenants/acme/workers/w/secrets/TOKEN", bearer(acme), "", []byte("s"), 204},
		{"acme lists its secrets", "GET", "/v1/tenants/acme/workers/w/secrets", bearer(acme), "", nil, 200},
		{"acme deletes its secret", "DELETE", "/v1/tenants/acme/workers/w/secrets/TOKEN", bearer(acme), "", nil, 204},
		{"acme writes its KV", "PUT", "/v1/tenants/acme/kv/NS/k", bearer(acme), "", []byte("v"), 204},
		{"acme reads its KV", "GET", "/v1/tenants/acme/kv/NS/k", bearer(acme), "", nil, 200},
		{"acme lists its KV", "GET", "/v1/tenants/acme/kv/NS", bearer(acme), "", nil, 200},
		{"acme deletes its KV", "DELETE", "/v1/tenants/acme/kv/NS/k", bearer(acme), "", nil, 204},

		// The operator token works everywhere.
		{"operator creates a tenant", "POST", "/v1/tenants", bearer(e.opToken), "application/json", []byte(`{"name":"gamma"}`), 201},
		{"operator lists tenants", "GET", "/v1/tenants", bearer(e.opToken), "", nil, 200},
		{"operator reads acme", "GET", "/v1/tenants/acme", bearer(e.opToken), "", nil, 200},
		{"operator lists beta's workers", "GET", "/v1/tenants/beta/workers", bearer(e.opToken), "", nil, 200},
		{"operator reads beta's worker", "GET", "/v1/tenants/beta/workers/w", bearer(e.opToken), "", nil, 200},
		{"operator reads beta's versions", "GET", "/v1/tenants/beta/workers/w/versions", bearer(e.opToken), "", nil, 200},
		{"operator deploys to beta", "PUT", "/v1/tenants/beta/workers/y", bearer(e.opToken), "application/wasm", wasm, 201},
		{"operator rolls beta back", "POST", "/v1/tenants/beta/workers/y/rollback", bearer(e.opToken), "application/json", []byte(`{"version":1}`), 200},
		{"operator deletes beta's worker", "DELETE", "/v1/tenants/beta/workers/y", bearer(e.opToken), "", nil, 204},
		{"operator lists beta's secrets", "GET", "/v1/tenants/beta/workers/w/secrets", bearer(e.opToken), "", nil, 200},
		{"operator sets beta's secret", "PUT", "/v1/tenants/beta/workers/w/secrets/OTHER", bearer(e.opToken), "", []byte("s"), 204},
		{"operator deletes beta's secret", "DELETE", "/v1/tenants/beta/workers/w/secrets/OTHER", bearer(e.opToken), "", nil, 204},
		{"operator reads beta's KV", "GET", "/v1/tenants/beta/kv/NS/k", bearer(e.opToken), "", nil, 200},
		{"operator lists beta's KV", "GET", "/v1/tenants/beta/kv/NS", bearer(e.opToken), "", nil, 200},
		{"operator on an unknown tenant", "GET", "/v1/tenants/nobody/workers", bearer(e.opToken), "", nil, 404},
		{"scheme in lower case", "GET", "/v1/tenants", "bearer " + e.opToken, "", nil, 200},
		{"scheme in capitals", "GET", "/v1/tenants", "BEARER " + e.opToken, "", nil, 200},
		{"two spaces", "GET", "/v1/tenants/acme", "Bearer  " + acme, "", nil, 200},
		{"tab instead of a space", "GET", "/v1/tenants", "Bearer\t" + e.opToken, "", nil, 401},
		{"scheme glued to the token", "GET", "/v1/tenants", "Bearer" + e.opToken, "", nil, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd io.Reader
			if c.body != nil {
				rd = bytes.NewReader(c.body)
			}
			req, err := http.NewRequest(c.method, e.srv.URL+c.path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if c.authorization != "" {
				req.Header.Set("Authorization", c.authorization)
			}
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			r := e.send(req)
			switch c.status {
			case 401:
				checkError(t, r, 401, api.CodeUnauthorized, "Bearer")
			case 403:
				checkError(t, r, 403, api.CodeForbidden)
			case 404:
				checkError(t, r, 404, api.CodeNotFound)
			default:
				if r.status != c.status {
					t.Errorf("status = %d, want %d (body %s)", r.status, c.status, r.body)
				}
			}
		})
	}

	// Nothing a refused request tried happened.
	if w := e.getWorker("beta", "w"); w.ActiveVersion != 1 || w.Versions != 1 {
		t.Errorf("beta/w after refused requests: %+v", w)
	}
	if _, err := e.store.Tenant(context.Background(), "evil"); err == nil {
		t.Error("a tenant token created tenant evil")
	}
	if got, err := e.store.Secrets(context.Background(), "beta", "w"); err != nil || len(got) != 1 || got["TOKEN"] != "beta's secret" {
		t.Errorf("beta/w's secrets after refused requests: %d of them, %v", len(got), err)
	}
	if got, err := e.store.KVGet(context.Background(), "beta", "NS", "k"); err != nil || string(got) != "beta's value" {
		t.Errorf("beta's KV after refused requests: %q, %v", got, err)
	}
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	long63 := "a" + strings.Repeat("b", 62)
	long64 := "a" + strings.Repeat("b", 63)

	for _, tc := range []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"valid", `{"name":"acme"}`, 201, ""},
		{"one letter", `{"name":"a"}`, 201, ""},
		{"digits and hyphens", `{"name":"a-1-b2"}`, 201, ""},
		{"63 characters", `{"name":"` + long63 + `"}`, 201, ""},
		{"duplicate", `{"name":"acme"}`, 409, "acme"},
		{"uppercase", `{"name":"Acme"}`, 400, "Acme"},
		{"empty", `{"name":""}`, 400, "invalid tenant name"},
		{"missing name", `{}`, 400, "invalid tenant name"},
		{"null", `null`, 400, "invalid tenant name"},
		{"64 characters", `{"name":"` + long64 + `"}`, 400, "invalid tenant name"},
		{"leading digit", `{"name":"1acme"}`, 400, "invalid tenant name"},
		{"leading hyphen", `{"name":"-acme"}`, 400, "invalid tenant name"},
		{"trailing hyphen", `{"name":"acme-"}`, 400, "invalid tenant name"},
		{"dot", `{"name":"ac.me"}`, 400, "invalid tenant name"},
		{"underscore", `{"name":"ac_me"}`, 400, "invalid tenant name"},
		{"slash", `{"name":"ac/me"}`, 400, "invalid tenant name"},
		{"NUL", `{"name":"ac\u0000me"}`, 400, "invalid tenant name"},
		{"non-ASCII", `{"name":"acmé"}`, 400, "invalid tenant name"},
		{"unknown field", `{"name":"zeta","token":"mine"}`, 400, "token"},
		{"name not a string", `{"name":42}`, 400, "invalid JSON"},
		{"array", `["acme"]`, 400, "invalid JSON"},
		{"not JSON", `name=acme`, 400, "invalid JSON"},
		{"empty body", ``, 400, "invalid JSON"},
		{"truncated", `{"name":"zeta"`, 400, "invalid JSON"},
		{"trailing data", `{"name":"zeta"} {"name":"eta"}`, 400, "invalid JSON"},
		{"trailing garbage", `{"name":"zeta"}x`, 400, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.request("POST", "/v1/tenants", e.opToken, "application/json", []byte(tc.body))
			switch tc.status {
			case 201:
				if r.status != 201 {
					t.Fatalf("want 201: %v", r)
				}
				var out api.Tenant
				decode(t, r, &out)
				var req api.CreateTenantRequest
				json.Unmarshal([]byte(tc.body), &req)
				if out.Name != req.Name || out.Created.IsZero() {
					t.Errorf("answer %+v", out)
				}
				if !strings.HasPrefix(out.Token, "wt_"+req.Name+".") || len(out.Token) < len("wt_"+req.Name+".")+40 {
					t.Errorf("token %q: want wt_%s. and at least 256 random bits", out.Token, req.Name)
				}
				// The new token works, for its own tenant.
				if r := e.request("GET", "/v1/tenants/"+req.Name+"/workers", out.Token, "", nil); r.status != 200 {
					t.Errorf("the new token on its own tenant: %v", r)
				}
			case 409:
				checkError(t, r, 409, api.CodeConflict, tc.msg)
			default:
				checkError(t, r, 400, api.CodeBadRequest, tc.msg)
			}
		})
	}

	// Only the valid names were created, and no token is ever listed again.
	r := e.request("GET", "/v1/tenants", e.opToken, "", nil)
	var list []api.Tenant
	decode(t, r, &list)
	var names []string
	for _, tn := range list {
		names = append(names, tn.Name)
		if tn.Token != "" {
			t.Errorf("GET /v1/tenants shows tenant %s's token", tn.Name)
		}
	}
	if want := []string{"a", "a-1-b2", long63, "acme"}; !slices.Equal(names, want) {
		t.Errorf("tenants = %q, want %q", names, want)
	}
	r = e.request("GET", "/v1/tenants/acme", e.opToken, "", nil)
	var one api.Tenant
	decode(t, r, &one)
	if one.Name != "acme" || one.Token != "" {
		t.Errorf("GET /v1/tenants/acme = %+v, want no token", one)
	}
}

func TestTokensStoredHashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token := e.createTenant("acme")
	ctx := context.Background()

	tn, err := e.store.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tn.TokenHash, sha256Of(token)) {
		t.Errorf("stored TokenHash = %x, want sha256(token) = %x", tn.TokenHash, sha256Of(token))
	}
	if !bytes.Equal(tn.TokenHash, control.HashToken(token)) {
		t.Error("stored TokenHash differs from HashToken(token)")
	}

	// Neither the token nor its secret part is anywhere in the file.
	secret := token[strings.Index(token, ".")+1:]
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{token, secret, e.opToken, e.opToken[len("wo_"):]} {
		if bytes.Contains(file, []byte(s)) {
			t.Errorf("the bbolt file holds a plain token %q", s)
		}
	}
	if !bytes.Contains(file, []byte("acme")) {
		t.Error("the bbolt file does not hold the tenant at all: is dbPath right?")
	}
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *control.Config) {
		c.Limits = api.Limits{CPUMillis: 100, WallMillis: 1000, MemoryMB: 64, Subrequests: 10}
	})
	token := e.createTenant("acme")
	worker := testdata(t, "worker.wasm")
	worker2 := testdata(t, "worker2.wasm")

	t.Run("application/wasm", func(t *testing.T) {
		r := e.request("PUT", "/v1/tenants/acme/workers/w", token, "application/wasm", worker)
		if r.status != http.StatusCreated {
			t.Fatalf("want 201: %v", r)
		}
		var got api.DeployResult
		decode(t, r, &got)
		want := api.DeployResult{Tenant: "acme", Name: "w", Version: 1, SHA256: sha(worker), Size: int64(len(worker)), Host: "w.acme.wedge.localhost"}
		if got != want {
			t.Errorf("answer = %+v, want %+v", got, want)
		}
	})

	t.Run("multipart", func(t *testing.T) {
		meta := api.WorkerSettings{
			Vars:         map[string]string{"GREETING": "hi", "_X1": ""},
			Limits:       api.Limits{CPUMillis: 100, MemoryMB: 32},
			Routes:       []api.Route{{Pattern: "shop.example.com/api/*"}},
			KVNamespaces: []api.KVBinding{{Binding: "COUNTS"}},
		}
		mj, _ := json.Marshal(meta)
		body, ct := multipartBody(t,
			part{name: "metadata", contentType: "application/json", body: mj},
			part{name: "module", contentType: "application/wasm", body: worker2})
		r := e.request("PUT", "/v1/tenants/acme/workers/w", token, ct, body)
		if r.status != http.StatusCreated {
			t.Fatalf("want 201: %v", r)
		}
		var got api.DeployResult
		decode(t, r, &got)
		want := api.DeployResult{Tenant: "acme", Name: "w", Version: 2, SHA256: sha(worker2), Size: int64(len(worker2)), Host: "w.acme.wedge.localhost"}
		if got != want {
			t.Errorf("answer = %+v, want %+v", got, want)
		}
		// The settings were stored with the version.
		wk, err := e.store.Worker(context.Background(), "acme", "w")
		if err != nil {
			t.Fatal(err)
		}
		v, ok := wk.ActiveVersion()
		if !ok || v.Number != 2 || v.Settings.Vars["GREETING"] != "hi" || v.Settings.Limits != meta.Limits ||
			len(v.Settings.Routes) != 1 || len(v.Settings.KVNamespaces) != 1 {
			t.Errorf("stored active version = %+v", v)
		}
	})

	t.Run("multipart module first, no metadata", func(t *testing.T) {
		body, ct := multipartBody(t, part{name: "module", body: worker})
		r := e.request("PUT", "/v1/tenants/acme/workers/m", token, ct, body)
		if r.status != http.StatusCreated {
			t.Fatalf("want 201: %v", r)
		}
	})

	t.Run("a module using much of the binary format", func(t *testing.T) {
		features := testdata(t, "features.wasm")
		got := e.deploy("acme", "features", token, features)
		if got.SHA256 != sha(features) {
			t.Errorf("answer %+v", got)
		}
	})

	t.Run("other content types", func(t *testing.T) {
		// No Content-Type at all is taken as application/wasm.
		for _, ct := range []string{"application/octet-stream", "application/wasm; charset=binary", "Application/WASM", ""} {
			if r := e.request("PUT", "/v1/tenants/acme/workers/o", token, ct, worker); r.status != http.StatusCreated {
				t.Errorf("Content-Type %q: want 201: %v", ct, r)
			}
		}
	})

	// Every bad upload gets 400 and leaves acme/w exactly as it was.
	before := e.getWorker("acme", "w")
	if before.ActiveVersion != 2 || before.Versions != 2 || before.SHA256 != sha(worker2) {
		t.Fatalf("acme/w before the bad uploads: %+v", before)
	}
	wasmCT := "application/wasm"
	withMeta := func(meta string) (string, []byte) {
		body, ct := multipartBody(t, part{name: "module", body: worker}, part{name: "metadata", body: []byte(meta)})
		return ct, body
	}
	type bad struct {
		name        string
		contentType string
		body        []byte
		code        api.Code
		msg         []string
	}
	bads := []bad{
		{"garbage", wasmCT, []byte("this is not WebAssembly at all"), api.CodeInvalidModule, []string{"WebAssembly"}},
		{"wasm magic only", wasmCT, []byte("\x00asm"), api.CodeInvalidModule, nil},
		{"truncated module", wasmCT, worker[:len(worker)-5], api.CodeInvalidModule, nil},
		{"empty body", wasmCT, []byte{}, api.CodeInvalidModule, []string{"empty"}},
		{"no wedge_handle", wasmCT, testdata(t, "nohandle.wasm"), api.CodeInvalidModule, []string{"wedge_handle"}},
		{"WASI command", wasmCT, testdata(t, "command.wasm"), api.CodeInvalidModule, []string{"_start"}},
		{"unknown import module", wasmCT, testdata(t, "badimport.wasm"), api.CodeInvalidModule, []string{"env.abort"}},
		// Modules of a few bytes that claim gigabytes: 2^32-1 exports, a
		// data segment of 2^31 bytes, 2^31 locals.
		{"claims 2^32 exports", wasmCT, []byte("\x00asm\x01\x00\x00\x00\x07\x05\xff\xff\xff\xff\x0f"), api.CodeInvalidModule, []string{"exports"}},
		{"claims 2 GiB of data", wasmCT, []byte("\x00asm\x01\x00\x00\x00\x0b\x0a\x01\x00\x41\x00\x0b\xff\xff\xff\xff\x07"), api.CodeInvalidModule, []string{"data bytes"}},
		{"claims 2^31 locals", wasmCT, []byte("\x00asm\x01\x00\x00\x00\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x07\x7f\x0b"), api.CodeInvalidModule, []string{"locals"}},
		{"unsupported content type", "text/plain", worker, api.CodeBadRequest, []string{"application/wasm"}},
		{"JSON content type", "application/json", []byte(`{}`), api.CodeBadRequest, []string{"application/wasm"}},
	}
	for _, m := range []struct{ name, meta, msg string }{
		{"bad metadata JSON", `{"vars":`, "metadata"},
		{"metadata not an object", `[1,2]`, "metadata"},
		{"unknown metadata field", `{"varz":{"A":"b"}}`, "varz"},
		{"unknown limits field", `{"limits":{"cpu":5}}`, "cpu"},
		{"cpu_ms above cap", `{"limits":{"cpu_ms":101}}`, "cpu_ms"},
		{"wall_ms above cap", `{"limits":{"wall_ms":1001}}`, "wall_ms"},
		{"memory_mb above cap", `{"limits":{"memory_mb":65}}`, "memory_mb"},
		{"subrequests above cap", `{"limits":{"subrequests":11}}`, "subrequests"},
		{"negative limit", `{"limits":{"cpu_ms":-1}}`, "negative"},
		{"invalid var name", `{"vars":{"A-B":"x"}}`, "A-B"},
		{"var name with a digit first", `{"vars":{"1A":"x"}}`, "1A"},
		{"var with NUL", `{"vars":{"A":"x\u0000y"}}`, "NUL"},
		{"var name too long", `{"vars":{"` + strings.Repeat("A", api.MaxEnvNameBytes+1) + `":"x"}}`, "invalid var name"},
		{"invalid KV binding", `{"kv_namespaces":[{"binding":"a-b"}]}`, "a-b"},
		{"empty KV binding", `{"kv_namespaces":[{"binding":""}]}`, "invalid KV binding"},
		{"KV binding twice", `{"kv_namespaces":[{"binding":"A"},{"binding":"A"}]}`, "twice"},
		{"metadata trailing data", `{} {"vars":{"A":"b"}}`, "metadata"},
	} {
		ct, body := withMeta(m.meta)
		bads = append(bads, bad{m.name, ct, body, api.CodeBadRequest, []string{m.msg}})
	}
	noModule, ctNoModule := multipartBody(t, part{name: "metadata", body: []byte(`{}`)})
	extraPart, ctExtra := multipartBody(t, part{name: "module", body: worker}, part{name: "readme", body: []byte("hi")})
	badModulePart, ctBadModule := multipartBody(t, part{name: "metadata", body: []byte(`{}`)}, part{name: "module", body: []byte("junk")})
	bads = append(bads,
		bad{"multipart without module", ctNoModule, noModule, api.CodeBadRequest, []string{"module"}},
		bad{"multipart with an extra part", ctExtra, extraPart, api.CodeBadRequest, []string{"readme"}},
		bad{"multipart with a bad module", ctBadModule, badModulePart, api.CodeInvalidModule, nil},
		bad{"multipart without boundary", "multipart/form-data", worker, api.CodeBadRequest, nil},
		bad{"multipart, wrong boundary", "multipart/form-data; boundary=nope", noModule, api.CodeBadRequest, nil},
		bad{"multipart, empty body", ctNoModule, []byte{}, api.CodeBadRequest, nil},
	)
	for _, b := range bads {
		t.Run(b.name, func(t *testing.T) {
			r := e.request("PUT", "/v1/tenants/acme/workers/w", token, b.contentType, b.body)
			checkError(t, r, http.StatusBadRequest, b.code, b.msg...)
			if after := e.getWorker("acme", "w"); !reflect.DeepEqual(after, before) {
				t.Errorf("a bad upload changed the worker:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	t.Run("bad first upload creates nothing", func(t *testing.T) {
		r := e.request("PUT", "/v1/tenants/acme/workers/fresh", token, wasmCT, []byte("junk"))
		checkError(t, r, 400, api.CodeInvalidModule)
		checkError(t, e.request("GET", "/v1/tenants/acme/workers/fresh", token, "", nil), 404, api.CodeNotFound, "fresh")
	})

	t.Run("invalid worker names", func(t *testing.T) {
		for _, name := range []string{"W", "1w", "w-", "-w", "w_x", "w.x", "a" + strings.Repeat("b", 63), "w%00", "%C3%A9"} {
			r := e.request("PUT", "/v1/tenants/acme/workers/"+name, token, wasmCT, worker)
			checkError(t, r, 400, api.CodeBadRequest, "invalid worker name")
			for _, m := range []string{"GET", "DELETE"} {
				checkError(t, e.request(m, "/v1/tenants/acme/workers/"+name, token, "", nil), 400, api.CodeBadRequest, "invalid worker name")
			}
		}
	})

	t.Run("unknown tenant", func(t *testing.T) {
		r := e.request("PUT", "/v1/tenants/nobody/workers/w", e.opToken, wasmCT, worker)
		checkError(t, r, 404, api.CodeNotFound, "nobody")
	})

	t.Run("module size limit", func(t *testing.T) {
		small := newEnv(t, func(c *control.Config) { c.MaxModuleBytes = 1024 })
		small.createTenant("acme")
		small.deploy("acme", "w", small.opToken, worker) // 117 bytes: fine

		big := append(bytes.Clone(worker), make([]byte, 1024)...)
		exact := make([]byte, 1024)
		copy(exact, "\x00asm\x01\x00\x00\x00")
		mp, mpCT := multipartBody(t, part{name: "module", body: big})
		for _, c := range []struct {
			name, ct string
			body     []byte
			code     api.Code
			msg      []string
		}{
			{"1025+ bytes", wasmCT, big, api.CodeInvalidModule, []string{"limit", "1024"}},
			{"several MiB", wasmCT, make([]byte, 3<<20), api.CodeInvalidModule, []string{"limit", "1024"}},
			{"multipart", mpCT, mp, api.CodeInvalidModule, []string{"limit", "1024"}},
			// Exactly at the limit is allowed, and then judged as a module.
			{"1024 bytes", wasmCT, exact, api.CodeInvalidModule, []string{"WebAssembly"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := small.request("PUT", "/v1/tenants/acme/workers/w", small.opToken, c.ct, c.body)
				checkError(t, r, 400, c.code, c.msg...)
			})
		}
		if w := small.getWorker("acme", "w"); w.ActiveVersion != 1 || w.Versions != 1 {
			t.Errorf("after oversized uploads: %+v", w)
		}
	})

	t.Run("default limits within default caps", func(t *testing.T) {
		dflt := newEnv(t, nil)
		dflt.createTenant("acme")
		d := api.DefaultLimits
		ok, _ := json.Marshal(api.WorkerSettings{Limits: d})
		body, ct := multipartBody(t, part{name: "module", body: worker}, part{name: "metadata", body: ok})
		if r := dflt.request("PUT", "/v1/tenants/acme/workers/w", dflt.opToken, ct, body); r.status != 201 {
			t.Errorf("the default limits: %v", r)
		}
		d.CPUMillis++
		over, _ := json.Marshal(api.WorkerSettings{Limits: d})
		body, ct = multipartBody(t, part{name: "module", body: worker}, part{name: "metadata", body: over})
		checkError(t, dflt.request("PUT", "/v1/tenants/acme/workers/w", dflt.opToken, ct, body), 400, api.CodeBadRequest, "cpu_ms")
	})
}

// TestDeployGoWorker deploys a real Go worker built with the SDK.
func TestDeployGoWorker(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a Go worker: skipped with -short")
	}
	hello := testwasm.Build(t, "examples/hello")
	e := newEnv(t, nil)
	token := e.createTenant("acme")

	got := e.deploy("acme", "hello", token, hello)
	want := api.DeployResult{Tenant: "acme", Name: "hello", Version: 1, SHA256: sha(hello), Size: int64(len(hello)), Host: "hello.acme.wedge.localhost"}
	if got != want {
		t.Errorf("answer = %+v, want %+v", got, want)
	}
	// The module is stored byte for byte.
	m, err := e.store.Module(context.Background(), got.SHA256)
	if err != nil || !bytes.Equal(m, hello) {
		t.Errorf("store.Module(%s): %d bytes, %v", got.SHA256, len(m), err)
	}
}

func TestWorkerLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token := e.createTenant("acme")
	e.createTenant("beta")
	ctx := context.Background()
	w1, w2 := testdata(t, "worker.wasm"), testdata(t, "worker2.wasm")

	// An empty tenant lists no workers, as [] rather than null.
	r := e.request("GET", "/v1/tenants/acme/workers", token, "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty list: %v", r)
	}

	if v := e.deploy("acme", "w", token, w1).Version; v != 1 {
		t.Fatalf("first deploy: version %d", v)
	}
	if v := e.deploy("acme", "w", token, w2).Version; v != 2 {
		t.Fatalf("second deploy: version %d", v)
	}
	e.deploy("acme", "other", token, w1)
	e.deploy("beta", "w", e.opToken, w1)

	// Store writes are visible right away.
	checkStore := func(active int, sum string) {
		t.Helper()
		wk, err := e.store.Worker(ctx, "acme", "w")
		if err != nil {
			t.Fatal(err)
		}
		v, ok := wk.ActiveVersion()
		if wk.Active != active || !ok || v.SHA256 != sum {
			t.Errorf("store: active %d (%s), want %d (%s)", wk.Active, v.SHA256, active, sum)
		}
	}
	checkStore(2, sha(w2))

	t.Run("list", func(t *testing.T) {
		r := e.request("GET", "/v1/tenants/acme/workers", token, "", nil)
		if r.status != 200 {
			t.Fatal(r)
		}
		var list []api.Worker
		decode(t, r, &list)
		if len(list) != 2 || list[0].Name != "other" || list[1].Name != "w" {
			t.Fatalf("list = %+v, want other and w", list)
		}
		if w := list[1]; w.Tenant != "acme" || w.ActiveVersion != 2 || w.Versions != 2 || w.SHA256 != sha(w2) || w.Host != "w.acme.wedge.localhost" || w.Updated.IsZero() {
			t.Errorf("list[1] = %+v", w)
		}
	})

	t.Run("get", func(t *testing.T) {
		w := e.getWorker("acme", "w")
		if w.Tenant != "acme" || w.Name != "w" || w.ActiveVersion != 2 || w.Versions != 2 || w.SHA256 != sha(w2) || w.Host != "w.acme.wedge.localhost" {
			t.Errorf("worker = %+v", w)
		}
		checkError(t, e.request("GET", "/v1/tenants/acme/workers/nope", token, "", nil), 404, api.CodeNotFound, "nope")
	})

	t.Run("versions", func(t *testing.T) {
		r := e.request("GET", "/v1/tenants/acme/workers/w/versions", token, "", nil)
		if r.status != 200 {
			t.Fatal(r)
		}
		var vs []api.Version
		decode(t, r, &vs)
		if len(vs) != 2 {
			t.Fatalf("versions = %+v", vs)
		}
		for i, want := range [][]byte{w1, w2} {
			if vs[i].Number != i+1 || vs[i].SHA256 != sha(want) || vs[i].Size != int64(len(want)) || vs[i].Created.IsZero() {
				t.Errorf("versions[%d] = %+v", i, vs[i])
			}
		}
		checkError(t, e.request("GET", "/v1/tenants/acme/workers/nope/versions", token, "", nil), 404, api.CodeNotFound)
	})

	rollback := func(body string) response {
		var b []byte
		ct := ""
		if body != "" {
			b, ct = []byte(body), "application/json"
		}
		return e.request("POST", "/v1/tenants/acme/workers/w/rollback", token, ct, b)
	}
	active := func(r response, want int) {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("rollback: %v", r)
		}
		var w api.Worker
		decode(t, r, &w)
		if w.ActiveVersion != want || w.Versions != 2 {
			t.Errorf("rollback answered %+v, want active version %d", w, want)
		}
		if g := e.getWorker("acme", "w"); g.ActiveVersion != want {
			t.Errorf("after rollback GET shows active version %d, want %d", g.ActiveVersion, want)
		}
	}

	t.Run("rollback", func(t *testing.T) {
		active(rollback(""), 1) // no body: the previous version
		checkStore(1, sha(w1))
		if w := e.getWorker("acme", "w"); w.SHA256 != sha(w1) {
			t.Errorf("after rollback the worker's sha256 is %s, want version 1's", w.SHA256)
		}
		checkError(t, rollback(""), 409, api.CodeConflict, "no earlier version")
		checkError(t, rollback(`{}`), 409, api.CodeConflict)
		active(rollback(`{"version":2}`), 2)
		checkStore(2, sha(w2))
		active(rollback(`{"version":2}`), 2) // to the active one: a no-op
		active(rollback(`{}`), 1)
		active(rollback(`{"version":2}`), 2)
		checkError(t, rollback(`{"version":3}`), 404, api.CodeNotFound, "version 3")
		checkError(t, rollback(`{"version":99}`), 404, api.CodeNotFound)
		checkError(t, rollback(`{"version":"2"}`), 400, api.CodeBadRequest)
		checkError(t, rollback(`{"to":1}`), 400, api.CodeBadRequest, "to")
		checkError(t, rollback(`{"version":`), 400, api.CodeBadRequest)
		checkStore(2, sha(w2))
		checkError(t, e.request("POST", "/v1/tenants/acme/workers/nope/rollback", token, "", nil), 404, api.CodeNotFound, "nope")
	})

	t.Run("rollback with a chunked empty body", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/tenants/acme/workers/w/rollback", io.NopCloser(strings.NewReader("")))
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		req.Header.Set("Authorization", "Bearer "+token)
		active(e.send(req), 1)
		active(rollback(`{"version":2}`), 2)
	})

	t.Run("same module twice", func(t *testing.T) {
		a := e.deploy("acme", "twice", token, w1)
		b := e.deploy("acme", "twice", token, w1)
		if a.Version != 1 || b.Version != 2 || a.SHA256 != b.SHA256 {
			t.Errorf("two deploys of the same module: %+v, %+v", a, b)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := e.request("DELETE", "/v1/tenants/acme/workers/w", token, "", nil)
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE: %v", r)
		}
		checkError(t, e.request("GET", "/v1/tenants/acme/workers/w", token, "", nil), 404, api.CodeNotFound, "w")
		checkError(t, e.request("GET", "/v1/tenants/acme/workers/w/versions", token, "", nil), 404, api.CodeNotFound)
		checkError(t, e.request("DELETE", "/v1/tenants/acme/workers/w", token, "", nil), 404, api.CodeNotFound)
		checkError(t, rollback(""), 404, api.CodeNotFound)
		if _, err := e.store.Worker(ctx, "acme", "w"); err == nil {
			t.Error("the store still has acme/w")
		}
		// Beta's worker of the same name is untouched.
		if w := e.getWorker("beta", "w"); w.ActiveVersion != 1 {
			t.Errorf("beta/w = %+v", w)
		}
		// Deployed again, the worker starts over at version 1.
		if v := e.deploy("acme", "w", token, w2).Version; v != 1 {
			t.Errorf("deploy after delete: version %d, want 1", v)
		}
	})
}

func TestErrorResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token := e.createTenant("acme")
	e.deploy("acme", "w", token, testdata(t, "worker.wasm"))

	for _, c := range []struct {
		method, path, token string
		status              int
	}{
		{"GET", "/", "", 404},
		{"GET", "/nope", "", 404},
		{"GET", "/v2/tenants", "", 404},
		{"GET", "/v1/nope", e.opToken, 404},
		{"GET", "/v1/tenants/acme/nope", e.opToken, 404},
		{"GET", "/v1/tenants/acme/workers/w/nope", token, 404},
		{"GET", "/v1/tenants/acme/workers/w/versions/1", token, 404},
		{"DELETE", "/healthz", "", 405},
		{"POST", "/metrics", "", 405},
		{"PUT", "/v1/tenants", e.opToken, 405},
		{"DELETE", "/v1/tenants/acme", e.opToken, 405},
		{"POST", "/v1/tenants/acme/workers", token, 405},
		{"PATCH", "/v1/tenants/acme/workers/w", token, 405},
		{"POST", "/v1/tenants/acme/workers/w/versions", token, 405},
		{"GET", "/v1/tenants/acme/workers/w/rollback", token, 405},
		{"GET", "/v1/tenants/acme/workers/w/secrets/TOKEN", token, 405},
		{"POST", "/v1/tenants/acme/workers/w/secrets", token, 405},
		{"POST", "/v1/tenants/acme/workers/w/secrets/TOKEN", token, 405},
		{"POST", "/v1/tenants/acme/kv/NS", token, 405},
		{"PATCH", "/v1/tenants/acme/kv/NS/a/b", token, 405},
		{"GET", "/v1/tenants/acme/kv", token, 404},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := e.request(c.method, c.path, c.token, "", nil)
			if r.status != c.status {
				t.Errorf("status = %d, want %d (body %s)", r.status, c.status, r.body)
			}
			msg, err := errorBody(r.header, r.body)
			if err != nil {
				t.Fatal(err)
			}
			want := "not-found"
			if c.status == 405 {
				want = "method-not-allowed"
			}
			if msg["code"] != want {
				t.Errorf("code = %q, want %q", msg["code"], want)
			}
			if !strings.Contains(msg["message"], c.path) {
				t.Errorf("message %q does not name the path", msg["message"])
			}
		})
	}
	// Successful answers are JSON too, and never cached.
	r := e.request("GET", "/v1/tenants/acme/workers", token, "", nil)
	if ct, cc := r.header.Get("Content-Type"), r.header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
}

// TestConcurrentDeploys hammers one worker with uploads from many clients:
// every upload gets its own version, numbered without gaps.
func TestConcurrentDeploys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token := e.createTenant("acme")
	modules := [][]byte{testdata(t, "worker.wasm"), testdata(t, "worker2.wasm"), []byte("junk")}

	const clients, each = 8, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]bool{}
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				mod := modules[(c+i)%len(modules)]
				req, _ := http.NewRequest("PUT", e.srv.URL+"/v1/tenants/acme/workers/w", bytes.NewReader(mod))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/wasm")
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var out api.DeployResult
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				switch {
				case string(mod) == "junk" && resp.StatusCode != 400:
					t.Errorf("junk upload: status %d", resp.StatusCode)
				case string(mod) != "junk" && resp.StatusCode != 201:
					t.Errorf("upload: status %d", resp.StatusCode)
				case resp.StatusCode == 201:
					mu.Lock()
					if seen[out.Version] {
						t.Errorf("version %d given twice", out.Version)
					}
					seen[out.Version] = true
					mu.Unlock()
				}
			}
		})
	}
	// Readers run alongside the writers.
	for range 4 {
		wg.Go(func() {
			for range 10 {
				req, _ := http.NewRequest("GET", e.srv.URL+"/v1/tenants/acme/workers", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("list: status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()

	w := e.getWorker("acme", "w")
	if w.Versions != len(seen) || w.ActiveVersion != len(seen) {
		t.Errorf("worker %+v after %d successful uploads", w, len(seen))
	}
	for n := 1; n <= len(seen); n++ {
		if !seen[n] {
			t.Errorf("version %d missing", n)
		}
	}
	if want := clients * each * 2 / 3; len(seen) != want {
		t.Errorf("%d successful uploads, want %d", len(seen), want)
	}
}

// TestApplied checks the Applied hook: called after every successful
// deploy, rollback and delete, once the store holds the change, with a
// deadline; never for a failed one; and its failure does not fail the call.
func TestApplied(t *testing.T) {
	t.Parallel()
	type call struct {
		tenant, worker string
		version        int
	}
	var (
		mu    sync.Mutex
		calls []call
		fail  bool
		st    *store.Bolt
	)
	e := newEnv(t, func(c *control.Config) {
		c.Applied = func(ctx context.Context, tenant, worker string, version int) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("Applied called without a deadline")
			}
			wk, err := st.Worker(ctx, tenant, worker)
			switch {
			case version == 0 && err == nil:
				t.Errorf("Applied(%s, %s, 0) while the store still has the worker", tenant, worker)
			case version != 0 && (err != nil || wk.Active != version):
				t.Errorf("Applied(%s, %s, %d) before the store has it: active %d, %v", tenant, worker, version, wk.Active, err)
			}
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{tenant, worker, version})
			if fail {
				return context.DeadlineExceeded
			}
			return nil
		}
	})
	st = e.store
	token := e.createTenant("acme")
	w1, w2 := testdata(t, "worker.wasm"), testdata(t, "worker2.wasm")

	e.deploy("acme", "w", token, w1)
	e.deploy("acme", "w", token, w2)
	e.request("PUT", "/v1/tenants/acme/workers/w", token, "application/wasm", []byte("junk"))
	if r := e.request("POST", "/v1/tenants/acme/workers/w/rollback", token, "", nil); r.status != 200 {
		t.Fatalf("rollback: %v", r)
	}
	e.request("POST", "/v1/tenants/acme/workers/w/rollback", token, "", nil) // 409: nothing earlier
	mu.Lock()
	fail = true
	mu.Unlock()
	if r := e.request("POST", "/v1/tenants/acme/workers/w/rollback", token, "application/json", []byte(`{"version":2}`)); r.status != 200 {
		t.Errorf("rollback with a failing Applied: %v", r)
	}
	if r := e.request("DELETE", "/v1/tenants/acme/workers/w", token, "", nil); r.status != 204 {
		t.Errorf("delete with a failing Applied: %v", r)
	}
	e.request("DELETE", "/v1/tenants/acme/workers/w", token, "", nil) // 404

	want := []call{{"acme", "w", 1}, {"acme", "w", 2}, {"acme", "w", 1}, {"acme", "w", 2}, {"acme", "w", 0}}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(calls, want) {
		t.Errorf("Applied calls = %v, want %v", calls, want)
	}
}
