package netfilter

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRefused checks what happens where the kernel refuses BPF: ModeAuto
// falls back to userspace, a forced XDP mode fails with ErrRefused. Run as
// root (as in CI), it runs itself again as nobody, without capabilities.
func TestRefused(t *testing.T) {
	if os.Getenv("WEDGE_NETFILTER_REFUSED") != "" || !privileged() {
		refusedChild(t, os.Getenv("WEDGE_NETFILTER_REFUSED"))
		return
	}
	nb := asNobody(t)
	out, err := nb.run([]string{"WEDGE_NETFILTER_REFUSED=" + nb.pins}, "-test.run=^TestRefused$", "-test.v")
	t.Logf("unprivileged run:\n%s", out)
	if err != nil {
		t.Fatalf("unprivileged run: %v", err)
	}
}

// TestSkipRequired runs tests that need BPF and root as nobody: they skip,
// each with its reason, and with XDP_TESTS=required they fail instead.
func TestSkipRequired(t *testing.T) {
	if !privileged() {
		skipKernel(t, "running the tests as nobody needs root")
	}
	nb := asNobody(t)
	args := []string{"-test.run=^(TestAttach|TestKernelMatchesModel)$", "-test.v"}
	reasons := []string{
		"making a network namespace and attaching XDP need root",
		"load the XDP program: the kernel refused BPF (",
	}

	out, err := nb.run([]string{xdpTestsEnv + "="}, args...)
	if err != nil {
		t.Fatalf("unprivileged run without %s: %v, want skips:\n%s", xdpTestsEnv, err, out)
	}
	for _, want := range append(reasons, "--- SKIP: TestAttach", "--- SKIP: TestKernelMatchesModel/") {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("unprivileged run without %s: no %q in\n%s", xdpTestsEnv, want, out)
		}
	}

	out, err = nb.run([]string{xdpTestsEnv + "=required"}, args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("unprivileged run with %s=required: %v, want a failure:\n%s", xdpTestsEnv, err, out)
	}
	for _, want := range append(reasons, "--- FAIL: TestAttach", "--- FAIL: TestKernelMatchesModel/", "XDP_TESTS=required: this test may not be skipped") {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("unprivileged run with %s=required: no %q in\n%s", xdpTestsEnv, want, out)
		}
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Errorf("unprivileged run with %s=required skipped a test:\n%s", xdpTestsEnv, out)
	}
}

// nobody runs this test binary as the user nobody, with no capabilities.
type nobody struct {
	setpriv, dir, bin string
	// pins is a bpffs in dir that lets nobody make directories: a refusal
	// seen there comes from BPF, not from the file system.
	pins string
}

// asNobody copies the test binary to a directory nobody may use, with a
// bpffs beside it, all removed after the test.
func asNobody(t *testing.T) *nobody {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		skipKernel(t, "util-linux's setpriv is not installed: cannot run the test unprivileged")
	}
	dir, err := os.MkdirTemp("", "wedge-netfilter-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	nb := &nobody{setpriv: setpriv, dir: dir, bin: filepath.Join(dir, "netfilter.test"), pins: filepath.Join(dir, "pins")}
	if err := copyFile(os.Args[0], nb.bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(nb.pins, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", nb.pins, "bpf", 0, "mode=0777"); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(nb.pins, unix.MNT_DETACH) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return nb
}

// run runs the test binary with args, as nobody, in this process's
// environment with env added (a later NAME= wins over an earlier one).
func (nb *nobody) run(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(nb.setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all", "--bounding-set=-all", nb.bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = nb.dir
	return cmd.CombinedOutput()
}

func refusedChild(t *testing.T, pins string) {
	if privileged() {
		t.Fatal("still privileged")
	}
	if pins == "" {
		pins = t.TempDir()
	}
	f, err := Open(Config{Interface: "lo", PinDir: pins, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open in ModeAuto: %v", err)
	}
	defer f.Close()
	if f.Mode() != ModeUserspace {
		t.Errorf("mode %s, want userspace", f.Mode())
	}
	if err := f.Block(loopback, 0); err != nil {
		t.Fatal(err)
	}
	if f.admitAddr(loopback.Addr(), nil) {
		t.Error("blocked source admitted")
	}
	g, err := Open(Config{Interface: "lo", PinDir: pins, Mode: ModeGeneric})
	if err == nil {
		g.Close()
		t.Fatal("Open in ModeGeneric succeeded")
	}
	if !errors.Is(err, ErrRefused) {
		t.Errorf("Open in ModeGeneric: %v, want ErrRefused", err)
	}
	t.Logf("ModeGeneric: %v", err)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
