package conformance

import (
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

func (s *suite) spis(t *testing.T) {
	s.run(t, "UniqueAndInRange", func(t *testing.T) {
		fx := s.fixture(t)
		other := open(t, fx.h, fx.h.Admin(), nil)
		seen := map[uint32]uint64{}
		var order []uint32
		for i := range 300 {
			api := fx.api
			if i%2 == 1 {
				api = other
			}
			v := wfp.IPVersionV4
			if i%3 == 0 {
				v = wfp.IPVersionV6
			}
			c := fx.ctxAt(t, api, v, wfp.SAContextSPISet)
			if c.spi < 256 {
				t.Errorf("GetSpi returned %#x, in the reserved range 0-255", c.spi)
			}
			if prev, dup := seen[c.spi]; dup {
				t.Errorf("SPI %#x given to contexts %d and %d", c.spi, prev, c.id)
			}
			seen[c.spi] = c.id
			order = append(order, c.spi)
		}
		sequential := true
		for i := 1; i < len(order); i++ {
			if order[i] != order[i-1]+1 {
				sequential = false
			}
		}
		if sequential {
			t.Errorf("SPIs %#x... are sequential; they must be drawn at random", order[:5])
		}
	})

	s.run(t, "SetSpiInUse", func(t *testing.T) {
		fx := s.fixture(t)
		r, _ := subscribe(t, fx.api, nil)
		holders := []*sactx{
			fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet),
			fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextOutboundAdded),
			fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextExpired),
		}
		set := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated)
		mustOK(t, fx.api.IPsecSaContextSetSpi0(set.id, set.getSpi, 0x00FEED00), "SetSpi")
		set.spi = 0x00FEED00
		holders = append(holders, set)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		fx.sync1(t, r)
		before := snapshot(t, fx.api)
		for _, h := range holders {
			wantErr(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, h.spi), wfp.ErrAlreadyExists, "SetSpi of the SPI of context %d", h.id)
		}
		wantUnchanged(t, before, snapshot(t, fx.api), "refused SetSpi")
		wantEvents(t, fx.sync1(t, r), nil, "refused SetSpi")
	})

	s.run(t, "ReleasedOnDelete", func(t *testing.T) {
		fx := s.fixture(t)
		for _, st := range allStates {
			o := fx.ctxAt(t, fx.api, wfp.IPVersionV4, st)
			if st == wfp.SAContextCreated {
				continue
			}
			mustOK(t, fx.api.IPsecSaContextDeleteById0(o.id), "DeleteById in %v", st)
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
			mustOK(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, o.spi), "SetSpi of the SPI of a context deleted in %v", st)
		}
	})

	s.run(t, "ReleasedWhenExpireDeletes", func(t *testing.T) {
		fx := s.fixture(t)
		o := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextSPISet)
		mustOK(t, fx.api.IPsecSaContextExpire0(o.id), "Expire in SPI_SET")
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated)
		mustOK(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, o.spi), "SetSpi of the SPI of a context Expire deleted")
	})

	s.run(t, "KeptThroughLinger", func(t *testing.T) {
		fx := s.fixture(t)
		o := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextExpired)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		fx.h.Advance(59 * time.Second)
		wantErr(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, o.spi), wfp.ErrAlreadyExists, "SetSpi of a lingering context's SPI")
		fx.h.Advance(2 * time.Second)
		mustOK(t, fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, o.spi), "SetSpi of the SPI after the linger")
	})

	s.run(t, "OutboundSPIsAndQMSAIDsNeedNotBeUnique", func(t *testing.T) {
		fx := s.fixture(t)
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		for _, c := range []*sactx{a, b} {
			ob := c.outbound.Clone()
			ob.SAList[0].SPI = a.spi // also a's inbound SPI
			mustOK(t, fx.api.IPsecSaContextAddOutbound1(c.id, ob), "AddOutbound with a shared outbound SPI")
		}
		// qmSaId uniqueness across pairs is the keying module's duty.
		for range 2 {
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextSPISet)
			c.inbound.QMSAID, c.outbound.QMSAID = 4242, 4242
			c.addInbound(t, fx.api)
			c.addOutbound(t, fx.api)
		}
		c3 := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		ob := c3.outbound.Clone()
		ob.SAList[0].SPI = 256
		mustOK(t, fx.api.IPsecSaContextAddOutbound1(c3.id, ob), "AddOutbound with SPI 256")
	})
}
