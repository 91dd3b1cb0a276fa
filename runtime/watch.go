package runtime

// faultWatch tells whether a run can have made new private pages in its
// instance's copy-on-write memory, so that Reset can skip asking the
// kernel which pages are private (see cowMemory.reset).
//
// A page of the image becomes a private copy only when something writes
// to it, and a write to a page that is not yet private always faults:
// the image is mapped read-only until copied, or not mapped at all. The
// kernel counts every fault, including those taken inside a system call
// writing to user memory, in the faulting thread's counters. So the watch
// keeps the guest's goroutine on one thread (LockOSThread) while it runs
// and reads that thread's fault count (getrusage RUSAGE_THREAD) at both
// ends: no fault in between, no new private page. A fault elsewhere
// (the Go heap growing in a host function) only costs a full scan.
//
// The meter's segments are the stretches: each keeps the goroutine on
// one thread and reads its counters at both ends (Meter.start, stop).
// A pause must not write to the guest's memory (the hostcalls that would,
// reading a body into it, pause with Meter.PauseWriting, which gives the
// watch up for the run).
type faultWatch struct {
	watched bool  // a stretch was watched
	lost    bool  // something may have written unwatched
	faults  int64 // in the stretches watched
}

// stretch counts the faults of one stretch: the thread's fault counts at
// its start and end (-1: unknown).
func (w *faultWatch) stretch(from, to int64) {
	if w == nil || w.lost {
		return
	}
	if from < 0 || to < 0 {
		w.lost = true
		return
	}
	w.watched = true
	w.faults += to - from
}

// lose gives the watch up for the rest of the run.
func (w *faultWatch) lose() {
	if w != nil {
		w.lost = true
	}
}

// clean reports whether the whole run was watched and took no fault.
func (w *faultWatch) clean() bool {
	return w.watched && !w.lost && w.faults == 0
}
