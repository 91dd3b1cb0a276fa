package cli

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/wedgeworks/wedge/api"
	sdk "github.com/wedgeworks/wedge/sdk/go"
)

// sdkModule is the Go guest SDK's module path.
const sdkModule = "github.com/wedgeworks/wedge/sdk/go"

// defaultGoVersion is the go directive of a new project when the SDK's own
// go.mod does not say.
const defaultGoVersion = "1.24"

const mainGo = `package main

import (
	"fmt"
	"net/http"

	"github.com/wedgeworks/wedge/sdk/go/wedge"
)

func init() {
	wedge.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from %s\n", r.URL.Path)
	})
}

func main() {}
`

const wedgeTOML = `name = %q
# main = "."              # Go package to build (default), or a prebuilt .wasm

# [vars]                  # environment variables: os.Getenv("GREETING")
# GREETING = "hi"

# [limits]                # defaults shown; an operator may cap them lower
# cpu_ms = 50             # CPU time per request
# wall_ms = 30000         # wall time per request
# memory_mb = 128         # linear memory per instance
# subrequests = 50        # fetch calls per request

# [[kv_namespaces]]
# binding = "COUNTS"      # wedge.KV("COUNTS")

# [[routes]]
# pattern = "shop.example.com/api/*"
`

// templates holds the files of the projects that are not Go's: c/ is a C
// worker, its wedge.h a copy of sdk/c/wedge.h (a test keeps them equal).
//
//go:embed templates
var templates embed.FS

// cBuildCommand is the C template's build.command: Debian's clang with
// wasi-libc, as examples/c-hello is built.
const cBuildCommand = "clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--export=wedge_handle -o build/worker.wasm worker.c"

const cWedgeTOML = `name = %q
main = "build/worker.wasm"  # the module that [build] writes

[build]                     # run by wedge build, deploy and dev, in this directory
command = %q

# [vars]                    # the worker's environment (WASI environ_get)
# GREETING = "hi"

# [limits]                  # defaults shown; an operator may cap them lower
# cpu_ms = 50               # CPU time per request
# wall_ms = 30000           # wall time per request
# memory_mb = 128           # linear memory per instance
# subrequests = 50          # fetch calls per request

# [[kv_namespaces]]
# binding = "COUNTS"        # wedge_kv_get("COUNTS", …)

# [[routes]]
# pattern = "shop.example.com/api/*"
`

// Templates are the kinds of project `wedge init --template` writes.
var initTemplates = []string{"go", "c"}

// templateFiles returns the files of a new project of the given template.
func templateFiles(template, name string) (map[string][]byte, error) {
	switch template {
	case "go":
		return projectFiles(name)
	case "c":
		files := map[string][]byte{
			"wedge.toml": fmt.Appendf(nil, cWedgeTOML, name, cBuildCommand),
			".gitignore": []byte("build/\n.wedge/\n"),
		}
		for _, f := range []string{"worker.c", "wedge.h"} {
			data, err := templates.ReadFile("templates/c/" + f)
			if err != nil {
				return nil, fmt.Errorf("read the embedded template: %w", err)
			}
			files[f] = data
		}
		return files, nil
	}
	return nil, fmt.Errorf("no template %q", template)
}

// cToolchainPackages are the Debian (and Ubuntu) packages a C worker needs.
const cToolchainPackages = "clang lld wasi-libc libclang-rt-dev-wasm32"

// checkCToolchain compiles and links a tiny C worker that uses the C
// library, as the template's build command does, to find out whether
// clang, its WebAssembly target, lld, wasi-libc and compiler-rt's wasm32
// builtins are all there. It takes about 0.1 s.
func checkCToolchain(ctx context.Context) error {
	missing := func(why string) error {
		return fmt.Errorf("a C worker needs clang with the WebAssembly target, lld and wasi-libc, and %s.\nOn Debian or Ubuntu, install them (as root): apt-get install %s\n(or use the Go template: wedge init DIR)", why, cToolchainPackages)
	}
	clang, err := exec.LookPath("clang")
	if err != nil {
		return missing("clang is not installed (not on PATH)")
	}
	tmp, err := os.MkdirTemp("", "wedge-cc-probe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := "#include <string.h>\n__attribute__((export_name(\"wedge_handle\"))) void wedge_handle(void) { static char b[8]; memcpy(b, \"ok\", 2); }\n"
	if err := os.WriteFile(filepath.Join(tmp, "probe.c"), []byte(src), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, clang, "--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wl,--export=wedge_handle", "-o", "probe.wasm", "probe.c")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err == nil {
		return checkWasmFile(filepath.Join(tmp, "probe.wasm"))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := string(out)
	switch {
	case strings.Contains(msg, "string.h"):
		return missing("wasi-libc is not installed (clang: 'string.h' file not found)")
	case strings.Contains(msg, "wasm-ld"):
		return missing("lld is not installed (clang cannot run wasm-ld)")
	case strings.Contains(msg, "libclang_rt.builtins-wasm32"):
		return missing("compiler-rt's wasm32 builtins are not installed")
	}
	first, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	return missing(fmt.Sprintf("clang cannot build a WebAssembly module here (%s)", first))
}

// projectFiles returns the files of a new Go worker project named name, by
// slash-separated path. The SDK is vendored from sdk.Files so that the
// project builds with no network and no module cache.
func projectFiles(name string) (map[string][]byte, error) {
	goVersion, err := sdkGoVersion()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"main.go":    []byte(mainGo),
		"wedge.toml": fmt.Appendf(nil, wedgeTOML, name),
		"go.mod":     fmt.Appendf(nil, "module %s\n\ngo %s\n\nrequire %s %s\n", name, goVersion, sdkModule, sdk.Version),
		".gitignore": []byte("build/\n.wedge/\n"),
	}
	pkgs := map[string]bool{}
	err = fs.WalkDir(sdk.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dir := path.Dir(p)
		if d.IsDir() || dir == "." || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := fs.ReadFile(sdk.Files, p)
		if err != nil {
			return err
		}
		files["vendor/"+sdkModule+"/"+p] = data
		pkgs[sdkModule+"/"+dir] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the embedded SDK: %w", err)
	}
	if len(pkgs) == 0 {
		return nil, errors.New("this wedge binary holds no SDK source to vendor: rebuild it from a complete checkout")
	}
	var mt bytes.Buffer
	fmt.Fprintf(&mt, "# %s %s\n## explicit; go %s\n", sdkModule, sdk.Version, goVersion)
	var sorted []string
	for p := range pkgs {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		fmt.Fprintln(&mt, p)
	}
	files["vendor/modules.txt"] = mt.Bytes()
	return files, nil
}

// sdkGoVersion returns the go directive of the SDK's go.mod.
func sdkGoVersion() (string, error) {
	data, err := fs.ReadFile(sdk.Files, "go.mod")
	if err != nil {
		return "", fmt.Errorf("read the embedded SDK: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "go" {
			return f[1], nil
		}
	}
	return defaultGoVersion, nil
}

// createProject writes a new worker project named name into dir, which
// must not exist or be empty. On failure it removes what it wrote.
func createProject(dir, name, template string) (err error) {
	files, err := templateFiles(template, name)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) && !isDir(dir) {
			return fmt.Errorf("%s exists and is not a directory: choose another name", dir)
		}
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty: choose a new directory, or empty this one first", dir)
	default:
		defer func() {
			if err != nil {
				removeContents(dir)
			}
		}()
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func removeContents(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

var initUsage = usage{
	line:    "wedge init DIR [--template go|c] [--name W]",
	missing: "missing the project's directory: wedge init DIR",
	text: `
Init creates a worker project in DIR, which must not exist or be empty. The
worker is named after DIR unless --name says otherwise.

--template go (the default): main.go (a hello-world net/http handler),
wedge.toml, go.mod, and the Go guest SDK vendored under vendor/, so that the
project builds with no network. Building needs Go 1.24 or newer.

--template c: worker.c (hello world), wedge.h (the guest ABI) and a
wedge.toml whose [build] command runs clang:

  ` + cBuildCommand + `

It needs clang with the WebAssembly target, lld and wasi-libc, and builds
with no network; init checks them first. On Debian or Ubuntu:
apt-get install ` + cToolchainPackages + `.`,
}

// initCommand returns `wedge init`; hasDev says whether to suggest
// `wedge dev` as a next step.
func initCommand(hasDev bool) func(context.Context, Env, []string) int {
	return func(ctx context.Context, env Env, args []string) int {
		return runInit(ctx, env, args, hasDev)
	}
}

func runInit(ctx context.Context, env Env, args []string, hasDev bool) int {
	flags := newFlags("init")
	name := flags.String("name", "", "the worker's `NAME` (default: DIR's base name)")
	template := flags.String("template", "go", "go or c: the language of the project")
	pos, code, stop := parse(env, flags, initUsage, args, 1, 1)
	if stop {
		return code
	}
	if !slices.Contains(initTemplates, *template) {
		return usageError(env, flags, initUsage, "--template %q: use go or c", *template)
	}
	dir := pos[0]
	if *name == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fail(env, err)
		}
		*name = filepath.Base(abs)
		if !api.ValidName(*name) {
			return usageError(env, flags, initUsage, "cannot name the worker %q after its directory: worker names are 1–63 lowercase letters, digits and '-', starting with a letter; pass --name", *name)
		}
	} else if code, ok := checkWorker(env, flags, initUsage, *name); !ok {
		return code
	}
	if *template == "c" {
		if err := checkCToolchain(ctx); err != nil {
			return fail(env, fmt.Errorf("wedge init --template c: %w", err))
		}
	}
	if err := createProject(dir, *name, *template); err != nil {
		return fail(env, err)
	}
	printNextSteps(env.Stdout, dir, *name, hasDev)
	return ExitOK
}

func printNextSteps(w io.Writer, dir, name string, hasDev bool) {
	fmt.Fprintf(w, "created worker %q in %s\n\nNext:\n", name, dir)
	if dir != "." {
		fmt.Fprintf(w, "  cd %s\n", dir)
	}
	if hasDev {
		fmt.Fprint(w, "  wedge dev       # serve it locally, rebuild on change\n")
	}
	fmt.Fprint(w, "  wedge build     # build/worker.wasm\n  wedge login     # once: the API's URL, a token and a tenant\n  wedge deploy    # upload it\n")
}
