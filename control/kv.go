package control

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// KV listing: at most maxKVList keys per answer, defaultKVList unless the
// request asks for fewer with ?limit=.
const (
	maxKVList     = 1000
	defaultKVList = maxKVList
)

// kvNamespace checks the {namespace} of a KV path.
func (s *Server) kvNamespace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ns := chi.URLParam(r, "namespace"); !api.ValidKVNamespace(ns) {
			s.writeError(w, r, badRequest(fmt.Sprintf("invalid KV namespace %q: use 1-%d letters, digits and _, not starting with a digit (the binding's name in wedge.toml)", ns, api.MaxKVNamespaceBytes)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// kvKey returns the key of a KV path: the rest of the path after the
// namespace, percent-decoded, so that it may hold '/' (as is or as %2F).
// Errors never quote the key.
func kvKey(r *http.Request) (string, error) {
	key, err := pathParam(r, "*")
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", badRequest("missing key: use /v1/tenants/T/kv/NAMESPACE/KEY (GET /v1/tenants/T/kv/NAMESPACE lists the keys)")
	}
	if err := api.CheckKVKey(key); err != nil {
		return "", badRequest("invalid key: " + err.Error())
	}
	return key, nil
}

func (s *Server) kvPut(w http.ResponseWriter, r *http.Request) {
	tenant, ns := chi.URLParam(r, "tenant"), chi.URLParam(r, "namespace")
	key, err := kvKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	value, err := readValue(r, api.MaxKVValueBytes, "25 MiB")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.KVPut(r.Context(), tenant, ns, key, value); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("tenant " + tenant)
		}
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// kvGet answers the value as is, application/octet-stream.
func (s *Server) kvGet(w http.ResponseWriter, r *http.Request) {
	tenant, ns := chi.URLParam(r, "tenant"), chi.URLParam(r, "namespace")
	key, err := kvKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	value, err := s.store.KVGet(r.Context(), tenant, ns, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("key in KV namespace " + ns)
		}
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(value)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(value)
}

func (s *Server) kvDelete(w http.ResponseWriter, r *http.Request) {
	tenant, ns := chi.URLParam(r, "tenant"), chi.URLParam(r, "namespace")
	key, err := kvKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.KVDelete(r.Context(), tenant, ns, key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("key in KV namespace " + ns)
		}
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// kvList answers the namespace's keys that start with ?prefix=, sorted by
// their bytes, a page of at most ?limit= (1 to 1000, default 1000) at a
// time. When more may follow, the answer's cursor, passed back as ?cursor=,
// gets the next page. The cursor is the last key of the page, base64url
// (unpadded) so that it travels in a query unharmed; clients treat it as
// opaque.
func (s *Server) kvList(w http.ResponseWriter, r *http.Request) {
	tenant, ns := chi.URLParam(r, "tenant"), chi.URLParam(r, "namespace")
	q := r.URL.Query()
	limit := defaultKVList
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxKVList {
			s.writeError(w, r, badRequest(fmt.Sprintf("limit must be a number from 1 to %d", maxKVList)))
			return
		}
		limit = n
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(b) == 0 {
			s.writeError(w, r, badRequest("invalid cursor: pass back the cursor of the previous answer as it is"))
			return
		}
		after = string(b)
	}
	keys, err := s.store.KVList(r.Context(), tenant, ns, q.Get("prefix"), after, limit+1)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("tenant " + tenant)
		}
		s.writeError(w, r, err)
		return
	}
	out := api.KVKeys{Keys: keys}
	if len(keys) > limit {
		out.Keys = keys[:limit]
		out.Cursor = base64.RawURLEncoding.EncodeToString([]byte(keys[limit-1]))
	}
	writeJSON(w, http.StatusOK, out)
}
