package netfilter

import (
	"encoding/binary"
	"net/netip"
)

// Hand-made frames for the tests: the same bytes go through the Go model
// and, where BPF is allowed, through the XDP program.

var (
	dstMAC = []byte{0x02, 0, 0, 0, 0, 0x02}
	srcMAC = []byte{0x02, 0, 0, 0, 0, 0x01}
)

// eth builds an Ethernet frame; tags are the TPIDs of VLAN tags, outermost
// first (0x88A8, 0x8100).
func eth(etherType uint16, payload []byte, tags ...uint16) []byte {
	b := append(append([]byte{}, dstMAC...), srcMAC...)
	for i, tpid := range tags {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(100+i)) // VLAN ID
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

type ip4opt struct {
	ihl      int    // header length in words; default 5
	version  int    // default 4
	fragOff  uint16 // in 8-byte units
	moreFrag bool
}

// ip4 builds an IPv4 packet (header checksum left zero: XDP does not
// check it).
func ip4(src, dst string, proto byte, payload []byte, o ip4opt) []byte {
	if o.ihl == 0 {
		o.ihl = 5
	}
	if o.version == 0 {
		o.version = 4
	}
	h := make([]byte, max(o.ihl*4, 20))
	h[0] = byte(o.version<<4) | byte(o.ihl&0xf)
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(payload)))
	frag := o.fragOff & 0x1fff
	if o.moreFrag {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8] = 64
	h[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return append(h, payload...)
}

// ip6 builds an IPv6 packet whose payload starts with header nh.
func ip6(src, dst string, nh byte, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 6 << 4
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = nh
	h[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

// ext6 builds an IPv6 extension header (hop-by-hop, routing, destination
// options) of 8 bytes followed by next.
func ext6(nh byte, next []byte) []byte {
	return append([]byte{nh, 0, 0, 0, 0, 0, 0, 0}, next...)
}

// frag6 builds an IPv6 fragment header; off in 8-byte units.
func frag6(nh byte, off uint16, more bool, next []byte) []byte {
	v := off << 3
	if more {
		v |= 1
	}
	h := []byte{nh, 0, 0, 0, 0, 0, 0, 1}
	binary.BigEndian.PutUint16(h[2:], v)
	return append(h, next...)
}

func tcpSeg(dport uint16, flags byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[12] = 5 << 4
	h[13] = flags
	return h
}

func udpDgram(dport uint16) []byte {
	h := make([]byte, 8, 16)
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], 16)
	return append(h, "payload!"...)
}

// Shorthands for the common cases.

func syn4(src string, dport uint16, tags ...uint16) []byte {
	return eth(etherTypeIPv4, ip4(src, "192.0.2.254", protoTCP, tcpSeg(dport, tcpSYN), ip4opt{}), tags...)
}

func udp4(src string, dport uint16, tags ...uint16) []byte {
	return eth(etherTypeIPv4, ip4(src, "192.0.2.254", protoUDP, udpDgram(dport), ip4opt{}), tags...)
}

func syn6(src string, dport uint16, tags ...uint16) []byte {
	return eth(etherTypeIPv6, ip6(src, "2001:db8::fe", protoTCP, tcpSeg(dport, tcpSYN)), tags...)
}

func udp6(src string, dport uint16, tags ...uint16) []byte {
	return eth(etherTypeIPv6, ip6(src, "2001:db8::fe", protoUDP, udpDgram(dport)), tags...)
}
