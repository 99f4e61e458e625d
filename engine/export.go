package engine

import (
	"github.com/sadb-dev/sadb/wfp"
)

// export converts the engine's version of a context into the caller's
// structure. Key material is copied only when keys is true. filters, if
// non-nil, caches filter copies across one page of results: entries of one
// page that refer to the same filter share its copy.
func (e *Engine) export(c *saCtx, keys bool, filters map[uint64]*wfp.FwpmFilter0) *wfp.IPsecSAContext1 {
	blk := &struct {
		sc      wfp.IPsecSAContext1
		in, out wfp.IPsecSADetails1
	}{}
	sc := &blk.sc
	sc.SAContextID = c.id
	sc.State = c.state
	sc.Traffic = c.outTraffic
	sc.InboundSPI = c.spi
	if c.in != nil {
		e.exportDetails(&blk.in, c, c.in, wfp.DirectionInbound, keys, filters)
		sc.InboundSA = &blk.in
	}
	if c.out != nil {
		e.exportDetails(&blk.out, c, c.out, wfp.DirectionOutbound, keys, filters)
		sc.OutboundSA = &blk.out
	}
	return sc
}

func (e *Engine) exportDetails(d *wfp.IPsecSADetails1, c *saCtx, b *bundle, dir wfp.Direction, keys bool, filters map[uint64]*wfp.FwpmFilter0) {
	d.IPVersion = c.outTraffic.IPVersion
	d.SADirection = dir
	udp := c.outUDP
	d.Traffic = c.outTraffic
	if dir == wfp.DirectionInbound {
		d.Traffic = c.inTraffic
		udp = c.inUDP
	}
	if udp != nil {
		u := *udp
		d.UDPEncapsulation = &u
	}
	if c.vif != nil {
		v := *c.vif
		d.VirtualIfTunnelInfo = &v
	}
	d.SABundle = exportBundle(b, keys)
	d.Counters = e.counters(c.id, dir)
	if fid := refFilter(&d.Traffic); fid != 0 {
		if f, ok := filters[fid]; ok {
			d.TransportFilter = f
		} else if f := e.filters.get(fid); f != nil {
			d.TransportFilter = f.f.Clone()
			if filters != nil {
				filters[fid] = d.TransportFilter
			}
		}
	}
}

// exportBundle copies a bundle for a caller, with or without its keys.
func exportBundle(b *bundle, keys bool) wfp.IPsecSABundle1 {
	out := b.b
	out.IPsecID = b.b.IPsecID.Clone()
	out.KeyModuleState = b.b.KeyModuleState.Clone()
	out.SAList = make([]wfp.IPsecSA0, len(b.b.SAList))
	if keys {
		b.keys.mu.Lock()
		defer b.keys.mu.Unlock()
		if b.keys.zeroed {
			keys = false
		}
	}
	for i := range b.b.SAList {
		if keys {
			out.SAList[i] = b.b.SAList[i].Clone()
		} else {
			out.SAList[i] = stripped(&b.b.SAList[i])
		}
	}
	return out
}

// stripped copies sa without key material.
func stripped(sa *wfp.IPsecSA0) wfp.IPsecSA0 {
	out := wfp.IPsecSA0{SPI: sa.SPI, SATransformType: sa.SATransformType}
	auth := func(a *wfp.IPsecSAAuthInformation0) *wfp.IPsecSAAuthInformation0 {
		if a == nil {
			return nil
		}
		return &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: a.AuthTransform.AuthTransformID}}
	}
	out.AHInformation = auth(sa.AHInformation)
	out.ESPAuthInformation = auth(sa.ESPAuthInformation)
	out.ESPAuthFWInformation = auth(sa.ESPAuthFWInformation)
	if ci := sa.ESPCipherInformation; ci != nil {
		out.ESPCipherInformation = &wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: ci.CipherTransform.CipherTransformID}}
	}
	if ac := sa.ESPAuthAndCipherInformation; ac != nil {
		out.ESPAuthAndCipherInformation = &wfp.IPsecSAAuthAndCipherInformation0{
			SACipherInformation: wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: ac.SACipherInformation.CipherTransform.CipherTransformID}},
			SAAuthInformation:   wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: ac.SAAuthInformation.AuthTransform.AuthTransformID}},
		}
	}
	return out
}
