package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/runtime"
)

// TestCTemplateHeader: the C template's wedge.h is sdk/c/wedge.h.
func TestCTemplateHeader(t *testing.T) {
	sdkHeader, err := os.ReadFile(filepath.Join("..", "sdk", "c", "wedge.h"))
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := templates.ReadFile("templates/c/wedge.h")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sdkHeader, embedded) {
		t.Error("cli/templates/c/wedge.h differs from sdk/c/wedge.h: cp sdk/c/wedge.h cli/templates/c/wedge.h")
	}
}

// TestInitC: wedge init --template c writes a C project whose [build]
// command builds, offline, a module the runtime compiles.
func TestInitC(t *testing.T) {
	if err := checkCToolchain(context.Background()); err != nil {
		t.Skipf("no C toolchain for WebAssembly here, so the C template is untested: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "hello-c")
	code, out, errOut := run(t, Env{}, []string{"init", "--template", "c", dir})
	if code != ExitOK || !strings.Contains(out, `created worker "hello-c"`) {
		t.Fatalf("init: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, f := range []string{"worker.c", "wedge.h", "wedge.toml", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "hello-c" || cfg.Main != "build/worker.wasm" || cfg.Build.Command != cBuildCommand {
		t.Errorf("config %+v", cfg)
	}
	code, out, errOut = run(t, Env{}, []string{"build", dir, "--json"})
	if code != ExitOK || !strings.Contains(out, `"path": "`+filepath.Join(dir, "build", "worker.wasm")+`"`) {
		t.Fatalf("build: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	wasm, err := os.ReadFile(filepath.Join(dir, "build", "worker.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.Compile(ctx, wasm)
	if err != nil {
		t.Fatalf("the runtime refuses the C template's module: %v", err)
	}
	m.Release()
}

func TestInitCWithoutToolchain(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no clang
	dir := filepath.Join(t.TempDir(), "hello-c")
	code, out, errOut := run(t, Env{}, []string{"init", "--template", "c", dir})
	for _, want := range []string{"error: wedge init --template c: a C worker needs clang", "clang is not installed", "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if code != ExitFailed || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("init wrote %s anyway", dir)
	}
}

func TestBuildCommand(t *testing.T) {
	project := func(t *testing.T, toml string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ConfigFile), []byte("name = \"cmd\"\n"+toml), 0o644)
		return dir
	}
	t.Run("writes the module", func(t *testing.T) {
		dir := project(t, "[build]\ncommand = \"printf '\\\\000asm\\\\001\\\\000\\\\000\\\\000' > build/worker.wasm; echo built >&2\"\n")
		var stderr bytes.Buffer
		path, err := Build(context.Background(), dir, nil, &stderr)
		if err != nil || path != filepath.Join(dir, "build", "worker.wasm") || stderr.String() != "built\n" {
			t.Fatalf("Build = %q, %v; stderr %q", path, err, stderr.String())
		}
		if err := checkWasmFile(path); err != nil {
			t.Error(err)
		}
	})
	for _, tt := range []struct{ name, command, want string }{
		{"fails", "echo oops >&2; exit 3", "build.command in " + "DIR" + "/wedge.toml failed (exit status 3): fix the errors above and build again"},
		{"not installed", "no-such-compiler-here -o build/worker.wasm", "a program it runs is not installed"},
		{"writes nothing", "true", "build.command in DIR/wedge.toml ran, but main: open DIR/build/worker.wasm: no such file or directory: does the command write build/worker.wasm?"},
		{"writes no module", "echo hi > build/worker.wasm", "is not a WebAssembly module"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := project(t, "[build]\ncommand = \""+tt.command+"\"\n")
			code, out, errOut := run(t, Env{}, []string{"build", dir})
			if want := strings.ReplaceAll(tt.want, "DIR", dir); code != ExitFailed || out != "" || !strings.Contains(errOut, want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant %q", code, out, errOut, want)
			}
		})
	}
}
