package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// onesSum is an independent RFC 1071 sum: a correct checksum makes the
// folded sum of the whole header (or pseudo-header and datagram) 0xffff.
func onesSum(parts ...[]byte) uint16 {
	var sum uint32
	for _, p := range parts {
		for i := 0; i < len(p); i += 2 {
			w := uint32(p[i]) << 8
			if i+1 < len(p) {
				w |= uint32(p[i+1])
			}
			sum += w
			sum = sum&0xffff + sum>>16
		}
	}
	return uint16(sum)
}

func TestPrependIPv4(t *testing.T) {
	buf := make([]byte, 20+100)
	pkt, err := PrependIPv4(buf, 20, 100, &IPv4Fields{TOS: 0x10, ID: 0xbeef, DontFragment: true, Protocol: ProtoESP, Src: addr4a, Dst: netip.MustParseAddr("::ffff:198.51.100.2")})
	if err != nil {
		t.Fatal(err)
	}
	want := "45100078beef4000" + "4032" + "0000" + "c0000201" + "c6336402"
	h := IPv4(pkt)
	got := bytes.Clone(pkt[:20])
	got[10], got[11] = 0, 0
	if d := diffBytes(got, unhex(t, want)); d != "" {
		t.Errorf("header: %s", d)
	}
	if onesSum(pkt[:20]) != 0xffff || h.CalculateChecksum() != h.Checksum() {
		t.Errorf("checksum %#x does not verify", h.Checksum())
	}
	if !h.IsValid(len(pkt)) || h.TTL() != DefaultTTL || h.Source() != addr4a || h.Destination() != addr4b || h.IsFragment() {
		t.Errorf("accessors: valid %v ttl %d %v %v", h.IsValid(len(pkt)), h.TTL(), h.Source(), h.Destination())
	}
	for _, tt := range []struct {
		name      string
		buf       []byte
		off, n    int
		src, dst  netip.Addr
		wantError error
	}{
		{"IPv6 source", make([]byte, 50), 20, 10, addr6a, addr4b, ErrAddressFamily},
		{"invalid", make([]byte, 50), 20, 10, netip.Addr{}, addr4b, ErrAddressFamily},
		{"no headroom", make([]byte, 50), 19, 10, addr4a, addr4b, ErrNoRoom},
		{"past the end", make([]byte, 50), 20, 31, addr4a, addr4b, ErrNoRoom},
		{"too big", make([]byte, 70000), 20, 65516, addr4a, addr4b, ErrTooBig},
	} {
		if _, err := PrependIPv4(tt.buf, tt.off, tt.n, &IPv4Fields{Src: tt.src, Dst: tt.dst}); !errors.Is(err, tt.wantError) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantError)
		}
	}
	if _, err := PrependIPv4(make([]byte, 70000), 20, 65515, &IPv4Fields{Src: addr4a, Dst: addr4b}); err != nil {
		t.Errorf("largest packet: %v", err)
	}
}

func TestPrependIPv6(t *testing.T) {
	buf := make([]byte, 40+8)
	pkt, err := PrependIPv6(buf, 40, 8, &IPv6Fields{TrafficClass: 0xab, FlowLabel: 0xfff12345, HopLimit: 3, NextHeader: ProtoESP, Src: addr6a, Dst: addr6b})
	if err != nil {
		t.Fatal(err)
	}
	want := "6ab12345" + "0008" + "32" + "03" + "20010db8000000000000000000000001" + "20010db8000100000000000000000002"
	if d := diffBytes(pkt[:40], unhex(t, want)); d != "" {
		t.Errorf("header: %s", d)
	}
	h := IPv6(pkt)
	if !h.IsValid(len(pkt)) || h.PayloadLength() != 8 || h.NextHeader() != ProtoESP || h.HopLimit() != 3 || h.Source() != addr6a || h.Destination() != addr6b {
		t.Errorf("accessors")
	}
	if h.IsValid(len(pkt) - 1) {
		t.Errorf("IsValid accepts a payload length past the packet")
	}
	p, _ := PrependIPv6(make([]byte, 40), 40, 0, &IPv6Fields{Src: addr6a, Dst: addr6b})
	if IPv6(p).HopLimit() != DefaultTTL {
		t.Errorf("default hop limit %d", IPv6(p).HopLimit())
	}
	for _, tt := range []struct {
		name     string
		off, n   int
		size     int
		src, dst netip.Addr
		want     error
	}{
		{"IPv4 source", 40, 0, 40, addr4a, addr6b, ErrAddressFamily},
		{"mapped destination", 40, 0, 40, addr6a, netip.MustParseAddr("::ffff:192.0.2.1"), ErrAddressFamily},
		{"no headroom", 39, 0, 40, addr6a, addr6b, ErrNoRoom},
		{"too big", 40, 65536, 40 + 65536, addr6a, addr6b, ErrTooBig},
	} {
		if _, err := PrependIPv6(make([]byte, tt.size), tt.off, tt.n, &IPv6Fields{Src: tt.src, Dst: tt.dst}); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseIPHeaders(t *testing.T) {
	v4 := testIPv4Packet(t, 10, nil)
	v4opts := testIPv4Packet(t, 10, optRouterAlert)
	v4frag := bytes.Clone(v4)
	binary.BigEndian.PutUint16(v4frag[ipv4FlagsFrag:], 0x0010) // offset 16
	v4mf := bytes.Clone(v4)
	v4mf[ipv4FlagsFrag] = 0x20
	v4ihl4 := bytes.Clone(v4)
	v4ihl4[0] = 0x44
	v4long := bytes.Clone(v4)
	binary.BigEndian.PutUint16(v4long[ipv4TotalLen:], uint16(len(v4)+1))
	v4padded := append(bytes.Clone(v4), 0, 0, 0)

	v6 := testIPv6Packet(t, 10)
	v6chain := testIPv6Packet(t, 10, hbhJumboish, destOptsMutable, []byte{ProtoRouting, 0, 0, 4, 0, 0, 0, 0, 0}, []byte{ProtoFragment, 0, 0, 0, 0, 0, 0, 0, 7})
	v6trunc := testIPv6Packet(t, 0, hbhJumboish)[:IPv6FixedHeaderSize+4]
	binary.BigEndian.PutUint16(v6trunc[ipv6PayloadLen:], 4)
	v6overrun := testIPv6Packet(t, 0, hbhJumboish)
	v6overrun[IPv6FixedHeaderSize+1] = 5 // 48 bytes of options in a 16-byte payload
	v6long := bytes.Clone(v6)
	binary.BigEndian.PutUint16(v6long[ipv6PayloadLen:], 1000)

	tests := []struct {
		name string
		pkt  []byte
		want IPHeaders
		err  error
	}{
		{"IPv4", v4, IPHeaders{Version: 4, Len: 20, PacketLen: 38, Protocol: ProtoUDP, protoOff: 9}, nil},
		{"IPv4 options", v4opts, IPHeaders{Version: 4, Len: 24, PacketLen: 42, Protocol: ProtoUDP, protoOff: 9}, nil},
		{"IPv4 link padding", v4padded, IPHeaders{Version: 4, Len: 20, PacketLen: 38, Protocol: ProtoUDP, protoOff: 9}, nil},
		{"IPv4 fragment", v4frag, IPHeaders{Version: 4, Len: 20, PacketLen: 38, Protocol: ProtoUDP, Fragment: true, protoOff: 9}, nil},
		{"IPv4 more fragments", v4mf, IPHeaders{Version: 4, Len: 20, PacketLen: 38, Protocol: ProtoUDP, Fragment: true, protoOff: 9}, nil},
		{"IPv4 IHL 4", v4ihl4, IPHeaders{}, ErrBadIPHeader},
		{"IPv4 total length past the end", v4long, IPHeaders{}, ErrBadIPHeader},
		{"IPv4 truncated header", v4[:19], IPHeaders{}, ErrBadIPHeader},
		{"IPv6", v6, IPHeaders{Version: 6, Len: 40, PacketLen: 58, Protocol: ProtoUDP, protoOff: 6}, nil},
		{"IPv6 chain", v6chain, IPHeaders{Version: 6, Len: 72, PacketLen: 90, Protocol: ProtoUDP, Fragment: true, Routing: true, protoOff: 64}, nil},
		{"IPv6 truncated extension", v6trunc, IPHeaders{}, ErrBadIPHeader},
		{"IPv6 extension overrun", v6overrun, IPHeaders{}, ErrBadIPHeader},
		{"IPv6 payload length past the end", v6long, IPHeaders{}, ErrBadIPHeader},
		{"IPv6 truncated header", v6[:39], IPHeaders{}, ErrBadIPHeader},
		{"empty", nil, IPHeaders{}, ErrBadIPHeader},
		{"version 5", []byte{0x55, 0, 0, 0}, IPHeaders{}, ErrBadIPHeader},
	}
	for _, tt := range tests {
		got, err := ParseIPHeaders(tt.pkt)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestRewriteIPHeaders(t *testing.T) {
	v6 := testIPv6Packet(t, 10, hbhJumboish)
	h, _ := ParseIPHeaders(v6)
	grown := append(bytes.Clone(v6), make([]byte, 24)...)
	if err := RewriteIPHeaders(grown, h, ProtoESP); err != nil {
		t.Fatal(err)
	}
	if IPv6(grown).PayloadLength() != uint16(len(grown)-40) || grown[40] != ProtoESP || IPv6(grown).NextHeader() != ProtoHopByHop {
		t.Errorf("IPv6 rewrite: payload length %d, HBH next header %d", IPv6(grown).PayloadLength(), grown[40])
	}
	if err := RewriteIPHeaders(make([]byte, 65536), IPHeaders{Version: 4, Len: 20, protoOff: 9}, 50); !errors.Is(err, ErrTooBig) {
		t.Errorf("IPv4 too big: %v", err)
	}
	if err := RewriteIPHeaders(make([]byte, 40+65536), IPHeaders{Version: 6, Len: 40, protoOff: 6}, 50); !errors.Is(err, ErrTooBig) {
		t.Errorf("IPv6 too big: %v", err)
	}
	if err := RewriteIPHeaders(make([]byte, 10), IPHeaders{Version: 4, Len: 20, protoOff: 9}, 50); !errors.Is(err, ErrBadIPHeader) {
		t.Errorf("short packet: %v", err)
	}
	if err := RewriteIPHeaders(make([]byte, 40), IPHeaders{}, 50); !errors.Is(err, ErrBadIPHeader) {
		t.Errorf("zero IPHeaders: %v", err)
	}
}

func TestPrependUDP(t *testing.T) {
	payload := []byte("ESP packet bytes...")
	for _, tt := range []struct {
		name     string
		src, dst netip.AddrPort
	}{
		{"IPv4", netip.AddrPortFrom(addr4a, NATTPort), netip.AddrPortFrom(addr4b, 31000)},
		{"IPv6", netip.AddrPortFrom(addr6a, NATTPort), netip.AddrPortFrom(addr6b, NATTPort)},
	} {
		buf := make([]byte, 8+len(payload))
		copy(buf[8:], payload)
		d, err := PrependUDP(buf, 8, len(payload), tt.src, tt.dst)
		if err != nil {
			t.Fatal(err)
		}
		u := UDP(d)
		if !u.IsValid(len(d)) || u.SourcePort() != tt.src.Port() || u.DestinationPort() != tt.dst.Port() || int(u.Length()) != len(d) || !bytes.Equal(u.Payload(), payload) {
			t.Errorf("%s: header %x", tt.name, d[:8])
		}
		if tt.src.Addr().Is4() {
			if u.Checksum() != 0 {
				t.Errorf("IPv4 checksum %#x, want 0 (RFC 3948 §2.1)", u.Checksum())
			}
			continue
		}
		pseudo := append(append(tt.src.Addr().AsSlice(), tt.dst.Addr().AsSlice()...), 0, 0, byte(len(d)>>8), byte(len(d)), 0, 0, 0, ProtoUDP)
		if u.Checksum() == 0 || onesSum(pseudo, d) != 0xffff {
			t.Errorf("IPv6 checksum %#x does not verify", u.Checksum())
		}
	}
	if _, err := PrependUDP(make([]byte, 20), 8, 4, netip.AddrPortFrom(addr4a, 1), netip.AddrPortFrom(addr6a, 1)); !errors.Is(err, ErrAddressFamily) {
		t.Errorf("mixed families: %v", err)
	}
	if _, err := PrependUDP(make([]byte, 20), 7, 4, netip.AddrPortFrom(addr4a, 1), netip.AddrPortFrom(addr4b, 1)); !errors.Is(err, ErrNoRoom) {
		t.Errorf("no room: %v", err)
	}
	if _, err := PrependUDP(make([]byte, 70000), 8, 65528, netip.AddrPortFrom(addr4a, 1), netip.AddrPortFrom(addr4b, 1)); !errors.Is(err, ErrTooBig) {
		t.Errorf("too big: %v", err)
	}
	if UDP(make([]byte, 7)).IsValid(7) || UDP([]byte{0, 0, 0, 0, 0, 7, 0, 0}).IsValid(8) || UDP([]byte{0, 0, 0, 0, 0, 9, 0, 0}).IsValid(8) {
		t.Errorf("UDP.IsValid accepts a bad header")
	}
}

func TestClassifyUDP(t *testing.T) {
	esp := []byte{0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xaa}
	tests := []struct {
		name     string
		payload  []byte
		want     UDPPayloadKind
		wantBody []byte
	}{
		{"keepalive", []byte{0xff}, UDPKeepalive, nil},
		{"one other byte", []byte{0xfe}, UDPInvalid, nil},
		{"empty", nil, UDPInvalid, nil},
		{"IKE", []byte{0, 0, 0, 0, 0x11, 0x22}, UDPIKE, []byte{0x11, 0x22}},
		{"bare marker", []byte{0, 0, 0, 0}, UDPIKE, []byte{}},
		{"ESP", esp, UDPESP, esp},
		{"ESP header only", esp[:8], UDPESP, esp[:8]},
		{"too short for ESP", esp[:7], UDPInvalid, nil},
		{"two 0xff", []byte{0xff, 0xff}, UDPInvalid, nil},
	}
	for _, tt := range tests {
		kind, body := ClassifyUDP(tt.payload)
		if kind != tt.want || !bytes.Equal(body, tt.wantBody) || (body == nil) != (tt.wantBody == nil) {
			t.Errorf("%s: %v %x, want %v %x", tt.name, kind, body, tt.want, tt.wantBody)
		}
	}
}

func TestNATKeepaliveAndMarker(t *testing.T) {
	for _, pair := range [][2]netip.AddrPort{
		{netip.AddrPortFrom(addr4a, NATTPort), netip.AddrPortFrom(addr4b, NATTPort)},
		{netip.AddrPortFrom(addr6a, NATTPort), netip.AddrPortFrom(addr6b, 40123)},
	} {
		buf := make([]byte, 64)
		pkt, err := BuildNATKeepalive(buf, 48, pair[0], pair[1], 0)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseIPHeaders(pkt)
		if err != nil || h.Protocol != ProtoUDP || h.PacketLen != len(pkt) {
			t.Fatalf("keepalive headers %+v %v", h, err)
		}
		u := UDP(pkt[h.Len:])
		if !u.IsValid(len(pkt)-h.Len) || u.SourcePort() != pair[0].Port() || u.DestinationPort() != pair[1].Port() {
			t.Fatalf("keepalive UDP %x", pkt[h.Len:])
		}
		if kind, _ := ClassifyUDP(u.Payload()); kind != UDPKeepalive {
			t.Errorf("keepalive classified as %v", kind)
		}
	}
	if _, err := BuildNATKeepalive(make([]byte, 64), 20, netip.AddrPortFrom(addr6a, 1), netip.AddrPortFrom(addr6b, 1), 0); !errors.Is(err, ErrNoRoom) {
		t.Errorf("keepalive without headroom: %v", err)
	}
	if _, err := BuildNATKeepalive(make([]byte, 64), 64, netip.AddrPortFrom(addr4a, 1), netip.AddrPortFrom(addr4b, 1), 0); !errors.Is(err, ErrNoRoom) {
		t.Errorf("keepalive past the buffer: %v", err)
	}

	buf := make([]byte, 4+3)
	copy(buf, []byte{9, 9, 9, 9, 'I', 'K', 'E'})
	m, err := PrependNonESPMarker(buf, 4, 3)
	if err != nil || !bytes.Equal(m, []byte{0, 0, 0, 0, 'I', 'K', 'E'}) {
		t.Errorf("PrependNonESPMarker = %x, %v", m, err)
	}
	if kind, body := ClassifyUDP(m); kind != UDPIKE || string(body) != "IKE" {
		t.Errorf("marked IKE classified as %v %q", kind, body)
	}
	if _, err := PrependNonESPMarker(buf, 3, 3); !errors.Is(err, ErrNoRoom) {
		t.Errorf("marker without room: %v", err)
	}
}
