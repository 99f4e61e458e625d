package conformance

import (
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

func (s *suite) statistics(t *testing.T) {
	s.run(t, "Aggregate", func(t *testing.T) {
		fx := s.fixture(t)
		agg := func() wfp.IPsecAggregateSAStatistics0 {
			t.Helper()
			st, err := fx.api.IPsecGetStatistics1()
			mustOK(t, err, "IPsecGetStatistics1")
			st0, err := fx.api.IPsecGetStatistics0()
			mustOK(t, err, "IPsecGetStatistics0")
			if d := diff(st.ToStatistics0(), st0); d != "" {
				t.Errorf("IPsecGetStatistics0 differs from the narrowed IPsecGetStatistics1 (-1 +0):\n%s", d)
			}
			return st.AggregateSAStatistics
		}
		check := func(what string, want wfp.IPsecAggregateSAStatistics0, skipPending bool) {
			t.Helper()
			got := agg()
			got.SuccessfulRekeys, got.OffloadedSAs = 0, 0
			if skipPending {
				got.PendingSANegotiations = want.PendingSANegotiations
			}
			if d := diff(want, got); d != "" {
				t.Errorf("%s: aggregate SA statistics (-want +got):\n%s", what, d)
			}
		}
		check("fresh engine", wfp.IPsecAggregateSAStatistics0{}, false)
		fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextSPISet)
		fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)        // 1 SA
		c4 := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextOutboundAdded) // 2 SAs
		c5 := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)        // AH+ESP: 4 SAs
		c5.inbound = AHESPBundle(wfp.IPVersionV4, 0, TestKey(20, 1), TestKey(32, 2))
		c5.outbound = AHESPBundle(wfp.IPVersionV4, 0x9999, TestKey(20, 3), TestKey(32, 4))
		c5.addInbound(t, fx.api)
		c5.addOutbound(t, fx.api)
		c6 := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextInboundAdded) // 1 SA
		check("after plumbing", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 8, PendingSANegotiations: 4, TotalSAsAdded: 8}, false)
		mustOK(t, fx.api.IPsecSaContextDeleteById0(c4.id), "DeleteById")
		check("after deleting a context with 2 SAs", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 6, PendingSANegotiations: 4, TotalSAsAdded: 8, TotalSAsDeleted: 2}, false)
		mustOK(t, fx.api.IPsecSaContextExpire0(c5.id), "Expire")
		check("after expiring the AH+ESP context", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 4, TotalSAsAdded: 8, TotalSAsDeleted: 4}, true)
		fx.h.Advance(61 * time.Second)
		check("after the linger", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 2, PendingSANegotiations: 4, TotalSAsAdded: 8, TotalSAsDeleted: 6}, false)
		c6.addOutbound(t, fx.api)
		check("after completing a context", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 3, PendingSANegotiations: 3, TotalSAsAdded: 9, TotalSAsDeleted: 6}, false)
		for _, c := range enumContexts(t, fx.api, nil) {
			mustOK(t, fx.api.IPsecSaContextDeleteById0(c.SAContextID), "DeleteById")
		}
		check("after deleting everything", wfp.IPsecAggregateSAStatistics0{TotalSAsAdded: 9, TotalSAsDeleted: 9}, false)
	})

	s.run(t, "ActiveTunnels", func(t *testing.T) {
		fx := s.fixture(t)
		fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded) // transport: not a tunnel
		t1 := fx.createTunnel(t, fx.api, wfp.IPVersionV4)
		t1.getSPI(t, fx.api)
		t1.addInbound(t, fx.api)
		t1.addOutbound(t, fx.api)
		t2 := fx.createTunnel(t, fx.api, wfp.IPVersionV6)
		t2.getSPI(t, fx.api)
		t2.addInbound(t, fx.api) // not yet a tunnel
		st, err := fx.api.IPsecGetStatistics1()
		mustOK(t, err, "IPsecGetStatistics1")
		if got := st.AggregateSAStatistics; got.ActiveTunnels != 1 || got.ActiveSAs != 5 || got.PendingSANegotiations != 1 {
			t.Errorf("aggregate statistics %+v, want 1 active tunnel, 5 active SAs, 1 pending", got)
		}
		t2.addOutbound(t, fx.api)
		mustOK(t, fx.api.IPsecSaContextExpire0(t1.id), "Expire")
		st, err = fx.api.IPsecGetStatistics1()
		mustOK(t, err, "IPsecGetStatistics1")
		if got := st.AggregateSAStatistics.ActiveTunnels; got != 1 {
			t.Errorf("activeTunnels = %d after one tunnel completed and the other expired, want 1", got)
		}
	})
}
