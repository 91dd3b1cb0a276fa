package control_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/store"
)

// secretNames returns GET …/secrets as names, expecting 200.
func (e *env) secretNames(tenant, worker, token string) []string {
	e.t.Helper()
	r := e.request("GET", "/v1/tenants/"+tenant+"/workers/"+worker+"/secrets", token, "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("list secrets of %s/%s: %v", tenant, worker, r)
	}
	var list []api.Secret
	decode(e.t, r, &list)
	names := []string{}
	for _, s := range list {
		names = append(names, s.Name)
	}
	return names
}

// putSecret sets a secret through the API, expecting 204.
func (e *env) putSecret(tenant, worker, token, key, value string) {
	e.t.Helper()
	r := e.request("PUT", "/v1/tenants/"+tenant+"/workers/"+worker+"/secrets/"+key, token, "", []byte(value))
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		e.t.Fatalf("put secret %s of %s/%s: %v", key, tenant, worker, r)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token := e.createTenant("acme")
	e.createTenant("beta")
	ctx := context.Background()
	wasm := testdata(t, "worker.wasm")
	e.deploy("acme", "w", token, wasm)
	e.deploy("acme", "other", token, wasm)
	e.deploy("beta", "w", e.opToken, wasm)
	path := func(worker, key string) string { return "/v1/tenants/acme/workers/" + worker + "/secrets/" + key }
	stored := func(worker string) map[string]string {
		t.Helper()
		m, err := e.store.Secrets(ctx, "acme", worker)
		if err != nil {
			t.Fatalf("store.Secrets(acme/%s): %v", worker, err)
		}
		return m
	}

	// A worker without secrets lists none, as [] rather than null.
	r := e.request("GET", "/v1/tenants/acme/workers/w/secrets", token, "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty list: %v", r)
	}

	events := e.store.Watch(t.Context())
	e.putSecret("acme", "w", token, "TOKEN", "s3cret-value")
	awaitWorkerEvent(t, events, "acme", "w", "PUT secret")
	max := strings.Repeat("x", api.MaxSecretBytes)
	for _, s := range []struct{ key, value string }{
		{"EMPTY", ""},
		{"MULTILINE", "line one\nline two\n"}, // the API keeps every byte
		{"MAX", max},
		{"_lower_1", "é\t\x01\xff"},
	} {
		e.putSecret("acme", "w", token, s.key, s.value)
	}
	// A name percent-encoded needlessly is the same name.
	e.putSecret("acme", "w", token, "%5FENC%4FDED", "enc")
	want := map[string]string{"TOKEN": "s3cret-value", "EMPTY": "", "MULTILINE": "line one\nline two\n", "MAX": max, "_lower_1": "é\t\x01\xff", "_ENCODED": "enc"}
	if got := stored("w"); !maps.Equal(got, want) {
		t.Errorf("stored secrets = %d of them, want %d: %q", len(got), len(want), keys(got))
	}
	if got, want := e.secretNames("acme", "w", token), []string{"EMPTY", "MAX", "MULTILINE", "TOKEN", "_ENCODED", "_lower_1"}; !slices.Equal(got, want) {
		t.Errorf("names = %q, want %q", got, want)
	}
	if got := e.secretNames("acme", "other", token); len(got) != 0 {
		t.Errorf("another worker's secrets: %q", got)
	}

	// Put replaces, with an event for the worker.
	e.putSecret("acme", "w", token, "TOKEN", "rotated")
	awaitWorkerEvent(t, events, "acme", "w", "PUT secret again")
	if got := stored("w")["TOKEN"]; got != "rotated" {
		t.Errorf("TOKEN = %q after replacing it", got)
	}

	t.Run("values are never answered", func(t *testing.T) {
		for _, p := range []string{
			"/v1/tenants/acme/workers/w/secrets", "/v1/tenants/acme/workers/w", "/v1/tenants/acme/workers/w/versions",
			"/v1/tenants/acme/workers", "/v1/tenants/acme",
		} {
			r := e.request("GET", p, token, "", nil)
			if r.status != 200 || bytes.Contains(r.body, []byte("rotated")) || bytes.Contains(r.body, []byte("line one")) {
				t.Errorf("GET %s: %v", p, r)
			}
		}
		checkError(t, e.request("GET", path("w", "TOKEN"), token, "", nil), 405, "method-not-allowed")
	})

	t.Run("bad requests", func(t *testing.T) {
		before := stored("w")
		long := strings.Repeat("A", api.MaxEnvNameBytes+1)
		for _, c := range []struct {
			name, key string
			value     []byte
			status    int
			code      api.Code
			msg       []string
		}{
			{"digit first", "1A", []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name", "1A"}},
			{"hyphen", "A-B", []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name"}},
			{"dot", "A.B", []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name"}},
			{"space", "A%20B", []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name"}},
			{"equals", "A=B", []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name"}},
			{"NUL in the name", "A%00B", []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name"}},
			{"non-ASCII", "%C3%89", []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name"}},
			{"name too long", long, []byte("v"), 400, api.CodeBadRequest, []string{"invalid secret name", "256"}},
			{"NUL in the value", "TOKEN", []byte("bad\x00value"), 400, api.CodeBadRequest, []string{"NUL"}},
			{"value too large", "TOKEN", []byte(max + "y"), 413, api.CodeBodyTooLarge, []string{"65536", "64 KiB"}},
			{"value far too large", "TOKEN", make([]byte, 5<<20), 413, api.CodeBodyTooLarge, []string{"65536"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.request("PUT", path("w", c.key), token, "", c.value)
				checkError(t, r, c.status, c.code, c.msg...)
			})
		}
		t.Run("chunked, too large", func(t *testing.T) {
			req, _ := http.NewRequest("PUT", e.srv.URL+path("w", "TOKEN"), io.NopCloser(bytes.NewReader(make([]byte, api.MaxSecretBytes+1))))
			req.ContentLength = -1
			req.Header.Set("Authorization", "Bearer "+token)
			checkError(t, e.send(req), 413, api.CodeBodyTooLarge, "64 KiB")
		})
		for _, m := range []string{"PUT", "DELETE"} {
			checkError(t, e.request(m, path("w", "1A"), token, "", nil), 400, api.CodeBadRequest, "invalid secret name")
		}
		if after := stored("w"); !maps.Equal(after, before) {
			t.Errorf("a refused request changed the secrets: %q", keys(after))
		}
	})

	t.Run("unknown worker or tenant", func(t *testing.T) {
		checkError(t, e.request("PUT", path("nope", "TOKEN"), token, "", []byte("v")), 404, api.CodeNotFound, "worker nope", "deploy it")
		checkError(t, e.request("DELETE", path("nope", "TOKEN"), token, "", nil), 404, api.CodeNotFound, "worker nope")
		checkError(t, e.request("GET", "/v1/tenants/acme/workers/nope/secrets", token, "", nil), 404, api.CodeNotFound, "worker nope")
		checkError(t, e.request("PUT", "/v1/tenants/nobody/workers/w/secrets/TOKEN", e.opToken, "", []byte("v")), 404, api.CodeNotFound, "nobody")
		checkError(t, e.request("PUT", "/v1/tenants/acme/workers/W/secrets/TOKEN", token, "", []byte("v")), 400, api.CodeBadRequest, "invalid worker name")
	})

	t.Run("too many secrets", func(t *testing.T) {
		e.deploy("acme", "many", token, wasm)
		for i := range api.MaxSecretsPerWorker {
			if err := e.store.PutSecret(ctx, "acme", "many", fmt.Sprintf("S%d", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		checkError(t, e.request("PUT", path("many", "ONE_MORE"), token, "", []byte("v")), 400, api.CodeBadRequest, "128 secrets", "delete one")
		e.putSecret("acme", "many", token, "S0", "replacing is fine")
	})

	t.Run("delete", func(t *testing.T) {
		r := e.request("DELETE", path("w", "EMPTY"), token, "", nil)
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE: %v", r)
		}
		awaitWorkerEvent(t, events, "acme", "w", "DELETE secret")
		if _, ok := stored("w")["EMPTY"]; ok {
			t.Error("the store still has the deleted secret")
		}
		checkError(t, e.request("DELETE", path("w", "EMPTY"), token, "", nil), 404, api.CodeNotFound, "secret EMPTY of worker w")
		checkError(t, e.request("DELETE", path("other", "TOKEN"), token, "", nil), 404, api.CodeNotFound, "secret TOKEN")
		if got := e.secretNames("acme", "w", token); slices.Contains(got, "EMPTY") || !slices.Contains(got, "TOKEN") {
			t.Errorf("names after delete = %q", got)
		}
	})

	t.Run("deleting the worker deletes its secrets", func(t *testing.T) {
		if r := e.request("DELETE", "/v1/tenants/acme/workers/w", token, "", nil); r.status != 204 {
			t.Fatal(r)
		}
		if _, err := e.store.Secrets(ctx, "acme", "w"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("store.Secrets after deleting the worker: %v", err)
		}
		e.deploy("acme", "w", token, wasm)
		if got := e.secretNames("acme", "w", token); len(got) != 0 {
			t.Errorf("a worker deployed again has secrets %q", got)
		}
	})
}

// TestSecretsNeverLeak sends a secret through every path a request can
// take, and checks that its value is in no answer, log line or metric.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	e := newEnv(t, func(c *control.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	token := e.createTenant("acme")
	e.deploy("acme", "w", token, testdata(t, "worker.wasm"))
	var b [16]byte
	rand.Read(b[:])
	value := "wedge-test-secret-" + hex.EncodeToString(b[:])
	path := "/v1/tenants/acme/workers/w/secrets/"

	var answers []response
	req := func(method, p string, body string) {
		answers = append(answers, e.request(method, p, token, "text/plain", []byte(body)))
	}
	req("PUT", path+"TOKEN", value)
	req("PUT", path+"TOKEN", value+"\x00")                               // refused: NUL
	req("PUT", path+"TOKEN", strings.Repeat(value, 64<<10/len(value)+1)) // refused: too large
	req("PUT", path+"BAD-NAME", value)
	req("PUT", "/v1/tenants/acme/workers/nope/secrets/TOKEN", value)
	req("PUT", path+"OTHER", value)
	req("GET", path[:len(path)-1], "")
	req("DELETE", path+"OTHER", "")
	req("GET", "/v1/tenants/acme/workers/w", "")
	req("GET", "/v1/tenants/acme/workers/w/versions", "")
	answers = append(answers, e.request("GET", "/metrics", "", "", nil))
	// Errors inside the store are logged: make some.
	e.store.Close()
	req("PUT", path+"TOKEN", value)
	req("GET", path[:len(path)-1], "")

	for i, r := range answers {
		if bytes.Contains(r.body, []byte(value)) {
			t.Errorf("answer #%d holds the value: %v", i, r)
		}
		for k, vs := range r.header {
			for _, v := range vs {
				if strings.Contains(v, value) {
					t.Errorf("answer #%d: header %s holds the value", i, k)
				}
			}
		}
	}
	out := logs.String()
	if strings.Contains(out, value) || strings.Contains(out, hex.EncodeToString(b[:])) {
		t.Errorf("the log holds the value:\n%s", out)
	}
	// The log does tell what happened, by name.
	for _, want := range []string{`msg="secret set"`, "secret=TOKEN", `msg="secret deleted"`, "control plane error"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// awaitWorkerEvent waits for an event that covers tenant/worker.
func awaitWorkerEvent(t *testing.T, events <-chan store.Event, tenant, worker, after string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Tenant == "" || ev.Tenant == tenant && (ev.Worker == "" || ev.Worker == worker) {
				return
			}
		case <-timeout:
			t.Fatalf("no store event for %s/%s after %s", tenant, worker, after)
		}
	}
}

func keys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
