package netfilter

import (
	"encoding/binary"
	"net/netip"
)

// The frame layout the XDP program reads, mirrored here by parse. Every
// constant and every bounds check matches bpf/xdp.c; the tests send the same
// frames through both and compare.
const (
	ethHeaderLen = 14
	vlanLen      = 4
	maxVLAN      = 2
	maxExtHdr    = 4

	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86DD
	etherType8021Q  = 0x8100
	etherType8021AD = 0x88A8

	protoHopOpts  = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoDstOpts  = 60

	tcpSYN = 0x02
	tcpACK = 0x10
)

// frameKind says what parse found.
type frameKind uint8

const (
	frameIP frameKind = iota
	frameNonIP
	frameMalformed
)

// packet is what the filter reads of a frame.
type packet struct {
	kind frameKind
	src  netip.Addr
	// port is 1 + the index in the port table of the destination port when
	// a port ceiling applies to the packet (UDP; TCP SYN without ACK; not a
	// later fragment), 0 when none does.
	port uint32
}

// portIndex is 1 + the index of (proto, port) in the port table: TCP ports
// first, then UDP ports.
func portIndex(proto Proto, port uint16) uint32 {
	if proto == UDP {
		return 65536 + uint32(port) + 1
	}
	return uint32(port) + 1
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// parse reads an Ethernet frame as the XDP program does. It never panics,
// whatever the bytes.
func parse(b []byte) packet {
	malformed := packet{kind: frameMalformed}
	if len(b) < ethHeaderLen {
		return malformed
	}
	proto := be16(b[12:])
	p := ethHeaderLen
	for range maxVLAN {
		if proto != etherType8021Q && proto != etherType8021AD {
			break
		}
		if p+vlanLen > len(b) {
			return malformed
		}
		proto = be16(b[p+2:])
		p += vlanLen
	}
	if proto == etherType8021Q || proto == etherType8021AD {
		return malformed
	}

	switch proto {
	case etherTypeIPv4:
		if p+20 > len(b) {
			return malformed
		}
		vihl := b[p]
		if vihl>>4 != 4 || vihl&0xf < 5 {
			return malformed
		}
		hlen := int(vihl&0xf) * 4
		if p+hlen > len(b) {
			return malformed
		}
		pk := packet{kind: frameIP, src: netip.AddrFrom4([4]byte(b[p+12 : p+16]))}
		// Later fragments carry no transport header.
		if be16(b[p+6:])&0x1fff == 0 {
			pk.port = l4PortIndex(b[p+9], b, p+hlen)
		}
		return pk

	case etherTypeIPv6:
		if p+40 > len(b) {
			return malformed
		}
		if b[p]>>4 != 6 {
			return malformed
		}
		nh := b[p+6]
		pk := packet{kind: frameIP, src: netip.AddrFrom16([16]byte(b[p+8 : p+24]))}
		l4 := p + 40
	ext:
		for range maxExtHdr {
			switch nh {
			case protoHopOpts, protoRouting, protoDstOpts:
				if l4+2 > len(b) {
					break ext
				}
				nh = b[l4]
				l4 += (int(b[l4+1]) + 1) * 8
			case protoAH:
				if l4+2 > len(b) {
					break ext
				}
				nh = b[l4]
				l4 += (int(b[l4+1]) + 2) * 4
			case protoFragment:
				if l4+8 > len(b) {
					break ext
				}
				nh = b[l4]
				if be16(b[l4+2:])&0xfff8 != 0 {
					return pk // a later fragment
				}
				l4 += 8
			default:
				break ext
			}
		}
		pk.port = l4PortIndex(nh, b, l4)
		return pk

	default:
		return packet{kind: frameNonIP}
	}
}

// l4PortIndex is port_index in xdp.c: the port index when a ceiling
// applies to the transport header at b[off:], 0 otherwise.
func l4PortIndex(nh byte, b []byte, off int) uint32 {
	switch {
	case nh == protoTCP && off+14 <= len(b) && b[off+13]&(tcpSYN|tcpACK) == tcpSYN:
		return portIndex(TCP, be16(b[off+2:]))
	case nh == protoUDP && off+8 <= len(b):
		return portIndex(UDP, be16(b[off+2:]))
	}
	return 0
}
