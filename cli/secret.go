package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wedgeworks/wedge/api"
)

// subcommand is one verb of a command with several (secret put, kv get).
type subcommand struct {
	name string
	run  func(ctx context.Context, env Env, args []string) int
}

// dispatch runs the subcommand named by args[0]. The subcommand comes
// first; -h before it shows the command's usage u.
func dispatch(ctx context.Context, env Env, args []string, command string, u usage, subs []subcommand) int {
	flags := newFlags(command)
	var names []string
	for _, s := range subs {
		names = append(names, s.name)
	}
	list := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(args) == 0 {
		return usageError(env, flags, u, "missing subcommand: %s", list)
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(env.Stdout, flags, u)
		return ExitOK
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, env, args[1:])
		}
	}
	if strings.HasPrefix(args[0], "-") {
		return usageError(env, flags, u, "put the subcommand (%s) before the flags", list)
	}
	return usageError(env, flags, u, "unknown subcommand %q: %s has %s", args[0], command, list)
}

var secretUsage = usage{
	line: "wedge secret put|list|delete W [KEY] [--tenant T]",
	text: `
Secret manages a worker's secrets: environment variables the worker reads
with os.Getenv, like its vars, but kept apart from wedge.toml, set one at a
time and never shown again once set. Subcommands:

  put W KEY      set secret KEY of worker W to the value read from stdin
  list W         list the names of W's secrets
  delete W KEY   delete secret KEY of worker W

The worker must be deployed first; deleting it deletes its secrets. A
change applies to the worker's requests within moments, without a deploy.
A secret overrides a var of the same name.

Run 'wedge secret put -h' (list, delete) for a subcommand's details.`,
}

func runSecret(ctx context.Context, env Env, args []string) int {
	return dispatch(ctx, env, args, "secret", secretUsage, []subcommand{
		{"put", runSecretPut},
		{"list", runSecretList},
		{"delete", runSecretDelete},
	})
}

var secretPutUsage = usage{
	line:    "wedge secret put W KEY [--tenant T]",
	missing: "missing the worker's name and the secret's: wedge secret put W KEY",
	text: `
Put sets secret KEY of worker W, replacing any value it had. The value is
read from stdin, never from the command line, where other users and the
shell's history would see it:

  wedge secret put api STRIPE_KEY < stripe-key.txt
  printf %s "$TOKEN" | wedge secret put api TOKEN

One trailing newline is dropped. From a terminal, the value is typed after
a prompt, without echo, and ends with Enter. KEY is an environment
variable's name (letters, digits and '_', not starting with a digit); the
value may be up to 64 KiB of any bytes but NUL.`,
}

func runSecretPut(ctx context.Context, env Env, args []string) int {
	flags := newFlags("secret put")
	tenant := tenantFlag(flags, env)
	pos, code, stop := parse(env, flags, secretPutUsage, args, 2, 2)
	if stop {
		return code
	}
	worker, key := pos[0], pos[1]
	if code, ok := checkWorker(env, flags, secretPutUsage, worker); !ok {
		return code
	}
	if code, ok := checkSecretName(env, flags, secretPutUsage, key); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, secretPutUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, secretPutUsage, "%v", err)
	}
	value, err := readSecret(ctx, env, fmt.Sprintf("Value of secret %s of %s (input hidden): ", key, worker))
	if err != nil {
		return fail(env, err)
	}
	if err := api.CheckSecretValue(value); err != nil {
		return fail(env, fmt.Errorf("secret %s: %v; nothing was set", key, err))
	}
	if _, err := c.do(ctx, http.MethodPut, secretPath(*tenant, worker, key), "application/octet-stream", value); err != nil {
		return fail(env, secretHint(err, *tenant, worker))
	}
	fmt.Fprintf(env.Stdout, "secret %s of %s is set\n", key, worker)
	return ExitOK
}

// readSecret reads a secret's value from env.Stdin. From a terminal it
// prompts on Stderr and reads one line without echo; from anything else it
// reads everything. Either way it drops one trailing newline ("\n" or
// "\r\n"). It reads at most a byte more than a secret may hold.
func readSecret(ctx context.Context, env Env, prompt string) ([]byte, error) {
	if fd, ok := terminal(env.Stdin); ok {
		fmt.Fprint(env.Stderr, prompt)
		value, err := readHidden(ctx, fd, env.Stdin, api.MaxSecretBytes)
		fmt.Fprintln(env.Stderr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted: nothing was set")
			}
			return nil, fmt.Errorf("read the value from the terminal: %w", err)
		}
		if len(value) == 0 {
			return nil, errors.New("no value typed: nothing was set (to set an empty secret, pipe it: printf '' | wedge secret put W KEY)")
		}
		return value, nil
	}
	value, err := io.ReadAll(io.LimitReader(env.Stdin, api.MaxSecretBytes+3))
	if err != nil {
		return nil, fmt.Errorf("read the value from stdin: %w", err)
	}
	if v, ok := bytes.CutSuffix(value, []byte("\n")); ok {
		value, _ = bytes.CutSuffix(v, []byte("\r"))
	}
	return value, nil
}

var secretListUsage = usage{
	line:    "wedge secret list W [--tenant T] [--json]",
	missing: "missing the worker's name: wedge secret list W",
	text: `
List prints the names of worker W's secrets, one a line, sorted. Their
values are never shown. --json prints the API's answer.`,
}

func runSecretList(ctx context.Context, env Env, args []string) int {
	flags := newFlags("secret list")
	tenant := tenantFlag(flags, env)
	asJSON := flags.Bool("json", false, "print the API's answer as JSON")
	pos, code, stop := parse(env, flags, secretListUsage, args, 1, 1)
	if stop {
		return code
	}
	worker := pos[0]
	if code, ok := checkWorker(env, flags, secretListUsage, worker); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, secretListUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, secretListUsage, "%v", err)
	}
	var secrets []api.Secret
	raw, err := c.getJSON(ctx, workerPath(*tenant, worker, "/secrets"), &secrets)
	if err != nil {
		return fail(env, secretHint(err, *tenant, worker))
	}
	if *asJSON {
		writeRaw(env.Stdout, raw)
		return ExitOK
	}
	if len(secrets) == 0 {
		fmt.Fprintf(env.Stderr, "%s has no secrets: set one with `wedge secret put %s KEY`\n", worker, worker)
		return ExitOK
	}
	for _, s := range secrets {
		fmt.Fprintln(env.Stdout, s.Name)
	}
	return ExitOK
}

var secretDeleteUsage = usage{
	line:    "wedge secret delete W KEY [--tenant T]",
	missing: "missing the worker's name and the secret's: wedge secret delete W KEY",
	text: `
Delete deletes secret KEY of worker W. The worker's requests stop seeing it
within moments.`,
}

func runSecretDelete(ctx context.Context, env Env, args []string) int {
	flags := newFlags("secret delete")
	tenant := tenantFlag(flags, env)
	pos, code, stop := parse(env, flags, secretDeleteUsage, args, 2, 2)
	if stop {
		return code
	}
	worker, key := pos[0], pos[1]
	if code, ok := checkWorker(env, flags, secretDeleteUsage, worker); !ok {
		return code
	}
	if code, ok := checkSecretName(env, flags, secretDeleteUsage, key); !ok {
		return code
	}
	if code, ok := checkTenant(env, flags, secretDeleteUsage, *tenant); !ok {
		return code
	}
	c, err := newClient(env)
	if err != nil {
		return usageError(env, flags, secretDeleteUsage, "%v", err)
	}
	if _, err := c.do(ctx, http.MethodDelete, secretPath(*tenant, worker, key), "", nil); err != nil {
		return fail(env, secretHint(err, *tenant, worker))
	}
	fmt.Fprintf(env.Stdout, "deleted secret %s of %s\n", key, worker)
	return ExitOK
}

// checkSecretName returns a usage error's exit code when key is not a
// valid secret name.
func checkSecretName(env Env, flags *flag.FlagSet, u usage, key string) (int, bool) {
	if !api.ValidEnvName(key) {
		return usageError(env, flags, u, "%q is not a valid secret name: use letters, digits and '_', not starting with a digit (at most %d), as for an environment variable", key, api.MaxEnvNameBytes), false
	}
	return ExitOK, true
}

func secretPath(tenant, worker, key string) string {
	return workerPath(tenant, worker, "/secrets/"+url.PathEscape(key))
}

// secretHint adds what to do next to an API error about a worker's
// secrets.
func secretHint(err error, tenant, worker string) error {
	e, ok := err.(*apiError)
	if !ok || e.hint != "" {
		return err
	}
	switch {
	case e.Status == http.StatusNotFound && strings.HasPrefix(e.Message, "secret "):
		e.hint = fmt.Sprintf("`wedge secret list %s` lists the worker's secrets.", worker)
	case e.Status == http.StatusNotFound:
		e.hint = fmt.Sprintf("Is tenant %q right? Secrets belong to a deployed worker: deploy %q first with `wedge deploy`.", tenant, worker)
	default:
		return accessHint(err, tenant)
	}
	return err
}

// accessHint adds what to do next to a 403.
func accessHint(err error, tenant string) error {
	if e, ok := err.(*apiError); ok && e.hint == "" && e.Status == http.StatusForbidden {
		e.hint = fmt.Sprintf("The token (see `wedge whoami`) does not give access to tenant %q: use that tenant's token or the operator token.", tenant)
	}
	return err
}
