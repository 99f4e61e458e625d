package esp

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
)

// AH header field offsets (RFC 4302 §2).
const (
	ahNextHeader = 0
	ahPayloadLen = 1
	ahSPI        = 4
	ahSeq        = 8
	ahICV        = 12
)

// AH is an Authentication Header at the start of a byte slice (RFC 4302
// §2). Check IsValid before using the accessors.
type AH []byte

// IsValid reports whether b holds the fixed AH fields and the whole ICV
// field that Payload Len announces.
func (b AH) IsValid() bool { return len(b) >= AHHeaderSize && len(b) >= b.Length() }

// NextHeader returns the Next Header field: what follows AH.
func (b AH) NextHeader() uint8 { return b[ahNextHeader] }

// Length returns the length of the AH in bytes, from Payload Len.
func (b AH) Length() int { return (int(b[ahPayloadLen]) + ahLenBias) * ahLenUnit }

// SPI returns the SPI field.
func (b AH) SPI() SPI { return SPI(binary.BigEndian.Uint32(b[ahSPI:])) }

// SequenceNumber returns the Sequence Number field (the low 32 bits with
// ESN).
func (b AH) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[ahSeq:]) }

// ICV returns the Integrity Check Value field, with the AES-GMAC IV in
// front and the explicit padding behind where the SA has them.
func (b AH) ICV() []byte { return b[ahICV:b.Length()] }

// AHLen returns the length of the AH this SA inserts into an IP packet of
// the given version (4 or 6): 12 bytes, the AES-GMAC IV (8) if any, the
// ICV, and the padding to 4 bytes (IPv4) or 8 bytes (IPv6) that RFC 4302
// §2.6 requires. HMAC-SHA1-96: 24 and 24; HMAC-SHA-256-128: 28 and 32;
// AES-GMAC: 36 and 40. (RFC 4543 §4 says GMAC needs no padding; that holds
// for the ICV field, not for the 36-byte AH over IPv6.)
func (sa *SA) AHLen(ipVersion int) int {
	align := ahAlign4
	if ipVersion == 6 {
		align = ahAlign6
	}
	n := AHHeaderSize + sa.params.ivLen + sa.params.icvLen
	return (n + align - 1) / align * align
}

// ahLenOK reports whether an inbound AH of l bytes fits the SA over the
// given IP version: the length AHLen gives, or over IPv4 also that length
// padded to 64 bits, which Linux sends unless its SA has the align4 flag.
// RFC 4302 §2.6 has senders pad only as far as the version needs but
// receivers support the padding; it is part of the ICV computation as
// sent (§3.3.3.2.1), and the packet's Payload Len says where it ends.
func (sa *SA) ahLenOK(l, ipVersion int) bool {
	if l == sa.AHLen(ipVersion) {
		return true
	}
	n := AHHeaderSize + sa.params.ivLen + sa.params.icvLen
	return ipVersion == 4 && l == (n+ahAlign6-1)/ahAlign6*ahAlign6
}

// SealAH protects the IP packet buf[off:off+n] with AH, in place: it
// inserts the AH after the IP header chain (after IPv4 options; after IPv6
// Hop-by-Hop and Destination Options headers), moving that chain
// AHLen(version) bytes into the headroom before off, and returns the new
// packet, buf[off-AHLen : off+n]. In tunnel mode the packet is the outer
// header built with PrependIPv4/PrependIPv6 (protocol ProtoIPv4/ProtoIPv6)
// followed by the inner packet; in transport mode it is the original
// packet. The ICV covers the whole packet with the mutable IP fields
// zeroed (RFC 4302 §3.3.3.1).
//
// SealAH refuses fragments (ErrFragment), source-routed packets
// (ErrSourceRoute) and malformed IP headers or options (ErrBadIPHeader),
// leaving buf unchanged. It is safe for concurrent use. It copies the packet
// into a pooled scratch buffer to compute the ICV, so it allocates only
// while that buffer grows to the largest packet seen.
func (sa *SA) SealAH(buf []byte, off, n int) ([]byte, error) {
	if err := sa.check(ProtocolAH, Outbound); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || n > len(buf)-off {
		return nil, fmt.Errorf("%w: %d-byte packet at offset %d of a %d-byte buffer", ErrNoRoom, n, off, len(buf))
	}
	h, err := sa.ahHeaders(buf[off : off+n])
	if err != nil {
		return nil, err
	}
	if h.PacketLen != n {
		return nil, fmt.Errorf("%w: IP header says %d bytes, packet has %d", ErrBadIPHeader, h.PacketLen, n)
	}
	l := sa.AHLen(int(h.Version))
	if off < l {
		return nil, fmt.Errorf("%w: AH needs %d bytes of headroom, have %d", ErrNoRoom, l, off)
	}
	if (h.Version == 4 && n+l > IPv4MaximumSize) || (h.Version == 6 && n+l-IPv6FixedHeaderSize > IPv6MaximumPayloadSize) {
		return nil, fmt.Errorf("%w: %d bytes with AH", ErrTooBig, n+l)
	}
	s, err := sa.getScratch()
	if err != nil {
		return nil, err
	}
	defer sa.putScratch(s)
	seq, err := sa.nextSeq()
	if err != nil {
		return nil, err
	}

	pkt := buf[off-l : off+n]
	copy(pkt, buf[off:off+h.Len])
	ah := AH(pkt[h.Len : h.Len+l])
	ah[ahNextHeader] = h.Protocol
	ah[ahPayloadLen] = byte(l/ahLenUnit - ahLenBias)
	binary.BigEndian.PutUint16(ah[ahPayloadLen+1:], 0) // Reserved
	binary.BigEndian.PutUint32(ah[ahSPI:], uint32(sa.cfg.SPI))
	binary.BigEndian.PutUint32(ah[ahSeq:], uint32(seq))
	clear(ah[ahICV:])
	if sa.params.suite == suiteGMAC {
		binary.BigEndian.PutUint64(ah[ahICV:], seq) // the IV (RFC 4543 §4)
	}
	if err := RewriteIPHeaders(pkt, h, ProtoAH); err != nil {
		return nil, err // unreachable: lengths checked above
	}
	icv, err := sa.ahICV(s, pkt, h, seq)
	if err != nil {
		return nil, err // unreachable: ahHeaders checked the same options
	}
	copy(ah[ahICV+sa.params.ivLen:], icv)
	return pkt, nil
}

// OpenAH verifies the AH of the IP packet pkt and removes it, in place:
// the IP header chain moves AHLen bytes towards the payload, takes the AH's
// Next Header, and has its lengths (and IPv4 checksum) fixed. It returns
// the packet without AH, a sub-slice of pkt, and the Next Header of the AH:
// ProtoIPv4/ProtoIPv6 in tunnel mode (the caller strips the outer header),
// the upper-layer protocol in transport mode. Bytes after the length the
// IP header gives are ignored.
//
// The drop reasons are those of Open (ErrTruncated, ErrSPIMismatch,
// ErrReplay, ErrAuth) and ErrNotAH, ErrBadAHLength, ErrBadIPHeader,
// ErrFragment and ErrSourceRoute. It is safe for concurrent use.
func (sa *SA) OpenAH(pkt []byte) ([]byte, uint8, error) {
	if err := sa.check(ProtocolAH, Inbound); err != nil {
		return nil, 0, err
	}
	h, err := sa.ahHeaders(pkt)
	if err != nil {
		return nil, 0, err
	}
	if h.Protocol != ProtoAH {
		return nil, 0, fmt.Errorf("%w: protocol %d", ErrNotAH, h.Protocol)
	}
	pkt = pkt[:h.PacketLen]
	if len(pkt)-h.Len < AHHeaderSize {
		return nil, 0, fmt.Errorf("%w: %d bytes after the IP headers", ErrTruncated, len(pkt)-h.Len)
	}
	ah := AH(pkt[h.Len:])
	l := ah.Length()
	if !sa.ahLenOK(l, int(h.Version)) {
		return nil, 0, fmt.Errorf("%w: %d bytes, want %d", ErrBadAHLength, l, sa.AHLen(int(h.Version)))
	}
	if !ah.IsValid() {
		return nil, 0, fmt.Errorf("%w: %d bytes after the IP headers", ErrTruncated, len(pkt)-h.Len)
	}
	if ah.SPI() != sa.cfg.SPI {
		return nil, 0, ErrSPIMismatch
	}
	seq, err := sa.replayCheck(ah.SequenceNumber())
	if err != nil {
		return nil, 0, err
	}
	s, err := sa.getScratch()
	if err != nil {
		return nil, 0, err
	}
	icv, err := sa.ahICV(s, pkt, h, seq)
	if err == nil && !hmac.Equal(icv, ah[ahICV+sa.params.ivLen:ahICV+sa.params.ivLen+sa.params.icvLen]) {
		err = ErrAuth
	}
	sa.putScratch(s)
	if err != nil {
		return nil, 0, err
	}
	if err := sa.replayAccept(seq); err != nil {
		return nil, 0, err
	}
	nextHeader := ah.NextHeader()
	out := pkt[l:]
	copy(out, pkt[:h.Len])
	if err := RewriteIPHeaders(out, h, nextHeader); err != nil {
		return nil, 0, err // unreachable: the packet only got shorter
	}
	return out, nextHeader, nil
}

// ahHeaders parses the IP header chain of a packet AH is applied to or
// removed from, refusing what AH cannot handle.
func (sa *SA) ahHeaders(pkt []byte) (IPHeaders, error) {
	h, err := ParseIPHeaders(pkt)
	switch {
	case err != nil:
		return h, err
	case h.Fragment:
		return h, ErrFragment
	case h.Routing:
		return h, fmt.Errorf("%w: IPv6 routing header", ErrSourceRoute)
	}
	return h, walkMutable(pkt, h, false)
}

// ahICV computes the ICV of pkt, which carries the AH right after the
// header chain h, over a copy in s.buf with the mutable IP fields and the
// ICV zeroed and, with ESN, Seqh appended (RFC 4302 §3.3.3). The result
// is in s.sum.
func (sa *SA) ahICV(s *scratch, pkt []byte, h IPHeaders, seq uint64) ([]byte, error) {
	m := s.grow(len(pkt) + 4)[:len(pkt)]
	copy(m, pkt)
	if err := walkMutable(m, h, true); err != nil {
		return nil, err
	}
	icvStart := h.Len + ahICV + sa.params.ivLen
	clear(m[icvStart : icvStart+sa.params.icvLen])
	if sa.params.suite != suiteGMAC {
		return sa.mac(s, seq, m), nil
	}
	// AUTH_AES_GMAC: the AAD is the packet as above, IV included
	// (RFC 4543 §4, §7), then Seqh.
	if sa.cfg.ESN {
		m = m[:len(m)+4]
		binary.BigEndian.PutUint32(m[len(m)-4:], uint32(seq>>32))
	}
	iv := pkt[h.Len+ahICV : h.Len+ahICV+GCMIVSize]
	return sa.aead.Seal(s.sum[:0], sa.nonce(s, iv), nil, m), nil
}

// walkMutable checks the IPv4 options or IPv6 option headers of the packet
// m with header chain h and, if zero is set, zeroes the fields RFC 4302
// §3.3.3.1 and Appendix A classify as mutable.
func walkMutable(m []byte, h IPHeaders, zero bool) error {
	if h.Version == 4 {
		if zero {
			m[ipv4TOS] = 0
			m[ipv4FlagsFrag], m[ipv4FlagsFrag+1] = 0, 0
			m[ipv4TTL] = 0
			m[ipv4Checksum], m[ipv4Checksum+1] = 0, 0
		}
		return walkIPv4Options(m[IPv4MinimumSize:h.Len], zero)
	}
	if zero {
		m[ipv6VersTCFlow] &= 0xf0 // traffic class and flow label
		m[1], m[2], m[3] = 0, 0, 0
		m[ipv6HopLimit] = 0
	}
	nh, off := m[ipv6NextHeader], IPv6FixedHeaderSize
	for off < h.Len {
		n := (int(m[off+1]) + 1) * 8
		if nh == ProtoHopByHop || nh == ProtoDestOpts {
			if err := walkIPv6Options(m[off+2:off+n], zero); err != nil {
				return err
			}
		}
		nh, off = m[off], off+n
	}
	return nil
}

// walkIPv4Options checks IPv4 options and, if zero is set, zeroes every
// option RFC 4302 Appendix A1 does not list as immutable, type and length
// included. Bytes after End of Options List are padding and stay.
func walkIPv4Options(opts []byte, zero bool) error {
	for i := 0; i < len(opts); {
		switch t := opts[i]; t {
		case ipv4OptEOL:
			return nil
		case ipv4OptNOP:
			i++
			continue
		case ipv4OptLSRR, ipv4OptSSRR:
			return fmt.Errorf("%w: IPv4 option %d", ErrSourceRoute, t)
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return fmt.Errorf("%w: IPv4 option %d at %d", ErrBadIPHeader, opts[i], i)
		}
		l := int(opts[i+1])
		if zero && !ipv4OptionImmutable(opts[i]) {
			clear(opts[i : i+l])
		}
		i += l
	}
	return nil
}

// ipv4OptionImmutable reports whether the IPv4 option type t is in the
// IMMUTABLE list of RFC 4302 Appendix A1 (the type byte is copy, class and
// number).
func ipv4OptionImmutable(t byte) bool {
	switch t {
	case ipv4OptSecurity, ipv4OptExtSecurity, ipv4OptCommercialSec, ipv4OptRouterAlert, ipv4OptSenderDirected:
		return true
	}
	return false
}

// walkIPv6Options checks the options of a Hop-by-Hop or Destination
// Options header and, if zero is set, zeroes the Option Data of every
// option whose type has the "may change en route" bit set (RFC 8200 §4.2,
// RFC 4302 §3.3.3.1.2.2).
func walkIPv6Options(opts []byte, zero bool) error {
	for i := 0; i < len(opts); {
		if opts[i] == ipv6OptPad1 {
			i++
			continue
		}
		if i+1 >= len(opts) || i+2+int(opts[i+1]) > len(opts) {
			return fmt.Errorf("%w: IPv6 option %d at %d", ErrBadIPHeader, opts[i], i)
		}
		l := int(opts[i+1])
		if zero && opts[i]&ipv6OptChange != 0 {
			clear(opts[i+2 : i+2+l])
		}
		i += 2 + l
	}
	return nil
}
