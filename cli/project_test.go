package cli

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sdk "github.com/wedgeworks/wedge/sdk/go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/init")

// goldenFiles are the files of a new project named "hello" that
// testdata/init holds, as PATH.golden with '/' spelled '__'.
var goldenFiles = []string{".gitignore", "go.mod", "main.go", "wedge.toml", "vendor/modules.txt"}

func TestInitWritesTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello")
	code, out, errOut := run(t, Env{}, []string{"init", dir})
	if code != ExitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `created worker "hello"`) || !strings.Contains(out, "wedge deploy") {
		t.Errorf("init printed:\n%s", out)
	}

	// The expected tree: the golden files plus every non-test .go file of
	// the SDK, vendored byte for byte.
	want := map[string][]byte{}
	for _, name := range goldenFiles {
		golden := filepath.Join("testdata", "init", strings.ReplaceAll(name, "/", "__")+".golden")
		if *update {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestInitWritesTree -update to create it)", err)
		}
		want[name] = data
	}
	var sdkGo int
	err := fs.WalkDir(sdk.Files, "wedge", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		data, err := fs.ReadFile(sdk.Files, p)
		want["vendor/github.com/wedgeworks/wedge/sdk/go/"+p] = data
		sdkGo++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if sdkGo == 0 {
		t.Fatal("sdk.Files holds no wedge/*.go")
	}

	got := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("missing %s", name)
		} else if !bytes.Equal(g, data) {
			t.Errorf("%s:\n%s\nwant:\n%s", name, g, data)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected file %s", name)
		}
	}

	// The wedge.toml it writes is one ParseConfig accepts.
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatalf("LoadConfig of the new project: %v", err)
	}
	if cfg.Name != "hello" || cfg.Main != "." {
		t.Errorf("config = %+v", cfg)
	}
}

func TestInitModulesTxt(t *testing.T) {
	files, err := projectFiles("x")
	if err != nil {
		t.Fatal(err)
	}
	want := "# github.com/wedgeworks/wedge/sdk/go " + sdk.Version + "\n## explicit; go 1.24\ngithub.com/wedgeworks/wedge/sdk/go/wedge\n"
	if got := string(files["vendor/modules.txt"]); got != want {
		t.Errorf("modules.txt:\n%s\nwant:\n%s", got, want)
	}
	if got, want := string(files["go.mod"]), "module x\n\ngo 1.24\n\nrequire github.com/wedgeworks/wedge/sdk/go "+sdk.Version+"\n"; got != want {
		t.Errorf("go.mod:\n%s\nwant:\n%s", got, want)
	}
	for name := range files {
		if strings.HasSuffix(name, "_test.go") {
			t.Errorf("vendored a test file: %s", name)
		}
	}
}

func TestInitDirectories(t *testing.T) {
	tmp := t.TempDir()

	nonEmpty := filepath.Join(tmp, "taken")
	os.MkdirAll(nonEmpty, 0o755)
	os.WriteFile(filepath.Join(nonEmpty, "README"), []byte("mine"), 0o644)

	file := filepath.Join(tmp, "file")
	os.WriteFile(file, nil, 0o644)

	empty := filepath.Join(tmp, "empty")
	os.MkdirAll(empty, 0o755)

	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr, or in stdout on success
	}{
		{"non-empty", []string{"init", nonEmpty}, ExitFailed, "is not empty"},
		{"a file", []string{"init", file}, ExitFailed, "is not a directory"},
		{"empty", []string{"init", empty}, ExitOK, `created worker "empty"`},
		{"nested new", []string{"init", filepath.Join(tmp, "a", "b", "new-one")}, ExitOK, `created worker "new-one"`},
		{"named", []string{"init", filepath.Join(tmp, "Some_Dir"), "--name", "svc"}, ExitOK, `created worker "svc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, Env{}, tt.args)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
	if data, _ := os.ReadFile(filepath.Join(nonEmpty, "README")); string(data) != "mine" {
		t.Error("init touched a non-empty directory")
	}
	if entries, _ := os.ReadDir(nonEmpty); len(entries) != 1 {
		t.Errorf("non-empty directory now holds %d entries", len(entries))
	}
}

func TestInitSuggestsDevWhenRegistered(t *testing.T) {
	dev := Command{Name: "dev", Summary: "dev server", Run: func(context.Context, Env, []string) int { return 0 }}
	_, out, _ := run(t, Env{}, []string{"init", filepath.Join(t.TempDir(), "a")}, dev)
	if !strings.Contains(out, "wedge dev") {
		t.Errorf("with dev registered, init does not suggest it:\n%s", out)
	}
	_, out, _ = run(t, Env{}, []string{"init", filepath.Join(t.TempDir(), "b")})
	if strings.Contains(out, "wedge dev") {
		t.Errorf("without dev, init suggests it:\n%s", out)
	}
}

// sdkCompiles reports whether the SDK's wedge package compiles for
// wasip1/wasm, and go vet's output when it does not.
func sdkCompiles(t *testing.T, goCmd string) (bool, string) {
	t.Helper()
	cmd := exec.Command(goCmd, "vet", "./wedge")
	cmd.Dir = filepath.Join("..", "sdk", "go")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// TestInitBuildsOffline builds a new project the way a fresh machine would:
// no network, an empty module cache, the SDK from vendor/ only.
func TestInitBuildsOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program for wasip1 (-short)")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	if ok, out := sdkCompiles(t, goCmd); !ok {
		t.Skipf("the SDK package sdk/go/wedge does not compile for wasip1/wasm yet (go vet failed), so a new project cannot build:\n%s", out)
	}

	dir := filepath.Join(t.TempDir(), "hello")
	if code, _, errOut := run(t, Env{}, []string{"init", dir}); code != ExitOK {
		t.Fatalf("init: %s", errOut)
	}
	t.Setenv("GOFLAGS", "-mod=vendor")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	t.Setenv("GOTOOLCHAIN", "local")
	t.Setenv("GOMODCACHE", t.TempDir()) // nothing cached
	t.Setenv("GONOSUMDB", "")

	var stderr bytes.Buffer
	wasm, err := Build(context.Background(), dir, &stderr, &stderr)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, stderr.String())
	}
	if want := filepath.Join(dir, "build", "worker.wasm"); wasm != want {
		t.Errorf("Build = %s, want %s", wasm, want)
	}
	if err := checkWasmFile(wasm); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(wasm)
	// A reactor built with -buildmode=c-shared exports _initialize; the SDK
	// exports the request entry point.
	for _, export := range []string{"_initialize", "wedge_handle"} {
		if !bytes.Contains(data, []byte(export)) {
			t.Errorf("worker.wasm has no %q", export)
		}
	}
	if strings.Contains(stderr.String(), "go: downloading") {
		t.Errorf("the build downloaded modules:\n%s", stderr.String())
	}
}

func TestBuildErrors(t *testing.T) {
	tmp := t.TempDir()
	write := func(dir, name, content string) string {
		p := filepath.Join(tmp, dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
		return filepath.Join(tmp, dir)
	}
	prebuilt := write("prebuilt", ConfigFile, "name = \"p\"\nmain = \"w.wasm\"\n")
	write("prebuilt", "w.wasm", "\x00asm\x01\x00\x00\x00")
	missing := write("missing", ConfigFile, "name = \"p\"\nmain = \"w.wasm\"\n")
	notWasm := write("notwasm", ConfigFile, "name = \"p\"\nmain = \"w.wasm\"\n")
	write("notwasm", "w.wasm", "hello")
	badGo := write("badgo", ConfigFile, "name = \"bad\"\n")
	write("badgo", "go.mod", "module bad\n\ngo 1.24\n")
	write("badgo", "main.go", "package main\n\nfunc main() { undefined() }\n")

	tests := []struct {
		name, dir string
		want      string // "" for success
	}{
		{"prebuilt", prebuilt, ""},
		{"missing prebuilt", missing, "no such file"},
		{"not wasm", notWasm, "is not a WebAssembly module"},
		{"no wedge.toml", tmp, "create one with `wedge init DIR`"},
		{"compile error", badGo, "fix the errors above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "compile error" && testing.Short() {
				t.Skip("runs go build (-short)")
			}
			var out bytes.Buffer
			p, err := Build(context.Background(), tt.dir, &out, &out)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Build: %v", err)
			case tt.want == "" && p != filepath.Join(tt.dir, "w.wasm"):
				t.Errorf("Build = %q", p)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Build error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSDKFilesVendored checks that every SDK package directory is listed in
// modules.txt, so that a future SDK subpackage still builds offline.
func TestSDKFilesVendored(t *testing.T) {
	files, err := projectFiles("x")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(files["vendor/modules.txt"])), "\n")
	var dirs []string
	for name := range files {
		if rest, ok := strings.CutPrefix(name, "vendor/"); ok && strings.HasSuffix(name, ".go") {
			dirs = append(dirs, path.Dir(rest))
		}
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	if !slices.Equal(lines[2:], dirs) {
		t.Errorf("modules.txt packages %q, vendored directories %q", lines[2:], dirs)
	}
}
