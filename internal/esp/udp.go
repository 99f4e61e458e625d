package esp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// UDP header field offsets (RFC 768).
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDP is a UDP header at the start of a byte slice (RFC 768). Check
// IsValid before using the accessors.
type UDP []byte

// IsValid reports whether b starts with a UDP header whose Length is at
// least the header and at most pktSize.
func (b UDP) IsValid(pktSize int) bool {
	if len(b) < UDPHeaderSize {
		return false
	}
	n := int(b.Length())
	return n >= UDPHeaderSize && n <= pktSize
}

// SourcePort returns the Source Port field.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DestinationPort returns the Destination Port field.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the Length field: header and payload.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the Checksum field.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// Payload returns the datagram's payload, as far as Length says.
func (b UDP) Payload() []byte { return b[UDPHeaderSize:b.Length()] }

// PrependUDP writes a UDP header in the UDPHeaderSize bytes before
// buf[off:off+n] and returns the datagram, buf[off-8:off+n]: the RFC 3948
// encapsulation of the ESP packet (or IKE message, or NAT-keepalive) at
// buf[off:off+n]. The ports are those of src and dst (NATTPort unless NAT
// moved them). Over IPv4 the checksum is zero (RFC 3948 §2.1: SHOULD); over
// IPv6, where a zero UDP checksum is not allowed (RFC 8200 §8.1), it is
// computed with the pseudo-header of src and dst. The caller then prepends
// the IP header with protocol ProtoUDP.
func PrependUDP(buf []byte, off, n int, src, dst netip.AddrPort) ([]byte, error) {
	if off < UDPHeaderSize || n < 0 || n > len(buf)-off {
		return nil, fmt.Errorf("%w: UDP header needs %d bytes of headroom, have %d", ErrNoRoom, UDPHeaderSize, off)
	}
	if UDPHeaderSize+n > 0xffff {
		return nil, fmt.Errorf("%w: UDP datagram of %d bytes", ErrTooBig, UDPHeaderSize+n)
	}
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() != d.Is4() || !s.IsValid() || !d.IsValid() {
		return nil, fmt.Errorf("%w: UDP from %v to %v", ErrAddressFamily, src, dst)
	}
	b := UDP(buf[off-UDPHeaderSize : off+n])
	binary.BigEndian.PutUint16(b[udpSrcPort:], src.Port())
	binary.BigEndian.PutUint16(b[udpDstPort:], dst.Port())
	binary.BigEndian.PutUint16(b[udpLength:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[udpChecksum:], 0)
	if !s.Is4() {
		binary.BigEndian.PutUint16(b[udpChecksum:], udpChecksumOf(b, s, d))
	}
	return b, nil
}

// udpChecksumOf returns the UDP checksum of datagram b (checksum field
// zero) with the pseudo-header of src and dst (RFC 768; RFC 8200 §8.1),
// with 0 sent as 0xffff.
func udpChecksumOf(b []byte, src, dst netip.Addr) uint16 {
	var sum uint64
	sum = checksumAdd(sum, src.AsSlice())
	sum = checksumAdd(sum, dst.AsSlice())
	sum += uint64(ProtoUDP) + uint64(len(b))
	sum = checksumAdd(sum, b)
	c := ^checksumFold(sum)
	if c == 0 {
		c = 0xffff
	}
	return c
}

// UDPPayloadKind is what a UDP datagram on the NAT-T port carries
// (RFC 3948 §2).
type UDPPayloadKind uint8

// UDP payload kinds.
const (
	// UDPInvalid is none of the below: too short for ESP, and neither a
	// keepalive nor marked as IKE. The receiver drops it.
	UDPInvalid UDPPayloadKind = iota
	// UDPESP is an ESP packet, starting at its (nonzero) SPI (§2.1).
	UDPESP
	// UDPIKE is an IKE message behind a Non-ESP Marker (§2.2).
	UDPIKE
	// UDPKeepalive is a NAT-keepalive, the single byte 0xff (§2.3). The
	// receiver SHOULD ignore it.
	UDPKeepalive
)

// String returns "invalid", "ESP", "IKE" or "keepalive".
func (k UDPPayloadKind) String() string {
	switch k {
	case UDPInvalid:
		return "invalid"
	case UDPESP:
		return "ESP"
	case UDPIKE:
		return "IKE"
	case UDPKeepalive:
		return "keepalive"
	}
	return "UDPPayloadKind(" + strconv.Itoa(int(k)) + ")"
}

// ClassifyUDP tells what the payload of a datagram received on the NAT-T
// port is, and returns the part to hand on: the ESP packet (all of
// payload), the IKE message (payload without its Non-ESP Marker), or nil
// for a keepalive or an invalid payload.
func ClassifyUDP(payload []byte) (UDPPayloadKind, []byte) {
	switch {
	case len(payload) == 1 && payload[0] == NATKeepalive:
		return UDPKeepalive, nil
	case len(payload) >= NonESPMarkerSize && binary.BigEndian.Uint32(payload) == 0:
		return UDPIKE, payload[NonESPMarkerSize:]
	case len(payload) >= ESPHeaderSize:
		return UDPESP, payload
	}
	return UDPInvalid, nil
}

// PrependNonESPMarker writes the Non-ESP Marker before the IKE message at
// buf[off:off+n] and returns buf[off-4:off+n], ready for PrependUDP
// (RFC 3948 §2.2).
func PrependNonESPMarker(buf []byte, off, n int) ([]byte, error) {
	if off < NonESPMarkerSize || n < 0 || n > len(buf)-off {
		return nil, fmt.Errorf("%w: Non-ESP Marker needs %d bytes of headroom, have %d", ErrNoRoom, NonESPMarkerSize, off)
	}
	clear(buf[off-NonESPMarkerSize : off])
	return buf[off-NonESPMarkerSize : off+n], nil
}

// BuildNATKeepalive writes a complete NAT-keepalive packet (RFC 3948 §2.3):
// an IPv4 or IPv6 header, a UDP header and the byte 0xff, ending at
// buf[off+1], and returns it. buf needs off >= 48 (IPv6) or 28 (IPv4) bytes
// of headroom and one byte at buf[off]. ttl 0 means DefaultTTL.
func BuildNATKeepalive(buf []byte, off int, src, dst netip.AddrPort, ttl uint8) ([]byte, error) {
	if off < 0 || off >= len(buf) {
		return nil, fmt.Errorf("%w: no byte for the keepalive at offset %d", ErrNoRoom, off)
	}
	buf[off] = NATKeepalive
	udp, err := PrependUDP(buf, off, 1, src, dst)
	if err != nil {
		return nil, err
	}
	uoff := off - UDPHeaderSize
	if src.Addr().Unmap().Is4() {
		return PrependIPv4(buf, uoff, len(udp), &IPv4Fields{TTL: ttl, Protocol: ProtoUDP, Src: src.Addr(), Dst: dst.Addr()})
	}
	return PrependIPv6(buf, uoff, len(udp), &IPv6Fields{HopLimit: ttl, NextHeader: ProtoUDP, Src: src.Addr(), Dst: dst.Addr()})
}
