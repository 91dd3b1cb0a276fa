package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelpAndCompletion: every verb the binary registers (serve and dev
// included) is in `wedge help` with a summary, answers `wedge help VERB`
// and `wedge VERB --help` with the same usage, and is in both completion
// scripts, which bash and zsh accept.
func TestHelpAndCompletion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped in -short mode")
	}
	bin := wedgeBin(t)
	wedge := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("wedge %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	help := wedge("help")
	section := help[strings.Index(help, "Commands:\n")+len("Commands:\n"):]
	section = section[:strings.Index(section, "\n\n")]
	var verbs []string
	for _, line := range strings.Split(section, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Errorf("a verb without a summary: %q", line)
			continue
		}
		verbs = append(verbs, f[0])
	}
	for _, want := range []string{"serve", "init", "dev", "build", "deploy", "versions", "rollback", "tail", "secret", "kv", "tenant", "login", "logout", "whoami", "completion"} {
		if !strings.Contains(" "+strings.Join(verbs, " ")+" ", " "+want+" ") {
			t.Errorf("wedge help does not list %s:\n%s", want, help)
		}
	}
	for _, want := range []string{"WEDGE_API", "WEDGE_TOKEN", "WEDGE_TENANT", filepath.Join(".config", "wedge", "config.json"), "Exit status:", "README.md"} {
		if !strings.Contains(help, want) {
			t.Errorf("wedge help lacks %q", want)
		}
	}
	for _, v := range verbs {
		usage := wedge("help", v)
		if !regexp.MustCompile(`(?i)^usage: wedge `+regexp.QuoteMeta(v)+`\b`).MatchString(usage) || len(usage) < 80 {
			t.Errorf("wedge help %s: %q", v, usage)
		}
		if same := wedge(v, "--help"); same != usage {
			t.Errorf("wedge %s --help differs from wedge help %s", v, v)
		}
	}
	if dev := wedge("help", "dev"); !strings.Contains(dev, "127.0.0.0/8 and ::1") {
		t.Errorf("wedge dev --help does not say that fetch may reach loopback:\n%s", dev)
	}

	for _, shell := range []string{"bash", "zsh"} {
		t.Run(shell, func(t *testing.T) {
			script := wedge("completion", shell)
			for _, v := range verbs {
				if !strings.Contains(script, v) {
					t.Errorf("the %s script does not mention %s", shell, v)
				}
			}
			for _, flag := range []string{"--egress-allow", "--port", "--template", "--prefix", "--api"} {
				if !strings.Contains(script, flag) {
					t.Errorf("the %s script does not mention %s", shell, flag)
				}
			}
			sh, err := exec.LookPath(shell)
			if err != nil {
				t.Skipf("%s is not installed: the script's syntax is unchecked", shell)
			}
			file := filepath.Join(t.TempDir(), "wedge."+shell)
			os.WriteFile(file, []byte(script), 0o644)
			if out, err := exec.Command(sh, "-n", file).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
}
