package edge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
)

// TestSleepingGuest: a guest asleep (time.Sleep, WASI poll_oneoff on a
// clock) waits off the CPU. Its sleep is neither CPU time nor a place on
// the CPU that other tenants queue behind, and the wall-time limit ends it
// on time however long it asked to sleep.
func TestSleepingGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Go test guest; skipped in -short mode")
	}
	ctx := context.Background()
	rt := hostRuntime(t)
	// One place on the CPU: a sleeper that kept it would stall everyone.
	s := scheduler.New(scheduler.Config{MaxRunning: 1})
	guest, err := rt.Compile(ctx, testwasm.Build(t, "internal/testguest"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(testwasm.Root(t), "examples", "c-hello", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	hello, err := rt.Compile(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Release()
	defer hello.Release()
	var workers []*scheduler.Worker
	for _, w := range []struct {
		tenant, name string
		m            *runtime.Module
		limits       api.Limits
	}{
		// A CPU limit far below the sleep: sleeping is not CPU time.
		{"sleepy", "patient", guest, api.Limits{CPUMillis: 200}},
		{"sleepy", "short", guest, api.Limits{CPUMillis: 2000, WallMillis: 500}},
		{"good", "hello", hello, api.Limits{}},
	} {
		w.m.Acquire() // the worker takes this reference over
		sw, err := s.NewWorker(ctx, w.tenant, w.name, 1, w.m, w.limits, []string{"NAME=" + w.name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sw.Close()
		workers = append(workers, sw)
	}
	e := edge.New(edge.Config{}, s)
	e.SetWorkers(workers, nil)
	srv := httptest.NewServer(e)
	defer srv.Close()

	get := func(host, path string, timeout time.Duration) (int, string, string, time.Duration, error) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Host = host + ".wedge.localhost"
		start := time.Now()
		resp, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			return 0, "", "", time.Since(start), err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(api.HeaderError), string(body), time.Since(start), err
	}

	// Three long sleepers on the only place, then the other tenant.
	const sleep = 4 * time.Second
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, code, body, took, err := get("patient.sleepy", "/sleep?key=NAME&ms="+strconv.Itoa(int(sleep.Milliseconds())), 30*time.Second)
			if err != nil || status != 200 || body != "slept patient\n" {
				t.Errorf("sleeper: %d %q %q %v", status, code, body, err)
			}
			if took < sleep {
				t.Errorf("sleeper answered after %v, before its %v sleep ended", took, sleep)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	status, _, body, took, err := get("hello.good", "/", sleep-time.Second)
	if err != nil || status != 200 {
		t.Errorf("the other tenant while three guests sleep: %d %q %v (after %v)", status, body, err, took)
	} else {
		t.Logf("the other tenant answered in %v while three guests slept", took)
	}

	// Asking to sleep ten minutes under a 500 ms wall-time limit.
	status, code, _, took, err := get("short.sleepy", "/sleep?ms=600000", 10*time.Second)
	if err != nil || status != 503 || code != string(api.CodeWallTime) {
		t.Errorf("a sleep past the wall-time limit: %d %q %v, want 503 %q", status, code, err, api.CodeWallTime)
	}
	if took > 3*time.Second {
		t.Errorf("a sleep past a 500 ms wall-time limit answered after %v", took)
	}
	wg.Wait()
	// The instance that was stopped mid-sleep is not reused; the next
	// request gets a fresh one.
	if status, _, body, _, err := get("short.sleepy", "/sleep?key=NAME&ms=1", 10*time.Second); err != nil || status != 200 || !strings.HasPrefix(body, "slept short") {
		t.Errorf("after the stopped sleep: %d %q %v", status, body, err)
	}
}
