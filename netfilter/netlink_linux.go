package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// rtnl is a route netlink socket, just enough of it for XDP: which programs
// are attached to a device (RTM_GETLINK) and attaching, replacing or
// detaching one the legacy way (RTM_SETLINK with IFLA_XDP). The socket
// belongs to the network namespace it was opened in, so a Filter opened
// inside a namespace keeps working there from any thread.
type rtnl struct {
	mu  sync.Mutex
	fd  int
	seq uint32
}

func openRtnl() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	// The kernel's error message ("Underlying driver does not support XDP
	// in native mode"...) is worth having; older kernels ignore this.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	return &rtnl{fd: fd}, nil
}

func (n *rtnl) close() error { return unix.Close(n.fd) }

// xdpState is the XDP programs attached to a device, by mode.
type xdpState struct {
	skb, drv, hw uint32 // program IDs; 0: none
}

// netlinkError is an error the kernel answered, with its extended ack
// message when there is one.
type netlinkError struct {
	errno unix.Errno
	msg   string
}

func (e *netlinkError) Error() string {
	if e.msg != "" {
		return e.errno.Error() + ": " + e.msg
	}
	return e.errno.Error()
}

func (e *netlinkError) Unwrap() error { return e.errno }

func nlAttr(typ uint16, data []byte) []byte {
	b := make([]byte, unix.SizeofNlAttr, nlAlign(unix.SizeofNlAttr+len(data)))
	binary.NativeEndian.PutUint16(b[0:], uint16(unix.SizeofNlAttr+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	return b[:cap(b)]
}

func nlAlign(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

func u32Bytes(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// request sends one message with an ifinfomsg for ifindex and the given
// attributes, and returns the payloads of the answers up to the ack or the
// first RTM_NEWLINK.
func (n *rtnl) request(typ uint16, flags uint16, ifindex int, attrs []byte) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	seq := n.seq
	body := make([]byte, unix.SizeofIfInfomsg)
	body[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(body[4:], uint32(int32(ifindex)))
	body = append(body, attrs...)
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	msg = append(msg, body...)
	if err := unix.Sendto(n.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		nr, _, err := unix.Recvfrom(n.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:nr])
		if err != nil {
			return nil, fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				return nil, parseAck(m)
			case unix.RTM_NEWLINK:
				return m.Data, nil
			}
		}
	}
}

// parseAck returns nil for a positive ack, else a *netlinkError.
func parseAck(m syscall.NetlinkMessage) error {
	if len(m.Data) < 4 {
		return errors.New("netlink: short ack")
	}
	errno := -int32(binary.NativeEndian.Uint32(m.Data))
	if errno == 0 {
		return nil
	}
	e := &netlinkError{errno: unix.Errno(errno)}
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 {
		return e
	}
	// After the error: the request's header, and its payload unless capped.
	off := 4 + unix.SizeofNlMsghdr
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 && len(m.Data) >= off {
		off = 4 + int(binary.NativeEndian.Uint32(m.Data[4:]))
	}
	for a := range nlAttrs(m.Data[min(nlAlign(off), len(m.Data)):]) {
		if a.typ == unix.NLMSGERR_ATTR_MSG {
			e.msg = strings.TrimRight(string(a.data), "\x00")
		}
	}
	return e
}

type attr struct {
	typ  uint16
	data []byte
}

// nlAttrs yields the attributes in b, stopping at the first malformed one.
func nlAttrs(b []byte) func(func(attr) bool) {
	return func(yield func(attr) bool) {
		for len(b) >= unix.SizeofNlAttr {
			l := int(binary.NativeEndian.Uint16(b))
			if l < unix.SizeofNlAttr || l > len(b) {
				return
			}
			typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
			if !yield(attr{typ, b[unix.SizeofNlAttr:l]}) {
				return
			}
			b = b[min(nlAlign(l), len(b)):]
		}
	}
}

// xdpQuery returns the XDP programs attached to the device.
func (n *rtnl) xdpQuery(ifindex int) (xdpState, error) {
	data, err := n.request(unix.RTM_GETLINK, 0, ifindex, nil)
	if err != nil {
		return xdpState{}, fmt.Errorf("query XDP of interface %d: %w", ifindex, err)
	}
	var st xdpState
	if len(data) < unix.SizeofIfInfomsg {
		return st, errors.New("netlink: short RTM_NEWLINK")
	}
	for a := range nlAttrs(data[unix.SizeofIfInfomsg:]) {
		if a.typ != unix.IFLA_XDP {
			continue
		}
		for x := range nlAttrs(a.data) {
			if len(x.data) < 4 {
				continue
			}
			id := binary.NativeEndian.Uint32(x.data)
			switch x.typ {
			case unix.IFLA_XDP_SKB_PROG_ID:
				st.skb = id
			case unix.IFLA_XDP_DRV_PROG_ID:
				st.drv = id
			case unix.IFLA_XDP_HW_PROG_ID:
				st.hw = id
			}
		}
	}
	return st, nil
}

// xdpSet attaches the program fd (-1: detach) with the given XDP_FLAGS_*.
// With XDP_FLAGS_REPLACE, the kernel does it only if expected (-1: none)
// is the program attached now, atomically.
func (n *rtnl) xdpSet(ifindex, fd int, flags uint32, expected int) error {
	nested := nlAttr(unix.IFLA_XDP_FD, u32Bytes(uint32(int32(fd))))
	nested = append(nested, nlAttr(unix.IFLA_XDP_FLAGS, u32Bytes(flags))...)
	if flags&unix.XDP_FLAGS_REPLACE != 0 {
		nested = append(nested, nlAttr(unix.IFLA_XDP_EXPECTED_FD, u32Bytes(uint32(int32(expected))))...)
	}
	_, err := n.request(unix.RTM_SETLINK, unix.NLM_F_ACK, ifindex, nlAttr(unix.IFLA_XDP|unix.NLA_F_NESTED, nested))
	if err != nil {
		return fmt.Errorf("netlink XDP set on interface %d: %w", ifindex, err)
	}
	return nil
}
