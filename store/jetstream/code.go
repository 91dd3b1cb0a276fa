package jetstream

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/store"
)

// Compiled code shared between nodes.
//
// The node whose API takes a deploy has compiled the module by the time
// the store sees it (the API compiles before it stores). With a
// CodeSource (ShareCompiledCode), Deploy stores what that compilation
// produced — the runtime's compiled code file, tens of megabytes for a Go
// worker — in the modules object store before it commits the version, and
// names it in the module's reference (moduleRef.Code, by platform). A
// node that reloads for the new version finds it there (SharedCode),
// imports it and loads it instead of compiling: tens of milliseconds
// instead of seconds. Code of one platform (GOOS-GOARCH) is only used
// there; a node whose CPU features or wazero version differ gets a file it
// does not use and compiles, as it would have without it.
//
// Machine code is not sandboxed as a module is: anyone who could place a
// file there would run code on every node. So a code object carries, in
// its metadata, an HMAC-SHA256 under a key derived from the operator's
// secret key (Config.SecretKey), over the module's SHA-256, the platform,
// the file's name and the object's size and digest; the NATS client
// checks the bytes against the digest as it reads them. Write access to
// NATS alone lets one deploy modules, never run native code on the nodes.
//
// Code objects are named per incarnation like modules (code/SHA256/
// PLATFORM.ID) and deleted with the module's reference (release).

// CodeSource returns the compiled code of the module with SHA-256 sha256
// (hex) as the runtime keeps it: its file name and its contents, which
// the store closes. runtime.(*Runtime).CompiledCode is one. An error means
// there is none to share.
type CodeSource func(sha256 string) (name string, r io.ReadCloser, err error)

// ShareCompiledCode makes Deploy store, before it commits a version, the
// compiled code src returns for its module, unless code for this platform
// is stored already. Failing to share it only logs a warning: the other
// nodes then compile the module themselves. Call it before the store takes
// deploys; nil turns sharing off.
func (s *Store) ShareCompiledCode(src CodeSource) {
	if src == nil {
		s.codeSrc.Store(nil)
		return
	}
	s.codeSrc.Store(&src)
}

// platform names the platform whose compiled code a node can use.
const platform = goruntime.GOOS + "-" + goruntime.GOARCH

// Metadata keys of a code object.
const (
	metaModule   = "wedge-module"
	metaPlatform = "wedge-platform"
	metaFile     = "wedge-file"
	metaMAC      = "wedge-mac"
)

// codeKeyLabel derives the code MAC's key from the secret key, so that the
// key that seals secrets is not used for anything else.
const codeKeyLabel = "wedge compiled code v1"

func deriveCodeKey(secretKey []byte) []byte {
	h := hmac.New(sha256.New, secretKey)
	h.Write([]byte(codeKeyLabel))
	return h.Sum(nil)
}

// codeMAC authenticates a code object: what it is for and what it holds
// (its digest and size, which the NATS client checks the bytes against).
func (s *Store) codeMAC(sha, platform, file, digest string, size uint64) string {
	h := hmac.New(sha256.New, s.codeKey)
	for _, f := range []string{codeKeyLabel, sha, platform, file, digest, strconv.FormatUint(size, 10)} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shareCode stores the compiled code of module sha for this platform,
// unless it is there, and names it in the module's reference. It runs in
// Deploy after the module's reference exists and before the version is
// committed, so a node that sees the version finds the code. Failures are
// logged.
func (s *Store) shareCode(ctx context.Context, sha string) {
	src := s.codeSrc.Load()
	if src == nil {
		return
	}
	start := time.Now()
	ctx, cancel := op(ctx, objTimeout)
	defer cancel()
	ref, _, err := s.moduleRef(ctx, sha)
	if err != nil {
		s.log.Warn("share compiled code", "sha256", sha, "err", err)
		return
	}
	if ref.Code[platform] != "" {
		return // shared by the deploy that stored the module
	}
	file, rc, err := (*src)(sha)
	if err != nil {
		s.log.Debug("no compiled code to share", "sha256", sha, "err", err)
		return
	}
	obj := "code/" + sha + "/" + platform + "." + newID()
	meta := jetstream.ObjectMeta{
		Name:     obj,
		Metadata: map[string]string{metaModule: sha, metaPlatform: platform, metaFile: file},
		Opts:     &jetstream.ObjectMetaOptions{ChunkSize: s.codeChunk()},
	}
	info, err := s.modules.Put(ctx, meta, rc)
	rc.Close()
	if err != nil {
		s.log.Warn("share compiled code", "sha256", sha, "err", err)
		s.dropCode(ctx, obj)
		return
	}
	// The MAC covers the digest, known once the object is stored.
	meta.Metadata[metaMAC] = s.codeMAC(sha, platform, file, info.Digest, info.Size)
	if err := s.modules.UpdateMeta(ctx, obj, meta); err != nil {
		s.log.Warn("share compiled code", "sha256", sha, "err", err)
		s.dropCode(ctx, obj)
		return
	}
	for attempt := 1; ; attempt++ {
		ref, rev, err := s.moduleRef(ctx, sha)
		if err == nil && ref.Code[platform] != "" {
			s.dropCode(ctx, obj) // another node shared it meanwhile
			return
		}
		if err == nil {
			if ref.Code == nil {
				ref.Code = map[string]string{}
			}
			ref.Code[platform] = obj
			_, err = s.refs.Update(ctx, sha, mustJSON(&ref), rev)
			if err == nil {
				s.log.Debug("shared compiled code", "sha256", sha, "bytes", info.Size, "took", time.Since(start))
				return
			}
		}
		if !conflict(err) || attempt == maxAttempts || backoff(ctx, attempt) != nil {
			// Gone (the module was deleted meanwhile) or failing: ours
			// is not referred to.
			s.log.Warn("share compiled code", "sha256", sha, "err", err)
			s.dropCode(ctx, obj)
			return
		}
	}
}

// codeChunk is the chunk size of code objects: as large as the server's
// messages allow, up to 1 MiB. Fewer, larger chunks read about twice as
// fast as the object store's default 128 KiB ones (20 MB on loopback: 60
// against 120 ms).
func (s *Store) codeChunk() uint32 {
	return uint32(min(s.nc.MaxPayload()-8192, 1<<20))
}

// dropCode deletes a code object no reference names.
func (s *Store) dropCode(ctx context.Context, obj string) {
	cctx, cancel := cleanup(ctx)
	defer cancel()
	if err := s.deleteObject(cctx, s.modules, s.modulesObjStream, bucketModules, obj); err != nil {
		s.log.Warn("delete compiled code", "object", obj, "err", err)
	}
}

// moduleRef reads a module's reference and its revision.
func (s *Store) moduleRef(ctx context.Context, sha string) (moduleRef, uint64, error) {
	var ref moduleRef
	e, err := s.refs.Get(ctx, escape(sha))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ref, 0, fmt.Errorf("module %s: %w", sha, store.ErrNotFound)
	}
	if err != nil {
		return ref, 0, err
	}
	if err := decode("module reference", e.Value(), &ref); err != nil {
		return ref, 0, err
	}
	return ref, e.Revision(), nil
}

// SharedCode returns the compiled code a node of this platform stored for
// the module with SHA-256 sha (see ShareCompiledCode): the runtime's name
// for the file, checked against its MAC, and a function that opens it.
// What open returns fails its last Read unless the bytes are those the
// MAC covers; the caller closes it. SharedCode returns an error wrapping
// store.ErrNotFound when no code is stored for this platform, and
// store.ErrUnavailable while NATS is away.
func (s *Store) SharedCode(ctx context.Context, sha string) (name string, open func(context.Context) (io.ReadCloser, error), err error) {
	if err := s.enter(ctx); err != nil {
		return "", nil, err
	}
	if s.offline() {
		return "", nil, errUnavailable
	}
	octx, cancel := op(ctx, opTimeout)
	defer cancel()
	ref, _, err := s.moduleRef(octx, sha)
	if err != nil {
		return "", nil, s.fail("compiled code of "+sha, err)
	}
	obj := ref.Code[platform]
	if obj == "" {
		return "", nil, fmt.Errorf("compiled code of %s for %s: %w", sha, platform, store.ErrNotFound)
	}
	info, err := s.modules.GetInfo(octx, obj)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", nil, fmt.Errorf("compiled code of %s: object %s: %w", sha, obj, store.ErrNotFound)
	}
	if err != nil {
		return "", nil, s.fail("compiled code of "+sha, err)
	}
	md := info.Metadata
	file := md[metaFile]
	want := s.codeMAC(sha, platform, file, info.Digest, info.Size)
	if md[metaModule] != sha || md[metaPlatform] != platform ||
		!hmac.Equal([]byte(md[metaMAC]), []byte(want)) {
		return "", nil, fmt.Errorf("compiled code of %s: object %s is not authenticated by this store's key", sha, obj)
	}
	digest, size := info.Digest, info.Size
	open = func(ctx context.Context) (io.ReadCloser, error) {
		res, err := s.modules.Get(ctx, obj)
		if err != nil {
			return nil, s.fail("compiled code of "+sha, err)
		}
		// The object may have been replaced since its MAC was checked:
		// the client checks the bytes against this digest.
		if got, err := res.Info(); err != nil || got.Digest != digest || got.Size != size {
			res.Close()
			return nil, fmt.Errorf("compiled code of %s: object %s changed since it was checked", sha, obj)
		}
		return res, nil
	}
	return file, open, nil
}
