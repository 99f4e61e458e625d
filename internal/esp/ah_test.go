package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// testIPv4Packet returns an IPv4/UDP packet with n payload bytes and the
// given options (padded to 4 bytes with End of Options List).
func testIPv4Packet(tb testing.TB, n int, options []byte) []byte {
	tb.Helper()
	for len(options)%4 != 0 {
		options = append(options, 0)
	}
	hl := IPv4MinimumSize + len(options)
	pkt := make([]byte, hl+UDPHeaderSize+n)
	ip := IPv4(pkt)
	ip.encode(&IPv4Fields{TOS: 0x2e, ID: 0x1234, DontFragment: true, TTL: 17, Protocol: ProtoUDP, Src: addr4a, Dst: addr4b}, len(pkt))
	pkt[0] = 0x40 | byte(hl/4)
	copy(pkt[IPv4MinimumSize:], options)
	ip.UpdateChecksum()
	u := pkt[hl:]
	binary.BigEndian.PutUint16(u[0:], 1234)
	binary.BigEndian.PutUint16(u[2:], 5678)
	binary.BigEndian.PutUint16(u[4:], uint16(UDPHeaderSize+n))
	for i := range n {
		u[UDPHeaderSize+i] = byte(i)
	}
	return pkt
}

// testIPv6Packet returns an IPv6/UDP packet with n payload bytes behind
// the given extension headers, each given as (type, bytes), chained in
// order.
func testIPv6Packet(tb testing.TB, n int, exts ...[]byte) []byte {
	tb.Helper()
	var chain []byte
	types := []uint8{}
	for _, e := range exts {
		types = append(types, e[0])
		chain = append(chain, e[1:]...)
	}
	buf := make([]byte, IPv6FixedHeaderSize+len(chain)+UDPHeaderSize+n)
	first := uint8(ProtoUDP)
	if len(types) > 0 {
		first = types[0]
	}
	pkt, err := PrependIPv6(buf, IPv6FixedHeaderSize, len(buf)-IPv6FixedHeaderSize, &IPv6Fields{
		TrafficClass: 0xb8, FlowLabel: 0xabcde, HopLimit: 9, NextHeader: first, Src: addr6a, Dst: addr6b,
	})
	if err != nil {
		tb.Fatal(err)
	}
	off := IPv6FixedHeaderSize
	for i, e := range exts {
		b := pkt[off : off+len(e)-1]
		copy(b, e[1:])
		if i+1 < len(types) {
			b[0] = types[i+1]
		} else {
			b[0] = ProtoUDP
		}
		b[1] = byte(len(b)/8 - 1)
		off += len(b)
	}
	binary.BigEndian.PutUint16(pkt[off+4:], uint16(UDPHeaderSize+n))
	for i := range n {
		pkt[off+UDPHeaderSize+i] = byte(i * 3)
	}
	return pkt
}

// sealAHPacket applies sa to a copy of pkt and returns the AH packet.
func sealAHPacket(tb testing.TB, sa *SA, pkt []byte) []byte {
	tb.Helper()
	buf := make([]byte, 64+len(pkt))
	copy(buf[64:], pkt)
	out, err := sa.SealAH(buf, 64, len(pkt))
	if err != nil {
		tb.Fatalf("SealAH: %v", err)
	}
	return out
}

// Option encodings used below.
var (
	optRouterAlert  = []byte{0x94, 4, 0, 0}                            // immutable
	optRecordRoute  = []byte{0x07, 7, 4, 0, 0, 0, 0}                   // mutable
	optTimestamp    = []byte{0x44, 8, 5, 0, 0, 0, 0, 0}                // mutable
	optLooseRoute   = []byte{0x83, 7, 4, 192, 0, 2, 9}                 // refused
	hbhJumboish     = []byte{ProtoHopByHop, 0, 0, 0x05, 2, 0, 0, 1, 0} // router alert (immutable), Pad1, PadN... (8 bytes)
	destOptsMutable = []byte{ProtoDestOpts, 0, 0, 0x3e, 4, 1, 2, 3, 4} // type 0x3e: change bit set
)

func TestAHRoundTrip(t *testing.T) {
	packets := map[string][]byte{
		"IPv4":                  testIPv4Packet(t, 100, nil),
		"IPv4 empty":            testIPv4Packet(t, 0, nil),
		"IPv4 options":          testIPv4Packet(t, 50, bytes.Join([][]byte{optRouterAlert, optRecordRoute, {1}, optTimestamp}, nil)),
		"IPv6":                  testIPv6Packet(t, 100),
		"IPv6 hop-by-hop":       testIPv6Packet(t, 33, hbhJumboish),
		"IPv6 hbh and destopts": testIPv6Packet(t, 1400, hbhJumboish, destOptsMutable),
	}
	for _, tc := range ahTransforms {
		for _, esn := range []bool{false, true} {
			for name, orig := range packets {
				t.Run(fmt.Sprintf("%s/esn=%v/%s", tc.name, esn, name), func(t *testing.T) {
					out, in := newPair(t, tc, esn)
					h, err := ParseIPHeaders(orig)
					if err != nil {
						t.Fatal(err)
					}
					pkt := sealAHPacket(t, out, orig)
					l := out.AHLen(int(h.Version))
					if len(pkt) != len(orig)+l {
						t.Fatalf("AH packet %d bytes, want %d", len(pkt), len(orig)+l)
					}
					if l%4 != 0 || (h.Version == 6 && l%8 != 0) {
						t.Fatalf("AH length %d misaligned for IPv%d", l, h.Version)
					}
					ph, err := ParseIPHeaders(pkt)
					if err != nil || ph.Protocol != ProtoAH || ph.Len != h.Len || ph.PacketLen != len(pkt) {
						t.Fatalf("AH packet headers %+v, %v", ph, err)
					}
					if h.Version == 4 && IPv4(pkt).CalculateChecksum() != IPv4(pkt).Checksum() {
						t.Fatal("bad IPv4 checksum")
					}
					ah := AH(pkt[h.Len:])
					if !ah.IsValid() || ah.Length() != l || ah.NextHeader() != h.Protocol || ah.SPI() != 0x1001 || ah.SequenceNumber() != 1 || len(ah.ICV()) != l-AHHeaderSize {
						t.Fatalf("AH header %x", pkt[h.Len:h.Len+l])
					}

					// Mutable fields may change in transit.
					p := bytes.Clone(pkt)
					mutate(t, p, h)
					got, nh, err := in.OpenAH(p)
					if err != nil {
						t.Fatalf("OpenAH after mutable changes: %v", err)
					}
					if nh != h.Protocol {
						t.Fatalf("next header %d, want %d", nh, h.Protocol)
					}
					want := bytes.Clone(orig)
					mutate(t, want, h)
					if h.Version == 4 {
						IPv4(want).UpdateChecksum()
					}
					if d := diffBytes(got, want); d != "" {
						t.Fatalf("OpenAH result: %s", d)
					}
					if _, _, err := in.OpenAH(bytes.Clone(pkt)); !errors.Is(err, ErrReplay) {
						t.Fatalf("replayed AH packet: %v", err)
					}
				})
			}
		}
	}
}

// mutate changes, in place, every field of pkt that RFC 4302 calls
// mutable: what routers may do to an AH packet.
func mutate(tb testing.TB, pkt []byte, h IPHeaders) {
	tb.Helper()
	if h.Version == 4 {
		pkt[ipv4TOS] ^= 0xfc
		pkt[ipv4FlagsFrag] ^= 0x40 // DF
		pkt[ipv4TTL]--
		IPv4(pkt).UpdateChecksum()
		for i := IPv4MinimumSize; i < h.Len; {
			switch pkt[i] {
			case 0:
				return
			case 1:
				i++
				continue
			case 0x07, 0x44: // record route, timestamp: routers fill them in
				pkt[i+2] += 4
				pkt[i+3] = 0xaa
			}
			i += int(pkt[i+1])
		}
		return
	}
	pkt[0] ^= 0x0f // traffic class and flow label
	pkt[1] ^= 0xff
	pkt[3] ^= 0x5a
	pkt[ipv6HopLimit]--
	for off, nh := IPv6FixedHeaderSize, pkt[ipv6NextHeader]; off < h.Len; {
		n := (int(pkt[off+1]) + 1) * 8
		if nh == ProtoDestOpts || nh == ProtoHopByHop {
			for i := off + 2; i < off+n; {
				if pkt[i] == 0 {
					i++
					continue
				}
				if pkt[i]&0x20 != 0 && pkt[i+1] > 0 {
					pkt[i+2] ^= 0xff
				}
				i += 2 + int(pkt[i+1])
			}
		}
		nh, off = pkt[off], off+n
	}
}

// TestAHTamper flips every bit that RFC 4302 counts as immutable (or that
// AH itself carries) and expects the packet to be dropped.
func TestAHTamper(t *testing.T) {
	for _, tc := range ahTransforms {
		for _, orig := range [][]byte{testIPv4Packet(t, 20, optRouterAlert), testIPv6Packet(t, 20, hbhJumboish)} {
			out, in := newPair(t, tc, true)
			pkt := sealAHPacket(t, out, orig)
			h, _ := ParseIPHeaders(pkt)
			mutable := map[int]bool{}
			if h.Version == 4 {
				for _, i := range []int{ipv4TOS, ipv4FlagsFrag, ipv4FlagsFrag + 1, ipv4TTL, ipv4Checksum, ipv4Checksum + 1} {
					mutable[i] = true
				}
			} else {
				for _, i := range []int{0, 1, 2, 3, ipv6HopLimit} {
					mutable[i] = true
				}
			}
			for i := range pkt {
				for bit := range 8 {
					if mutable[i] && !(i == 0 && bit >= 4) {
						continue
					}
					p := bytes.Clone(pkt)
					p[i] ^= 1 << bit
					if _, _, err := in.OpenAH(p); err == nil {
						t.Fatalf("%s IPv%d: flipping bit %d of byte %d went unnoticed", tc.name, h.Version, bit, i)
					}
				}
			}
			for l := range len(pkt) {
				if _, _, err := in.OpenAH(bytes.Clone(pkt[:l])); err == nil {
					t.Fatalf("%s: %d-byte prefix opened", tc.name, l)
				}
			}
			if _, _, err := in.OpenAH(pkt); err != nil {
				t.Fatalf("%s: untampered: %v", tc.name, err)
			}
		}
	}
}

func TestAHRefuses(t *testing.T) {
	out, in := newPair(t, ahTransforms[1], false)
	frag := testIPv4Packet(t, 20, nil)
	frag[ipv4FlagsFrag] |= 0x20 // MF
	IPv4(frag).UpdateChecksum()
	fragHdr := []byte{ProtoFragment, 0, 0, 0, 1, 0, 0, 0, 1} // offset 0, M=1
	routing := []byte{ProtoRouting, 0, 0, 4, 0, 0, 0, 0, 0}  // segment routing type 4, nothing left
	badOpt := testIPv4Packet(t, 20, []byte{0x44, 40, 5})     // length past the header
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"IPv4 fragment", frag, ErrFragment},
		{"IPv6 fragment header", testIPv6Packet(t, 20, fragHdr), ErrFragment},
		{"IPv6 routing header", testIPv6Packet(t, 20, routing), ErrSourceRoute},
		{"IPv4 loose source route", testIPv4Packet(t, 20, optLooseRoute), ErrSourceRoute},
		{"bad IPv4 option", badOpt, ErrBadIPHeader},
		{"not IP", []byte{0x55, 1, 2, 3}, ErrBadIPHeader},
		{"IPv4 length past the end", testIPv4Packet(t, 20, nil)[:40], ErrBadIPHeader},
	}
	for _, tt := range tests {
		buf := make([]byte, 64+len(tt.pkt))
		copy(buf[64:], tt.pkt)
		if _, err := out.SealAH(buf, 64, len(tt.pkt)); !errors.Is(err, tt.want) {
			t.Errorf("SealAH(%s) = %v, want %v", tt.name, err, tt.want)
		}
		if d := diffBytes(buf[64:], tt.pkt); d != "" {
			t.Errorf("SealAH(%s) changed the buffer: %s", tt.name, d)
		}
		if _, _, err := in.OpenAH(tt.pkt); !errors.Is(err, tt.want) {
			t.Errorf("OpenAH(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	plain := testIPv4Packet(t, 20, nil)
	if _, _, err := in.OpenAH(plain); !errors.Is(err, ErrNotAH) {
		t.Errorf("OpenAH(UDP packet) = %v", err)
	}
	buf := make([]byte, 10+len(plain))
	copy(buf[10:], plain)
	if _, err := out.SealAH(buf, 10, len(plain)); !errors.Is(err, ErrNoRoom) {
		t.Errorf("SealAH without headroom = %v", err)
	}
	// An AH of the wrong length for the SA.
	sha1Out, _ := newPair(t, ahTransforms[0], false)
	if _, _, err := in.OpenAH(sealAHPacket(t, sha1Out, plain)); !errors.Is(err, ErrBadAHLength) {
		t.Errorf("OpenAH(HMAC-SHA1 packet) on an HMAC-SHA256 SA = %v", err)
	}
}

// TestAHLen checks the lengths RFC 4302 §2.6 and RFC 4543 §4 lead to.
func TestAHLen(t *testing.T) {
	want := map[string][2]int{
		"AH-HMAC-SHA1-96":     {24, 24},
		"AH-HMAC-SHA-256-128": {28, 32},
		"AH-AES-GMAC-128":     {36, 40},
		"AH-AES-GMAC-256":     {36, 40},
	}
	for _, tc := range ahTransforms {
		w, ok := want[tc.name]
		if !ok {
			continue
		}
		out, _ := newPair(t, tc, false)
		if got := [2]int{out.AHLen(4), out.AHLen(6)}; got != w {
			t.Errorf("%s: AHLen = %v, want %v", tc.name, got, w)
		}
	}
}

// TestAHESNAndLinkPadding: ESN high bits take part in the AH ICV, and bytes
// after the IP length (Ethernet padding) are ignored.
func TestAHESNAndLinkPadding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range ahTransforms {
		out, in := newPair(t, tc, true)
		out.seq.Store(1<<32 + 9)
		pkt := sealAHPacket(t, out, testIPv4Packet(t, 5, nil))
		padded := append(bytes.Clone(pkt), randomBytes(rng, 6)...)
		if _, _, err := in.OpenAH(bytes.Clone(padded)); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: epoch-0 receiver: %v", tc.name, err)
		}
		in.replay.Accept(1 << 32)
		got, _, err := in.OpenAH(padded)
		if err != nil || len(got) != len(pkt)-out.AHLen(4) {
			t.Errorf("%s: %d bytes, %v", tc.name, len(got), err)
		}
	}
}

// TestAHLinuxPadding: over IPv4, Linux pads AH to 64 bits unless its SA
// has the align4 flag (HMAC-SHA-256-128: 32 bytes where RFC 4302 has
// 28). The padding is part of the ICV as sent; OpenAH takes such packets
// and still refuses other lengths.
func TestAHLinuxPadding(t *testing.T) {
	tc := ahTransforms[1] // AH-HMAC-SHA-256-128
	oc, ic := configPair(tc, 0x1001, false)
	out, in := mustSA(t, oc), mustSA(t, ic)
	orig := testIPv4Packet(t, 21, nil)
	sealed := sealAHPacket(t, out, orig)
	const ahAt, rfcLen = IPv4MinimumSize, 28
	// repad returns sealed with its AH padded to ahLen bytes (the padding
	// 0xa5) and the ICV computed anew over it, as the sender would.
	repad := func(ahLen int) []byte {
		pad := bytes.Repeat([]byte{0xa5}, ahLen-rfcLen)
		p := slices.Concat(sealed[:ahAt+rfcLen], pad, sealed[ahAt+rfcLen:])
		p[ahAt+ahPayloadLen] = byte(ahLen/4 - 2)
		binary.BigEndian.PutUint16(p[ipv4TotalLen:], uint16(len(p)))
		IPv4(p).UpdateChecksum()
		z := bytes.Clone(p)
		z[1], z[6], z[7], z[8], z[10], z[11] = 0, 0, 0, 0, 0, 0 // TOS, flags, fragment offset, TTL, checksum
		clear(z[ahAt+AHHeaderSize : ahAt+AHHeaderSize+HMACSHA256ICVSize])
		m := newHMAC(tc.integ, oc.IntegrityKey)
		m.Write(z)
		copy(p[ahAt+AHHeaderSize:], m.Sum(nil)[:HMACSHA256ICVSize])
		return p
	}
	got, next, err := in.OpenAH(repad(32))
	if err != nil {
		t.Fatalf("OpenAH(AH padded to 64 bits) = %v", err)
	}
	if next != ProtoUDP || !bytes.Equal(got[IPv4MinimumSize:], orig[IPv4MinimumSize:]) {
		t.Errorf("OpenAH(AH padded to 64 bits) gave next header %d, payload %x; want %d, %x", next, got[IPv4MinimumSize:], ProtoUDP, orig[IPv4MinimumSize:])
	}
	if _, _, err := in.OpenAH(repad(36)); !errors.Is(err, ErrBadAHLength) {
		t.Errorf("OpenAH(AH of 36 bytes) = %v, want ErrBadAHLength", err)
	}
}
