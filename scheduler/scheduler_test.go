package scheduler_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
)

// newRuntime compiles the C hello example: small, fast to compile.
func newRuntime(t *testing.T) (*runtime.Runtime, []byte) {
	t.Helper()
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	wasm, err := os.ReadFile(filepath.Join(testwasm.Root(t), "examples", "c-hello", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return rt, wasm
}

func newWorker(t *testing.T, s *scheduler.Scheduler, rt *runtime.Runtime, wasm []byte, tenant, name string, env []string) *scheduler.Worker {
	t.Helper()
	ctx := context.Background()
	m, err := rt.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.NewWorker(ctx, tenant, name, 1, m, api.Limits{}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func serve(s *scheduler.Scheduler, w *scheduler.Worker) (int, error) {
	rec := httptest.NewRecorder()
	meter := &scheduler.Meter{}
	req := &hostapi.Request{W: rec, R: httptest.NewRequest("GET", "http://h/path", nil), Pauser: meter}
	_, err := s.Run(hostapi.NewContext(context.Background(), req), w, scheduler.RunConfig{Meter: meter})
	req.Finish()
	return rec.Code, err
}

func TestImagesShared(t *testing.T) {
	rt, wasm := newRuntime(t)
	s := scheduler.New(scheduler.Config{})
	a := newWorker(t, s, rt, wasm, "t1", "a", []string{"X=1"})
	b := newWorker(t, s, rt, wasm, "t2", "b", []string{"X=1"})
	if n := s.Images(); n != 1 {
		t.Errorf("two workers with the same module and env: %d images, want 1", n)
	}
	c := newWorker(t, s, rt, wasm, "t1", "c", []string{"X=2"})
	if n := s.Images(); n != 2 {
		t.Errorf("a different env: %d images, want 2", n)
	}
	for _, w := range []*scheduler.Worker{a, b, c} {
		if code, err := serve(s, w); err != nil || code != 200 {
			t.Errorf("%s: %d %v", w.Name, code, err)
		}
	}
	a.Close()
	if code, err := serve(s, b); err != nil || code != 200 {
		t.Errorf("b after a closed: %d %v", code, err)
	}
	b.Close()
	c.Close()
	if n := s.Images(); n != 0 {
		t.Errorf("after closing every worker: %d images", n)
	}
}

func TestPoolReuse(t *testing.T) {
	rt, wasm := newRuntime(t)
	s := scheduler.New(scheduler.Config{PoolSize: 2})
	w := newWorker(t, s, rt, wasm, "t", "w", nil)
	defer w.Close()
	for i := 0; i < 50; i++ {
		if code, err := serve(s, w); err != nil || code != 200 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
		time.Sleep(time.Millisecond) // the reset runs after the response
	}
	created, reused := w.Stats()
	if created > 3 || reused < 45 {
		t.Errorf("created %d, reused %d: the pool is not reused", created, reused)
	}
}

func TestStale(t *testing.T) {
	rt, wasm := newRuntime(t)
	s := scheduler.New(scheduler.Config{})
	w := newWorker(t, s, rt, wasm, "t", "w", nil)
	w.Close()
	if _, err := serve(s, w); !errors.Is(err, scheduler.ErrStale) {
		t.Errorf("a closed worker: %v, want ErrStale", err)
	}
}

// TestTenantConcurrency: one tenant cannot take more than its share of
// slots; the others keep theirs.
func TestTenantConcurrency(t *testing.T) {
	rt, wasm := newRuntime(t)
	// One guest on the CPU at a time: the blocked ones must give it up.
	s := scheduler.New(scheduler.Config{MaxConcurrency: 4, TenantConcurrency: 2, MaxRunning: 1, QueueWait: 50 * time.Millisecond})
	busy := newWorker(t, s, rt, wasm, "noisy", "w", nil)
	quiet := newWorker(t, s, rt, wasm, "quiet", "w", nil)
	defer busy.Close()
	defer quiet.Close()

	// Hold two of noisy's slots with requests whose response writes block
	// (the guest waits inside response_body_write).
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			meter := &scheduler.Meter{}
			req := &hostapi.Request{W: &blockingWriter{ResponseRecorder: httptest.NewRecorder(), release: release}, R: httptest.NewRequest("GET", "http://h/", nil),
				Pauser: meter}
			s.Run(hostapi.NewContext(context.Background(), req), busy, scheduler.RunConfig{Meter: meter})
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := serve(s, busy); api.CodeOf(err) != api.CodeOverloaded {
		t.Errorf("noisy's third request: %v, want overloaded", err)
	}
	if code, err := serve(s, quiet); err != nil || code != 200 {
		t.Errorf("quiet tenant while noisy is at its limit: %d %v", code, err)
	}
	close(release)
	wg.Wait()
}

type blockingWriter struct {
	*httptest.ResponseRecorder
	release chan struct{}
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.ResponseRecorder.Write(p)
}

// When the runtime evicts a module's compiled code, the pools of its
// workers are emptied (their instances hold the old code), and the next
// request makes an instance again.
func TestEvictedPools(t *testing.T) {
	ctx := context.Background()
	s := scheduler.New(scheduler.Config{})
	rt, err := runtime.New(ctx, runtime.Config{
		HostModules: []runtime.HostModule{hostapi.Module{}},
		CacheDir:    t.TempDir(),
		CodeBudget:  48 << 10, // one small module
		OnEvict:     s.Evicted,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	_, wasm := newRuntime(t)
	a := newWorker(t, s, rt, wasm, "t", "a", nil)
	defer a.Close()
	for range 3 {
		if code, err := serve(s, a); err != nil || code != 200 {
			t.Fatalf("a: %d %v", code, err)
		}
	}
	waitFor(t, func() bool { return s.Pooled() >= 1 }, "a's instance pooled")
	// A distinct module (one more custom section) takes the whole budget.
	b := newWorker(t, s, rt, append(append([]byte{}, wasm...), 0, 3, 1, 'b', 1), "t", "b", nil)
	defer b.Close()
	waitFor(t, func() bool { return s.Pooled() == 0 }, "a's pool emptied after its code was evicted")
	createdBefore, _ := a.Stats()
	if code, err := serve(s, a); err != nil || code != 200 {
		t.Fatalf("a after eviction: %d %v", code, err)
	}
	if created, _ := a.Stats(); created != createdBefore+1 {
		t.Errorf("a after eviction: %d instances made, want %d", created, createdBefore+1)
	}
	if st := rt.CodeStats(); st.Evictions < 1 || st.Reloads < 1 {
		t.Errorf("%+v: want an eviction and a reload", st)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func wat(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testwasm.Root(t), "runtime", "testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTenantRate(t *testing.T) {
	rt, wasm := newRuntime(t)
	s := scheduler.New(scheduler.Config{TenantRate: 1, TenantBurst: 2})
	a := newWorker(t, s, rt, wasm, "a", "w", nil)
	defer a.Close()
	b := newWorker(t, s, rt, wasm, "b", "w", nil)
	defer b.Close()
	for i := range 2 {
		if code, err := serve(s, a); err != nil || code != 200 {
			t.Fatalf("request %d within the burst: %d %v", i, code, err)
		}
	}
	_, err := serve(s, a)
	if api.CodeOf(err) != api.CodeRateLimited {
		t.Fatalf("third request at once: %v, want rate-limited", err)
	}
	if code, err := serve(s, b); err != nil || code != 200 {
		t.Errorf("another tenant: %d %v", code, err)
	}
}

// The worker's cpu_ms stops a guest that loops; the CPU time is reported.
func TestWorkerCPULimit(t *testing.T) {
	rt, _ := newRuntime(t)
	s := scheduler.New(scheduler.Config{})
	ctx := context.Background()
	m, err := rt.Compile(ctx, wat(t, "loop"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.NewWorker(ctx, "t", "loop", 1, m, api.Limits{CPUMillis: 20}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := s.Run(ctx, w, scheduler.RunConfig{})
	if api.CodeOf(err) != api.CodeCPULimit {
		t.Fatalf("loop: %v, want cpu-limit", err)
	}
	if res.CPU < 20*time.Millisecond {
		t.Errorf("stopped after %v of CPU, before its 20 ms", res.CPU)
	}
}

// A tenant that floods the host with guests that loop holds every place on
// the CPU; another tenant's request still gets its turn within a slice,
// not after the flood.
func TestFairness(t *testing.T) {
	rt, hello := newRuntime(t)
	s := scheduler.New(scheduler.Config{MaxRunning: 1})
	ctx := context.Background()
	m, err := rt.Compile(ctx, wat(t, "loop"))
	if err != nil {
		t.Fatal(err)
	}
	loop, err := s.NewWorker(ctx, "a", "loop", 1, m, api.Limits{CPUMillis: 300}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	b := newWorker(t, s, rt, hello, "b", "hello", nil)
	defer b.Close()

	var running sync.WaitGroup
	var flood sync.WaitGroup
	var mu sync.Mutex
	floodDone := 0
	for range 4 {
		running.Add(1)
		flood.Add(1)
		go func() {
			defer flood.Done()
			running.Done()
			_, err := s.Run(ctx, loop, scheduler.RunConfig{})
			if api.CodeOf(err) != api.CodeCPULimit {
				t.Errorf("loop: %v", err)
			}
			mu.Lock()
			floodDone++
			mu.Unlock()
		}()
	}
	running.Wait()
	time.Sleep(20 * time.Millisecond) // the flood is on the CPU
	code, err := serve(s, b)
	mu.Lock()
	done := floodDone
	mu.Unlock()
	if err != nil || code != 200 {
		t.Fatalf("b during the flood: %d %v", code, err)
	}
	if done > 0 {
		t.Errorf("b was served after %d of a's 4 looping requests had ended: it waited for them", done)
	}
	flood.Wait()
}
