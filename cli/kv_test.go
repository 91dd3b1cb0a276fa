package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

func TestKVCommands(t *testing.T) {
	live := newLiveAPI(t)
	env := live.env
	ctx := context.Background()
	stored := func(ns, key string) (string, error) {
		t.Helper()
		v, err := live.store.KVGet(ctx, "acme", ns, key)
		return string(v), err
	}

	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	file := filepath.Join(t.TempDir(), "value.bin")
	if err := os.WriteFile(file, binary, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("put", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			args  []string
			stdin string
			key   string
			want  string
			out   string
		}{
			{"value argument", []string{"COUNTS", "visits", "41"}, "", "visits", "41", "stored visits in COUNTS (2 B)\n"},
			{"replace", []string{"COUNTS", "visits", "42"}, "", "visits", "42", "stored visits in COUNTS (2 B)\n"},
			{"stdin, byte for byte", []string{"COUNTS", "piped"}, "line\r\n\n", "piped", "line\r\n\n", "stored piped in COUNTS (7 B)\n"},
			{"empty stdin", []string{"COUNTS", "empty"}, "", "empty", "", "stored empty in COUNTS (0 B)\n"},
			{"empty argument", []string{"COUNTS", "empty2", ""}, "ignored", "empty2", "", "stored empty2 in COUNTS (0 B)\n"},
			{"file", []string{"COUNTS", "bytes", "--file", file}, "", "bytes", string(binary), "stored bytes in COUNTS (256 B)\n"},
			{"key with slashes", []string{"COUNTS", "users/42/name", "ada"}, "", "users/42/name", "ada", "stored users/42/name in COUNTS (3 B)\n"},
			{"key that needs escaping", []string{"COUNTS", "a b?c#d%e/é🔑", "odd"}, "", "a b?c#d%e/é🔑", "odd", "stored a b?c#d%e/é🔑 in COUNTS (3 B)\n"},
			{"key like a flag", []string{"COUNTS", "--", "-k", "-1"}, "", "-k", "-1", "stored -k in COUNTS (2 B)\n"},
			{"key with a slash first", []string{"COUNTS", "/abs/", "x"}, "", "/abs/", "x", "stored /abs/ in COUNTS (1 B)\n"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, out, errOut := runIn(t, env, tt.stdin, append([]string{"kv", "put"}, tt.args...)...)
				if code != ExitOK || out != tt.out || errOut != "" {
					t.Fatalf("exit %d, stdout %q (want %q), stderr %q", code, out, tt.out, errOut)
				}
				if got, err := stored("COUNTS", tt.key); err != nil || got != tt.want {
					t.Errorf("stored %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	})

	t.Run("get", func(t *testing.T) {
		for key, want := range map[string]string{
			"visits": "42", "bytes": string(binary), "empty": "", "a b?c#d%e/é🔑": "odd", "users/42/name": "ada",
		} {
			code, out, errOut := run(t, env, []string{"kv", "get", "COUNTS", key})
			if code != ExitOK || out != want || errOut != "" {
				t.Errorf("get %q: exit %d, stdout %q (want %q), stderr %q", key, code, out, want, errOut)
			}
		}
		code, out, errOut := run(t, env, []string{"kv", "get", "COUNTS", "--", "-k"})
		if code != ExitOK || out != "-1" {
			t.Errorf("get -k: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		code, out, errOut = run(t, env, []string{"kv", "get", "COUNTS", "absent"})
		if code != ExitFailed || out != "" || !strings.Contains(errOut, "key in KV namespace COUNTS not found (not-found, HTTP 404)") ||
			!strings.Contains(errOut, "`wedge kv list COUNTS`") {
			t.Errorf("absent: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("list", func(t *testing.T) {
		all := []string{"-k", "/abs/", "a b?c#d%e/é🔑", "bytes", "empty", "empty2", "piped", "users/42/name", "visits"}
		code, out, errOut := run(t, env, []string{"kv", "list", "COUNTS"})
		if want := strings.Join(all, "\n") + "\n"; code != ExitOK || out != want || errOut != "" {
			t.Errorf("exit %d, stdout %q (want %q), stderr %q", code, out, want, errOut)
		}
		code, out, _ = run(t, env, []string{"kv", "list", "COUNTS", "--prefix", "e"})
		if code != ExitOK || out != "empty\nempty2\n" {
			t.Errorf("--prefix e: exit %d, %q", code, out)
		}
		code, out, _ = run(t, env, []string{"kv", "list", "COUNTS", "--prefix", "a b?c#d%"})
		if code != ExitOK || out != "a b?c#d%e/é🔑\n" {
			t.Errorf("--prefix with query characters: exit %d, %q", code, out)
		}
		code, out, _ = run(t, env, []string{"kv", "list", "--json", "COUNTS"})
		var got api.KVKeys
		if code != ExitOK || json.Unmarshal([]byte(out), &got) != nil || !slices.Equal(got.Keys, all) || got.Cursor != "" {
			t.Errorf("--json: exit %d, %q", code, out)
		}
		code, out, errOut = run(t, env, []string{"kv", "list", "NOTHING"})
		if code != ExitOK || out != "" || errOut != "" {
			t.Errorf("an empty namespace: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		code, out, _ = run(t, env, []string{"kv", "list", "NOTHING", "--json"})
		if code != ExitOK || strings.Join(strings.Fields(out), "") != `{"keys":[]}` {
			t.Errorf("an empty namespace, --json: exit %d, %q", code, out)
		}
	})

	t.Run("list follows the cursor", func(t *testing.T) {
		var want []string
		for i := range 2345 {
			k := fmt.Sprintf("k/%05d", i)
			want = append(want, k)
			if err := live.store.KVPut(ctx, "acme", "MANY", k, nil); err != nil {
				t.Fatal(err)
			}
		}
		code, out, errOut := run(t, env, []string{"kv", "list", "MANY"})
		if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); code != ExitOK || !slices.Equal(got, want) {
			t.Errorf("exit %d, %d keys listed, want %d; stderr %q", code, len(got), len(want), errOut)
		}
		code, out, _ = run(t, env, []string{"kv", "list", "MANY", "--json", "--prefix", "k/01"})
		var got api.KVKeys
		if code != ExitOK || json.Unmarshal([]byte(out), &got) != nil || len(got.Keys) != 1000 || got.Keys[0] != "k/01000" || got.Cursor != "" {
			t.Errorf("--json --prefix k/01: exit %d, %d keys", code, len(got.Keys))
		}
	})

	t.Run("delete", func(t *testing.T) {
		code, out, errOut := run(t, env, []string{"kv", "delete", "COUNTS", "users/42/name"})
		if code != ExitOK || out != "deleted users/42/name from COUNTS\n" || errOut != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if _, err := stored("COUNTS", "users/42/name"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		code, _, errOut = run(t, env, []string{"kv", "delete", "COUNTS", "users/42/name"})
		if code != ExitFailed || !strings.Contains(errOut, "not found (not-found, HTTP 404)") {
			t.Errorf("again: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("too large", func(t *testing.T) {
		big := filepath.Join(t.TempDir(), "big")
		f, err := os.Create(big)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(api.MaxKVValueBytes + 1) // sparse: nothing is written
		f.Close()
		code, out, errOut := run(t, env, []string{"kv", "put", "COUNTS", "big", "--file", big})
		if code != ExitFailed || out != "" || !strings.Contains(errOut, "larger than the limit of 26214400 (25 MiB)") {
			t.Errorf("--file: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		env := env
		env.Stdin = bytes.NewReader(make([]byte, api.MaxKVValueBytes+1))
		code, _, errOut = run(t, env, []string{"kv", "put", "COUNTS", "big"})
		if code != ExitFailed || !strings.Contains(errOut, "larger than the limit of 26214400 bytes (25 MiB); nothing was stored") {
			t.Errorf("stdin: exit %d, stderr %q", code, errOut)
		}
		if _, err := stored("COUNTS", "big"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a value over the limit was stored: %v", err)
		}
		code, _, errOut = run(t, env, []string{"kv", "put", "COUNTS", "big", "--file", filepath.Join(t.TempDir(), "missing")})
		if code != ExitFailed || !strings.Contains(errOut, "no such file") {
			t.Errorf("missing file: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("tenants", func(t *testing.T) {
		code, out, _ := run(t, Env{API: env.API, Token: live.opToken}, []string{"tenant", "create", "beta", "--json"})
		var beta api.Tenant
		if code != ExitOK || json.Unmarshal([]byte(out), &beta) != nil {
			t.Fatal("tenant create beta")
		}
		// beta's token on acme: refused with a hint.
		other := env
		other.Token = beta.Token
		code, out, errOut := run(t, other, []string{"kv", "get", "COUNTS", "visits"})
		if code != ExitFailed || out != "" || !strings.Contains(errOut, "HTTP 403") || !strings.Contains(errOut, `tenant "acme"`) {
			t.Errorf("beta's token on acme: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		// beta's own namespace of the same name is its own.
		other.Tenant = "beta"
		if code, _, errOut := run(t, other, []string{"kv", "put", "COUNTS", "visits", "beta's"}); code != ExitOK {
			t.Fatalf("beta put: %s", errOut)
		}
		if got, _ := stored("COUNTS", "visits"); got != "42" {
			t.Errorf("acme's value became %q", got)
		}
		code, out, _ = run(t, other, []string{"kv", "list", "COUNTS"})
		if code != ExitOK || out != "visits\n" {
			t.Errorf("beta's list: %q", out)
		}
	})
}
