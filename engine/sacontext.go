package engine

import (
	"math/rand/v2"

	"github.com/sadb-dev/sadb/wfp"
)

// modifyCtx runs fn on the current version of context id with the context's
// table shard locked, so calls on one context are serialized. fn returns the
// next version (nil deletes the context, the same pointer changes nothing).
// Events fn emits are queued while the shard is locked, which keeps each
// context's events in the order its changes happened.
func (tx *txn) modifyCtx(id uint64, fn func(c *saCtx) (*saCtx, error)) error {
	e := tx.e
	sh := e.ctxs.shard(id)
	sh.mu.Lock()
	c := sh.m.get(id)
	if c == nil {
		sh.mu.Unlock()
		return wfp.Errorf(wfp.ErrNotFound, "SA context %d does not exist", id)
	}
	next, err := fn(c)
	if err == nil && next != c {
		err = tx.queueSAs(c, next)
	}
	if err != nil || next == c {
		sh.mu.Unlock()
		return err
	}
	if next == nil {
		sh.m.del(id)
		sh.count.Add(-1)
	} else {
		sh.m.set(id, next)
	}
	sh.mu.Unlock()
	tx.undo = append(tx.undo, undoEntry{kind: undoCtx, id: id, ctx: c, installed: next})
	if e.store != nil {
		tx.dirty.ctx(id)
	}
	return nil
}

// deleteLocked records the consequences of deleting context c: the DELETE
// event now, and after commit its keys zeroed, its SPI released, its filter
// references dropped. Called from a modifyCtx callback.
func (tx *txn) deleteLocked(c *saCtx) {
	tx.event(wfp.SAContextEventDelete, c)
	n := 0
	for _, b := range []*bundle{c.in, c.out} {
		if b != nil {
			tx.postAction(postAction{kind: postZeroKeys, b: b})
			n += int(b.nSA)
		}
	}
	if n > 0 {
		tx.postAction(postAction{kind: postSAsDeleted, id: c.id, n: n})
	}
	if c.spi != 0 {
		tx.postAction(postAction{kind: postReleaseSPI, id: c.id, spi: c.spi})
	}
	tx.postAction(postAction{kind: postUnschedule, ts: c.tslot})
	out, in := c.filterIDs()
	tx.postAction(postAction{kind: postUnrefFilter, id: out, spi: uint32(tx.slot)})
	if in != 0 {
		tx.postAction(postAction{kind: postUnrefFilter, id: in, spi: uint32(tx.slot)})
	}
	// Last: the actions above still use the blocks (see reuse.go).
	tx.postAction(postAction{kind: postGiveBack, ts: c.tslot})
}

// IPsecSaContextCreate0 creates an SA context (Vista version).
func (s *session) IPsecSaContextCreate0(t *wfp.IPsecTraffic0) (uint64, uint64, error) {
	if t == nil {
		return s.IPsecSaContextCreate1(nil, nil)
	}
	t1 := t.ToTraffic1()
	return s.IPsecSaContextCreate1(&t1, nil)
}

// IPsecSaContextCreate1 creates an SA context for outbound traffic t.
func (s *session) IPsecSaContextCreate1(t *wfp.IPsecTraffic1, vif *wfp.IPsecVirtualIfTunnelInfo0) (id, inboundFilter uint64, err error) {
	err = s.run(opWrite|opNoTxn|opNoDynamic, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlAdd); err != nil {
			return err
		}
		if t == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "outboundTraffic is nil")
		}
		if err := validateTraffic(t, "outboundTraffic"); err != nil {
			return err
		}
		f, err := tx.refIPsec(t, true)
		if err != nil {
			return err
		}
		e := s.e
		cid := e.nextCtx.Add(1)
		c := newCtx(cid)
		c.state = wfp.SAContextCreated
		c.created = e.clk.Now().UnixNano()
		c.outTraffic = *t
		if vif != nil {
			v := *vif
			c.x = &ctxExtras{vif: &v}
		}
		sh := e.ctxs.shard(cid)
		sh.mu.Lock()
		sh.m.set(cid, c)
		tx.event(wfp.SAContextEventAdd, c)
		sh.count.Add(1)
		sh.mu.Unlock()
		// c is not read from here on: another session may delete the
		// context, and its commit give c's memory back (see reuse.go).
		tx.undo = append(tx.undo, undoEntry{kind: undoCtx, id: cid, installed: c})
		if e.store != nil {
			tx.dirty.ctx(cid)
			tx.dirty.ids = true
		}
		id = cid
		inboundFilter = e.filters.cachedInbound(f)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return id, inboundFilter, nil
}

// IPsecSaContextGetSpi0 is the Vista version of GetSpi1.
func (s *session) IPsecSaContextGetSpi0(id uint64, g *wfp.IPsecGetSPI0) (uint32, error) {
	if g == nil {
		return s.IPsecSaContextGetSpi1(id, nil)
	}
	g1 := g.ToGetSPI1()
	return s.IPsecSaContextGetSpi1(id, &g1)
}

// IPsecSaContextGetSpi1 allocates (or returns again) the inbound SPI.
func (s *session) IPsecSaContextGetSpi1(id uint64, g *wfp.IPsecGetSPI1) (uint32, error) {
	var spi uint32
	err := s.run(opWrite, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlAdd); err != nil {
			return err
		}
		if g == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "getSpi is nil")
		}
		if err := validateGetSPI(g); err != nil {
			return err
		}
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			inf, err := s.e.lookupIPsec(&g.InboundIPsecTraffic, false)
			if err != nil {
				return nil, err
			}
			switch c.state {
			case wfp.SAContextSPISet, wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded:
				if c.spi == 0 || !sameGetSPI(c, g) {
					return nil, wfp.Errorf(wfp.ErrTrafficMismatch, "GetSpi was already called for SA context %d with other traffic", id)
				}
				spi = c.spi
				return c, nil
			case wfp.SAContextExpired:
				return nil, wfp.Errorf(wfp.ErrIncompatibleSAState, "SA context %d has expired", id)
			}
			if err := s.e.matchInbound(c, g, inf); err != nil {
				return nil, err
			}
			if _, err := tx.refIPsec(&g.InboundIPsecTraffic, false); err != nil {
				return nil, err
			}
			v, err := tx.e.allocSPI(id)
			if err != nil {
				return nil, err
			}
			tx.reservedSPI(v, id)
			spi = v
			return withSPI(c, g, v), nil
		})
	})
	if err != nil {
		return 0, err
	}
	return spi, nil
}

// IPsecSaContextSetSpi0 sets the inbound SPI chosen by the caller.
func (s *session) IPsecSaContextSetSpi0(id uint64, g *wfp.IPsecGetSPI1, spi uint32) error {
	return s.run(opWrite, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlAdd); err != nil {
			return err
		}
		if g == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "getSpi is nil")
		}
		if err := validateGetSPI(g); err != nil {
			return err
		}
		if spi < s.e.spiMin || spi > s.e.spiMax {
			return wfp.Errorf(wfp.ErrOutOfBounds, "SPI %d is outside [%d, %d]", spi, s.e.spiMin, s.e.spiMax)
		}
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			inf, err := s.e.lookupIPsec(&g.InboundIPsecTraffic, false)
			if err != nil {
				return nil, err
			}
			if c.state == wfp.SAContextSPISet && c.spi == spi && c.spi != 0 && sameGetSPI(c, g) {
				return c, nil
			}
			if c.state != wfp.SAContextCreated {
				return nil, wfp.Errorf(wfp.ErrIncompatibleSAState, "SA context %d is %v; SetSpi needs a new context", id, c.state)
			}
			if err := s.e.matchInbound(c, g, inf); err != nil {
				return nil, err
			}
			if _, err := tx.refIPsec(&g.InboundIPsecTraffic, false); err != nil {
				return nil, err
			}
			if !tx.e.spis.reserve(spi, id) {
				return nil, wfp.Errorf(wfp.ErrAlreadyExists, "SPI %d is in use", spi)
			}
			tx.reservedSPI(spi, id)
			return withSPI(c, g, spi), nil
		})
	})
}

func withSPI(c *saCtx, g *wfp.IPsecGetSPI1, spi uint32) *saCtx {
	next := c.successor()
	x := *c.ex()
	x.gsFull, x.inTraffic = next.setGSFilters(&g.InboundIPsecTraffic), nil
	x.gsUDP, x.inUDP, x.outUDP = nil, nil, nil
	if g.InboundUDPEncapsulation != nil {
		u := *g.InboundUDPEncapsulation // shared: every holder treats it as immutable
		x.gsUDP, x.inUDP, x.outUDP = &u, &u, &u
	}
	next.setExtras(&x)
	next.spi = spi
	next.state = wfp.SAContextSPISet
	return next
}

// matchInbound checks that the inbound traffic describes the same connection
// as the context's outbound traffic. In tunnel mode the inbound tunnel
// filter inf must be the other half of the outbound one: the same
// conditions.
func (e *Engine) matchInbound(c *saCtx, g *wfp.IPsecGetSPI1, inf *filter) error {
	in, out := &g.InboundIPsecTraffic, &c.outTraffic
	switch {
	case in.IPVersion != out.IPVersion:
		return wfp.Errorf(wfp.ErrTrafficMismatch, "inbound traffic is %v, the SA context is %v", in.IPVersion, out.IPVersion)
	case in.TrafficType != out.TrafficType:
		return wfp.Errorf(wfp.ErrTrafficMismatch, "inbound traffic is %v, the SA context is %v", in.TrafficType, out.TrafficType)
	case in.LocalAddr() != out.LocalAddr() || in.RemoteAddr() != out.RemoteAddr():
		return wfp.Errorf(wfp.ErrTrafficMismatch, "inbound traffic %s<->%s differs from the SA context's %s<->%s",
			in.LocalAddr(), in.RemoteAddr(), out.LocalAddr(), out.RemoteAddr())
	case in.TrafficType == wfp.TrafficTypeTunnel:
		if outf := e.filters.get(out.TunnelPolicyID); outf == nil || outf.pairKey != inf.pairKey {
			return wfp.Errorf(wfp.ErrTrafficMismatch, "inbound tunnel filter %d does not pair with the SA context's outbound tunnel filter %d (their conditions differ)", in.TunnelPolicyID, out.TunnelPolicyID)
		}
	}
	return nil
}

// sameGetSPI reports whether g equals the first IPSEC_GETSPI1 of c.
func sameGetSPI(c *saCtx, g *wfp.IPsecGetSPI1) bool {
	if c.spi == 0 {
		return false
	}
	if t := c.gsTraffic(); g.IPVersion != t.IPVersion || g.InboundIPsecTraffic != t {
		return false
	}
	return sameUDP(c.ex().gsUDP, g.InboundUDPEncapsulation)
}

// allocSPI reserves a random free SPI for context id.
func (e *Engine) allocSPI(id uint64) (uint32, error) {
	span := uint64(e.spiMax) - uint64(e.spiMin) + 1
	for range 32 {
		spi := e.spiMin + uint32(rand.Uint64N(span))
		if e.spis.reserve(spi, id) {
			return spi, nil
		}
	}
	// Crowded: scan from a random start, so the time is bounded by the range.
	start := rand.Uint64N(span)
	for k := range span {
		spi := e.spiMin + uint32((start+k)%span)
		if e.spis.reserve(spi, id) {
			return spi, nil
		}
	}
	return 0, wfp.Errorf(wfp.ErrorNoMoreItems, "every SPI in [%d, %d] is in use", e.spiMin, e.spiMax)
}

// IPsecSaContextAddInbound0 is the Vista version of AddInbound1.
func (s *session) IPsecSaContextAddInbound0(id uint64, b *wfp.IPsecSABundle0) error {
	if b == nil {
		return s.IPsecSaContextAddInbound1(id, nil)
	}
	b1 := b.ToBundle1()
	return s.IPsecSaContextAddInbound1(id, &b1)
}

// IPsecSaContextAddInbound1 adds the inbound SA bundle.
func (s *session) IPsecSaContextAddInbound1(id uint64, b *wfp.IPsecSABundle1) error {
	return s.run(opWrite, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlAdd); err != nil {
			return err
		}
		if b == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "inboundBundle is nil")
		}
		if err := validateBundle(b, "inboundBundle"); err != nil {
			return err
		}
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			if c.state != wfp.SAContextSPISet {
				return nil, wfp.Errorf(wfp.ErrIncompatibleSAState, "SA context %d is %v; AddInbound follows GetSpi/SetSpi", id, c.state)
			}
			if b.IPVersion != c.outTraffic.IPVersion {
				return nil, wfp.Errorf(wfp.ErrTrafficMismatch, "inboundBundle is %v, the SA context is %v", b.IPVersion, c.outTraffic.IPVersion)
			}
			for i := range b.SAList {
				if b.SAList[i].SPI != c.spi {
					return nil, wfp.Errorf(wfp.ErrInvalidParameter, "inboundBundle.saList[%d].spi is %d; the SA context's inbound SPI is %d", i, b.SAList[i].SPI, c.spi)
				}
			}
			next := c.successor()
			blk := newBundleBlock()
			next.in = blk.fill(b, s.e.clk.Now())
			if c.tslot.inBlk == nil {
				c.tslot.inBlk = blk
			}
			next.state = wfp.SAContextInboundAdded
			tx.postAction(postAction{kind: postSAsAdded, id: id, n: len(b.SAList)})
			tx.postAction(postAction{kind: postSchedule, id: id})
			return next, nil
		})
	})
}

// IPsecSaContextAddOutbound0 is the Vista version of AddOutbound1.
func (s *session) IPsecSaContextAddOutbound0(id uint64, b *wfp.IPsecSABundle0) error {
	if b == nil {
		return s.IPsecSaContextAddOutbound1(id, nil)
	}
	b1 := b.ToBundle1()
	return s.IPsecSaContextAddOutbound1(id, &b1)
}

// IPsecSaContextAddOutbound1 adds the outbound SA bundle.
func (s *session) IPsecSaContextAddOutbound1(id uint64, b *wfp.IPsecSABundle1) error {
	return s.run(opWrite, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlAdd); err != nil {
			return err
		}
		if b == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "outboundBundle is nil")
		}
		if err := validateBundle(b, "outboundBundle"); err != nil {
			return err
		}
		for i := range b.SAList {
			if b.SAList[i].SPI < minSPI {
				return wfp.Errorf(wfp.ErrOutOfBounds, "outboundBundle.saList[%d].spi %d is reserved (SPIs below 256)", i, b.SAList[i].SPI)
			}
		}
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			if c.state != wfp.SAContextInboundAdded {
				return nil, wfp.Errorf(wfp.ErrIncompatibleSAState, "SA context %d is %v; AddOutbound follows AddInbound", id, c.state)
			}
			if b.IPVersion != c.outTraffic.IPVersion {
				return nil, wfp.Errorf(wfp.ErrTrafficMismatch, "outboundBundle is %v, the SA context is %v", b.IPVersion, c.outTraffic.IPVersion)
			}
			if b.QMSAID != c.in.qmSAID {
				return nil, wfp.Errorf(wfp.ErrInvalidParameter, "outboundBundle.qmSaId %d differs from the inbound bundle's %d", b.QMSAID, c.in.qmSAID)
			}
			v := vwbPool.Get().(*versionWithBundle) // zero
			v.c = *c
			next := &v.c
			next.out = v.blk.fill(b, s.e.clk.Now())
			next.state = wfp.SAContextOutboundAdded
			ts := c.tslot
			if ts.vwb == nil {
				ts.vwb = v
			}
			// The context's versions live outside its room from now on,
			// so the room goes back at commit (see reuse.go).
			if ts.home != nil {
				tx.postAction(postAction{kind: postGiveRoom, room: ts.home})
				ts.home, ts.room = nil, nil
			}
			tx.postAction(postAction{kind: postSAsAdded, id: id, n: len(b.SAList)})
			tx.postAction(postAction{kind: postSchedule, id: id})
			tx.postAction(postAction{kind: postKeyNotify, id: id})
			return next, nil
		})
	})
}

// IPsecSaContextExpire0 expires an SA context.
func (s *session) IPsecSaContextExpire0(id uint64) error {
	return s.run(opWrite, func(tx *txn) error {
		if err := s.checkSADB(wfp.Delete); err != nil {
			return err
		}
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			switch c.state {
			case wfp.SAContextCreated, wfp.SAContextSPISet:
				tx.deleteLocked(c)
				return nil, nil
			case wfp.SAContextExpired:
				return nil, wfp.Errorf(wfp.ErrIncompatibleSAState, "SA context %d has already expired", id)
			}
			next := c.successor()
			if c.out != nil {
				tx.postAction(postAction{kind: postZeroKeys, b: c.out})
				tx.postAction(postAction{kind: postSAsDeleted, id: id, n: int(c.out.nSA)})
				next.out = nil
				// This transaction zeroes the outbound keys at its commit,
				// which may come after a delete's: the block they are in is
				// left to the garbage collector (see reuse.go).
				c.tslot.vwb = nil
			}
			next.state = wfp.SAContextExpired
			next.expiredAt = s.e.clk.Now().UnixNano()
			tx.postAction(postAction{kind: postSchedule, id: id})
			return next, nil
		})
	})
}

// IPsecSaContextDeleteById0 deletes an SA context.
func (s *session) IPsecSaContextDeleteById0(id uint64) error {
	return s.run(opWrite|opNoTxn|opNoDynamic, func(tx *txn) error {
		if err := s.checkSADB(wfp.Delete); err != nil {
			return err
		}
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			tx.deleteLocked(c)
			return nil, nil
		})
	})
}

// IPsecSaContextUpdate0 changes selected members of an SA context.
func (s *session) IPsecSaContextUpdate0(flags uint64, nv *wfp.IPsecSAContext1) error {
	return s.run(opWrite, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlAdd); err != nil {
			return err
		}
		if flags == 0 || flags&^wfp.SAUpdateFlagsValid != 0 {
			return wfp.Errorf(wfp.ErrInvalidFlags, "update flags 0x%X: a nonzero combination of the IPSEC_SA_*_UPDATE_* bits is required", flags)
		}
		if nv == nil || (nv.InboundSA == nil && nv.OutboundSA == nil) {
			return wfp.Errorf(wfp.ErrNullPointer, "newValues and at least one of its SA details are required")
		}
		for _, d := range []*wfp.IPsecSADetails1{nv.InboundSA, nv.OutboundSA} {
			if d == nil {
				continue
			}
			if flags&wfp.SADetailsUpdateTraffic != 0 {
				if err := validateTraffic(&d.Traffic, "newValues traffic"); err != nil {
					return err
				}
			}
			if flags&wfp.SADetailsUpdateUDPEncapsulation != 0 && d.UDPEncapsulation != nil {
				if err := validateUDPEncap(d.UDPEncapsulation, d.Traffic.IPVersion); err != nil {
					return err
				}
			}
			if flags&wfp.SABundleUpdateFlags != 0 && d.SABundle.Flags&^wfp.SABundleFlagsValid != 0 {
				return wfp.Errorf(wfp.ErrInvalidFlags, "newValues bundle flags 0x%X have undefined bits", d.SABundle.Flags&^wfp.SABundleFlagsValid)
			}
		}
		id := nv.SAContextID
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			if c.state != wfp.SAContextInboundAdded && c.state != wfp.SAContextOutboundAdded {
				return nil, wfp.Errorf(wfp.ErrIncompatibleSAState, "SA context %d is %v; Update needs its SA bundles", id, c.state)
			}
			if nv.OutboundSA != nil && c.out == nil {
				return nil, wfp.Errorf(wfp.ErrIncompatibleSAState, "SA context %d has no outbound bundle yet", id)
			}
			next := c.successor()
			x := *c.ex()
			if d := nv.InboundSA; d != nil {
				b, udp, t, err := applyUpdate(flags, d, c.in, x.inUDP, c.inbound(), c.outTraffic.IPVersion)
				if err != nil {
					return nil, err
				}
				next.in, x.inUDP = b, udp
				if t != c.inbound() {
					x.inTraffic = &t
				}
			}
			if d := nv.OutboundSA; d != nil {
				b, udp, t, err := applyUpdate(flags, d, c.out, x.outUDP, c.outTraffic, c.outTraffic.IPVersion)
				if err != nil {
					return nil, err
				}
				if t != c.outTraffic && c.spi != 0 && x.gsFull == nil {
					// Keep the first GetSpi's traffic, kept relative to the
					// outbound traffic, whole (see saCtx.gsTraffic).
					gs := c.gsTraffic()
					x.gsFull = &gs
				}
				next.out, x.outUDP, next.outTraffic = b, udp, t
			}
			next.setExtras(&x)
			return next, nil
		})
	})
}

// applyUpdate returns the bundle, UDP encapsulation and traffic of one
// direction after an update.
func applyUpdate(flags uint64, d *wfp.IPsecSADetails1, b *bundle, udp *wfp.IPsecV4UDPEncapsulation0, t wfp.IPsecTraffic1, ipv wfp.IPVersion) (*bundle, *wfp.IPsecV4UDPEncapsulation0, wfp.IPsecTraffic1, error) {
	if flags&wfp.SADetailsUpdateTraffic != 0 {
		nt := d.Traffic
		if nt.IPVersion != t.IPVersion || nt.TrafficType != t.TrafficType || refFilter(&nt) != refFilter(&t) {
			return nil, nil, t, wfp.Errorf(wfp.ErrTrafficMismatch, "an update may change the addresses and ports of the traffic, not its IP version, type or filter")
		}
		t = nt
	}
	if flags&wfp.SADetailsUpdateUDPEncapsulation != 0 {
		if d.UDPEncapsulation == nil {
			udp = nil
		} else {
			if ipv != wfp.IPVersionV4 {
				return nil, nil, t, wfp.Errorf(wfp.ErrInvalidParameter, "UDP encapsulation is defined for IPv4 only")
			}
			u := *d.UDPEncapsulation
			udp = &u
		}
	}
	const bundleFlags = wfp.SABundleUpdateFlags | wfp.SABundleUpdateNAPContext | wfp.SABundleUpdateKeyModuleState |
		wfp.SABundleUpdatePeerV4PrivateAddress | wfp.SABundleUpdateMMSAID
	if flags&bundleFlags != 0 {
		nb := *b // shares the keys
		src := &d.SABundle
		if flags&wfp.SABundleUpdateFlags != 0 {
			nb.flags = src.Flags
		}
		if flags&wfp.SABundleUpdateNAPContext != 0 {
			nb.napContext = src.NAPContext
		}
		if flags&wfp.SABundleUpdateKeyModuleState != 0 {
			nb.kms = src.KeyModuleState.Clone()
		}
		if flags&wfp.SABundleUpdatePeerV4PrivateAddress != 0 {
			if ipv != wfp.IPVersionV4 && src.PeerV4PrivateAddress != 0 {
				return nil, nil, t, wfp.Errorf(wfp.ErrInvalidParameter, "peerV4PrivateAddress is for IPv4 SAs only")
			}
			nb.peerV4 = src.PeerV4PrivateAddress
		}
		if flags&wfp.SABundleUpdateMMSAID != 0 {
			nb.mmSAID = src.MMSAID
		}
		b = &nb
	}
	return b, udp, t, nil
}
