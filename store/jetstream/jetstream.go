package jetstream

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wedgeworks/wedge/store"
)

// Config configures Open. URL and SecretKey are required; the zero value of
// every other field is a valid choice.
type Config struct {
	// URL is the NATS server: nats://HOST:PORT (tls://… for TLS; user and
	// password or a token may be in the URL), or several URLs of one
	// cluster separated by commas.
	URL string
	// SecretKey encrypts workers' secrets (AES-256-GCM) before they are
	// written to NATS: 32 bytes, the same on every node of the store, never
	// stored in NATS. Open fails with ErrWrongSecretKey when the store's
	// secrets were written with another key.
	SecretKey []byte
	// Logger receives warnings: a lost connection, a watch restarted, a
	// clean-up that failed. Nil: logs are discarded.
	Logger *slog.Logger
	// Node names this node in the nodes bucket, where every node records
	// which version of each worker it serves (SetServing, Nodes). Give
	// every node its own: two nodes with one name overwrite each other's
	// report. Empty: a random name, new at every Open.
	Node string
	// CacheDir, if set, is a directory of this node's own where the store
	// keeps a copy of the state bucket (tenants, workers, meta), of the
	// modules and of the sealed secrets it read. While NATS is unreachable,
	// reads come from that copy, and writes and KV calls fail at once with
	// store.ErrUnavailable; Open succeeds from the copy when NATS cannot be
	// reached, and the store binds to NATS when it comes back. Empty: no
	// copy, and reads fail too while NATS is away.
	CacheDir string
}

// ErrWrongSecretKey is returned by Open, and by Secrets for a value that
// will not decrypt, when the secret key is not the one the store's secrets
// were encrypted with.
var ErrWrongSecretKey = errors.New("jetstream: the secret key is not the one this store's secrets were encrypted with")

// Bucket names. A KV bucket is the stream KV_<name>, an object store the
// stream OBJ_<name>; operators who want them replicated create them (with
// the nats CLI, same names, history 1) before the first node starts, and
// Open binds to what exists.
const (
	bucketState   = "wedge_state"   // KV: tenants, workers, meta, heartbeat, format (watched)
	bucketSecrets = "wedge_secrets" // KV: encrypted secret values
	bucketKV      = "wedge_kv"      // KV: the tenants' KV namespaces; object store: their large values
	bucketModules = "wedge_modules" // KV: module references; object store: module bytes
	bucketNodes   = "wedge_nodes"   // KV: what each node serves (expiring)
)

// format is the layout version, kept under keyFormat. Open refuses a store
// with another.
const format = "1"

// Keys of the state bucket that are not tenants, workers or meta.
const (
	keyFormat    = "store.format"
	keyKeyCheck  = "store.keycheck"
	keyHeartbeat = "heartbeat"
)

// Timing.
const (
	// heartbeatEvery is how often a node writes the heartbeat key unless
	// it has seen someone else's within half of it.
	heartbeatEvery = time.Second
	// silenceAfter is how long the state watcher may receive nothing,
	// heartbeats included, before it is replaced by a new one resuming
	// after the last revision it delivered.
	silenceAfter = 3 * time.Second
	// opTimeout bounds a call whose context has no deadline; objTimeout
	// one that moves an object (a module or a large KV value).
	opTimeout  = 10 * time.Second
	objTimeout = time.Minute
	// nodeEvery is how often a node rewrites its entry in the nodes bucket
	// (and at once when what it serves changes); a node whose entry is
	// older than nodeLive is not live. nodeTTL is how long the bucket
	// keeps an entry nobody rewrites: a node gone for good disappears.
	nodeEvery = 2 * time.Second
	nodeLive  = 3 * nodeEvery
	nodeTTL   = time.Minute
)

// timing is heartbeatEvery, silenceAfter and nodeEvery, per Store so that
// tests may shorten them.
type timing struct {
	heartbeat, silence, node time.Duration
}

var defaultTiming = timing{heartbeatEvery, silenceAfter, nodeEvery}

// inlineMax is the largest KV value kept in the KV entry itself; larger
// values go to the object store. minPayload is the smallest max_payload
// (server setting) Open accepts: a secret, an inline KV value or a worker
// with its versions must fit one message.
const (
	inlineMax  = 128 << 10
	minPayload = 256 << 10
)

// Store is the store.Store kept in NATS JetStream. Every node that opens
// the same server (or cluster) with the same secret key shares it: a write
// on one node is seen by every other, and their Watch channels receive its
// event.
//
// All methods are safe for concurrent use.
type Store struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	log  *slog.Logger
	aead cipher.AEAD
	// codeKey authenticates shared compiled code (code.go); codeSrc is
	// what Deploy shares (ShareCompiledCode), nil: nothing.
	codeKey []byte
	codeSrc atomic.Pointer[CodeSource]
	node    string // Config.Node, or random: names this Store in the nodes bucket, heartbeats and logs
	tm      timing

	// The buckets and streams are set by bind, before bound is set, and
	// never change after: a method reads them only once bound says so.
	bound                    atomic.Bool
	state, secrets, kv, refs jetstream.KeyValue
	nodes                    jetstream.KeyValue
	modules, blobs           jetstream.ObjectStore
	// Streams, for purges that leave no marker behind.
	stateStream, secretsStream, modulesObjStream, blobsObjStream jetstream.Stream

	cache     *cache        // Config.CacheDir's copy; nil without one
	cacheKick chan struct{} // a token when the watcher queued changes for the cache
	connected chan struct{} // a token after each (re)connection: an unbound store binds

	servMu   sync.Mutex       // guards serving
	serving  map[WorkerID]int // what this node serves (SetServing)
	servKick chan struct{}    // a token when serving changed: the node's entry is rewritten

	tenants sync.Map // names of tenants known to exist (tenants are never deleted)

	closed atomic.Bool
	done   chan struct{}      // closed by Close
	bg     context.Context    // the watchers' context, canceled by Close
	stopBG context.CancelFunc // cancels bg
	loops  sync.WaitGroup     // the watch and heartbeat loops

	lastBeat    atomic.Int64  // unix nanoseconds of the last heartbeat the watcher delivered
	reconnected chan struct{} // a token after each reconnection: the watcher is replaced at once

	mu       sync.Mutex // guards the fields below
	watchers map[chan store.Event]struct{}
	own      map[string][]mark // state writes this Store committed, not yet delivered by the watcher
	seen     map[string][]mark // state writes the watcher delivered, not yet matched by a commit
}

var _ store.Store = (*Store)(nil)

// Open connects to the NATS server at cfg.URL, creates the buckets that do
// not exist yet (binding to those that do), checks the store's format and
// secret key, and starts watching for changes. ctx bounds the whole of
// Open; the connection then lives until Close, reconnecting whenever it is
// lost.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	return open(ctx, cfg, defaultTiming)
}

func open(ctx context.Context, cfg Config, tm timing) (*Store, error) {
	if len(cfg.SecretKey) != 32 {
		return nil, fmt.Errorf("jetstream: the secret key is %d bytes long, want 32", len(cfg.SecretKey))
	}
	block, err := aes.NewCipher(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("jetstream: secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("jetstream: secret key: %w", err)
	}
	if cfg.URL == "" {
		return nil, errors.New("jetstream: no URL")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	node := cfg.Node
	if node == "" {
		node = newID()
	}
	s := &Store{
		log:      log.With("store", "jetstream", "node", node),
		aead:     aead,
		codeKey:  deriveCodeKey(cfg.SecretKey),
		node:     node,
		tm:       tm,
		done:     make(chan struct{}),
		watchers: map[chan store.Event]struct{}{},
		own:      map[string][]mark{},
		seen:     map[string][]mark{},

		reconnected: make(chan struct{}, 1),
		connected:   make(chan struct{}, 1),
		cacheKick:   make(chan struct{}, 1),
		servKick:    make(chan struct{}, 1),
	}
	if cfg.CacheDir != "" {
		if s.cache, err = openCache(cfg.CacheDir, s.log); err != nil {
			return nil, err
		}
	}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.nc, err = nats.Connect(cfg.URL,
		nats.Name("wedge"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		// A server that vanishes without closing the connection (a
		// partition) is noticed within about six seconds, not minutes.
		nats.PingInterval(2*time.Second),
		nats.MaxPingsOutstanding(3),
		// With a local copy, a node starts while NATS is away and
		// connects when it comes back.
		nats.RetryOnFailedConnect(s.cache != nil),
		nats.ConnectHandler(func(*nats.Conn) { signal(s.connected) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !s.closed.Load() {
				s.log.Warn("lost the connection to NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
			signal(s.reconnected)
			signal(s.connected)
		}),
	)
	if err != nil {
		s.stopBG()
		s.closeCache()
		return nil, fmt.Errorf("jetstream: connect to %s: %w", redact(cfg.URL), err)
	}
	w, last, err := s.bind(ctx)
	if err == nil {
		s.start(w, last)
		return s, nil
	}
	if s.cache == nil || !unreachable(err) || !s.cache.hasSnapshot() {
		s.stopBG()
		s.nc.Close()
		s.closeCache()
		return nil, err
	}
	// NATS is away, but this node has a copy of the store: serve it, and
	// bind when NATS comes back.
	if err := s.checkCopy(); err != nil {
		s.stopBG()
		s.nc.Close()
		s.closeCache()
		return nil, err
	}
	at, rev := s.cache.snapshotAt()
	s.log.Warn("cannot reach NATS: serving the local copy of the store, refusing changes until NATS is back",
		"url", redact(cfg.URL), "err", err, "copy_taken", at, "revision", rev)
	s.loops.Add(1)
	go s.connectLoop()
	return s, nil
}

// bind binds to (or creates) the buckets, checks the store's format and
// key, copies the state bucket to the cache, and starts a watcher after
// what it copied; then the store is bound.
func (s *Store) bind(ctx context.Context) (*stateWatch, uint64, error) {
	if !s.nc.IsConnected() {
		return nil, 0, fmt.Errorf("jetstream: not connected: %w", nats.ErrNoServers)
	}
	if err := s.init(ctx); err != nil {
		return nil, 0, err
	}
	info, err := s.stateStream.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("jetstream: %s: %w", bucketState, err)
	}
	last := info.State.LastSeq
	if s.cache != nil {
		if err := s.snapshot(ctx, last); err != nil {
			return nil, 0, err
		}
	}
	w, err := s.watchFrom(last + 1)
	if err != nil {
		return nil, 0, fmt.Errorf("jetstream: watch %s: %w", bucketState, err)
	}
	s.bound.Store(true)
	return w, last, nil
}

// start runs the loops of a bound store.
func (s *Store) start(w *stateWatch, last uint64) {
	s.loops.Add(3)
	go s.watchLoop(w, last)
	go s.heartbeatLoop()
	go s.presenceLoop()
	if s.cache != nil {
		s.loops.Add(1)
		go s.cacheLoop()
	}
}

// connectLoop binds a store opened from its local copy once NATS can be
// reached, then announces a change of everything: watchers reload what
// changed while the node was cut off.
func (s *Store) connectLoop() {
	defer s.loops.Done()
	for failures := 0; ; {
		d := min(100*time.Millisecond<<min(failures, 6), 5*time.Second)
		select {
		case <-s.done:
			return
		case <-s.connected:
		case <-time.After(d):
		}
		if !s.nc.IsConnected() {
			continue
		}
		ctx, cancel := context.WithTimeout(s.bg, opTimeout)
		w, last, err := s.bind(ctx)
		cancel()
		if err != nil {
			failures++
			if failures == 1 || failures%10 == 0 {
				s.log.Warn("cannot bind to NATS yet; retrying", "failures", failures, "err", err)
			}
			continue
		}
		s.log.Info("reached NATS: the store is shared again", "revision", last)
		s.start(w, last)
		s.mu.Lock()
		if s.watchers != nil {
			s.notify(store.Event{})
		}
		s.mu.Unlock()
		return
	}
}

// cacheLoop commits the changes the watcher queued for the cache.
func (s *Store) cacheLoop() {
	defer s.loops.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.cacheKick:
			s.cache.flush()
		}
	}
}

func (s *Store) closeCache() {
	if s.cache != nil {
		if err := s.cache.close(); err != nil {
			s.log.Warn("close the local copy", "err", err)
		}
	}
}

// init binds to (or creates) every bucket and checks the format and key.
func (s *Store) init(ctx context.Context) error {
	if p := s.nc.MaxPayload(); p < minPayload {
		return fmt.Errorf("jetstream: the server's max_payload is %d bytes, Wedge needs at least %d", p, minPayload)
	}
	var err error
	if s.js, err = jetstream.New(s.nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	for _, b := range []struct {
		kv   *jetstream.KeyValue
		name string
		desc string
	}{
		{&s.state, bucketState, "Wedge: tenants, workers with their versions, meta"},
		{&s.secrets, bucketSecrets, "Wedge: workers' secrets, encrypted"},
		{&s.kv, bucketKV, "Wedge: tenants' KV namespaces"},
		{&s.refs, bucketModules, "Wedge: modules, by SHA-256, with their reference counts"},
		{&s.nodes, bucketNodes, "Wedge: nodes and the versions they serve"},
	} {
		if *b.kv, err = s.keyValue(ctx, b.name, b.desc); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		obs  *jetstream.ObjectStore
		name string
		desc string
	}{
		{&s.modules, bucketModules, "Wedge: module bytes"},
		{&s.blobs, bucketKV, "Wedge: KV values too large for a KV entry"},
	} {
		if *b.obs, err = s.objectStore(ctx, b.name, b.desc); err != nil {
			return err
		}
	}
	for _, st := range []struct {
		stream *jetstream.Stream
		name   string
	}{
		{&s.stateStream, "KV_" + bucketState},
		{&s.secretsStream, "KV_" + bucketSecrets},
		{&s.modulesObjStream, "OBJ_" + bucketModules},
		{&s.blobsObjStream, "OBJ_" + bucketKV},
	} {
		if *st.stream, err = s.js.Stream(ctx, st.name); err != nil {
			return fmt.Errorf("jetstream: stream %s: %w", st.name, err)
		}
	}
	if err := s.initValue(ctx, keyFormat, []byte(format), func(v []byte) error {
		if string(v) != format {
			return fmt.Errorf("jetstream: unsupported store format %q (want %q)", v, format)
		}
		return nil
	}); err != nil {
		return err
	}
	return s.initValue(ctx, keyKeyCheck, s.seal([]byte(keyCheckText), []byte(keyCheckText)), func(v []byte) error {
		if p, err := s.unseal(v, []byte(keyCheckText)); err != nil || string(p) != keyCheckText {
			return ErrWrongSecretKey
		}
		return nil
	})
}

// keyCheckText is encrypted under keyKeyCheck by the first node, so that a
// node with another key fails at Open rather than at its first secret.
const keyCheckText = "wedge secret key check"

// initValue creates a state key with value unless it exists, then checks
// the value that is there.
func (s *Store) initValue(ctx context.Context, key string, value []byte, check func([]byte) error) error {
	_, err := s.state.Create(ctx, key, value)
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("jetstream: write %s: %w", key, err)
	}
	e, err := s.state.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("jetstream: read %s: %w", key, err)
	}
	return check(e.Value())
}

// keyValue binds to the KV bucket name, creating it if it does not exist.
func (s *Store) keyValue(ctx context.Context, name, desc string) (jetstream.KeyValue, error) {
	kv, err := s.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		cfg := jetstream.KeyValueConfig{Bucket: name, Description: desc, History: 1, Storage: jetstream.FileStorage}
		if name == bucketNodes {
			cfg.TTL = nodeTTL // reports of nodes that stopped for good expire
		}
		kv, err = s.js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) { // another node was first
			kv, err = s.js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: bucket %s: %w", name, err)
	}
	return kv, nil
}

// objectStore binds to the object store name, creating it if it does not
// exist.
func (s *Store) objectStore(ctx context.Context, name, desc string) (jetstream.ObjectStore, error) {
	obs, err := s.js.ObjectStore(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = s.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: name, Description: desc, Storage: jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			obs, err = s.js.ObjectStore(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: object store %s: %w", name, err)
	}
	return obs, nil
}

// Close stops watching, closes every Watch channel and the connection.
// Methods called after Close return store.ErrClosed, and so does a second
// Close.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return store.ErrClosed
	}
	close(s.done)
	s.stopBG()
	s.loops.Wait()
	s.leave()
	s.mu.Lock()
	for ch := range s.watchers {
		close(ch)
	}
	s.watchers = nil
	s.mu.Unlock()
	s.nc.Close()
	s.closeCache()
	return nil
}

// enter is the check at the top of every method.
func (s *Store) enter(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// enterNATS is the check at the top of every write and KV call: they
// need NATS, and fail at once when it is away rather than wait for it.
func (s *Store) enterNATS(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	return s.Writable()
}

// errUnavailable is what calls that need NATS return while it is away.
var errUnavailable = fmt.Errorf("jetstream: not connected to NATS: %w", store.ErrUnavailable)

// Writable returns nil when the store is connected to NATS and may take
// writes, else an error wrapping store.ErrUnavailable: the API checks it
// before the work that precedes a write (compiling a module).
func (s *Store) Writable() error {
	if s.offline() {
		return errUnavailable
	}
	return nil
}

// offline reports whether NATS cannot be used now: the store is not bound
// yet (opened from its copy) or the connection is down.
func (s *Store) offline() bool { return !s.bound.Load() || !s.nc.IsConnected() }

// unreachable reports whether err means that NATS or JetStream could not
// be reached, rather than that it answered.
func unreachable(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// local reports whether a read that failed with err should be answered
// from the local copy instead.
func (s *Store) local(ctx context.Context, err error) bool {
	return s.cache != nil && ctx.Err() == nil && unreachable(err) && !s.closed.Load()
}

// op returns ctx bounded by timeout unless it has a deadline already:
// nothing waits forever on a server that is away.
func op(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

// cleanup returns a context for the clean-up after a committed write, which
// runs even when the caller's context is done by then.
func cleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
}

// fail returns the store's errors (ErrNotFound, ErrInvalid, …) as they
// are, turns a closed connection into store.ErrClosed, and wraps any other
// error with what failed.
func (s *Store) fail(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid),
		errors.Is(err, store.ErrExists), errors.Is(err, store.ErrClosed):
		return err
	case errors.Is(err, nats.ErrConnectionClosed) || s.closed.Load():
		return store.ErrClosed
	case errors.Is(err, store.ErrUnavailable):
		return err
	case unreachable(err):
		return fmt.Errorf("%s: %w: %w", what, store.ErrUnavailable, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// conflict reports whether err is a lost compare-and-set: the key changed
// (or came to exist) since it was read, and nothing was written.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// maxAttempts bounds the read-modify-write loops of one call.
const maxAttempts = 100

// backoff sleeps a little, more after each lost compare-and-set, so that
// writers contending for one key spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(attempt) * time.Millisecond
	d = d/2 + time.Duration(randUint64()%uint64(d+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errContention = errors.New("too many concurrent writers to one key: gave up")

// newID returns 16 random hex digits.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// redact removes user information from (comma-separated) URLs for a
// message.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			scheme := ""
			if k := strings.Index(u, "://"); k >= 0 && k < at {
				scheme = u[:k+3]
			}
			parts[i] = scheme + "***@" + u[at+1:]
		}
	}
	return strings.Join(parts, ",")
}

// objectMetaSubject is the subject of an object's metadata message in its
// stream (ADR-20: $O.<bucket>.M.<base64url name>). Deleting an object
// leaves its metadata behind marked deleted; purging the subject removes
// it, so that objects with unique names do not pile up markers.
func objectMetaSubject(bucket, name string) string {
	return "$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
}

// deleteObject removes an object and its metadata.
func (s *Store) deleteObject(ctx context.Context, obs jetstream.ObjectStore, stream jetstream.Stream, bucket, name string) error {
	ctx, cancel := op(ctx, objTimeout)
	defer cancel()
	if err := obs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return err
	}
	return stream.Purge(ctx, jetstream.WithPurgeSubject(objectMetaSubject(bucket, name)))
}
