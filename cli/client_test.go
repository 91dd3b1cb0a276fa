package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
)

// fakeAPI is a stand-in for the control plane: it records each request and
// answers from a table of "METHOD PATH" → status and body.
type fakeAPI struct {
	t       *testing.T
	answers map[string]answer

	mu   sync.Mutex
	reqs []recorded
}

type answer struct {
	status int
	body   string
}

type recorded struct {
	method, path, auth, contentType string
	body                            []byte
}

func newFakeAPI(t *testing.T, answers map[string]answer) (*fakeAPI, Env) {
	f := &fakeAPI{t: t, answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, Env{API: srv.URL + "/", Token: "tok", Tenant: "acme"}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
	f.mu.Unlock()
	a, ok := f.answers[r.Method+" "+r.URL.EscapedPath()]
	if !ok {
		a = answer{404, `{"error":{"code":"not-found","message":"no such route in the fake"}}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func TestTenantCreate(t *testing.T) {
	const answerBody = `{"name":"acme","token":"wdg_secret","created":"2026-01-02T03:04:05Z"}`
	f, env := newFakeAPI(t, map[string]answer{"POST /v1/tenants": {201, answerBody}})
	env.Token = "operator"

	code, out, errOut := run(t, env, []string{"tenant", "create", "acme"})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"created tenant acme", "export WEDGE_TENANT=acme", "export WEDGE_TOKEN=wdg_secret"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	r := f.requests()[0]
	if r.auth != "Bearer operator" || r.contentType != "application/json" || string(r.body) != `{"name":"acme"}` {
		t.Errorf("request %+v", r)
	}

	code, out, _ = run(t, env, []string{"tenant", "create", "acme", "--json"})
	if code != ExitOK || out != answerBody+"\n" {
		t.Errorf("--json: exit %d, %q", code, out)
	}
}

func TestDeployWasmFile(t *testing.T) {
	result := api.DeployResult{Tenant: "acme", Name: "hello", Version: 3, Size: 8, Host: "hello.acme.wedge.localhost"}
	module := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(module)
	result.SHA256 = hex.EncodeToString(sum[:])
	res, _ := json.Marshal(result)
	f, env := newFakeAPI(t, map[string]answer{"PUT /v1/tenants/acme/workers/hello": {201, string(res)}})

	wasm := filepath.Join(t.TempDir(), "w.wasm")
	os.WriteFile(wasm, module, 0o644)
	code, out, errOut := run(t, env, []string{"deploy", wasm, "--name", "hello"})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"deployed hello version 3", result.SHA256, "8 B (8 bytes)", "http://hello.acme.wedge.localhost/"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr: %s", errOut)
	}
	parts := multipartParts(t, f.requests()[0])
	if got := parts["module"]; got.contentType != "application/wasm" || string(got.data) != string(module) {
		t.Errorf("module part: %+v", got)
	}
	var settings api.WorkerSettings
	if got := parts["metadata"]; got.contentType != "application/json" || json.Unmarshal(got.data, &settings) != nil {
		t.Errorf("metadata part: %+v", got)
	}

	// --json: the API's answer and the worker's URL.
	code, out, _ = run(t, env, []string{"deploy", "--json", wasm, "--name", "hello"})
	var got struct {
		api.DeployResult
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != ExitOK || err != nil || got.DeployResult != result || got.URL != "http://hello.acme.wedge.localhost/" {
		t.Errorf("--json: exit %d, %q (%v)", code, out, err)
	}
}

func TestDeployProjectSendsSettings(t *testing.T) {
	f, env := newFakeAPI(t, map[string]answer{"PUT /v1/tenants/acme/workers/shop": {201, `{"version":1,"sha256":"x"}`}})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`name = "shop"
main = "dist/shop.wasm"
[vars]
GREETING = "hi"
[limits]
cpu_ms = 20
[[kv_namespaces]]
binding = "CARTS"
[[routes]]
pattern = "shop.example.com/*"
`), 0o644)
	os.MkdirAll(filepath.Join(dir, "dist"), 0o755)
	os.WriteFile(filepath.Join(dir, "dist", "shop.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644)

	code, out, errOut := run(t, env, []string{"deploy", dir})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "deployed shop version 1") || strings.Contains(out, "url") {
		t.Errorf("output:\n%s", out)
	}
	if !strings.Contains(errOut, "warning: the API stored sha256 x") {
		t.Errorf("no warning about the sha256 mismatch: %q", errOut)
	}
	var got api.WorkerSettings
	if err := json.Unmarshal(multipartParts(t, f.requests()[0])["metadata"].data, &got); err != nil {
		t.Fatal(err)
	}
	want := api.WorkerSettings{
		Vars:         map[string]string{"GREETING": "hi"},
		Limits:       api.Limits{CPUMillis: 20},
		Routes:       []api.Route{{Pattern: "shop.example.com/*"}},
		KVNamespaces: []api.KVBinding{{Binding: "CARTS"}},
	}
	if a, b := mustJSON(t, got), mustJSON(t, want); a != b {
		t.Errorf("metadata %s, want %s", a, b)
	}
}

type part struct {
	contentType string
	data        []byte
}

func multipartParts(t *testing.T, r recorded) map[string]part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.contentType)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type %q", r.contentType)
	}
	parts := map[string]part{}
	mr := multipart.NewReader(strings.NewReader(string(r.body)), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		parts[p.FormName()] = part{p.Header.Get("Content-Type"), data}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVersions(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	versions := []api.Version{
		{Number: 1, SHA256: strings.Repeat("a", 64), Size: 1500, Created: created},
		{Number: 3, SHA256: strings.Repeat("c", 64), Size: 2_500_000, Created: created.Add(2 * time.Hour)},
		{Number: 2, SHA256: strings.Repeat("b", 64), Size: 999, Created: created.Add(time.Hour)},
	}
	vs, _ := json.Marshal(versions)
	_, env := newFakeAPI(t, map[string]answer{
		"GET /v1/tenants/acme/workers/hello/versions": {200, string(vs)},
		"GET /v1/tenants/acme/workers/hello":          {200, `{"tenant":"acme","name":"hello","active_version":2,"versions":3}`},
	})
	code, out, errOut := run(t, env, []string{"versions", "hello"})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `  VERSION  SHA256        SIZE    CREATED
  3        cccccccccccc  2.5 MB  2026-01-02 05:04:05 UTC
* 2        bbbbbbbbbbbb  999 B   2026-01-02 04:04:05 UTC
  1        aaaaaaaaaaaa  1.5 kB  2026-01-02 03:04:05 UTC
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	code, out, _ = run(t, env, []string{"versions", "hello", "--json"})
	if code != ExitOK || out != string(vs)+"\n" {
		t.Errorf("--json: exit %d, %q", code, out)
	}
}

func TestRollback(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		answer   string
		wantBody string
		wantOut  string
	}{
		{"previous", []string{"rollback", "hello"}, `{"name":"hello","active_version":4}`, `{}`, "hello: version 4 is active\n"},
		{"explicit", []string{"rollback", "--version", "2", "hello"}, `{"version":2,"sha256":"x"}`, `{"version":2}`, "hello: version 2 is active\n"},
		{"json", []string{"rollback", "hello", "--json"}, `{"active_version":4}`, `{}`, `{"active_version":4}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, env := newFakeAPI(t, map[string]answer{"POST /v1/tenants/acme/workers/hello/rollback": {200, tt.answer}})
			code, out, errOut := run(t, env, tt.args)
			if code != ExitOK || out != tt.wantOut {
				t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, tt.wantOut)
			}
			if body := string(f.requests()[0].body); body != tt.wantBody {
				t.Errorf("request body %s, want %s", body, tt.wantBody)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		answer answer
		want   []string // in stderr
	}{
		{"api error", "tok", answer{404, `{"error":{"code":"not-found","message":"worker hello not found"}}`},
			[]string{"error: worker hello not found (not-found, HTTP 404)\n", "wedge deploy"}},
		{"not json", "tok", answer{502, "upstream down"},
			[]string{"error: HTTP 502 Bad Gateway: upstream down\n"}},
		{"no token", "", answer{401, `{"error":{"code":"unauthorized","message":"missing token"}}`},
			[]string{"error: missing token (unauthorized, HTTP 401)\n", "No token: run `wedge login` (or set WEDGE_TOKEN)"}},
		{"bad token", "nope", answer{401, `{"error":{"code":"unauthorized","message":"bad token"}}`},
			[]string{"The API does not accept the token: `wedge whoami`"}},
		{"wrong json", "tok", answer{200, `<html>`},
			[]string{"is not the JSON the CLI expects"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := newFakeAPI(t, map[string]answer{"GET /v1/tenants/acme/workers/hello/versions": tt.answer})
			env.Token = tt.token
			code, out, errOut := run(t, env, []string{"versions", "hello"})
			if code != ExitFailed || out != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, ExitFailed)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr:\n%s\nwant %q", errOut, w)
				}
			}
		})
	}
}

func TestTenantCreateForbidden(t *testing.T) {
	_, env := newFakeAPI(t, map[string]answer{"POST /v1/tenants": {403, `{"error":{"code":"forbidden","message":"operator only"}}`}})
	code, _, errOut := run(t, env, []string{"tenant", "create", "acme"})
	if code != ExitFailed || !strings.Contains(errOut, "error: operator only (forbidden, HTTP 403)") || !strings.Contains(errOut, "operator token") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}

func TestUnreachableAPI(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close() // nothing listens there now

	code, _, errOut := run(t, Env{API: addr, Tenant: "acme"}, []string{"versions", "hello"})
	if code != ExitFailed {
		t.Errorf("exit %d, want %d", code, ExitFailed)
	}
	for _, want := range []string{"error: cannot reach the Wedge API at " + addr + ": ", "is `wedge serve` running? (WEDGE_API or `wedge login --api URL`"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr:\n%s\nwant %q", errOut, want)
		}
	}
}

func TestWorkerPathEscapes(t *testing.T) {
	if got, want := workerPath("a/b", "c d", "/versions"), "/v1/tenants/a%2Fb/workers/c%20d/versions"; got != want {
		t.Errorf("workerPath = %q, want %q", got, want)
	}
}
