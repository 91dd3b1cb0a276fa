package cli

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// runIn runs a command line with stdin.
func runIn(t *testing.T, env Env, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env.Stdin = strings.NewReader(stdin)
	return run(t, env, args)
}

func TestSecretCommands(t *testing.T) {
	live := newLiveAPI(t)
	env := live.env
	ctx := context.Background()
	secrets := func() map[string]string {
		t.Helper()
		m, err := live.store.Secrets(ctx, "acme", "hello")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// An empty list says so on stderr and prints nothing.
	code, out, errOut := run(t, env, []string{"secret", "list", "hello"})
	if code != ExitOK || out != "" || !strings.Contains(errOut, "hello has no secrets: set one with `wedge secret put hello KEY`") {
		t.Errorf("empty list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	for _, tt := range []struct {
		name, key, stdin, want string
	}{
		{"newline dropped", "TOKEN", "s3cret-token\n", "s3cret-token"},
		{"CRLF dropped", "CRLF", "crlf-value\r\n", "crlf-value"},
		{"only one newline dropped", "TWO", "two\n\n", "two\n"},
		{"no newline", "RAW", "raw-value", "raw-value"},
		{"multi-line", "PEM", "-----BEGIN-----\nabc\n-----END-----\n", "-----BEGIN-----\nabc\n-----END-----"},
		{"empty", "EMPTY", "", ""},
		{"largest", "BIG", strings.Repeat("b", api.MaxSecretBytes) + "\n", strings.Repeat("b", api.MaxSecretBytes)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runIn(t, env, tt.stdin, "secret", "put", "hello", tt.key)
			if code != ExitOK || out != "secret "+tt.key+" of hello is set\n" || errOut != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if got := secrets()[tt.key]; got != tt.want {
				t.Errorf("stored %.40q, want %.40q", got, tt.want)
			}
		})
	}

	t.Run("refused values", func(t *testing.T) {
		before := secrets()
		for _, tt := range []struct{ name, stdin, want string }{
			{"NUL", "bad\x00value", "NUL byte"},
			{"too long", strings.Repeat("b", api.MaxSecretBytes+1), "64 KiB"},
			{"too long with a newline", strings.Repeat("b", api.MaxSecretBytes+1) + "\r\n", "64 KiB"},
		} {
			code, out, errOut := runIn(t, env, tt.stdin, "secret", "put", "hello", "TOKEN")
			if code != ExitFailed || out != "" || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "nothing was set") {
				t.Errorf("%s: exit %d, stdout %q, stderr %q", tt.name, code, out, errOut)
			}
			if strings.Contains(errOut, "bad") {
				t.Errorf("%s: stderr shows the value: %q", tt.name, errOut)
			}
		}
		if after := secrets(); !maps.Equal(after, before) {
			t.Error("a refused value changed the secrets")
		}
	})

	t.Run("list", func(t *testing.T) {
		code, out, errOut := run(t, env, []string{"secret", "list", "hello"})
		if want := "BIG\nCRLF\nEMPTY\nPEM\nRAW\nTOKEN\nTWO\n"; code != ExitOK || out != want || errOut != "" {
			t.Errorf("exit %d, stdout %q (want %q), stderr %q", code, out, want, errOut)
		}
		code, out, _ = run(t, env, []string{"secret", "list", "--json", "hello"})
		var list []api.Secret
		if code != ExitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 7 || list[0].Name != "BIG" {
			t.Errorf("--json: exit %d, %q", code, out)
		}
		if strings.Contains(out, "s3cret") {
			t.Error("the list shows a value")
		}
	})

	t.Run("delete", func(t *testing.T) {
		code, out, errOut := run(t, env, []string{"secret", "delete", "hello", "TWO"})
		if code != ExitOK || out != "deleted secret TWO of hello\n" || errOut != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if _, ok := secrets()["TWO"]; ok {
			t.Error("the secret is still stored")
		}
		code, out, errOut = run(t, env, []string{"secret", "delete", "hello", "TWO"})
		if code != ExitFailed || out != "" || !strings.Contains(errOut, "secret TWO of worker hello not found (not-found, HTTP 404)") ||
			!strings.Contains(errOut, "`wedge secret list hello`") {
			t.Errorf("again: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("unknown worker", func(t *testing.T) {
		for _, args := range [][]string{{"secret", "put", "nope", "K"}, {"secret", "list", "nope"}, {"secret", "delete", "nope", "K"}} {
			code, out, errOut := runIn(t, env, "v", args...)
			if code != ExitFailed || out != "" || !strings.Contains(errOut, "worker nope not found") || !strings.Contains(errOut, `deploy "nope" first`) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	})

	t.Run("tokens and tenants", func(t *testing.T) {
		// Another tenant's token: refused, with a hint.
		code, out, errOut := run(t, Env{API: env.API, Token: live.opToken}, []string{"tenant", "create", "beta", "--json"})
		var beta api.Tenant
		if code != ExitOK || json.Unmarshal([]byte(out), &beta) != nil {
			t.Fatalf("tenant create beta: %d %s", code, errOut)
		}
		other := env
		other.Token = beta.Token
		code, out, errOut = runIn(t, other, "evil", "secret", "put", "hello", "TOKEN")
		if code != ExitFailed || out != "" || !strings.Contains(errOut, "HTTP 403") || !strings.Contains(errOut, `The token (see `+"`wedge whoami`"+`) does not give access to tenant "acme"`) {
			t.Errorf("beta's token: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if secrets()["TOKEN"] != "s3cret-token" {
			t.Error("beta's token changed acme's secret")
		}
		// The operator may; --tenant beats WEDGE_TENANT.
		op := Env{API: env.API, Token: live.opToken, Tenant: "beta"}
		if code, _, errOut := runIn(t, op, "by the operator", "secret", "put", "hello", "OP", "--tenant", "acme"); code != ExitOK {
			t.Errorf("operator: exit %d: %s", code, errOut)
		}
		if secrets()["OP"] != "by the operator" {
			t.Error("the operator's secret is not stored")
		}
	})

	// Deleting the worker deletes its secrets.
	if err := live.store.DeleteWorker(ctx, "acme", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := live.store.Secrets(ctx, "acme", "hello"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("secrets of a deleted worker: %v", err)
	}
}
