package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/metrics"
	"github.com/wedgeworks/wedge/runtime"
	"github.com/wedgeworks/wedge/store"
	"github.com/wedgeworks/wedge/tail"
)

// Config configures a Server. Store and Runtime are required.
type Config struct {
	Store   store.Store
	Runtime *runtime.Runtime
	// OperatorTokenHash is HashToken of the operator token.
	OperatorTokenHash []byte
	// Host returns the default hostname of a worker, for answers. Nil: none.
	Host func(tenant, worker string) string
	// MaxModuleBytes caps an uploaded module; zero means 64 MiB.
	MaxModuleBytes int64
	// Limits caps what a worker may ask for; a zero field means the default.
	Limits api.Limits
	// Metrics receives /metrics and deploy counts; nil serves no /metrics.
	Metrics *metrics.Metrics
	// Logger: nil means slog.Default().
	Logger *slog.Logger
	// Applied, if set, waits until this node serves the given version of a
	// worker (version 0: serves no version of it), so that a deploy,
	// rollback or delete is in effect when the API answers. It returns
	// ctx's error if that takes too long.
	Applied func(ctx context.Context, tenant, worker string, version int) error
	// Zone is the domain of the workers' default names (W.T.ZONE): custom
	// routes under it must be the tenant's own. Empty: not checked.
	Zone string
	// Tail, if set, is where the edge publishes request events; the tail
	// endpoint streams a worker's. Nil answers it with not-found.
	Tail *tail.Hub
	// Netfilter, if set, is the packet filter the operator manages under
	// /v1/netfilter; nil answers those endpoints with not-found.
	Netfilter Netfilter
	// Nodes, if set, returns for each live node the version of a worker it
	// serves, for GET …/workers/{w}; partial says that only this node could
	// be asked (the shared store is unreachable). Nil: no node list.
	Nodes func(ctx context.Context, tenant, worker string) (nodes []api.NodeStatus, partial bool)
	// Writable, if set, says whether the store takes writes now (nil) or
	// not (an error wrapping store.ErrUnavailable): a deploy checks it
	// before it compiles. Nil: always.
	Writable func() error
}

// Server is the control-plane API.
type Server struct {
	store     store.Store
	rt        *runtime.Runtime
	opHash    []byte
	host      func(tenant, worker string) string
	maxModule int64
	caps      api.Limits
	metrics   *metrics.Metrics
	log       *slog.Logger
	applied   func(ctx context.Context, tenant, worker string, version int) error
	netfilter Netfilter
	tailHub   *tail.Hub
	zone      string
	nodes     func(ctx context.Context, tenant, worker string) ([]api.NodeStatus, bool)
	writable  func() error
	routesMu  sync.Mutex // deploys with routes, one at a time (checkRoutes)
	router    chi.Router
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Runtime == nil {
		return nil, errors.New("control: Store and Runtime are required")
	}
	if len(cfg.OperatorTokenHash) == 0 {
		return nil, errors.New("control: an operator token hash is required")
	}
	s := &Server{
		store:     cfg.Store,
		rt:        cfg.Runtime,
		opHash:    cfg.OperatorTokenHash,
		host:      cfg.Host,
		maxModule: cfg.MaxModuleBytes,
		caps:      cfg.Limits,
		metrics:   cfg.Metrics,
		log:       cfg.Logger,
		applied:   cfg.Applied,
		netfilter: cfg.Netfilter,
		tailHub:   cfg.Tail,
		zone:      strings.ToLower(strings.TrimSuffix(cfg.Zone, ".")),
		nodes:     cfg.Nodes,
		writable:  cfg.Writable,
	}
	if s.maxModule <= 0 {
		s.maxModule = 64 << 20
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

func (s *Server) routes() {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, api.NewError(api.CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path, nil))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		var body api.ErrorBody
		body.Error.Code = "method-not-allowed"
		body.Error.Message = r.Method + " is not allowed on " + r.URL.Path
		writeJSON(w, http.StatusMethodNotAllowed, body)
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	if s.metrics != nil {
		r.Method(http.MethodGet, "/metrics", s.metrics.Handler())
	}
	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		r.With(s.operatorOnly).Post("/tenants", s.createTenant)
		r.With(s.operatorOnly).Get("/tenants", s.listTenants)
		r.With(s.operatorOnly, s.noNetfilter).Route("/netfilter", s.netfilterRoutes)
		r.Route("/tenants/{tenant}", func(r chi.Router) {
			r.Use(s.tenantAccess)
			r.Get("/", s.getTenant)
			r.Get("/workers", s.listWorkers)
			r.Route("/workers/{worker}", func(r chi.Router) {
				r.Use(s.workerName)
				r.Put("/", s.deploy)
				r.Get("/", s.getWorker)
				r.Delete("/", s.deleteWorker)
				r.Get("/versions", s.versions)
				r.Post("/rollback", s.rollback)
				r.Get("/tail", s.tail)
				r.Get("/secrets", s.listSecrets)
				r.Put("/secrets/{key}", s.putSecret)
				r.Delete("/secrets/{key}", s.deleteSecret)
			})
			r.Route("/kv/{namespace}", func(r chi.Router) {
				r.Use(s.kvNamespace)
				r.Get("/", s.kvList)
				r.Put("/*", s.kvPut)
				r.Get("/*", s.kvGet)
				r.Delete("/*", s.kvDelete)
			})
		})
	})
	s.router = r
}

type principalKey struct{}

// principal is who a request's token belongs to: "" for the operator, else
// a tenant name.
type principal struct{ tenant string }

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			s.writeError(w, r, errUnauthorized)
			return
		}
		var p principal
		if !tokenMatches(token, s.opHash) {
			name, ok := tokenTenant(token)
			if !ok {
				s.writeError(w, r, errUnauthorized)
				return
			}
			t, err := s.store.Tenant(r.Context(), name)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.writeError(w, r, err)
				return
			}
			// An unknown tenant is compared too (against nothing), so that
			// it costs the same as a wrong secret.
			if err != nil || !tokenMatches(token, t.TokenHash) {
				s.writeError(w, r, errUnauthorized)
				return
			}
			p.tenant = name
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func who(r *http.Request) principal { return r.Context().Value(principalKey{}).(principal) }

func (s *Server) operatorOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if who(r).tenant != "" {
			s.writeError(w, r, api.NewError(api.CodeForbidden, "only the operator token may do that", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tenantAccess lets the operator and the tenant itself through, and checks
// that the tenant exists.
func (s *Server) tenantAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant := chi.URLParam(r, "tenant")
		if p := who(r); p.tenant != "" && p.tenant != tenant {
			s.writeError(w, r, api.NewError(api.CodeForbidden, "this token belongs to tenant "+p.tenant+", not "+tenant, nil))
			return
		}
		if _, err := s.store.Tenant(r.Context(), tenant); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = notFound("tenant " + tenant)
			}
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) workerName(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := chi.URLParam(r, "worker"); !api.ValidName(name) {
			s.writeError(w, r, badRequest(fmt.Sprintf("invalid worker name %q: use 1-63 lower-case letters, digits and hyphens, starting with a letter", name)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) {
	var req api.CreateTenantRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !api.ValidName(req.Name) {
		s.writeError(w, r, badRequest(fmt.Sprintf("invalid tenant name %q: use 1-63 lower-case letters, digits and hyphens, starting with a letter", req.Name)))
		return
	}
	token := newTenantToken(req.Name)
	t := store.Tenant{Name: req.Name, TokenHash: HashToken(token), Created: time.Now().UTC()}
	if err := s.store.CreateTenant(r.Context(), t); err != nil {
		if errors.Is(err, store.ErrExists) {
			err = api.NewError(api.CodeConflict, "tenant "+req.Name+" exists already", err)
		}
		s.writeError(w, r, err)
		return
	}
	s.log.Info("tenant created", "tenant", req.Name)
	writeJSON(w, http.StatusCreated, api.Tenant{Name: t.Name, Token: token, Created: t.Created})
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := s.store.Tenants(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]api.Tenant, 0, len(ts))
	for _, t := range ts {
		out = append(out, api.Tenant{Name: t.Name, Created: t.Created})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.store.Tenant(r.Context(), chi.URLParam(r, "tenant"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Tenant{Name: t.Name, Created: t.Created})
}

func decodeJSON(r *http.Request, v any) error {
	if err := decodeStrict(io.LimitReader(r.Body, 1<<20), v); err != nil {
		return badRequest("invalid JSON body: " + err.Error())
	}
	return nil
}

// decodeStrict decodes exactly one JSON value from r into v: unknown
// fields and anything after the value are errors.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// deploy handles a worker upload: the module as the body
// (application/wasm) or as the part "module" of a multipart/form-data body
// whose part "metadata" holds the settings as JSON.
func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	tenant, name := chi.URLParam(r, "tenant"), chi.URLParam(r, "worker")
	if s.writable != nil {
		// Before reading and compiling the upload: a deploy that cannot be
		// stored fails at once.
		if err := s.writable(); err != nil {
			s.metrics.Deploy("error")
			s.writeError(w, r, err)
			return
		}
	}
	module, settings, err := s.readUpload(w, r)
	if err != nil {
		s.metrics.Deploy("invalid")
		s.writeError(w, r, err)
		return
	}
	if err := s.checkSettings(&settings); err != nil {
		s.metrics.Deploy("invalid")
		s.writeError(w, r, err)
		return
	}
	// Routes are checked against the other tenants' under a lock held
	// until the deploy is stored: two tenants cannot claim one host at
	// once through this node.
	if len(settings.Routes) > 0 {
		s.routesMu.Lock()
		defer s.routesMu.Unlock()
	}
	if err := s.checkRoutes(r.Context(), tenant, settings.Routes); err != nil {
		s.metrics.Deploy("invalid")
		s.writeError(w, r, err)
		return
	}
	start := time.Now()
	m, err := s.rt.Compile(r.Context(), module)
	if err != nil {
		s.metrics.Deploy("invalid")
		s.writeError(w, r, err)
		return
	}
	defer m.Release()
	compiled := time.Since(start)
	v, err := s.store.Deploy(r.Context(), tenant, name, module, settings)
	if err != nil {
		s.metrics.Deploy("error")
		s.writeError(w, r, err)
		return
	}
	s.metrics.Deploy("ok")
	s.waitApplied(r.Context(), tenant, name, v.Number)
	s.log.Info("worker deployed", "tenant", tenant, "worker", name, "version", v.Number, "sha256", v.SHA256, "size", v.Size, "compile", compiled)
	writeJSON(w, http.StatusCreated, api.DeployResult{
		Tenant: tenant, Name: name, Version: v.Number, SHA256: v.SHA256, Size: v.Size, Host: s.hostOf(tenant, name),
	})
}

// waitApplied waits, up to 10 s, until this node serves what was just
// written. The write is durable either way; a slow apply is only logged.
func (s *Server) waitApplied(ctx context.Context, tenant, worker string, version int) {
	if s.applied == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.applied(ctx, tenant, worker, version); err != nil {
		s.log.Warn("change stored but not yet served by this node", "tenant", tenant, "worker", worker, "version", version, "err", err)
	}
}

func (s *Server) hostOf(tenant, worker string) string {
	if s.host == nil {
		return ""
	}
	return s.host(tenant, worker)
}

func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) ([]byte, api.WorkerSettings, error) {
	var settings api.WorkerSettings
	body := http.MaxBytesReader(w, r.Body, s.maxModule+1<<20)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/wasm", "application/octet-stream", "":
		module, err := s.readModule(body)
		return module, settings, err
	case "multipart/form-data":
		mr := multipart.NewReader(body, params["boundary"])
		var module []byte
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, settings, s.uploadError(err)
			}
			switch part.FormName() {
			case "module":
				if module, err = s.readModule(part); err != nil {
					return nil, settings, err
				}
			case "metadata":
				if err := decodeStrict(io.LimitReader(part, 1<<20), &settings); err != nil {
					return nil, settings, badRequest("invalid metadata part: " + err.Error())
				}
			default:
				return nil, settings, badRequest(fmt.Sprintf("unexpected part %q: send \"module\" and \"metadata\"", part.FormName()))
			}
		}
		if module == nil {
			return nil, settings, badRequest(`the upload has no "module" part`)
		}
		return module, settings, nil
	}
	return nil, settings, badRequest("send the module as application/wasm, or as multipart/form-data with parts \"module\" and \"metadata\"")
}

func (s *Server) readModule(r io.Reader) ([]byte, error) {
	module, err := io.ReadAll(io.LimitReader(r, s.maxModule+1))
	if err != nil {
		return nil, s.uploadError(err)
	}
	if int64(len(module)) > s.maxModule {
		return nil, api.NewError(api.CodeInvalidModule, fmt.Sprintf("the module is larger than the limit of %d bytes", s.maxModule), nil)
	}
	if len(module) == 0 {
		return nil, api.NewError(api.CodeInvalidModule, "the module is empty", nil)
	}
	return module, nil
}

func (s *Server) uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return api.NewError(api.CodeInvalidModule, fmt.Sprintf("the upload is larger than the limit of %d bytes", s.maxModule), err)
	}
	return badRequest("cannot read the upload: " + err.Error())
}

// checkSettings validates a worker's settings against the operator's caps.
func (s *Server) checkSettings(st *api.WorkerSettings) error {
	for k, v := range st.Vars {
		if !api.ValidEnvName(k) {
			return badRequest(fmt.Sprintf("invalid var name %q: use 1-%d letters, digits and _, not starting with a digit", k, api.MaxEnvNameBytes))
		}
		if strings.IndexByte(v, 0) >= 0 {
			return badRequest(fmt.Sprintf("var %s contains a NUL byte", k))
		}
	}
	seen := make(map[string]bool, len(st.KVNamespaces))
	for _, b := range st.KVNamespaces {
		if !api.ValidKVNamespace(b.Binding) {
			return badRequest(fmt.Sprintf("invalid KV binding %q: use 1-%d letters, digits and _, not starting with a digit", b.Binding, api.MaxKVNamespaceBytes))
		}
		if seen[b.Binding] {
			return badRequest(fmt.Sprintf("KV binding %s appears twice", b.Binding))
		}
		seen[b.Binding] = true
	}
	l := st.Limits
	if l.CPUMillis < 0 || l.WallMillis < 0 || l.MemoryMB < 0 || l.Subrequests < 0 {
		return badRequest("limits must not be negative")
	}
	caps := s.caps.WithDefaults()
	for _, c := range []struct {
		name      string
		got, most int
	}{
		{"cpu_ms", l.CPUMillis, caps.CPUMillis},
		{"wall_ms", l.WallMillis, caps.WallMillis},
		{"memory_mb", l.MemoryMB, caps.MemoryMB},
		{"subrequests", l.Subrequests, caps.Subrequests},
	} {
		if c.got > c.most {
			return badRequest(fmt.Sprintf("limits.%s = %d is more than this host allows (%d)", c.name, c.got, c.most))
		}
	}
	return nil
}

func (s *Server) workerView(w store.Worker) api.Worker {
	v, _ := w.ActiveVersion()
	return api.Worker{
		Tenant: w.Tenant, Name: w.Name, ActiveVersion: w.Active, Versions: len(w.Versions),
		SHA256: v.SHA256, Updated: w.Updated, Host: s.hostOf(w.Tenant, w.Name),
	}
}

func (s *Server) getWorker(w http.ResponseWriter, r *http.Request) {
	wk, err := s.worker(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	view := s.workerView(wk)
	if s.nodes != nil {
		view.Nodes, view.NodesPartial = s.nodes(r.Context(), wk.Tenant, wk.Name)
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) worker(r *http.Request) (store.Worker, error) {
	tenant, name := chi.URLParam(r, "tenant"), chi.URLParam(r, "worker")
	wk, err := s.store.Worker(r.Context(), tenant, name)
	if errors.Is(err, store.ErrNotFound) {
		err = notFound("worker " + name)
	}
	return wk, err
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	ws, err := s.store.Workers(r.Context(), chi.URLParam(r, "tenant"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]api.Worker, 0, len(ws))
	for _, wk := range ws {
		out = append(out, s.workerView(wk))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteWorker(w http.ResponseWriter, r *http.Request) {
	tenant, name := chi.URLParam(r, "tenant"), chi.URLParam(r, "worker")
	if err := s.store.DeleteWorker(r.Context(), tenant, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("worker " + name)
		}
		s.writeError(w, r, err)
		return
	}
	s.waitApplied(r.Context(), tenant, name, 0)
	s.log.Info("worker deleted", "tenant", tenant, "worker", name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	wk, err := s.worker(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]api.Version, 0, len(wk.Versions))
	for _, v := range wk.Versions {
		out = append(out, api.Version{Number: v.Number, SHA256: v.SHA256, Size: v.Size, Created: v.Created, Settings: v.Settings})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	// The body is optional: none, or an empty one even if chunked, means
	// the version before the active one.
	var req api.RollbackRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.writeError(w, r, badRequest("cannot read the body: "+err.Error()))
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(bytes.NewReader(body), &req); err != nil {
			s.writeError(w, r, badRequest("invalid JSON body: "+err.Error()))
			return
		}
	}
	wk, err := s.worker(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	target := req.Version
	if target == 0 {
		for _, v := range wk.Versions {
			if v.Number < wk.Active {
				target = v.Number
			}
		}
		if target == 0 {
			s.writeError(w, r, api.NewError(api.CodeConflict, fmt.Sprintf("version %d is the first: there is no earlier version to return to", wk.Active), nil))
			return
		}
	}
	if err := s.store.Activate(r.Context(), wk.Tenant, wk.Name, target); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound(fmt.Sprintf("version %d of worker %s", target, wk.Name))
		}
		s.writeError(w, r, err)
		return
	}
	s.waitApplied(r.Context(), wk.Tenant, wk.Name, target)
	s.log.Info("worker rolled back", "tenant", wk.Tenant, "worker", wk.Name, "from", wk.Active, "to", target)
	wk.Active = target
	writeJSON(w, http.StatusOK, s.workerView(wk))
}
