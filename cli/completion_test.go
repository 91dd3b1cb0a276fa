package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// devStub is a command whose usage is in the flag package's format, as
// cmd/wedge's dev and serve print theirs.
var devStub = Command{Name: "dev", Summary: "serve a worker locally", Run: func(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.Int("port", 8787, "port to serve on")
	fs.Bool("open", false, "open a browser")
	fs.SetOutput(env.Stdout)
	fmt.Fprint(env.Stdout, "Usage: wedge dev [DIR] [--port P]\n\nServes.\n\nFlags:\n")
	fs.PrintDefaults()
	return ExitOK
}}

func TestCompletionSpecs(t *testing.T) {
	specs := describe(context.Background(), Env{}.withDefaults(), table([]Command{devStub}))
	byName := map[string]cmdSpec{}
	for _, s := range specs {
		byName[s.name] = s
	}
	for _, c := range table([]Command{devStub}) {
		if _, ok := byName[c.Name]; !ok {
			t.Errorf("completion lacks verb %q", c.Name)
		}
	}
	flagsOf := func(s cmdSpec) string {
		var names []string
		for _, f := range s.flags {
			n := f.name
			if f.value {
				n += "="
			}
			if len(f.choice) > 0 {
				n += strings.Join(f.choice, "|")
			}
			names = append(names, n)
		}
		return strings.Join(names, " ")
	}
	subsOf := func(s cmdSpec) map[string]string {
		m := map[string]string{}
		for _, sub := range s.subs {
			m[sub.name] = flagsOf(sub)
		}
		return m
	}
	for _, tt := range []struct{ verb, flags string }{
		{"init", "name= template=go|c"},
		{"deploy", "json name= tenant= timeout= wait"},
		{"tail", "format=pretty|json tenant="},
		{"dev", "open port="},
		{"login", "api= tenant="},
		{"whoami", "json tenant="},
	} {
		if got := flagsOf(byName[tt.verb]); got != tt.flags {
			t.Errorf("%s: flags %q, want %q", tt.verb, got, tt.flags)
		}
	}
	for verb, want := range map[string]map[string]string{
		"secret":     {"put": "tenant=", "list": "json tenant=", "delete": "tenant="},
		"kv":         {"put": "file= tenant=", "get": "tenant=", "delete": "tenant=", "list": "json prefix= tenant="},
		"tenant":     {"create": "json", "list": "json"},
		"completion": {"bash": "", "zsh": ""},
	} {
		got := subsOf(byName[verb])
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: subcommands %v, want %v", verb, got, want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		t.Run(shell, func(t *testing.T) {
			code, script, errOut := run(t, Env{}, []string{"completion", shell}, devStub)
			if code != ExitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, c := range table([]Command{devStub}) {
				if !strings.Contains(script, c.Name) {
					t.Errorf("the script does not mention %q", c.Name)
				}
			}
			for _, w := range []string{"--prefix", "--template", "--port", "--json", "put get delete list"} {
				if shell == "zsh" {
					w = strings.ReplaceAll(w, " ", "' '")
				}
				if !strings.Contains(script, w) {
					t.Errorf("the script does not mention %q", w)
				}
			}
			sh, err := exec.LookPath(shell)
			if err != nil {
				t.Skipf("%s is not installed: the script's syntax is unchecked", shell)
			}
			file := filepath.Join(t.TempDir(), "wedge."+shell)
			os.WriteFile(file, []byte(script), 0o644)
			if out, err := exec.Command(sh, "-n", file).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
	if code, _, errOut := run(t, Env{}, []string{"completion", "fish"}); code != ExitUsage || !strings.Contains(errOut, `"fish": wedge completes bash and zsh`) {
		t.Errorf("fish: exit %d, %q", code, errOut)
	}
}

// TestBashCompletes runs the bash script's function as bash would on Tab.
func TestBashCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	_, script, _ := run(t, Env{}, []string{"completion", "bash"}, devStub)
	file := filepath.Join(t.TempDir(), "wedge.bash")
	os.WriteFile(file, []byte(script), 0o644)
	for _, tt := range []struct{ line, want string }{
		{"wedge de", "dev deploy"},
		{"wedge kv ", "put get delete list"},
		{"wedge kv list --", "--json --prefix --tenant"},
		{"wedge init x --template ", "go c"},
		{"wedge tail w --format j", "json"},
		{"wedge help s", "secret"},
		{"wedge help lo", "login logout"},
		{"wedge dev --p", "--port"},
		{"wedge completion ", "bash zsh"},
		{"wedge deploy --name ", ""}, // a value: the shell's own completion
	} {
		words := strings.Split(tt.line, " ")
		prog := fmt.Sprintf(`source %q; COMP_WORDS=(%s); COMP_CWORD=%d; _wedge; echo "${COMPREPLY[*]}"`, file, quoteWords(words), len(words)-1)
		out, err := exec.Command(bash, "-c", prog).CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != tt.want {
			t.Errorf("%q: got %q (%v), want %q", tt.line, got, err, tt.want)
		}
	}
}

func quoteWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + w + "'"
	}
	return strings.Join(q, " ")
}
