package userspace

import (
	"net/netip"
	"testing"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/wfp"
)

// The inbound path without sockets or a device: an offline backend with
// one inbound SA, fed messages as a reader goroutine receives them.

var (
	fuzzESPKey = wfp.Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0xca, 0xfe, 0xba, 0xbe}
	fuzzAHKey  = wfp.Key{21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40}
)

const fuzzSPI = 0x1001

// inboundKind is how a message arrives.
type inboundKind uint8

const (
	kindRaw4 inboundKind = iota // raw IPv4 ESP socket: the IP header included
	kindRaw6                    // raw IPv6 ESP socket: ESP only
	kindUDP                     // ESP in UDP: ESP only
	kindAH4                     // raw IPv4 AH socket, ESP+AH bundle
	kindCount
)

// fuzzSA returns the inbound SA description for a kind: transport mode
// between addrB and addrA (A receives), tunnel mode for kindRaw6.
func fuzzSA(k inboundKind) *datapath.SA {
	local, remote := addrA4, addrB4
	if k == kindRaw6 {
		local, remote = addrA6, addrB6
	}
	v := conformance.IPVersionOf(local)
	bundle := conformance.GCMBundle(v, fuzzSPI, fuzzESPKey)
	if k == kindAH4 {
		bundle = conformance.Bundle(v, 0, conformance.GCMSA(fuzzSPI, fuzzESPKey), conformance.AHSA(fuzzSPI, fuzzAHKey))
	}
	var f *wfp.FwpmFilter0
	var traffic wfp.IPsecTraffic1
	if k == kindRaw6 {
		f = conformance.TunnelFilter(wfp.DirectionInbound, subnetA6, subnetB6)
		f.FilterID = 9
		traffic = conformance.TunnelTraffic(local, remote, 9)
	} else {
		f = conformance.TransportFilter(wfp.DirectionInbound, local, remote)
		f.FilterID = 9
		traffic = conformance.TransportTraffic(local, remote, 9)
	}
	sa := &datapath.SA{ID: datapath.SAID{Context: 1, Direction: wfp.DirectionInbound}, Traffic: traffic, Filter: f, Bundle: bundle}
	if k == kindUDP {
		sa.UDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4500}
	}
	return sa
}

// fuzzReceiver returns an inbound worker of an offline backend holding the
// SA of kind k.
func fuzzReceiver(tb testing.TB, k inboundKind) *inbound {
	tb.Helper()
	b := offline(tb)
	d, err := b.newBundle(fuzzSA(k))
	if err != nil {
		tb.Fatal(err)
	}
	b.insertLocked(d)
	s := &sock{v6: k == kindRaw6, udp: k == kindUDP}
	proto := uint8(protoESP)
	if k == kindAH4 {
		proto = protoAH
	}
	return newInbound(b, s, proto, 1)
}

// fuzzSender seals what the peer of kind k sends: an echo request, as the
// message the receiver's socket would return.
func fuzzSender(tb testing.TB, k inboundKind) func() []byte {
	tb.Helper()
	newOut := func(p esp.Protocol, integ esp.Integrity, enc esp.Encryption, ek, ik wfp.Key) *esp.SA {
		sa, err := esp.NewSA(esp.Config{Protocol: p, Direction: esp.Outbound, SPI: fuzzSPI, Encryption: enc, Integrity: integ, EncryptionKey: esp.Key(ek), IntegrityKey: esp.Key(ik)})
		if err != nil {
			tb.Fatal(err)
		}
		return sa
	}
	espSA := newOut(esp.ProtocolESP, esp.IntegrityNone, esp.EncryptionAESGCM128, fuzzESPKey, nil)
	ahSA := newOut(esp.ProtocolAH, esp.IntegrityHMACSHA1, esp.EncryptionNull, nil, fuzzAHKey)
	return func() []byte {
		buf := make([]byte, 256+1500)
		const off = 192
		var payload []byte
		var nh uint8
		switch k {
		case kindRaw6:
			payload = ipPacket(innerB6, innerA6, protoICMPv6, icmpEcho(1, 1))
			nh = esp.ProtoIPv6
		default:
			payload, nh = icmpEcho(1, uint16(espSA.LastSeq())), protoICMP
		}
		copy(buf[off:], payload)
		e, err := espSA.Seal(buf, off, len(payload), nh)
		if err != nil {
			tb.Fatal(err)
		}
		start := off - espSA.HeaderLen()
		switch k {
		case kindRaw6, kindUDP:
			return e
		case kindRaw4:
			pkt, _ := esp.PrependIPv4(buf, start, len(e), &esp.IPv4Fields{Protocol: esp.ProtoESP, Src: addrB4, Dst: addrA4})
			return pkt
		}
		pkt, _ := esp.PrependIPv4(buf, start, len(e), &esp.IPv4Fields{Protocol: esp.ProtoESP, Src: addrB4, Dst: addrA4})
		pkt, err = ahSA.SealAH(buf, start-esp.IPv4MinimumSize, len(pkt))
		if err != nil {
			tb.Fatal(err)
		}
		return pkt
	}
}

// ipPacket builds an IPv4 or IPv6 packet around payload.
func ipPacket(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	buf := make([]byte, 64+len(payload))
	copy(buf[64:], payload)
	if src.Is4() {
		p, _ := esp.PrependIPv4(buf, 64, len(payload), &esp.IPv4Fields{Protocol: proto, Src: src, Dst: dst})
		return p
	}
	p, _ := esp.PrependIPv6(buf, 64, len(payload), &esp.IPv6Fields{NextHeader: proto, Src: src, Dst: dst})
	return p
}

// deliverOne hands the message msg to in as its socket would and returns
// the packets it queued for the TUN device. Each must leave room for the
// virtio-net header in front of it, inside its region.
func deliverOne(tb testing.TB, in *inbound, msg []byte) [][]byte {
	tb.Helper()
	buf := in.cur.bufs[0]
	copy(buf[headroom:], msg)
	in.cur.pkts = in.cur.pkts[:0]
	in.base = 0
	src := netip.AddrPortFrom(addrB4, 4500)
	dst := addrA4
	if in.s.v6 {
		src, dst = netip.AddrPortFrom(addrB6, 0), addrA6
	}
	in.message(buf, headroom, len(msg), src, dst)
	var out [][]byte
	for _, p := range in.cur.pkts {
		if p.start < vnetHdrLen || p.end > p.limit || p.limit > len(buf) {
			tb.Fatalf("queued %+v in a region of %d bytes", p, len(buf))
		}
		out = append(out, in.cur.arena[p.start:p.end])
	}
	return out
}

func TestInboundOffline(t *testing.T) {
	for k := range kindCount {
		t.Run(map[inboundKind]string{kindRaw4: "raw4", kindRaw6: "raw6-tunnel", kindUDP: "udp", kindAH4: "ah4+esp"}[k], func(t *testing.T) {
			in := fuzzReceiver(t, k)
			send := fuzzSender(t, k)
			msg := send()
			out := deliverOne(t, in, msg)
			if len(out) != 1 {
				t.Fatalf("not delivered: %+v", in.b.Stats())
			}
			pkt := out[0]
			var fl flow
			if _, ok := parseFlow(pkt, false, &fl); !ok || fl.proto != protoICMP && fl.proto != protoICMPv6 {
				t.Fatalf("delivered %x", pkt)
			}
			if got := deliverOne(t, in, msg); len(got) != 0 {
				t.Fatal("a replay was delivered")
			}
		})
	}
}

// FuzzInbound feeds arbitrary messages to the inbound path of every kind
// of socket: nothing may panic, and whatever is queued for the TUN device
// must be a well-formed packet inside the receive buffer that matches the
// SA's selectors. The seeds are valid packets of each kind, so the fuzzer
// starts past the ICV check.
func FuzzInbound(f *testing.F) {
	for k := range kindCount {
		send := fuzzSender(f, k)
		f.Add(send(), uint8(k))
	}
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3}, uint8(kindUDP))
	f.Add([]byte{0xff}, uint8(kindUDP))
	f.Fuzz(func(t *testing.T, msg []byte, which uint8) {
		if len(msg) == 0 || len(msg) > 65535 {
			return
		}
		k := inboundKind(which % uint8(kindCount))
		in := fuzzReceiver(t, k)
		for _, q := range deliverOne(t, in, msg) {
			var fl flow
			h, ok := parseFlow(q, false, &fl)
			if !ok || h.PacketLen != len(q) {
				t.Fatalf("queued a malformed packet %x", q)
			}
			d := in.b.tab.all.Get(datapath.SAID{Context: 1, Direction: wfp.DirectionInbound})
			if !d.matchesInbound(&fl) {
				t.Fatalf("queued a packet outside the selectors: %+v", fl)
			}
		}
	})
}

func TestUDPIgnoresIKEAndKeepalives(t *testing.T) {
	in := fuzzReceiver(t, kindUDP)
	ike := append([]byte{0, 0, 0, 0}, make([]byte, 28)...) // Non-ESP Marker, then an IKE header
	for _, msg := range [][]byte{ike, {esp.NATKeepalive}} {
		if got := deliverOne(t, in, msg); len(got) != 0 {
			t.Fatalf("delivered %x", msg)
		}
	}
	if st := in.b.Stats(); st != (Stats{}) {
		t.Fatalf("IKE and keepalives counted as drops: %+v", st)
	}
	if got := deliverOne(t, in, []byte{1, 2, 3}); len(got) != 0 || in.b.Stats().InUDPInvalid != 1 {
		t.Fatalf("a 3-byte datagram: %+v", in.b.Stats())
	}
}
