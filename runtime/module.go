package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/runtime/internal/wasmbin"
)

// Module is a compiled, validated worker module. It is reference counted:
// whoever keeps a Module (a routing table, a request in flight) holds a
// reference, and the runtime frees the compiled code only when none is left
// and Prune runs.
type Module struct {
	r        *Runtime
	sha      string
	size     int64
	minBytes uint64 // the memory's initial size
	err      error
	ready    chan struct{} // closed when compiled or err is set

	// info describes the module as uploaded. When resettable, compiled is
	// an instrumented copy: mutable globals exported, data segments and
	// start function left to instantiate to apply (see instantiate).
	info          *wasmbin.Info
	resettable    bool
	why           string // why not resettable
	interruptible bool   // compiled with a stop global (see stopper)
	engine        wazero.Runtime

	refs      atomic.Int64 // -1 once closed
	idleSince atomic.Int64 // unix nanoseconds when refs last dropped to 0

	// The compiled code, kept under the runtime's budget (code.go).
	codeMu     sync.RWMutex
	compiled   wazero.CompiledModule // nil while evicted
	resident   atomic.Bool           // compiled != nil
	cost       int64                 // estimated size of the code in memory
	source     []byte                // what reload compiles, when not in sourcePath
	sourcePath string
	sourceSum  [sha256.Size]byte
	lastUse    atomic.Int64  // the runtime's clock at the last use
	gen        atomic.Uint64 // counts evictions and upgrades: instances made before one are stale

	// The compilation for the compiler in the background, while the
	// module runs interpreted (interpret.go). Lock order: upMu, codeMu.
	upMu     sync.Mutex
	upCancel context.CancelFunc // of the compilation running; nil when none
	upWanted bool               // the module was put to use: it should be compiled
	upDone   chan struct{}      // closed once an interpreted module runs compiled code; nil if never interpreted
}

// SHA256 is the module's SHA-256, lower-case hex.
func (m *Module) SHA256() string { return m.sha }

// Size is the module's size in bytes.
func (m *Module) Size() int64 { return m.size }

// Acquire takes a reference; it fails once the module was pruned, and then
// the caller must look the module up again (e.g. from a newer routing table).
func (m *Module) Acquire() bool {
	for {
		n := m.refs.Load()
		if n < 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference taken by Compile or Acquire.
func (m *Module) Release() {
	switch n := m.refs.Add(-1); {
	case n == 0:
		m.idleSince.Store(time.Now().UnixNano())
		m.stopUpgrade() // nothing uses it: spare the CPU
		m.dropInterpreted()
	case n < 0:
		panic("runtime: Module released more often than acquired")
	}
}

// RunConfig is one request's instance configuration. The zero value is
// valid: no environment, output discarded, the runtime's memory ceiling, no
// deadline beyond ctx.
type RunConfig struct {
	// Env is the guest's environment, as "KEY=value" pairs.
	Env []string
	// Stdout and Stderr receive the guest's output; nil discards it.
	Stdout, Stderr io.Writer
	// WallTime bounds the request (instantiation included); zero: none.
	WallTime time.Duration
	// MemoryLimit caps the instance's linear memory in bytes; zero or more
	// than the runtime's ceiling means the ceiling.
	MemoryLimit uint64
	// OnReady, if set, is called with the instantiation time right before
	// the guest's handler is called.
	OnReady func(instantiate time.Duration)
	// Meter, if set, measures the handler's CPU time and enforces its
	// limit (cpu-limit). The caller pauses it around waits in host
	// functions. Guests that cannot be instrumented with checks get their
	// CPU limit as a deadline on the wall clock instead.
	Meter *Meter
}

// Result describes a finished Run.
type Result struct {
	Instantiate time.Duration // instantiation, _initialize included
	Exec        time.Duration // the handler call
	CPU         time.Duration // the handler's CPU time, when RunConfig.Meter was set
	PeakMemory  uint64        // linear memory size at the end, in bytes
}

// Run serves one request in a fresh instance of m. Host functions find
// their per-request state in ctx. The caller must hold a reference to m.
//
// Errors are *api.Error values: worker-trap (trap, exit, panic, bad
// hostcall), wall-time, memory-limit; or ctx's error when ctx was canceled
// by the caller (the client went away).
func (m *Module) Run(ctx context.Context, cfg RunConfig) (Result, error) {
	var res Result
	if cfg.WallTime > 0 {
		wall := newWallContext(ctx, cfg.WallTime)
		defer wall.stop()
		ctx = wall
	}
	limit := m.r.maxBytes
	if cfg.MemoryLimit > 0 && cfg.MemoryLimit < limit {
		limit = cfg.MemoryLimit
	}
	if m.minBytes > limit {
		// wazero cannot fail an allocation of the initial memory: it would
		// panic (an index out of range) in InstantiateModule.
		return res, api.NewError(api.CodeMemoryLimit, "the worker's initial memory is larger than its memory limit", nil)
	}
	m.upgrade() // see Config.InterpretFirst
	mem := &memory{limit: limit}
	ctx = experimental.WithMemoryAllocator(ctx, mem)

	sl := sleeper{ctx: ctx} // for the initialisation; the call sets its own
	mc := moduleConfig(cfg.Env).WithNanosleep(sl.sleep)
	if cfg.Stdout != nil {
		mc = mc.WithStdout(cfg.Stdout)
	}
	if cfg.Stderr != nil {
		mc = mc.WithStderr(cfg.Stderr)
	}

	start := time.Now()
	inst, err := m.instantiate(ctx, mc)
	res.Instantiate = time.Since(start)
	if err != nil {
		res.PeakMemory = mem.size()
		return res, classify(ctx, err, &mem.refused, "initialize")
	}
	defer inst.Close(context.WithoutCancel(ctx))
	if cfg.OnReady != nil {
		cfg.OnReady(res.Instantiate)
	}
	start = time.Now()
	err = m.metered(ctx, cfg.Meter, func(ctx context.Context) error {
		sl.ctx = ctx // the metered context: a sleep pauses its meter
		return call(ctx, inst.ExportedFunction(exportHandle))
	})
	res.Exec = time.Since(start)
	if cfg.Meter != nil {
		res.CPU = cfg.Meter.Used()
	}
	res.PeakMemory = mem.size()
	if err != nil {
		return res, classify(ctx, err, &mem.refused, "handler")
	}
	return res, nil
}

var errWallTime = errors.New("wall time exceeded")

// instantiate makes a fully initialised instance: what the wasm start-up
// sequence does (data segments, start function), then the reactor's
// _initialize. An instrumented module leaves the first two to us.
func (m *Module) instantiate(ctx context.Context, mc wazero.ModuleConfig) (wapi.Module, error) {
	cm, err := m.code(ctx)
	if err != nil {
		return nil, err
	}
	if !m.resettable && !m.interruptible {
		// Not instrumented: wazero runs the start-up itself, and its own
		// termination checks stop it.
		defer m.codeMu.RUnlock()
		return m.engine.InstantiateModule(ctx, cm, mc.WithStartFunctions(exportInit))
	}
	inst, err := m.engine.InstantiateModule(ctx, cm, mc.WithStartFunctions())
	m.codeMu.RUnlock()
	if err != nil {
		return nil, err
	}
	mem := inst.Memory()
	for _, d := range m.strippedData() {
		if !mem.Write(d.Offset, d.Bytes) {
			inst.Close(ctx)
			return nil, errors.New("data segment does not fit in memory")
		}
	}
	for _, name := range []string{exportStart, exportInit} {
		if fn := inst.ExportedFunction(name); fn != nil {
			if err := call(ctx, fn); err != nil {
				inst.Close(ctx)
				return nil, err
			}
		}
	}
	return inst, nil
}

// strippedData returns the data segments instantiate must apply: those the
// instrumentation removed from the compiled module.
func (m *Module) strippedData() []wasmbin.Data {
	if !m.resettable {
		return nil
	}
	return m.info.Data
}

// errStopped is how the check host function stops a guest whose request
// is over: it panics with it, and wazero turns the panic into the call's
// error.
var errStopped = errors.New("stopped: the request is over")

// maxCallDepth is the call depth limit of instrumented guests: at most that
// many calls of the guest's own functions active at once, counted by the
// instrumentation (wasmbin.InstrumentOptions.CallDepth) and tested by check.
// check runs once every wasmbin.CheckInterval function entries and loop
// iterations, so a recursion is stopped between maxCallDepth+1 and
// maxCallDepth+CheckInterval frames (12,000): a guest that stays within the
// limit is never stopped. wazero keeps a guest's call stack in a Go slice
// that it doubles as the stack grows, up to a ceiling of about 50 MB: a
// guest recursing without end made the host allocate 162 MiB (a heap peak
// of 142 MiB) before it trapped, and hold it for as long as the request
// lasted. A frame of the smallest function takes about 100 bytes of that
// stack (testdata/recurse.wat, stopped within 12,000 frames, allocates
// 2.6 MiB in all, copies included), more for functions whose values wazero
// spills: 10,000 keeps a request's stack to a few MB. It is of the order of
// what other engines allow (V8 10,000 to 20,000 frames in its 1 MB stack;
// wasmtime a 512 KiB stack), and deeper than a handler has reason to go.
// See RATIONALE.md.
const maxCallDepth = 10000

// depthExport names the global in which instrumented guests count their
// call depth.
const depthExport = wasmbin.DepthExport

// errCallDepth is how check stops a guest that is too deep.
var errCallDepth = errors.New("call depth exceeded: too many nested calls")

// check is wedge_runtime.check. Instrumented guests call it every
// wasmbin.CheckInterval loop iterations and function entries, so that a
// guest always comes back to Go within microseconds: Go cannot preempt
// compiled wasm code, and without these calls a looping guest would hold
// its P — starving the rest of the process and blocking the garbage
// collector's stop-the-world for as long as it loops. check stops a guest
// deeper than maxCallDepth calls, or whose context is done or past its
// deadline, and otherwise yields.
func check(ctx context.Context, mod wapi.Module, _ []uint64) {
	if g := mod.ExportedGlobal(depthExport); g != nil && wasmbin.CallDepth(g.Get()) > maxCallDepth {
		panic(errCallDepth)
	}
	if ctx.Err() != nil {
		panic(errStopped)
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		panic(errStopped)
	}
	if m := meterFrom(ctx); m != nil {
		m.check(goruntime.Gosched)
		return
	}
	goruntime.Gosched()
}

// metered runs call under rc's meter: CPU time measured and limited by
// check for instrumented guests, by a deadline on the wall clock for the
// others.
func (m *Module) metered(ctx context.Context, meter *Meter, call func(context.Context) error) error {
	if meter == nil {
		return call(ctx)
	}
	if !m.interruptible && meter.Limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, meter.Limit-meter.Used(), errCPULimit)
		defer cancel()
	}
	meter.start()
	err := call(withMeter(ctx, meter))
	meter.stop()
	if err != nil && (meter.exceeded || context.Cause(ctx) == errCPULimit) && !errors.Is(err, errCPULimit) {
		err = errors.Join(errCPULimit, err)
	}
	return err
}

// call calls a guest function. Instrumented guests are stopped by check;
// the others by wazero itself (WithCloseOnContextDone).
func call(ctx context.Context, fn wapi.Function) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := fn.Call(ctx)
	return err
}

// classify turns what wazero returned into the error the client's code
// comes from. The guest's own message stays in the cause, for logs.
func classify(ctx context.Context, err error, refused *atomic.Bool, phase string) error {
	if refused.Load() {
		return api.NewError(api.CodeMemoryLimit, "the worker exceeded its memory limit", err)
	}
	if errors.Is(err, errCPULimit) || cause(ctx) == errCPULimit {
		return api.NewError(api.CodeCPULimit, "the worker exceeded its CPU time limit", err)
	}
	if errors.Is(err, errCallDepth) {
		return api.NewError(api.CodeWorkerTrap, "the worker exceeded its call depth limit during its "+phase, err)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			if cause(ctx) == errWallTime {
				return api.NewError(api.CodeWallTime, "the worker exceeded its wall-time limit", err)
			}
			return api.NewError(api.CodeWallTime, "the request's deadline passed", err)
		case sys.ExitCodeContextCanceled:
			return context.Canceled
		}
		return api.NewError(api.CodeWorkerTrap, "the worker exited during its "+phase, err)
	}
	if errors.Is(err, errStopped) || ctx.Err() != nil {
		// Stopped by check (or the guest trapped just as ctx ended: the
		// same answer either way). check may have seen the deadline pass
		// before the context's timer fired: it fires right after.
		<-ctx.Done()
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			return context.Canceled
		case cause(ctx) == errWallTime:
			return api.NewError(api.CodeWallTime, "the worker exceeded its wall-time limit", err)
		default:
			return api.NewError(api.CodeWallTime, "the request's deadline passed", err)
		}
	}
	return api.NewError(api.CodeWorkerTrap, "the worker trapped during its "+phase, err)
}
