package store_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
	"github.com/wedgeworks/wedge/store/storetest"
)

func TestBolt(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openBolt(t, filepath.Join(t.TempDir(), "data", "wedge.db"))
	})
}

// openBolt opens a Bolt that is checked for consistency and closed when the
// test ends.
func openBolt(t testing.TB, path string) *store.Bolt {
	t.Helper()
	b, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.CheckConsistency(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("inconsistent store:\n%v", err)
		}
		b.Close()
	})
	return b
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	openBolt(t, filepath.Join(dir, "wedge.db"))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("data directory mode %v, want no access for group and others", perm)
	}
}

// TestFilePrivate checks that the file, which holds secrets in the clear,
// is readable by its owner only.
func TestFilePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wedge.db")
	openBolt(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("store file mode %v, want 0600", perm)
	}
}

// TestOrphansFound checks that CheckConsistency, which every test's store
// runs at cleanup, would see secrets or KV entries left behind.
func TestOrphansFound(t *testing.T) {
	ctx := t.Context()
	b := openBolt(t, filepath.Join(t.TempDir(), "wedge.db"))
	if err := b.CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Deploy(ctx, "acme", "api", []byte("m"), api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutSecret(ctx, "acme", "api", "TOKEN", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ bucket, key, want string }{
		{"secrets", "acme\x00gone\x00TOKEN", "does not exist"},
		{"secrets", "acme\x00api\x00BAD-NAME", "invalid name"},
		{"kv", "nobody\x00NS\x00k", "tenant does not exist"},
		{"kv", "acme\x00bad-ns\x00k", "invalid namespace"},
	} {
		if err := b.PutRaw(c.bucket, c.key, "v"); err != nil {
			t.Fatal(err)
		}
		err := b.CheckConsistency()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("after planting %s %q: CheckConsistency = %v, want %q", c.bucket, c.key, err, c.want)
		}
		if err := b.DeleteRaw(c.bucket, c.key); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "wedge.db")
	b, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []string{"acme", "other"} {
		if err := b.CreateTenant(ctx, store.Tenant{Name: tn, TokenHash: []byte(tn), Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	settings := api.WorkerSettings{Vars: map[string]string{"k": "v"}, Routes: []api.Route{{Pattern: "a.example.com/*"}}}
	for i, d := range []struct{ tenant, worker, module string }{
		{"acme", "api", "one"}, {"acme", "api", "two"}, {"acme", "web", "one"},
		{"other", "api", "three"}, {"other", "gone", "four"}, {"acme", "api", "five"},
	} {
		if _, err := b.Deploy(ctx, d.tenant, d.worker, []byte(d.module), settings); err != nil {
			t.Fatalf("deploy #%d: %v", i, err)
		}
	}
	if err := b.Activate(ctx, "acme", "api", 2); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteWorker(ctx, "other", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := b.PutMeta(ctx, "operator", []byte("hash")); err != nil {
		t.Fatal(err)
	}
	for _, sec := range [][3]string{{"api", "TOKEN", "s3cret"}, {"api", "EMPTY", ""}, {"web", "TOKEN", "web's"}} {
		if err := b.PutSecret(ctx, "acme", sec[0], sec[1], []byte(sec[2])); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range [][3]string{{"acme", "a/b", "1"}, {"acme", "c", ""}, {"other", "a/b", "other's"}} {
		if err := b.KVPut(ctx, kv[0], "NS", kv[1], []byte(kv[2])); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, b)
	if len(before.Secrets) != 3 || len(before.KV) != 3 {
		t.Fatalf("snapshot before closing: %d secrets, %d KV entries; want 3 and 3", len(before.Secrets), len(before.KV))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBolt(t, path)
	if after := snapshot(t, b); !reflect.DeepEqual(after, before) {
		t.Fatalf("after reopening:\n%+v\nbefore closing:\n%+v", after, before)
	}
	// Numbering carries on where it stopped.
	v, err := b.Deploy(ctx, "acme", "api", []byte("six"), settings)
	if err != nil || v.Number != 4 {
		t.Fatalf("Deploy after reopening = version %d, %v; want 4", v.Number, err)
	}
}

// state is everything a store holds, as read through the interface.
type state struct {
	Tenants []store.Tenant
	Workers []store.Worker
	Modules map[string][]byte
	Meta    []byte
	Secrets map[string]string // tenant/worker/name → value
	KV      map[string]string // tenant/NS/key → value
}

func snapshot(t *testing.T, s store.Store) state {
	t.Helper()
	ctx := t.Context()
	var st state
	var err error
	if st.Tenants, err = s.Tenants(ctx); err != nil {
		t.Fatal(err)
	}
	if st.Workers, err = s.Workers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	st.Modules = map[string][]byte{}
	for _, w := range st.Workers {
		for _, v := range w.Versions {
			if st.Modules[v.SHA256], err = s.Module(ctx, v.SHA256); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st.Meta, err = s.Meta(ctx, "operator"); err != nil {
		t.Fatal(err)
	}
	st.Secrets = map[string]string{}
	for _, w := range st.Workers {
		secrets, err := s.Secrets(ctx, w.Tenant, w.Name)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range secrets {
			st.Secrets[w.Tenant+"/"+w.Name+"/"+k] = v
		}
	}
	st.KV = map[string]string{}
	for _, tn := range st.Tenants {
		keys, err := s.KVList(ctx, tn.Name, "NS", "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			v, err := s.KVGet(ctx, tn.Name, "NS", k)
			if err != nil {
				t.Fatal(err)
			}
			st.KV[tn.Name+"/NS/"+k] = string(v)
		}
	}
	return st
}

func TestModuleStoredOnce(t *testing.T) {
	ctx := t.Context()
	b := openBolt(t, filepath.Join(t.TempDir(), "wedge.db"))
	if err := b.CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		deploy  [2]string // worker, module; or
		delete  string    // worker
		modules int
	}{
		{deploy: [2]string{"one", "shared"}, modules: 1},
		{deploy: [2]string{"two", "shared"}, modules: 1},
		{deploy: [2]string{"one", "shared"}, modules: 1},
		{deploy: [2]string{"one", "own"}, modules: 2},
		{delete: "one", modules: 1},
		{delete: "two", modules: 0},
	}
	for i, st := range steps {
		var err error
		if st.delete != "" {
			err = b.DeleteWorker(ctx, "acme", st.delete)
		} else {
			_, err = b.Deploy(ctx, "acme", st.deploy[0], []byte(st.deploy[1]), api.WorkerSettings{})
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n, err := b.ModuleCount(); err != nil || n != st.modules {
			t.Fatalf("step %d: %d modules stored, %v; want %d", i, n, err, st.modules)
		}
		if err := b.CheckConsistency(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

// TestOpenInUse checks that a second Open of a file fails with a clear
// error instead of waiting. bbolt's flock belongs to the open file
// description, so a second Open in the same process conflicts with the
// first just as another process does.
func TestOpenInUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wedge.db")
	first := openBolt(t, path)

	t.Run("default timeout", func(t *testing.T) {
		start := time.Now()
		_, err := store.Open(path)
		checkInUse(t, err)
		if d := time.Since(start); d < time.Second || d > 10*time.Second {
			t.Errorf("Open gave up after %v, want about 2s", d)
		}
	})
	t.Run("short timeout", func(t *testing.T) {
		_, err := store.OpenTimeout(path, 50*time.Millisecond)
		checkInUse(t, err)
	})

	// The first store is unharmed, and once it is closed the file opens.
	if err := first.CreateTenant(t.Context(), store.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := openBolt(t, path).Tenant(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
}

// TestOpenInUseByProcess holds the file in a child process.
func TestOpenInUseByProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wedge.db")
	child := startHelper(t, "hold", path)
	if _, ok := <-child.lines; !ok {
		t.Fatalf("helper exited before opening the store:\n%s", child.stderr)
	}
	_, err := store.OpenTimeout(path, 50*time.Millisecond)
	checkInUse(t, err)
	child.kill(t)
	openBolt(t, path) // the lock died with the process
}

func checkInUse(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "in use by another wedge process") {
		t.Fatalf("Open of a file in use: err = %v, want %q", err, store.ErrInUse)
	}
}

// TestCrash kills a process in the middle of its deploys, again and again,
// and checks after each kill that the file is consistent and holds every
// deploy the process had seen commit.
func TestCrash(t *testing.T) {
	t.Parallel()
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	path := filepath.Join(t.TempDir(), "wedge.db")
	committed := map[int]string{} // version of acme/main → SHA-256
	for round := range rounds {
		child := startHelper(t, "deploy", path)
		// The first line means the child has committed a deploy of its own.
		line, ok := <-child.lines
		if !ok {
			t.Fatalf("round %d: helper exited before its first deploy:\n%s", round, child.stderr)
		}
		time.Sleep(time.Duration(rand.IntN(80)) * time.Millisecond)
		child.kill(t)
		for ; ok; line, ok = <-child.lines {
			number, sha, found := strings.Cut(line, " ")
			n, err := strconv.Atoi(number)
			if !found || err != nil {
				t.Fatalf("round %d: helper wrote %q", round, line)
			}
			committed[n] = sha
		}

		b, err := store.Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := b.CheckConsistency(); err != nil {
			t.Fatalf("round %d: inconsistent after a crash:\n%v", round, err)
		}
		w, err := b.Worker(t.Context(), "acme", "main")
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for n, sha := range committed {
			if n > len(w.Versions) || w.Versions[n-1].SHA256 != sha {
				t.Fatalf("round %d: committed version %d (%s) lost; worker has %d versions", round, n, sha, len(w.Versions))
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d deploys committed in %d rounds", len(committed), rounds)
	if len(committed) < rounds {
		t.Errorf("only %d deploys committed in %d rounds", len(committed), rounds)
	}
}

// helperEnv tells the test binary to act as a helper process; its value is
// "mode path".
const helperEnv = "WEDGE_STORE_TEST_HELPER"

// TestHelperProcess is not a test: it is the child process that
// TestCrash and TestOpenInUseByProcess start.
func TestHelperProcess(t *testing.T) {
	mode, path, ok := strings.Cut(os.Getenv(helperEnv), " ")
	if !ok {
		return
	}
	// Never outlive a parent that failed to kill us.
	time.AfterFunc(30*time.Second, func() { os.Exit(3) })
	if err := helper(mode, path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

// helper opens the store at path and, in mode "hold", reports that and
// waits; in mode "deploy" it deploys, rolls back and deletes until killed,
// writing "version sha256" for each deploy of acme/main once it commits.
func helper(mode, path string) error {
	ctx := context.Background()
	b, err := store.Open(path)
	if err != nil {
		return err
	}
	if mode == "hold" {
		fmt.Println("open")
		select {}
	}
	if err := b.CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	settings := api.WorkerSettings{Vars: map[string]string{"pid": strconv.Itoa(os.Getpid())}}
	var recent [][]byte
	for i := 0; ; i++ {
		// Mostly small modules, some of several megabytes so that a
		// commit spans many pages and takes a while.
		size := 1<<10 + rand.IntN(64<<10)
		if i%4 == 3 {
			size = 1<<20 + rand.IntN(3<<20)
		}
		module := make([]byte, size)
		for j := 0; j+8 <= len(module); j += 8 {
			binary.LittleEndian.PutUint64(module[j:], rand.Uint64())
		}
		v, err := b.Deploy(ctx, "acme", "main", module, settings)
		if err != nil {
			return err
		}
		fmt.Printf("%d %s\n", v.Number, v.SHA256)
		recent = append(recent, module)

		// Exercise the other writes too: shared modules, rollbacks and
		// deletes that collect modules.
		if _, err := b.Deploy(ctx, "acme", "churn", recent[rand.IntN(len(recent))], settings); err != nil {
			return err
		}
		if err := b.Activate(ctx, "acme", "main", 1+rand.IntN(v.Number)); err != nil {
			return err
		}
		if rand.IntN(3) == 0 {
			if err := b.DeleteWorker(ctx, "acme", "churn"); err != nil {
				return err
			}
		}
		if len(recent) > 4 {
			recent = recent[1:]
		}
	}
}

type helperProcess struct {
	cmd    *exec.Cmd
	lines  chan string // closed when the child's stdout is
	stderr *strings.Builder
}

func startHelper(t *testing.T, mode, path string) *helperProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode+" "+path)
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &helperProcess{cmd: cmd, lines: make(chan string, 1024), stderr: stderr}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

// kill sends SIGKILL and waits for the child to die.
func (p *helperProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("helper: %v", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended by %v, not by SIGKILL:\n%s", err, p.stderr)
	}
}

func BenchmarkDeploy(b *testing.B) {
	ctx := context.Background()
	s := openBolt(b, filepath.Join(b.TempDir(), "wedge.db"))
	if err := s.CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil {
		b.Fatal(err)
	}
	module := make([]byte, 64<<10)
	settings := api.WorkerSettings{Vars: map[string]string{"k": "v"}, Routes: []api.Route{{Pattern: "a.example.com/*"}}}
	b.SetBytes(int64(len(module)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A new module for a new worker each time: the store grows, but
		// no worker's version list does.
		binary.LittleEndian.PutUint64(module, uint64(i))
		if _, err := s.Deploy(ctx, "acme", "w"+strconv.Itoa(i), module, settings); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkWorker(b *testing.B) {
	ctx := context.Background()
	s := openBolt(b, filepath.Join(b.TempDir(), "wedge.db"))
	if err := s.CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil {
		b.Fatal(err)
	}
	settings := api.WorkerSettings{
		Vars:   map[string]string{"API_URL": "https://api.example.com", "MODE": "production"},
		Limits: api.Limits{CPUMillis: 20},
		Routes: []api.Route{{Pattern: "shop.example.com/api/*"}},
	}
	for i := range 10 {
		if _, err := s.Deploy(ctx, "acme", "api", []byte("module "+strconv.Itoa(i)), settings); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		w, err := s.Worker(ctx, "acme", "api")
		if err != nil || len(w.Versions) != 10 {
			b.Fatal(w, err)
		}
	}
}
