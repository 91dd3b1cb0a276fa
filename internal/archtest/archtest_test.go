package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/wedgeworks/wedge"

// allowed lists, per package, the Wedge packages it may import directly.
// Imports point down the layers; packages on one layer never import each
// other. A package not listed may import nothing of Wedge's.
var allowed = map[string][]string{
	"cmd/wedge":       {"*"},
	"cli":             {"api", "sdk/go"},
	"control":         {"api", "store", "runtime", "metrics", "tail"},
	"edge":            {"api", "scheduler", "hostapi", "cache", "metrics", "tail"},
	"scheduler":       {"api", "runtime", "metrics"},
	"runtime":         {"api"},
	"hostapi":         {"api", "cache", "metrics"},
	"store":           {"api"},
	"store/storetest": {"api", "store"},
	"store/jetstream": {"api", "store"},
	"sdk/go":          {},
	"sdk/go/wedge":    {},
	"metrics":         {},
	"cache":           {},
	"tail":            {"api"},
	"netfilter":       {},
	"api":             {},
}

// thirdParty lists where each heavy dependency may be imported.
var thirdParty = map[string][]string{
	"github.com/tetratelabs/wazero":  {"runtime", "hostapi"},
	"github.com/go-chi/chi":          {"control"},
	"go.etcd.io/bbolt":               {"store", "store/jetstream"}, // the embedded store; the NATS store's local copy
	"github.com/prometheus":          {"metrics"},
	"github.com/BurntSushi/toml":     {"cli"},
	"github.com/fsnotify/fsnotify":   {"cmd/wedge"},
	"github.com/quic-go/quic-go":     {"edge"},
	"github.com/cilium/ebpf":         {"netfilter"},
	"github.com/dgraph-io/ristretto": {"cache"},
	"github.com/nats-io":             {"store/jetstream"},
}

func TestLayers(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		if strings.HasPrefix(pkg, "internal/") || strings.HasPrefix(pkg, "examples/") || strings.Contains(pkg, "/internal/") {
			continue // test helpers, guest programs, a package's own internals
		}
		rules, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in the layering table of %s", pkg, "internal/archtest")
			continue
		}
		for _, imp := range fields[1:] {
			switch {
			case strings.HasPrefix(imp, module+"/"):
				dep := strings.TrimPrefix(imp, module+"/")
				if strings.HasPrefix(dep, "internal/") && pkg == "cmd/wedge" || strings.HasPrefix(dep, pkg+"/internal/") {
					continue
				}
				if !slices.Contains(rules, "*") && !slices.ContainsFunc(rules, func(r string) bool { return dep == r || strings.HasPrefix(dep, r+"/") }) {
					t.Errorf("%s imports %s: not allowed by the layering (DESIGN.md)", pkg, dep)
				}
			case strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
				for prefix, where := range thirdParty {
					if strings.HasPrefix(imp, prefix) && !slices.Contains(where, pkg) {
						t.Errorf("%s imports %s, which belongs in %v only", pkg, imp, where)
					}
				}
			}
		}
	}
}
