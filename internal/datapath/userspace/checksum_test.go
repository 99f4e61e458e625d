package userspace

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// checksumAdd adds b to a one's-complement sum the plain way (RFC 1071),
// as big-endian 16-bit words: the reference for onesSum.
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

func checksumFold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func TestOnesSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 300 {
		for range 20 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
				if rng.IntN(4) == 0 {
					b[i] = 0xff // carries
				}
			}
			// The folded sum is defined modulo 0xffff: 0 and 0xffff are
			// the same number.
			want, got := checksumFold(checksumAdd(0, b))%0xffff, onesSum(b)%0xffff
			if want != got {
				t.Fatalf("%d bytes %x: sum %#x, want %#x", n, b, got, want)
			}
		}
	}
}

func BenchmarkOnesSum(b *testing.B) {
	buf := make([]byte, 1400)
	b.SetBytes(int64(len(buf)))
	for range b.N {
		onesSum(buf)
	}
}

// TestSplitThenCoalesce splits a TCP super-packet as the outbound path
// does, checks every segment, then coalesces the segments in place as the
// TUN writer does (packed back to back with gaps, as they lie after ESP
// is removed) and checks that the result is the super-packet again.
func TestSplitThenCoalesce(t *testing.T) {
	c := benchCases[1] // tunnel: inner addresses
	const mss = 1368
	for _, n := range []int{1, mss, mss + 1, 10 * mss, 47*mss + 100} {
		pkt, h := superTCP(c, n, mss)
		sp, err := parseSuper(&h, pkt)
		if err != nil {
			t.Fatal(err)
		}
		want := (n + mss - 1) / mss
		if sp.segments != want {
			t.Fatalf("%d bytes: %d segments, want %d", n, sp.segments, want)
		}
		// Lay the segments out with a 50-byte gap before each, as ESP
		// leaves them.
		const gap = 50
		arena := make([]byte, 70000+sp.segments*gap)
		var starts []int
		off := gap
		for i := range sp.segments {
			l := sp.segmentLen(i)
			seg := arena[off : off+l]
			sp.segment(i, seg)
			var fl flow
			ph, ok := parseFlow(seg, true, &fl)
			if !ok || ph.PacketLen != l || !l4ChecksumOK(seg[12:16], seg[16:20], protoTCP, seg[20:]) {
				t.Fatalf("segment %d of %d bytes: bad headers or checksum", i, l)
			}
			if want := uint32(1000 + i*mss); binary.BigEndian.Uint32(seg[24:]) != want {
				t.Fatalf("segment %d: seq %d, want %d", i, binary.BigEndian.Uint32(seg[24:]), want)
			}
			if psh := seg[33]&tcpFlagPSH != 0; psh != (i == sp.segments-1) {
				t.Fatalf("segment %d: PSH %v", i, psh)
			}
			starts = append(starts, off)
			off += l + gap
		}
		// Coalesce.
		head := arena[starts[0] : starts[0]+sp.segmentLen(0) : len(arena)]
		g, ok := groCandidate(head, true)
		if !ok {
			t.Fatal("the first segment is no candidate")
		}
		for i := 1; i < sp.segments; i++ {
			if head, ok = groAppend(&g, head, arena[starts[i]:starts[i]+sp.segmentLen(i)]); !ok {
				t.Fatalf("segment %d did not merge", i)
			}
		}
		if g.segments != sp.segments {
			t.Fatalf("%d segments merged, want %d", g.segments, sp.segments)
		}
		var hdr [vnetHdrLen]byte
		groFinish(&g, head, hdr[:])
		if !bytes.Equal(head[52:], pkt[52:]) {
			t.Fatalf("%d bytes: the coalesced payload differs", n)
		}
		var vh vnetHdr
		vh.decode(hdr[:])
		if sp.segments > 1 {
			if vh.gsoType != unix.VIRTIO_NET_HDR_GSO_TCPV4 || vh.gsoSize != mss || vh.csumStart != 20 || vh.flags != unix.VIRTIO_NET_HDR_F_NEEDS_CSUM {
				t.Fatalf("virtio-net header %+v", vh)
			}
			// Completing the checksum as the kernel would gives a valid packet.
			if !completeChecksum(head, &vh) || !l4ChecksumOK(head[12:16], head[16:20], protoTCP, head[20:]) {
				t.Fatal("the coalesced packet's checksum does not complete")
			}
		} else if vh != (vnetHdr{}) {
			t.Fatalf("a lone packet got header %+v", vh)
		}
		if got := int(binary.BigEndian.Uint16(head[2:])); got != len(head) || len(head) != len(pkt) {
			t.Fatalf("total length %d, packet %d, want %d", got, len(head), len(pkt))
		}
	}
}

// TestCoalesceRefuses checks the runs that must not merge: a bad
// checksum, a gap in the sequence, another flow.
func TestCoalesceRefuses(t *testing.T) {
	c := benchCases[1]
	pkt, h := superTCP(c, 3*1368, 1368)
	sp, _ := parseSuper(&h, pkt)
	seg := func(i int) []byte {
		b := make([]byte, sp.segmentLen(i), 70000)
		sp.segment(i, b)
		return b
	}
	for _, tc := range []struct {
		name string
		next func() []byte
	}{
		{"bad checksum", func() []byte { b := seg(1); b[100] ^= 1; return b }},
		{"sequence gap", func() []byte { return seg(2) }},
		{"other port", func() []byte {
			b := seg(1)
			b[20] ^= 1
			b[36], b[37] = 0, 0
			binary.BigEndian.PutUint16(b[36:], ^fold64(pseudoSum(b[12:16], b[16:20], protoTCP, len(b)-20)+uint64(onesSum(b[20:]))))
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := seg(0)
			g, _ := groCandidate(head, true)
			if _, ok := groAppend(&g, head, tc.next()); ok {
				t.Fatal("merged")
			}
		})
	}
}

// TestSplitThenCoalesceUDP does for a UDP super-packet (a sender using
// UDP GSO, handed over with USO) what TestSplitThenCoalesce does for TCP.
func TestSplitThenCoalesceUDP(t *testing.T) {
	const seg = 1200
	for _, n := range []int{seg, 3*seg + 17, 40 * seg} {
		udp := make([]byte, 8+n)
		binary.BigEndian.PutUint16(udp[0:], 4433)
		binary.BigEndian.PutUint16(udp[2:], 443)
		for i := range n {
			udp[8+i] = byte(i * 7)
		}
		pkt := ipPacket(innerA4, innerB4, protoUDP, udp)
		binary.BigEndian.PutUint16(pkt[24:], uint16(len(udp)))
		h := vnetHdr{flags: unix.VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: unix.VIRTIO_NET_HDR_GSO_UDP_L4, hdrLen: 28, gsoSize: seg, csumStart: 20, csumOffset: 6}
		sp, err := parseSuper(&h, pkt)
		if err != nil {
			t.Fatal(err)
		}
		arena := make([]byte, 70000+sp.segments*64)
		var starts []int
		off := 64
		for i := range sp.segments {
			l := sp.segmentLen(i)
			s := arena[off : off+l]
			sp.segment(i, s)
			if int(binary.BigEndian.Uint16(s[24:])) != l-20 || !l4ChecksumOK(s[12:16], s[16:20], protoUDP, s[20:]) {
				t.Fatalf("%d bytes, segment %d: bad length or checksum", n, i)
			}
			starts = append(starts, off)
			off += l + 64
		}
		head := arena[starts[0] : starts[0]+sp.segmentLen(0) : len(arena)]
		g, ok := groCandidate(head, true)
		if !ok {
			t.Fatal("no candidate")
		}
		for i := 1; i < sp.segments; i++ {
			if head, ok = groAppend(&g, head, arena[starts[i]:starts[i]+sp.segmentLen(i)]); !ok {
				t.Fatalf("%d bytes: segment %d did not merge", n, i)
			}
		}
		var hdr [vnetHdrLen]byte
		groFinish(&g, head, hdr[:])
		if !bytes.Equal(head[28:], pkt[28:]) {
			t.Fatalf("%d bytes: the coalesced payload differs", n)
		}
		var vh vnetHdr
		vh.decode(hdr[:])
		if sp.segments > 1 && (vh.gsoType != unix.VIRTIO_NET_HDR_GSO_UDP_L4 || vh.gsoSize != seg || !completeChecksum(head, &vh) ||
			!l4ChecksumOK(head[12:16], head[16:20], protoUDP, head[20:])) {
			t.Fatalf("%d bytes: header %+v or checksum wrong", n, vh)
		}
	}
}
