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
// (no tenant, say). Errors go to Env.Stderr as "error: …", saying what to do
// next; go build's output and warnings go there too. Env.Stdout gets only
// results, and with --json exactly the API's JSON answer. Commands receive
// the Env with its defaults filled in.
//
// Commands: init, build, deploy, versions, rollback, secret put|list|delete,
// kv put|get|delete|list and tenant create (see `wedge help`). Commands with
// subcommands take the subcommand first, and each subcommand answers -h.
// `wedge secret put` reads the value from stdin only (from a terminal:
// typed after a prompt on Stderr, without echo, using termios ioctls from
// the standard library on Linux and macOS), never from an argument. Extra commands registered through Run appear in `wedge
// help` in their place; an extra command with a built-in's name replaces it.
// A Command must answer -h/--help with its usage on Stdout and ExitOK.
//
// # Configuration
//
// The package never reads the environment: Env carries WEDGE_API (default
// DefaultAPI), WEDGE_TOKEN and WEDGE_TENANT, and Getenv for anything else.
// The one exception is Build: the go command it runs inherits the process
// environment, with GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 on top.
//
// # Worker projects
//
// A worker project is a directory with a wedge.toml (Config; LoadConfig,
// ParseConfig). ParseConfig rejects unknown keys and values of the wrong
// type, naming the line: `wedge.toml:4: unknown key "limit.cpu"`. Build
// turns a project into a module, dir/build/worker.wasm, and is what the dev
// server calls on every change. `wedge init` writes a project whose go.mod
// requires the Go guest SDK and whose vendor/ directory holds the SDK's
// source, taken from the sdk package's embedded files, so that it builds
// with no network.
//
// # Concurrency
//
// Run, Build, LoadConfig and ParseConfig may be called from several
// goroutines at once; they share no state. Two Builds of the same directory
// at once write the same output file: callers (the dev server) must not
// overlap them.
package cli
