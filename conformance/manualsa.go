package conformance

import (
	"net/netip"
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

// manualPeer is one machine of the Manual SA scenario
// (concepts/manual-ipsec-sas.md): its engine, session and filters.
type manualPeer struct {
	name          string
	api           wfp.API
	local, remote netip.Addr
	out, in       uint64 // filter ids (tunnel policies in tunnel mode)
	id            uint64 // SA context
	spi           uint32 // inbound SPI
	getSpi        *wfp.IPsecGetSPI1
}

type saProfile struct {
	name   string
	bundle func(v wfp.IPVersion, spi uint32, seed byte) *wfp.IPsecSABundle1
}

var manualProfiles = map[string]saProfile{
	"GCM": {"GCM", func(v wfp.IPVersion, spi uint32, seed byte) *wfp.IPsecSABundle1 {
		return GCMBundle(v, spi, TestKey(36, seed))
	}},
	"CBCHMAC": {"CBCHMAC", func(v wfp.IPVersion, spi uint32, seed byte) *wfp.IPsecSABundle1 {
		return CBCBundle(v, spi, TestKey(32, seed), TestKey(32, seed+1))
	}},
	"AuthOnly": {"AuthOnly", func(v wfp.IPVersion, spi uint32, seed byte) *wfp.IPsecSABundle1 {
		return Bundle(v, 0, ESPAuthSA(spi, TestKey(32, seed)))
	}},
	"AH": {"AH", func(v wfp.IPVersion, spi uint32, seed byte) *wfp.IPsecSABundle1 {
		return Bundle(v, 0, AHSA(spi, TestKey(20, seed)))
	}},
	"AHESP": {"AHESP", func(v wfp.IPVersion, spi uint32, seed byte) *wfp.IPsecSABundle1 {
		return AHESPBundle(v, spi, TestKey(20, seed), TestKey(32, seed+1))
	}},
}

func (s *suite) manualSA(t *testing.T) {
	for _, sc := range []struct {
		name    string
		v6      bool
		tunnel  bool
		profile string
		udp     bool
	}{
		{"Transport/V4/GCM", false, false, "GCM", false},
		{"Transport/V6/GCM", true, false, "GCM", false},
		{"Transport/V4/CBCHMAC", false, false, "CBCHMAC", false},
		{"Transport/V6/CBCHMAC", true, false, "CBCHMAC", false},
		{"Transport/V4/AuthOnly", false, false, "AuthOnly", false},
		{"Transport/V6/AuthOnly", true, false, "AuthOnly", false},
		{"Transport/V4/AH", false, false, "AH", false},
		{"Transport/V6/AH", true, false, "AH", false},
		{"Transport/V4/AHESP", false, false, "AHESP", false},
		{"Transport/V6/AHESP", true, false, "AHESP", false},
		{"Transport/V4/UDPEncapsulation", false, false, "GCM", true},
		{"Tunnel/V4/GCM", false, true, "GCM", false},
		{"Tunnel/V6/GCM", true, true, "GCM", false},
		{"Tunnel/V4/CBCHMAC", false, true, "CBCHMAC", false},
		{"Tunnel/V6/AHESP", true, true, "AHESP", false},
		{"Tunnel/V4/AuthOnly", false, true, "AuthOnly", false},
		{"Tunnel/V4/UDPEncapsulation", false, true, "CBCHMAC", true},
	} {
		s.run(t, sc.name, func(t *testing.T) {
			prof := manualProfiles[sc.profile]
			a := &manualPeer{name: "A", local: PeerA4, remote: PeerB4}
			b := &manualPeer{name: "B", local: PeerB4, remote: PeerA4}
			innerA, innerB := InnerA4, InnerB4
			if sc.v6 {
				a.local, a.remote, b.local, b.remote = PeerA6, PeerB6, PeerB6, PeerA6
				innerA, innerB = InnerA6, InnerB6
			}
			v := IPVersionOf(a.local)
			for _, p := range []*manualPeer{a, b} {
				h := s.f(t)
				p.api = openAdmin(t, h)
				var err error
				if sc.tunnel {
					li, ri := innerA, innerB
					if p == b {
						li, ri = innerB, innerA
					}
					p.out, p.in, err = TunnelFilters(p.api, li, ri)
				} else {
					p.out, p.in, err = TransportFilters(p.api, p.local, p.remote)
				}
				mustOK(t, err, "peer %s: filters", p.name)
			}
			traffic := func(p *manualPeer, filter uint64) wfp.IPsecTraffic1 {
				if sc.tunnel {
					return TunnelTraffic(p.local, p.remote, filter)
				}
				return TransportTraffic(p.local, p.remote, filter)
			}
			// Each peer: create, get an SPI.
			for _, p := range []*manualPeer{a, b} {
				out := traffic(p, p.out)
				id, cachedIn, err := p.api.IPsecSaContextCreate1(&out, nil)
				mustOK(t, err, "peer %s: IPsecSaContextCreate1", p.name)
				p.id = id
				if cachedIn != p.in {
					t.Errorf("peer %s: inboundFilterId = %d, want its inbound filter %d", p.name, cachedIn, p.in)
				}
				p.getSpi = GetSPI(traffic(p, p.in))
				if sc.udp {
					p.getSpi.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4501}
					if p == b {
						p.getSpi.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4501, RemoteUDPEncapPort: 4500}
					}
				}
				p.spi, err = p.api.IPsecSaContextGetSpi1(id, p.getSpi)
				mustOK(t, err, "peer %s: IPsecSaContextGetSpi1", p.name)
			}
			// Exchange SPIs and keys out of band: traffic A->B uses B's SPI
			// and key seed 0x10, traffic B->A uses A's SPI and seed 0x60.
			const qm = 77
			seed := map[*manualPeer]byte{a: 0x60, b: 0x10} // the seed of the traffic a peer receives
			peerOf := map[*manualPeer]*manualPeer{a: b, b: a}
			for _, p := range []*manualPeer{a, b} {
				in := prof.bundle(v, p.spi, seed[p])
				in.QMSAID = qm
				mustOK(t, p.api.IPsecSaContextAddInbound1(p.id, in), "peer %s: AddInbound1", p.name)
			}
			for _, p := range []*manualPeer{a, b} {
				q := peerOf[p]
				out := prof.bundle(v, q.spi, seed[q])
				out.QMSAID = qm
				mustOK(t, p.api.IPsecSaContextAddOutbound1(p.id, out), "peer %s: AddOutbound1", p.name)
			}
			// Read both back with key material and compare across peers.
			ca, cb := get(t, a.api, a.id), get(t, b.api, b.id)
			for _, pair := range []struct {
				name     string
				out, in  *wfp.IPsecSAContext1
				sender   *manualPeer
				receiver *manualPeer
			}{{"A->B", ca, cb, a, b}, {"B->A", cb, ca, b, a}} {
				if pair.out.State != wfp.SAContextOutboundAdded || pair.out.OutboundSA == nil || pair.in.InboundSA == nil {
					t.Fatalf("%s: sender state %v, outbound %v, receiver inbound %v", pair.name, pair.out.State, pair.out.OutboundSA != nil, pair.in.InboundSA != nil)
				}
				o, i := pair.out.OutboundSA, pair.in.InboundSA
				if d := diffCtx(i.SABundle, o.SABundle); d != "" {
					t.Errorf("%s: sender's outbound bundle differs from receiver's inbound bundle (-receiver +sender):\n%s", pair.name, d)
				}
				if noKeys(&o.SABundle) {
					t.Errorf("%s: no key material read back", pair.name)
				}
				for _, sa := range o.SABundle.SAList {
					if sa.SPI != pair.receiver.spi || pair.in.InboundSPI != pair.receiver.spi {
						t.Errorf("%s: outbound SA SPI %#x, receiver's inbound SPI %#x, want %#x", pair.name, sa.SPI, pair.in.InboundSPI, pair.receiver.spi)
					}
				}
				if o.Traffic.LocalAddr() != i.Traffic.RemoteAddr() || o.Traffic.RemoteAddr() != i.Traffic.LocalAddr() ||
					o.Traffic.TrafficType != i.Traffic.TrafficType || o.IPVersion != i.IPVersion || o.IPVersion != v {
					t.Errorf("%s: sender traffic %+v does not mirror receiver traffic %+v", pair.name, o.Traffic, i.Traffic)
				}
				if o.SADirection != wfp.DirectionOutbound || i.SADirection != wfp.DirectionInbound {
					t.Errorf("%s: directions %v/%v", pair.name, o.SADirection, i.SADirection)
				}
				if sc.udp {
					ou, iu := o.UDPEncapsulation, i.UDPEncapsulation
					if ou == nil || iu == nil || ou.LocalUDPEncapPort != iu.RemoteUDPEncapPort || ou.RemoteUDPEncapPort != iu.LocalUDPEncapPort {
						t.Errorf("%s: UDP encapsulation %+v does not mirror %+v", pair.name, ou, iu)
					}
				} else if o.UDPEncapsulation != nil || i.UDPEncapsulation != nil {
					t.Errorf("%s: UDP encapsulation without NAT-T: %+v %+v", pair.name, o.UDPEncapsulation, i.UDPEncapsulation)
				}
				// The SA enumeration shows the same bundles.
				var sawOut, sawIn bool
				for _, d := range enumSAs(t, pair.sender.api, &wfp.IPsecSAEnumTemplate0{SADirection: wfp.DirectionOutbound}) {
					if diffCtx(o, d) == "" {
						sawOut = true
					}
				}
				for _, d := range enumSAs(t, pair.receiver.api, &wfp.IPsecSAEnumTemplate0{SADirection: wfp.DirectionInbound}) {
					if diffCtx(i, d) == "" {
						sawIn = true
					}
				}
				if !sawOut || !sawIn {
					t.Errorf("%s: SA enumeration lacks the sender's outbound (%v) or the receiver's inbound (%v) details", pair.name, sawOut, sawIn)
				}
			}
			// Tear down as a keying module would: expire, then the filters
			// once the inbound SA has gone.
			for _, p := range []*manualPeer{a, b} {
				mustOK(t, p.api.IPsecSaContextExpire0(p.id), "peer %s: Expire0", p.name)
				st := get(t, p.api, p.id)
				if st.OutboundSA != nil || st.InboundSA == nil {
					t.Errorf("peer %s after Expire0: outbound %v inbound %v", p.name, st.OutboundSA != nil, st.InboundSA != nil)
				}
				mustOK(t, p.api.IPsecSaContextDeleteById0(p.id), "peer %s: DeleteById0", p.name)
				mustOK(t, p.api.FwpmFilterDeleteById0(p.out), "peer %s: delete outbound filter", p.name)
				mustOK(t, p.api.FwpmFilterDeleteById0(p.in), "peer %s: delete inbound filter", p.name)
			}
		})
	}
}
