package esp

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzTransforms are the transforms the fuzz targets pick from with a
// selector byte.
var fuzzTransforms = append(append([]transformCase(nil), espTransforms...), ahTransforms...)

func fuzzPick(which uint8, proto Protocol) transformCase {
	var pool []transformCase
	for _, tc := range fuzzTransforms {
		if tc.proto == proto {
			pool = append(pool, tc)
		}
	}
	return pool[int(which)%len(pool)]
}

// FuzzOpen feeds arbitrary bytes to Open on a fresh inbound SA of every
// ESP transform: no input may panic, and what opens must lie inside the
// input. The seed corpus holds valid packets of each transform, which do
// open, so the fuzzer starts past the ICV check.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte, which uint8, esn bool) {
		tc := fuzzPick(which, ProtocolESP)
		_, in := newPair(t, tc, esn)
		payload, _, err := in.Open(pkt)
		if err == nil && (len(payload) > len(pkt) || cap(payload) > cap(pkt)) {
			t.Fatalf("payload of %d bytes from a %d-byte packet", len(payload), len(pkt))
		}
	})
}

// FuzzSealOpen seals an arbitrary payload, flips at most one bit, and
// opens: an untouched packet must give back the payload and next header,
// a touched one must fail.
func FuzzSealOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte, nh uint8, which uint8, esn bool, flip uint16) {
		if nh == ProtoReserved {
			nh = ProtoNoNext
		}
		tc := fuzzPick(which, ProtocolESP)
		out, in := newPair(t, tc, esn)
		pkt := sealPayload(t, out, payload, nh)
		touched := flip != 0 && int(flip-1)/8 < len(pkt)
		if touched {
			pkt[(flip-1)/8] ^= 1 << ((flip - 1) % 8)
		}
		got, gotNH, err := in.Open(pkt)
		switch {
		case touched && err == nil:
			t.Fatalf("%s: bit %d flipped and Open succeeded", tc.name, flip-1)
		case !touched && err != nil:
			t.Fatalf("%s: Open: %v", tc.name, err)
		case !touched && (!bytes.Equal(got, payload) || gotNH != nh):
			t.Fatalf("%s: round trip gave nh %d %x, want nh %d %x", tc.name, gotNH, got, nh, payload)
		}
	})
}

// FuzzDecap runs the whole receive path of tunnel mode on arbitrary bytes:
// IP header chain, UDP encapsulation and classification, ESP.
func FuzzDecap(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte, which uint8) {
		tc := fuzzPick(which, ProtocolESP)
		_, in := newPair(t, tc, which&0x80 != 0)
		_, _, _ = tunnelOpen(in, pkt)
	})
}

// FuzzParseIPHeaders checks the header parser's promises on arbitrary
// bytes, and that the transport-mode rewrite never panics on what it
// accepts.
func FuzzParseIPHeaders(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte, proto uint8) {
		h, err := ParseIPHeaders(pkt)
		if err != nil {
			if !errors.Is(err, ErrBadIPHeader) {
				t.Fatalf("error outside the set: %v", err)
			}
			return
		}
		if h.Len > h.PacketLen || h.PacketLen > len(pkt) || h.protoOff >= h.Len || (h.Version != 4 && h.Version != 6) {
			t.Fatalf("inconsistent %+v for %d bytes", h, len(pkt))
		}
		if pkt[h.protoOff] != h.Protocol && h.Version == 6 {
			t.Fatalf("protocol byte at %d is %d, not %d", h.protoOff, pkt[h.protoOff], h.Protocol)
		}
		p := bytes.Clone(pkt[:h.PacketLen])
		if err := RewriteIPHeaders(p, h, proto); err != nil {
			t.Fatalf("RewriteIPHeaders on a parsed packet: %v", err)
		}
		// Re-parse, unless proto makes the chain continue (an IPv6
		// extension header announced where the payload is).
		if h.Version == 4 || !isIPv6ExtensionHeader(proto) {
			h2, err := ParseIPHeaders(p)
			if err != nil || h2.Protocol != proto || h2.Len != h.Len || h2.PacketLen != len(p) {
				t.Fatalf("after rewrite: %+v, %v", h2, err)
			}
		}
		if h.Version == 4 && IPv4(p).CalculateChecksum() != IPv4(p).Checksum() {
			t.Fatal("rewritten IPv4 checksum does not verify")
		}
		kind, body := ClassifyUDP(pkt[h.Len:])
		if kind == UDPInvalid && body != nil {
			t.Fatal("invalid UDP payload with a body")
		}
	})
}

// FuzzAH applies AH to arbitrary bytes taken as an IP packet and opens
// the result; separately it feeds the bytes to OpenAH. Nothing may panic;
// what SealAH accepts must open to the original packet (with the IPv4
// checksum recomputed).
func FuzzAH(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte, which uint8, esn bool) {
		tc := fuzzPick(which, ProtocolAH)
		out, in := newPair(t, tc, esn)
		_, _, _ = in.OpenAH(bytes.Clone(pkt))

		buf := make([]byte, 64+len(pkt))
		copy(buf[64:], pkt)
		sealed, err := out.SealAH(buf, 64, len(pkt))
		if err != nil {
			if !bytes.Equal(buf[64:], pkt) {
				t.Fatalf("failed SealAH (%v) changed the packet", err)
			}
			return
		}
		_, in2 := newPair(t, tc, esn)
		got, nh, err := in2.OpenAH(sealed)
		if err != nil {
			t.Fatalf("%s: OpenAH(SealAH(p)): %v", tc.name, err)
		}
		want := bytes.Clone(pkt)
		h, _ := ParseIPHeaders(want)
		if h.Version == 4 {
			IPv4(want).UpdateChecksum()
		}
		if nh != h.Protocol || !bytes.Equal(got, want) {
			t.Fatalf("%s: round trip nh %d, %s", tc.name, nh, diffBytes(got, want))
		}
	})
}
