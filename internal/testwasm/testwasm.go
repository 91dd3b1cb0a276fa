// Package testwasm builds Go guests for tests: a worker package in the
// repository, compiled with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
// Builds are cached per package for the test binary's lifetime, and the Go
// build cache makes a rebuild cheap.
package testwasm

import (
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// Root returns the repository's root directory (where go.mod is).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		t.Fatal("testwasm: cannot find the source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles the Go worker in dir (relative to the repository root, e.g.
// "examples/hello") and returns the module's bytes.
func Build(t testing.TB, dir string) []byte {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[dir]; ok {
		return b
	}
	out := filepath.Join(t.TempDir(), "worker.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join(Root(t), dir)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testwasm: build %s: %v\n%s", dir, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built[dir] = b
	return b
}
