package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/wedgeworks/wedge/api"
)

// DefaultAPI is the control-plane address used when Env.API is empty.
const DefaultAPI = "http://127.0.0.1:8081"

// Exit codes of Run and of every Command. `wedge help` documents them.
const (
	ExitOK     = 0 // success
	ExitFailed = 1 // the operation failed (API error, build error, no such key, …)
	ExitUsage  = 2 // bad command line or missing configuration
)

// Env is everything a command may learn from its surroundings. cmd/wedge
// fills it (see NewEnv); packages never read the environment themselves.
//
// The zero value is usable: API defaults to DefaultAPI, nil readers read
// nothing and nil writers discard.
type Env struct {
	API    string // WEDGE_API: base URL of the control-plane API
	Token  string // WEDGE_TOKEN: operator or tenant token
	Tenant string // WEDGE_TENANT: tenant of the worker commands

	// ConfigFile is the file `wedge login` writes (JSON: the API's URL, the
	// token, the tenant). Run fills API, Token and Tenant from it where
	// they are empty, when the file is for the API in use. Empty means no
	// file: login fails, saying so. cmd/wedge sets it to
	// os.UserConfigDir()/wedge/config.json.
	ConfigFile string

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Getenv looks up any other environment variable, for commands that
	// need one; nil means none is set.
	Getenv func(key string) string

	// from says where API, Token and Tenant came from, for whoami.
	from origins
}

// origins name the sources of an Env's API, Token and Tenant: "WEDGE_API"
// and the like, "config file", "default" or "" (unset).
type origins struct {
	api, token, tenant string
	// ignored says why the config file was not used, or "".
	ignored string
}

// NewEnv returns an Env with API, Token and Tenant read through getenv from
// WEDGE_API, WEDGE_TOKEN and WEDGE_TENANT; cmd/wedge passes os.Getenv.
func NewEnv(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) Env {
	return Env{
		API:    getenv("WEDGE_API"),
		Token:  getenv("WEDGE_TOKEN"),
		Tenant: getenv("WEDGE_TENANT"),
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		Getenv: getenv,
	}
}

// withConfig fills API, Token and Tenant from the config file where the
// environment left them empty. The file's values are used only with the
// API they were verified against: with WEDGE_API naming another, the file
// is ignored as a whole, so that its token never goes to another server.
func (e Env) withConfig() (Env, error) {
	for _, f := range []struct {
		v    string
		from *string
		name string
	}{{e.API, &e.from.api, "WEDGE_API"}, {e.Token, &e.from.token, "WEDGE_TOKEN"}, {e.Tenant, &e.from.tenant, "WEDGE_TENANT"}} {
		if f.v != "" && *f.from == "" {
			*f.from = f.name
		}
	}
	if e.ConfigFile == "" {
		return e, nil
	}
	uc, err := loadUserConfig(e.ConfigFile)
	if err != nil || uc == nil {
		return e, err
	}
	if e.API != "" && !sameAPI(e.API, uc.API) {
		e.from.ignored = fmt.Sprintf("it is for %s, and %s says %s", uc.API, e.from.api, e.API)
		return e, nil
	}
	if e.API == "" && uc.API != "" {
		e.API, e.from.api = uc.API, "config file"
	}
	if e.Token == "" && uc.Token != "" {
		e.Token, e.from.token = uc.Token, "config file"
	}
	if e.Tenant == "" && uc.Tenant != "" {
		e.Tenant, e.from.tenant = uc.Tenant, "config file"
	}
	return e, nil
}

func (e Env) withDefaults() Env {
	if e.API == "" {
		e.API = DefaultAPI
		e.from.api = "default"
	}
	if e.Stdin == nil {
		e.Stdin = strings.NewReader("")
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	return e
}

// Command is one verb of the wedge command line.
type Command struct {
	// Name is the verb: "deploy" in `wedge deploy`.
	Name string
	// Summary is the command's line in `wedge help`: lowercase, no period.
	Summary string
	// Run runs the command with the arguments after the verb and returns
	// the exit code (ExitOK, ExitFailed or ExitUsage). It must answer -h and
	// --help with its usage on env.Stdout and ExitOK, since `wedge help
	// VERB` calls it that way.
	Run func(ctx context.Context, env Env, args []string) int
}

// builtins returns the commands this package provides, in help order.
// hasDev says whether `wedge dev` exists, for init's next steps.
func builtins(hasDev bool) []Command {
	return []Command{
		{Name: "init", Summary: "create a worker project (Go, or C with --template c) that builds offline", Run: initCommand(hasDev)},
		{Name: "build", Summary: "build a worker project into build/worker.wasm", Run: runBuild},
		{Name: "deploy", Summary: "build and upload a worker as a new version", Run: runDeploy},
		{Name: "versions", Summary: "list a worker's versions and show the active one", Run: runVersions},
		{Name: "rollback", Summary: "make an earlier version of a worker active again", Run: runRollback},
		{Name: "tail", Summary: "show a worker's requests and logs live", Run: runTail},
		{Name: "secret", Summary: "set, list and delete a worker's secrets", Run: runSecret},
		{Name: "kv", Summary: "read and write the tenant's KV namespaces", Run: runKV},
		{Name: "tenant", Summary: "create and list tenants (operator)", Run: runTenant},
		{Name: "login", Summary: "check a token and keep it, the API's URL and a tenant for the next commands", Run: runLogin},
		{Name: "logout", Summary: "forget what login kept", Run: runLogout},
		{Name: "whoami", Summary: "show the API, tenant and kind of token in use, and check the token", Run: runWhoami},
		// Run is set by table: it needs the whole table.
		{Name: "completion", Summary: "print a shell completion script (bash or zsh)"},
	}
}

// helpOrder is where well-known verbs sit in `wedge help`, whichever
// package provides them; other verbs follow in registration order.
var helpOrder = []string{"serve", "init", "dev", "build", "deploy", "versions", "rollback", "tail", "secret", "kv", "tenant", "login", "logout", "whoami", "completion"}

// Run runs the command line args (without the program name: os.Args[1:])
// and returns the process exit code. extra adds commands to the built-in
// ones (cmd/wedge adds serve and dev); an extra command with a built-in's
// name replaces it.
//
// `wedge help`, `wedge -h` and `wedge --help` list the commands on Stdout
// and return ExitOK; `wedge help VERB` shows one command's help; no
// arguments at all list the commands on Stderr and return ExitUsage.
func Run(ctx context.Context, args []string, env Env, extra ...Command) int {
	env, cfgErr := env.withConfig()
	env = env.withDefaults()
	cmds := table(extra)
	if len(args) == 0 {
		printHelp(env.Stderr, cmds, env)
		return ExitUsage
	}
	verb := args[0]
	switch verb {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && verb == "help" {
			c, ok := lookup(cmds, args[1])
			if !ok {
				return unknownCommand(env, cmds, args[1])
			}
			return c.Run(ctx, env, append(slices.Clip(args[2:]), "-h"))
		}
		printHelp(env.Stdout, cmds, env)
		return ExitOK
	}
	if cfgErr != nil && verb != "logout" && verb != "completion" {
		fmt.Fprintf(env.Stderr, "warning: ignoring %v (`wedge login` writes it anew, `wedge logout` removes it)\n", cfgErr)
	}
	c, ok := lookup(cmds, verb)
	if !ok {
		return unknownCommand(env, cmds, verb)
	}
	return c.Run(ctx, env, args[1:])
}

// table merges the built-in commands with extra, in help order.
func table(extra []Command) []Command {
	hasDev := slices.ContainsFunc(extra, func(c Command) bool { return c.Name == "dev" })
	var cmds []Command
	for _, c := range append(builtins(hasDev), extra...) {
		if i := slices.IndexFunc(cmds, func(d Command) bool { return d.Name == c.Name }); i >= 0 {
			cmds[i] = c
			continue
		}
		cmds = append(cmds, c)
	}
	rank := func(c Command) int {
		if i := slices.Index(helpOrder, c.Name); i >= 0 {
			return i
		}
		return len(helpOrder)
	}
	slices.SortStableFunc(cmds, func(a, b Command) int { return rank(a) - rank(b) })
	for i := range cmds {
		if cmds[i].Name == "completion" && cmds[i].Run == nil {
			cmds[i].Run = completionCommand(cmds)
		}
	}
	return cmds
}

func lookup(cmds []Command, name string) (Command, bool) {
	i := slices.IndexFunc(cmds, func(c Command) bool { return c.Name == name })
	if i < 0 {
		return Command{}, false
	}
	return cmds[i], true
}

func unknownCommand(env Env, cmds []Command, verb string) int {
	fmt.Fprintf(env.Stderr, "error: unknown command %q", verb)
	best, bestD := "", 3
	for _, c := range cmds {
		if d := editDistance(verb, c.Name); d < bestD {
			best, bestD = c.Name, d
		}
	}
	if best != "" {
		fmt.Fprintf(env.Stderr, " (did you mean %q?)", best)
	}
	fmt.Fprintln(env.Stderr, "\nRun 'wedge help' for the list of commands.")
	return ExitUsage
}

func printHelp(w io.Writer, cmds []Command, env Env) {
	fmt.Fprint(w, "Wedge runs WebAssembly workers at the edge.\n\nUsage: wedge <command> [arguments]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
	file := env.ConfigFile
	if file == "" {
		file = "(none: no user config directory)"
	}
	fmt.Fprintf(w, `
Configuration:
  Commands that talk to the API take its URL, the token and the tenant from,
  in this order: their flags (--tenant), the environment, the config file.
  WEDGE_API     control-plane API URL (default %s)
  WEDGE_TOKEN   API token: a tenant's, or the operator's (tenant create|list)
  WEDGE_TENANT  the tenant that worker commands act on
  Config file   %s
                written by 'wedge login' (mode 0600), removed by 'wedge logout';
                used only while WEDGE_API is unset or names the same API

Output:
  Results go to stdout; errors, warnings and progress to stderr. --json prints
  JSON for scripts: deploy, versions, rollback, tenant create|list,
  secret list, kv list, whoami, build.

Exit status:
  %d  success
  %d  the operation failed: the API refused it or could not be reached, the
     build failed, no such worker, key or version, the token is not accepted
  %d  bad command line, or missing configuration (no tenant, say)
  %d  deploy --wait: deployed, but not every live node served it in time

More:
  wedge help <command>   a command's usage, as 'wedge <command> -h'
  wedge completion bash  shell completion (see 'wedge completion -h')
  README.md (quickstart, API, wedge.toml), docs/abi.md (the guest ABI) and
  RATIONALE.md in the repository: https://github.com/wedgeworks/wedge
`, DefaultAPI, file, ExitOK, ExitFailed, ExitUsage, ExitNotEverywhere)
}

// usage describes one command for its -h output and its usage errors.
type usage struct {
	line    string // "wedge deploy [DIR|FILE.wasm] [--name W]"
	text    string // what it does, a paragraph or two
	missing string // the error when positional arguments are missing
}

// newFlags returns a flag set for a command; parse reports its errors.
func newFlags(name string) *flag.FlagSet {
	flags := flag.NewFlagSet("wedge "+name, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	return flags
}

// parse parses args with flags, allowing flags after positional arguments
// ("wedge deploy ./hello --name x"); "--" ends the flags. It returns the
// positional arguments and, when parsing should stop the command, the exit
// code: ExitOK after printing help for -h, ExitUsage after a usage error.
func parse(env Env, flags *flag.FlagSet, u usage, args []string, minArgs, maxArgs int) (pos []string, exit int, stop bool) {
	for {
		err := flags.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printUsage(env.Stdout, flags, u)
			return nil, ExitOK, true
		}
		if err != nil {
			return nil, usageError(env, flags, u, "%v", err), true
		}
		rest := flags.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < minArgs:
		msg := u.missing
		if msg == "" {
			msg = "missing arguments"
		}
		return nil, usageError(env, flags, u, "%s", msg), true
	case len(pos) > maxArgs:
		return nil, usageError(env, flags, u, "too many arguments: %s", strings.Join(pos[maxArgs:], " ")), true
	}
	return pos, ExitOK, false
}

// usageError prints a usage problem and the command's usage line to Stderr
// and returns ExitUsage.
func usageError(env Env, flags *flag.FlagSet, u usage, format string, args ...any) int {
	fmt.Fprintf(env.Stderr, "error: %s\nUsage: %s\nRun '%s -h' for help.\n", fmt.Sprintf(format, args...), u.line, flags.Name())
	return ExitUsage
}

// fail prints an operation's error to Stderr and returns ExitFailed.
func fail(env Env, err error) int {
	fmt.Fprintf(env.Stderr, "error: %v\n", err)
	return ExitFailed
}

func printUsage(w io.Writer, flags *flag.FlagSet, u usage) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", u.line, strings.TrimSpace(u.text))
	var list []*flag.Flag
	flags.VisitAll(func(f *flag.Flag) { list = append(list, f) })
	if len(list) == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range list {
		arg, help := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			help += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, arg, help)
	}
	tw.Flush()
}

// tenantFlag adds --tenant to flags, defaulting to env.Tenant.
func tenantFlag(flags *flag.FlagSet, env Env) *string {
	return flags.String("tenant", env.Tenant, "the `TENANT` to act on (default: WEDGE_TENANT, else the one `wedge login` kept)")
}

// checkTenant returns a usage error's exit code when tenant is unset or
// invalid.
func checkTenant(env Env, flags *flag.FlagSet, u usage, tenant string) (int, bool) {
	switch {
	case tenant == "":
		return usageError(env, flags, u, "no tenant: set WEDGE_TENANT, pass --tenant, or run `wedge login --tenant T`"), false
	case !api.ValidName(tenant):
		return usageError(env, flags, u, "%q is not a valid tenant name: use lowercase letters, digits and '-', starting with a letter", tenant), false
	}
	return ExitOK, true
}

// checkWorker returns a usage error's exit code when name is not a valid
// worker name.
func checkWorker(env Env, flags *flag.FlagSet, u usage, name string) (int, bool) {
	if !api.ValidName(name) {
		return usageError(env, flags, u, "%q is not a valid worker name: use 1–63 lowercase letters, digits and '-', starting with a letter", name), false
	}
	return ExitOK, true
}
