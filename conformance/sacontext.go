package conformance

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sadb-dev/sadb/wfp"
)

// ctxOpts compares contexts read back from the engine: data-path counters
// are not the API's business here.
var ctxOpts = cmp.Options{cmpopts.EquateEmpty(), cmpopts.IgnoreFields(wfp.IPsecSADetails1{}, "Counters")}

func diffCtx(want, got any) string { return cmp.Diff(want, got, ctxOpts) }

// filter reads filter id through fx.api.
func (fx *fixture) filter(t testing.TB, id uint64) *wfp.FwpmFilter0 {
	t.Helper()
	f, err := fx.api.FwpmFilterGetById0(id)
	mustOK(t, err, "FwpmFilterGetById0(%d)", id)
	return f
}

func filterOf(tr *wfp.IPsecTraffic1) uint64 {
	if tr.TrafficType == wfp.TrafficTypeTunnel {
		return tr.TunnelPolicyID
	}
	return tr.IPsecFilterID
}

// wantContext is what GetById1 must return for c in state st (with keys).
func (fx *fixture) wantContext(t testing.TB, c *sactx, st wfp.SAContextState) *wfp.IPsecSAContext1 {
	t.Helper()
	w := &wfp.IPsecSAContext1{SAContextID: c.id, State: st, Traffic: c.out}
	if st >= wfp.SAContextSPISet {
		w.InboundSPI = c.spi
	}
	if st >= wfp.SAContextInboundAdded {
		in := c.getSpi.InboundIPsecTraffic
		w.InboundSA = &wfp.IPsecSADetails1{
			IPVersion: c.v, SADirection: wfp.DirectionInbound, Traffic: in,
			SABundle: *c.inboundBundle(), UDPEncapsulation: c.getSpi.InboundUDPEncapsulation,
			TransportFilter: fx.filter(t, filterOf(&in)),
		}
	}
	if st == wfp.SAContextOutboundAdded {
		w.OutboundSA = &wfp.IPsecSADetails1{
			IPVersion: c.v, SADirection: wfp.DirectionOutbound, Traffic: c.out,
			SABundle: *c.outbound.Clone(), UDPEncapsulation: c.getSpi.InboundUDPEncapsulation,
			TransportFilter: fx.filter(t, filterOf(&c.out)),
		}
	}
	return w
}

// ctxCase is one call on a context in a given state and its expected code.
type ctxCase struct {
	name  string
	state wfp.SAContextState
	v     wfp.IPVersion
	call  func(t *testing.T, fx *fixture, c *sactx) error
	want  wfp.Error
}

// runCtxCases runs each case on a fresh engine against a context in the
// case's state, and checks the code and that neither the state nor the
// subscribers saw anything.
func (s *suite) runCtxCases(t *testing.T, prefix string, cases []ctxCase) {
	for _, tc := range cases {
		s.run(t, prefix+tc.name, func(t *testing.T) {
			fx := s.fixture(t)
			r, _ := subscribe(t, fx.api, nil)
			c := fx.ctxAt(t, fx.api, tc.v, tc.state)
			fx.extras(t)
			fx.sync1(t, r)
			before := snapshot(t, fx.api)
			err := tc.call(t, fx, c)
			wantErr(t, err, tc.want, "%s on a %v context", tc.name, tc.state)
			wantUnchanged(t, before, snapshot(t, fx.api), tc.name)
			wantEvents(t, fx.sync1(t, r), nil, "after a failed "+tc.name)
		})
	}
}

func (s *suite) saContexts(t *testing.T) {
	s.plumbing(t)
	s.createErrors(t)
	s.getSpiErrors(t)
	s.bundleErrors(t)
	s.transforms(t)
	s.stateTable(t)
	s.notFound(t)
	s.checkOrder(t)
}

func (s *suite) plumbing(t *testing.T) {
	for _, v := range []wfp.IPVersion{wfp.IPVersionV4, wfp.IPVersionV6} {
		for _, tunnel := range []bool{false, true} {
			name := "Plumbing/Transport" + vname(v)
			if tunnel {
				name = "Plumbing/Tunnel" + vname(v)
			}
			s.run(t, name, func(t *testing.T) {
				fx := s.fixture(t)
				var c *sactx
				if tunnel {
					c = fx.createTunnel(t, fx.api, v)
				} else {
					c = fx.create(t, fx.api, v)
				}
				check := func(st wfp.SAContextState) {
					t.Helper()
					want := fx.wantContext(t, c, st)
					if d := diffCtx(want, get(t, fx.api, c.id)); d != "" {
						t.Errorf("GetById1 in %v (-want +got):\n%s", st, d)
					}
					got0, err := fx.api.IPsecSaContextGetById0(c.id)
					mustOK(t, err, "IPsecSaContextGetById0")
					if d := diffCtx(want.ToContext0(), got0); d != "" {
						t.Errorf("GetById0 in %v (-want +got):\n%s", st, d)
					}
					if d := diffCtx([]*wfp.IPsecSAContext1{want}, enumContexts(t, fx.api, nil)); d != "" {
						t.Errorf("Enum1 in %v (-want +got):\n%s", st, d)
					}
				}
				check(wfp.SAContextCreated)
				c.getSPI(t, fx.api)
				if c.spi < 256 {
					t.Errorf("GetSpi returned %#x, below 256", c.spi)
				}
				check(wfp.SAContextSPISet)
				c.addInbound(t, fx.api)
				check(wfp.SAContextInboundAdded)
				c.addOutbound(t, fx.api)
				check(wfp.SAContextOutboundAdded)
				mustOK(t, fx.api.IPsecSaContextExpire0(c.id), "Expire")
				check(wfp.SAContextExpired)
				mustOK(t, fx.api.IPsecSaContextDeleteById0(c.id), "DeleteById of an expired context")
				wantGone(t, fx.api, c.id)
				if cs := enumContexts(t, fx.api, nil); len(cs) != 0 {
					t.Errorf("contexts after delete: %v", ids(cs))
				}
			})
		}
	}

	s.run(t, "Plumbing/Version0Functions", func(t *testing.T) {
		fx := s.fixture(t)
		c := &sactx{v: wfp.IPVersionV4, out: fx.outboundTraffic(wfp.IPVersionV4), getSpi: fx.inboundGetSpi(wfp.IPVersionV4)}
		tr0 := c.out.ToTraffic0()
		id, _, err := fx.api.IPsecSaContextCreate0(&tr0)
		mustOK(t, err, "IPsecSaContextCreate0")
		c.id = id
		gs0 := &wfp.IPsecGetSPI0{InboundIPsecTraffic: c.getSpi.InboundIPsecTraffic.ToTraffic0(), IPVersion: wfp.IPVersionV4}
		c.spi, err = fx.api.IPsecSaContextGetSpi0(id, gs0)
		mustOK(t, err, "IPsecSaContextGetSpi0")
		again, err := fx.api.IPsecSaContextGetSpi1(id, c.getSpi)
		mustOK(t, err, "IPsecSaContextGetSpi1 after GetSpi0 with the same traffic")
		if again != c.spi {
			t.Errorf("GetSpi1 after GetSpi0 = %#x, want %#x", again, c.spi)
		}
		c.inbound = GCMBundle(wfp.IPVersionV4, 0, TestKey(20, 1))
		c.outbound = GCMBundle(wfp.IPVersionV4, 0x777, TestKey(20, 2))
		in0 := c.inboundBundle().ToBundle0()
		mustOK(t, fx.api.IPsecSaContextAddInbound0(id, &in0), "IPsecSaContextAddInbound0")
		out0 := c.outbound.ToBundle0()
		mustOK(t, fx.api.IPsecSaContextAddOutbound0(id, &out0), "IPsecSaContextAddOutbound0")
		want := fx.wantContext(t, c, wfp.SAContextOutboundAdded)
		if d := diffCtx(want, get(t, fx.api, id)); d != "" {
			t.Errorf("GetById1 (-want +got):\n%s", d)
		}
		h, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
		got0, err := fx.api.IPsecSaContextEnum0(h, 10)
		mustOK(t, err, "IPsecSaContextEnum0")
		if d := diffCtx([]*wfp.IPsecSAContext0{want.ToContext0()}, got0); d != "" {
			t.Errorf("IPsecSaContextEnum0 (-want +got):\n%s", d)
		}
		sh, err := fx.api.IPsecSaCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaCreateEnumHandle0")
		sas0, err := fx.api.IPsecSaEnum0(sh, 10)
		mustOK(t, err, "IPsecSaEnum0")
		if d := diffCtx([]*wfp.IPsecSADetails0{want.InboundSA.ToDetails0(), want.OutboundSA.ToDetails0()}, sas0); d != "" {
			t.Errorf("IPsecSaEnum0 (-want +got):\n%s", d)
		}
	})

	s.run(t, "ContextIDs", func(t *testing.T) {
		fx := s.fixture(t)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		var got []uint64
		for range 3 {
			id, _, err := fx.api.IPsecSaContextCreate1(&tr, nil)
			mustOK(t, err, "Create")
			got = append(got, id)
		}
		if got[0] != 1 || got[1] <= got[0] || got[2] <= got[1] {
			t.Errorf("ids %v: want increasing ids starting at 1", got)
		}
		mustOK(t, fx.api.IPsecSaContextDeleteById0(got[2]), "DeleteById")
		id, _, err := fx.api.IPsecSaContextCreate1(&tr, nil)
		mustOK(t, err, "Create")
		if id <= got[2] {
			t.Errorf("id %d after deleting %d: ids must not be reused", id, got[2])
		}
	})

	s.run(t, "CachedInboundFilter", func(t *testing.T) {
		fx := s.fixture(t)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		_, in, err := fx.api.IPsecSaContextCreate1(&tr, nil)
		mustOK(t, err, "Create1")
		if in != fx.f4.in {
			t.Errorf("inboundFilterId = %d, want the matching inbound filter %d", in, fx.f4.in)
		}
		// A second, later matching inbound filter does not displace the first.
		_, err = fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionInbound, PeerA4, PeerB4), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		_, in, err = fx.api.IPsecSaContextCreate1(&tr, nil)
		mustOK(t, err, "Create1")
		if in != fx.f4.in {
			t.Errorf("inboundFilterId = %d with two matching filters, want the lowest id %d", in, fx.f4.in)
		}
		// No matching inbound filter: 0.
		lone, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.9")), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		tr2 := TransportTraffic(PeerA4, netip4("192.0.2.9"), lone)
		_, in, err = fx.api.IPsecSaContextCreate1(&tr2, nil)
		mustOK(t, err, "Create1")
		if in != 0 {
			t.Errorf("inboundFilterId = %d without a matching inbound filter, want 0", in)
		}
		// Tunnel mode: the inbound tunnel filter with the same selectors.
		f := fx.tunnel(t, wfp.IPVersionV6)
		tt := TunnelTraffic(f.local, f.remote, f.out)
		_, in, err = fx.api.IPsecSaContextCreate1(&tt, nil)
		mustOK(t, err, "Create1 tunnel")
		if in != f.in {
			t.Errorf("tunnel inboundFilterId = %d, want %d", in, f.in)
		}
	})

	s.run(t, "TrafficOverrides", func(t *testing.T) {
		fx := s.fixture(t)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		tr.RemotePort, tr.LocalPort, tr.IPProtocol = 4500, 1234, wfp.IPProtoUDP
		tr.LocalIfLUID, tr.RealIfProfileID = 7, 3
		vif := &wfp.IPsecVirtualIfTunnelInfo0{VirtualIfTunnelID: 5, TrafficSelectorID: 6}
		id, _, err := fx.api.IPsecSaContextCreate1(&tr, vif)
		mustOK(t, err, "Create1 with ports, protocol and virtual-interface info")
		if d := diffCtx(tr, get(t, fx.api, id).Traffic); d != "" {
			t.Errorf("Traffic (-given +got):\n%s", d)
		}
	})

	s.run(t, "GetSpiRepeat", func(t *testing.T) {
		fx := s.fixture(t)
		for _, st := range []wfp.SAContextState{wfp.SAContextSPISet, wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded} {
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, st)
			before := snapshot(t, fx.api)
			spi, err := fx.api.IPsecSaContextGetSpi1(c.id, c.getSpi)
			mustOK(t, err, "repeated GetSpi in %v", st)
			if spi != c.spi {
				t.Errorf("repeated GetSpi in %v = %#x, want the first SPI %#x", st, spi, c.spi)
			}
			for _, m := range []struct {
				name string
				mod  func(g *wfp.IPsecGetSPI1)
			}{
				{"RemotePort", func(g *wfp.IPsecGetSPI1) { g.InboundIPsecTraffic.RemotePort = 4500 }},
				{"Protocol", func(g *wfp.IPsecGetSPI1) { g.InboundIPsecTraffic.IPProtocol = wfp.IPProtoTCP }},
				{"UDPEncapsulation", func(g *wfp.IPsecGetSPI1) {
					g.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4500}
				}},
			} {
				g := *c.getSpi
				m.mod(&g)
				_, err := fx.api.IPsecSaContextGetSpi1(c.id, &g)
				wantErr(t, err, wfp.ErrTrafficMismatch, "GetSpi in %v with a different %s", st, m.name)
			}
			wantUnchanged(t, before, snapshot(t, fx.api), "repeated GetSpi")
		}
		// SetSpi then GetSpi with the same IPSEC_GETSPI1 returns the set SPI.
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated)
		mustOK(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, 0x5151), "SetSpi")
		spi, err := fx.api.IPsecSaContextGetSpi1(c.id, c.getSpi)
		mustOK(t, err, "GetSpi after SetSpi")
		if spi != 0x5151 {
			t.Errorf("GetSpi after SetSpi(0x5151) = %#x", spi)
		}
	})

	s.run(t, "SetSpi", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		mustOK(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, 256), "SetSpi(256)")
		sc := get(t, fx.api, c.id)
		if sc.State != wfp.SAContextSPISet || sc.InboundSPI != 256 {
			t.Errorf("after SetSpi(256): state %v spi %#x", sc.State, sc.InboundSPI)
		}
		before := snapshot(t, fx.api)
		mustOK(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, 256), "SetSpi again with the same SPI and traffic")
		wantUnchanged(t, before, snapshot(t, fx.api), "a repeated SetSpi")
		c.spi = 256
		c.addInbound(t, fx.api)
		c.addOutbound(t, fx.api)
		wantState(t, fx.api, c.id, wfp.SAContextOutboundAdded)
		c2 := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated)
		mustOK(t, fx.api.IPsecSaContextSetSpi0(c2.id, c2.getSpi, 0xFFFFFFFF), "SetSpi(0xFFFFFFFF)")
	})

	s.run(t, "TunnelPolicyPairing", func(t *testing.T) {
		fx := s.fixture(t)
		r, _ := subscribe(t, fx.api, nil)
		tun := fx.tunnel(t, wfp.IPVersionV4)
		c := fx.createTunnel(t, fx.api, wfp.IPVersionV4)
		c2 := fx.createTunnel(t, fx.api, wfp.IPVersionV4)
		// An inbound tunnel filter with other selectors is another policy;
		// one with the same selectors is the same policy.
		other, err := fx.api.FwpmFilterAdd0(TunnelFilter(wfp.DirectionInbound, InnerA4, netip.MustParsePrefix("10.3.0.0/16")), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		twin, err := fx.api.FwpmFilterAdd0(TunnelFilter(wfp.DirectionInbound, InnerA4, InnerB4), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		fx.sync1(t, r)
		before := snapshot(t, fx.api)
		_, err = fx.api.IPsecSaContextGetSpi1(c.id, GetSPI(TunnelTraffic(PeerA4, PeerB4, other)))
		wantErr(t, err, wfp.ErrTrafficMismatch, "GetSpi with an inbound tunnel filter of other selectors")
		wantErr(t, fx.api.IPsecSaContextSetSpi0(c.id, GetSPI(TunnelTraffic(PeerA4, PeerB4, other)), 0x7777), wfp.ErrTrafficMismatch,
			"SetSpi with an inbound tunnel filter of other selectors")
		_, err = fx.api.IPsecSaContextGetSpi1(c.id, GetSPI(TunnelTraffic(PeerA4, PeerB4, tun.out)))
		wantErr(t, err, wfp.ErrInvalidParameter, "GetSpi with the outbound tunnel filter as the inbound policy")
		wantUnchanged(t, before, snapshot(t, fx.api), "refused tunnel GetSpi/SetSpi")
		wantEvents(t, fx.sync1(t, r), nil, "refused tunnel GetSpi/SetSpi")
		c.getSPI(t, fx.api)
		c2.getSpi = GetSPI(TunnelTraffic(PeerA4, PeerB4, twin))
		c2.getSPI(t, fx.api)
		for _, x := range []*sactx{c, c2} {
			x.addInbound(t, fx.api)
			x.addOutbound(t, fx.api)
			if d := diffCtx(fx.wantContext(t, x, wfp.SAContextOutboundAdded), get(t, fx.api, x.id)); d != "" {
				t.Errorf("tunnel context %d (-want +got):\n%s", x.id, d)
			}
		}
	})

	s.run(t, "UDPEncapsulation", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.create(t, fx.api, wfp.IPVersionV4)
		c.getSpi.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 14500}
		c.getSPI(t, fx.api)
		c.addInbound(t, fx.api)
		c.addOutbound(t, fx.api)
		want := fx.wantContext(t, c, wfp.SAContextOutboundAdded)
		got := get(t, fx.api, c.id)
		if d := diffCtx(want, got); d != "" {
			t.Errorf("GetById1 of a UDP-encapsulated context (-want +got):\n%s", d)
		}
	})
}

// trafficCase mutates a valid traffic description into an invalid one.
type trafficCase struct {
	name string
	mod  func(fx *fixture, tr *wfp.IPsecTraffic1)
	want wfp.Error
}

// trafficCases returns the invalid-traffic cases for direction dir (the
// outbound traffic of Create, the inbound traffic of GetSpi/SetSpi), based
// on the IPv4 transport traffic of the fixture.
func trafficCases(t testing.TB, dir wfp.Direction) []trafficCase {
	other := func(fx *fixture) peerFilters { return fx.f4 }
	sameDir := func(f peerFilters) uint64 {
		if dir == wfp.DirectionOutbound {
			return f.out
		}
		return f.in
	}
	otherDir := func(f peerFilters) uint64 {
		if dir == wfp.DirectionOutbound {
			return f.in
		}
		return f.out
	}
	v6 := wfp.MustV6("2001:db8::5")
	return []trafficCase{
		{"IPVersionNone", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.IPVersion = wfp.IPVersionNone }, wfp.ErrInvalidParameter},
		{"IPVersionMax", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.IPVersion = wfp.IPVersionMax }, wfp.ErrInvalidEnumerator},
		{"IPVersion77", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.IPVersion = 77 }, wfp.ErrInvalidEnumerator},
		{"TrafficTypeMax", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.TrafficType = wfp.TrafficTypeMax }, wfp.ErrInvalidEnumerator},
		{"LocalUnspecified", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.LocalV4Address = 0 }, wfp.ErrInvalidParameter},
		{"LocalMulticast", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.LocalV4Address = wfp.MustV4("224.0.0.1") }, wfp.ErrInvalidParameter},
		{"LocalBroadcast", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.LocalV4Address = wfp.MustV4("255.255.255.255") }, wfp.ErrInvalidParameter},
		{"RemoteUnspecified", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.RemoteV4Address = 0 }, wfp.ErrInvalidParameter},
		{"RemoteMulticast", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.RemoteV4Address = wfp.MustV4("239.1.2.3") }, wfp.ErrInvalidParameter},
		{"RemoteBroadcast", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.RemoteV4Address = wfp.MustV4("255.255.255.255") }, wfp.ErrInvalidParameter},
		{"V6MemberInV4Traffic", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.LocalV6Address = v6 }, wfp.ErrInvalidParameter},
		{"V6RemoteMemberInV4Traffic", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.RemoteV6Address = v6 }, wfp.ErrInvalidParameter},
		{"V6LocalUnspecified", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			*tr = TransportTraffic(PeerA6, PeerB6, sameDir(fx.f6))
			tr.LocalV6Address = wfp.V6Addr{}
		}, wfp.ErrInvalidParameter},
		{"V6RemoteMulticast", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			*tr = TransportTraffic(PeerA6, PeerB6, sameDir(fx.f6))
			tr.RemoteV6Address = wfp.MustV6("ff02::1")
		}, wfp.ErrInvalidParameter},
		{"V4MemberInV6Traffic", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			*tr = TransportTraffic(PeerA6, PeerB6, sameDir(fx.f6))
			tr.RemoteV4Address = wfp.MustV4("192.0.2.2")
		}, wfp.ErrInvalidParameter},
		{"FilterZero", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.IPsecFilterID = 0 }, wfp.ErrFilterNotFound},
		{"FilterUnknown", func(_ *fixture, tr *wfp.IPsecTraffic1) { tr.IPsecFilterID = 0xDEAD0000 }, wfp.ErrFilterNotFound},
		{"FilterOtherDirection", func(fx *fixture, tr *wfp.IPsecTraffic1) { tr.IPsecFilterID = otherDir(other(fx)) }, wfp.ErrInvalidParameter},
		{"FilterOtherVersion", func(fx *fixture, tr *wfp.IPsecTraffic1) { tr.IPsecFilterID = sameDir(fx.f6) }, wfp.ErrInvalidParameter},
		{"FilterNotIPsec", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			tr.IPsecFilterID = fx.extras(t).permitOut4
			if dir == wfp.DirectionInbound {
				tr.IPsecFilterID = fx.extras(t).permitIn4
			}
		}, wfp.ErrInvalidParameter},
		{"TunnelFilterInTransportMode", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			tr.IPsecFilterID = sameDir(fx.tunnel(t, wfp.IPVersionV4))
		}, wfp.ErrInvalidParameter},
		{"TunnelPolicyInTransportMode", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			tr.TunnelPolicyID = sameDir(fx.tunnel(t, wfp.IPVersionV4))
		}, wfp.ErrInvalidParameter},
		{"Tunnel/PolicyZero", func(fx *fixture, tr *wfp.IPsecTraffic1) { *tr = TunnelTraffic(PeerA4, PeerB4, 0) }, wfp.ErrFilterNotFound},
		{"Tunnel/PolicyUnknown", func(fx *fixture, tr *wfp.IPsecTraffic1) { *tr = TunnelTraffic(PeerA4, PeerB4, 0xDEAD0000) }, wfp.ErrFilterNotFound},
		{"Tunnel/TransportFilterAsPolicy", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			*tr = TunnelTraffic(PeerA4, PeerB4, sameDir(fx.f4))
		}, wfp.ErrInvalidParameter},
		{"Tunnel/PolicyOtherDirection", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			*tr = TunnelTraffic(PeerA4, PeerB4, otherDir(fx.tunnel(t, wfp.IPVersionV4)))
		}, wfp.ErrInvalidParameter},
		{"Tunnel/FilterIDSet", func(fx *fixture, tr *wfp.IPsecTraffic1) {
			*tr = TunnelTraffic(PeerA4, PeerB4, sameDir(fx.tunnel(t, wfp.IPVersionV4)))
			tr.IPsecFilterID = sameDir(fx.f4)
		}, wfp.ErrInvalidParameter},
	}
}

func (s *suite) createErrors(t *testing.T) {
	for _, v1 := range []bool{true, false} {
		prefix := "Create1Errors/"
		if !v1 {
			prefix = "Create0Errors/"
		}
		create := func(api wfp.API, tr *wfp.IPsecTraffic1) error {
			if v1 {
				_, _, err := api.IPsecSaContextCreate1(tr, nil)
				return err
			}
			if tr == nil {
				_, _, err := api.IPsecSaContextCreate0(nil)
				return err
			}
			tr0 := tr.ToTraffic0()
			_, _, err := api.IPsecSaContextCreate0(&tr0)
			return err
		}
		s.run(t, prefix+"NilTraffic", func(t *testing.T) {
			fx := s.fixture(t)
			before := snapshot(t, fx.api)
			wantErr(t, create(fx.api, nil), wfp.ErrNullPointer, "Create(nil)")
			wantUnchanged(t, before, snapshot(t, fx.api), "Create(nil)")
		})
		for _, tc := range trafficCases(t, wfp.DirectionOutbound) {
			s.run(t, prefix+tc.name, func(t *testing.T) {
				fx := s.fixture(t)
				r, _ := subscribe(t, fx.api, nil)
				fx.extras(t)
				tr := fx.outboundTraffic(wfp.IPVersionV4)
				tc.mod(fx, &tr)
				before := snapshot(t, fx.api)
				wantErr(t, create(fx.api, &tr), tc.want, "Create with %s", tc.name)
				wantUnchanged(t, before, snapshot(t, fx.api), "a failed Create")
				wantEvents(t, fx.sync1(t, r), nil, "after a failed Create")
			})
		}
	}
}

func (s *suite) getSpiErrors(t *testing.T) {
	type getSpiFn struct {
		name string
		fn   func(api wfp.API, id uint64, g *wfp.IPsecGetSPI1) error
	}
	fns := []getSpiFn{
		{"GetSpi1", func(api wfp.API, id uint64, g *wfp.IPsecGetSPI1) error {
			_, err := api.IPsecSaContextGetSpi1(id, g)
			return err
		}},
		{"GetSpi0", func(api wfp.API, id uint64, g *wfp.IPsecGetSPI1) error {
			if g == nil {
				_, err := api.IPsecSaContextGetSpi0(id, nil)
				return err
			}
			_, err := api.IPsecSaContextGetSpi0(id, &wfp.IPsecGetSPI0{InboundIPsecTraffic: g.InboundIPsecTraffic.ToTraffic0(),
				IPVersion: g.IPVersion, InboundUDPEncapsulation: g.InboundUDPEncapsulation})
			return err
		}},
		{"SetSpi0", func(api wfp.API, id uint64, g *wfp.IPsecGetSPI1) error {
			return api.IPsecSaContextSetSpi0(id, g, 0x00C0FFEE)
		}},
	}
	for _, fn := range fns {
		var cases []ctxCase
		add := func(name string, mod func(t *testing.T, fx *fixture, g *wfp.IPsecGetSPI1), want wfp.Error) {
			cases = append(cases, ctxCase{name: name, state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: want,
				call: func(t *testing.T, fx *fixture, c *sactx) error {
					g := *c.getSpi
					mod(t, fx, &g)
					return fn.fn(fx.api, c.id, &g)
				}})
		}
		cases = append(cases, ctxCase{name: "Nil", state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: wfp.ErrNullPointer,
			call: func(t *testing.T, fx *fixture, c *sactx) error { return fn.fn(fx.api, c.id, nil) }})
		for _, tc := range trafficCases(t, wfp.DirectionInbound) {
			add("Traffic/"+tc.name, func(t *testing.T, fx *fixture, g *wfp.IPsecGetSPI1) {
				tc.mod(fx, &g.InboundIPsecTraffic)
				g.IPVersion = g.InboundIPsecTraffic.IPVersion
			}, tc.want)
		}
		add("IPVersionDiffersFromTraffic", func(_ *testing.T, _ *fixture, g *wfp.IPsecGetSPI1) { g.IPVersion = wfp.IPVersionV6 }, wfp.ErrInvalidParameter)
		add("IPVersionNone", func(_ *testing.T, _ *fixture, g *wfp.IPsecGetSPI1) { g.IPVersion = wfp.IPVersionNone }, wfp.ErrInvalidParameter)
		add("IPVersionMax", func(_ *testing.T, _ *fixture, g *wfp.IPsecGetSPI1) { g.IPVersion = wfp.IPVersionMax }, wfp.ErrInvalidEnumerator)
		add("UDPEncapsulationLocalPortZero", func(_ *testing.T, _ *fixture, g *wfp.IPsecGetSPI1) {
			g.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{RemoteUDPEncapPort: 4500}
		}, wfp.ErrInvalidParameter)
		add("UDPEncapsulationRemotePortZero", func(_ *testing.T, _ *fixture, g *wfp.IPsecGetSPI1) {
			g.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500}
		}, wfp.ErrInvalidParameter)
		cases = append(cases, ctxCase{name: "UDPEncapsulationOnV6", state: wfp.SAContextCreated, v: wfp.IPVersionV6, want: wfp.ErrInvalidParameter,
			call: func(t *testing.T, fx *fixture, c *sactx) error {
				g := *c.getSpi
				g.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4500}
				return fn.fn(fx.api, c.id, &g)
			}})
		// The inbound traffic must describe the context's connection.
		add("Mismatch/Swapped", func(_ *testing.T, fx *fixture, g *wfp.IPsecGetSPI1) {
			g.InboundIPsecTraffic = TransportTraffic(PeerB4, PeerA4, fx.f4.in)
		}, wfp.ErrTrafficMismatch)
		add("Mismatch/OtherRemote", func(_ *testing.T, fx *fixture, g *wfp.IPsecGetSPI1) {
			g.InboundIPsecTraffic = TransportTraffic(PeerA4, netip4("192.0.2.3"), fx.f4.in)
		}, wfp.ErrTrafficMismatch)
		add("Mismatch/OtherLocal", func(_ *testing.T, fx *fixture, g *wfp.IPsecGetSPI1) {
			g.InboundIPsecTraffic = TransportTraffic(netip4("192.0.2.4"), PeerB4, fx.f4.in)
		}, wfp.ErrTrafficMismatch)
		add("Mismatch/OtherIPVersion", func(_ *testing.T, fx *fixture, g *wfp.IPsecGetSPI1) {
			*g = *fx.inboundGetSpi(wfp.IPVersionV6)
		}, wfp.ErrTrafficMismatch)
		add("Mismatch/TunnelForTransport", func(t *testing.T, fx *fixture, g *wfp.IPsecGetSPI1) {
			f := fx.tunnel(t, wfp.IPVersionV4)
			g.InboundIPsecTraffic = TunnelTraffic(f.local, f.remote, f.in)
		}, wfp.ErrTrafficMismatch)
		s.runCtxCases(t, fn.name+"Errors/", cases)
	}

	// SetSpi's own rules.
	var cases []ctxCase
	for _, spi := range []uint32{0, 1, 255} {
		cases = append(cases, ctxCase{name: "OutOfBounds/" + hexName(spi), state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: wfp.ErrOutOfBounds,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, spi)
			}})
	}
	cases = append(cases,
		ctxCase{name: "SPISet/OtherSPI", state: wfp.SAContextSPISet, v: wfp.IPVersionV4, want: wfp.ErrIncompatibleSAState,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, c.spi^0x00F00000)
			}},
		ctxCase{name: "SPISet/OtherTraffic", state: wfp.SAContextSPISet, v: wfp.IPVersionV4, want: wfp.ErrIncompatibleSAState,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				g := *c.getSpi
				g.InboundIPsecTraffic.RemotePort = 4500
				return fx.api.IPsecSaContextSetSpi0(c.id, &g, c.spi)
			}},
	)
	for _, st := range []wfp.SAContextState{wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded, wfp.SAContextExpired} {
		cases = append(cases, ctxCase{name: "SameSPIIn/" + st.String(), state: st, v: wfp.IPVersionV4, want: wfp.ErrIncompatibleSAState,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, c.spi)
			}})
	}
	s.runCtxCases(t, "SetSpiRules/", cases)
}

func vname(v wfp.IPVersion) string {
	if v == wfp.IPVersionV6 {
		return "V6"
	}
	return "V4"
}

func hexName(v uint32) string {
	const digits = "0123456789ABCDEF"
	if v == 0 {
		return "0x0"
	}
	var b []byte
	for ; v > 0; v >>= 4 {
		b = append([]byte{digits[v&0xF]}, b...)
	}
	return "0x" + string(b)
}
