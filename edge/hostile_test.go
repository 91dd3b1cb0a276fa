package edge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/edge"
	"github.com/wedgeworks/wedge/hostapi"
	"github.com/wedgeworks/wedge/internal/testwasm"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/scheduler"
)

// TestHostile sends every attack a guest can make at one host: each gets
// its answer within 2 s, another tenant is served between them, and the
// host ends with the goroutines it started with.
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Go test guest; skipped in -short mode")
	}
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{HostModules: []runtime.HostModule{hostapi.Module{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	s := scheduler.New(scheduler.Config{})
	var workers []*scheduler.Worker
	add := func(tenant, name string, wasm []byte) {
		m, err := rt.Compile(ctx, wasm)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var limits api.Limits
		if name == "big_body" {
			// 16,384 writes cost host CPU on the guest's account (about
			// 30 ms, much more under -race): a stream this size needs a
			// larger budget, as a real one would.
			limits.CPUMillis = 5000
		}
		w, err := s.NewWorker(ctx, tenant, name, 1, m, limits, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		workers = append(workers, w)
	}
	root := testwasm.Root(t)
	for _, name := range []string{"loop", "hostcall_loop", "recurse", "bad_pointer", "alloc_1g", "big_body", "unreachable"} {
		b, err := os.ReadFile(filepath.Join(root, "runtime", "testdata", name+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		add("evil", name, b)
	}
	add("evil", "go", testwasm.Build(t, "internal/testguest"))
	hello, err := os.ReadFile(filepath.Join(root, "examples", "c-hello", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	add("good", "hello", hello)
	defer func() {
		for _, w := range workers {
			w.Close()
		}
	}()
	var originHits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { originHits.Add(1) }))
	defer origin.Close()
	e := edge.New(edge.Config{Egress: loopback}, s)
	e.SetWorkers(workers, nil)
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}

	get := func(host, path string) (int, string, time.Duration, error) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Host = host
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", time.Since(start), err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get(api.HeaderError), time.Since(start), err
	}
	goroutines := goruntime.NumGoroutine()

	for _, tt := range []struct {
		name, host, path string
		status           int
		code             api.Code
		// alt is another acceptable code: a recursion may hit the CPU
		// limit before wazero's stack ceiling.
		alt api.Code
		// stream: a legitimate stream, bounded by wall time rather than
		// CPU (writing to the client pauses the meter); it must be
		// streamed, not buffered, and may take longer under -race.
		stream bool
	}{
		{name: "endless loop", host: "loop.evil", path: "/", status: 503, code: api.CodeCPULimit},
		{name: "loop of hostcalls", host: "hostcall_loop.evil", path: "/", status: 503, code: api.CodeCPULimit},
		{name: "deep recursion", host: "recurse.evil", path: "/", status: 500, code: api.CodeWorkerTrap, alt: api.CodeCPULimit},
		{name: "out-of-range pointer", host: "bad_pointer.evil", path: "/", status: 500, code: api.CodeWorkerTrap},
		{name: "1 GiB allocation", host: "alloc_1g.evil", path: "/", status: 503, code: api.CodeMemoryLimit},
		{name: "trap", host: "unreachable.evil", path: "/", status: 500, code: api.CodeWorkerTrap},
		{name: "1 GiB response body", host: "big_body.evil", path: "/", status: 200, stream: true},
		{name: "Go panic", host: "go.evil", path: "/panic", status: 500, code: api.CodeWorkerTrap},
		{name: "Go allocation past the limit", host: "go.evil", path: "/alloc", status: 503, code: api.CodeMemoryLimit},
		{name: "Go endless loop", host: "go.evil", path: "/loop", status: 503, code: api.CodeCPULimit},
		{name: "fetch storm", host: "go.evil", path: "/fetch-many?n=1000&url=" + origin.URL, status: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before goruntime.MemStats
			goruntime.ReadMemStats(&before)
			status, code, took, err := get(tt.host+".wedge.localhost", tt.path)
			switch {
			case err != nil:
				t.Fatalf("%v", err)
			case tt.alt != "" && code == string(tt.alt):
			case status != tt.status || code != string(tt.code):
				t.Errorf("%d %q, want %d %q", status, code, tt.status, tt.code)
			}
			limit := 2 * time.Second
			if tt.stream {
				limit = 20 * time.Second
				var after goruntime.MemStats
				goruntime.ReadMemStats(&after)
				if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 256<<20 {
					t.Errorf("the heap grew by %d MiB during the stream: buffered?", grew>>20)
				}
			}
			if took > limit {
				t.Errorf("answered after %v, want within %v", took, limit)
			}
			if tt.name == "fetch storm" {
				// The worker goes on after its fetches fail: the 51st and
				// every one after it, without reaching the origin.
				if n := originHits.Swap(0); n != 50 {
					t.Errorf("the origin saw %d requests, want the subrequest limit, 50", n)
				}
			}
			if status, _, _, err := get("hello.good.wedge.localhost", "/"); err != nil || status != 200 {
				t.Errorf("the other tenant right after: %d %v", status, err)
			}
		})
	}

	client.CloseIdleConnections()
	srv.CloseClientConnections()
	origin.CloseClientConnections() // the egress transport's pooled connections end with them
	deadline := time.Now().Add(5 * time.Second)
	for goruntime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := goruntime.NumGoroutine(); n > goroutines {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the attacks, %d before:\n%s", n, goroutines, buf[:goruntime.Stack(buf, true)])
	}
}
