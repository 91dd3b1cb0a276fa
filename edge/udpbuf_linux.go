package edge

import "syscall"

// forceBuffer sets a socket buffer past the sysctl cap, which root (or
// CAP_NET_ADMIN) may do.
func forceBuffer(raw syscall.RawConn, receive bool, size int) {
	opt := syscall.SO_SNDBUFFORCE
	if receive {
		opt = syscall.SO_RCVBUFFORCE
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, size)
	})
}
