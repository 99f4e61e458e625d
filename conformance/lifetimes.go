package conformance

import (
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

func (s *suite) lifetimes(t *testing.T) {
	for _, st := range []wfp.SAContextState{wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded} {
		s.run(t, "ExpireLinger/"+st.String(), func(t *testing.T) {
			fx := s.fixture(t)
			r, _ := subscribe(t, fx.api, nil)
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, st)
			fx.sync1(t, r)
			fx.h.Advance(30 * time.Second) // the linger counts from Expire0, not from the adds
			mustOK(t, fx.api.IPsecSaContextExpire0(c.id), "Expire0")
			want := fx.wantContext(t, c, wfp.SAContextExpired)
			if d := diffCtx(want, get(t, fx.api, c.id)); d != "" {
				t.Errorf("right after Expire0 (-want +got):\n%s", d)
			}
			if d := diffCtx([]*wfp.IPsecSADetails1{want.InboundSA}, enumSAs(t, fx.api, nil)); d != "" {
				t.Errorf("SAs right after Expire0 (-want +got):\n%s", d)
			}
			wantEvents(t, fx.sync1(t, r), nil, "Expire0 (the context lingers)")
			fx.h.Advance(59 * time.Second)
			if d := diffCtx(want, get(t, fx.api, c.id)); d != "" {
				t.Errorf("59 s after Expire0 (-want +got):\n%s", d)
			}
			wantEvents(t, fx.sync1(t, r), nil, "59 s into the linger")
			fx.h.Advance(2 * time.Second)
			wantGone(t, fx.api, c.id)
			if sas := enumSAs(t, fx.api, nil); len(sas) != 0 {
				t.Errorf("SAs after the linger: %d", len(sas))
			}
			wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(c.id)}, "end of the linger")
		})
	}

	s.run(t, "DeleteDuringLinger", func(t *testing.T) {
		fx := s.fixture(t)
		r, _ := subscribe(t, fx.api, nil)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextExpired)
		fx.sync1(t, r)
		fx.h.Advance(10 * time.Second)
		mustOK(t, fx.api.IPsecSaContextDeleteById0(c.id), "DeleteById0 of an expired context")
		wantGone(t, fx.api, c.id)
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(c.id)}, "early delete")
		fx.h.Advance(time.Minute)
		wantEvents(t, fx.sync1(t, r), nil, "after the would-be end of the linger")
	})

	type lifeCase struct {
		name string
		// prep sets limits on the bundles; it returns the time between
		// AddInbound and AddOutbound (0: no AddOutbound).
		prep    func(in, out *wfp.IPsecSABundle1) (outboundAfter time.Duration)
		expire  time.Duration // >0: Expire0 this long after the adds
		deadAt  time.Duration // after AddInbound
		noLimit bool
	}
	for _, tc := range []lifeCase{
		{name: "HardLifetime/Inbound", prep: func(in, out *wfp.IPsecSABundle1) time.Duration {
			in.Lifetime.LifetimeSeconds = 100
			return time.Second
		}, deadAt: 100 * time.Second},
		{name: "HardLifetime/InboundOnly", prep: func(in, out *wfp.IPsecSABundle1) time.Duration {
			in.Lifetime.LifetimeSeconds = 100
			return 0
		}, deadAt: 100 * time.Second},
		{name: "HardLifetime/OutboundFromItsAdd", prep: func(in, out *wfp.IPsecSABundle1) time.Duration {
			in.Lifetime.LifetimeSeconds = 300
			out.Lifetime.LifetimeSeconds = 100
			return 10 * time.Second
		}, deadAt: 110 * time.Second},
		{name: "HardLifetime/DuringLinger", prep: func(in, out *wfp.IPsecSABundle1) time.Duration {
			in.Lifetime.LifetimeSeconds = 30
			return time.Second
		}, expire: 10 * time.Second, deadAt: 30 * time.Second},
		{name: "IdleTimeout/Inbound", prep: func(in, out *wfp.IPsecSABundle1) time.Duration {
			in.IdleTimeoutSeconds = 30
			return time.Second
		}, deadAt: 30 * time.Second},
		{name: "IdleTimeout/OutboundFromItsAdd", prep: func(in, out *wfp.IPsecSABundle1) time.Duration {
			out.IdleTimeoutSeconds = 40
			out.Lifetime.LifetimeSeconds = 600
			return 10 * time.Second
		}, deadAt: 50 * time.Second},
		{name: "ZeroMeansNoLimit", prep: func(in, out *wfp.IPsecSABundle1) time.Duration {
			in.Lifetime = wfp.IPsecSALifetime0{LifetimeKilobytes: 10, LifetimePackets: 10}
			out.Lifetime = wfp.IPsecSALifetime0{LifetimeKilobytes: 10, LifetimePackets: 10}
			return time.Second
		}, noLimit: true},
	} {
		s.run(t, tc.name, func(t *testing.T) {
			fx := s.fixture(t)
			r, _ := subscribe(t, fx.api, nil)
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
			after := tc.prep(c.inbound, c.outbound)
			c.addInbound(t, fx.api)
			elapsed := time.Duration(0)
			if after > 0 {
				fx.h.Advance(after)
				elapsed += after
				c.addOutbound(t, fx.api)
			}
			if tc.expire > 0 {
				fx.h.Advance(tc.expire - elapsed)
				elapsed = tc.expire
				mustOK(t, fx.api.IPsecSaContextExpire0(c.id), "Expire0")
			}
			fx.sync1(t, r)
			if tc.noLimit {
				fx.h.Advance(400 * 24 * time.Hour)
				wantState(t, fx.api, c.id, wfp.SAContextOutboundAdded)
				wantEvents(t, fx.sync1(t, r), nil, "no limit")
				return
			}
			fx.h.Advance(tc.deadAt - elapsed - time.Second)
			if _, err := fx.api.IPsecSaContextGetById1(c.id); err != nil {
				t.Fatalf("context gone a second before its limit: %v", err)
			}
			wantEvents(t, fx.sync1(t, r), nil, "a second before the limit")
			fx.h.Advance(2 * time.Second)
			wantGone(t, fx.api, c.id)
			wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(c.id)}, "limit reached")
			// Its SPI is free again.
			o := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
			mustOK(t, fx.api.IPsecSaContextSetSpi0(o.id, o.getSpi, c.spi), "SetSpi of the expired context's SPI")
		})
	}

	s.run(t, "AbortedTransactionStartsNoTimer", func(t *testing.T) {
		fx := s.fixture(t)
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		a.inbound.Lifetime.LifetimeSeconds = 10
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		a.addInbound(t, fx.api)
		mustOK(t, fx.api.IPsecSaContextExpire0(b.id), "Expire0")
		mustOK(t, fx.api.FwpmTransactionAbort0(), "abort")
		fx.h.Advance(2 * time.Minute)
		wantState(t, fx.api, a.id, wfp.SAContextSPISet)
		wantState(t, fx.api, b.id, wfp.SAContextOutboundAdded)
	})

	s.run(t, "CommittedTransactionStartsTimers", func(t *testing.T) {
		fx := s.fixture(t)
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		a.inbound.Lifetime.LifetimeSeconds = 10
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		a.addInbound(t, fx.api)
		mustOK(t, fx.api.IPsecSaContextExpire0(b.id), "Expire0")
		mustOK(t, fx.api.FwpmTransactionCommit0(), "commit")
		fx.h.Advance(9 * time.Second)
		wantState(t, fx.api, a.id, wfp.SAContextInboundAdded)
		fx.h.Advance(2 * time.Second)
		wantGone(t, fx.api, a.id)
		wantState(t, fx.api, b.id, wfp.SAContextExpired)
		fx.h.Advance(50 * time.Second)
		wantGone(t, fx.api, b.id)
	})
}
