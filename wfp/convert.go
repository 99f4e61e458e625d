package wfp

// Conversions between the version 0 and version 1 structures. Widening fills
// the new members with zero values; narrowing drops them.

// ToGetSPI1 widens an IPSEC_GETSPI0.
func (g *IPsecGetSPI0) ToGetSPI1() IPsecGetSPI1 {
	return IPsecGetSPI1{
		InboundIPsecTraffic:     g.InboundIPsecTraffic.ToTraffic1(),
		IPVersion:               g.IPVersion,
		InboundUDPEncapsulation: g.InboundUDPEncapsulation,
		RngCryptoModuleID:       g.RngCryptoModuleID,
	}
}

// ToBundle1 widens an IPSEC_SA_BUNDLE0 (sharing its slices and pointers).
func (b *IPsecSABundle0) ToBundle1() IPsecSABundle1 {
	return IPsecSABundle1{
		Flags: b.Flags, Lifetime: b.Lifetime, IdleTimeoutSeconds: b.IdleTimeoutSeconds,
		NDAllowClearTimeoutSeconds: b.NDAllowClearTimeoutSeconds, IPsecID: b.IPsecID,
		NAPContext: b.NAPContext, QMSAID: b.QMSAID, SAList: b.SAList, KeyModuleState: b.KeyModuleState,
		IPVersion: b.IPVersion, PeerV4PrivateAddress: b.PeerV4PrivateAddress, MMSAID: b.MMSAID,
		PFSGroup: b.PFSGroup,
	}
}

// ToBundle0 narrows an IPSEC_SA_BUNDLE1 (sharing its slices and pointers).
func (b *IPsecSABundle1) ToBundle0() IPsecSABundle0 {
	return IPsecSABundle0{
		Flags: b.Flags, Lifetime: b.Lifetime, IdleTimeoutSeconds: b.IdleTimeoutSeconds,
		NDAllowClearTimeoutSeconds: b.NDAllowClearTimeoutSeconds, IPsecID: b.IPsecID,
		NAPContext: b.NAPContext, QMSAID: b.QMSAID, SAList: b.SAList, KeyModuleState: b.KeyModuleState,
		IPVersion: b.IPVersion, PeerV4PrivateAddress: b.PeerV4PrivateAddress, MMSAID: b.MMSAID,
		PFSGroup: b.PFSGroup,
	}
}

// ToDetails0 narrows an IPSEC_SA_DETAILS1 (nil for nil).
func (d *IPsecSADetails1) ToDetails0() *IPsecSADetails0 {
	if d == nil {
		return nil
	}
	return &IPsecSADetails0{
		IPVersion: d.IPVersion, SADirection: d.SADirection, Traffic: d.Traffic.ToTraffic0(),
		SABundle: d.SABundle.ToBundle0(), UDPEncapsulation: d.UDPEncapsulation,
		TransportFilter: d.TransportFilter,
	}
}

// ToContext0 narrows an IPSEC_SA_CONTEXT1 (nil for nil).
func (sc *IPsecSAContext1) ToContext0() *IPsecSAContext0 {
	if sc == nil {
		return nil
	}
	return &IPsecSAContext0{SAContextID: sc.SAContextID, InboundSA: sc.InboundSA.ToDetails0(), OutboundSA: sc.OutboundSA.ToDetails0()}
}

// ToStatistics0 narrows an IPSEC_STATISTICS1.
func (s *IPsecStatistics1) ToStatistics0() *IPsecStatistics0 {
	return &IPsecStatistics0{
		AggregateSAStatistics:         s.AggregateSAStatistics,
		ESPDropPacketStatistics:       s.ESPDropPacketStatistics,
		AHDropPacketStatistics:        s.AHDropPacketStatistics,
		AggregateDropPacketStatistics: s.AggregateDropPacketStatistics.IPsecAggregateDropPacketStatistics0,
		InboundTrafficStatistics:      s.InboundTrafficStatistics.IPsecTrafficStatistics0,
		OutboundTrafficStatistics:     s.OutboundTrafficStatistics.IPsecTrafficStatistics0,
	}
}

// ToContexts0 narrows a page of IPSEC_SA_CONTEXT1 (for IPsecSaContextEnum0).
func ToContexts0(page []*IPsecSAContext1) []*IPsecSAContext0 {
	out := make([]*IPsecSAContext0, len(page))
	for i, sc := range page {
		out[i] = sc.ToContext0()
	}
	return out
}

// ToDetails0 narrows a page of IPSEC_SA_DETAILS1 (for IPsecSaEnum0).
func ToDetails0(page []*IPsecSADetails1) []*IPsecSADetails0 {
	out := make([]*IPsecSADetails0, len(page))
	for i, d := range page {
		out[i] = d.ToDetails0()
	}
	return out
}
