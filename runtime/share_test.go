package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/runtime"
)

// exportCode compiles module on a runtime of its own and returns the
// compiled code it exports, and the runtime's statistics.
func exportCode(t *testing.T, module []byte) (string, []byte, runtime.CodeStats) {
	t.Helper()
	rt := newRuntime(t, runtime.Config{CacheDir: t.TempDir()})
	m, err := rt.Compile(context.Background(), module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	name, rc, err := rt.CompiledCode(m.SHA256())
	if err != nil {
		t.Fatalf("CompiledCode after a compilation: %v", err)
	}
	defer rc.Close()
	code, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return name, code, rt.CodeStats()
}

// TestShareCompiledCode: a runtime that imports the code another compiled
// loads it instead of compiling, and the module runs.
func TestShareCompiledCode(t *testing.T) {
	ctx := context.Background()
	mod := wasm(t, "fresh")
	name, code, st := exportCode(t, mod)
	if st.Compiled != 1 || st.CacheLoads != 0 {
		t.Fatalf("exporting runtime: %+v, want 1 compilation", st)
	}

	rt := newRuntime(t, runtime.Config{CacheDir: t.TempDir()})
	if rt.HasCompiledCode(name) {
		t.Fatal("HasCompiledCode before the import")
	}
	if err := rt.ImportCompiledCode(name, bytes.NewReader(code)); err != nil {
		t.Fatal(err)
	}
	if !rt.HasCompiledCode(name) {
		t.Fatal("HasCompiledCode false after the import")
	}
	// A second import of a file that is there reads nothing.
	if err := rt.ImportCompiledCode(name, iotestErrReader{}); err != nil {
		t.Fatalf("second import: %v", err)
	}
	m, err := rt.Compile(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatal(err)
	}
	st = rt.CodeStats()
	if st.Compiled != 0 || st.CacheLoads != 1 || st.Imported != 1 {
		t.Fatalf("importing runtime: %+v, want no compilation, 1 load from the cache, 1 import", st)
	}
	if !rt.HasModule(m.SHA256()) || rt.HasModule(strings.Repeat("0", 64)) {
		t.Error("HasModule is wrong")
	}
}

// iotestErrReader fails every read.
type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("read") }

// TestShareCompiledCodeRecorded: a runtime restarted on its cache, which
// loads the module from the cache instead of compiling it, still exports
// its code; a module it did not compile has none.
func TestShareCompiledCodeRecorded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mod := wasm(t, "fresh")
	rt := newRuntime(t, runtime.Config{CacheDir: dir})
	m := compile(t, rt, "fresh")
	name, rc, err := rt.CompiledCode(m.SHA256())
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	rt.Close(ctx)

	rt2 := newRuntime(t, runtime.Config{CacheDir: dir})
	m2, err := rt2.Compile(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Release()
	if st := rt2.CodeStats(); st.Compiled != 0 || st.CacheLoads != 1 {
		t.Fatalf("restarted runtime: %+v, want a load from the cache", st)
	}
	name2, rc, err := rt2.CompiledCode(m2.SHA256())
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if name2 != name {
		t.Fatalf("name %s after the restart, %s before", name2, name)
	}

	for _, sha := range []string{strings.Repeat("a", 64), "../../etc/passwd", "", strings.Repeat("A", 64)} {
		if _, _, err := rt2.CompiledCode(sha); !errors.Is(err, runtime.ErrNoCompiledCode) {
			t.Errorf("CompiledCode(%q): %v, want ErrNoCompiledCode", sha, err)
		}
	}
	// Without a cache directory there is nothing to export or import into.
	mem := newRuntime(t, runtime.Config{})
	mm := compile(t, mem, "fresh")
	if _, _, err := mem.CompiledCode(mm.SHA256()); !errors.Is(err, runtime.ErrNoCompiledCode) {
		t.Errorf("CompiledCode without a cache: %v", err)
	}
	if err := mem.ImportCompiledCode(name, bytes.NewReader(nil)); !errors.Is(err, runtime.ErrNoCompiledCode) {
		t.Errorf("ImportCompiledCode without a cache: %v", err)
	}
}

// TestImportCompiledCodeRefused: names that are not cache file names and
// files that are not whole, or not of this wazero version, are refused and
// leave nothing in the cache; the module then compiles as usual.
func TestImportCompiledCodeRefused(t *testing.T) {
	mod := wasm(t, "fresh")
	name, code, _ := exportCode(t, mod)
	verLen := int(code[6])
	flip := func(at int) []byte {
		b := bytes.Clone(code)
		b[at] ^= 0xff
		return b
	}
	otherVersion := bytes.Clone(code)
	otherVersion[7] ^= 0x01 // a version string of the same length, another value
	for _, tc := range []struct {
		name, file string
		code       []byte
		foreign    bool
	}{
		{"path", "../" + name[3:], code, false},
		{"absolute path", "/" + name[1:], code, false},
		{"upper case", strings.ToUpper(name), code, false},
		{"short name", name[:63], code, false},
		{"empty", name, nil, false},
		{"not wazero's", name, bytes.Repeat([]byte{'x'}, len(code)), false},
		{"truncated header", name, code[:8], false},
		{"truncated code", name, code[:len(code)/2], false},
		{"corrupt code", name, flip(len(code) / 2), false},
		{"other version", name, otherVersion, true},
		{"other version length", name, append(append([]byte("WAZEVO"), byte(verLen+1)), code[7:]...), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rt := newRuntime(t, runtime.Config{CacheDir: dir})
			err := rt.ImportCompiledCode(tc.file, bytes.NewReader(tc.code))
			if err == nil {
				t.Fatal("import succeeded")
			}
			if errors.Is(err, runtime.ErrForeignCode) != tc.foreign {
				t.Fatalf("error %v: ErrForeignCode %v, want %v", err, !tc.foreign, tc.foreign)
			}
			if rt.HasCompiledCode(name) {
				t.Fatal("the file is in the cache")
			}
			if leftovers := cacheFiles(t, dir); len(leftovers) != 0 {
				t.Fatalf("files left in the cache: %v", leftovers)
			}
			m, err := rt.Compile(context.Background(), mod)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release()
			if st := rt.CodeStats(); st.Compiled != 1 || st.Imported != 0 {
				t.Fatalf("%+v: want one compilation and no import", st)
			}
		})
	}
}

// cacheFiles lists the regular files under dir/interrupt-v1.
func cacheFiles(t *testing.T, dir string) []string {
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "interrupt-v1"), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestShareCompiledCodeGo reports what importing saves on a Go worker.
func TestShareCompiledCodeGo(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a Go worker; skipped in -short mode")
	}
	ctx := context.Background()
	mod := testwasm.Build(t, "examples/hello")
	start := time.Now()
	name, code, st := exportCode(t, mod)
	t.Logf("Go hello (%d bytes): compiled in %v (%v in wazero), compiled code %d bytes", len(mod), time.Since(start).Round(time.Millisecond), st.CompileTime.Round(time.Millisecond), len(code))

	rt := newRuntime(t, runtime.Config{CacheDir: t.TempDir()})
	start = time.Now()
	if err := rt.ImportCompiledCode(name, bytes.NewReader(code)); err != nil {
		t.Fatal(err)
	}
	imported := time.Since(start)
	start = time.Now()
	m, err := rt.Compile(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	loaded := time.Since(start)
	if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatal(err)
	}
	st = rt.CodeStats()
	if st.Compiled != 0 || st.CacheLoads != 1 {
		t.Fatalf("importing runtime: %+v, want a load from the cache", st)
	}
	t.Logf("importing runtime: import (check, write, sync) %v, Compile %v (%v loading from the cache)", imported.Round(time.Millisecond), loaded.Round(time.Millisecond), st.LoadTime.Round(time.Millisecond))
}
