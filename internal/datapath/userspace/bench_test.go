package userspace

import (
	"net/netip"
	"testing"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/wfp"
)

// The per-packet cost of the backend's own loops, without system calls:
// for an outbound packet the SPD lookup, SA choice, lifetime accounting,
// ESP and the outer header, queued for sendmmsg; for an inbound one the
// SPI lookup, replay check, ICV, decryption, header rebuild, selector
// check and accounting, queued for the TUN device. 1400-byte packets.

const benchSize = 1400

type benchCase struct {
	name   string
	tunnel bool
	bundle func(spi uint32) *wfp.IPsecSABundle1
}

var benchCases = []benchCase{
	{"transport-gcm128", false, func(spi uint32) *wfp.IPsecSABundle1 {
		return conformance.GCMBundle(wfp.IPVersionV4, spi, fuzzESPKey)
	}},
	{"tunnel-gcm128", true, func(spi uint32) *wfp.IPsecSABundle1 {
		return conformance.GCMBundle(wfp.IPVersionV4, spi, fuzzESPKey)
	}},
	{"tunnel-cbc128-sha256", true, func(spi uint32) *wfp.IPsecSABundle1 {
		return conformance.CBCBundle(wfp.IPVersionV4, spi, fuzzESPKey[:16], append(append(wfp.Key{}, fuzzESPKey...), fuzzAHKey[:12]...))
	}},
}

// benchSA describes one direction of the benchmark's SA between A and B.
func benchSA(c benchCase, dir wfp.Direction) *datapath.SA {
	var f *wfp.FwpmFilter0
	var t wfp.IPsecTraffic1
	if c.tunnel {
		f = conformance.TunnelFilter(dir, subnetA4, subnetB4)
		f.FilterID = 9
		t = conformance.TunnelTraffic(addrA4, addrB4, 9)
	} else {
		f = conformance.TransportFilter(dir, addrA4, addrB4)
		f.FilterID = 9
		t = conformance.TransportTraffic(addrA4, addrB4, 9)
	}
	f.EffectiveWeight = wfp.Uint64Value(1)
	return &datapath.SA{ID: datapath.SAID{Context: 1, Direction: dir}, Traffic: t, Filter: f, Bundle: c.bundle(fuzzSPI)}
}

// benchPacket is a UDP packet of benchSize bytes from A to B.
func benchPacket(c benchCase) []byte {
	src, dst := addrA4, addrB4
	if c.tunnel {
		src, dst = innerA4, innerB4
	}
	udp := make([]byte, benchSize-20)
	udp[0], udp[1], udp[2], udp[3] = 0x13, 0x88, 0x13, 0x89
	udp[4], udp[5] = byte(len(udp)>>8), byte(len(udp))
	return ipPacket(src, dst, protoUDP, udp)
}

func BenchmarkOutbound(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			be := offline(b)
			sa := benchSA(c, wfp.DirectionOutbound)
			fi := compileFilter(sa.Filter)
			be.tab.spd[0].add(fi.rule)
			d, err := be.newBundle(sa)
			if err != nil {
				b.Fatal(err)
			}
			d.pmtu = 65535
			be.insertLocked(d)
			o := &outbound{b: be, raw4: newMmsgs(1), raw6: newMmsgs(1)}
			pkt := benchPacket(c)
			buf := make([]byte, headroom+benchSize+tailroom)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				copy(buf[headroom:], pkt)
				o.packet(buf, len(pkt))
				o.raw4.count = 0 // as if sent
			}
			b.StopTimer()
			if be.Stats().OutProtected != uint64(b.N) {
				b.Fatalf("protected %d of %d: %+v", be.Stats().OutProtected, b.N, be.Stats())
			}
		})
	}
}

func BenchmarkInbound(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			be := offline(b)
			// What A sends, sealed by an outbound backend, received by B.
			sa := benchSA(c, wfp.DirectionInbound)
			// B's view: local B, remote A; the filter's conditions swap.
			sa.Traffic.LocalV4Address, sa.Traffic.RemoteV4Address = sa.Traffic.RemoteV4Address, sa.Traffic.LocalV4Address
			if c.tunnel {
				sa.Filter = conformance.TunnelFilter(wfp.DirectionInbound, subnetB4, subnetA4)
			} else {
				sa.Filter = conformance.TransportFilter(wfp.DirectionInbound, addrB4, addrA4)
			}
			sa.Filter.FilterID = 9
			d, err := be.newBundle(sa)
			if err != nil {
				b.Fatal(err)
			}
			be.insertLocked(d)
			in := &inbound{b: be, s: &sock{}, proto: protoESP}

			// A ring of sealed packets; the inbound SA is replaced every
			// time the ring wraps, so that the sequence numbers are new.
			const ring = 1024
			cfg := d.st.esp.Config()
			cfg.Direction, cfg.ReplayWindow = esp.Outbound, 0
			cfg.EncryptionKey, cfg.IntegrityKey = espKeys(c)
			out, err := esp.NewSA(cfg)
			if err != nil {
				b.Fatal(err)
			}
			sealed := make([][]byte, ring)
			inner := benchPacket(c)
			for i := range sealed {
				buf := make([]byte, 256+benchSize+64)
				start, n, nh := 192, len(inner), uint8(esp.ProtoIPv4)
				copy(buf[start:], inner)
				if !c.tunnel {
					start, n, nh = 192+20, len(inner)-20, protoUDP
				}
				e, err := out.Seal(buf, start, n, nh)
				if err != nil {
					b.Fatal(err)
				}
				pkt, _ := esp.PrependIPv4(buf, start-out.HeaderLen(), len(e), &esp.IPv4Fields{Protocol: esp.ProtoESP, Src: addrA4, Dst: addrB4})
				sealed[i] = pkt
			}
			inCfg := d.st.esp.Config()
			inCfg.EncryptionKey, inCfg.IntegrityKey = espKeys(c)
			rbuf := make([]byte, recvBufSize)
			in.tun = make([][]byte, 0, 1)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%ring == 0 && i > 0 {
					b.StopTimer()
					if d.st.esp, err = esp.NewSA(inCfg); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				m := sealed[i%ring]
				copy(rbuf[headroom:], m)
				in.tun = in.tun[:0]
				in.message(rbuf, headroom, len(m), netip.AddrPortFrom(addrA4, 0), addrB4)
			}
			b.StopTimer()
			if be.Stats().InAccepted != uint64(b.N) {
				b.Fatalf("accepted %d of %d: %+v", be.Stats().InAccepted, b.N, be.Stats())
			}
		})
	}
}

// espKeys returns the ESP keys of a benchmark case.
func espKeys(c benchCase) (enc, integ esp.Key) {
	sa := c.bundle(fuzzSPI).SAList[0].ESPAuthAndCipherInformation
	enc = esp.Key(sa.SACipherInformation.CipherKey)
	if k := sa.SAAuthInformation.AuthKey; len(k) > 0 {
		integ = esp.Key(k)
	}
	return enc, integ
}
