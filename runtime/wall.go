package runtime

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// wallContext is context.WithTimeoutCause(parent, d, errWallTime), made
// only when something needs its timer. Most requests never wait on their
// context's Done: the guest's checks and hostcalls ask Err, which compares
// the deadline with the clock. Making the timer (a timer, a child
// registered with net/http's request context, and removing both at the
// end) cost 3% of a Go hello's CPU time. A wall context makes the real one
// the first time Done is asked for — a fetch, a sleep, wazero's own
// termination — and delegates to it from then on.
//
// context.Cause does not see the deadline of a wall context that never
// made its timer: use cause.
type wallContext struct {
	parent   context.Context
	deadline time.Time
	real     atomic.Pointer[realContext]

	mu      sync.Mutex // making real, stop
	stopped atomic.Bool
}

type realContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newWallContext(parent context.Context, d time.Duration) *wallContext {
	return &wallContext{parent: parent, deadline: time.Now().Add(d)}
}

// Deadline is the earlier of the wall time's and the parent's.
func (w *wallContext) Deadline() (time.Time, bool) {
	if d, ok := w.parent.Deadline(); ok && d.Before(w.deadline) {
		return d, true
	}
	return w.deadline, true
}

func (w *wallContext) Done() <-chan struct{} { return w.get().Done() }

func (w *wallContext) Err() error {
	if r := w.real.Load(); r != nil {
		return r.ctx.Err()
	}
	if err := w.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(w.deadline) {
		return context.DeadlineExceeded
	}
	if w.stopped.Load() {
		return context.Canceled
	}
	return nil
}

func (w *wallContext) Value(key any) any {
	if r := w.real.Load(); r != nil {
		return r.ctx.Value(key)
	}
	return w.parent.Value(key)
}

// get returns the real context, making it if need be: after stop, one that
// is canceled already.
func (w *wallContext) get() context.Context {
	if r := w.real.Load(); r != nil {
		return r.ctx
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.real.Load(); r != nil {
		return r.ctx
	}
	ctx, cancel := context.WithDeadlineCause(w.parent, w.deadline, errWallTime)
	if w.stopped.Load() {
		cancel()
	}
	w.real.Store(&realContext{ctx, cancel})
	return ctx
}

// stop ends the context, as the CancelFunc of the one it stands for.
func (w *wallContext) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped.Store(true)
	if r := w.real.Load(); r != nil {
		r.cancel()
	}
}

// cause is context.Cause(ctx), for a ctx that may be a wall context
// whose deadline passed before it made its timer.
func cause(ctx context.Context) error {
	w, ok := ctx.(*wallContext)
	if !ok {
		return context.Cause(ctx)
	}
	if r := w.real.Load(); r != nil {
		return context.Cause(r.ctx)
	}
	if w.parent.Err() != nil {
		return context.Cause(w.parent)
	}
	if !time.Now().Before(w.deadline) {
		return errWallTime
	}
	if w.stopped.Load() {
		return context.Canceled
	}
	return nil
}
