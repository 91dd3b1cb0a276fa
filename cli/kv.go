package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/wedgeworks/wedge/api"
)

var kvUsage = usage{
	line: "wedge kv put|get|delete|list NS [KEY] [VALUE] [--tenant T]",
	text: `
KV reads and writes the tenant's KV namespaces, the ones workers open with
wedge.KV("NS") once wedge.toml binds them ([[kv_namespaces]] binding = "NS").
A namespace exists as soon as it holds a key. Subcommands:

  put NS KEY [VALUE]    set KEY to VALUE, or to --file PATH, or to stdin
  get NS KEY            print KEY's value, exactly, to stdout
  delete NS KEY         delete KEY
  list NS [--prefix P]  list the keys, sorted, one a line

Keys are up to 512 bytes of UTF-8 and may hold '/'; values up to 25 MiB of
any bytes. Put -- before a key or value that starts with '-'.

Run 'wedge kv put -h' (get, delete, list) for a subcommand's details.`,
}

func runKV(ctx context.Context, env Env, args []string) int {
	return dispatch(ctx, env, args, "kv", kvUsage, []subcommand{
		{"put", runKVPut},
		{"get", runKVGet},
		{"delete", runKVDelete},
		{"list", runKVList},
	})
}

var kvPutUsage = usage{
	line:    "wedge kv put NS KEY [VALUE] [--file PATH] [--tenant T]",
	missing: "missing the namespace and the key: wedge kv put NS KEY [VALUE]",
	text: `
Put sets KEY in namespace NS to VALUE; or to the content of --file PATH; or,
with neither, to what stdin holds, byte for byte (no newline is dropped).
A value is at most 25 MiB.

  wedge kv put COUNTS visits 0
  wedge kv put ASSETS logo.png --file ./logo.png
  curl -s https://example.com/data.json | wedge kv put DATA latest`,
}

func runKVPut(ctx context.Context, env Env, args []string) int {
	flags := newFlags("kv put")
	file := flags.String("file", "", "read the value from `PATH`")
	tenant := tenantFlag(flags, env)
	pos, code, stop := parse(env, flags, kvPutUsage, args, 2, 3)
	if stop {
		return code
	}
	ns, key := pos[0], pos[1]
	if code, ok := checkKV(env, flags, kvPutUsage, ns, key); !ok {
		return code
	}
	if len(pos) == 3 && *file != "" {
		return usageError(env, flags, kvPutUsage, "give the value or --file, not both")
	}
	if code, ok := checkTenant(env, flags, kvPutUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, kvPutUsage, "%v", err)
	}

	var value []byte
	switch {
	case len(pos) == 3:
		value = []byte(pos[2])
	case *file != "":
		if value, err = readFileValue(*file); err != nil {
			return fail(env, err)
		}
	default:
		if _, ok := terminal(env.Stdin); ok {
			return usageError(env, flags, kvPutUsage, "no value: give it after the key, with --file PATH, or on stdin (a pipe or a file, not the terminal)")
		}
		if value, err = io.ReadAll(io.LimitReader(env.Stdin, api.MaxKVValueBytes+1)); err != nil {
			return fail(env, fmt.Errorf("read the value from stdin: %w", err))
		}
	}
	if len(value) > api.MaxKVValueBytes {
		return fail(env, fmt.Errorf("the value is larger than the limit of %d bytes (25 MiB); nothing was stored", api.MaxKVValueBytes))
	}
	if _, err := c.do(ctx, http.MethodPut, kvPath(*tenant, ns, key), "application/octet-stream", value); err != nil {
		return fail(env, kvHint(err, *tenant, ns))
	}
	fmt.Fprintf(env.Stdout, "stored %s in %s (%s)\n", key, ns, formatSize(int64(len(value))))
	return ExitOK
}

// readFileValue reads a KV value from a file, refusing one over the limit
// before reading it.
func readFileValue(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > api.MaxKVValueBytes {
		return nil, fmt.Errorf("%s is %d bytes, larger than the limit of %d (25 MiB) for a value", path, fi.Size(), api.MaxKVValueBytes)
	}
	value, err := io.ReadAll(io.LimitReader(f, api.MaxKVValueBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return value, nil
}

var kvGetUsage = usage{
	line:    "wedge kv get NS KEY [--tenant T]",
	missing: "missing the namespace and the key: wedge kv get NS KEY",
	text: `
Get prints the value of KEY in namespace NS to stdout exactly as stored,
with no newline added. It fails (exit status 1) when there is no such key.`,
}

func runKVGet(ctx context.Context, env Env, args []string) int {
	flags := newFlags("kv get")
	tenant := tenantFlag(flags, env)
	pos, code, stop := parse(env, flags, kvGetUsage, args, 2, 2)
	if stop {
		return code
	}
	ns, key := pos[0], pos[1]
	if code, ok := checkKV(env, flags, kvGetUsage, ns, key); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, kvGetUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, kvGetUsage, "%v", err)
	}
	value, err := c.do(ctx, http.MethodGet, kvPath(*tenant, ns, key), "", nil)
	if err != nil {
		return fail(env, kvHint(err, *tenant, ns))
	}
	if _, err := env.Stdout.Write(value); err != nil {
		return fail(env, err)
	}
	return ExitOK
}

var kvDeleteUsage = usage{
	line:    "wedge kv delete NS KEY [--tenant T]",
	missing: "missing the namespace and the key: wedge kv delete NS KEY",
	text: `
Delete deletes KEY from namespace NS. It fails (exit status 1) when there is
no such key.`,
}

func runKVDelete(ctx context.Context, env Env, args []string) int {
	flags := newFlags("kv delete")
	tenant := tenantFlag(flags, env)
	pos, code, stop := parse(env, flags, kvDeleteUsage, args, 2, 2)
	if stop {
		return code
	}
	ns, key := pos[0], pos[1]
	if code, ok := checkKV(env, flags, kvDeleteUsage, ns, key); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, kvDeleteUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, kvDeleteUsage, "%v", err)
	}
	if _, err := c.do(ctx, http.MethodDelete, kvPath(*tenant, ns, key), "", nil); err != nil {
		return fail(env, kvHint(err, *tenant, ns))
	}
	fmt.Fprintf(env.Stdout, "deleted %s from %s\n", key, ns)
	return ExitOK
}

var kvListUsage = usage{
	line:    "wedge kv list NS [--prefix P] [--tenant T] [--json]",
	missing: "missing the namespace: wedge kv list NS",
	text: `
List prints the keys of namespace NS that start with --prefix, sorted by
their bytes, one a line; all of them, however many pages the API answers
in. --json prints them as the API does, {"keys": [...]}, all in one list:
the way to read keys that hold a newline.`,
}

func runKVList(ctx context.Context, env Env, args []string) int {
	flags := newFlags("kv list")
	prefix := flags.String("prefix", "", "list only the keys that start with `P`")
	tenant := tenantFlag(flags, env)
	asJSON := flags.Bool("json", false, "print the keys as JSON")
	pos, code, stop := parse(env, flags, kvListUsage, args, 1, 1)
	if stop {
		return code
	}
	ns := pos[0]
	if code, ok := checkNamespace(env, flags, kvListUsage, ns); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, kvListUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, kvListUsage, "%v", err)
	}
	all := api.KVKeys{Keys: []string{}}
	seen := map[string]bool{}
	for cursor := ""; ; {
		q := url.Values{}
		if *prefix != "" {
			q.Set("prefix", *prefix)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		path := "/v1/tenants/" + url.PathEscape(*tenant) + "/kv/" + url.PathEscape(ns)
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		var page api.KVKeys
		if _, err := c.getJSON(ctx, path, &page); err != nil {
			return fail(env, kvHint(err, *tenant, ns))
		}
		all.Keys = append(all.Keys, page.Keys...)
		if page.Cursor == "" {
			break
		}
		if seen[page.Cursor] {
			return fail(env, fmt.Errorf("the API answered the same cursor twice (is WEDGE_API a Wedge admin listener?)"))
		}
		seen[page.Cursor] = true
		cursor = page.Cursor
	}
	if *asJSON {
		out, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return fail(env, err)
		}
		writeRaw(env.Stdout, out)
		return ExitOK
	}
	for _, k := range all.Keys {
		fmt.Fprintln(env.Stdout, k)
	}
	return ExitOK
}

// checkKV returns a usage error's exit code when ns or key is not valid.
func checkKV(env Env, flags *flag.FlagSet, u usage, ns, key string) (int, bool) {
	if code, ok := checkNamespace(env, flags, u, ns); !ok {
		return code, false
	}
	if err := api.CheckKVKey(key); err != nil {
		return usageError(env, flags, u, "invalid key: %v", err), false
	}
	return ExitOK, true
}

func checkNamespace(env Env, flags *flag.FlagSet, u usage, ns string) (int, bool) {
	if !api.ValidKVNamespace(ns) {
		return usageError(env, flags, u, "%q is not a valid KV namespace: use letters, digits and '_', not starting with a digit (at most %d), as the binding in wedge.toml", ns, api.MaxKVNamespaceBytes), false
	}
	return ExitOK, true
}

// kvPath returns the path of a key: every character but the unreserved
// ones escaped, '/' as %2F, so the key arrives exactly as given.
func kvPath(tenant, ns, key string) string {
	return "/v1/tenants/" + url.PathEscape(tenant) + "/kv/" + url.PathEscape(ns) + "/" + url.PathEscape(key)
}

// kvHint adds what to do next to an API error about KV.
func kvHint(err error, tenant, ns string) error {
	e, ok := err.(*apiError)
	if !ok || e.hint != "" {
		return err
	}
	if e.Status == http.StatusNotFound && e.Code == api.CodeNotFound && strings.HasPrefix(e.Message, "key ") {
		e.hint = fmt.Sprintf("`wedge kv list %s` lists the keys of the namespace (of tenant %s).", ns, tenant)
		return err
	}
	return accessHint(err, tenant)
}
