package hostapi_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTestdata checks that every .wasm in testdata is what wat2wasm makes
// of its .wat; it needs wat2wasm (wabt) and is skipped without it.
func TestTestdata(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	wats, err := filepath.Glob("testdata/*.wat")
	if err != nil || len(wats) == 0 {
		t.Fatalf("no .wat files (%v)", err)
	}
	tmp := t.TempDir()
	for i, wat := range wats {
		out := filepath.Join(tmp, strconv.Itoa(i)+".wasm")
		if b, err := exec.Command(wat2wasm, wat, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", wat, err, b)
		}
		want, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(wat, ".wat") + ".wasm"
		if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (%v): run go generate", name, err)
		}
	}
}
