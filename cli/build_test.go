package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestRebuildSameModule: Rebuild, which runs the Go toolchain without its
// garbage collector, writes the module Build writes, byte for byte.
func TestRebuildSameModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go worker; skipped in -short mode")
	}
	t.Setenv("GOFLAGS", "-mod=vendor") // the template vendors the SDK: offline
	t.Setenv("GOPROXY", "off")
	dir := filepath.Join(t.TempDir(), "hello")
	if err := createProject(dir, "hello", "go"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var modules [][]byte
	for _, b := range []func(context.Context, string, io.Writer, io.Writer) (string, error){Build, Rebuild} {
		var stderr bytes.Buffer
		path, err := b(ctx, dir, nil, &stderr)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		m, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		modules = append(modules, m)
		os.Remove(path)
	}
	if !bytes.Equal(modules[0], modules[1]) {
		t.Errorf("Rebuild wrote %d bytes that differ from Build's %d", len(modules[1]), len(modules[0]))
	}
}
