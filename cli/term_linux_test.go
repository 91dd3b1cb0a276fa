package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal and returns its controlling side, which
// plays the user's keyboard and screen, and its terminal side, which the
// command gets as stdin.
func openPTY(t *testing.T) (user, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (%v): the terminal path is untested", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	// Through SyscallConn, not Fd, which would make reads of ptmx blocking
	// and its read deadlines void.
	rc, err := ptmx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var unlock int32
	var n uint32
	var errno syscall.Errno
	rc.Control(func(fd uintptr) {
		if _, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno == 0 {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
		}
	})
	if errno != 0 {
		t.Fatalf("unlock the pseudo-terminal: %v", errno)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return ptmx, tty
}

// echoes reports whether the terminal echoes what is typed.
func echoes(t *testing.T, tty *os.File) bool {
	t.Helper()
	tm, err := getTermios(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return tm.Lflag&syscall.ECHO != 0
}

// awaitNoEcho waits until the command has turned echo off.
func awaitNoEcho(t *testing.T, tty *os.File) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for echoes(t, tty) {
		if time.Now().After(deadline) {
			t.Fatal("the command never turned echo off")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSecretPutFromTerminal(t *testing.T) {
	live := newLiveAPI(t)
	user, tty := openPTY(t)
	if !echoes(t, tty) {
		t.Fatal("a new pseudo-terminal does not echo")
	}
	env := live.env
	env.Stdin = tty
	var stdout, stderr bytes.Buffer
	env.Stdout, env.Stderr = &stdout, &stderr

	done := make(chan int, 1)
	go func() { done <- Run(context.Background(), []string{"secret", "put", "hello", "TOKEN"}, env) }()
	awaitNoEcho(t, tty)
	if _, err := user.WriteString("typed-s3cret\n"); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("secret put did not return after the value was typed")
	}
	if code != ExitOK || stdout.String() != "secret TOKEN of hello is set\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if want := "Value of secret TOKEN of hello (input hidden): \n"; stderr.String() != want {
		t.Errorf("stderr %q, want the prompt %q", stderr.String(), want)
	}
	got, err := live.store.Secrets(context.Background(), "acme", "hello")
	if err != nil || got["TOKEN"] != "typed-s3cret" {
		t.Errorf("stored %q, %v; want typed-s3cret", got["TOKEN"], err)
	}
	if !echoes(t, tty) {
		t.Error("echo is still off after the command")
	}
	// Nothing typed came back to the screen.
	if err := user.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatalf("the pseudo-terminal has no read deadlines: %v", err)
	}
	screen := make([]byte, 4096)
	n, _ := user.Read(screen)
	if bytes.Contains(screen[:n], []byte("s3cret")) {
		t.Errorf("the terminal echoed the value: %q", screen[:n])
	}
}

func TestSecretPutFromTerminalEmpty(t *testing.T) {
	live := newLiveAPI(t)
	user, tty := openPTY(t)
	env := live.env
	env.Stdin = tty
	var stdout, stderr bytes.Buffer
	env.Stdout, env.Stderr = &stdout, &stderr
	done := make(chan int, 1)
	go func() { done <- Run(context.Background(), []string{"secret", "put", "hello", "TOKEN"}, env) }()
	awaitNoEcho(t, tty)
	user.WriteString("\n")
	if code := <-done; code != ExitFailed || !strings.Contains(stderr.String(), "no value typed: nothing was set") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if got, _ := live.store.SecretNames(context.Background(), "acme", "hello"); len(got) != 0 {
		t.Errorf("an empty line set %q", got)
	}
}

// TestSecretPutInterrupted cancels the command (Ctrl-C) while it waits for
// the value: it fails, sets nothing and gives the terminal its echo back.
func TestSecretPutInterrupted(t *testing.T) {
	live := newLiveAPI(t)
	_, tty := openPTY(t)
	env := live.env
	env.Stdin = tty
	var stderr bytes.Buffer
	env.Stderr = &stderr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"secret", "put", "hello", "TOKEN"}, env) }()
	awaitNoEcho(t, tty)
	cancel()
	select {
	case code := <-done:
		if code != ExitFailed || !strings.Contains(stderr.String(), "interrupted: nothing was set") {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not return when its context was canceled")
	}
	if !echoes(t, tty) {
		t.Error("echo is still off after an interrupted command")
	}
	if got, _ := live.store.SecretNames(context.Background(), "acme", "hello"); len(got) != 0 {
		t.Errorf("an interrupted put set %q", got)
	}
}

func TestKVPutFromTerminalNeedsValue(t *testing.T) {
	_, tty := openPTY(t)
	env := Env{API: "http://127.0.0.1:1", Tenant: "acme", Stdin: tty}
	code, out, errOut := run(t, env, []string{"kv", "put", "NS", "k"})
	if code != ExitUsage || out != "" || !strings.Contains(errOut, "no value: give it after the key, with --file PATH, or on stdin") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestTerminalDetection(t *testing.T) {
	_, tty := openPTY(t)
	if _, ok := terminal(tty); !ok {
		t.Error("a pseudo-terminal is not taken for a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, in := range map[string]io.Reader{"file": f, "pipe": r, "reader": strings.NewReader("x")} {
		if _, ok := terminal(in); ok {
			t.Errorf("a %s is taken for a terminal", name)
		}
	}
}

// TestLoginFromTerminal: at a terminal, login prompts for the token and
// reads it without echo.
func TestLoginFromTerminal(t *testing.T) {
	live := newLiveAPI(t)
	user, tty := openPTY(t)
	env := Env{API: live.env.API, ConfigFile: filepath.Join(t.TempDir(), "wedge", "config.json"), Stdin: tty}
	var stdout, stderr bytes.Buffer
	env.Stdout, env.Stderr = &stdout, &stderr
	done := make(chan int, 1)
	go func() { done <- Run(context.Background(), []string{"login"}, env) }()
	awaitNoEcho(t, tty)
	if _, err := user.WriteString(live.env.Token + "\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != ExitOK || !strings.Contains(stdout.String(), "as tenant acme") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("login did not return after the token was typed")
	}
	if want := "Token for " + live.env.API + " (input hidden): \n"; stderr.String() != want {
		t.Errorf("stderr %q, want the prompt %q", stderr.String(), want)
	}
	if !echoes(t, tty) {
		t.Error("echo is still off after login")
	}
	user.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	screen := make([]byte, 4096)
	n, _ := user.Read(screen)
	if bytes.Contains(screen[:n], []byte(live.env.Token)) {
		t.Errorf("the terminal echoed the token: %q", screen[:n])
	}
}
