package control

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wedgeworks/wedge/api"
)

// tailHeartbeat is how often an idle tail stream sends a comment, so that
// proxies and clients can tell a quiet worker from a dead connection.
const tailHeartbeat = 15 * time.Second

// tail streams a worker's request events as Server-Sent Events: one
// "data:" line of JSON (api.TailEvent) per request, an "event: dropped"
// when the client fell behind and lost some, and a comment as heartbeat.
func (s *Server) tail(w http.ResponseWriter, r *http.Request) {
	tenant, worker := chi.URLParam(r, "tenant"), chi.URLParam(r, "worker")
	if s.tailHub == nil {
		s.writeError(w, r, api.NewError(api.CodeNotFound, "this host does not serve live tails", nil))
		return
	}
	if _, err := s.store.Worker(r.Context(), tenant, worker); err != nil {
		s.writeError(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, api.NewError(api.CodeInternal, "streaming is not supported here", nil))
		return
	}
	sub := s.tailHub.Subscribe(tenant, worker)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": tailing %s/%s\n\n", tenant, worker)
	flusher.Flush()

	heartbeat := time.NewTicker(tailHeartbeat)
	defer heartbeat.Stop()
	var reported int64
	for {
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": ping\n\n")
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if d := sub.Dropped(); d > reported {
				fmt.Fprintf(w, "event: dropped\ndata: %d\n\n", d-reported)
				reported = d
			}
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		flusher.Flush()
	}
}
