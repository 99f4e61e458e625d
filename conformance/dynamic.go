package conformance

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

func (s *suite) dynamicSessions(t *testing.T) {
	dyn := &wfp.FwpmSession0{Flags: wfp.SessionFlagDynamic}

	s.run(t, "FiltersDieWithSession", func(t *testing.T) {
		fx := s.fixture(t)
		d, err := fx.h.Open(fx.h.Admin(), dyn)
		mustOK(t, err, "open dynamic session")
		st, err := fx.h.Open(fx.h.Admin(), nil)
		mustOK(t, err, "open static session")
		dOut, dIn, err := TransportFilters(d, PeerA4, netip4("192.0.2.50"))
		mustOK(t, err, "TransportFilters in the dynamic session")
		sOut, sIn, err := TransportFilters(st, PeerA4, netip4("192.0.2.51"))
		mustOK(t, err, "TransportFilters in the static session")
		if got := filterIDs(enumFilters(t, fx.api, nil)); !slices.Contains(got, dOut) || !slices.Contains(got, dIn) {
			t.Fatalf("dynamic filters %d, %d not listed while their session is open: %v", dOut, dIn, got)
		}
		mustOK(t, d.FwpmEngineClose0(), "close dynamic session")
		mustOK(t, st.FwpmEngineClose0(), "close static session")
		for _, id := range []uint64{dOut, dIn} {
			_, err := fx.api.FwpmFilterGetById0(id)
			wantErr(t, err, wfp.ErrFilterNotFound, "FwpmFilterGetById0 of a dynamic filter after its session closed")
		}
		got := filterIDs(enumFilters(t, fx.api, nil))
		want := []uint64{fx.f4.out, fx.f4.in, fx.f6.out, fx.f6.in, sOut, sIn}
		slices.Sort(got)
		slices.Sort(want)
		if d := diff(want, got); d != "" {
			t.Errorf("filters after the sessions closed (-want +got):\n%s", d)
		}
	})

	s.run(t, "CreateAndDeleteRefused", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		d := open(t, fx.h, fx.h.Admin(), dyn)
		before := snapshot(t, fx.api)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		tr0 := tr.ToTraffic0()
		_, _, err := d.IPsecSaContextCreate0(&tr0)
		wantErr(t, err, wfp.ErrDynamicSessionInProgress, "IPsecSaContextCreate0 in a dynamic session")
		_, _, err = d.IPsecSaContextCreate1(&tr, nil)
		wantErr(t, err, wfp.ErrDynamicSessionInProgress, "IPsecSaContextCreate1 in a dynamic session")
		_, _, err = d.IPsecSaContextCreate1(nil, nil)
		wantErr(t, err, wfp.ErrDynamicSessionInProgress, "IPsecSaContextCreate1(nil) in a dynamic session (dynamic rules come before arguments)")
		wantErr(t, d.IPsecSaContextDeleteById0(c.id), wfp.ErrDynamicSessionInProgress, "IPsecSaContextDeleteById0 in a dynamic session")
		wantErr(t, d.IPsecSaContextDeleteById0(987654), wfp.ErrDynamicSessionInProgress, "IPsecSaContextDeleteById0 of an unknown id in a dynamic session (dynamic rules come before objects)")
		wantUnchanged(t, before, snapshot(t, fx.api), "refused calls in a dynamic session")
	})

	s.run(t, "TransactionRulesComeFirst", func(t *testing.T) {
		fx := s.fixture(t)
		d := open(t, fx.h, fx.h.Admin(), dyn)
		before := snapshot(t, fx.api)
		mustOK(t, d.FwpmTransactionBegin0(0), "begin in a dynamic session")
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		_, _, err := d.IPsecSaContextCreate1(&tr, nil)
		wantErr(t, err, wfp.ErrTxnInProgress, "Create in a transaction of a dynamic session (transaction rules before dynamic-session rules)")
		wantErr(t, d.IPsecSaContextDeleteById0(1), wfp.ErrTxnInProgress, "DeleteById in a transaction of a dynamic session")
		mustOK(t, d.FwpmTransactionAbort0(), "abort")
		wantUnchanged(t, before, snapshot(t, fx.api), "refused calls")
	})

	s.run(t, "OtherSAContextCallsAllowed", func(t *testing.T) {
		fx := s.fixture(t)
		d := open(t, fx.h, fx.h.Admin(), &wfp.FwpmSession0{Flags: wfp.SessionFlagDynamic | wfp.SessionFlagKeyMaterial})
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		c.getSPI(t, d)
		c.addInbound(t, d)
		c.addOutbound(t, d)
		mustOK(t, d.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: c.id,
			InboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 5}}}), "Update in a dynamic session")
		wantState(t, d, c.id, wfp.SAContextOutboundAdded)
		mustOK(t, d.IPsecSaContextExpire0(c.id), "Expire in a dynamic session")
		wantState(t, fx.api, c.id, wfp.SAContextExpired)
		mustOK(t, d.FwpmEngineClose0(), "close")
		// The context is not the dynamic session's: it outlives it.
		wantState(t, fx.api, c.id, wfp.SAContextExpired)
	})

	s.run(t, "FilterDeleteRules", func(t *testing.T) {
		fx := s.fixture(t)
		d1 := open(t, fx.h, fx.h.Admin(), dyn)
		d2 := open(t, fx.h, fx.h.Admin(), dyn)
		f1, err := d1.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.50")), nil)
		mustOK(t, err, "FwpmFilterAdd0 in d1")
		f2, err := d2.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.51")), nil)
		mustOK(t, err, "FwpmFilterAdd0 in d2")
		before := snapshot(t, fx.api)
		wantErr(t, d1.FwpmFilterDeleteById0(f2), wfp.ErrWrongSession, "deleting another dynamic session's filter")
		wantErr(t, d1.FwpmFilterDeleteById0(fx.f4.out), wfp.ErrDynamicSessionInProgress, "deleting a static filter from a dynamic session")
		wantUnchanged(t, before, snapshot(t, fx.api), "refused filter deletes")
		mustOK(t, d1.FwpmFilterDeleteById0(f1), "deleting the session's own dynamic filter")
		_, err = fx.api.FwpmFilterGetById0(f1)
		wantErr(t, err, wfp.ErrFilterNotFound, "deleted filter")
	})

	s.run(t, "LifetimeMismatch", func(t *testing.T) {
		fx := s.fixture(t)
		d := open(t, fx.h, fx.h.Admin(), dyn)
		dOut, dIn, err := TransportFilters(d, PeerA4, PeerB4)
		mustOK(t, err, "dynamic TransportFilters")
		tOut, tIn, err := TunnelFilters(d, netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16"))
		mustOK(t, err, "dynamic TunnelFilters")
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		before := snapshot(t, fx.api)

		tr := TransportTraffic(PeerA4, PeerB4, dOut)
		_, _, err = fx.api.IPsecSaContextCreate1(&tr, nil)
		wantErr(t, err, wfp.ErrLifetimeMismatch, "Create with a dynamic session's outbound filter")
		tr0 := tr.ToTraffic0()
		_, _, err = fx.api.IPsecSaContextCreate0(&tr0)
		wantErr(t, err, wfp.ErrLifetimeMismatch, "Create0 with a dynamic session's outbound filter")
		tt := TunnelTraffic(PeerA4, PeerB4, tOut)
		_, _, err = fx.api.IPsecSaContextCreate1(&tt, nil)
		wantErr(t, err, wfp.ErrLifetimeMismatch, "Create with a dynamic session's tunnel filter")

		gs := GetSPI(TransportTraffic(PeerA4, PeerB4, dIn))
		_, err = fx.api.IPsecSaContextGetSpi1(c.id, gs)
		wantErr(t, err, wfp.ErrLifetimeMismatch, "GetSpi with a dynamic session's inbound filter")
		_, err = d.IPsecSaContextGetSpi1(c.id, gs)
		wantErr(t, err, wfp.ErrLifetimeMismatch, "GetSpi from the dynamic session with its own inbound filter")
		wantErr(t, fx.api.IPsecSaContextSetSpi0(c.id, gs, 0x5000), wfp.ErrLifetimeMismatch, "SetSpi with a dynamic session's inbound filter")
		_ = tIn
		wantUnchanged(t, before, snapshot(t, fx.api), "refused references to dynamic filters")
	})
}
