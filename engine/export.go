package engine

import (
	"github.com/sadb-dev/sadb/wfp"
)

// exportBlock is everything one exported context points to, allocated at
// once.
type exportBlock struct {
	sc      wfp.IPsecSAContext1
	in, out wfp.IPsecSADetails1
	inSt    exportStorage
	outSt   exportStorage
	inUDP   wfp.IPsecV4UDPEncapsulation0
	outUDP  wfp.IPsecV4UDPEncapsulation0
}

// detailsBlock is everything one SA of an SA enumeration points to.
type detailsBlock struct {
	d   wfp.IPsecSADetails1
	st  exportStorage
	udp wfp.IPsecV4UDPEncapsulation0
}

// export converts the engine's version of a context into the caller's
// structure. Key material is copied only when keys is true. The
// TransportFilter members point to the filter's shared read-only copy (see
// filter.shared).
func (e *Engine) export(c *saCtx, keys bool) *wfp.IPsecSAContext1 {
	return e.exportInto(&exportBlock{}, c, keys)
}

// exportInto is export into a given (zero) block.
func (e *Engine) exportInto(blk *exportBlock, c *saCtx, keys bool) *wfp.IPsecSAContext1 {
	sc := &blk.sc
	sc.SAContextID = c.id
	sc.State = c.state
	sc.Traffic = c.outTraffic
	sc.InboundSPI = c.spi
	if c.in != nil {
		e.exportDetails(&blk.in, c, wfp.DirectionInbound, keys, &blk.inSt, &blk.inUDP)
		sc.InboundSA = &blk.in
	}
	if c.out != nil {
		e.exportDetails(&blk.out, c, wfp.DirectionOutbound, keys, &blk.outSt, &blk.outUDP)
		sc.OutboundSA = &blk.out
	}
	return sc
}

// exportDetails fills d with direction dir of c, using st and udp for
// storage.
func (e *Engine) exportDetails(d *wfp.IPsecSADetails1, c *saCtx, dir wfp.Direction, keys bool, st *exportStorage, udp *wfp.IPsecV4UDPEncapsulation0) {
	d.IPVersion = c.outTraffic.IPVersion
	d.SADirection = dir
	b, u := c.out, c.ex().outUDP
	d.Traffic = c.outTraffic
	if dir == wfp.DirectionInbound {
		b, u = c.in, c.ex().inUDP
		d.Traffic = c.inbound()
	}
	if u != nil {
		*udp = *u
		d.UDPEncapsulation = udp
	}
	if vif := c.ex().vif; vif != nil {
		v := *vif
		d.VirtualIfTunnelInfo = &v
	}
	d.SABundle = b.export(keys, st)
	d.Counters = e.counters(c.id, dir)
	if f := e.filters.get(refFilter(&d.Traffic)); f != nil {
		d.TransportFilter = f.shared()
	}
}
