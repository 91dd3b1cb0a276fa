package runtime

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
)

// Compiled code is the largest part of what a worker costs the host: a Go
// worker's machine code takes about 20 MiB, a thousand times its image's
// private pages. The runtime keeps compiled code in memory under a byte
// budget (Config.CodeBudget): when loading a module's code goes over it,
// the least recently used modules' code is closed, and compiled again on
// their next request — from wazero's on-disk compilation cache, which turns
// a compilation of seconds into a load of tens of milliseconds. What is
// compiled is the instrumented copy of the module, which Compile writes
// beside that cache (or keeps in memory when there is no cache directory).
//
// A module whose code is in use by an instantiation is never evicted at
// that moment; instances made before an eviction keep running on the old
// code, which the Go garbage collector frees once the last of them is
// closed (Config.OnEvict tells the owner of pooled instances to close
// theirs).

// DefaultCodeBudget is the compiled-code budget when Config.CodeBudget is
// zero: about fifty Go workers, thousands of small ones.
const DefaultCodeBudget = 1 << 30

// codeBytesPerWasmByte estimates how much machine code wazero's compiler
// emits per byte of function bodies on amd64 and arm64 (measured: 6.2 for
// a Go worker, whose 3.3 MB of bodies compile to 20 MB).
const codeBytesPerWasmByte = 7

// codeCost estimates what m's compiled code costs in memory.
func codeCost(codeSize int) int64 {
	return int64(codeSize)*codeBytesPerWasmByte + 16<<10
}

// CodeStats describes the runtime's compiled code.
type CodeStats struct {
	Modules   int   // compiled modules the runtime knows
	Resident  int   // of which have their code in memory
	Bytes     int64 // estimated size of the code in memory
	Budget    int64 // the budget Bytes is kept under
	Evictions int64 // code closed to stay under the budget
	Reloads   int64 // code compiled again after an eviction

	// What the compilations to machine code did (see share.go); modules
	// run by the interpreter first (Config.InterpretFirst) count once
	// their compiled code is loaded on eviction, not when it replaces the
	// interpreted one.
	Compiled    int64         // compiled by wazero's compiler
	CacheLoads  int64         // loaded from the disk cache instead
	CompileTime time.Duration // spent in the Compiled ones
	LoadTime    time.Duration // spent in the CacheLoads
	Imported    int64         // compiled code files received (ImportCompiledCode)
}

// CodeStats reports the runtime's compiled-code residency.
func (r *Runtime) CodeStats() CodeStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := CodeStats{
		Modules: len(r.modules), Bytes: r.codeBytes.Load(), Budget: r.codeBudget,
		Evictions: r.evictions.Load(), Reloads: r.reloads.Load(),
		Compiled: r.compiled.Load(), CacheLoads: r.cacheLoads.Load(),
		CompileTime: time.Duration(r.compileNanos.Load()), LoadTime: time.Duration(r.loadNanos.Load()),
		Imported: r.imported.Load(),
	}
	for _, m := range r.modules {
		if m.resident.Load() {
			st.Resident++
		}
	}
	return st
}

// ResetStats reports how many pooled instances were returned to their
// image, and how many of those resets asked the kernel which pages the
// request had made private (the others copied the pages known from an
// earlier scan back; see faultWatch).
func (r *Runtime) ResetStats() (resets, scans int64) {
	return r.resets.Load(), r.resetScans.Load()
}

// Resident reports whether the module's compiled code is in memory; when
// it is not, the next instantiation compiles it again from the disk cache.
func (m *Module) Resident() bool { return m.resident.Load() }

// touch marks the module used, for the LRU.
func (m *Module) touch() { m.lastUse.Store(m.r.clock.Add(1)) }

// code returns the module's compiled code, loading it again if it was
// evicted. On success the code cannot be evicted until the caller calls
// m.codeMu.RUnlock, which it must do once its instantiation is over.
func (m *Module) code(ctx context.Context) (wazero.CompiledModule, error) {
	m.touch()
	for {
		m.codeMu.RLock()
		if m.compiled != nil {
			return m.compiled, nil
		}
		m.codeMu.RUnlock()
		m.codeMu.Lock()
		err := m.reload(ctx)
		m.codeMu.Unlock()
		if err != nil {
			return nil, err
		}
		m.r.trim(m)
	}
}

// keep records the compiled code of m, a new module or a reloaded one.
// m.codeMu is held for writing (or m is not yet shared).
func (m *Module) keep(cm wazero.CompiledModule) {
	m.compiled = cm
	m.resident.Store(true)
	m.r.codeBytes.Add(m.cost)
}

// reload compiles m's code again after an eviction. m.codeMu is held for
// writing.
func (m *Module) reload(ctx context.Context) error {
	if m.compiled != nil {
		return nil // another request reloaded it
	}
	src, err := m.readSource()
	if err != nil {
		return fmt.Errorf("reload compiled code: %w", err)
	}
	// The work is shared by every request waiting for this module: a
	// canceled one must not abort it.
	cm, err := m.r.compileOn(context.WithoutCancel(ctx), m.engine, src, m.sha)
	if err != nil {
		return fmt.Errorf("reload compiled code: %w", err)
	}
	m.keep(cm)
	m.r.reloads.Add(1)
	return nil
}

// readSource returns what Compile compiled: the instrumented module, kept
// in memory or in a file beside wazero's cache (see saveSource). m.codeMu
// is held.
func (m *Module) readSource() ([]byte, error) {
	if m.source != nil {
		return m.source, nil
	}
	b, err := os.ReadFile(m.sourcePath)
	if err != nil {
		return nil, err
	}
	if sha256.Sum256(b) != m.sourceSum {
		return nil, fmt.Errorf("%s was changed", m.sourcePath)
	}
	return b, nil
}

// evict closes m's compiled code if no instantiation uses it now. It
// reports whether it did.
func (m *Module) evict(ctx context.Context) bool {
	if !m.codeMu.TryLock() {
		return false
	}
	defer m.codeMu.Unlock()
	if m.compiled == nil || (m.source == nil && m.sourcePath == "") {
		return false
	}
	m.drop(ctx)
	m.r.evictions.Add(1)
	return true
}

// drop closes m's compiled code. m.codeMu is held for writing.
func (m *Module) drop(ctx context.Context) {
	if m.compiled == nil {
		return
	}
	m.compiled.Close(ctx)
	m.compiled = nil
	m.gen.Add(1)
	m.resident.Store(false)
	m.r.codeBytes.Add(-m.cost)
}

// saveSource keeps what reload compiles: in a file beside wazero's cache,
// or in memory when there is no cache directory (or the file cannot be
// written).
func (r *Runtime) saveSource(m *Module, code []byte) {
	m.sourceSum = sha256.Sum256(code)
	if r.sourceDir != "" {
		path := filepath.Join(r.sourceDir, m.sha+".wasm")
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, code) {
			m.sourcePath = path
			return
		}
		if replaceFile(path, code) == nil {
			m.sourcePath = path
			return
		}
	}
	m.source = code
}

// replaceFile writes data to a temporary file beside path (mode 0600) and
// renames it over path: a reader finds the old content or the new, never
// part of either. On error path is unchanged and nothing is left behind.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// trim evicts the least recently used modules' code until the resident
// code fits the budget again. It never evicts keep, whose code was just
// loaded for a request; a module alone larger than the budget stays.
func (r *Runtime) trim(keep *Module) {
	if r.codeBytes.Load() <= r.codeBudget {
		return
	}
	r.mu.Lock()
	lru := make([]*Module, 0, len(r.modules))
	for _, m := range r.modules {
		if m != keep && m.resident.Load() {
			lru = append(lru, m)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(lru, func(a, b *Module) int { return cmp.Compare(a.lastUse.Load(), b.lastUse.Load()) })
	var evicted []string
	ctx := context.Background()
	for _, m := range lru {
		if r.codeBytes.Load() <= r.codeBudget {
			break
		}
		if m.evict(ctx) {
			evicted = append(evicted, m.sha)
		}
	}
	if r.onEvict != nil {
		for _, sha := range evicted {
			r.onEvict(sha)
		}
	}
	if len(evicted) > 0 {
		r.returnMemory()
	}
}

// returnMemory gives evicted code back to the system soon, at most once
// per memoryReturnInterval. wazero unmaps a module's machine code in a
// finalizer, which runs only after a garbage collection finds the module
// unreachable, and Go returns freed heap to the system only gradually: a
// host under its code budget would otherwise hold evicted code (and the
// garbage of reloading) for minutes.
func (r *Runtime) returnMemory() {
	if !r.returning.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(memoryReturnDelay, func() {
		debug.FreeOSMemory()
		time.AfterFunc(memoryReturnInterval, func() { r.returning.Store(false) })
	})
}

const (
	memoryReturnDelay    = 100 * time.Millisecond // let the pools drop their instances first
	memoryReturnInterval = 5 * time.Second
)
