package runtime_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/runtime"
)

//go:generate sh -c "cd testdata && for f in *.wat invalid/*.wat; do wat2wasm \"$DOLLAR{f}\" -o \"$DOLLAR{f%.wat}.wasm\"; done"

// newRuntime is a runtime with the wedge_v1 host module, closed when the
// test ends.
func newRuntime(t testing.TB, cfg runtime.Config) *runtime.Runtime {
	t.Helper()
	cfg.HostModules = append(cfg.HostModules, hostapi.Module{})
	rt, err := runtime.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// wasm reads testdata/name.wasm.
func wasm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compile compiles testdata/name.wasm; the reference is released when the
// test ends.
func compile(t testing.TB, rt *runtime.Runtime, name string) *runtime.Module {
	t.Helper()
	m, err := rt.Compile(context.Background(), wasm(t, name))
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	t.Cleanup(m.Release)
	return m
}

// wantCode fails unless err is an *api.Error with code.
func wantCode(t *testing.T, err error, code api.Code) *api.Error {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want an *api.Error with code %s", err, err, code)
	}
	if ae.Code != code {
		t.Fatalf("code %s, want %s (error: %v)", ae.Code, code, err)
	}
	return ae
}

func TestCompileInvalid(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	noop := wasm(t, "noop")
	tests := []struct {
		name string
		wasm []byte
		want string // substring of the message
	}{
		{"not wasm", []byte("#!/bin/sh\necho hello\n"), "not a valid WebAssembly module"},
		{"empty", nil, "not a valid WebAssembly module"},
		{"truncated", noop[:len(noop)-3], "not a valid WebAssembly module"},
		{"missing wedge_handle", wasm(t, "invalid/missing_handle"), "does not export wedge_handle"},
		{"wedge_handle with params", wasm(t, "invalid/handle_params"), "wedge_handle must take no parameters"},
		{"wedge_handle with two results", wasm(t, "invalid/handle_results"), "wedge_handle must take no parameters and return at most one value"},
		{"_initialize with params", wasm(t, "invalid/init_params"), "_initialize must take no parameters"},
		{"_start exported", wasm(t, "invalid/start"), "exports _start"},
		{"no memory export", wasm(t, "invalid/no_memory"), `does not export its memory as "memory"`},
		{"memory exported under another name", wasm(t, "invalid/memory_name"), `does not export its memory as "memory"`},
		{"imported memory", wasm(t, "invalid/imported_memory"), "imports memory env.memory"},
		{"unknown import module", wasm(t, "invalid/unknown_module"), `env.abort: unknown import module "env" (a worker may import wasi_snapshot_preview1, wedge_v1)`},
		{"unknown wedge_v1 function", wasm(t, "invalid/unknown_function"), "wedge_v1.no_such_function, which the host does not provide"},
		{"unknown WASI function", wasm(t, "invalid/unknown_wasi_function"), "wasi_snapshot_preview1.sock_connect, which the host does not provide"},
		{"wrong wedge_v1 signature", wasm(t, "invalid/wrong_signature"), "wedge_v1.request_head with the wrong signature"},
		{"wrong WASI signature", wasm(t, "invalid/wasi_wrong_signature"), "wasi_snapshot_preview1.proc_exit with the wrong signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := rt.Compile(context.Background(), tt.wasm)
			if m != nil {
				t.Fatalf("Compile returned a module (and error %v)", err)
			}
			ae := wantCode(t, err, api.CodeInvalidModule)
			if !strings.Contains(ae.Message, tt.want) {
				t.Errorf("message %q does not contain %q", ae.Message, tt.want)
			}
			if !errors.Is(err, &api.Error{Code: api.CodeInvalidModule}) {
				t.Errorf("errors.Is(err, invalid-module) is false")
			}
		})
	}
	if n := rt.Modules(); n != 0 {
		t.Errorf("the runtime holds %d modules after failed compilations, want 0", n)
	}
	// A failed compilation is not cached: the same bytes fail again.
	for range 2 {
		if _, err := rt.Compile(context.Background(), wasm(t, "invalid/start")); api.CodeOf(err) != api.CodeInvalidModule {
			t.Fatalf("second compile: %v", err)
		}
	}
}

// TestCompileMemoryCeiling: a module whose initial memory exceeds the
// runtime's ceiling cannot be deployed; one that merely declares a larger
// maximum can.
func TestCompileMemoryCeiling(t *testing.T) {
	rt := newRuntime(t, runtime.Config{MaxMemoryBytes: 1 << 20})
	_, err := rt.Compile(context.Background(), wasm(t, "bigmin"))
	if ae := wantCode(t, err, api.CodeInvalidModule); !strings.Contains(ae.Message, "initial memory (2097152 bytes) is larger than the host's limit of 1048576 bytes") {
		t.Errorf("message %q", ae.Message)
	}
	if _, err := rt.Compile(context.Background(), wasm(t, "grow_max")); err != nil {
		t.Fatalf("a module declaring a 4 GiB maximum: %v", err)
	}
}

func TestCompileCache(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	ctx := context.Background()
	b := wasm(t, "noop")
	m1, err := rt.Compile(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := rt.Compile(ctx, bytes.Clone(b))
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 {
		t.Fatal("the same bytes compiled twice gave two modules")
	}
	if sum := sha256.Sum256(b); m1.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256() = %q, want %x", m1.SHA256(), sum)
	}
	if m1.Size() != int64(len(b)) {
		t.Errorf("Size() = %d, want %d", m1.Size(), len(b))
	}
	other := compile(t, rt, "handle_i32")
	if other == m1 || other.SHA256() == m1.SHA256() {
		t.Error("different bytes gave the same module")
	}
	if n := rt.Modules(); n != 2 {
		t.Errorf("Modules() = %d, want 2", n)
	}
	// Each Compile took a reference.
	m1.Release()
	rt.Prune(ctx, 0)
	if rt.Modules() != 2 {
		t.Fatal("Prune closed a module that is still referenced")
	}
	m2.Release()
	rt.Prune(ctx, 0)
	if rt.Modules() != 1 {
		t.Fatalf("Modules() = %d after the last release and Prune, want 1", rt.Modules())
	}
}

// TestCompileConcurrent: concurrent compilations of the same bytes share one
// compilation and one Module.
func TestCompileConcurrent(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	ctx := context.Background()
	b := wasm(t, "fresh")
	const n = 16
	mods := make([]*runtime.Module, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			m, err := rt.Compile(ctx, bytes.Clone(b))
			if err != nil {
				t.Error(err)
				return
			}
			mods[i] = m
		})
	}
	close(start)
	wg.Wait()
	for i, m := range mods {
		if m != mods[0] {
			t.Fatalf("compilation %d gave another module", i)
		}
	}
	if rt.Modules() != 1 {
		t.Fatalf("Modules() = %d, want 1", rt.Modules())
	}
	if _, err := mods[0].Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatal(err)
	}
	// One reference per Compile: the module lives until the last Release.
	for i, m := range mods {
		m.Release()
		rt.Prune(ctx, 0)
		want := 1
		if i == n-1 {
			want = 0
		}
		if rt.Modules() != want {
			t.Fatalf("after %d of %d releases: Modules() = %d, want %d", i+1, n, rt.Modules(), want)
		}
	}

	// Concurrent compilations of an invalid module all fail.
	bad := wasm(t, "invalid/start")
	for range n {
		wg.Go(func() {
			if m, err := rt.Compile(ctx, bad); m != nil || api.CodeOf(err) != api.CodeInvalidModule {
				t.Errorf("Compile = %v, %v; want invalid-module", m, err)
			}
		})
	}
	wg.Wait()
	if rt.Modules() != 0 {
		t.Fatalf("Modules() = %d after failed compilations, want 0", rt.Modules())
	}
}

func TestAcquireReleasePrune(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	ctx := context.Background()
	b := wasm(t, "noop")
	m, err := rt.Compile(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Acquire() {
		t.Fatal("Acquire failed on a live module")
	}
	m.Release()
	rt.Prune(ctx, 0)
	if rt.Modules() != 1 || !m.Acquire() {
		t.Fatal("Prune closed a referenced module")
	}
	m.Release()
	m.Release() // the reference of Compile: now idle
	rt.Prune(ctx, time.Hour)
	if rt.Modules() != 1 {
		t.Fatal("Prune(time.Hour) closed a module idle for less than an hour")
	}
	// Acquire on an idle module revives it.
	if !m.Acquire() {
		t.Fatal("Acquire failed on an idle module")
	}
	rt.Prune(ctx, 0)
	if rt.Modules() != 1 {
		t.Fatal("Prune closed a revived module")
	}
	m.Release()
	rt.Prune(ctx, 0)
	if rt.Modules() != 0 {
		t.Fatalf("Modules() = %d after Prune(0) of an idle module, want 0", rt.Modules())
	}
	if m.Acquire() {
		t.Fatal("Acquire succeeded on a pruned module")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Release of a pruned module did not panic")
			}
		}()
		m.Release()
	}()

	// Compiling the bytes again gives a new module that works.
	m2, err := rt.Compile(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Release()
	if m2 == m {
		t.Fatal("Compile returned the pruned module")
	}
	if _, err := m2.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseBelowZero(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	m, err := rt.Compile(context.Background(), wasm(t, "noop"))
	if err != nil {
		t.Fatal(err)
	}
	m.Release()
	defer func() {
		if recover() == nil {
			t.Error("a second Release did not panic")
		}
	}()
	m.Release()
}

func TestClosed(t *testing.T) {
	rt, err := runtime.New(context.Background(), runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Compile(context.Background(), wasm(t, "noop")); !errors.Is(err, runtime.ErrClosed) {
		t.Fatalf("Compile after Close: %v, want ErrClosed", err)
	}
	rt.Prune(context.Background(), 0) // no panic
}

// TestHammer compiles, runs, releases and prunes from many goroutines at
// once; run it with -race.
func TestHammer(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	ctx := context.Background()
	names := []string{"noop", "fresh", "handle_i32"}
	mods := make([][]byte, len(names))
	for i, name := range names {
		mods[i] = wasm(t, name)
	}
	stop := make(chan struct{})
	var pruner sync.WaitGroup
	pruner.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				rt.Prune(ctx, 0)
				time.Sleep(50 * time.Microsecond)
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				m, err := rt.Compile(ctx, mods[(g+i)%len(mods)])
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
					t.Error(err)
				}
				m.Release()
			}
		})
	}
	wg.Wait()
	close(stop)
	pruner.Wait()
	rt.Prune(ctx, 0)
	if rt.Modules() != 0 {
		t.Errorf("Modules() = %d at the end, want 0", rt.Modules())
	}
}

func TestRun(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	ctx := context.Background()
	tests := []struct {
		name   string
		module string
		cfg    runtime.RunConfig
		code   api.Code // "" for success
		want   string   // substring of the message
		peak   uint64   // PeakMemory, if not 0
	}{
		{name: "noop", module: "noop", peak: 1 << 16},
		{name: "handler returns a value", module: "handle_i32"},
		{name: "fresh instance per request", module: "fresh"},
		{name: "unreachable", module: "unreachable", code: api.CodeWorkerTrap, want: "trapped during its handler"},
		{name: "trap in _initialize", module: "init_trap", code: api.CodeWorkerTrap, want: "during its initialize"},
		{name: "proc_exit", module: "exit", code: api.CodeWorkerTrap, want: "exited during its handler"},
		{name: "grow within the limit", module: "grow", cfg: runtime.RunConfig{MemoryLimit: 4 << 20}, peak: 33 << 16},
		{name: "grow past the limit", module: "grow", cfg: runtime.RunConfig{MemoryLimit: 1 << 20}, code: api.CodeMemoryLimit, peak: 1 << 16},
		{name: "grow to the limit", module: "grow", cfg: runtime.RunConfig{MemoryLimit: 33 << 16}, peak: 33 << 16},
		{name: "grow one page past the limit", module: "grow", cfg: runtime.RunConfig{MemoryLimit: 33<<16 - 1}, code: api.CodeMemoryLimit},
		{name: "initial memory past the limit", module: "bigmin", cfg: runtime.RunConfig{MemoryLimit: 1 << 20}, code: api.CodeMemoryLimit},
		{name: "initial memory at the limit", module: "bigmin", cfg: runtime.RunConfig{MemoryLimit: 2 << 20}, peak: 2 << 20},
		{name: "declared maximum above the limit", module: "grow_max", cfg: runtime.RunConfig{MemoryLimit: 1 << 20}, code: api.CodeMemoryLimit},
		{name: "declared maximum within the limit", module: "grow_max", cfg: runtime.RunConfig{MemoryLimit: 4 << 20}, peak: 33 << 16},
		// The guest's own maximum is the guest's business: a plain trap.
		{name: "guest's own maximum", module: "grow_own_max", cfg: runtime.RunConfig{MemoryLimit: 4 << 20}, code: api.CodeWorkerTrap, want: "trapped", peak: 1 << 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compile(t, rt, tt.module)
			// Twice: the second run must not see the first one's state.
			for range 2 {
				res, err := m.Run(ctx, tt.cfg)
				if tt.code == "" {
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
				} else {
					ae := wantCode(t, err, tt.code)
					if !strings.Contains(ae.Message, tt.want) {
						t.Errorf("message %q does not contain %q", ae.Message, tt.want)
					}
					// The guest's own words stay in the cause, for logs.
					if strings.Contains(ae.Message, "wasm") {
						t.Errorf("message %q has the guest's details", ae.Message)
					}
				}
				if tt.peak != 0 && res.PeakMemory != tt.peak {
					t.Errorf("PeakMemory = %d, want %d", res.PeakMemory, tt.peak)
				}
			}
		})
	}
}

func TestRunTimes(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	m := compile(t, rt, "noop")
	var ready time.Duration
	called := 0
	res, err := m.Run(context.Background(), runtime.RunConfig{OnReady: func(d time.Duration) { ready = d; called++ }})
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 || ready != res.Instantiate || res.Instantiate <= 0 {
		t.Errorf("OnReady called %d times with %v; Result.Instantiate %v", called, ready, res.Instantiate)
	}
	// OnReady is not called when instantiation fails.
	called = 0
	if _, err := compile(t, rt, "init_trap").Run(context.Background(), runtime.RunConfig{OnReady: func(time.Duration) { called++ }}); err == nil || called != 0 {
		t.Errorf("init_trap: err %v, OnReady called %d times", err, called)
	}
}

func TestWallTime(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	loop := compile(t, rt, "loop")
	growLoop := compile(t, rt, "grow_loop")
	initLoop := compile(t, rt, "init_loop")
	tests := []struct {
		name string
		m    *runtime.Module
		ctx  func() (context.Context, context.CancelFunc)
		cfg  runtime.RunConfig
		want func(t *testing.T, err error)
	}{
		{
			name: "wall time", m: loop,
			ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cfg: runtime.RunConfig{WallTime: 100 * time.Millisecond},
			want: func(t *testing.T, err error) {
				if ae := wantCode(t, err, api.CodeWallTime); !strings.Contains(ae.Message, "wall-time limit") {
					t.Errorf("message %q", ae.Message)
				}
			},
		},
		{
			// The deadline goroutine closes the instance while the
			// guest runs: with -race, this checks the memory allocator.
			name: "wall time after memory growth", m: growLoop,
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cfg:  runtime.RunConfig{WallTime: 100 * time.Millisecond, MemoryLimit: 1 << 20},
			want: func(t *testing.T, err error) { wantCode(t, err, api.CodeWallTime) },
		},
		{
			name: "wall time in _initialize", m: initLoop,
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cfg:  runtime.RunConfig{WallTime: 100 * time.Millisecond, OnReady: func(time.Duration) { panic("OnReady called") }},
			want: func(t *testing.T, err error) { wantCode(t, err, api.CodeWallTime) },
		},
		{
			name: "caller's deadline", m: loop,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: func(t *testing.T, err error) {
				if ae := wantCode(t, err, api.CodeWallTime); !strings.Contains(ae.Message, "deadline") {
					t.Errorf("message %q", ae.Message)
				}
			},
		},
		{
			name: "client went away", m: loop,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: func(t *testing.T, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v, want context.Canceled", err)
				}
			},
		},
		{
			name: "canceled before the run", m: loop,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			want: func(t *testing.T, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v, want context.Canceled", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			_, err := tt.m.Run(ctx, tt.cfg)
			if d := time.Since(start); d > time.Second {
				t.Errorf("Run took %v, want about 100ms", d)
			}
			tt.want(t, err)
		})
	}
}

// TestRunConcurrent runs one module in many instances at once, each with
// its own memory limit.
func TestRunConcurrent(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	grow := compile(t, rt, "grow")
	fresh := compile(t, rt, "fresh")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				limit, want := uint64(4<<20), api.Code("")
				if (g+i)%2 == 0 {
					limit, want = 1<<20, api.CodeMemoryLimit
				}
				if _, err := grow.Run(context.Background(), runtime.RunConfig{MemoryLimit: limit}); err != nil && api.CodeOf(err) != want || err == nil && want != "" {
					t.Errorf("grow with limit %d: %v, want %q", limit, err, want)
				}
				if _, err := fresh.Run(context.Background(), runtime.RunConfig{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestRuntimeMemoryCeiling: the runtime's ceiling caps what a Run asks for,
// and growth past it is memory-limit like growth past the Run's limit.
func TestRuntimeMemoryCeiling(t *testing.T) {
	rt := newRuntime(t, runtime.Config{MaxMemoryBytes: 1 << 20})
	for _, name := range []string{"grow", "grow_max"} {
		for _, limit := range []uint64{0, 64 << 20} {
			_, err := compile(t, rt, name).Run(context.Background(), runtime.RunConfig{MemoryLimit: limit})
			if api.CodeOf(err) != api.CodeMemoryLimit {
				t.Errorf("%s with MemoryLimit %d: %v, want memory-limit", name, limit, err)
			}
		}
	}
}

func TestCacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache", "wazero") // created by New
	ctx := context.Background()
	rt := newRuntime(t, runtime.Config{CacheDir: dir})
	m := compile(t, rt, "fresh")
	if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatal(err)
	}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("the compilation cache %s has no files", dir)
	}

	// A second runtime (a restart) compiles from the cache and runs.
	rt2 := newRuntime(t, runtime.Config{CacheDir: dir})
	if _, err := compile(t, rt2, "fresh").Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatal(err)
	}

	// A cache directory that cannot be created fails New.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.New(ctx, runtime.Config{CacheDir: filepath.Join(file, "cache")}); err == nil {
		t.Fatal("New with a cache directory under a file succeeded")
	}
}

// TestTestdata checks that every .wasm in testdata is what wat2wasm makes
// of its .wat; it needs wat2wasm (wabt) and is skipped without it.
func TestTestdata(t *testing.T) {
	checkTestdata(t, "testdata/*.wat", "testdata/invalid/*.wat")
}

func checkTestdata(t *testing.T, patterns ...string) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	var wats []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			t.Fatal(err)
		}
		wats = append(wats, m...)
	}
	if len(wats) == 0 {
		t.Fatal("no .wat files")
	}
	slices.Sort(wats)
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
		got, err := os.ReadFile(strings.TrimSuffix(wat, ".wat") + ".wasm")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s.wasm is out of date (%v): run go generate", strings.TrimSuffix(wat, ".wat"), err)
		}
	}
}
