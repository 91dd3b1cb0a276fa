// Package cli is the wedge command line: the commands that build and
// deploy workers and talk to the control-plane API, and the wedge.toml
// format of a worker project. cmd/wedge owns the process; this package
// owns the verbs.
//
// # Entry point
//
// cmd/wedge builds an Env from the process environment and calls Run with
// the arguments after the program name, adding the commands it provides
// itself (serve, dev):
//
//	func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
//		env := cli.NewEnv(os.Getenv, stdin, stdout, stderr)
//		return cli.Run(ctx, args, env,
//			cli.Command{Name: "serve", Summary: "run the Wedge host", Run: serve},
//			cli.Command{Name: "dev", Summary: "build, serve locally, rebuild on change", Run: dev},
//		)
//	}
//
// Run returns the exit code: ExitOK (0), ExitFailed (1) when an operation
// failed, ExitUsage (2) for a bad command line or missing configuration
// (no tenant, say); `wedge help` documents them. Errors go to Env.Stderr as
// "error: …", saying what to do next; go build's output and warnings go
// there too. Env.Stdout gets only results, and with --json a JSON value
// (the API's answer, or the command's documented object). Commands receive
// the Env with its defaults filled in.
//
// Commands: init, build, deploy, versions, rollback, tail, secret
// put|list|delete, kv put|get|delete|list, tenant create|list, login,
// logout, whoami and completion (see `wedge help`). Commands with
// subcommands take the subcommand first, and each subcommand answers -h.
// `wedge secret put` and `wedge login` read their secret from stdin only
// (from a terminal: typed after a prompt on Stderr, without echo, using
// termios ioctls from the standard library on Linux and macOS), never from
// an argument. Extra commands registered through Run appear in `wedge
// help` in their place; an extra command with a built-in's name replaces
// it. A Command must answer -h/--help with its usage on Stdout and ExitOK,
// starting "Usage: wedge VERB", its subcommands as "a|b|c" after the verb
// and its flags after a "Flags:" line (this package's format or the flag
// package's PrintDefaults): `wedge completion` reads the scripts it prints
// from there, so that completion knows every command help does.
//
// # Configuration
//
// The package never reads the environment: Env carries WEDGE_API (default
// DefaultAPI), WEDGE_TOKEN and WEDGE_TENANT, Getenv for anything else, and
// ConfigFile, the file `wedge login` writes (JSON, mode 0600, in a
// directory of mode 0700) after the API accepted the token. Run fills
// API, Token and Tenant from that file where the environment left them
// empty, so flags come first, then the environment, then the file; the
// file is ignored as a whole while WEDGE_API names another API, so that
// its token goes only to the API it was checked with. The exceptions to
// "never reads the environment" are the programs the CLI runs: the go
// command of Build inherits the process environment, with GOOS=wasip1
// GOARCH=wasm CGO_ENABLED=0 on top, and so do a project's build.command
// and the clang that `wedge init --template c` tries first.
//
// # Worker projects
//
// A worker project is a directory with a wedge.toml (Config; LoadConfig,
// ParseConfig). ParseConfig rejects unknown keys and values of the wrong
// type, naming the line: `wedge.toml:4: unknown key "limit.cpu"`. Build
// turns a project into a module and is what the dev server calls on every
// change: a Go package becomes dir/build/worker.wasm; with [build] command,
// the command runs (sh -c, in dir) and main names the module it writes
// ("build/worker.wasm" by default); a main ending in .wasm without a
// command is a prebuilt module, only checked. `wedge init` writes a Go
// project whose go.mod requires the Go guest SDK and whose vendor/
// directory holds the SDK's source, taken from the sdk package's embedded
// files, so that it builds with no network; `wedge init --template c`
// writes a C project (worker.c, the ABI's wedge.h, a [build] command for
// Debian's clang and wasi-libc), after checking that clang can build one.
//
// # Concurrency
//
// Run, Build, LoadConfig and ParseConfig may be called from several
// goroutines at once; they share no state. Two Builds of the same directory
// at once write the same output file: callers (the dev server) must not
// overlap them.
package cli
