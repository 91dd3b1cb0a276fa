package runtime

import goruntime "runtime"

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
// Where the goroutine may change threads — a check that yields, a pause
// in a hostcall waiting on the network or the client — the watch stops
// and starts again after. A pause must not write to the guest's memory
// (the hostcalls that would, reading a body into it, pause with
// Meter.PauseWriting, which gives the watch up for the run).
type faultWatch struct {
	watched bool  // a stretch was watched
	locked  bool  // watching now: the goroutine is locked to its thread
	lost    bool  // something may have written unwatched
	start   int64 // the thread's fault count when the stretch began
	faults  int64
}

// begin starts watching on the calling goroutine's thread.
func (w *faultWatch) begin() {
	if w == nil || w.lost || w.locked {
		return
	}
	goruntime.LockOSThread()
	w.locked, w.watched = true, true
	if w.start = threadFaults(); w.start < 0 {
		w.lose()
	}
}

// end stops watching, counting the stretch's faults.
func (w *faultWatch) end() {
	if w == nil || !w.locked {
		return
	}
	n := threadFaults()
	w.locked = false
	goruntime.UnlockOSThread()
	if n < 0 {
		w.lost = true
		return
	}
	w.faults += n - w.start
}

// lose gives the watch up for the rest of the run.
func (w *faultWatch) lose() {
	if w == nil {
		return
	}
	w.end()
	w.lost = true
}

// clean reports whether the whole run was watched and took no fault.
func (w *faultWatch) clean() bool {
	return w.watched && !w.lost && !w.locked && w.faults == 0
}
