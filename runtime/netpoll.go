package runtime

import (
	"os"
	goruntime "runtime"
	"sync"
	"time"
)

// pollEvery is how much CPU time a guest uses between the network polls
// it makes when the process has one P (see pollNetwork).
const pollEvery = 250 * time.Microsecond

// pollNetwork gives the P up so that Go polls the network before the
// caller runs again, when the process has a single P; with more, one of
// them polls when it runs out of work (scheduler.Config.MaxRunning leaves
// one free), and pollNetwork does nothing and reports false.
//
// Go polls the network when a P runs out of goroutines to run; otherwise
// only sysmon does, every 10 ms. On one P (a one-CPU container, taskset)
// a guest that runs on and yields with Gosched never lets the P run out:
// the Gosched requeues it, and the scheduler takes it again before it
// looks at the network. Requests that arrived meanwhile, for other
// tenants too, waited for sysmon: 10 ms p50 for a hello behind eight
// endless loops. So every pollEvery of guest CPU time the check parks the
// guest instead and wakes it through a pipe that the network poller
// watches: the poll that finds the pipe ready finds the sockets that are,
// and readies their goroutines with it.
func pollNetwork() bool {
	if goruntime.GOMAXPROCS(0) > 1 {
		return false
	}
	netWake.once.Do(netWake.start)
	if !netWake.wait() {
		goruntime.Gosched()
	}
	return true
}

// netWake is the pipe through which pollNetwork wakes its callers.
var netWake wakePipe

type wakePipe struct {
	once sync.Once
	w    *os.File // nil when the pipe could not be made

	mu      sync.Mutex
	waiters []chan struct{}
	dead    bool
}

func (p *wakePipe) start() {
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	p.w = w
	go p.serve(r)
}

// serve reads the pipe, in the network poller, and wakes the waiters.
func (p *wakePipe) serve(r *os.File) {
	var buf [64]byte
	for {
		_, err := r.Read(buf[:])
		p.mu.Lock()
		waiters := p.waiters
		p.waiters = nil
		p.dead = err != nil
		p.mu.Unlock()
		for _, ch := range waiters {
			close(ch)
		}
		if err != nil {
			return
		}
	}
}

// wait makes the pipe ready and parks until serve has read it, then lets
// the goroutines readied with it run first. It reports false when it did
// not wait (no pipe).
func (p *wakePipe) wait() bool {
	if p.w == nil {
		return false
	}
	ch := make(chan struct{})
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return false
	}
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	if _, err := p.w.Write([]byte{0}); err != nil {
		p.mu.Lock()
		p.dead = true
		p.mu.Unlock()
		// serve may have taken ch already; either way it is closed
		// or about to be unless we remove it.
		p.release(ch)
		return false
	}
	<-ch
	// serve readied us ahead of the sockets' goroutines: let them go
	// first.
	goruntime.Gosched()
	return true
}

// release closes ch if serve has not taken it.
func (p *wakePipe) release(ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.waiters {
		if c == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			close(ch)
			return
		}
	}
}
