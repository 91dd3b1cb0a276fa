package runtime_test

import (
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wedgeworks/wedge/runtime"
)

// TestMeterSwitchedOut: work that spins for 60 ms of wall time on a CPU
// shared with a process that never sleeps gets about half of it, and the
// meter counts that half: not the time its thread was switched out (a
// segment measures the wall clock only when its thread was not switched
// out). A busy machine gives it less still, never more.
func TestMeterSwitchedOut(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1)) // no other thread of ours on the CPU
	burner := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := burner.Start(); err != nil {
		t.Skipf("no shell to burn the CPU with: %v", err)
	}
	defer func() { burner.Process.Kill(); burner.Wait() }()
	var cpu0 unix.CPUSet
	cpu0.Set(0)
	if err := unix.SchedSetaffinity(burner.Process.Pid, &cpu0); err != nil {
		t.Skipf("sched_setaffinity: %v", err)
	}
	restore := pinProcess(t, 0)
	defer restore()
	m := &runtime.Meter{}
	m.Resume()
	for end := time.Now().Add(60 * time.Millisecond); time.Now().Before(end); {
	}
	m.Pause()
	t.Logf("used %v of 60 ms on a shared CPU", m.Used())
	if used := m.Used(); used > 45*time.Millisecond || used <= 0 {
		t.Errorf("used %v for 60 ms of wall time on a CPU shared with a busy process: the meter counted time switched out", used)
	}
}

// pinProcess sets the affinity of every thread of the process to cpu,
// and returns what restores it.
func pinProcess(t *testing.T, cpu int) (restore func()) {
	t.Helper()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Skipf("sched_getaffinity: %v", err)
	}
	one.Set(cpu)
	set := func(s *unix.CPUSet) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			unix.SchedSetaffinity(tid, s) // a thread that exited meanwhile: nothing to pin
		}
	}
	set(&one)
	return func() { set(&old) }
}
