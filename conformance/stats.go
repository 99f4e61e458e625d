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
		t1 := fx.createTunnel(t, fx.api, wfp.IPVersionV4) // 2 SAs, a tunnel
		t1.getSPI(t, fx.api)
		t1.addInbound(t, fx.api)
		t1.addOutbound(t, fx.api)
		t2 := fx.createTunnel(t, fx.api, wfp.IPVersionV6) // 1 SA, not yet a tunnel
		t2.getSPI(t, fx.api)
		t2.addInbound(t, fx.api)
		check("after plumbing", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 10, PendingSANegotiations: 4, TotalSAsAdded: 10, ActiveTunnels: 1}, false)
		mustOK(t, fx.api.IPsecSaContextDeleteById0(c4.id), "DeleteById")
		check("after deleting a context with 2 SAs", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 8, PendingSANegotiations: 4, TotalSAsAdded: 10, TotalSAsDeleted: 2, ActiveTunnels: 1}, false)
		mustOK(t, fx.api.IPsecSaContextExpire0(c5.id), "Expire")
		check("after expiring the AH+ESP context", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 6, TotalSAsAdded: 10, TotalSAsDeleted: 4, ActiveTunnels: 1}, true)
		fx.h.Advance(61 * time.Second)
		check("after the linger", wfp.IPsecAggregateSAStatistics0{ActiveSAs: 4, PendingSANegotiations: 4, TotalSAsAdded: 10, TotalSAsDeleted: 6, ActiveTunnels: 1}, false)
		for _, c := range enumContexts(t, fx.api, nil) {
			mustOK(t, fx.api.IPsecSaContextDeleteById0(c.SAContextID), "DeleteById")
		}
		check("after deleting everything", wfp.IPsecAggregateSAStatistics0{TotalSAsAdded: 10, TotalSAsDeleted: 10}, false)
	})
}
