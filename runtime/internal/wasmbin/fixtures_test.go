package wasmbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// validateFeatures are the wabt feature flags the fixtures need; they are
// the flags testdata/gen.sh passes to wat2wasm.
var validateFeatures = []string{
	"--enable-exceptions", "--enable-threads", "--enable-tail-call",
	"--enable-memory64", "--enable-multi-memory", "--enable-extended-const",
	"--enable-relaxed-simd",
}

// fixtures returns the names (without extension) of the .wasm files in
// testdata.
func fixtures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), ".wasm")
	}
	return names
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// validate runs wabt's wasm-validate on wasm. Without wasm-validate the check
// is skipped (logged), not the test.
func validate(t testing.TB, wasm []byte) {
	t.Helper()
	tool, err := exec.LookPath("wasm-validate")
	if err != nil {
		t.Log("wasm-validate (wabt) not installed: validation skipped")
		return
	}
	f := filepath.Join(t.TempDir(), "module.wasm")
	if err := os.WriteFile(f, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, append(validateFeatures, f)...).CombinedOutput()
	if err != nil {
		t.Fatalf("wasm-validate: %v\n%s", err, out)
	}
}

// Builders for hand-made modules.

// module returns a module made of the header and the given sections.
func module(sections ...[]byte) []byte {
	b := append([]byte(nil), header[:]...)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// sec returns a section: id, size, payload.
func sec(id byte, payload ...byte) []byte {
	b := appendU32([]byte{id}, uint32(len(payload)))
	return append(b, payload...)
}

// vec returns a vector: a count then the items, concatenated.
func vec(items ...[]byte) []byte {
	b := appendU32(nil, uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// codeModule returns a module with one function of type [] -> [] whose body
// is the given bytes (locals declaration included).
func codeModule(body ...byte) []byte {
	return module(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(secFunction, vec([]byte{0})...),
		sec(secCode, vec(cat(appendU32(nil, uint32(len(body))), body))...),
	)
}
