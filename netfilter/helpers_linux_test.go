package netfilter

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Capabilities that BPF and XDP need (linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capBPF      = 39
)

// privileged reports whether this process may load XDP programs and attach
// them: CAP_SYS_ADMIN, or CAP_BPF with CAP_NET_ADMIN.
func privileged() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false
			}
			has := func(c uint) bool { return caps&(1<<c) != 0 }
			return has(capSysAdmin) || (has(capBPF) && has(capNetAdmin))
		}
	}
	return false
}

// kernelAtLeast reports whether the running kernel is major.minor or newer.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// requireKernel fails the test on err, unless err is the kernel refusing
// BPF to a process that may not use it: then the test is skipped, with the
// reason. A privileged process on a kernel that has everything this
// package uses (5.15: bpf_link for XDP, atomics, bounded loops) fails
// instead, so that a skip never hides a bug in CI, which runs as root.
func requireKernel(t testing.TB, err error, what string) {
	t.Helper()
	if err == nil {
		return
	}
	if !refused(err) {
		t.Fatalf("%s: %+v", what, err)
	}
	if privileged() && kernelAtLeast(5, 15) {
		t.Fatalf("%s: refused although this process is privileged on Linux >= 5.15: %v", what, err)
	}
	skipKernel(t, "%s: the kernel refused BPF (%v); this test needs root (CAP_BPF, CAP_NET_ADMIN) and Linux >= 5.15", what, err)
}

// xdpTestsEnv names the environment variable that, set to "required",
// turns every skip of skipKernel into a failure. CI sets it (.ci/run), so
// that CI cannot pass without having run the BPF and network namespace
// tests.
const xdpTestsEnv = "XDP_TESTS"

// skipKernel skips the test for a reason that depends on the kernel, the
// privileges or the tools of the machine — never on the code under test —
// or fails it with the same reason when XDP_TESTS=required. Every such skip
// in this package goes through here.
func skipKernel(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv(xdpTestsEnv) == "required" {
		t.Fatalf("%s (%s=required: this test may not be skipped)", reason, xdpTestsEnv)
	}
	t.Skip(reason)
}

// kernelRules loads the XDP program without pins, with rules on its maps.
func kernelRules(t testing.TB) (*xdpObjects, *rules) {
	t.Helper()
	objs, err := loadObjects("")
	requireKernel(t, err, "load the XDP program")
	tab := newKernelTables(objs)
	t.Cleanup(func() {
		_ = tab.close()
		objs.Close()
	})
	r, err := newRules(tab)
	if err != nil {
		t.Fatal(err)
	}
	return objs, r
}

// kernelVerdict runs the XDP program on one frame (BPF_PROG_TEST_RUN) and
// tells its verdict by the counter it incremented.
func kernelVerdict(t testing.TB, objs *xdpObjects, frame []byte) Verdict {
	t.Helper()
	tab := newKernelTables(objs)
	before, err := tab.counters()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := objs.WedgeXdp.Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	if err != nil {
		t.Fatalf("run XDP program on %x: %v", frame, err)
	}
	after, err := tab.counters()
	if err != nil {
		t.Fatal(err)
	}
	v := Verdict(255)
	for i := range after {
		switch d := after[i] - before[i]; {
		case d == 1 && v == 255:
			v = Verdict(i)
		case d != 0:
			t.Fatalf("counters moved by %v", after)
		}
	}
	if v == 255 {
		t.Fatalf("no counter moved (XDP action %d)", ret)
	}
	if want := map[bool]uint32{true: xdpDrop, false: xdpPass}[v.Drop()]; ret != want {
		t.Fatalf("verdict %s with XDP action %d", v, ret)
	}
	return v
}

// bpfFDs returns the file descriptors of this process that are BPF
// objects (maps, programs, links), by number, with what they are.
func bpfFDs() map[string]string {
	out := map[string]string{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return out
	}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if strings.HasPrefix(target, "anon_inode:bpf") {
			out[e.Name()] = target
		}
	}
	return out
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
