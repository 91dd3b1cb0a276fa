package runtime

import (
	"context"
	goruntime "runtime"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// With Config.InterpretFirst, Compile compiles a module for wazero's
// interpreter, which takes a tenth of the compiler's time, and upgrade
// compiles it for the compiler in the background. When that is done, the
// compiled code replaces the interpreted one as an eviction would (see
// code.go): the module's generation changes, so that pooled instances,
// which keep the interpreted code, are closed rather than reused
// (Config.OnEvict), and every instance made from then on runs compiled.
//
// An image captured from an interpreted instance serves compiled ones as
// well: it is the module's linear memory and globals, which do not depend
// on the engine that ran the initialisation.
//
// The compilation starts when the module is put to use (its first image,
// or a Run), not in Compile: it takes every core, and must not slow down
// the interpreted start-up it is there to shorten. A compilation nobody
// waits for is stopped: when the module's last reference is released (a
// newer build replaced it), its compilation is canceled, to start again
// if the module is put to use once more; and an interpreted module is
// pruned as soon as nothing uses it, rather than after Prune's grace
// period: its code takes ~100 MiB of heap for a Go worker, five times the
// compiled code, and takes a fifth of a second to make again, not
// seconds. PauseCompiling stops them all for
// a while: wedge dev pauses them while it builds and loads a new version,
// which needs the CPU more than the version it replaces.

// upgrade starts compiling m for the compiler in the background, unless m
// already runs compiled code or a compilation is running.
func (m *Module) upgrade() {
	if m.r.quick == nil {
		return
	}
	m.upMu.Lock()
	defer m.upMu.Unlock()
	m.upWanted = true
	if m.upCancel != nil {
		return
	}
	m.codeMu.RLock()
	interpreted := m.engine == m.r.quick
	m.codeMu.RUnlock()
	if !interpreted {
		return
	}
	// Close waits for the compilations it cancels: none may start after.
	m.r.mu.Lock()
	if m.r.closed || m.r.paused > 0 {
		m.r.mu.Unlock()
		return
	}
	m.r.bg.Add(1)
	m.r.mu.Unlock()
	ctx, cancel := context.WithCancel(m.r.bgCtx)
	m.upCancel = cancel
	go func() {
		defer m.r.bg.Done()
		m.compileInBackground(ctx)
		m.upMu.Lock()
		if ctx.Err() == nil || m.upCancel == nil {
			// Finished, or stopped by stopUpgrade: no compilation runs.
			m.upCancel = nil
		}
		m.upMu.Unlock()
		cancel()
	}()
}

// stopUpgrade cancels the background compilation, if one runs.
func (m *Module) stopUpgrade() {
	if m.r.quick == nil {
		return
	}
	m.upMu.Lock()
	defer m.upMu.Unlock()
	if m.upCancel != nil {
		m.upCancel()
		m.upCancel = nil
	}
}

// dropInterpreted prunes m at once if it runs interpreted and nothing
// references it (see Prune).
func (m *Module) dropInterpreted() {
	if m.r.quick == nil || !m.Interpreted() {
		return
	}
	r := m.r
	r.mu.Lock()
	if r.modules[m.sha] != m || !m.refs.CompareAndSwap(0, -1) {
		r.mu.Unlock()
		return
	}
	delete(r.modules, m.sha)
	r.mu.Unlock()
	m.codeMu.Lock()
	m.drop(context.Background())
	m.codeMu.Unlock()
	// Its heap is not returned to the system (returnMemory): the next
	// build's interpreted code takes it again moments later.
}

// PauseCompiling cancels the compilations running in the background (see
// Config.InterpretFirst) and starts none until resume is called; resume
// starts again those of the modules still in use. Pauses nest: the
// compilations resume with the last one.
func (r *Runtime) PauseCompiling() (resume func()) {
	if r.quick == nil {
		return func() {}
	}
	r.mu.Lock()
	r.paused++
	modules := r.moduleList()
	r.mu.Unlock()
	for _, m := range modules {
		m.stopUpgrade()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.paused--
			var modules []*Module
			if r.paused == 0 {
				modules = r.moduleList()
			}
			r.mu.Unlock()
			for _, m := range modules {
				m.upMu.Lock()
				wanted := m.upWanted
				m.upMu.Unlock()
				if wanted && m.refs.Load() > 0 {
					m.upgrade()
				}
			}
		})
	}
}

// moduleList returns the runtime's modules. r.mu is held.
func (r *Runtime) moduleList() []*Module {
	modules := make([]*Module, 0, len(r.modules))
	for _, m := range r.modules {
		modules = append(modules, m)
	}
	return modules
}

// compileInBackground compiles m's code for the compiler, on every core,
// and swaps it in.
func (m *Module) compileInBackground(ctx context.Context) {
	m.codeMu.RLock()
	src, err := m.readSource()
	m.codeMu.RUnlock()
	if err != nil {
		// It stays interpreted: correct, only slower.
		return
	}
	// wazero checks ctx between functions only when it compiles with
	// more than one worker.
	workers := max(goruntime.GOMAXPROCS(0), 2)
	cm, err := m.r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, workers), src)
	if err != nil {
		return
	}
	if !m.swap(ctx, cm) {
		cm.Close(context.Background())
		return
	}
	if m.r.onEvict != nil {
		m.r.onEvict(m.sha)
	}
	close(m.upDone) // after OnEvict: the pools were told
	m.r.trim(m)
}

// swap replaces m's interpreted code with cm, compiled for the compiler.
// It reports false when the compilation is no longer wanted: canceled, or
// the module was pruned.
func (m *Module) swap(ctx context.Context, cm wazero.CompiledModule) bool {
	m.codeMu.Lock()
	defer m.codeMu.Unlock()
	if ctx.Err() != nil || m.refs.Load() < 0 || m.engine != m.r.quick {
		return false
	}
	old := m.compiled
	m.compiled, m.engine = cm, m.r.rt
	m.gen.Add(1)
	if old != nil {
		old.Close(context.Background())
	} else {
		// Evicted while interpreted: now resident again.
		m.resident.Store(true)
		m.r.codeBytes.Add(m.cost)
	}
	return true
}

// Interpreted reports whether the module runs on wazero's interpreter, its
// compiled code not being ready yet (see Config.InterpretFirst).
func (m *Module) Interpreted() bool {
	m.codeMu.RLock()
	defer m.codeMu.RUnlock()
	return m.r.quick != nil && m.engine == m.r.quick
}

// WaitCompiled waits until the module runs compiled code, or ctx is done.
// Without Config.InterpretFirst, or for a module that was never
// interpreted, it returns at once. The compilation starts only once the
// module is put to use (NewImage, Run).
func (m *Module) WaitCompiled(ctx context.Context) error {
	if m.upDone == nil {
		return nil
	}
	select {
	case <-m.upDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
