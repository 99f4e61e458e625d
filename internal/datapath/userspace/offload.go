package userspace

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// Segmentation and coalescing at the TUN device (the kernel's GSO and GRO
// done in userspace, as the virtio-net header describes them).
//
// Outbound, the local stack hands the TUN device TCP (and UDP) super-
// packets of up to 64 KiB with one header and the checksum left undone;
// split cuts one into the packets it stands for, each with its own
// headers and checksum, placed where the caller wants them (in a batch,
// each with room for ESP around it).
//
// Inbound, the packets a batch delivers are coalesced in place: a run of
// consecutive TCP segments of one flow (or UDP datagrams of one flow)
// becomes one super-packet whose payloads follow the first one's headers,
// each payload moved back over the headers, trailers and ICVs between
// them. Only consecutive packets merge, so a payload only ever moves
// toward lower addresses over bytes already consumed, and a packet that
// is not merged is never overwritten.

// Errors of split.
var (
	errGSOType   = errors.New("userspace: unsupported GSO type from the TUN device")
	errGSOHeader = errors.New("userspace: malformed super-packet from the TUN device")
)

// TCP header fields and flags.
const (
	tcpSeqOff   = 4
	tcpAckOff   = 8
	tcpDataOff  = 12
	tcpFlagsOff = 13
	tcpCsumOff  = 16
	udpLenOff   = 4
	udpCsumOff  = 6

	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagACK = 0x10
)

// superPacket is a super-packet read from the TUN device, being split.
type superPacket struct {
	pkt      []byte // the whole super-packet: headers, then all payloads
	v6       bool
	proto    uint8 // protoTCP or protoUDP
	iphLen   int   // IP header length (csum_start)
	hdrLen   int   // IP and L4 headers
	gsoSize  int
	segments int
	seq      uint32 // TCP: the first segment's sequence number
	id       uint16 // IPv4: the first segment's identification
	addrSum  uint64 // the pseudo-header's addresses
}

// parseSuper validates the virtio-net header h of the super-packet pkt.
func parseSuper(h *vnetHdr, pkt []byte) (superPacket, error) {
	sp := superPacket{pkt: pkt, iphLen: int(h.csumStart), gsoSize: int(h.gsoSize)}
	switch h.gsoType {
	case unix.VIRTIO_NET_HDR_GSO_TCPV4, unix.VIRTIO_NET_HDR_GSO_TCPV6:
		sp.proto = protoTCP
		sp.v6 = h.gsoType == unix.VIRTIO_NET_HDR_GSO_TCPV6
	case unix.VIRTIO_NET_HDR_GSO_UDP_L4:
		sp.proto = protoUDP
	default:
		return sp, errGSOType
	}
	if len(pkt) == 0 {
		return sp, errGSOHeader
	}
	switch pkt[0] >> 4 {
	case 4:
		if sp.v6 || sp.iphLen < 20 {
			return sp, errGSOHeader
		}
	case 6:
		if h.gsoType == unix.VIRTIO_NET_HDR_GSO_TCPV4 || sp.iphLen < 40 {
			return sp, errGSOHeader
		}
		sp.v6 = true
	default:
		return sp, errGSOHeader
	}
	// Do not trust hdr_len: take the L4 header's own length.
	if sp.proto == protoTCP {
		if len(pkt) < sp.iphLen+20 {
			return sp, errGSOHeader
		}
		l := int(pkt[sp.iphLen+tcpDataOff]>>4) * 4
		if l < 20 {
			return sp, errGSOHeader
		}
		sp.hdrLen = sp.iphLen + l
		sp.seq = binary.BigEndian.Uint32(pkt[sp.iphLen+tcpSeqOff:])
	} else {
		sp.hdrLen = sp.iphLen + 8
	}
	if sp.gsoSize == 0 || len(pkt) <= sp.hdrLen || int(h.csumStart)+int(h.csumOffset)+2 > sp.hdrLen {
		return sp, errGSOHeader
	}
	sp.segments = (len(pkt) - sp.hdrLen + sp.gsoSize - 1) / sp.gsoSize
	if sp.v6 {
		sp.addrSum = uint64(onesSum(pkt[8:40]))
	} else {
		sp.id = binary.BigEndian.Uint16(pkt[4:])
		sp.addrSum = uint64(onesSum(pkt[12:20]))
	}
	return sp, nil
}

// segmentLen returns the length of segment i.
func (sp *superPacket) segmentLen(i int) int {
	start := sp.hdrLen + i*sp.gsoSize
	return sp.hdrLen + min(sp.gsoSize, len(sp.pkt)-start)
}

// segment writes segment i into dst (segmentLen(i) bytes) with its headers
// fixed up and its checksums computed.
func (sp *superPacket) segment(i int, dst []byte) {
	start := sp.hdrLen + i*sp.gsoSize
	end := min(start+sp.gsoSize, len(sp.pkt))
	n := copy(dst, sp.pkt[:sp.hdrLen])
	n += copy(dst[n:], sp.pkt[start:end])
	dst = dst[:n]
	l4 := dst[sp.iphLen:]
	if sp.v6 {
		binary.BigEndian.PutUint16(dst[4:], uint16(n-40))
	} else {
		binary.BigEndian.PutUint16(dst[2:], uint16(n))
		binary.BigEndian.PutUint16(dst[4:], sp.id+uint16(i))
		dst[10], dst[11] = 0, 0
		binary.BigEndian.PutUint16(dst[10:], ^onesSum(dst[:sp.iphLen]))
	}
	csumOff := udpCsumOff
	if sp.proto == protoTCP {
		csumOff = tcpCsumOff
		binary.BigEndian.PutUint32(l4[tcpSeqOff:], sp.seq+uint32(i*sp.gsoSize))
		if end != len(sp.pkt) {
			l4[tcpFlagsOff] &^= tcpFlagFIN | tcpFlagPSH
		}
	} else {
		binary.BigEndian.PutUint16(l4[udpLenOff:], uint16(len(l4)))
	}
	l4[csumOff], l4[csumOff+1] = 0, 0
	c := ^fold64(sp.addrSum + uint64(sp.proto) + uint64(len(l4)) + uint64(onesSum(l4)))
	if c == 0 && sp.proto == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumOff:], c)
}

// completeChecksum finishes the checksum the kernel left to us in a
// packet that is not a super-packet (VIRTIO_NET_HDR_F_NEEDS_CSUM): the
// field at csumStart+csumOffset holds the pseudo-header sum.
func completeChecksum(pkt []byte, h *vnetHdr) bool {
	start, at := int(h.csumStart), int(h.csumStart)+int(h.csumOffset)
	if start >= len(pkt) || at+2 > len(pkt) {
		return false
	}
	initial := uint64(binary.BigEndian.Uint16(pkt[at:]))
	pkt[at], pkt[at+1] = 0, 0
	binary.BigEndian.PutUint16(pkt[at:], ^fold64(initial+uint64(onesSum(pkt[start:]))))
	return true
}

// groFlow is what must be equal for two packets to coalesce, read from
// the first.
type groFlow struct {
	v6       bool
	proto    uint8
	iphLen   int
	l4hLen   int // TCP header with options, or 8
	gsoSize  int // payload length of the first packet
	segments int
	nextSeq  uint32 // TCP: the sequence number that continues the run
	closed   bool   // a short or PSH segment ended the run
	csumDone bool   // the first packet's checksum was checked
}

// groCandidate reports whether pkt (a whole inner IP packet) may start or
// join a coalesced run, and returns its flow description.
func groCandidate(pkt []byte, udpOK bool) (g groFlow, ok bool) {
	if len(pkt) < 20 {
		return g, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if pkt[0]&0xf != 5 || len(pkt) != int(binary.BigEndian.Uint16(pkt[2:])) {
			return g, false // options, or link padding
		}
		if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
			return g, false // a fragment
		}
		g.iphLen, g.proto = 20, pkt[9]
	case 6:
		if len(pkt) < 40 || len(pkt) != 40+int(binary.BigEndian.Uint16(pkt[4:])) {
			return g, false
		}
		g.v6, g.iphLen, g.proto = true, 40, pkt[6]
	default:
		return g, false
	}
	l4 := pkt[g.iphLen:]
	switch {
	case g.proto == protoTCP:
		if len(l4) < 20 {
			return g, false
		}
		g.l4hLen = int(l4[tcpDataOff]>>4) * 4
		if g.l4hLen < 20 || g.l4hLen > len(l4) {
			return g, false
		}
		if f := l4[tcpFlagsOff]; f != tcpFlagACK && f != tcpFlagACK|tcpFlagPSH {
			return g, false
		}
		g.gsoSize = len(l4) - g.l4hLen
		g.nextSeq = binary.BigEndian.Uint32(l4[tcpSeqOff:]) + uint32(g.gsoSize)
		g.closed = l4[tcpFlagsOff]&tcpFlagPSH != 0
	case g.proto == protoUDP && udpOK:
		if len(l4) < 8 || int(binary.BigEndian.Uint16(l4[udpLenOff:])) != len(l4) {
			return g, false
		}
		g.l4hLen = 8
		g.gsoSize = len(l4) - 8
	default:
		return g, false
	}
	if g.gsoSize == 0 {
		return g, false // pure ACKs and empty datagrams stay alone
	}
	g.segments = 1
	return g, true
}

// maxGROLen is the largest coalesced packet (the IPv4 total length).
const maxGROLen = 65535

// maxUDPGROSegments bounds the datagrams of a coalesced UDP packet (the
// kernel's UDP GSO segment limit is 64 on older kernels).
const maxUDPGROSegments = 64

// groAppend appends the payload of pkt to the run head (whose bytes are
// head[:len] and may grow up to cap), if pkt continues it. It returns the
// grown head and whether pkt merged.
func groAppend(g *groFlow, head, pkt []byte) ([]byte, bool) {
	if g.closed {
		return head, false
	}
	p, ok := groCandidate(pkt, true)
	if !ok || p.proto != g.proto || p.v6 != g.v6 || p.l4hLen != g.l4hLen || p.gsoSize > g.gsoSize {
		return head, false
	}
	// IP headers: version, TOS/traffic class, TTL/hop limit, DF and the
	// addresses must match.
	if g.v6 {
		if pkt[0] != head[0] || pkt[1]>>4 != head[1]>>4 || pkt[7] != head[7] || string(pkt[8:40]) != string(head[8:40]) {
			return head, false
		}
	} else {
		if pkt[1] != head[1] || pkt[6]>>5 != head[6]>>5 || pkt[8] != head[8] || string(pkt[12:20]) != string(head[12:20]) {
			return head, false
		}
	}
	hl := g.iphLen + g.l4hLen
	ph, hh := pkt[g.iphLen:hl], head[g.iphLen:hl]
	if g.proto == protoTCP {
		// Ports, ack and options equal; the sequence continues the run.
		if string(ph[:4]) != string(hh[:4]) || string(ph[tcpAckOff:tcpAckOff+4]) != string(hh[tcpAckOff:tcpAckOff+4]) ||
			string(ph[20:]) != string(hh[20:]) || binary.BigEndian.Uint32(ph[tcpSeqOff:]) != g.nextSeq {
			return head, false
		}
	} else {
		if string(ph[:4]) != string(hh[:4]) || g.segments >= maxUDPGROSegments {
			return head, false
		}
	}
	if len(head)+p.gsoSize > maxGROLen || len(head)+p.gsoSize > cap(head) {
		return head, false
	}
	// Both checksums must be right: the coalesced packet's is the
	// kernel's to trust (CHECKSUM_PARTIAL).
	if !g.csumDone {
		if !groChecksumOK(head, g) {
			g.closed = true
			return head, false
		}
		g.csumDone = true
	}
	if !groChecksumOK(pkt, &p) {
		return head, false
	}
	if g.proto == protoTCP {
		if ph[tcpFlagsOff]&tcpFlagPSH != 0 {
			hh[tcpFlagsOff] |= tcpFlagPSH
			g.closed = true
		}
		g.nextSeq += uint32(p.gsoSize)
	}
	if p.gsoSize < g.gsoSize {
		g.closed = true // only the last segment may be short
	}
	n := len(head)
	head = head[:n+p.gsoSize]
	copy(head[n:], pkt[hl:])
	g.segments++
	return head, true
}

func groChecksumOK(pkt []byte, g *groFlow) bool {
	if g.v6 {
		return l4ChecksumOK(pkt[8:24], pkt[24:40], g.proto, pkt[40:])
	}
	if g.proto == protoUDP && binary.BigEndian.Uint16(pkt[g.iphLen+udpCsumOff:]) == 0 {
		return true // no checksum sent (IPv4)
	}
	return l4ChecksumOK(pkt[12:16], pkt[16:20], g.proto, pkt[g.iphLen:])
}

// groFinish fixes the headers of a run of g.segments packets coalesced in
// pkt and writes its virtio-net header into hdr: a super-packet whose
// checksum the kernel completes, or a plain packet for a run of one.
func groFinish(g *groFlow, pkt, hdr []byte) {
	if g.segments < 2 {
		clear(hdr[:vnetHdrLen])
		return
	}
	h := vnetHdr{flags: unix.VIRTIO_NET_HDR_F_NEEDS_CSUM, hdrLen: uint16(g.iphLen + g.l4hLen), gsoSize: uint16(g.gsoSize),
		csumStart: uint16(g.iphLen)}
	var addrs []byte
	if g.v6 {
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(pkt)-40))
		addrs = pkt[8:40]
	} else {
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		pkt[10], pkt[11] = 0, 0
		binary.BigEndian.PutUint16(pkt[10:], ^onesSum(pkt[:20]))
		addrs = pkt[12:20]
	}
	l4 := pkt[g.iphLen:]
	if g.proto == protoTCP {
		h.csumOffset = tcpCsumOff
		h.gsoType = unix.VIRTIO_NET_HDR_GSO_TCPV4
		if g.v6 {
			h.gsoType = unix.VIRTIO_NET_HDR_GSO_TCPV6
		}
	} else {
		h.csumOffset = udpCsumOff
		h.gsoType = unix.VIRTIO_NET_HDR_GSO_UDP_L4
		binary.BigEndian.PutUint16(l4[udpLenOff:], uint16(len(l4)))
	}
	// The pseudo-header sum, not complemented: the kernel adds the rest.
	binary.BigEndian.PutUint16(l4[h.csumOffset:], fold64(uint64(onesSum(addrs))+uint64(g.proto)+uint64(len(l4))))
	h.encode(hdr)
}
