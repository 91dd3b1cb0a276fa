package edge

import (
	"net"
	"syscall"
)

// udpBufferSize is the socket buffer size quic-go asks for (its
// desiredBufferSize on Linux): big enough for bursts at high rates.
const udpBufferSize = 7 << 20

// setUDPBuffers asks for receive and send buffers of size bytes on c, as
// quic-go does (which then finds them large enough and stays quiet), and
// returns what the kernel granted. Linux caps the request at
// net.core.rmem_max and wmem_max, unless the process may bypass the cap
// (CAP_NET_ADMIN: SO_RCVBUFFORCE, SO_SNDBUFFORCE).
func setUDPBuffers(c *net.UDPConn, size int) (rcv, snd int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0
	}
	if rcv = sockopt(raw, syscall.SO_RCVBUF); rcv < size {
		c.SetReadBuffer(size)
		if rcv = sockopt(raw, syscall.SO_RCVBUF); rcv < size {
			forceBuffer(raw, true, size)
			rcv = sockopt(raw, syscall.SO_RCVBUF)
		}
	}
	if snd = sockopt(raw, syscall.SO_SNDBUF); snd < size {
		c.SetWriteBuffer(size)
		if snd = sockopt(raw, syscall.SO_SNDBUF); snd < size {
			forceBuffer(raw, false, size)
			snd = sockopt(raw, syscall.SO_SNDBUF)
		}
	}
	return rcv, snd
}

func sockopt(raw syscall.RawConn, opt int) int {
	var v int
	raw.Control(func(fd uintptr) {
		v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt)
	})
	return v
}
