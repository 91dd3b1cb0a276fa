package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/internal/natstest"
	"github.com/wedgeworks/wedge/store"
	"github.com/wedgeworks/wedge/store/storetest"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

// TestStore runs the shared kit, each store on a NATS server of its own
// (in-process, JetStream in a temporary directory, a random port).
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, startServer(t).URL(), testKey)
	})
}

// startServer starts the NATS server of one test.
func startServer(t *testing.T) *natstest.Server {
	return natstest.Start(t, "wedge-test", false)
}

func newStore(t *testing.T, url string, key []byte) *Store {
	t.Helper()
	return newStoreWith(t, Config{URL: url, SecretKey: key}, defaultTiming)
}

func newStoreWith(t *testing.T, cfg Config, tm timing) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := open(ctx, cfg, tm)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client connects to the server apart from any Store, to look at what
// JetStream holds.
func client(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// rawMessages returns every message of every stream: subject, headers and
// data as they are stored.
func rawMessages(t *testing.T, js jetstream.JetStream) [][]byte {
	t.Helper()
	ctx := t.Context()
	var all [][]byte
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		st, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			raw := []byte(m.Subject)
			for k, vs := range m.Header {
				raw = append(raw, k...)
				for _, v := range vs {
					raw = append(raw, v...)
				}
			}
			all = append(all, append(raw, m.Data...))
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	return all
}

func setup(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	if err := s.CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deploy(ctx, "acme", "api", []byte("\x00asm v1"), api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
}

// TestSecretsEncryptedAtRest reads every message JetStream holds, and
// every file of the server's storage, for a secret's value.
func TestSecretsEncryptedAtRest(t *testing.T) {
	n := startServer(t)
	s := newStore(t, n.URL(), testKey)
	setup(t, s)
	ctx := t.Context()
	canary := "canary-" + newID() + "-plaintext"
	if err := s.PutSecret(ctx, "acme", "api", "TOKEN", []byte(canary)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Secrets(ctx, "acme", "api"); err != nil || got["TOKEN"] != canary {
		t.Fatalf("Secrets = %v, %v", got, err)
	}
	// A KV value, which is not encrypted, shows that the search would
	// find a plain value.
	control := "control-" + newID() + "-plaintext"
	if err := s.KVPut(ctx, "acme", "NS", "k", []byte(control)); err != nil {
		t.Fatal(err)
	}
	msgs := rawMessages(t, client(t, n.URL()))
	secretSeen, controlSeen := false, false
	for _, m := range msgs {
		if bytes.Contains(m, []byte(canary)) {
			t.Fatalf("a message holds the secret in plain text: %.100q", m)
		}
		secretSeen = secretSeen || bytes.HasPrefix(m, []byte("$KV."+bucketSecrets+".acme.api.TOKEN."))
		controlSeen = controlSeen || bytes.Contains(m, []byte(control))
	}
	if !secretSeen || !controlSeen {
		t.Fatalf("among %d messages, found the secret's entry %v, the KV value %v; want both", len(msgs), secretSeen, controlSeen)
	}
	// And on disk, once the server has written everything out.
	n.Stop()
	controlSeen = false
	err := filepath.WalkDir(n.Dir(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(canary)) {
			t.Errorf("%s holds the secret in plain text", path)
		}
		controlSeen = controlSeen || bytes.Contains(data, []byte(control))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !controlSeen {
		t.Fatal("the KV value is in no file either: the search of the files finds nothing")
	}
}

// TestWrongSecretKey: a node with another key fails at Open, clearly; and
// a value that will not decrypt is an error, never garbage.
func TestWrongSecretKey(t *testing.T) {
	n := startServer(t)
	s := newStore(t, n.URL(), testKey)
	setup(t, s)
	ctx := t.Context()
	if err := s.PutSecret(ctx, "acme", "api", "TOKEN", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}

	other := bytes.Repeat([]byte{0x17}, 32)
	for _, tt := range []struct {
		name string
		key  []byte
		want error
	}{
		{"another key", other, ErrWrongSecretKey},
		{"no key", nil, nil},
		{"a short key", testKey[:16], nil},
	} {
		o, err := Open(ctx, Config{URL: n.URL(), SecretKey: tt.key})
		if err == nil {
			o.Close()
			t.Errorf("Open with %s succeeded", tt.name)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("Open with %s: err = %v, want %v", tt.name, err, tt.want)
		}
		t.Logf("Open with %s: %v", tt.name, err)
	}

	// Without the key check (a store written before it, or lost), the
	// wrong key still gets an error from Secrets, not garbage.
	if err := s.state.Purge(ctx, keyKeyCheck); err != nil {
		t.Fatal(err)
	}
	wrong := newStore(t, n.URL(), other)
	if _, err := s.state.Get(ctx, keyKeyCheck); err != nil {
		t.Fatalf("the second node did not write the key check: %v", err)
	}
	got, err := wrong.Secrets(ctx, "acme", "api")
	if !errors.Is(err, ErrWrongSecretKey) {
		t.Fatalf("Secrets with the wrong key = %q, %v; want ErrWrongSecretKey", got, err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatal("the error quotes the value")
	}
	// A sealed value moved to another worker's name does not open.
	sealed := s.seal([]byte("v"), secretAAD("acme", "api", "A"))
	if _, err := s.unseal(sealed, secretAAD("acme", "web", "A")); !errors.Is(err, ErrWrongSecretKey) {
		t.Fatalf("unseal under another name: err = %v", err)
	}
}

// TestTwoNodes: two Stores on one server see each other's writes, through
// their Watch channels within a second.
func TestTwoNodes(t *testing.T) {
	n := startServer(t)
	a := newStore(t, n.URL(), testKey)
	b := newStore(t, n.URL(), testKey)
	ctx := t.Context()
	events := a.Watch(ctx)

	start := time.Now()
	if err := b.CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	await(t, events, time.Second, "acme", "", "b's CreateTenant")
	t.Logf("tenant: event on a %v after b's write began", time.Since(start))

	start = time.Now()
	v, err := b.Deploy(ctx, "acme", "api", []byte("\x00asm v1"), api.WorkerSettings{Vars: map[string]string{"A": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	await(t, events, time.Second, "acme", "api", "b's Deploy")
	t.Logf("deploy: event on a %v after b's deploy began", time.Since(start))
	w, err := a.Worker(ctx, "acme", "api")
	if err != nil || w.Active != v.Number || w.Versions[0].SHA256 != v.SHA256 {
		t.Fatalf("a sees %+v, %v; want version %d", w, err, v.Number)
	}
	if m, err := a.Module(ctx, v.SHA256); err != nil || string(m) != "\x00asm v1" {
		t.Fatalf("a reads the module as %q, %v", m, err)
	}

	start = time.Now()
	if err := b.PutSecret(ctx, "acme", "api", "TOKEN", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	await(t, events, time.Second, "acme", "api", "b's PutSecret")
	t.Logf("secret: event on a %v after b's write began", time.Since(start))
	if got, err := a.Secrets(ctx, "acme", "api"); err != nil || got["TOKEN"] != "s3cret" {
		t.Fatalf("a reads the secrets as %v, %v", got, err)
	}

	if err := b.PutMeta(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	await(t, events, time.Second, "", "", "b's PutMeta")
	if err := b.DeleteWorker(ctx, "acme", "api"); err != nil {
		t.Fatal(err)
	}
	await(t, events, time.Second, "acme", "api", "b's DeleteWorker")

	// a's own writes reach a's watchers once, not twice: after a's write
	// and its event, nothing more comes.
	if _, err := a.Deploy(ctx, "acme", "web", []byte("web"), api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	await(t, events, time.Second, "acme", "web", "a's Deploy")
	select {
	case ev := <-events:
		t.Fatalf("a second event %+v after a's own Deploy", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

// await receives events until one covers tenant/worker, failing after d.
func await(t *testing.T, events <-chan store.Event, d time.Duration, tenant, worker, after string) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("Watch channel closed waiting for the event after %s", after)
			}
			if ev.Tenant == "" || ev.Tenant == tenant && (ev.Worker == "" || ev.Worker == worker) {
				return
			}
		case <-timeout:
			t.Fatalf("no event covering %q/%q within %v after %s", tenant, worker, d, after)
		}
	}
}

// eventually retries fn until it succeeds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReconnect restarts the server under a Store: reads come back, writes
// work again, and its watch resumes.
func TestReconnect(t *testing.T) {
	n := startServer(t)
	var logs syncBuffer
	s := newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, defaultTiming)
	defer func() { t.Logf("the store's log:\n%s", logs.String()) }()
	setup(t, s)
	ctx := t.Context()
	if err := s.PutSecret(ctx, "acme", "api", "TOKEN", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := s.KVPut(ctx, "acme", "NS", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	events := s.Watch(ctx)

	n.Stop()
	// While the server is away, calls fail (within their context), and
	// do not report ErrNotFound.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := s.Worker(short, "acme", "api")
	cancel()
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Worker with the server down: err = %v, want a failure that is not ErrNotFound", err)
	}
	n.Start()

	start := time.Now()
	eventually(t, 15*time.Second, "Worker after the restart", func() error {
		_, err := s.Worker(ctx, "acme", "api")
		return err
	})
	t.Logf("reads back %v after the restart", time.Since(start))
	if got, err := s.Secrets(ctx, "acme", "api"); err != nil || got["TOKEN"] != "s3cret" {
		t.Fatalf("Secrets after the restart = %v, %v", got, err)
	}
	if v, err := s.KVGet(ctx, "acme", "NS", "k"); err != nil || string(v) != "v" {
		t.Fatalf("KVGet after the restart = %q, %v", v, err)
	}
	v, err := s.Deploy(ctx, "acme", "api", []byte("\x00asm v2"), api.WorkerSettings{})
	if err != nil || v.Number != 2 {
		t.Fatalf("Deploy after the restart = %d, %v", v.Number, err)
	}
	if err := s.KVPut(ctx, "acme", "NS", "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}

	// Another node's write reaches this node's watcher again.
	other := newStore(t, n.URL(), testKey)
	start = time.Now()
	if _, err := other.Deploy(ctx, "acme", "web", []byte("web"), api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	await(t, events, 2*time.Second, "acme", "web", "another node's Deploy after the restart")
	t.Logf("watch: another node's deploy seen %v after it", time.Since(start))
}

// TestWatchResumesWhenSilent pauses the server-side consumer of a node's
// watcher, which then receives nothing (the consumer still exists and
// sends idle heartbeats, so the client sees nothing wrong): the heartbeat
// key and the silence timer must bring another node's deploy through.
func TestWatchResumesWhenSilent(t *testing.T) {
	n := startServer(t)
	tm := timing{heartbeat: 200 * time.Millisecond, silence: time.Second, node: nodeEvery}
	var logs syncBuffer
	a := newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, tm)
	b := newStoreWith(t, Config{URL: n.URL(), SecretKey: testKey}, tm)
	ctx := t.Context()
	events := a.Watch(ctx)
	setup(t, b)
	await(t, events, time.Second, "acme", "api", "b's first deploy")

	js := client(t, n.URL())
	st, err := js.Stream(ctx, "KV_"+bucketState)
	if err != nil {
		t.Fatal(err)
	}
	names := st.ConsumerNames(ctx)
	paused := 0
	for name := range names.Name() {
		if _, err := st.PauseConsumer(ctx, name, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		paused++
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if paused != 2 {
		t.Fatalf("paused %d consumers, want the two nodes' watchers", paused)
	}

	start := time.Now()
	if _, err := b.Deploy(ctx, "acme", "web", []byte("web"), api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	await(t, events, tm.silence+3*time.Second, "acme", "web", "b's deploy with a's consumer paused")
	t.Logf("b's deploy reached a %v after it, through a new watcher", time.Since(start))
	if !strings.Contains(logs.String(), "fell silent") {
		t.Errorf("a did not log its silent watcher:\n%s", logs.String())
	}
}

// TestNoGarbage: once what was written is deleted, nothing is left of it
// in JetStream but KV delete markers: no module or large value object, no
// object metadata, no secret entry.
func TestNoGarbage(t *testing.T) {
	n := startServer(t)
	s := newStore(t, n.URL(), testKey)
	var code codeFile // compiled code goes with its module
	s.ShareCompiledCode(code.source)
	setup(t, s)
	ctx := t.Context()
	big := bytes.Repeat([]byte("x"), inlineMax+1)
	steps := []func() error{
		func() error {
			_, err := s.Deploy(ctx, "acme", "api", []byte("\x00asm v2"), api.WorkerSettings{})
			return err
		},
		func() error {
			_, err := s.Deploy(ctx, "acme", "web", []byte("\x00asm v2"), api.WorkerSettings{})
			return err
		},
		func() error { return s.PutSecret(ctx, "acme", "api", "A", []byte("1")) },
		func() error { return s.PutSecret(ctx, "acme", "api", "A", []byte("2")) }, // rotation
		func() error { return s.PutSecret(ctx, "acme", "api", "B", []byte("3")) },
		func() error { return s.DeleteSecret(ctx, "acme", "api", "B") },
		func() error { return s.PutSecret(ctx, "acme", "web", "C", []byte("4")) },
		func() error { return s.KVPut(ctx, "acme", "NS", "big", big) },
		func() error { return s.KVPut(ctx, "acme", "NS", "big", big) }, // replaces one object by another
		func() error { return s.KVPut(ctx, "acme", "NS", "big", []byte("small")) },
		func() error { return s.KVPut(ctx, "acme", "NS", "big2", big) },
		func() error { return s.KVDelete(ctx, "acme", "NS", "big2") },
		func() error { return s.KVDelete(ctx, "acme", "NS", "big") },
		func() error { return s.DeleteWorker(ctx, "acme", "api") },
		func() error { return s.DeleteWorker(ctx, "acme", "web") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	js := client(t, n.URL())
	for _, name := range []string{"OBJ_" + bucketModules, "OBJ_" + bucketKV, "KV_" + bucketSecrets} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if msgs := st.CachedInfo().State.Msgs; msgs != 0 {
			t.Errorf("stream %s holds %d messages, want none", name, msgs)
		}
	}
	for _, kv := range []jetstream.KeyValue{s.refs, s.kv} {
		if keys, err := kv.Keys(ctx); !errors.Is(err, jetstream.ErrNoKeysFound) {
			t.Errorf("bucket %s holds keys %q (%v), want none", kv.Bucket(), keys, err)
		}
	}
}

// TestTwoNodesContend: two nodes deploying to one worker at once lose no
// version and number them without a gap; a module deleted by one node
// while the other deploys it again is never lost to a version that refers
// to it.
func TestTwoNodesContend(t *testing.T) {
	n := startServer(t)
	nodes := []*Store{newStore(t, n.URL(), testKey), newStore(t, n.URL(), testKey)}
	ctx := t.Context()
	if err := nodes[0].CreateTenant(ctx, store.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	const rounds = 12
	var wg sync.WaitGroup
	for i, s := range nodes {
		wg.Go(func() {
			for r := range rounds {
				if _, err := s.Deploy(ctx, "acme", "shared", fmt.Appendf(nil, "node %d round %d", i, r), api.WorkerSettings{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	w, err := nodes[1].Worker(ctx, "acme", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Versions) != 2*rounds {
		t.Fatalf("%d versions, want %d", len(w.Versions), 2*rounds)
	}
	for i, v := range w.Versions {
		if v.Number != i+1 {
			t.Fatalf("version #%d is numbered %d", i+1, v.Number)
		}
	}

	module := []byte("\x00asm contended module")
	for r := range rounds {
		if _, err := nodes[0].Deploy(ctx, "acme", "one", module, api.WorkerSettings{}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := nodes[0].DeleteWorker(ctx, "acme", "one"); err != nil {
				t.Error(err)
			}
		})
		var v store.Version
		wg.Go(func() {
			var err error
			if v, err = nodes[1].Deploy(ctx, "acme", "two", module, api.WorkerSettings{}); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if t.Failed() {
			return
		}
		sha := v.SHA256
		for i, s := range nodes {
			if m, err := s.Module(ctx, sha); err != nil || !bytes.Equal(m, module) {
				t.Fatalf("round %d: node %d reads the module of a live version as %q, %v", r, i, m, err)
			}
		}
		if err := nodes[1].DeleteWorker(ctx, "acme", "two"); err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[0].Module(ctx, sha); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: the module outlived its last version: err = %v", r, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "=", "acme", "a.b", "ключ 🔑", "\x00\xff", "=41", "*", ">", "a/b-c_d", " ", "."} {
		f.Add(s, "acme")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := escape(a), escape(b)
		if got, err := unescape(ea); err != nil || got != a {
			t.Fatalf("unescape(escape(%q)) = %q, %v", a, got, err)
		}
		if (a == b) != (ea == eb) {
			t.Fatalf("escape(%q) = %q, escape(%q) = %q", a, ea, b, eb)
		}
		if !validKey.MatchString(ea) || strings.Contains(ea, ".") {
			t.Fatalf("escape(%q) = %q, not one token of a NATS KV key", a, ea)
		}
	})
}

// validKey is nats.go's rule for KV keys.
var validKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)
