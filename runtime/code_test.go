package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wedgeworks/wedge/runtime"
)

// variant returns testdata/name.wasm with a custom section that makes its
// bytes, and so its SHA-256, differ for every i: distinct modules with the
// same code.
func variant(t testing.TB, name string, i int) []byte {
	t.Helper()
	payload := append([]byte{7}, []byte("variant")...)
	payload = append(payload, byte(i), byte(i>>8))
	return append(wasm(t, name), append([]byte{0, byte(len(payload))}, payload...)...)
}

// smallCost is a budget that holds the code of about n test modules.
func smallCost(n int) int64 { return int64(n)*(16<<10) + 8<<10 }

func TestCodeBudget(t *testing.T) {
	for _, disk := range []bool{true, false} {
		t.Run(map[bool]string{true: "disk", false: "memory"}[disk], func(t *testing.T) {
			var mu sync.Mutex
			var evicted []string
			cfg := runtime.Config{CodeBudget: smallCost(2), OnEvict: func(sha string) {
				mu.Lock()
				evicted = append(evicted, sha)
				mu.Unlock()
			}}
			if disk {
				cfg.CacheDir = t.TempDir()
			}
			rt := newRuntime(t, cfg)
			ctx := context.Background()
			var mods []*runtime.Module
			for i := range 5 {
				m, err := rt.Compile(ctx, variant(t, "fresh", i))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(m.Release)
				mods = append(mods, m)
			}
			st := rt.CodeStats()
			if st.Modules != 5 || st.Resident > 2 || st.Evictions < 3 || st.Bytes > st.Budget {
				t.Fatalf("after 5 compilations: %+v, want 5 modules, at most 2 resident, within the budget", st)
			}
			if mods[0].Resident() || !mods[4].Resident() {
				t.Fatalf("resident: first %v, last %v; want the least recently used evicted", mods[0].Resident(), mods[4].Resident())
			}
			// Every module still runs, its code compiled again on demand,
			// and the budget holds throughout.
			for round := range 2 {
				for i, m := range mods {
					if _, err := m.Run(ctx, runtime.RunConfig{}); err != nil {
						t.Fatalf("round %d, module %d: %v", round, i, err)
					}
					if !m.Resident() {
						t.Fatalf("module %d not resident right after its run", i)
					}
					if st := rt.CodeStats(); st.Bytes > st.Budget {
						t.Fatalf("over budget: %+v", st)
					}
				}
			}
			st = rt.CodeStats()
			if st.Reloads < 5 {
				t.Fatalf("%+v: want every module's code reloaded at least once", st)
			}
			mu.Lock()
			if int64(len(evicted)) != st.Evictions {
				t.Errorf("OnEvict called %d times for %d evictions", len(evicted), st.Evictions)
			}
			mu.Unlock()
		})
	}
}

// An instance made before its module's code was evicted keeps working and
// says it is stale; new instances reload the code.
func TestCodeBudgetImages(t *testing.T) {
	rt := newRuntime(t, runtime.Config{CacheDir: t.TempDir(), CodeBudget: smallCost(1)})
	ctx := context.Background()
	a, err := rt.Compile(ctx, variant(t, "fresh", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	img, err := a.NewImage(ctx, runtime.ImageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	in, err := img.NewInstance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.Stale() {
		t.Fatal("a new instance is stale")
	}
	b, err := rt.Compile(ctx, variant(t, "fresh", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if a.Resident() {
		t.Fatal("a's code still resident with a budget for one module")
	}
	if !in.Stale() {
		t.Fatal("the instance made before the eviction is not stale")
	}
	for i := range 3 {
		if _, err := in.Run(ctx, runtime.RunConfig{}); err != nil {
			t.Fatalf("run %d on the stale instance: %v", i, err)
		}
		if !in.Reset() {
			t.Fatalf("reset %d failed", i)
		}
	}
	in2, err := img.NewInstance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer in2.Close()
	if in2.Stale() || !a.Resident() || b.Resident() {
		t.Fatalf("after a new instance of a: stale %v, a resident %v, b resident %v", in2.Stale(), a.Resident(), b.Resident())
	}
	if _, err := in2.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatal(err)
	}
}

// Code kept on disk for reloading is checked: a changed file is an error,
// never different code.
func TestCodeBudgetTamperedSource(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, runtime.Config{CacheDir: dir, CodeBudget: smallCost(1)})
	ctx := context.Background()
	a, err := rt.Compile(ctx, variant(t, "fresh", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := rt.Compile(ctx, variant(t, "fresh", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	path := filepath.Join(dir, "modules", a.SHA256()+".wasm")
	if err := os.WriteFile(path, wasm(t, "noop"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = a.Run(ctx, runtime.RunConfig{})
	if err == nil || !strings.Contains(err.Error(), "was changed") {
		t.Fatalf("run with a tampered source: %v, want an error saying it was changed", err)
	}
	if _, err := b.Run(ctx, runtime.RunConfig{}); err != nil {
		t.Fatalf("the other module: %v", err)
	}
}

// Many goroutines run many modules through a budget of one: evictions and
// reloads race with instantiations, and every run succeeds.
func TestCodeBudgetHammer(t *testing.T) {
	rt := newRuntime(t, runtime.Config{CacheDir: t.TempDir(), CodeBudget: smallCost(1)})
	ctx := context.Background()
	var mods []*runtime.Module
	var imgs []*runtime.Image
	for i := range 4 {
		m, err := rt.Compile(ctx, variant(t, "fresh", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Release)
		img, err := m.NewImage(ctx, runtime.ImageConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(img.Close)
		mods, imgs = append(mods, m), append(imgs, img)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				k := (g + i) % len(mods)
				if g%2 == 0 {
					if _, err := mods[k].Run(ctx, runtime.RunConfig{}); err != nil {
						errs <- err
						return
					}
					continue
				}
				in, err := imgs[k].NewInstance(ctx)
				if err != nil {
					errs <- err
					return
				}
				_, err = in.Run(ctx, runtime.RunConfig{})
				in.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := rt.CodeStats(); st.Reloads == 0 || st.Evictions == 0 {
		t.Errorf("%+v: want evictions and reloads", st)
	}
}
