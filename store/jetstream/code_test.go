package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// codeFile is a stand-in for a runtime's compiled code: a name and bytes
// per module, and a count of the calls.
type codeFile struct {
	calls atomic.Int64
}

func fileName(sha string) string {
	sum := sha256.Sum256([]byte("file of " + sha))
	return hex.EncodeToString(sum[:])
}

// fileBytes is larger than one object store chunk (128 KiB).
func fileBytes(sha string) []byte { return bytes.Repeat([]byte(sha), 10000) }

func (c *codeFile) source(sha string) (string, io.ReadCloser, error) {
	c.calls.Add(1)
	return fileName(sha), io.NopCloser(bytes.NewReader(fileBytes(sha))), nil
}

// readShared reads what SharedCode returns for sha from s.
func readShared(t *testing.T, s *Store, sha string) (string, []byte, error) {
	t.Helper()
	name, open, err := s.SharedCode(t.Context(), sha)
	if err != nil {
		return "", nil, err
	}
	rc, err := open(t.Context())
	if err != nil {
		return name, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return name, b, err
}

func shaOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestSharedCode: the deploying node's compiled code reaches the other
// node, stored once per module, before the version that needs it.
func TestSharedCode(t *testing.T) {
	n := startServer(t)
	a := newStore(t, n.URL(), testKey)
	b := newStore(t, n.URL(), testKey)
	var src codeFile
	a.ShareCompiledCode(src.source)
	setup(t, a)
	ctx := t.Context()
	module := []byte("\x00asm v1")
	sha := shaOf(module)
	if src.calls.Load() != 1 {
		t.Fatalf("source called %d times for the first deploy, want 1", src.calls.Load())
	}

	events := b.Watch(ctx)
	mod2 := []byte("\x00asm v2")
	if _, err := a.Deploy(ctx, "acme", "api", mod2, api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	await(t, events, 5e9, "acme", "api", "the deploy")
	// What b sees announced has its code there already.
	name, got, err := readShared(t, b, shaOf(mod2))
	if err != nil {
		t.Fatal(err)
	}
	if name != fileName(shaOf(mod2)) || !bytes.Equal(got, fileBytes(shaOf(mod2))) {
		t.Fatalf("SharedCode = %s, %d bytes; want %s, %d bytes", name, len(got), fileName(shaOf(mod2)), len(fileBytes(shaOf(mod2))))
	}

	// A module deployed again (settings only, or by another worker) is
	// not shared twice.
	calls := src.calls.Load()
	for _, w := range []string{"api", "web"} {
		if _, err := a.Deploy(ctx, "acme", w, module, api.WorkerSettings{Vars: map[string]string{"A": w}}); err != nil {
			t.Fatal(err)
		}
	}
	if c := src.calls.Load(); c != calls {
		t.Errorf("source called %d more times for modules shared already", c-calls)
	}
	if _, _, err := readShared(t, b, sha); err != nil {
		t.Fatal(err)
	}

	// Without a source, nothing is shared; the module still deploys.
	mod3 := []byte("\x00asm v3")
	if _, err := b.Deploy(ctx, "acme", "web", mod3, api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readShared(t, a, shaOf(mod3)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SharedCode of a module deployed without a source: %v, want ErrNotFound", err)
	}
	if _, _, err := readShared(t, a, strings.Repeat("0", 64)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SharedCode of an unknown module: %v, want ErrNotFound", err)
	}
	// A source that has nothing: the deploy succeeds, nothing is shared.
	b.ShareCompiledCode(func(string) (string, io.ReadCloser, error) { return "", nil, errors.New("none") })
	mod4 := []byte("\x00asm v4")
	if _, err := b.Deploy(ctx, "acme", "web", mod4, api.WorkerSettings{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readShared(t, a, shaOf(mod4)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SharedCode of a module whose source had none: %v, want ErrNotFound", err)
	}
}

// TestSharedCodeTampered: code objects that someone with access to NATS
// but without the secret key changed or made are refused, never returned.
func TestSharedCodeTampered(t *testing.T) {
	n := startServer(t)
	a := newStore(t, n.URL(), testKey)
	var src codeFile
	a.ShareCompiledCode(src.source)
	setup(t, a)
	ctx := t.Context()
	js := client(t, n.URL())
	obs, err := js.ObjectStore(ctx, bucketModules)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := js.KeyValue(ctx, bucketModules)
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(i int) (string, moduleRef) {
		t.Helper()
		module := []byte("\x00asm tampered " + string(rune('a'+i)))
		if _, err := a.Deploy(ctx, "acme", "api", module, api.WorkerSettings{}); err != nil {
			t.Fatal(err)
		}
		sha := shaOf(module)
		e, err := refs.Get(ctx, sha)
		if err != nil {
			t.Fatal(err)
		}
		var ref moduleRef
		if err := json.Unmarshal(e.Value(), &ref); err != nil {
			t.Fatal(err)
		}
		return sha, ref
	}
	info := func(obj string) *jetstream.ObjectInfo {
		t.Helper()
		i, err := obs.GetInfo(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	for i, tc := range []struct {
		name   string
		tamper func(sha string, ref moduleRef)
	}{
		{"other bytes, same metadata", func(sha string, ref moduleRef) {
			obj := ref.Code[platform]
			old := info(obj)
			if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: obj, Metadata: old.Metadata}, bytes.NewReader([]byte("evil machine code"))); err != nil {
				t.Fatal(err)
			}
		}},
		{"other file name", func(sha string, ref moduleRef) {
			obj := ref.Code[platform]
			old := info(obj)
			md := map[string]string{}
			for k, v := range old.Metadata {
				md[k] = v
			}
			md[metaFile] = strings.Repeat("e", 64)
			if err := obs.UpdateMeta(ctx, obj, jetstream.ObjectMeta{Name: obj, Metadata: md}); err != nil {
				t.Fatal(err)
			}
		}},
		{"another module's code", func(sha string, ref moduleRef) {
			_, other := deploy(100)
			ref.Code[platform] = other.Code[platform]
			if _, err := refs.Put(ctx, sha, mustJSON(&ref)); err != nil {
				t.Fatal(err)
			}
		}},
		{"an object without a MAC", func(sha string, ref moduleRef) {
			obj := "code/" + sha + "/" + platform + ".evil"
			if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: obj, Metadata: map[string]string{metaModule: sha, metaPlatform: platform, metaFile: fileName(sha)}}, bytes.NewReader([]byte("evil"))); err != nil {
				t.Fatal(err)
			}
			ref.Code[platform] = obj
			if _, err := refs.Put(ctx, sha, mustJSON(&ref)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sha, ref := deploy(i)
			if _, _, err := readShared(t, a, sha); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			tc.tamper(sha, ref)
			name, got, err := readShared(t, a, sha)
			if err == nil || errors.Is(err, store.ErrNotFound) {
				t.Fatalf("SharedCode after tampering = %s, %q, %v; want an error", name, got, err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestSharedCodeKeyDiffers: code shared under another secret key is not
// authenticated (the MAC's key derives from the secret key).
func TestSharedCodeKeyDiffers(t *testing.T) {
	s := &Store{codeKey: deriveCodeKey(testKey)}
	other := &Store{codeKey: deriveCodeKey(bytes.Repeat([]byte{0x43}, 32))}
	args := []string{strings.Repeat("a", 64), platform, strings.Repeat("b", 64), "SHA-256=x"}
	if s.codeMAC(args[0], args[1], args[2], args[3], 1) == other.codeMAC(args[0], args[1], args[2], args[3], 1) {
		t.Fatal("the same MAC under two keys")
	}
	if s.codeMAC(args[0], args[1], args[2], args[3], 1) == s.codeMAC(args[0], args[1], args[2], args[3], 2) {
		t.Fatal("the MAC does not cover the size")
	}
}

// TestSharedCodeReplaced: an object replaced after SharedCode checked it
// is not read as if it were the one checked.
func TestSharedCodeReplaced(t *testing.T) {
	n := startServer(t)
	a := newStore(t, n.URL(), testKey)
	var src codeFile
	a.ShareCompiledCode(src.source)
	setup(t, a)
	ctx := t.Context()
	sha := shaOf([]byte("\x00asm v1"))
	_, open, err := a.SharedCode(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := a.moduleRef(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := client(t, n.URL()).ObjectStore(ctx, bucketModules)
	if err != nil {
		t.Fatal(err)
	}
	old, err := obs.GetInfo(ctx, ref.Code[platform])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: old.Name, Metadata: old.Metadata}, bytes.NewReader([]byte("evil"))); err != nil {
		t.Fatal(err)
	}
	rc, err := open(context.Background())
	if err == nil {
		b, rerr := io.ReadAll(rc)
		rc.Close()
		t.Fatalf("open after the replacement read %q (%v); want an error", b, rerr)
	}
	t.Logf("refused: %v", err)
}
