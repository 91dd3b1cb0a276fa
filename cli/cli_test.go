package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// run runs the command line args with env (whose Stdout and Stderr it
// replaces) and returns the exit code and what was printed.
func run(t *testing.T, env Env, args []string, extra ...Command) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env.Stdout, env.Stderr = &out, &errOut
	code = Run(context.Background(), args, env, extra...)
	return code, out.String(), errOut.String()
}

func TestHelpListsEveryVerb(t *testing.T) {
	extra := []Command{
		{Name: "serve", Summary: "run the Wedge host", Run: func(context.Context, Env, []string) int { return 0 }},
		{Name: "dev", Summary: "serve a worker locally", Run: func(context.Context, Env, []string) int { return 0 }},
		{Name: "zz-custom", Summary: "something else", Run: func(context.Context, Env, []string) int { return 0 }},
	}
	verbs := []string{"serve", "init", "dev", "build", "deploy", "versions", "rollback", "tail", "secret", "kv", "tenant", "login", "logout", "whoami", "completion", "zz-custom"}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, out, errOut := run(t, Env{}, args, extra...)
		if code != ExitOK || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		// Every verb on its own line, in help order.
		last := -1
		for _, v := range verbs {
			i := strings.Index(out, "\n  "+v+" ")
			if i < 0 {
				t.Errorf("%v: help does not list %q:\n%s", args, v, out)
				continue
			}
			if i < last {
				t.Errorf("%v: %q is out of order:\n%s", args, v, out)
			}
			last = i
		}
	}

	// Like a man page: the environment, the config file, the exit codes
	// and where the documentation is.
	env := Env{ConfigFile: "/home/ada/.config/wedge/config.json"}
	_, out, _ := run(t, env, []string{"help"})
	for _, want := range []string{
		"WEDGE_API", "WEDGE_TOKEN", "WEDGE_TENANT", "/home/ada/.config/wedge/config.json", "written by 'wedge login' (mode 0600)",
		"their flags (--tenant), the environment, the config file",
		"Exit status:\n  0  success\n  1  the operation failed", "\n  2  bad command line",
		"--json prints", "README.md", "docs/abi.md", "wedge help <command>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}

	// Without extras, only what exists is listed.
	_, out, _ = run(t, Env{}, []string{"help"})
	for _, v := range []string{"serve", "dev"} {
		if strings.Contains(out, "\n  "+v+" ") {
			t.Errorf("help lists %q, which is not registered:\n%s", v, out)
		}
	}
	for _, c := range builtins(false) {
		if !strings.Contains(out, "\n  "+c.Name+" ") || !strings.Contains(out, c.Summary) {
			t.Errorf("help does not list %q with its summary", c.Name)
		}
	}
}

func TestNoArgs(t *testing.T) {
	code, out, errOut := run(t, Env{}, nil)
	if code != ExitUsage || out != "" || !strings.Contains(errOut, "\n  deploy ") {
		t.Errorf("no args: exit %d, stdout %q, stderr %q; want 2 and the command list on stderr", code, out, errOut)
	}
}

func TestCommandHelp(t *testing.T) {
	for _, c := range builtins(false) {
		for _, args := range [][]string{{c.Name, "-h"}, {c.Name, "--help"}, {"help", c.Name}} {
			code, out, errOut := run(t, Env{}, args)
			if code != ExitOK || errOut != "" || !strings.HasPrefix(out, "Usage: wedge "+c.Name) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	}
	// Subcommands have their own.
	for _, sub := range []string{"secret put", "secret list", "secret delete", "kv put", "kv get", "kv delete", "kv list", "tenant create", "tenant list"} {
		for _, args := range [][]string{append(strings.Fields(sub), "-h"), append([]string{"help"}, strings.Fields(sub)...)} {
			code, out, errOut := run(t, Env{}, args)
			if code != ExitOK || errOut != "" || !strings.HasPrefix(out, "Usage: wedge "+sub+" ") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	}
}

func TestExtraCommandReplacesBuiltin(t *testing.T) {
	var got []string
	build := Command{Name: "build", Summary: "custom build", Run: func(_ context.Context, _ Env, args []string) int {
		got = args
		return 7
	}}
	code, _, _ := run(t, Env{}, []string{"build", "x"}, build)
	if code != 7 || len(got) != 1 || got[0] != "x" {
		t.Errorf("exit %d, args %q; want the extra command to run", code, got)
	}
	_, out, _ := run(t, Env{}, []string{"help"}, build)
	if strings.Count(out, "\n  build ") != 1 || !strings.Contains(out, "custom build") {
		t.Errorf("help after replacing build:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	withTenant := Env{Tenant: "acme", API: "http://127.0.0.1:1"}
	tests := []struct {
		name string
		env  Env
		args []string
		want string // in stderr
	}{
		{"unknown command", Env{}, []string{"deplyo"}, `unknown command "deplyo" (did you mean "deploy"?)`},
		{"help unknown", Env{}, []string{"help", "nope"}, `unknown command "nope"`},
		{"unknown flag", Env{}, []string{"build", "--bogus"}, "flag provided but not defined: -bogus"},
		{"build too many", Env{}, []string{"build", "a", "b"}, "too many arguments: b"},
		{"init no dir", Env{}, []string{"init"}, "missing the project's directory"},
		{"init bad name", Env{}, []string{"init", t.TempDir(), "--name", "Bad"}, `"Bad" is not a valid worker name`},
		{"init bad dir name", Env{}, []string{"init", t.TempDir() + "/My_Worker"}, "pass --name"},
		{"deploy no tenant", Env{}, []string{"deploy"}, "no tenant: set WEDGE_TENANT, pass --tenant, or run `wedge login --tenant T`"},
		{"deploy bad tenant", Env{}, []string{"deploy", "--tenant", "ACME"}, `"ACME" is not a valid tenant name`},
		{"deploy wasm without name", withTenant, []string{"deploy", "x.wasm"}, "needs --name"},
		{"deploy bad name", withTenant, []string{"deploy", "x.wasm", "--name", "a_b"}, `"a_b" is not a valid worker name`},
		{"deploy two targets", withTenant, []string{"deploy", "a", "b"}, "too many arguments"},
		{"deploy bad api", Env{Tenant: "acme", API: "localhost:8081"}, []string{"deploy", "x.wasm", "--name", "x"}, `WEDGE_API="localhost:8081" is not a URL`},
		{"versions no worker", withTenant, []string{"versions"}, "missing the worker's name"},
		{"versions no tenant", Env{}, []string{"versions", "hello"}, "no tenant"},
		{"versions bad worker", withTenant, []string{"versions", "Hello"}, `"Hello" is not a valid worker name`},
		{"rollback no worker", withTenant, []string{"rollback"}, "missing the worker's name"},
		{"rollback negative", withTenant, []string{"rollback", "hello", "--version", "-1"}, "--version must be a version number"},
		{"rollback not a number", withTenant, []string{"rollback", "hello", "--version", "two"}, "invalid value"},
		{"tenant", Env{}, []string{"tenant"}, "missing subcommand"},
		{"tenant bogus", Env{}, []string{"tenant", "delete", "x"}, `unknown subcommand "delete": tenant has create or list`},
		{"tenant create no name", Env{}, []string{"tenant", "create"}, "missing the tenant's name"},
		{"tenant list extra", Env{}, []string{"tenant", "list", "x"}, "too many arguments: x"},
		{"init bad template", Env{}, []string{"init", "x", "--template", "rust"}, `--template "rust": use go or c`},
		{"completion no shell", Env{}, []string{"completion"}, "missing the shell"},
		{"login argument", Env{}, []string{"login", "wt_acme.x"}, "too many arguments: wt_acme.x"},
		{"whoami bad tenant", Env{}, []string{"whoami", "--tenant", "A_B"}, `"A_B" is not a valid tenant name`},
		{"tenant create bad name", Env{}, []string{"tenant", "create", "-x-"}, "flag provided but not defined"},
		{"tenant create invalid", Env{}, []string{"tenant", "create", "a_b"}, `"a_b" is not a valid tenant name`},
		{"secret", Env{}, []string{"secret"}, "missing subcommand: put, list or delete"},
		{"secret bogus", Env{}, []string{"secret", "get", "w", "K"}, `unknown subcommand "get": secret has put, list or delete`},
		{"secret flag first", withTenant, []string{"secret", "--tenant", "x", "list", "w"}, "put the subcommand (put, list or delete) before the flags"},
		{"secret put no key", withTenant, []string{"secret", "put", "w"}, "missing the worker's name and the secret's"},
		{"secret put value argument", withTenant, []string{"secret", "put", "w", "K", "value"}, "too many arguments: value"},
		{"secret put bad worker", withTenant, []string{"secret", "put", "W", "K"}, `"W" is not a valid worker name`},
		{"secret put bad name", withTenant, []string{"secret", "put", "w", "A-B"}, `"A-B" is not a valid secret name`},
		{"secret put no tenant", Env{}, []string{"secret", "put", "w", "K"}, "no tenant"},
		{"secret list no worker", withTenant, []string{"secret", "list"}, "missing the worker's name"},
		{"secret delete bad name", withTenant, []string{"secret", "delete", "w", "1A"}, `"1A" is not a valid secret name`},
		{"kv", Env{}, []string{"kv"}, "missing subcommand: put, get, delete or list"},
		{"kv bogus", Env{}, []string{"kv", "set", "NS", "k"}, `unknown subcommand "set"`},
		{"kv put no key", withTenant, []string{"kv", "put", "NS"}, "missing the namespace and the key"},
		{"kv put bad namespace", withTenant, []string{"kv", "put", "a-b", "k", "v"}, `"a-b" is not a valid KV namespace`},
		{"kv put key too long", withTenant, []string{"kv", "put", "NS", strings.Repeat("k", 513), "v"}, "invalid key: the key is 513 bytes long, more than the limit of 512"},
		{"kv put value and file", withTenant, []string{"kv", "put", "NS", "k", "v", "--file", "x"}, "give the value or --file, not both"},
		{"kv put too many", withTenant, []string{"kv", "put", "NS", "k", "v", "w"}, "too many arguments: w"},
		{"kv put flag-like value", withTenant, []string{"kv", "put", "NS", "k", "-1"}, "flag provided but not defined: -1"},
		{"kv get no tenant", Env{}, []string{"kv", "get", "NS", "k"}, "no tenant"},
		{"kv get invalid UTF-8", withTenant, []string{"kv", "get", "NS", "a\xffb"}, "not valid UTF-8"},
		{"kv list no namespace", withTenant, []string{"kv", "list"}, "missing the namespace"},
		{"kv list bad namespace", withTenant, []string{"kv", "list", "1NS"}, `"1NS" is not a valid KV namespace`},
		{"kv delete no key", withTenant, []string{"kv", "delete", "NS"}, "missing the namespace and the key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, tt.env, tt.args)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitUsage, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr:\n%s\nwant it to start with \"error: \" and contain %q", errOut, tt.want)
			}
		})
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		name string
	}{
		{[]string{"a", "--name", "x"}, []string{"a"}, "x"},
		{[]string{"--name", "x", "a"}, []string{"a"}, "x"},
		{[]string{"a", "--", "--name"}, []string{"a", "--name"}, ""},
		{[]string{"--", "-a"}, []string{"-a"}, ""},
		{nil, nil, ""},
	}
	for _, tt := range tests {
		flags := newFlags("test")
		name := flags.String("name", "", "")
		pos, _, stop := parse(Env{}.withDefaults(), flags, usage{}, tt.args, 0, 5)
		if stop || strings.Join(pos, ",") != strings.Join(tt.pos, ",") || *name != tt.name {
			t.Errorf("parse(%q) = %q, name %q, stop %v; want %q, %q", tt.args, pos, *name, stop, tt.pos, tt.name)
		}
	}
}

func TestNewEnv(t *testing.T) {
	vars := map[string]string{"WEDGE_API": "http://h:1", "WEDGE_TOKEN": "tok", "WEDGE_TENANT": "acme", "OTHER": "x"}
	env := NewEnv(func(k string) string { return vars[k] }, nil, nil, nil)
	if env.API != "http://h:1" || env.Token != "tok" || env.Tenant != "acme" || env.Getenv("OTHER") != "x" {
		t.Errorf("NewEnv = %+v", env)
	}
	if d := (Env{}).withDefaults(); d.API != DefaultAPI || d.Getenv("X") != "" {
		t.Errorf("zero Env defaults: %+v", d)
	}
}
