package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// BuildOutput is where `wedge build` writes a worker's module, relative to
// the project directory.
const BuildOutput = "build/worker.wasm"

// wasmMagic opens every WebAssembly binary module.
var wasmMagic = []byte("\x00asm")

// Build builds the worker project in dir (as described by dir/wedge.toml)
// and returns the path of its module: dir/build/worker.wasm for a Go
// package, or the prebuilt module that main names. The go command's output
// goes to stdout and stderr (nil discards it). The dev server calls Build on
// every change.
//
// A Go package is built with `go build -buildmode=c-shared -trimpath` in
// dir, with GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 over the environment of
// the current process; `go` is looked up in PATH.
func Build(ctx context.Context, dir string, stdout, stderr io.Writer) (wasmPath string, err error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return "", err
	}
	return build(ctx, dir, cfg, stdout, stderr)
}

func build(ctx context.Context, dir string, cfg *Config, stdout, stderr io.Writer) (string, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if cfg.Prebuilt() {
		path := cfg.Main
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if err := checkWasmFile(path); err != nil {
			return "", fmt.Errorf("main in %s: %w", filepath.Join(dir, ConfigFile), err)
		}
		return path, nil
	}

	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("cannot find the go command: install Go 1.24 or newer (https://go.dev/dl/) and put it on PATH")
	}
	out := filepath.Join(dir, BuildOutput)
	absOut, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(absOut), 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-buildmode=c-shared", "-trimpath", "-o", absOut, cfg.Main)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	// exec copies stdout and stderr in two goroutines; callers often pass
	// one writer for both.
	var mu sync.Mutex
	tail := &tailBuffer{max: 4096}
	cmd.Stdout = &lockedWriter{mu: &mu, w: stdout}
	cmd.Stderr = &lockedWriter{mu: &mu, w: io.MultiWriter(stderr, tail)}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("build interrupted: %w", ctx.Err())
		}
		if bytes.Contains(tail.buf, []byte("c-shared")) && bytes.Contains(tail.buf, []byte("not supported")) {
			return "", fmt.Errorf("go build: %w: workers need Go 1.24 or newer (go version says which one PATH has)", err)
		}
		return "", fmt.Errorf("go build %s in %s failed (%w): fix the errors above and build again", cfg.Main, dir, err)
	}
	return out, nil
}

// checkWasmFile checks that path is a regular file holding a WebAssembly
// binary module.
func checkWasmFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", path)
	}
	head := make([]byte, len(wasmMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, wasmMagic) {
		return fmt.Errorf("%s is not a WebAssembly module (it does not start with \\0asm)", path)
	}
	return nil
}

// lockedWriter serializes writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

var buildUsage = usage{
	line: "wedge build [DIR]",
	text: `
Build builds the worker project in DIR (default: the current directory) as
its wedge.toml says. A Go package (main = ".", the default) is built with
GOOS=wasip1 GOARCH=wasm into DIR/build/worker.wasm; a prebuilt module
(main = "worker.wasm") is only checked. Needs Go 1.24 or newer on PATH.`,
}

func runBuild(ctx context.Context, env Env, args []string) int {
	flags := newFlags("build")
	pos, code, stop := parse(env, flags, buildUsage, args, 0, 1)
	if stop {
		return code
	}
	dir := "."
	if len(pos) == 1 {
		dir = pos[0]
	}
	path, err := Build(ctx, dir, env.Stderr, env.Stderr)
	if err != nil {
		return fail(env, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintf(env.Stdout, "built %s (%s)\n", path, formatSize(fi.Size()))
	return ExitOK
}

// formatSize formats a byte count for people: "1.2 MB".
func formatSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1000/1000)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1000/1000/1000)
}
