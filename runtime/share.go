package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
)

// Compiled code shared between hosts.
//
// wazero's compilation cache (Config.CacheDir) keeps one file per compiled
// module, named by a key that wazero derives from the module's bytes, the
// engine's settings and the CPU's features, in a directory per wazero
// version, GOARCH and GOOS. What a Runtime compiles is the instrumented
// copy of an upload, which is deterministic: every host compiles the same
// bytes, so two hosts with the same wazero and CPU features look for the
// same file. A host that received that file from the host that compiled it
// loads it (tens of milliseconds) instead of compiling (seconds for a Go
// worker).
//
// The key needs wazero's internal CPU feature bits, so the runtime does
// not compute it: it watches what its own compiler writes. Every
// compilation on an engine with a disk cache runs under that cache's lock,
// with a listing of the directory before and after; the one file that
// appeared (or changed) is what the compilation produced, and Compile
// records its name beside the instrumented module it keeps for reloads
// (modules/SHA256.code), so that a later cache hit, or a restart, still
// knows it. CompiledCode exports it; ImportCompiledCode places a file
// received from elsewhere into the cache. A file for other CPU features or
// another wazero version is never looked for (its name is another key) or
// is rejected (the version in its header): the receiver then compiles, as
// it would have without it.
//
// Only code of the compiler engine without wazero's termination checks is
// exported (the modules that can be instrumented with checks: every Go
// worker); the others compile on every host.

// ErrNoCompiledCode is returned by CompiledCode when the runtime has no
// compiled code file for the module (not compiled here, compiled before
// the runtime recorded names, compiled with another engine, or no
// Config.CacheDir), and by ImportCompiledCode when the runtime has no disk
// cache to import into.
var ErrNoCompiledCode = errors.New("no compiled code file")

// ErrForeignCode is returned by ImportCompiledCode for a file that another
// version of wazero (or of its file format) wrote: this runtime could not
// load it and compiles the module instead.
var ErrForeignCode = errors.New("compiled code from another wazero version")

// diskCache is one engine's directory in wazero's compilation cache.
type diskCache struct {
	// dir is the directory wazero keeps this version's files in; empty
	// without Config.CacheDir (or when it cannot be found).
	dir string
	// mu serializes the compilations on the engine and the imports into
	// dir, so that a listing before and after a compilation sees only its
	// own file.
	mu sync.Mutex
}

// wazeroVersion is the version wazero writes into its cache files' headers
// and directory names: that of the wazero module this binary was built
// with, found as wazero finds it (internal/version).
var wazeroVersion = sync.OnceValue(func() string {
	v := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if strings.Contains(dep.Path, "github.com/tetratelabs/wazero") {
				v = dep.Version
			}
		}
		if v == "" || v == "(devel)" {
			v = info.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return v
})

// wazeroCacheDir is the directory in which wazero.NewCompilationCacheWithDir
// (dir) keeps its files; "" if it does not exist.
func wazeroCacheDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	d := filepath.Join(abs, "wazero-"+wazeroVersion()+"-"+goruntime.GOARCH+"-"+goruntime.GOOS)
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return ""
	}
	return d
}

// diskOf returns the disk cache of engine, or nil when it has none.
func (r *Runtime) diskOf(engine wazero.Runtime) *diskCache {
	switch {
	case engine == r.rt && r.rtDisk.dir != "":
		return &r.rtDisk
	case engine == r.safe && r.safeDisk.dir != "":
		return &r.safeDisk
	}
	return nil
}

// compileOn compiles code on engine, for the module sha. On an engine with
// a disk cache it tells a compilation from a load out of the cache by the
// file that appears, counts either, and records the file's name for
// CompiledCode.
func (r *Runtime) compileOn(ctx context.Context, engine wazero.Runtime, code []byte, sha string) (wazero.CompiledModule, error) {
	d := r.diskOf(engine)
	if d == nil {
		cm, err := engine.CompileModule(ctx, code)
		if err == nil && engine != r.quick {
			r.compiled.Add(1)
		}
		return cm, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	before := listCode(d.dir)
	start := time.Now()
	cm, err := engine.CompileModule(ctx, code)
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	name := newCodeFile(before, listCode(d.dir))
	if name == "" {
		r.cacheLoads.Add(1)
		r.loadNanos.Add(int64(took))
		return cm, nil
	}
	r.compiled.Add(1)
	r.compileNanos.Add(int64(took))
	if engine == r.rt {
		r.recordCode(sha, name)
	}
	return cm, nil
}

// codeStat is what a listing keeps of a cache file.
type codeStat struct {
	size int64
	mod  time.Time
}

// listCode lists the cache files in dir (named by 64 hex digits; wazero's
// temporary files and ours are not).
func listCode(dir string) map[string]codeStat {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	files := make(map[string]codeStat, len(entries))
	for _, e := range entries {
		if !validCodeName(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil {
			files[e.Name()] = codeStat{info.Size(), info.ModTime()}
		}
	}
	return files
}

// newCodeFile returns the one file of after that is not in before, or
// differs from it (wazero replaces a stale file under the same name): the
// file a compilation wrote. "" when there is none (a load from the cache)
// or more than one (not ours to tell).
func newCodeFile(before, after map[string]codeStat) string {
	name := ""
	for n, st := range after {
		if old, ok := before[n]; ok && old == st {
			continue
		}
		if name != "" {
			return ""
		}
		name = n
	}
	return name
}

// validCodeName reports whether name can be a cache file's name: the hex
// of a SHA-256, lower case, and nothing else (never a path).
func validCodeName(name string) bool {
	if len(name) != 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// codeNamePath is where recordCode keeps the name of module sha's cache
// file: beside the instrumented module saveSource writes.
func (r *Runtime) codeNamePath(sha string) string {
	return filepath.Join(r.sourceDir, sha+".code")
}

// recordCode remembers that module sha's compiled code is the cache file
// name. Best effort: without the record the module's code is not exported.
func (r *Runtime) recordCode(sha, name string) {
	if r.sourceDir == "" || !validCodeName(sha) {
		return
	}
	path := r.codeNamePath(sha)
	if old, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(old)) == name {
		return
	}
	replaceFile(path, []byte(name+"\n"))
}

// CompiledCode opens the file of wazero's compilation cache that holds
// the machine code this runtime compiled for the module with SHA-256 sha
// (hex), for another host to import (ImportCompiledCode): its name, and
// its contents, which the caller must close. It returns ErrNoCompiledCode
// when there is none: the module was not compiled here, or its code was
// not exported (see the top of share.go). The file is opened, so a
// concurrent replacement in the cache does not change what is read.
func (r *Runtime) CompiledCode(sha string) (name string, rc io.ReadCloser, err error) {
	if r.rtDisk.dir == "" || r.sourceDir == "" || !validCodeName(sha) {
		return "", nil, ErrNoCompiledCode
	}
	b, err := os.ReadFile(r.codeNamePath(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, ErrNoCompiledCode
	} else if err != nil {
		return "", nil, fmt.Errorf("compiled code of %s: %w", sha, err)
	}
	name = strings.TrimSpace(string(b))
	if !validCodeName(name) {
		return "", nil, fmt.Errorf("compiled code of %s: %s holds no file name", sha, r.codeNamePath(sha))
	}
	f, err := os.Open(filepath.Join(r.rtDisk.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, ErrNoCompiledCode // removed, e.g. as stale by wazero
	} else if err != nil {
		return "", nil, fmt.Errorf("compiled code of %s: %w", sha, err)
	}
	return name, f, nil
}

// HasCompiledCode reports whether the compilation cache holds a file named
// name (as returned by CompiledCode): importing it again is not needed.
func (r *Runtime) HasCompiledCode(name string) bool {
	if r.rtDisk.dir == "" || !validCodeName(name) {
		return false
	}
	st, err := os.Stat(filepath.Join(r.rtDisk.dir, name))
	return err == nil && st.Mode().IsRegular()
}

// MaxCompiledCodeBytes bounds a file ImportCompiledCode accepts.
const MaxCompiledCodeBytes = 1 << 30

// ImportCompiledCode places compiled code that another host's runtime
// exported (CompiledCode) into this runtime's compilation cache under
// name, so that compiling the module loads it instead of compiling. name
// must be a cache file name (64 lower-case hex digits), never a path; the
// file is checked (wazero's header with this runtime's wazero version,
// the length and checksum of the machine code), written to disk and
// synced, then renamed into place: a reader of the cache sees the whole
// file or none. A file already there is kept and r is not read.
//
// The caller vouches for the file: the runtime maps its machine code
// executable when a module with that key is compiled. Take it only from
// hosts you trust, over a channel that proves where it came from.
func (r *Runtime) ImportCompiledCode(name string, rd io.Reader) (err error) {
	if !validCodeName(name) {
		return fmt.Errorf("import compiled code: %q is not a cache file name", name)
	}
	d := &r.rtDisk
	if d.dir == "" {
		return ErrNoCompiledCode
	}
	path := filepath.Join(d.dir, name)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(d.dir, ".import-*")
	if err != nil {
		return fmt.Errorf("import compiled code: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(rd, MaxCompiledCodeBytes+1))
	if err != nil {
		return fmt.Errorf("import compiled code: %w", err)
	}
	if n > MaxCompiledCodeBytes {
		return fmt.Errorf("import compiled code: larger than %d bytes", MaxCompiledCodeBytes)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("import compiled code: %w", err)
	}
	if err := checkCodeFile(tmp, n); err != nil {
		return fmt.Errorf("import compiled code: %w", err)
	}
	// wazero fails a compilation on a cache file it cannot read, rather
	// than compile: a file torn by a crash must never be there.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("import compiled code: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("import compiled code: %w", err)
	}
	d.mu.Lock()
	err = os.Rename(tmp.Name(), path)
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("import compiled code: %w", err)
	}
	tmp = nil
	r.imported.Add(1)
	return nil
}

// codeMagic starts every file of wazero's compiler cache
// (internal/engine/wazevo/engine_cache.go).
var codeMagic = []byte("WAZEVO")

// crc32c is the checksum wazero appends to the machine code.
var crc32c = crc32.MakeTable(crc32.Castagnoli)

// checkCodeFile checks a cache file of size bytes the way wazero reads it
// (wazevo's deserializeCompiledModule, wazero v1.12): the magic, this
// runtime's wazero version, the function offsets, and the machine code
// against its checksum. wazero would fail the compilation on a file torn
// or corrupt in these parts; one written by another version it would
// delete and compile (ErrForeignCode here, so that it is not placed).
func checkCodeFile(f io.Reader, size int64) error {
	ver := wazeroVersion()
	head := make([]byte, len(codeMagic)+1+len(ver)+4)
	if _, err := io.ReadFull(f, head[:len(codeMagic)+1]); err != nil {
		return fmt.Errorf("not a compiled code file: %w", err)
	}
	if !bytes.Equal(head[:len(codeMagic)], codeMagic) {
		return errors.New("not a compiled code file: bad magic")
	}
	if int(head[len(codeMagic)]) != len(ver) {
		return ErrForeignCode
	}
	if _, err := io.ReadFull(f, head[len(codeMagic)+1:]); err != nil {
		return fmt.Errorf("truncated compiled code file: %w", err)
	}
	if string(head[len(codeMagic)+1:len(codeMagic)+1+len(ver)]) != ver {
		return fmt.Errorf("%w (%q, this host runs %q)", ErrForeignCode, head[len(codeMagic)+1:len(codeMagic)+1+len(ver)], ver)
	}
	funcs := int64(binary.LittleEndian.Uint32(head[len(head)-4:]))
	rest := size - int64(len(head))
	if funcs*8+8 > rest {
		return errors.New("truncated compiled code file: function table")
	}
	if _, err := io.CopyN(io.Discard, f, funcs*8); err != nil {
		return fmt.Errorf("truncated compiled code file: %w", err)
	}
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return fmt.Errorf("truncated compiled code file: %w", err)
	}
	rest -= funcs*8 + 8
	exec := int64(binary.LittleEndian.Uint64(b[:]))
	if exec < 0 || exec+4+1 > rest {
		return errors.New("truncated compiled code file: machine code")
	}
	h := crc32.New(crc32c)
	if _, err := io.CopyN(h, f, exec); err != nil {
		return fmt.Errorf("truncated compiled code file: %w", err)
	}
	if _, err := io.ReadFull(f, b[:4]); err != nil {
		return fmt.Errorf("truncated compiled code file: %w", err)
	}
	if binary.LittleEndian.Uint32(b[:4]) != h.Sum32() {
		return errors.New("corrupt compiled code file: checksum mismatch")
	}
	return nil
}

// HasModule reports whether the runtime holds the module with SHA-256 sha
// (hex), compiled or being compiled: Compile of its bytes then costs no
// compilation, and fetching its compiled code from elsewhere is not
// needed.
func (r *Runtime) HasModule(sha string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.modules[sha]
	return ok
}
