package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/runtime/internal/wasmbin"
)

// HostModule is a set of host functions that guests import under one module
// name. Package hostapi provides the wedge_v1 module.
type HostModule interface {
	// ModuleName is the import module name, e.g. "wedge_v1".
	ModuleName() string
	// ExportFunctions calls export once for every host function.
	ExportFunctions(export func(name string, fn wapi.GoModuleFunction, params, results []wapi.ValueType))
}

// Config configures a Runtime. The zero value is valid: no disk cache, no
// host modules but WASI, a 4 GiB memory ceiling.
type Config struct {
	// CacheDir holds wazero's on-disk compilation cache. Empty: none.
	CacheDir string
	// MaxMemoryBytes is the host-wide ceiling on one instance's linear
	// memory; a Run may ask for less, never more. Zero means 4 GiB, the
	// most a 32-bit memory can address.
	MaxMemoryBytes uint64
	// HostModules are instantiated once in the runtime; guests may import
	// their functions besides WASI's.
	HostModules []HostModule
	// CodeBudget bounds the compiled code kept in memory, in bytes (an
	// estimate: see code.go). Zero means DefaultCodeBudget; negative means
	// no bound.
	CodeBudget int64
	// OnEvict, if set, is called with a module's SHA-256 after its code
	// was evicted or replaced (see InterpretFirst), so that whoever pools
	// instances of it closes them (they keep the old code alive). It must
	// not block.
	OnEvict func(sha256 string)
	// InterpretFirst makes Compile return as soon as a module is compiled
	// for wazero's interpreter, about ten times sooner than for its
	// compiler (0.2 s against 2 s for a Go worker), and compile it for the
	// compiler in the background, on every core: instances made before the
	// compiled code replaces the interpreted one run interpreted, with the
	// same semantics and limits, only slower (their CPU time counts
	// against the same limit). Only modules that can be instrumented with
	// checks (see Runtime) are interpreted first. For wedge dev, which
	// runs a module moments after it was built; a host serving traffic
	// leaves it off and compiles before it serves.
	InterpretFirst bool
}

const pageSize = 65536

// Runtime compiles and runs worker modules.
//
// It holds two wazero runtimes. Modules that wasmbin can instrument run on
// rt, compiled without wazero's termination checks: the instrumentation
// puts a cheap check of a stop global at every loop header instead, which
// the host sets when a request must end. The others run on safe, compiled
// with WithCloseOnContextDone, whose checks are an indirect call at every
// loop header (Go guests run about five times slower there).
type Runtime struct {
	rt       wazero.Runtime
	safe     wazero.Runtime
	quick    wazero.Runtime // the interpreter, with Config.InterpretFirst; else nil
	maxBytes uint64
	// imports lists, per import module, the functions the host provides.
	imports map[string]map[string]wapi.FunctionDefinition

	mu      sync.Mutex
	modules map[string]*Module // by SHA-256 (hex)
	closed  bool

	// Compiled code under a budget (code.go).
	sourceDir  string // where Compile keeps what reload compiles; "" in memory
	codeBudget int64
	onEvict    func(string)
	codeBytes  atomic.Int64 // estimated code in memory
	clock      atomic.Int64 // ticks at every use, for the LRU
	evictions  atomic.Int64
	reloads    atomic.Int64
	returning  atomic.Bool // a memory return is scheduled (returnMemory)

	// wazero's disk caches, and what compilations did (share.go).
	rtDisk, safeDisk     diskCache
	compiled, cacheLoads atomic.Int64
	compileNanos         atomic.Int64
	loadNanos            atomic.Int64
	imported             atomic.Int64
	resets, resetScans   atomic.Int64 // instances returned to their image; of which by a full scan

	// Compilations in the background (Config.InterpretFirst).
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	paused   int // PauseCompiling calls not resumed; under mu
}

// New creates a Runtime, its compilation cache and its host modules.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	maxBytes := cfg.MaxMemoryBytes
	if maxBytes == 0 || maxBytes > 65536*pageSize {
		maxBytes = 65536 * pageSize
	}
	// The ceiling is enforced by Run's memory allocator, not with
	// WithMemoryLimitPages: wazero would refuse growth past it before the
	// allocator sees it (a worker-trap instead of memory-limit) and refuse
	// to compile modules that merely declare a larger maximum.
	r := &Runtime{
		maxBytes:   maxBytes,
		imports:    make(map[string]map[string]wapi.FunctionDefinition),
		modules:    make(map[string]*Module),
		codeBudget: cfg.CodeBudget,
		onEvict:    cfg.OnEvict,
	}
	switch {
	case r.codeBudget == 0:
		r.codeBudget = DefaultCodeBudget
	case r.codeBudget < 0:
		r.codeBudget = math.MaxInt64
	}
	if cfg.CacheDir != "" {
		r.sourceDir = filepath.Join(cfg.CacheDir, "modules")
		if err := os.MkdirAll(r.sourceDir, 0o700); err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
	}
	var err error
	// Separate cache directories: wazero's file cache key does not say
	// whether the code has termination checks.
	if r.rt, err = r.newEngine(ctx, cfg, wazero.NewRuntimeConfigCompiler(), "interrupt-v1"); err != nil {
		return nil, err
	}
	if r.safe, err = r.newEngine(ctx, cfg, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true), "closeondone-v1"); err != nil {
		r.rt.Close(ctx)
		return nil, err
	}
	if cfg.CacheDir != "" {
		r.rtDisk.dir = wazeroCacheDir(filepath.Join(cfg.CacheDir, "interrupt-v1"))
		r.safeDisk.dir = wazeroCacheDir(filepath.Join(cfg.CacheDir, "closeondone-v1"))
	}
	if cfg.InterpretFirst {
		// Interruptible modules only: the checks stop them, as on rt.
		if r.quick, err = r.newEngine(ctx, cfg, wazero.NewRuntimeConfigInterpreter(), ""); err != nil {
			r.rt.Close(ctx)
			r.safe.Close(ctx)
			return nil, err
		}
	}
	r.bgCtx, r.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	return r, nil
}

// newEngine makes a wazero runtime with WASI and the host modules, with
// wazero's compilation cache in cacheName under Config.CacheDir (none when
// cacheName is empty).
func (r *Runtime) newEngine(ctx context.Context, cfg Config, rc wazero.RuntimeConfig, cacheName string) (wazero.Runtime, error) {
	if cfg.CacheDir != "" && cacheName != "" {
		dir := filepath.Join(cfg.CacheDir, cacheName)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	// WASI, with the calls that would change an instance's host-side state
	// for the requests after it made harmless (see wasiOverrides).
	wasi := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wasi)
	for _, o := range wasiOverrides {
		wasi.NewFunctionBuilder().WithGoModuleFunction(o.fn, o.params, []wapi.ValueType{wapi.ValueTypeI32}).Export(o.name)
	}
	m, err := wasi.Instantiate(ctx)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	r.addImports(m)
	// The runtime's own module: the check instrumented guests call.
	m, err = rt.NewHostModuleBuilder(checkModule).
		NewFunctionBuilder().WithGoModuleFunction(wapi.GoModuleFunc(check), nil, nil).Export(checkName).
		Instantiate(ctx)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate %s: %w", checkModule, err)
	}
	r.addImports(m)
	for _, hm := range cfg.HostModules {
		b := rt.NewHostModuleBuilder(hm.ModuleName())
		hm.ExportFunctions(func(name string, fn wapi.GoModuleFunction, params, results []wapi.ValueType) {
			b.NewFunctionBuilder().WithGoModuleFunction(fn, params, results).Export(name)
		})
		m, err := b.Instantiate(ctx)
		if err != nil {
			rt.Close(ctx)
			return nil, fmt.Errorf("instantiate host module %s: %w", hm.ModuleName(), err)
		}
		r.addImports(m)
	}
	return rt, nil
}

func (r *Runtime) addImports(m wapi.Module) {
	fns := make(map[string]wapi.FunctionDefinition)
	for name, def := range m.ExportedFunctionDefinitions() {
		fns[name] = def
	}
	r.imports[m.Name()] = fns
}

// Close closes every module and the runtime.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.modules = nil
	r.mu.Unlock()
	r.bgCancel()
	r.bg.Wait()
	err := errors.Join(r.rt.Close(ctx), r.safe.Close(ctx))
	if r.quick != nil {
		err = errors.Join(err, r.quick.Close(ctx))
	}
	return err
}

// engineFor is the wazero runtime that compiles a module first: see
// Runtime and Config.InterpretFirst.
func (r *Runtime) engineFor(interruptible bool) wazero.Runtime {
	switch {
	case !interruptible:
		return r.safe
	case r.quick != nil:
		return r.quick
	}
	return r.rt
}

// ErrClosed is returned by Compile after Close.
var ErrClosed = errors.New("runtime closed")

// Compile validates and compiles a module, or returns the module compiled
// before from the same bytes. The returned Module holds a reference for the
// caller, who must Release it when done (see Module.Acquire).
//
// A module that is not valid WebAssembly or does not fit the guest ABI gets
// an *api.Error with code invalid-module and a message fit for the uploader.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	key := hex.EncodeToString(sum[:])

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if m, ok := r.modules[key]; ok && m.Acquire() {
		r.mu.Unlock()
		<-m.ready
		if m.err != nil {
			m.Release()
			return nil, m.err
		}
		return m, nil
	}
	// Compile outside the lock; concurrent callers for the same key wait on ready.
	m := &Module{r: r, sha: key, size: int64(len(wasm)), ready: make(chan struct{})}
	m.refs.Store(1)
	r.modules[key] = m
	r.mu.Unlock()

	var cm wazero.CompiledModule
	var code []byte
	cm, code, m.info, m.why, m.interruptible, m.err = r.compile(ctx, wasm, key)
	m.resettable = m.err == nil && m.why == ""
	m.engine = r.engineFor(m.interruptible)
	if m.err == nil && m.engine == r.quick {
		m.upDone = make(chan struct{}) // see upgrade
	}
	if m.err != nil {
		r.mu.Lock()
		if r.modules[key] == m {
			delete(r.modules, key)
		}
		r.mu.Unlock()
		close(m.ready)
		return nil, m.err
	}
	m.minBytes = uint64(cm.ExportedMemories()["memory"].Min()) * pageSize
	codeSize := len(code)
	if m.info != nil {
		codeSize = m.info.CodeSize
		m.info.Detach() // keep the data segments, not the whole upload
	}
	m.cost = codeCost(codeSize)
	r.saveSource(m, code)
	m.touch()
	m.keep(cm)
	close(m.ready)
	r.trim(m)
	return m, nil
}

// compile validates and compiles a module. What it compiles is an
// instrumented copy whenever it can (see wasmbin.InstrumentWith): a stop
// global checked at every loop header (interruptible), and when the module
// can be reset to an image (why is empty) also mutable globals exported,
// data segments stripped (instantiate applies them) and the start
// function exported instead of run.
func (r *Runtime) compile(ctx context.Context, wasm []byte, sha string) (cm wazero.CompiledModule, code []byte, info *wasmbin.Info, why string, interruptible bool, err error) {
	// Bound what decoding may allocate before wazero sees the module.
	if err := checkBinary(wasm); err != nil {
		return nil, nil, nil, "", false, api.NewError(api.CodeInvalidModule, "not a valid WebAssembly module: "+err.Error(), err)
	}
	code = wasm
	info, perr := wasmbin.Parse(wasm)
	if perr != nil {
		why = "cannot parse: " + perr.Error() // wazero will say what is wrong
	} else {
		for _, e := range info.Exports {
			if strings.HasPrefix(e.Name, reservedPrefix) {
				err := fmt.Errorf("the module exports %q: names starting with %s are reserved for the host", e.Name, reservedPrefix)
				return nil, nil, nil, "", false, api.NewError(api.CodeInvalidModule, err.Error(), err)
			}
		}
		why = resettable(info)
		opts := wasmbin.InstrumentOptions{Interrupt: interruptChecks, StripData: why == "", CallDepth: true}
		instrumented, err := wasmbin.InstrumentWith(wasm, info, opts)
		if err != nil && opts.StripData {
			why = "cannot instrument: " + err.Error()
			opts.StripData = false
			instrumented, err = wasmbin.InstrumentWith(wasm, info, opts)
		}
		if err == nil {
			code, interruptible = instrumented, opts.Interrupt
		} else if opts.Interrupt {
			// Not instrumentable for checks: wazero's own termination.
			opts.Interrupt = false
			if instrumented, err = wasmbin.InstrumentWith(wasm, info, opts); err == nil {
				code = instrumented
			} else if why == "" {
				why = "cannot instrument: " + err.Error()
			}
		}
	}
	cm, err = r.compileOn(ctx, r.engineFor(interruptible), code, sha)
	if err != nil {
		return nil, nil, nil, "", false, api.NewError(api.CodeInvalidModule, "not a valid WebAssembly module: "+err.Error(), err)
	}
	if err := r.validate(cm); err != nil {
		cm.Close(ctx)
		return nil, nil, nil, "", false, api.NewError(api.CodeInvalidModule, err.Error(), err)
	}
	return cm, code, info, why, interruptible, nil
}

// resettable says why a module's instances cannot be reset to an image, or
// "" when they can: all state outside memory and globals must be immutable.
func resettable(info *wasmbin.Info) string {
	switch {
	case !info.Resettable:
		return info.NotResettable
	case info.Memory == nil:
		return "the module has no memory of its own"
	case info.Memory.Shared || info.Memory.Memory64:
		return "shared or 64-bit memory"
	}
	for i, d := range info.Data {
		if !d.Active || !d.OffsetConst || d.MemIndex != 0 {
			return fmt.Sprintf("data segment %d is passive or has a computed offset", i)
		}
	}
	for _, e := range info.Exports {
		if e.Name == exportStart {
			return "the module exports " + exportStart
		}
	}
	return ""
}

// validate checks a compiled module against the guest ABI (docs/abi.md).
func (r *Runtime) validate(cm wazero.CompiledModule) error {
	exports := cm.ExportedFunctions()
	if _, ok := exports["_start"]; ok {
		return errors.New("the module is a WASI command (it exports _start); a worker must be a reactor: build Go workers with -buildmode=c-shared")
	}
	handle, ok := exports[exportHandle]
	if !ok {
		return errors.New("the module does not export " + exportHandle + ": is it built with the Wedge SDK?")
	}
	if len(handle.ParamTypes()) != 0 || len(handle.ResultTypes()) > 1 {
		return errors.New(exportHandle + " must take no parameters and return at most one value")
	}
	if init, ok := exports[exportInit]; ok && (len(init.ParamTypes()) != 0 || len(init.ResultTypes()) != 0) {
		return errors.New(exportInit + " must take no parameters and return nothing")
	}
	mem, ok := cm.ExportedMemories()["memory"]
	if !ok {
		return errors.New(`the module does not export its memory as "memory"`)
	}
	if min := uint64(mem.Min()) * pageSize; min > r.maxBytes {
		return fmt.Errorf("the module's initial memory (%d bytes) is larger than the host's limit of %d bytes", min, r.maxBytes)
	}
	for _, imp := range cm.ImportedMemories() {
		mod, name, _ := imp.Import()
		return fmt.Errorf("the module imports memory %s.%s: a worker must define its own memory", mod, name)
	}
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		fns, ok := r.imports[mod]
		if !ok {
			return fmt.Errorf("the module imports %s.%s: unknown import module %q (a worker may import %s)", mod, name, mod, strings.Join(r.importModules(), ", "))
		}
		def, ok := fns[name]
		if !ok {
			return fmt.Errorf("the module imports %s.%s, which the host does not provide", mod, name)
		}
		if !slices.Equal(def.ParamTypes(), imp.ParamTypes()) || !slices.Equal(def.ResultTypes(), imp.ResultTypes()) {
			return fmt.Errorf("the module imports %s.%s with the wrong signature", mod, name)
		}
	}
	return nil
}

func (r *Runtime) importModules() []string {
	names := make([]string, 0, len(r.imports))
	for name := range r.imports {
		if name != checkModule { // the host's own, not for workers to use
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Prune closes every compiled module that nothing has referenced for at
// least idle. A short grace period keeps a module compiled at deploy time
// warm until the routing table takes it.
func (r *Runtime) Prune(ctx context.Context, idle time.Duration) {
	r.mu.Lock()
	var closing []*Module
	cutoff := time.Now().Add(-idle).UnixNano()
	for key, m := range r.modules {
		if m.idleSince.Load() <= cutoff && m.refs.CompareAndSwap(0, -1) {
			delete(r.modules, key)
			closing = append(closing, m)
		}
	}
	r.mu.Unlock()
	for _, m := range closing {
		m.codeMu.Lock()
		m.drop(ctx)
		m.codeMu.Unlock()
	}
}

// Modules returns how many compiled modules the runtime holds.
func (r *Runtime) Modules() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.modules)
}

const (
	exportHandle = "wedge_handle"
	exportInit   = "_initialize"
	exportStart  = wasmbin.StartExport // the wasm start function, when instrumented
	// checkModule and checkName name the host function instrumented guests
	// call (wasmbin.CheckModule, wasmbin.CheckName).
	checkModule = wasmbin.CheckModule
	checkName   = wasmbin.CheckName
	// interruptChecks turns on the check-based instrumentation (see
	// check); off, every module runs with wazero's WithCloseOnContextDone.
	interruptChecks = true
	// reservedPrefix starts the names of the exports the host adds.
	reservedPrefix = "__wedge_"
	// exportPrepare, optional, runs once after _initialize when the image
	// is captured (the Go SDK collects garbage there).
	exportPrepare = "wedge_prepare"
)

// WASI errno values.
const (
	errnoBadf   = 8
	errnoNotsup = 58
)

// wasiOverrides replace the WASI calls that could change the host-side
// state an instance carries from one request to the next. A worker has
// only stdin, stdout and stderr (no preopened directories, no sockets):
// closing one of them succeeds without closing it, so that the next
// request still has its logs; renumbering is not supported.
var wasiOverrides = []struct {
	name   string
	params []wapi.ValueType
	fn     wapi.GoModuleFunc
}{
	{"fd_close", []wapi.ValueType{wapi.ValueTypeI32}, func(_ context.Context, _ wapi.Module, stack []uint64) {
		if fd := uint32(stack[0]); fd <= 2 {
			stack[0] = 0
		} else {
			stack[0] = errnoBadf
		}
	}},
	{"fd_renumber", []wapi.ValueType{wapi.ValueTypeI32, wapi.ValueTypeI32}, func(_ context.Context, _ wapi.Module, stack []uint64) {
		stack[0] = errnoNotsup
	}},
}
