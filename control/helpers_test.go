package control_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/metrics"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/store"
)

// One runtime for the whole test binary: it caches compiled modules by
// SHA-256, so a module is compiled once however many tests deploy it.
var (
	rtOnce   sync.Once
	sharedRT *runtime.Runtime
	rtErr    error
)

func testRuntime(t testing.TB) *runtime.Runtime {
	t.Helper()
	rtOnce.Do(func() {
		sharedRT, rtErr = runtime.New(context.Background(), runtime.Config{
			HostModules: []runtime.HostModule{hostapi.Module{}},
		})
	})
	if rtErr != nil {
		t.Fatalf("runtime.New: %v", rtErr)
	}
	return sharedRT
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedRT != nil {
		sharedRT.Close(context.Background())
	}
	os.Exit(code)
}

// testdata returns the bytes of control/testdata/name.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hostOf(tenant, worker string) string { return worker + "." + tenant + ".wedge.localhost" }

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// env is a control-plane server over a real bbolt store and the shared
// runtime.
type env struct {
	t       *testing.T
	srv     *httptest.Server
	handler *control.Server
	store   *store.Bolt
	dbPath  string
	opToken string
}

// newEnv starts a server; edit, if not nil, may change its Config.
func newEnv(t *testing.T, edit func(*control.Config)) *env {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "wedge.db")
	st, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnvStore(t, st, edit)
	e.store, e.dbPath = st, dbPath
	return e
}

// newEnvStore starts a server on st; edit, if not nil, may change its
// Config. The env's store and dbPath are left unset.
func newEnvStore(t *testing.T, st store.Store, edit func(*control.Config)) *env {
	t.Helper()
	op := control.NewOperatorToken()
	cfg := control.Config{
		Store:             st,
		Runtime:           testRuntime(t),
		OperatorTokenHash: control.HashToken(op),
		Host:              hostOf,
		Metrics:           metrics.New(),
		Logger:            slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, handler: h, opToken: op}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return http.StatusText(r.status) + ": " + string(r.body)
}

// request sends a request with the bearer token (none if empty) and
// content type (none if empty).
func (e *env) request(method, path, token, contentType string, body []byte) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// createTenant creates a tenant with the operator token and returns its token.
func (e *env) createTenant(name string) string {
	e.t.Helper()
	r := e.request("POST", "/v1/tenants", e.opToken, "application/json", []byte(`{"name":"`+name+`"}`))
	if r.status != http.StatusCreated {
		e.t.Fatalf("create tenant %s: %v", name, r)
	}
	var out api.Tenant
	decode(e.t, r, &out)
	return out.Token
}

// deploy uploads module as application/wasm and expects 201.
func (e *env) deploy(tenant, worker, token string, module []byte) api.DeployResult {
	e.t.Helper()
	r := e.request("PUT", "/v1/tenants/"+tenant+"/workers/"+worker, token, "application/wasm", module)
	if r.status != http.StatusCreated {
		e.t.Fatalf("deploy %s/%s: %v", tenant, worker, r)
	}
	var out api.DeployResult
	decode(e.t, r, &out)
	return out
}

// getWorker returns GET …/workers/{w} with the operator token, expecting 200.
func (e *env) getWorker(tenant, worker string) api.Worker {
	e.t.Helper()
	r := e.request("GET", "/v1/tenants/"+tenant+"/workers/"+worker, e.opToken, "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("get worker %s/%s: %v", tenant, worker, r)
	}
	var out api.Worker
	decode(e.t, r, &out)
	return out
}

// decode decodes a JSON response strictly.
func decode(t testing.TB, r response, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
}

// checkError checks that r is a JSON API error with status and code, whose
// message contains every string of msgHas, and returns the message.
func checkError(t testing.TB, r response, status int, code api.Code, msgHas ...string) string {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	msg, err := errorBody(r.header, r.body)
	if err != nil {
		t.Errorf("error body: %v", err)
		return ""
	}
	if got := api.Code(msg["code"]); got != code {
		t.Errorf("error code = %q, want %q (message %q)", got, code, msg["message"])
	}
	for _, s := range msgHas {
		if !strings.Contains(msg["message"], s) {
			t.Errorf("error message %q does not mention %q", msg["message"], s)
		}
	}
	return msg["message"]
}

// errorBody checks the shape of an API error, {"error":{"code","message"}}
// with nothing else and both strings set, and returns the inner object.
func errorBody(h http.Header, body []byte) (map[string]string, error) {
	if ct := h.Get("Content-Type"); ct != "application/json" {
		return nil, &shapeError{"Content-Type " + ct + ", want application/json"}
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		return nil, err
	}
	if len(outer) != 1 || outer["error"] == nil {
		return nil, &shapeError{"want exactly one key \"error\" in " + string(body)}
	}
	var inner map[string]string
	if err := json.Unmarshal(outer["error"], &inner); err != nil {
		return nil, err
	}
	if len(inner) != 2 || inner["code"] == "" || inner["message"] == "" {
		return nil, &shapeError{"want exactly a non-empty code and message in " + string(body)}
	}
	return inner, nil
}

type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }

// part is one part of a multipart upload.
type part struct {
	name, contentType string
	body              []byte
}

// multipartBody encodes parts as multipart/form-data and returns the body
// and its content type.
func multipartBody(t testing.TB, parts ...part) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", `form-data; name="`+p.name+`"; filename="`+p.name+`"`)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.body)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}
