package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// ImageConfig configures an Image. The zero value is valid.
type ImageConfig struct {
	// Env is the guest's environment, "KEY=value" pairs. It is part of the
	// image: a guest reads it during initialisation.
	Env []string
	// MemoryLimit caps each instance's linear memory in bytes; zero or more
	// than the runtime's ceiling means the ceiling.
	MemoryLimit uint64
	// Log receives what the guest prints during initialisation; nil discards it.
	Log io.Writer
	// Fresh makes every instance a full instantiation, as if the module
	// could not be reset: plain wazero, the baseline for measurements.
	Fresh bool
}

// Image is a worker's state right after initialisation — linear memory and
// mutable globals, captured once — from which instances are made and to
// which they are reset. Every request served from an Image starts from
// exactly that state.
//
// Modules that cannot be reset safely (they mutate tables or drop
// segments, see RATIONALE.md) get an Image too, whose instances are fully
// fresh instantiations: same semantics, without the speed.
//
// An Image holds a reference to its Module until Close. It is safe for
// concurrent use; its Instances are not.
type Image struct {
	m       *Module
	env     []string
	limit   uint64
	mem     *memImage // nil when the module is not resettable
	pages   uint32
	globals []savedGlobal
	base    wazero.ModuleConfig
	closed  atomic.Bool
	live    sync.WaitGroup // instances not yet closed
}

type savedGlobal struct {
	export string
	value  uint64
}

// NewImage initialises m once with cfg's environment and captures the
// result. The Image takes its own reference to m.
func (m *Module) NewImage(ctx context.Context, cfg ImageConfig) (*Image, error) {
	if !m.Acquire() {
		return nil, ErrClosed
	}
	limit := m.r.maxBytes
	if cfg.MemoryLimit > 0 && cfg.MemoryLimit < limit {
		limit = cfg.MemoryLimit
	}
	img := &Image{m: m, env: cfg.Env, limit: limit}
	img.base = moduleConfig(cfg.Env)
	if m.resettable && !cfg.Fresh {
		if err := img.capture(ctx, cfg.Log); err != nil {
			m.Release()
			return nil, err
		}
	}
	// Once it is put to use: the compilation must not slow the
	// interpreted start-up it is meant to shorten.
	m.upgrade()
	return img, nil
}

// moduleConfig is the instance configuration shared by every instance of
// an image: no start functions (initialisation is ours to run), real clocks,
// a cryptographic random source, the environment. Each instance adds its
// own sleeper (WithNanosleep); without one, a sleep returns at once.
func moduleConfig(env []string) wazero.ModuleConfig {
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	for _, kv := range env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				mc = mc.WithEnv(kv[:i], kv[i+1:])
				break
			}
		}
	}
	return mc
}

// capture instantiates the module, initialises it and saves its memory and
// globals.
func (img *Image) capture(ctx context.Context, log io.Writer) error {
	mem := &memory{limit: img.limit}
	sl := sleeper{ctx: ctx}
	mc := img.base.WithNanosleep(sl.sleep)
	if log != nil {
		mc = mc.WithStdout(log).WithStderr(log)
	}
	inst, err := img.m.instantiate(experimental.WithMemoryAllocator(ctx, mem), mc)
	if err != nil {
		return classify(ctx, err, &mem.refused, "initialize")
	}
	defer inst.Close(context.WithoutCancel(ctx))
	if fn := inst.ExportedFunction(exportPrepare); fn != nil {
		if err := call(ctx, fn); err != nil {
			return classify(ctx, err, &mem.refused, "preparation")
		}
	}
	data, ok := inst.Memory().Read(0, inst.Memory().Size())
	if !ok {
		return errors.New("capture: cannot read the instance's memory")
	}
	img.pages = uint32(len(data) / pageSize)
	for i, g := range img.m.info.Globals {
		if !g.Mutable {
			continue
		}
		name := globalExport(img.m.info.ImportedGlobals + i)
		eg := inst.ExportedGlobal(name)
		if eg == nil {
			return fmt.Errorf("capture: global %s is not exported", name)
		}
		img.globals = append(img.globals, savedGlobal{export: name, value: eg.Get()})
	}
	img.mem, err = newMemImage(data)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

func globalExport(index int) string { return "__wedge_g" + strconv.Itoa(index) }

// Size is the image's linear memory in bytes (zero when not resettable).
func (img *Image) Size() uint64 {
	if img.mem == nil {
		return 0
	}
	return img.mem.size
}

// Resettable reports whether instances are made from a captured image and
// can be reset to it; otherwise each Run is a full instantiation.
func (img *Image) Resettable() bool { return img.mem != nil }

// Close releases the image once every instance made from it is closed.
func (img *Image) Close() {
	if !img.closed.CompareAndSwap(false, true) {
		return
	}
	go func() {
		img.live.Wait()
		if img.mem != nil {
			img.mem.close()
		}
		img.m.Release()
	}()
}

// Instance is a guest instance at its image, ready to serve one request.
// Between requests it must be Reset (or closed). It is not safe for
// concurrent use.
type Instance struct {
	img    *Image
	mod    wapi.Module // nil until instantiated (always nil for fresh instances between runs)
	mem    *cowMemory
	handle wapi.Function
	// globals are mod's globals of img.globals, in order.
	globals []wapi.MutableGlobal
	stdout  switchWriter
	stderr  switchWriter
	sleep   sleeper
	gen     uint64     // the module's eviction count when it was made
	watch   faultWatch // the last run's, for Reset
	dirty   bool
	broken  bool
}

// NewInstance makes an instance at the image. For a resettable image it
// is a cheap instantiation mapping the image copy-on-write; otherwise the
// instance instantiates from scratch in Run.
func (img *Image) NewInstance(ctx context.Context) (*Instance, error) {
	if img.closed.Load() {
		return nil, ErrClosed
	}
	in := &Instance{img: img}
	img.live.Add(1)
	if img.mem == nil {
		return in, nil
	}
	in.mem = &cowMemory{img: img.mem, limit: img.limit}
	mc := img.base.WithStdout(&in.stdout).WithStderr(&in.stderr).WithNanosleep(in.sleep.sleep)
	cm, err := img.m.code(ctx)
	if err != nil {
		img.live.Done()
		return nil, err
	}
	in.gen = img.m.gen.Load()
	mod, err := img.m.engine.InstantiateModule(experimental.WithMemoryAllocator(ctx, in.mem), cm, mc)
	img.m.codeMu.RUnlock()
	if err == nil && in.mem.err != nil {
		mod.Close(ctx)
		err = in.mem.err
	}
	if err != nil {
		img.live.Done()
		return nil, fmt.Errorf("instantiate from image: %w", err)
	}
	in.mod = mod
	if cur := mod.Memory().Size() / pageSize; cur < img.pages {
		if _, ok := mod.Memory().Grow(img.pages - cur); !ok {
			in.Close()
			return nil, errors.New("instantiate from image: cannot grow memory to the image's size")
		}
	}
	in.globals = make([]wapi.MutableGlobal, len(img.globals))
	for i, g := range img.globals {
		mg, ok := mod.ExportedGlobal(g.export).(wapi.MutableGlobal)
		if !ok {
			in.Close()
			return nil, errors.New("instantiate from image: globals are not exported")
		}
		in.globals[i] = mg
	}
	in.restoreGlobals()
	in.handle = mod.ExportedFunction(exportHandle)
	return in, nil
}

// restoreGlobals sets the instance's globals to the image's.
func (in *Instance) restoreGlobals() {
	for i, g := range in.img.globals {
		in.globals[i].Set(g.value)
	}
}

// Run serves one request. rc's MemoryLimit and Env are the image's and
// ignored here. OnReady is called only for an instance that is not
// Resettable (after its full instantiation); for the others the caller
// knows when it took the instance. After Run, the instance must be Reset
// (or closed).
func (in *Instance) Run(ctx context.Context, rc RunConfig) (Result, error) {
	if in.img.mem == nil {
		// Not resettable: a full, fresh instantiation every time.
		rc.MemoryLimit = in.img.limit
		rc.Env = in.img.env
		in.dirty = true
		return in.img.m.Run(ctx, rc)
	}
	if in.dirty || in.broken || in.mod == nil {
		return Result{}, errors.New("runtime: instance used without Reset")
	}
	in.dirty = true
	in.img.m.touch()
	if rc.WallTime > 0 {
		wall := newWallContext(ctx, rc.WallTime)
		defer wall.stop()
		ctx = wall
	}
	in.stdout.w, in.stderr.w = rc.Stdout, rc.Stderr
	defer func() { in.stdout.w, in.stderr.w = nil, nil }()
	start := time.Now()
	in.watch = faultWatch{}
	if rc.Meter != nil { // the meter's segments are the watch's stretches
		rc.Meter.watch = &in.watch
		defer func() { rc.Meter.watch = nil }()
	}
	err := in.img.m.metered(ctx, rc.Meter, func(ctx context.Context) error {
		in.sleep.ctx = ctx // the metered context: a sleep pauses its meter
		err := call(ctx, in.handle)
		in.sleep.ctx = nil
		return err
	})
	res := Result{Exec: time.Since(start), PeakMemory: in.mem.size()}
	if rc.Meter != nil {
		res.CPU = rc.Meter.Used()
	}
	if err != nil {
		in.broken = true
		return res, classify(ctx, err, &in.mem.refused, "handler")
	}
	return res, nil
}

// Reset returns the instance to its image after a Run. It reports false
// when the instance cannot be reused (it trapped, hit a limit or grew its
// memory); the caller must then Close it.
func (in *Instance) Reset() bool {
	if in.broken || in.mod == nil || in.img.closed.Load() {
		return false
	}
	if !in.dirty {
		return true
	}
	ok, scanned := in.mem.reset(in.watch.clean())
	if !ok {
		in.broken = true
		return false
	}
	in.restoreGlobals()
	r := in.img.m.r
	r.resets.Add(1)
	if scanned {
		r.resetScans.Add(1)
	}
	in.dirty = false
	return true
}

// Stale reports whether the module's compiled code was evicted since the
// instance was made: the instance still works, but it keeps the old code
// in memory, so whoever pools instances should close it rather than keep
// it.
func (in *Instance) Stale() bool {
	return in.mod != nil && in.img.m.gen.Load() != in.gen
}

// Resettable reports whether the instance comes from a captured image (a
// cheap instantiation, reusable after Reset) rather than being a full
// instantiation in Run.
func (in *Instance) Resettable() bool { return in.img != nil && in.img.mem != nil }

// Close releases the instance.
func (in *Instance) Close() {
	if in.img == nil {
		return
	}
	if in.mod != nil {
		in.mod.Close(context.Background())
		in.mod = nil
	}
	in.img.live.Done()
	in.img = nil
}

// switchWriter sends an instance's output to the current request's writer.
type switchWriter struct {
	w io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

// PrivatePages reports how many host pages of the instance's memory are
// private copies of the image (its working set across the requests it
// served), or -1 when unknown.
func (in *Instance) PrivatePages() int {
	if in.mem == nil {
		return -1
	}
	return in.mem.privatePages()
}
