//go:build !linux

package edge

import "syscall"

// forceBuffer does nothing where there is no way past the cap.
func forceBuffer(syscall.RawConn, bool, int) {}
