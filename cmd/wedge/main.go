package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/wedgeworks/wedge/cli"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := cli.NewEnv(os.Getenv, stdin, stdout, stderr)
	// `wedge login` keeps its file where the platform keeps user settings:
	// $XDG_CONFIG_HOME or ~/.config on Linux, ~/Library/Application Support
	// on macOS, %AppData% on Windows.
	if dir, err := os.UserConfigDir(); err == nil {
		env.ConfigFile = filepath.Join(dir, "wedge", "config.json")
	}
	return cli.Run(ctx, args, env,
		cli.Command{Name: "serve", Summary: "run the Wedge host: edge, control-plane API and workers", Run: serveCommand},
		cli.Command{Name: "dev", Summary: "build the worker, serve it locally and rebuild on change", Run: devCommand},
	)
}
