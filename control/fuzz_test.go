package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/store"
)

// fuzzServer is a control plane over a fresh store and the shared runtime,
// with tenant "acme". It returns the handler, the store, the operator token
// and acme's token.
func fuzzServer(f *testing.F) (*control.Server, *store.Bolt, string, string) {
	f.Helper()
	st, err := store.Open(filepath.Join(f.TempDir(), "wedge.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	op := control.NewOperatorToken()
	h, err := control.New(control.Config{
		Store:             st,
		Runtime:           testRuntime(f),
		OperatorTokenHash: control.HashToken(op),
		Host:              hostOf,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/tenants", strings.NewReader(`{"name":"acme"}`))
	req.Header.Set("Authorization", "Bearer "+op)
	h.ServeHTTP(rec, req)
	var tn api.Tenant
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &tn) != nil {
		f.Fatalf("create tenant: %d %s", rec.Code, rec.Body)
	}
	return h, st, op, tn.Token
}

// checkAnswer fails unless rec is a success in ok or a well-formed 4xx API
// error.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, ok ...int) {
	t.Helper()
	for _, s := range ok {
		if rec.Code == s {
			return
		}
	}
	if rec.Code < 400 || rec.Code > 499 {
		t.Fatalf("status %d, want one of %v or 4xx: %s", rec.Code, ok, rec.Body)
	}
	if _, err := errorBody(rec.Header(), rec.Body.Bytes()); err != nil {
		t.Fatalf("status %d: malformed error body: %v", rec.Code, err)
	}
}

// Upload modes: how FuzzUpload sends its input.
const (
	modeWasm         = iota // module as an application/wasm body
	modeMultipart           // parts "module" and "metadata"
	modeRawMultipart        // module as a raw multipart body with boundary "B"
	modes
)

// maxUploadAlloc is the most an upload of n bytes may make the control
// plane allocate: a fixed allowance for compiling, plus a multiple of n.
func maxUploadAlloc(n int) uint64 { return 64<<20 + 256*uint64(n) }

func FuzzUpload(f *testing.F) {
	worker := testdata(f, "worker.wasm")
	for _, mod := range [][]byte{
		worker,
		testdata(f, "worker2.wasm"),
		testdata(f, "nohandle.wasm"),
		testdata(f, "command.wasm"),
		testdata(f, "badimport.wasm"),
		testdata(f, "features.wasm"),
		// They claim 2^31 data bytes and 2^31 locals: wazero allocated
		// 2 and 16 GiB for them.
		[]byte("\x00asm\x01\x00\x00\x00\x0b\x0a\x01\x00\x41\x00\x0b\xff\xff\xff\xff\x07"),
		[]byte("\x00asm\x01\x00\x00\x00\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x07\x7f\x0b"),
		worker[:len(worker)/2],
		[]byte("\x00asm\x01\x00\x00\x00"),
		[]byte("garbage, not a module"),
		{},
	} {
		for mode := range uint8(modes) {
			f.Add(mod, `{}`, mode)
		}
	}
	for _, meta := range []string{
		``,
		`{"vars":{"GREETING":"hi"},"limits":{"cpu_ms":10,"memory_mb":16}}`,
		`{"routes":[{"pattern":"a.example.com/*"}],"kv_namespaces":[{"binding":"KV"}]}`,
		`{"limits":{"cpu_ms":-1}}`,
		`{"limits":{"wall_ms":99999999999999999999}}`,
		`{"vars":{"A":"\u0000"}}`,
		`{"nope":1}`,
		`{"vars":`,
	} {
		f.Add(worker, meta, uint8(modeMultipart))
	}
	raw, _ := multipartBody(f, part{name: "metadata", body: []byte(`{"vars":{"A":"b"}}`)}, part{name: "module", body: worker})
	raw = bytes.ReplaceAll(raw, []byte(raw[2:bytes.IndexByte(raw, '\r')]), []byte("B"))
	f.Add(raw, ``, uint8(modeRawMultipart))

	h, st, _, token := fuzzServer(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, module []byte, metadata string, mode uint8) {
		var body []byte
		var ct string
		switch mode % modes {
		case modeWasm:
			body, ct = module, "application/wasm"
		case modeMultipart:
			body, ct = multipartBody(t, part{name: "metadata", body: []byte(metadata)}, part{name: "module", body: module})
		case modeRawMultipart:
			body, ct = module, "multipart/form-data; boundary=B"
		}
		req := httptest.NewRequest("PUT", "/v1/tenants/acme/workers/w", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		// What an upload may make the host allocate is bounded by its size:
		// a few bytes must not claim gigabytes (the runtime checks this before it compiles).
		allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
		metrics.Read(allocs)
		before := allocs[0].Value.Uint64()
		h.ServeHTTP(rec, req)
		metrics.Read(allocs)
		if n := allocs[0].Value.Uint64() - before; n > maxUploadAlloc(len(body)) {
			t.Fatalf("a %d-byte upload allocated %d MiB", len(body), n>>20)
		}
		checkAnswer(t, rec, http.StatusCreated)
		if rec.Code != http.StatusCreated {
			return
		}
		var res api.DeployResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("201 with body %s: %v", rec.Body, err)
		}
		if mode%modes != modeRawMultipart && (res.SHA256 != sha(module) || res.Size != int64(len(module))) {
			t.Fatalf("201 for %d bytes with sha256 %s: answer %+v", len(module), sha(module), res)
		}
		// Keep the worker's record and the runtime's cache small.
		if res.Version%32 == 0 {
			if err := st.DeleteWorker(ctx, "acme", "w"); err != nil {
				t.Fatal(err)
			}
			testRuntime(t).Prune(ctx, 0)
		}
	})
}

func FuzzCreateTenant(f *testing.F) {
	for _, s := range []string{
		`{"name":"acme"}`, `{"name":"beta"}`, `{"name":"a-1"}`, `{"name":"Acme"}`, `{"name":""}`,
		`{}`, `null`, `[]`, `{"name":"x","extra":true}`, `{"name":"x"} {}`, `{"name":"\u00e9"}`,
		`{"name":"` + strings.Repeat("a", 64) + `"}`, ``, `{`, `"acme"`,
	} {
		f.Add([]byte(s))
	}
	h, st, op, _ := fuzzServer(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/tenants", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+op)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, http.StatusCreated)
		switch rec.Code {
		case http.StatusCreated:
			var tn api.Tenant
			if err := json.Unmarshal(rec.Body.Bytes(), &tn); err != nil {
				t.Fatalf("201 with body %s: %v", rec.Body, err)
			}
			if !api.ValidName(tn.Name) || !strings.HasPrefix(tn.Token, "wt_"+tn.Name+".") {
				t.Fatalf("201 for an invalid name or token: %+v", tn)
			}
			stored, err := st.Tenant(ctx, tn.Name)
			if err != nil || !bytes.Equal(stored.TokenHash, control.HashToken(tn.Token)) {
				t.Fatalf("stored tenant %+v, %v", stored, err)
			}
		case http.StatusBadRequest, http.StatusConflict:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzAuthorization: no Authorization header but the right token gets in.
func FuzzAuthorization(f *testing.F) {
	h, _, op, acme := fuzzServer(f)
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer " + op, "bearer " + op, "Bearer " + acme, "Bearer  " + acme,
		"Bearer wt_", "Bearer wt_acme", "Bearer wt_acme.", "Bearer wt_.x", "Bearer wo_", "Basic " + op,
		"Bearer " + op + " ", "Bearer " + acme[:len(acme)-1],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		req := httptest.NewRequest("GET", "/v1/tenants/acme/workers", nil)
		req.Header["Authorization"] = []string{auth}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, http.StatusOK)
		if rec.Code == http.StatusOK && !strings.HasSuffix(auth, " "+op) && !strings.HasSuffix(auth, " "+acme) {
			t.Fatalf("Authorization %q was let in", auth)
		}
		if rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: status %d", auth, rec.Code)
		}
	})
}
