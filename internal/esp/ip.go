package esp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IPv4 header field offsets (RFC 791 §3.1).
const (
	ipv4VersIHL    = 0
	ipv4TOS        = 1
	ipv4TotalLen   = 2
	ipv4ID         = 4
	ipv4FlagsFrag  = 6
	ipv4TTL        = 8
	ipv4Protocol   = 9
	ipv4Checksum   = 10
	ipv4SrcAddr    = 12
	ipv4DstAddr    = 16
	ipv4FlagDF     = 0x4000
	ipv4FlagMF     = 0x2000
	ipv4FragOffset = 0x1fff
)

// IPv4 is an IPv4 header at the start of a byte slice (RFC 791). Check
// IsValid before using the accessors.
type IPv4 []byte

// IsValid reports whether b starts with a well-formed IPv4 header of a
// packet at most pktSize bytes long: version 4, a header length of 20 to 60
// bytes that fits in b, and a total length from the header length to
// pktSize.
func (b IPv4) IsValid(pktSize int) bool {
	if len(b) < IPv4MinimumSize || b[ipv4VersIHL]>>4 != 4 {
		return false
	}
	hl, tl := b.HeaderLength(), int(b.TotalLength())
	return hl >= IPv4MinimumSize && hl <= len(b) && tl >= hl && tl <= pktSize
}

// HeaderLength returns the header length in bytes (IHL × 4).
func (b IPv4) HeaderLength() int { return int(b[ipv4VersIHL]&0xf) * 4 }

// TotalLength returns the Total Length field.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLen:]) }

// Protocol returns the Protocol field.
func (b IPv4) Protocol() uint8 { return b[ipv4Protocol] }

// TTL returns the Time to Live field.
func (b IPv4) TTL() uint8 { return b[ipv4TTL] }

// ID returns the Identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4ID:]) }

// IsFragment reports whether the packet is a fragment: More Fragments set
// or a nonzero Fragment Offset.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipv4FlagsFrag:])&(ipv4FlagMF|ipv4FragOffset) != 0
}

// Checksum returns the Header Checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }

// Source returns the Source Address.
func (b IPv4) Source() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4SrcAddr:])) }

// Destination returns the Destination Address.
func (b IPv4) Destination() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4DstAddr:])) }

// SetTotalLength sets the Total Length field.
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[ipv4TotalLen:], n) }

// SetProtocol sets the Protocol field.
func (b IPv4) SetProtocol(p uint8) { b[ipv4Protocol] = p }

// CalculateChecksum returns the header checksum of the header with its
// Checksum field taken as zero (RFC 791 §3.1, RFC 1071).
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	sum := checksumAdd(0, b[:ipv4Checksum])
	sum = checksumAdd(sum, b[ipv4Checksum+2:hl])
	return ^checksumFold(sum)
}

// UpdateChecksum recomputes and stores the Header Checksum.
func (b IPv4) UpdateChecksum() {
	binary.BigEndian.PutUint16(b[ipv4Checksum:], b.CalculateChecksum())
}

// IPv4Fields are the fields PrependIPv4 writes. Zero values mean: TOS 0, ID
// 0, DF clear, TTL DefaultTTL. The header has no options.
type IPv4Fields struct {
	TOS          uint8
	ID           uint16
	DontFragment bool
	TTL          uint8
	Protocol     uint8
	Src, Dst     netip.Addr // IPv4 addresses (IPv4-mapped IPv6 addresses are unmapped)
}

// encode writes a 20-byte header for a packet of totalLen bytes.
func (b IPv4) encode(f *IPv4Fields, totalLen int) {
	b[ipv4VersIHL] = 0x45
	b[ipv4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], uint16(totalLen))
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	var flags uint16
	if f.DontFragment {
		flags = ipv4FlagDF
	}
	binary.BigEndian.PutUint16(b[ipv4FlagsFrag:], flags)
	b[ipv4TTL] = f.TTL
	if f.TTL == 0 {
		b[ipv4TTL] = DefaultTTL
	}
	b[ipv4Protocol] = f.Protocol
	src, dst := f.Src.Unmap().As4(), f.Dst.Unmap().As4()
	copy(b[ipv4SrcAddr:], src[:])
	copy(b[ipv4DstAddr:], dst[:])
	b.UpdateChecksum()
}

// PrependIPv4 writes an IPv4 header in the IPv4MinimumSize bytes before
// buf[off:off+n] and returns the whole packet, buf[off-20:off+n]. It is
// the outer header of tunnel mode (Protocol ProtoESP, ProtoAH or ProtoUDP).
func PrependIPv4(buf []byte, off, n int, f *IPv4Fields) ([]byte, error) {
	if !f.Src.Unmap().Is4() || !f.Dst.Unmap().Is4() {
		return nil, fmt.Errorf("%w: IPv4 header from %v to %v", ErrAddressFamily, f.Src, f.Dst)
	}
	if off < IPv4MinimumSize || n < 0 || n > len(buf)-off {
		return nil, fmt.Errorf("%w: IPv4 header needs %d bytes of headroom, have %d", ErrNoRoom, IPv4MinimumSize, off)
	}
	total := IPv4MinimumSize + n
	if total > IPv4MaximumSize {
		return nil, fmt.Errorf("%w: IPv4 packet of %d bytes", ErrTooBig, total)
	}
	pkt := buf[off-IPv4MinimumSize : off+n]
	IPv4(pkt).encode(f, total)
	return pkt, nil
}

// IPv6 header field offsets (RFC 8200 §3).
const (
	ipv6VersTCFlow = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6SrcAddr    = 8
	ipv6DstAddr    = 24
)

// IPv6 is an IPv6 fixed header at the start of a byte slice (RFC 8200).
// Check IsValid before using the accessors.
type IPv6 []byte

// IsValid reports whether b starts with an IPv6 header of a packet at most
// pktSize bytes long: version 6, and a payload that fits in pktSize.
func (b IPv6) IsValid(pktSize int) bool {
	return len(b) >= IPv6FixedHeaderSize && b[ipv6VersTCFlow]>>4 == 6 &&
		IPv6FixedHeaderSize+int(b.PayloadLength()) <= pktSize
}

// PayloadLength returns the Payload Length field.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLen:]) }

// NextHeader returns the Next Header field.
func (b IPv6) NextHeader() uint8 { return b[ipv6NextHeader] }

// HopLimit returns the Hop Limit field.
func (b IPv6) HopLimit() uint8 { return b[ipv6HopLimit] }

// Source returns the Source Address.
func (b IPv6) Source() netip.Addr { return netip.AddrFrom16([16]byte(b[ipv6SrcAddr:])) }

// Destination returns the Destination Address.
func (b IPv6) Destination() netip.Addr { return netip.AddrFrom16([16]byte(b[ipv6DstAddr:])) }

// SetPayloadLength sets the Payload Length field.
func (b IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLen:], n) }

// IPv6Fields are the fields PrependIPv6 writes. Zero values mean: traffic
// class 0, flow label 0, hop limit DefaultTTL. No extension headers.
type IPv6Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // low 20 bits
	HopLimit     uint8
	NextHeader   uint8
	Src, Dst     netip.Addr // IPv6 addresses, not IPv4-mapped
}

// PrependIPv6 writes an IPv6 header in the IPv6FixedHeaderSize bytes
// before buf[off:off+n] and returns the whole packet, buf[off-40:off+n].
func PrependIPv6(buf []byte, off, n int, f *IPv6Fields) ([]byte, error) {
	if !f.Src.Is6() || f.Src.Is4In6() || !f.Dst.Is6() || f.Dst.Is4In6() {
		return nil, fmt.Errorf("%w: IPv6 header from %v to %v", ErrAddressFamily, f.Src, f.Dst)
	}
	if off < IPv6FixedHeaderSize || n < 0 || n > len(buf)-off {
		return nil, fmt.Errorf("%w: IPv6 header needs %d bytes of headroom, have %d", ErrNoRoom, IPv6FixedHeaderSize, off)
	}
	if n > IPv6MaximumPayloadSize {
		return nil, fmt.Errorf("%w: IPv6 payload of %d bytes", ErrTooBig, n)
	}
	b := IPv6(buf[off-IPv6FixedHeaderSize : off+n])
	binary.BigEndian.PutUint32(b[ipv6VersTCFlow:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[ipv6PayloadLen:], uint16(n))
	b[ipv6NextHeader] = f.NextHeader
	b[ipv6HopLimit] = f.HopLimit
	if f.HopLimit == 0 {
		b[ipv6HopLimit] = DefaultTTL
	}
	src, dst := f.Src.As16(), f.Dst.As16()
	copy(b[ipv6SrcAddr:], src[:])
	copy(b[ipv6DstAddr:], dst[:])
	return b, nil
}

// IPHeaders describes the IP header chain at the start of a packet: the
// IPv4 header with its options, or the IPv6 header with the Hop-by-Hop,
// Routing, Fragment and Destination Options headers that follow it. It is
// what transport mode inserts ESP or AH after, and what tunnel mode strips.
type IPHeaders struct {
	// Version is 4 or 6.
	Version uint8
	// Len is the length of the header chain; the upper-layer payload (or
	// ESP/AH) starts at Len.
	Len int
	// PacketLen is the packet length the IP header gives (IPv4 Total
	// Length, or 40 + IPv6 Payload Length); bytes past it are link
	// padding.
	PacketLen int
	// Protocol is the protocol of what follows the chain: the IPv4
	// Protocol or the last IPv6 Next Header.
	Protocol uint8
	// Fragment is set for an IPv4 fragment or an IPv6 packet with a
	// Fragment header.
	Fragment bool
	// Routing is set for an IPv6 packet with a Routing header.
	Routing bool

	protoOff int // offset of the byte holding Protocol
}

// ParseIPHeaders parses the IP header chain at the start of pkt. It returns
// ErrBadIPHeader, wrapped, if pkt does not start with a complete IPv4 or
// IPv6 header chain whose length fields fit in pkt. It does not verify the
// IPv4 header checksum.
func ParseIPHeaders(pkt []byte) (IPHeaders, error) {
	if len(pkt) == 0 {
		return IPHeaders{}, fmt.Errorf("%w: empty packet", ErrBadIPHeader)
	}
	switch pkt[0] >> 4 {
	case 4:
		b := IPv4(pkt)
		if !b.IsValid(len(pkt)) {
			return IPHeaders{}, fmt.Errorf("%w: bad IPv4 header or length (%d bytes)", ErrBadIPHeader, len(pkt))
		}
		return IPHeaders{
			Version:   4,
			Len:       b.HeaderLength(),
			PacketLen: int(b.TotalLength()),
			Protocol:  b.Protocol(),
			Fragment:  b.IsFragment(),
			protoOff:  ipv4Protocol,
		}, nil
	case 6:
		b := IPv6(pkt)
		if !b.IsValid(len(pkt)) {
			return IPHeaders{}, fmt.Errorf("%w: bad IPv6 header or length (%d bytes)", ErrBadIPHeader, len(pkt))
		}
		h := IPHeaders{
			Version:   6,
			Len:       IPv6FixedHeaderSize,
			PacketLen: IPv6FixedHeaderSize + int(b.PayloadLength()),
			Protocol:  b.NextHeader(),
			protoOff:  ipv6NextHeader,
		}
		for isIPv6ExtensionHeader(h.Protocol) {
			if h.PacketLen-h.Len < 8 {
				return IPHeaders{}, fmt.Errorf("%w: truncated IPv6 extension header %d", ErrBadIPHeader, h.Protocol)
			}
			ext := pkt[h.Len:h.PacketLen]
			n := 8
			switch h.Protocol {
			case ProtoFragment:
				h.Fragment = true
			case ProtoRouting:
				h.Routing = true
				n = (int(ext[1]) + 1) * 8
			default:
				n = (int(ext[1]) + 1) * 8
			}
			if n > len(ext) {
				return IPHeaders{}, fmt.Errorf("%w: IPv6 extension header %d of %d bytes overruns the packet", ErrBadIPHeader, h.Protocol, n)
			}
			h.protoOff = h.Len
			h.Protocol = ext[0]
			h.Len += n
		}
		return h, nil
	}
	return IPHeaders{}, fmt.Errorf("%w: IP version %d", ErrBadIPHeader, pkt[0]>>4)
}

// isIPv6ExtensionHeader reports whether nh is an IPv6 extension header
// that precedes ESP or AH in transport mode (RFC 4302 §3.1.1, RFC 4303
// §3.1.1): Hop-by-Hop, Routing, Fragment and Destination Options.
func isIPv6ExtensionHeader(nh uint8) bool {
	switch nh {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDestOpts:
		return true
	}
	return false
}

// RewriteIPHeaders makes pkt, whose header chain h describes and whose
// length is now len(pkt), announce proto after the chain: it sets the
// Protocol (or last Next Header) byte and the IPv4 Total Length or IPv6
// Payload Length, and recomputes the IPv4 header checksum. It is the
// transport-mode step after inserting or removing ESP or AH between the IP
// headers and the payload; h must come from ParseIPHeaders on the same
// header chain.
func RewriteIPHeaders(pkt []byte, h IPHeaders, proto uint8) error {
	if len(pkt) < h.Len || h.protoOff >= h.Len {
		return fmt.Errorf("%w: %d-byte packet for a %d-byte header chain", ErrBadIPHeader, len(pkt), h.Len)
	}
	switch h.Version {
	case 4:
		if len(pkt) > IPv4MaximumSize {
			return fmt.Errorf("%w: IPv4 packet of %d bytes", ErrTooBig, len(pkt))
		}
		b := IPv4(pkt)
		b.SetProtocol(proto)
		b.SetTotalLength(uint16(len(pkt)))
		b.UpdateChecksum()
	case 6:
		if len(pkt)-IPv6FixedHeaderSize > IPv6MaximumPayloadSize {
			return fmt.Errorf("%w: IPv6 payload of %d bytes", ErrTooBig, len(pkt)-IPv6FixedHeaderSize)
		}
		pkt[h.protoOff] = proto
		IPv6(pkt).SetPayloadLength(uint16(len(pkt) - IPv6FixedHeaderSize))
	default:
		return fmt.Errorf("%w: IP version %d", ErrBadIPHeader, h.Version)
	}
	return nil
}

// checksumAdd adds b to the one's-complement sum (RFC 1071), as 16-bit
// big-endian words, with an odd last byte padded with zero.
func checksumAdd(sum uint64, b []byte) uint64 {
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// checksumFold folds the carries of a one's-complement sum into 16 bits.
func checksumFold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
