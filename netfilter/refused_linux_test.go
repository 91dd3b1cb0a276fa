package netfilter

import (
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
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("util-linux's setpriv is not installed: cannot run the test unprivileged")
	}
	// A directory nobody may use, with the test binary and a bpffs that
	// lets nobody make directories: the refusal must come from BPF.
	base, err := os.MkdirTemp("", "wedge-netfilter-refused")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	bin := filepath.Join(base, "netfilter.test")
	pins := filepath.Join(base, "pins")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(pins, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", pins, "bpf", 0, "mode=0777"); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(pins, unix.MNT_DETACH) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		"--bounding-set=-all", bin, "-test.run=^TestRefused$", "-test.v")
	cmd.Env = append(os.Environ(), "WEDGE_NETFILTER_REFUSED="+pins)
	cmd.Dir = base
	out, err := cmd.CombinedOutput()
	t.Logf("unprivileged run:\n%s", out)
	if err != nil {
		t.Fatalf("unprivileged run: %v", err)
	}
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
