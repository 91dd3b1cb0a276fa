package runtime_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/runtime"
)

// TestInterpretFirst: with Config.InterpretFirst a module runs on the
// interpreter until its compiled code is ready, with the same results and
// limits as compiled, through both ways of running it (a full
// instantiation, an instance from an image captured while interpreted);
// then it runs compiled code, from the same image.
func TestInterpretFirst(t *testing.T) {
	var evictedMu sync.Mutex
	var evicted []string
	rt := newRuntime(t, runtime.Config{InterpretFirst: true, OnEvict: func(sha string) {
		evictedMu.Lock()
		evicted = append(evicted, sha)
		evictedMu.Unlock()
	}})
	ctx := context.Background()
	tests := []struct {
		name   string
		module string
		cfg    func() runtime.RunConfig
		code   api.Code // "" for success
		want   string   // substring of the message
	}{
		{name: "noop", module: "noop"},
		{name: "state from the image", module: "fresh"},
		{name: "trap", module: "unreachable", code: api.CodeWorkerTrap, want: "trapped during its handler"},
		{name: "proc_exit", module: "exit", code: api.CodeWorkerTrap, want: "exited during its handler"},
		{name: "stack overflow", module: "recurse", code: api.CodeWorkerTrap},
		{name: "grow within the limit", module: "grow", cfg: func() runtime.RunConfig { return runtime.RunConfig{MemoryLimit: 4 << 20} }},
		{name: "grow past the limit", module: "grow", cfg: func() runtime.RunConfig { return runtime.RunConfig{MemoryLimit: 1 << 20} }, code: api.CodeMemoryLimit},
		{name: "cpu limit", module: "loop", code: api.CodeCPULimit,
			cfg: func() runtime.RunConfig {
				return runtime.RunConfig{WallTime: 10 * time.Second, Meter: &runtime.Meter{Limit: 50 * time.Millisecond}}
			}},
		{name: "wall time", module: "loop", code: api.CodeWallTime,
			cfg: func() runtime.RunConfig { return runtime.RunConfig{WallTime: 100 * time.Millisecond} }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A variant of its own: a module compiled before would not be
			// interpreted.
			m, err := rt.Compile(ctx, variant(t, tt.module, i))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release()
			release := runtime.HoldUpgrade(m)
			if !m.Interpreted() {
				t.Fatal("not interpreted after Compile")
			}
			limit := uint64(0)
			if tt.cfg != nil {
				limit = tt.cfg().MemoryLimit
			}
			img, err := m.NewImage(ctx, runtime.ImageConfig{MemoryLimit: limit})
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			check := func(phase string, err error) {
				t.Helper()
				if tt.code == "" {
					if err != nil {
						t.Fatalf("%s: %v", phase, err)
					}
					return
				}
				ae := wantCode(t, err, tt.code)
				if !strings.Contains(ae.Message, tt.want) {
					t.Errorf("%s: message %q does not contain %q", phase, ae.Message, tt.want)
				}
			}
			run := func(phase string) (pooled *runtime.Instance) {
				t.Helper()
				cfg := runtime.RunConfig{}
				if tt.cfg != nil {
					cfg = tt.cfg()
				}
				_, err := m.Run(ctx, cfg)
				check(phase+", full instantiation", err)
				in, err := img.NewInstance(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tt.cfg != nil {
					cfg = tt.cfg()
				}
				_, err = in.Run(ctx, cfg)
				check(phase+", from the image", err)
				if !in.Reset() {
					in.Close()
					return nil
				}
				return in
			}
			pooled := run("interpreted")
			if !m.Interpreted() {
				t.Fatal("compiled while held")
			}
			release()
			m.Run(ctx, runtime.RunConfig{WallTime: time.Second}) // puts it to use again: the compilation starts
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := m.WaitCompiled(wctx); err != nil {
				t.Fatalf("WaitCompiled: %v", err)
			}
			if m.Interpreted() {
				t.Fatal("interpreted after WaitCompiled")
			}
			if pooled != nil {
				if !pooled.Stale() {
					t.Error("an instance made interpreted is not stale once the compiled code is in")
				}
				pooled.Close()
			}
			if in := run("compiled"); in != nil {
				if in.Stale() {
					t.Error("an instance made compiled is stale")
				}
				in.Close()
			}
			evictedMu.Lock()
			defer evictedMu.Unlock()
			found := false
			for _, sha := range evicted {
				found = found || sha == m.SHA256()
			}
			if !found {
				t.Error("OnEvict was not called when the compiled code replaced the interpreted one")
			}
		})
	}
}

// TestInterpretFirstRestart: a compilation stopped because nothing used
// the module any more starts again when the module is put to use again;
// Close waits for the compilations running.
func TestInterpretFirstRestart(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		rt := newRuntime(t, runtime.Config{InterpretFirst: true})
		m, err := rt.Compile(ctx, variant(t, "fresh", round))
		if err != nil {
			t.Fatal(err)
		}
		img, err := m.NewImage(ctx, runtime.ImageConfig{}) // starts the compilation
		if err != nil {
			t.Fatal(err)
		}
		img.Close()
		m.Release() // stops it, unless it is done
		if round%2 == 1 {
			rt.Close(ctx) // with a compilation perhaps running
			continue
		}
		m, err = rt.Compile(ctx, variant(t, "fresh", round))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := m.WaitCompiled(wctx); err != nil {
			t.Fatalf("round %d: WaitCompiled: %v", round, err)
		}
		cancel()
		if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
			t.Fatal(err)
		}
		m.Release()
	}
}

// Without InterpretFirst nothing is interpreted, and WaitCompiled returns
// at once.
func TestInterpretFirstOff(t *testing.T) {
	rt := newRuntime(t, runtime.Config{})
	m := compile(t, rt, "noop")
	if m.Interpreted() {
		t.Error("interpreted without InterpretFirst")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.WaitCompiled(ctx); err != nil {
		t.Errorf("WaitCompiled: %v", err)
	}
}

// TestPauseCompiling: while compilations are paused none starts, and a
// module put to use meanwhile is compiled once they resume.
func TestPauseCompiling(t *testing.T) {
	rt := newRuntime(t, runtime.Config{InterpretFirst: true})
	ctx := context.Background()
	resume := rt.PauseCompiling()
	inner := rt.PauseCompiling()
	m := compile(t, rt, "fresh")
	img, err := m.NewImage(ctx, runtime.ImageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	inner()
	inner() // a second call does nothing
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := m.WaitCompiled(wctx); err == nil || !m.Interpreted() {
		t.Fatalf("compiled while paused (WaitCompiled: %v)", err)
	}
	in, err := img.NewInstance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatalf("interpreted: %v", err)
	}
	in.Close()
	resume()
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitCompiled(wctx); err != nil {
		t.Fatalf("WaitCompiled after resume: %v", err)
	}
	if in, err = img.NewInstance(ctx); err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatalf("compiled: %v", err)
	}
}

// TestInterpretedDropped: an interpreted module is pruned as soon as
// nothing references it; once compiled it waits for Prune, as without
// InterpretFirst.
func TestInterpretedDropped(t *testing.T) {
	rt := newRuntime(t, runtime.Config{InterpretFirst: true})
	ctx := context.Background()
	m, err := rt.Compile(ctx, variant(t, "fresh", 1))
	if err != nil {
		t.Fatal(err)
	}
	runtime.HoldUpgrade(m)
	m.Release()
	if n := rt.Modules(); n != 0 {
		t.Errorf("an interpreted module nothing uses is kept: %d modules", n)
	}
	if m.Acquire() {
		t.Error("a dropped module can be acquired")
	}

	m, err = rt.Compile(ctx, variant(t, "fresh", 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil { // starts the compilation
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.WaitCompiled(wctx); err != nil {
		t.Fatal(err)
	}
	m.Release()
	if n := rt.Modules(); n != 1 {
		t.Errorf("a compiled module nothing uses is dropped before Prune: %d modules", n)
	}
	rt.Prune(ctx, 0)
	if n := rt.Modules(); n != 0 {
		t.Errorf("Prune left %d modules", n)
	}
}
