package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/api"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "config", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseConfigGood(t *testing.T) {
	tests := []struct {
		file string
		want Config
	}{
		{"good-full.toml", Config{
			Name:         "hello",
			Main:         ".",
			Vars:         map[string]string{"GREETING": "hi"},
			Limits:       api.Limits{CPUMillis: 50, WallMillis: 30000, MemoryMB: 128, Subrequests: 50},
			KVNamespaces: []api.KVBinding{{Binding: "COUNTS"}},
			Routes:       []api.Route{{Pattern: "shop.example.com/api/*"}, {Pattern: "shop.example.com/cart"}},
		}},
		{"good-minimal.toml", Config{Name: "a", Main: "."}},
		{"good-inline.toml", Config{
			Name:         "inline-tables",
			Main:         "./cmd/worker",
			Vars:         map[string]string{"A": "1", "B_2": "two"},
			Limits:       api.Limits{CPUMillis: 10},
			KVNamespaces: []api.KVBinding{{Binding: "ONE"}, {Binding: "TWO"}},
			Routes:       []api.Route{{Pattern: "a.example.com/*"}},
		}},
		{"good-prebuilt.toml", Config{Name: "prebuilt", Main: "dist/worker.wasm"}},
		{"good-build-command.toml", Config{Name: "c-worker", Main: "build/worker.wasm", Build: BuildConfig{Command: "clang -o build/worker.wasm worker.c"}}},
		{"good-build-main.toml", Config{Name: "c-worker", Main: "dist/x.wasm", Build: BuildConfig{Command: "make"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseConfig(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseConfigBad(t *testing.T) {
	tests := []struct {
		file string
		want []string // the error's lines, in order
	}{
		{"bad-unknown-key.toml", []string{
			`wedge.toml:4: unknown key "limits.cpu" (did you mean "limits.cpu_ms"?)`,
		}},
		{"bad-unknown-dotted.toml", []string{
			`wedge.toml:3: unknown key "description"`,
			`wedge.toml:4: unknown key "limit.cpu"`,
		}},
		{"bad-unknown-table.toml", []string{
			`wedge.toml:2: unknown key "var" (did you mean "vars"?)`,
			`wedge.toml:8: unknown key "routes.zone"`,
		}},
		{"bad-types.toml", []string{
			`wedge.toml:3: vars.DEBUG must be a string, not a boolean (quote it: DEBUG = "…")`,
			`wedge.toml:5: limits.cpu_ms must be an integer, not a string`,
			`wedge.toml:6: limits.memory_mb must be an integer, not a number with a fraction`,
		}},
		{"bad-syntax.toml", []string{
			`wedge.toml:2: expected '.' or ']' to end table name, but got '\n' instead`,
		}},
		{"bad-duplicate.toml", []string{
			`wedge.toml:2: Key 'name' has already been defined.`,
		}},
		{"bad-missing-name.toml", []string{
			`wedge.toml: name is missing: add name = "my-worker" (lowercase letters, digits and '-')`,
		}},
		{"bad-name-type.toml", []string{
			`wedge.toml:1: name must be a string, not an array`,
		}},
		{"bad-build-main.toml", []string{
			`wedge.toml:2: main "." must name the .wasm file that build.command writes, like main = "build/worker.wasm"`,
		}},
		{"bad-build-empty.toml", []string{
			`wedge.toml:3: build.command is empty: give the command that writes the module, or remove [build]`,
		}},
		{"bad-values.toml", []string{
			`wedge.toml:1: name "Hello_World" is not a valid worker name: use 1–63 lowercase letters, digits and '-', starting with a letter and not ending with '-'`,
			`wedge.toml:3: vars: "NOT-AN-ENV" is not a valid environment variable name: use letters, digits and '_', not starting with a digit`,
			`wedge.toml:5: limits.cpu_ms must not be negative (leave it out for the default, 50)`,
			`wedge.toml:6: limits.memory_mb = 8192 is more than 4096, the most a WebAssembly module can address`,
			`wedge.toml:9: kv_namespaces: binding "COUNTS" appears twice`,
			`wedge.toml:11: kv_namespaces: binding is missing: add binding = "NAME" (the name you pass to wedge.KV)`,
			`wedge.toml:13: routes: pattern "https://shop.example.com/*" must not have a scheme: write it as "shop.example.com/*"`,
			`wedge.toml:15: routes: pattern "/api/*" needs a host: write it as "example.com/api/*"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := ParseConfig(readFixture(t, tt.file))
			if err == nil {
				t.Fatalf("ParseConfig = %+v, want an error", c)
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}
}

func TestParseConfigTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("name = \"x\"\n")
	for i := range 30 {
		b.WriteString("k" + strings.Repeat("x", i) + " = 1\n")
	}
	_, err := ParseConfig([]byte(b.String()))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxConfigErrors+1 || lines[len(lines)-1] != "wedge.toml: too many errors" {
		t.Errorf("got %d lines, last %q; want %d and too many errors", len(lines), lines[len(lines)-1], maxConfigErrors+1)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadConfig(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadConfig(empty dir) = %v, want fs.ErrNotExist", err)
	}
	if err == nil || !strings.Contains(err.Error(), "wedge init DIR") {
		t.Errorf("error %q does not say to run wedge init", err)
	}

	os.WriteFile(filepath.Join(dir, ConfigFile), []byte("name = \"x\"\nmian = \".\"\n"), 0o644)
	_, err = LoadConfig(dir)
	want := filepath.Join(dir, ConfigFile) + `:2: unknown key "mian" (did you mean "main"?)`
	if err == nil || err.Error() != want {
		t.Errorf("LoadConfig = %v, want %s", err, want)
	}
}

func TestSettings(t *testing.T) {
	c, err := ParseConfig(readFixture(t, "good-full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := api.WorkerSettings{
		Vars:         map[string]string{"GREETING": "hi"},
		Limits:       api.Limits{CPUMillis: 50, WallMillis: 30000, MemoryMB: 128, Subrequests: 50},
		Routes:       []api.Route{{Pattern: "shop.example.com/api/*"}, {Pattern: "shop.example.com/cart"}},
		KVNamespaces: []api.KVBinding{{Binding: "COUNTS"}},
	}
	if got := c.Settings(); !reflect.DeepEqual(got, want) {
		t.Errorf("Settings() = %+v, want %+v", got, want)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"hello", true},
		{"hello-world-2", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"2fast", false},
		{"-a", false},
		{"a-", false},
		{"Hello", false},
		{"a_b", false},
		{"a.b", false},
		{"héllo", false},
	}
	for _, tt := range tests {
		if got := api.ValidName(tt.name); got != tt.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestLocateKeys(t *testing.T) {
	src := `# name = "in a comment"
name = "x" # limits = 1
s = """
[limits]
cpu_ms = 1
"""
'quoted key' = 1
"a.b" . c = 2
[limits]
cpu_ms = 5
t = { p = 1, q = { r = 2 } }
`
	_, err := ParseConfig([]byte(src))
	want := []string{
		`wedge.toml:3: unknown key "s"`,
		`wedge.toml:7: unknown key "quoted key"`,
		`wedge.toml:8: unknown key "a.b".c`,
		`wedge.toml:11: unknown key "limits.t"`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func FuzzParseConfig(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`x = """a\"""" "" '''b''''` + "\n[a.'b'.\"c\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if c != nil {
				t.Fatal("ParseConfig returned a config and an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if !api.ValidName(c.Name) {
			t.Fatalf("accepted invalid name %q", c.Name)
		}
		if c.Main == "" {
			t.Fatal("Main not defaulted")
		}
		for _, l := range []int{c.Limits.CPUMillis, c.Limits.WallMillis, c.Limits.MemoryMB, c.Limits.Subrequests} {
			if l < 0 {
				t.Fatalf("accepted negative limit: %+v", c.Limits)
			}
		}
	})
}
