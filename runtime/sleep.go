package runtime

import (
	"context"
	"time"
)

// sleeper is the clock an instance's guest sleeps on: WASI poll_oneoff
// with a clock subscription, which is how Go's time.Sleep and timers wait
// when every goroutine of the guest is blocked, and how C's nanosleep
// waits. wazero's sys.Nanosleep has no context, so each instance carries
// a sleeper that the call in progress points at its own context.
//
// A sleep is a wait, not work: the meter is paused (sleeping is not CPU
// time, and the guest's place on the CPU goes to another request), and the
// sleep ends early when the request's context ends — its wall-time limit,
// or the client going away. wazero's own time.Sleep would hold the CPU
// place and outlive any limit. A guest woken early by the end of its
// request is stopped at its next check (or by wazero, for guests that are
// not instrumented). A pooled instance's sleep between requests (none is
// expected) returns at once.
type sleeper struct {
	ctx context.Context // the call in progress; nil between requests
}

// sleep implements sys.Nanosleep.
func (s *sleeper) sleep(ns int64) {
	ctx := s.ctx
	if ns <= 0 || ctx == nil || ctx.Err() != nil {
		return
	}
	m := meterFrom(ctx)
	m.Pause()
	t := time.NewTimer(time.Duration(ns))
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	m.Resume()
}
