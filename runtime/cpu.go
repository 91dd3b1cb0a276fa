package runtime

import (
	"context"
	"errors"
	goruntime "runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Meter measures the CPU time a request's guest uses, and enforces its CPU
// limit. Time the guest spends waiting — for the request body, a slow
// client, a fetch, its turn on the CPU — is not its CPU time.
//
// The guest runs in segments: from the start of a call, or from the end of
// a pause, to the next check (wedge_runtime.check, which instrumented
// guests call every few microseconds of work), pause or the end of the
// call. A segment keeps its goroutine on one thread (LockOSThread) and
// reads the thread's counters at both ends (sampleThread: page faults for
// the instance's reset, see faultWatch, and thread switches). A segment
// whose thread was not switched out ran all along: its CPU time is its
// time on the monotonic clock. One whose thread was switched out reads
// the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), which the segment
// also read when it began; skipping that read when the thread stayed
// saves a system call per segment.
//
// Host functions that make the guest wait (for the request body, a slow
// client, a fetch) call Pause before and Resume after. A Meter is used by
// one request; its methods are not safe for concurrent use, except Used.
type Meter struct {
	// Limit is the CPU time the request may use; zero means no limit.
	Limit time.Duration
	// Sched, if set, shares the CPU between requests: the meter tells it
	// when its guest waits, runs on, or is asked for its place.
	Sched Sched

	mu        sync.Mutex // Used against a run in progress
	used      time.Duration
	running   bool
	seg0      threadSample // the thread's counters at the segment's start
	sampled   bool         // seg0 was read
	cpu0      int64        // the thread's CPU clock at the segment's start, ns
	wall0     int64        // monotonic clock at the segment's start, ns
	sliceMark time.Duration
	exceeded  bool
	checks    int           // checks since the last full one
	pollMark  time.Duration // used at the last pollNetwork
	watch     *faultWatch   // the instance's, during a run from an image
}

// Sched is how a Meter's guest shares the CPU (the scheduler's places).
type Sched interface {
	// Waiting is asked at every check whether another request waits for
	// this one's place right now; when it does, the check accounts the
	// CPU time and calls Preempt at once instead of at the next full check
	// (every fullCheckEvery checks). It must be cheap.
	Waiting() bool
	// Preempt is called from those checks with the CPU time the guest
	// used since it last gave its place up, and in all; it may give the
	// guest's place on the CPU to another request and take it back (the
	// meter is paused meanwhile), and reports whether it did.
	Preempt(sinceLast, total time.Duration) bool
	// Release and Acquire are called by Pause (after the segment ends) and
	// Resume (before the next starts): the guest's place on the CPU is
	// given up while it waits.
	Release()
	Acquire()
}

// fullCheckEvery is how often a check reads the CPU clock, tests the
// limit and yields (Preempt or Gosched): every so many checks, about every
// 10–100 µs of guest work. The checks in between only ask Waiting.
const fullCheckEvery = 8

// Used returns the CPU time measured so far.
func (m *Meter) Used() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// threadSample is what sampleThread reads of a thread: page faults and
// thread switches (-1: unknown).
type threadSample struct{ faults, switches int64 }

// start begins a segment on the calling thread, and keeps the goroutine
// on it until stop.
func (m *Meter) start() {
	goruntime.LockOSThread()
	s, ok := sampleThread()
	m.mu.Lock()
	m.seg0, m.sampled = s, ok
	m.cpu0, m.wall0 = threadCPU(), nanotime()
	m.running = true
	m.mu.Unlock()
}

// stop ends the running segment and adds its CPU time.
func (m *Meter) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		return
	}
	m.running = false
	s, ok := sampleThread()
	cpu := nanotime() - m.wall0
	ok = ok && m.sampled
	if !ok || s.switches < 0 || s.switches != m.seg0.switches {
		// The thread was switched out (or we cannot tell): the
		// monotonic clock ran on without the guest.
		cpu = max(threadCPU()-m.cpu0, 0)
	}
	goruntime.UnlockOSThread()
	m.used += time.Duration(cpu)
	if ok {
		m.watch.stretch(m.seg0.faults, s.faults)
	} else {
		m.watch.lose()
	}
}

// Pause ends the running segment: the guest waits in a host function.
// The host function must not write to the guest's memory until Resume;
// one that does uses PauseWriting.
func (m *Meter) Pause() {
	if m == nil {
		return
	}
	m.stop()
	if m.Sched != nil {
		m.Sched.Release()
	}
}

// PauseWriting is Pause for a host function that writes to the guest's
// memory while it waits (reading a body into it): the instance's reset
// will then ask the kernel which pages changed (see faultWatch).
func (m *Meter) PauseWriting() {
	if m == nil {
		return
	}
	m.watch.lose()
	m.Pause()
}

// Resume starts a new segment after Pause, on the calling thread.
func (m *Meter) Resume() {
	if m == nil {
		return
	}
	if m.Sched != nil {
		m.Sched.Acquire()
	}
	m.start()
}

// errCPULimit is how check stops a guest over its CPU limit.
var errCPULimit = errors.New("stopped: CPU time limit exceeded")

type meterKey struct{}

// withMeter makes m the meter that check finds in ctx.
func withMeter(ctx context.Context, m *Meter) context.Context {
	if m == nil {
		return ctx
	}
	return context.WithValue(ctx, meterKey{}, m)
}

func meterFrom(ctx context.Context) *Meter {
	m, _ := ctx.Value(meterKey{}).(*Meter)
	return m
}

// checkCPU is check's part for the meter: account the segment that ends
// here, stop the guest if it is over its limit, give the CPU up for a
// moment (Preempt, or a Gosched) and start a new segment.
func (m *Meter) check(yield func()) {
	m.checks++
	full := m.checks >= fullCheckEvery
	if !full && (m.Sched == nil || !m.Sched.Waiting()) {
		return
	}
	if full {
		m.checks = 0
	}
	m.stop()
	if m.Limit > 0 && m.used >= m.Limit {
		m.exceeded = true
		panic(errCPULimit)
	}
	polled := false
	if full && m.used-m.pollMark >= pollEvery {
		m.pollMark = m.used
		polled = pollNetwork()
	}
	if m.Sched != nil && m.Sched.Preempt(m.used-m.sliceMark, m.used) {
		m.sliceMark = m.used
	} else if full && !polled {
		// A check made early because someone waits, and kept the
		// place, does not yield: the full check will.
		yield()
	}
	m.start()
}

// threadCPU reads the calling thread's CPU clock, in nanoseconds.
func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return nanotime()
	}
	return ts.Nano()
}

var epoch = time.Now()

// nanotime reads the monotonic clock, in nanoseconds.
func nanotime() int64 { return int64(time.Since(epoch)) }
