package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/control"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/store"
)

// liveAPI is a real control plane on httptest, over a bbolt store, with
// tenant acme (whose token the env carries) and its worker hello.
type liveAPI struct {
	env     Env // WEDGE_API, acme's token, WEDGE_TENANT=acme
	store   *store.Bolt
	opToken string
}

func newLiveAPI(t *testing.T) *liveAPI {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "wedge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Worker commands never compile: a runtime without host modules will
	// do, and the worker is put in the store directly.
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	op := control.NewOperatorToken()
	h, err := control.New(control.Config{
		Store:             st,
		Runtime:           rt,
		OperatorTokenHash: control.HashToken(op),
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	// The tenant, through the CLI itself.
	code, out, errOut := run(t, Env{API: srv.URL, Token: op}, []string{"tenant", "create", "acme", "--json"})
	if code != ExitOK {
		t.Fatalf("tenant create: exit %d: %s", code, errOut)
	}
	var tn api.Tenant
	if err := json.Unmarshal([]byte(out), &tn); err != nil || tn.Token == "" {
		t.Fatalf("tenant create answered %q: %v", out, err)
	}
	if _, err := st.Deploy(ctx, "acme", "hello", []byte("\x00asm\x01\x00\x00\x00"), api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	return &liveAPI{env: Env{API: srv.URL, Token: tn.Token, Tenant: "acme"}, store: st, opToken: op}
}
