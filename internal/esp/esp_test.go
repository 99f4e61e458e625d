package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

var (
	addr4a = netip.MustParseAddr("192.0.2.1")
	addr4b = netip.MustParseAddr("198.51.100.2")
	addr6a = netip.MustParseAddr("2001:db8::1")
	addr6b = netip.MustParseAddr("2001:db8:1::2")
)

// testInnerPacket returns an IPv4 or IPv6 packet carrying UDP with a
// payload of n random bytes.
func testInnerPacket(tb testing.TB, version int, n int, rng *rand.Rand) []byte {
	tb.Helper()
	payload := randomBytes(rng, n)
	buf := make([]byte, 64+n)
	copy(buf[64:], payload)
	var src, dst netip.AddrPort
	if version == 4 {
		src, dst = netip.AddrPortFrom(addr4a, 40000), netip.AddrPortFrom(addr4b, 9)
	} else {
		src, dst = netip.AddrPortFrom(addr6a, 40000), netip.AddrPortFrom(addr6b, 9)
	}
	udp, err := PrependUDP(buf, 64, n, src, dst)
	if err != nil {
		tb.Fatal(err)
	}
	var pkt []byte
	if version == 4 {
		pkt, err = PrependIPv4(buf, 64-UDPHeaderSize, len(udp), &IPv4Fields{ID: 7, TTL: 33, Protocol: ProtoUDP, Src: src.Addr(), Dst: dst.Addr()})
	} else {
		pkt, err = PrependIPv6(buf, 64-UDPHeaderSize, len(udp), &IPv6Fields{HopLimit: 33, FlowLabel: 0x12345, NextHeader: ProtoUDP, Src: src.Addr(), Dst: dst.Addr()})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(pkt)
}

// tunnelSeal builds what the data path sends in tunnel mode: outer IP
// header (version outer), optionally UDP on the NAT-T port, ESP around the
// whole inner packet.
func tunnelSeal(tb testing.TB, sa *SA, inner []byte, outer int, udp bool) []byte {
	tb.Helper()
	buf := make([]byte, testHeadroom+len(inner)+testTailroom)
	copy(buf[testHeadroom:], inner)
	nh := ProtoIPv4
	if inner[0]>>4 == 6 {
		nh = ProtoIPv6
	}
	e, err := sa.Seal(buf, testHeadroom, len(inner), nh)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	off, n, proto := testHeadroom-sa.HeaderLen(), len(e), ProtoESP
	src, dst := addr4a, addr4b
	if outer == 6 {
		src, dst = addr6a, addr6b
	}
	if udp {
		u, err := PrependUDP(buf, off, n, netip.AddrPortFrom(src, NATTPort), netip.AddrPortFrom(dst, NATTPort))
		if err != nil {
			tb.Fatal(err)
		}
		off, n, proto = off-UDPHeaderSize, len(u), ProtoUDP
	}
	var pkt []byte
	if outer == 4 {
		pkt, err = PrependIPv4(buf, off, n, &IPv4Fields{DontFragment: true, Protocol: proto, Src: src, Dst: dst})
	} else {
		pkt, err = PrependIPv6(buf, off, n, &IPv6Fields{NextHeader: proto, Src: src, Dst: dst})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return pkt
}

// tunnelOpen undoes tunnelSeal as the data path's receive side does.
func tunnelOpen(sa *SA, pkt []byte) ([]byte, uint8, error) {
	h, err := ParseIPHeaders(pkt)
	if err != nil {
		return nil, 0, err
	}
	e := pkt[h.Len:h.PacketLen]
	switch h.Protocol {
	case ProtoESP:
	case ProtoUDP:
		u := UDP(e)
		if !u.IsValid(len(e)) {
			return nil, 0, fmt.Errorf("bad UDP header")
		}
		kind, p := ClassifyUDP(u.Payload())
		if kind != UDPESP {
			return nil, 0, fmt.Errorf("UDP payload is %v", kind)
		}
		e = p
	default:
		return nil, 0, fmt.Errorf("protocol %d", h.Protocol)
	}
	return sa.Open(e)
}

// transportSeal inserts ESP between the IP headers and the payload of pkt,
// as the doc comment of the package shows.
func transportSeal(tb testing.TB, sa *SA, orig []byte) []byte {
	tb.Helper()
	buf := make([]byte, testHeadroom+len(orig)+testTailroom)
	off, n := testHeadroom, len(orig)
	copy(buf[off:], orig)
	h, err := ParseIPHeaders(buf[off : off+n])
	if err != nil {
		tb.Fatal(err)
	}
	hl := sa.HeaderLen()
	copy(buf[off-hl:], buf[off:off+h.Len])
	e, err := sa.Seal(buf, off+h.Len, n-h.Len, h.Protocol)
	if err != nil {
		tb.Fatal(err)
	}
	pkt := buf[off-hl : off-hl+h.Len+len(e)]
	if err := RewriteIPHeaders(pkt, h, ProtoESP); err != nil {
		tb.Fatal(err)
	}
	return pkt
}

// transportOpen removes ESP from a transport-mode packet and returns the
// original packet.
func transportOpen(sa *SA, pkt []byte) ([]byte, error) {
	h, err := ParseIPHeaders(pkt)
	if err != nil {
		return nil, err
	}
	if h.Protocol != ProtoESP {
		return nil, fmt.Errorf("protocol %d", h.Protocol)
	}
	payload, nh, err := sa.Open(pkt[h.Len:h.PacketLen])
	if err != nil {
		return nil, err
	}
	// The payload starts HeaderLen bytes into the ESP packet; close the
	// gap by moving the IP headers up to it.
	out := pkt[sa.HeaderLen() : h.Len+sa.HeaderLen()+len(payload)]
	copy(out, pkt[:h.Len])
	if err := RewriteIPHeaders(out, h, nh); err != nil {
		return nil, err
	}
	return out, nil
}

// TestRoundTrip seals and opens inner packets of many sizes for every
// transform, with and without ESN, over IPv4 and IPv6, in tunnel mode
// (plain and UDP-encapsulated, inner and outer versions mixed) and in
// transport mode.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 3, 4, 5, 13, 14, 15, 16, 17, 31, 100, 1000, 1400}
	for _, tc := range espTransforms {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", tc.name, esn), func(t *testing.T) {
				out, in := newPair(t, tc, esn)
				for _, v := range []int{4, 6} {
					for _, n := range sizes {
						inner := testInnerPacket(t, v, n, rng)
						for _, mode := range []struct {
							outer int
							udp   bool
						}{{4, false}, {6, false}, {4, true}, {6, true}} {
							pkt := tunnelSeal(t, out, inner, mode.outer, mode.udp)
							got, nh, err := tunnelOpen(in, pkt)
							if err != nil {
								t.Fatalf("IPv%d in IPv%d udp=%v, %d bytes: %v", v, mode.outer, mode.udp, n, err)
							}
							if d := diffBytes(got, inner); d != "" || (nh != ProtoIPv4 && nh != ProtoIPv6) || (nh == ProtoIPv6) != (v == 6) {
								t.Fatalf("IPv%d in IPv%d udp=%v, %d bytes: nh %d, %s", v, mode.outer, mode.udp, n, nh, d)
							}
						}
						pkt := transportSeal(t, out, inner)
						if h, _ := ParseIPHeaders(pkt); h.Protocol != ProtoESP || h.PacketLen != len(pkt) {
							t.Fatalf("transport packet: protocol %d length %d of %d", h.Protocol, h.PacketLen, len(pkt))
						}
						if v == 4 && IPv4(pkt).CalculateChecksum() != IPv4(pkt).Checksum() {
							t.Fatalf("transport IPv4 checksum %#x, want %#x", IPv4(pkt).Checksum(), IPv4(pkt).CalculateChecksum())
						}
						got, err := transportOpen(in, pkt)
						if err != nil {
							t.Fatalf("transport IPv%d %d bytes: %v", v, n, err)
						}
						if d := diffBytes(got, inner); d != "" {
							t.Fatalf("transport IPv%d %d bytes: %s", v, n, d)
						}
					}
				}
			})
		}
	}
}

// TestSealLayout checks the sizes Seal promises and the fields it writes.
func TestSealLayout(t *testing.T) {
	for _, tc := range espTransforms {
		out, _ := newPair(t, tc, false)
		for n := range 40 {
			pkt := sealPayload(t, out, bytes.Repeat([]byte{0xee}, n), 6)
			hl, tl := out.HeaderLen(), out.TrailerLen(n)
			if len(pkt) != hl+n+tl || tl > out.MaxTrailerLen() {
				t.Fatalf("%s n=%d: len %d, HeaderLen %d TrailerLen %d Max %d", tc.name, n, len(pkt), hl, tl, out.MaxTrailerLen())
			}
			align := 4
			if tc.enc >= EncryptionAESCBC128 && tc.enc <= EncryptionAESCBC256 {
				align = 16
			}
			if (len(pkt)-hl-out.params.icvLen)%align != 0 || (len(pkt)-out.params.icvLen)%4 != 0 {
				t.Fatalf("%s n=%d: text not aligned", tc.name, n)
			}
			if e := ESP(pkt); !e.IsValid() || e.SPI() != 0x1001 || uint64(e.SequenceNumber()) != out.LastSeq() || len(e.Payload()) != len(pkt)-ESPHeaderSize {
				t.Fatalf("%s: header %x", tc.name, pkt[:8])
			}
			if out.params.suite == suiteGCM || out.params.suite == suiteGMAC {
				if iv := binary.BigEndian.Uint64(pkt[8:16]); iv != out.LastSeq() {
					t.Fatalf("%s: IV %d, want the sequence number %d", tc.name, iv, out.LastSeq())
				}
			}
		}
	}
	want := map[string][3]int{ // HeaderLen, TrailerLen(0), MaxTrailerLen
		"AES-GCM-128":                  {16, 2 + 2 + 16, 3 + 2 + 16},
		"AES-GMAC-256":                 {16, 20, 21},
		"AES-CBC-128+HMAC-SHA1-96":     {24, 14 + 2 + 12, 15 + 2 + 12},
		"AES-CBC-256+HMAC-SHA-256-128": {24, 32, 33},
		"NULL+HMAC-SHA1-96":            {8, 16, 17},
	}
	for _, tc := range espTransforms {
		w, ok := want[tc.name]
		if !ok {
			continue
		}
		out, _ := newPair(t, tc, false)
		if got := [3]int{out.HeaderLen(), out.TrailerLen(0), out.MaxTrailerLen()}; got != w {
			t.Errorf("%s: sizes %v, want %v", tc.name, got, w)
		}
	}
}

// TestCBCIVsDiffer checks that AES-CBC IVs are fresh per packet.
func TestCBCIVsDiffer(t *testing.T) {
	out, _ := newPair(t, espTransforms[6], false)
	seen := map[[16]byte]bool{}
	for range 1000 {
		pkt := sealPayload(t, out, []byte("x"), 17)
		iv := [16]byte(pkt[8:24])
		if seen[iv] {
			t.Fatalf("IV %x repeated", iv)
		}
		seen[iv] = true
	}
}

// TestTamper flips every bit of a sealed packet, one at a time, and
// expects an error for each: ErrSPIMismatch in the SPI, ErrAuth (or
// ErrReplay when the flip lands below the window) in the sequence number,
// ErrAuth everywhere else. The untouched packet opens afterwards: failed
// packets leave no trace in the replay window.
func TestTamper(t *testing.T) {
	for _, tc := range espTransforms {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", tc.name, esn), func(t *testing.T) {
				out, in := newPair(t, tc, esn)
				out.seq.Store(1000)
				pkt := sealPayload(t, out, []byte("the quick brown fox jumps over the lazy dog"), ProtoUDP)
				for i := range pkt {
					for bit := range 8 {
						p := bytes.Clone(pkt)
						p[i] ^= 1 << bit
						_, _, err := in.Open(p)
						switch {
						case i < 4:
							if !errors.Is(err, ErrSPIMismatch) {
								t.Fatalf("byte %d bit %d: %v, want ErrSPIMismatch", i, bit, err)
							}
						case i < 8:
							if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrReplay) {
								t.Fatalf("byte %d bit %d: %v, want ErrAuth or ErrReplay", i, bit, err)
							}
						default:
							if !errors.Is(err, ErrAuth) {
								t.Fatalf("byte %d bit %d: %v, want ErrAuth", i, bit, err)
							}
						}
					}
				}
				if _, _, err := in.Open(pkt); err != nil {
					t.Fatalf("untampered packet: %v", err)
				}
			})
		}
	}
}

// TestTruncate opens every prefix of a sealed packet, and the packet with
// bytes appended: always an error, never a panic.
func TestTruncate(t *testing.T) {
	for _, tc := range espTransforms {
		out, in := newPair(t, tc, true)
		pkt := sealPayload(t, out, bytes.Repeat([]byte{1}, 37), ProtoUDP)
		for l := range len(pkt) {
			if _, _, err := in.Open(bytes.Clone(pkt[:l])); err == nil {
				t.Fatalf("%s: %d of %d bytes opened", tc.name, l, len(pkt))
			} else if l < in.HeaderLen()+2+in.params.icvLen && !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: %d bytes: %v, want ErrTruncated", tc.name, l, err)
			}
		}
		for extra := 1; extra <= 17; extra++ {
			p := append(bytes.Clone(pkt), make([]byte, extra)...)
			if _, _, err := in.Open(p); !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMisaligned) {
				t.Fatalf("%s: %d bytes appended: %v", tc.name, extra, err)
			}
		}
		if _, _, err := in.Open(pkt); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}

// TestReplay opens packets in and out of order around a 64-packet window.
func TestReplay(t *testing.T) {
	for _, tc := range []transformCase{espTransforms[0], espTransforms[9], espTransforms[3]} {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/esn=%v", tc.name, esn), func(t *testing.T) {
				out, in := newPair(t, tc, esn)
				pkts := make([][]byte, 301)
				for i := 1; i <= 300; i++ {
					pkts[i] = sealPayload(t, out, []byte{byte(i)}, ProtoUDP)
				}
				// Below the window, a 32-bit receiver knows the packet
				// is old. An ESN receiver infers the next epoch for it
				// (RFC 4303 Appendix A2.2), and the ICV fails.
				old := ErrReplay
				if esn {
					old = ErrAuth
				}
				steps := []struct {
					seq  int
					want error
				}{
					{1, nil}, {2, nil}, {3, nil}, {3, ErrReplay}, {5, nil}, {4, nil}, {4, ErrReplay},
					{200, nil}, {137, nil}, {136, old}, {6, old}, {150, nil}, {150, ErrReplay},
					{199, nil}, {201, nil}, {138, nil}, {300, nil}, {237, nil}, {236, old}, {299, nil},
				}
				for _, s := range steps {
					got, _, err := in.Open(bytes.Clone(pkts[s.seq]))
					if !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
						t.Fatalf("Open(seq %d) = %v, want %v", s.seq, err, s.want)
					}
					if err == nil && got[0] != byte(s.seq) {
						t.Fatalf("seq %d: payload %d", s.seq, got[0])
					}
				}
				if in.LastSeq() != 300 {
					t.Errorf("LastSeq() = %d", in.LastSeq())
				}
			})
		}
	}
}

// TestESNWrap sends across 2^32 and 2^33: the receiver infers the high
// bits (which are never sent) and the ICV, which covers them, verifies.
func TestESNWrap(t *testing.T) {
	const e32 = uint64(1) << 32
	for _, tc := range espTransforms {
		t.Run(tc.name, func(t *testing.T) {
			for _, start := range []uint64{e32 - 40, 2*e32 - 3} {
				out, in := newPair(t, tc, true)
				out.seq.Store(start)
				in.replay.Accept(start)
				var pkts [][]byte
				for range 60 {
					pkts = append(pkts, sealPayload(t, out, []byte("wrap"), ProtoUDP))
				}
				// Deliver in a shuffled order within the window.
				rng := rand.New(rand.NewPCG(start, 7))
				order := rng.Perm(len(pkts))
				for _, i := range order {
					if _, _, err := in.Open(bytes.Clone(pkts[i])); err != nil {
						t.Fatalf("start %#x packet %d (seq %#x): %v", start, i, start+1+uint64(i), err)
					}
				}
				if got := in.LastSeq(); got != start+60 {
					t.Fatalf("LastSeq() = %#x, want %#x", got, start+60)
				}
			}
		})
	}
}

// TestESNHighBitsInICV shows that the unsent high bits are authenticated:
// a receiver that infers other high bits fails the ICV, and a sender and
// receiver that disagree on ESN do not interoperate.
func TestESNHighBitsInICV(t *testing.T) {
	const e32 = uint64(1) << 32
	for _, tc := range espTransforms {
		out, in := newPair(t, tc, true)
		out.seq.Store(e32 + 4)
		pkt := sealPayload(t, out, []byte("high bits"), ProtoUDP) // seq 2^32+5, low bits 5
		if _, _, err := in.Open(bytes.Clone(pkt)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: receiver in epoch 0 opened a packet of epoch 1: %v", tc.name, err)
		}
		in.replay.Accept(e32)
		if _, _, err := in.Open(pkt); err != nil {
			t.Errorf("%s: receiver in epoch 1: %v", tc.name, err)
		}

		_, in32 := newPair(t, tc, false)
		out64, _ := newPair(t, tc, true)
		out64.seq.Store(e32) // high bits 1, low bits 1
		if _, _, err := in32.Open(sealPayload(t, out64, []byte("x"), ProtoUDP)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: 32-bit receiver opened an ESN packet: %v", tc.name, err)
		}
	}
}

func TestSequenceExhausted(t *testing.T) {
	for _, esn := range []bool{false, true} {
		tc := espTransforms[0]
		out, in := newPair(t, tc, esn)
		last := uint64(math.MaxUint32)
		if esn {
			last = math.MaxUint64
		}
		out.seq.Store(last - 2)
		in.replay.Accept(last - 2)
		for i := range 2 {
			pkt := sealPayload(t, out, []byte("last"), ProtoUDP)
			if out.LastSeq() != last-1+uint64(i) {
				t.Fatalf("esn=%v: LastSeq %#x", esn, out.LastSeq())
			}
			if _, _, err := in.Open(pkt); err != nil {
				t.Fatalf("esn=%v: Open(seq %#x): %v", esn, out.LastSeq(), err)
			}
		}
		buf := make([]byte, 256)
		for range 3 {
			if _, err := out.Seal(buf, 64, 10, ProtoUDP); !errors.Is(err, ErrSequenceExhausted) {
				t.Fatalf("esn=%v: Seal past the last number = %v", esn, err)
			}
		}
		if out.LastSeq() != last {
			t.Fatalf("esn=%v: counter moved to %#x after exhaustion", esn, out.LastSeq())
		}
		ah, _ := newPair(t, ahTransforms[0], esn)
		ah.seq.Store(last)
		pkt := testIPv4Packet(t, 10, nil)
		buf = make([]byte, 100+len(pkt))
		copy(buf[100:], pkt)
		if _, err := ah.SealAH(buf, 100, len(pkt)); !errors.Is(err, ErrSequenceExhausted) {
			t.Fatalf("esn=%v: SealAH past the last number = %v", esn, err)
		}
		if d := diffBytes(buf[100:], pkt); d != "" {
			t.Fatalf("failed SealAH changed the buffer: %s", d)
		}
	}
}

// TestTrailerChecks feeds authentic packets with bad trailers: the ICV
// verifies, then the padding or Next Header check drops the packet, which
// is not recorded in the replay window.
func TestTrailerChecks(t *testing.T) {
	tests := []struct {
		name    string
		trailer []byte // the end of the text: padding, Pad Length, Next Header
		want    error
		payload int // length of the payload Open returns, when want is nil
	}{
		{"good", []byte{1, 2, 2, 4}, nil, 12},
		{"dummy packet", []byte{1, 2, 2, ProtoNoNext}, nil, 12},
		{"no padding", []byte{0, 0, 0, 4}, nil, 14},
		{"pad length too long", []byte{1, 2, 200, 4}, ErrBadPadLength, 0},
		{"pad length is everything", []byte{0, 0, 14, 4}, ErrBadPadding, 0},
		{"padding not 1,2", []byte{1, 3, 2, 4}, ErrBadPadding, 0},
		{"padding zero", []byte{0, 0, 2, 4}, ErrBadPadding, 0},
		{"next header 255", []byte{1, 2, 2, ProtoReserved}, ErrBadNextHeader, 0},
	}
	for _, tc := range espTransforms {
		for _, tt := range tests {
			out, in := newPair(t, tc, true)
			hl, icv := out.HeaderLen(), out.params.icvLen
			textLen := 16 // a multiple of 4 and of the AES block
			pkt := make([]byte, hl+textLen+icv)
			binary.BigEndian.PutUint32(pkt, 0x1001)
			binary.BigEndian.PutUint32(pkt[4:], 1)
			copy(pkt[hl+textLen-len(tt.trailer):], tt.trailer)
			s, _ := out.getScratch()
			out.protect(s, pkt, hl+textLen, 1, nil)
			out.putScratch(s)
			for try := range 2 {
				got, nh, err := in.Open(bytes.Clone(pkt))
				if tt.want == nil {
					if err != nil || len(got) != tt.payload || nh != tt.trailer[3] {
						t.Fatalf("%s %s: Open = %d bytes nh %d, %v", tc.name, tt.name, len(got), nh, err)
					}
					break
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("%s %s (try %d): Open = %v, want %v", tc.name, tt.name, try, err, tt.want)
				}
			}
		}
	}
}

func TestWrongUse(t *testing.T) {
	out, in := newPair(t, espTransforms[0], false)
	ahOut, ahIn := newPair(t, ahTransforms[0], false)
	buf := make([]byte, 200)
	pkt := sealPayload(t, out, []byte("x"), 17)
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"Seal inbound", second(in.Seal(buf, 64, 10, 17)), ErrWrongDirection},
		{"Open outbound", third(out.Open(pkt)), ErrWrongDirection},
		{"Seal AH SA", second(ahOut.Seal(buf, 64, 10, 17)), ErrWrongProtocol},
		{"Open AH SA", third(ahIn.Open(pkt)), ErrWrongProtocol},
		{"SealAH ESP SA", second(out.SealAH(buf, 64, 10)), ErrWrongProtocol},
		{"OpenAH ESP SA", third(in.OpenAH(pkt)), ErrWrongProtocol},
		{"no headroom", second(out.Seal(buf, 15, 10, 17)), ErrNoRoom},
		{"no tailroom", second(out.Seal(buf, 64, 119, 17)), ErrNoRoom}, // 64+119+3+2+16 > 200
		{"negative length", second(out.Seal(buf, 64, -1, 17)), ErrNoRoom},
		{"past the end", second(out.Seal(buf, 300, 1, 17)), ErrNoRoom},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if out.LastSeq() != 1 {
		t.Errorf("refused Seals consumed sequence numbers: %d", out.LastSeq())
	}
	// Exactly enough room works: 64 + 118 + 0 + 2 + 16 = 200.
	if p, err := out.Seal(buf, 48, 118+16, 17); err != nil || len(p) != 200-32 {
		t.Errorf("Seal with exact headroom and tailroom: %d bytes, %v", len(p), err)
	}
	other := mustSA(t, Config{Protocol: ProtocolESP, Direction: Inbound, SPI: 0x1002, Encryption: EncryptionAESGCM128, EncryptionKey: testKey(20, 0x11)})
	if _, _, err := other.Open(pkt); !errors.Is(err, ErrSPIMismatch) {
		t.Errorf("Open with another SPI: %v", err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// TestConcurrentSealOpen seals from many goroutines on one SA, then opens
// every packet twice from many goroutines: each sequence number is used
// once, and each packet opens exactly once.
func TestConcurrentSealOpen(t *testing.T) {
	goroutineLeakCheck(t)
	const workers, each = 8, 300
	for _, tc := range []transformCase{espTransforms[0], espTransforms[9], espTransforms[12]} {
		oc, ic := configPair(tc, 0x1001, true)
		ic.ReplayWindow = workers * each
		out, in := mustSA(t, oc), mustSA(t, ic)
		pkts := make([][][]byte, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					buf := make([]byte, 64+2+64)
					buf[64], buf[65] = byte(w), byte(i)
					p, err := out.Seal(buf, 64, 2, ProtoUDP)
					if err != nil {
						t.Errorf("Seal: %v", err)
						return
					}
					pkts[w] = append(pkts[w], p)
				}
			})
		}
		wg.Wait()
		seen := map[uint32]bool{}
		for _, ps := range pkts {
			for _, p := range ps {
				seq := ESP(p).SequenceNumber()
				if seen[seq] {
					t.Fatalf("%s: sequence number %d used twice", tc.name, seq)
				}
				seen[seq] = true
			}
		}
		if len(seen) != workers*each || out.LastSeq() != workers*each {
			t.Fatalf("%s: %d numbers, last %d", tc.name, len(seen), out.LastSeq())
		}

		var mu sync.Mutex
		opened := map[uint32]int{}
		for w := range workers {
			for copyIndex := range 2 {
				wg.Go(func() {
					for _, p := range pkts[(w+copyIndex)%workers] {
						if _, _, err := in.Open(bytes.Clone(p)); err == nil {
							mu.Lock()
							opened[ESP(p).SequenceNumber()]++
							mu.Unlock()
						} else if !errors.Is(err, ErrReplay) {
							t.Errorf("%s: Open: %v", tc.name, err)
						}
					}
				})
			}
		}
		wg.Wait()
		if len(opened) != workers*each {
			t.Fatalf("%s: %d packets opened, want %d", tc.name, len(opened), workers*each)
		}
		for seq, n := range opened {
			if n != 1 {
				t.Fatalf("%s: packet %d opened %d times", tc.name, seq, n)
			}
		}
	}
}
