//go:build linux || darwin

package cli

import (
	"context"
	"errors"
	"io"
	"syscall"
	"unsafe"
)

// terminal returns the file descriptor of r when r is a terminal.
func terminal(r io.Reader) (int, bool) {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	_, err := getTermios(fd)
	return fd, err == nil
}

func getTermios(fd int) (syscall.Termios, error) {
	var t syscall.Termios
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), ioctlGetTermios, uintptr(unsafe.Pointer(&t))); errno != 0 {
		return t, errno
	}
	return t, nil
}

func setTermios(fd int, t syscall.Termios) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), ioctlSetTermios, uintptr(unsafe.Pointer(&t))); errno != 0 {
		return errno
	}
	return nil
}

// readHidden reads one line from the terminal fd (read through r) with
// echo turned off, as passwords are read, and without its newline. It
// restores the terminal before it returns, also when ctx ends the wait
// (Ctrl-C). A line is at most max bytes; the terminal itself may cap it
// lower (4095 on Linux).
func readHidden(ctx context.Context, fd int, r io.Reader, max int) ([]byte, error) {
	old, err := getTermios(fd)
	if err != nil {
		return nil, err
	}
	hidden := old
	hidden.Lflag &^= syscall.ECHO
	hidden.Lflag |= syscall.ICANON | syscall.ISIG
	hidden.Iflag |= syscall.ICRNL
	if err := setTermios(fd, hidden); err != nil {
		return nil, err
	}
	defer setTermios(fd, old)

	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := readLine(r, max)
		done <- result{line, err}
	}()
	select {
	case res := <-done:
		return res.line, res.err
	case <-ctx.Done():
		// The read goes on in its goroutine until the process exits.
		return nil, ctx.Err()
	}
}

// readLine reads up to a newline, byte by byte so as to read nothing past
// it, and returns the line without the newline (and a carriage return
// before it). It stops after max+1 bytes, leaving it to the caller to find
// the line too long.
func readLine(r io.Reader, max int) ([]byte, error) {
	line := []byte{}
	var b [1]byte
	for len(line) <= max {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
