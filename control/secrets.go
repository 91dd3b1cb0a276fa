package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

// A secret's value travels in a request body and into the store, and from
// there only into the worker's environment. It is never in an answer, a log
// line, an error message or a metric: handlers here name secrets, never
// quote them.

// putSecret handles PUT …/workers/{worker}/secrets/{key}: the body is the
// value, as is (no trailing newline is removed here; the CLI does that).
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) {
	tenant, worker := chi.URLParam(r, "tenant"), chi.URLParam(r, "worker")
	key, err := secretName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	value, err := readValue(r, api.MaxSecretBytes, "64 KiB")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := api.CheckSecretValue(value); err != nil {
		s.writeError(w, r, badRequest("secret "+key+": "+err.Error()))
		return
	}
	if err := s.store.PutSecret(r.Context(), tenant, worker, key, value); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = api.NewError(api.CodeNotFound, "worker "+worker+" not found: deploy it before setting its secrets", err)
		}
		s.writeError(w, r, err)
		return
	}
	s.log.Info("secret set", "tenant", tenant, "worker", worker, "secret", key)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	tenant, worker := chi.URLParam(r, "tenant"), chi.URLParam(r, "worker")
	key, err := secretName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.DeleteSecret(r.Context(), tenant, worker, key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// Say which of the two is missing.
			if _, werr := s.store.Worker(r.Context(), tenant, worker); errors.Is(werr, store.ErrNotFound) {
				err = notFound("worker " + worker)
			} else {
				err = notFound("secret " + key + " of worker " + worker)
			}
		}
		s.writeError(w, r, err)
		return
	}
	s.log.Info("secret deleted", "tenant", tenant, "worker", worker, "secret", key)
	w.WriteHeader(http.StatusNoContent)
}

// listSecrets answers the names of a worker's secrets, sorted; never their
// values.
func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	tenant, worker := chi.URLParam(r, "tenant"), chi.URLParam(r, "worker")
	names, err := s.store.SecretNames(r.Context(), tenant, worker)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("worker " + worker)
		}
		s.writeError(w, r, err)
		return
	}
	out := make([]api.Secret, 0, len(names))
	for _, n := range names {
		out = append(out, api.Secret{Name: n})
	}
	writeJSON(w, http.StatusOK, out)
}

// secretName returns the {key} of a secrets path, checked.
func secretName(r *http.Request) (string, error) {
	key, err := pathParam(r, "key")
	if err != nil {
		return "", err
	}
	if !api.ValidEnvName(key) {
		return "", badRequest(fmt.Sprintf("invalid secret name %q: use 1-%d letters, digits and _, not starting with a digit, as for an environment variable", key, api.MaxEnvNameBytes))
	}
	return key, nil
}

// pathParam returns a URL parameter percent-decoded. chi matches routes
// against the escaped path when the request's path has escapes that differ
// from the default encoding (r.URL.RawPath is set, e.g. for "%2F"), and
// then its parameters are escaped too; otherwise they are decoded already.
func pathParam(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", badRequest("the path is not percent-encoded correctly")
	}
	return u, nil
}

// readValue reads a request body of at most max bytes (limit, e.g.
// "64 KiB", names max for people), answering 413 body-too-large for a
// larger one without reading more than max+1 bytes of it.
func readValue(r *http.Request, max int64, limit string) ([]byte, error) {
	tooLarge := func(cause error) error {
		return api.NewError(api.CodeBodyTooLarge, fmt.Sprintf("the value is larger than the limit of %d bytes (%s)", max, limit), cause)
	}
	if r.ContentLength > max {
		return nil, tooLarge(nil)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
	switch {
	case err != nil:
		return nil, badRequest("cannot read the body: " + err.Error())
	case int64(buf.Len()) > max:
		return nil, tooLarge(nil)
	}
	return buf.Bytes(), nil
}
