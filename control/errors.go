package control

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wedgeworks/wedge/api"
	"github.com/wedgeworks/wedge/store"
)

var (
	errUnauthorized = api.NewError(api.CodeUnauthorized, "missing or invalid token: send Authorization: Bearer TOKEN", nil)
	errForbidden    = api.NewError(api.CodeForbidden, "this token may not do that", nil)
	errUnavailable  = api.NewError(api.CodeUnavailable, "the shared store (NATS) is unreachable: this node keeps serving what it last knew but accepts no changes until the store is back; try again later", store.ErrUnavailable)
)

// writeError is the one place where errors become API responses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = api.NewError(api.CodeNotFound, "not found", err)
	case errors.Is(err, store.ErrExists):
		ae = api.NewError(api.CodeConflict, "already exists", err)
	case errors.Is(err, store.ErrUnavailable):
		s.log.Warn("control plane: the store is unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errUnavailable
	case errors.Is(err, store.ErrInvalid):
		// The store's messages for invalid input are meant for clients.
		ae = api.NewError(api.CodeBadRequest, err.Error(), err)
	case errors.Is(err, context.Canceled):
		return
	default:
		s.log.Error("control plane error", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = api.NewError(api.CodeInternal, "internal error", err)
	}
	var body api.ErrorBody
	body.Error.Code = ae.Code
	body.Error.Message = ae.Message
	writeJSON(w, ae.Code.Status(), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func notFound(what string) error {
	return api.NewError(api.CodeNotFound, what+" not found", store.ErrNotFound)
}

func badRequest(msg string) error { return api.NewError(api.CodeBadRequest, msg, nil) }
