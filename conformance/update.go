package conformance

import (
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

func (s *suite) updates(t *testing.T) {
	upd := func(fx *fixture, flags uint64, nv *wfp.IPsecSAContext1) error {
		return fx.api.IPsecSaContextUpdate0(flags, nv)
	}
	inOnly := func(c *sactx, d wfp.IPsecSADetails1) *wfp.IPsecSAContext1 {
		return &wfp.IPsecSAContext1{SAContextID: c.id, InboundSA: &d}
	}
	in := wfp.SAContextInboundAdded
	out := wfp.SAContextOutboundAdded
	v4, v6 := wfp.IPVersionV4, wfp.IPVersionV6
	s.runCtxCases(t, "Errors/", []ctxCase{
		{name: "FlagsZero", state: in, v: v4, want: wfp.ErrInvalidFlags, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, 0, inOnly(c, wfp.IPsecSADetails1{}))
		}},
		{name: "FlagsUnknown", state: in, v: v4, want: wfp.ErrInvalidFlags, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, 0x80, inOnly(c, wfp.IPsecSADetails1{}))
		}},
		{name: "FlagsUnknownWithKnown", state: in, v: v4, want: wfp.ErrInvalidFlags, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SABundleUpdateNAPContext|1<<40, inOnly(c, wfp.IPsecSADetails1{}))
		}},
		{name: "NilNewValues", state: in, v: v4, want: wfp.ErrNullPointer, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SABundleUpdateNAPContext, nil)
		}},
		{name: "NoDetails", state: in, v: v4, want: wfp.ErrNullPointer, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: c.id})
		}},
		{name: "TrafficIPVersionChange", state: in, v: v4, want: wfp.ErrTrafficMismatch, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SADetailsUpdateTraffic, inOnly(c, wfp.IPsecSADetails1{Traffic: fx.inboundGetSpi(v6).InboundIPsecTraffic}))
		}},
		{name: "TrafficTypeChange", state: in, v: v4, want: wfp.ErrTrafficMismatch, call: func(t *testing.T, fx *fixture, c *sactx) error {
			f := fx.tunnel(t, v4)
			return upd(fx, wfp.SADetailsUpdateTraffic, inOnly(c, wfp.IPsecSADetails1{Traffic: TunnelTraffic(f.local, f.remote, f.in)}))
		}},
		{name: "TrafficFilterChange", state: out, v: v4, want: wfp.ErrTrafficMismatch, call: func(t *testing.T, fx *fixture, c *sactx) error {
			tr := c.out
			tr.IPsecFilterID = fx.extras(t).dupOut4
			return upd(fx, wfp.SADetailsUpdateTraffic, &wfp.IPsecSAContext1{SAContextID: c.id, OutboundSA: &wfp.IPsecSADetails1{Traffic: tr}})
		}},
		{name: "TrafficMulticastRemote", state: in, v: v4, want: wfp.ErrInvalidParameter, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			tr := c.getSpi.InboundIPsecTraffic
			tr.RemoteV4Address = wfp.MustV4("224.0.0.5")
			return upd(fx, wfp.SADetailsUpdateTraffic, inOnly(c, wfp.IPsecSADetails1{Traffic: tr}))
		}},
		{name: "BundleFlagsInvalid", state: in, v: v4, want: wfp.ErrInvalidFlags, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SABundleUpdateFlags, inOnly(c, wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{Flags: 0x100}}))
		}},
		{name: "PeerV4PrivateAddressOnV6", state: in, v: v6, want: wfp.ErrInvalidParameter, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SABundleUpdatePeerV4PrivateAddress, inOnly(c, wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{PeerV4PrivateAddress: wfp.MustV4("10.0.0.1")}}))
		}},
		{name: "UDPEncapsulationOnV6", state: in, v: v6, want: wfp.ErrInvalidParameter, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SADetailsUpdateUDPEncapsulation, inOnly(c, wfp.IPsecSADetails1{UDPEncapsulation: &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4500}}))
		}},
		{name: "UDPEncapsulationPortZero", state: in, v: v4, want: wfp.ErrInvalidParameter, call: func(_ *testing.T, fx *fixture, c *sactx) error {
			return upd(fx, wfp.SADetailsUpdateUDPEncapsulation, inOnly(c, wfp.IPsecSADetails1{UDPEncapsulation: &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500}}))
		}},
	})

	s.run(t, "Members", func(t *testing.T) {
		fx := s.fixture(t)
		r, _ := subscribe(t, fx.api, nil)
		c := fx.ctxAt(t, fx.api, v4, out)
		fx.sync1(t, r)
		want := fx.wantContext(t, c, out)
		// New values that differ in every member; only the flagged ones
		// may be applied.
		nv := func(d *wfp.IPsecSADetails1, seed uint32) *wfp.IPsecSADetails1 {
			n := d.Clone()
			n.Traffic.RemoteV4Address = wfp.MustV4("198.51.100.7")
			n.Traffic.RemotePort = 4500
			n.UDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: uint16(30000 + seed)}
			b := &n.SABundle
			b.Flags = wfp.SABundleFlagNLB | wfp.SABundleFlagGuaranteeEncryption
			b.NAPContext = 100 + seed
			b.KeyModuleState = &wfp.IPsecKeyModuleState0{KeyModuleKey: wfp.GUID(wfp.KeyingModuleIKE), StateBlob: []byte{byte(seed)}}
			b.PeerV4PrivateAddress = wfp.MustV4("10.0.0.9")
			b.MMSAID = 1000 + uint64(seed)
			// Not updatable:
			b.Lifetime.LifetimeSeconds = 5
			b.QMSAID = 4444
			b.PFSGroup = wfp.PFS2
			b.SAList = []wfp.IPsecSA0{GCMSA(0x999999, TestKey(20, 0x77))}
			n.TransportFilter = nil
			return n
		}
		newIn := nv(want.InboundSA, 1)
		newOut := nv(want.OutboundSA, 2)
		steps := []struct {
			flag  uint64
			apply func(dst, src *wfp.IPsecSADetails1)
		}{
			{wfp.SABundleUpdateFlags, func(d, s *wfp.IPsecSADetails1) { d.SABundle.Flags = s.SABundle.Flags }},
			{wfp.SABundleUpdateNAPContext, func(d, s *wfp.IPsecSADetails1) { d.SABundle.NAPContext = s.SABundle.NAPContext }},
			{wfp.SABundleUpdateKeyModuleState, func(d, s *wfp.IPsecSADetails1) { d.SABundle.KeyModuleState = s.SABundle.KeyModuleState.Clone() }},
			{wfp.SABundleUpdatePeerV4PrivateAddress, func(d, s *wfp.IPsecSADetails1) { d.SABundle.PeerV4PrivateAddress = s.SABundle.PeerV4PrivateAddress }},
			{wfp.SABundleUpdateMMSAID, func(d, s *wfp.IPsecSADetails1) { d.SABundle.MMSAID = s.SABundle.MMSAID }},
			{wfp.SADetailsUpdateUDPEncapsulation, func(d, s *wfp.IPsecSADetails1) { d.UDPEncapsulation = s.UDPEncapsulation }},
			{wfp.SADetailsUpdateTraffic, func(d, s *wfp.IPsecSADetails1) { d.Traffic = s.Traffic }},
		}
		for _, st := range steps {
			mustOK(t, fx.api.IPsecSaContextUpdate0(st.flag, &wfp.IPsecSAContext1{SAContextID: c.id, InboundSA: newIn, OutboundSA: newOut}), "Update0(%#x)", st.flag)
			st.apply(want.InboundSA, newIn)
			st.apply(want.OutboundSA, newOut)
			got := get(t, fx.api, c.id)
			// Whether the sadb extension IPsecSAContext1.Traffic ("the
			// outbound traffic given to Create") follows an update of the
			// outbound traffic is not specified; it must be one or the other.
			if got.Traffic == newOut.Traffic {
				want.Traffic = newOut.Traffic
			}
			if d := diffCtx(want, got); d != "" {
				t.Fatalf("after Update0(%#x) (-want +got):\n%s", st.flag, d)
			}
		}
		// Removing the UDP encapsulation of one direction.
		mustOK(t, fx.api.IPsecSaContextUpdate0(wfp.SADetailsUpdateUDPEncapsulation, &wfp.IPsecSAContext1{SAContextID: c.id, InboundSA: &wfp.IPsecSADetails1{}}), "remove UDP encapsulation")
		want.InboundSA.UDPEncapsulation = nil
		if got := get(t, fx.api, c.id); got.Traffic == newOut.Traffic {
			want.Traffic = newOut.Traffic
		}
		if d := diffCtx(want, get(t, fx.api, c.id)); d != "" {
			t.Errorf("after removing the inbound UDP encapsulation (-want +got):\n%s", d)
		}
		// Everything at once on one direction.
		c2 := fx.ctxAt(t, fx.api, v4, in)
		want2 := fx.wantContext(t, c2, in)
		n2 := nv(want2.InboundSA, 3)
		mustOK(t, fx.api.IPsecSaContextUpdate0(wfp.SAUpdateFlagsValid, &wfp.IPsecSAContext1{SAContextID: c2.id, InboundSA: n2}), "Update0(all flags)")
		for _, st := range steps {
			st.apply(want2.InboundSA, n2)
		}
		if d := diffCtx(want2, get(t, fx.api, c2.id)); d != "" {
			t.Errorf("after Update0(all flags) (-want +got):\n%s", d)
		}
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{add(c2.id)}, "updates (they send no event)")
	})

	// The outbound traffic alone changes: the inbound traffic stays what
	// GetSpi gave, in every state that has one.
	s.run(t, "OutboundTrafficOnly", func(t *testing.T) {
		fx := s.fixture(t)
		for _, v := range []wfp.IPVersion{v4, v6} {
			c := fx.ctxAt(t, fx.api, v, out)
			want := fx.wantContext(t, c, out)
			nt := want.OutboundSA.Traffic
			nt.RemotePort, nt.LocalPort = 4501, 4502
			mustOK(t, fx.api.IPsecSaContextUpdate0(wfp.SADetailsUpdateTraffic, &wfp.IPsecSAContext1{SAContextID: c.id, OutboundSA: &wfp.IPsecSADetails1{Traffic: nt}}), "Update0(outbound traffic)")
			want.OutboundSA.Traffic = nt
			got := get(t, fx.api, c.id)
			if got.Traffic == nt {
				want.Traffic = nt
			}
			if d := diffCtx(want, got); d != "" {
				t.Fatalf("%v: after an update of the outbound traffic alone (-want +got):\n%s", v, d)
			}
		}
	})
}
