package engine

import "github.com/sadb-dev/sadb/wfp"

// What sadb knows about layers, callouts and condition fields: the subset of
// WFP an IPsec engine filters with (docs/semantics.md, section 5).

type ipsecKind uint8

const (
	kindNone         ipsecKind = iota
	kindTransportOut           // FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V*
	kindTransportIn            // FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V*
	kindTunnelOut              // FWPM_CALLOUT_IPSEC_OUTBOUND_TUNNEL_V*
	kindTunnelIn               // FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_V*
)

// fieldClass is the value type a condition field takes.
type fieldClass uint8

const (
	classAddr   fieldClass = iota + 1 // FWP_UINT32/V4_ADDR_MASK or BYTE_ARRAY16/V6_ADDR_MASK
	classUint8                        // FWP_UINT8
	classUint16                       // FWP_UINT16
	classUint32                       // FWP_UINT32
	classUint64                       // FWP_UINT64
	classFlags                        // FWP_UINT32 with FLAGS_* match types allowed
)

type layerInfo struct {
	ipv       wfp.IPVersion
	userMode  bool // policy-lookup layers: no callouts
	supported bool // sadb filters at this layer
	fields    map[wfp.FieldID]fieldClass
}

type calloutInfo struct {
	kind   ipsecKind
	layers []wfp.LayerID
}

var (
	transportFields = map[wfp.FieldID]fieldClass{
		wfp.ConditionFlags: classFlags, wfp.ConditionInterfaceIndex: classUint32,
		wfp.ConditionInterfaceType: classUint32, wfp.ConditionIPLocalAddress: classAddr,
		wfp.ConditionIPLocalAddressType: classUint8, wfp.ConditionIPLocalInterface: classUint64,
		wfp.ConditionIPLocalPort: classUint16, wfp.ConditionIPProtocol: classUint8,
		wfp.ConditionIPRemoteAddress: classAddr, wfp.ConditionIPRemotePort: classUint16,
		wfp.ConditionSubInterfaceIndex: classUint32, wfp.ConditionTunnelType: classUint32,
		wfp.ConditionCurrentProfileID: classUint32, wfp.ConditionCompartmentID: classUint32,
	}
	outboundTransportFields = with(transportFields, wfp.ConditionIPDestinationAddressType, classUint8)
	ippacketFields          = map[wfp.FieldID]fieldClass{
		wfp.ConditionFlags: classFlags, wfp.ConditionInterfaceIndex: classUint32,
		wfp.ConditionInterfaceType: classUint32, wfp.ConditionIPLocalAddress: classAddr,
		wfp.ConditionIPLocalAddressType: classUint8, wfp.ConditionIPLocalInterface: classUint64,
		wfp.ConditionIPRemoteAddress: classAddr, wfp.ConditionSubInterfaceIndex: classUint32,
		wfp.ConditionTunnelType: classUint32, wfp.ConditionCompartmentID: classUint32,
	}
	forwardFields = map[wfp.FieldID]fieldClass{
		wfp.ConditionFlags: classFlags, wfp.ConditionIPDestinationAddress: classAddr,
		wfp.ConditionIPDestinationAddressType: classUint8, wfp.ConditionIPLocalInterface: classUint64,
		wfp.ConditionIPSourceAddress: classAddr, wfp.ConditionCompartmentID: classUint32,
	}
	ipsecLayerFields = map[wfp.FieldID]fieldClass{
		wfp.ConditionIPLocalAddress: classAddr, wfp.ConditionIPLocalPort: classUint16,
		wfp.ConditionIPProtocol: classUint8, wfp.ConditionIPRemoteAddress: classAddr,
		wfp.ConditionIPRemotePort: classUint16, wfp.ConditionIPLocalInterface: classUint64,
		wfp.ConditionCurrentProfileID: classUint32,
	}
	ikeextFields = map[wfp.FieldID]fieldClass{
		wfp.ConditionIPLocalAddress: classAddr, wfp.ConditionIPRemoteAddress: classAddr,
		wfp.ConditionIPLocalInterface: classUint64, wfp.ConditionCurrentProfileID: classUint32,
	}
	kmDemuxFields = map[wfp.FieldID]fieldClass{
		wfp.ConditionIPLocalAddress: classAddr, wfp.ConditionIPRemoteAddress: classAddr,
	}
)

func with(m map[wfp.FieldID]fieldClass, f wfp.FieldID, c fieldClass) map[wfp.FieldID]fieldClass {
	out := make(map[wfp.FieldID]fieldClass, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out[f] = c
	return out
}

var layers = func() map[wfp.LayerID]layerInfo {
	m := map[wfp.LayerID]layerInfo{}
	add := func(v4, v6 wfp.LayerID, user bool, fields map[wfp.FieldID]fieldClass) {
		m[v4] = layerInfo{ipv: wfp.IPVersionV4, userMode: user, supported: true, fields: fields}
		m[v6] = layerInfo{ipv: wfp.IPVersionV6, userMode: user, supported: true, fields: fields}
	}
	add(wfp.LayerInboundTransportV4, wfp.LayerInboundTransportV6, false, transportFields)
	add(wfp.LayerOutboundTransportV4, wfp.LayerOutboundTransportV6, false, outboundTransportFields)
	add(wfp.LayerInboundIPPacketV4, wfp.LayerInboundIPPacketV6, false, ippacketFields)
	add(wfp.LayerOutboundIPPacketV4, wfp.LayerOutboundIPPacketV6, false, ippacketFields)
	add(wfp.LayerIPForwardV4, wfp.LayerIPForwardV6, false, forwardFields)
	add(wfp.LayerIPsecV4, wfp.LayerIPsecV6, true, ipsecLayerFields)
	add(wfp.LayerIKEEXTV4, wfp.LayerIKEEXTV6, true, ikeextFields)
	add(wfp.LayerIPsecKMDemuxV4, wfp.LayerIPsecKMDemuxV6, true, kmDemuxFields)
	// Known WFP layers that sadb does not filter at.
	for _, l := range []wfp.LayerID{
		wfp.LayerInboundTransportV4Discard, wfp.LayerInboundTransportV6Discard,
		wfp.LayerOutboundTransportV4Discard, wfp.LayerOutboundTransportV6Discard,
		wfp.LayerInboundIPPacketV4Discard, wfp.LayerInboundIPPacketV6Discard,
		wfp.LayerOutboundIPPacketV4Discard, wfp.LayerOutboundIPPacketV6Discard,
		wfp.LayerIPForwardV4Discard, wfp.LayerIPForwardV6Discard,
		wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV6,
		wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEAuthRecvAcceptV6,
	} {
		m[l] = layerInfo{}
	}
	return m
}()

var callouts = map[wfp.CalloutID]calloutInfo{
	wfp.CalloutIPsecOutboundTransportV4:     {kindTransportOut, []wfp.LayerID{wfp.LayerOutboundTransportV4}},
	wfp.CalloutIPsecOutboundTransportV6:     {kindTransportOut, []wfp.LayerID{wfp.LayerOutboundTransportV6}},
	wfp.CalloutIPsecInboundTransportV4:      {kindTransportIn, []wfp.LayerID{wfp.LayerInboundTransportV4}},
	wfp.CalloutIPsecInboundTransportV6:      {kindTransportIn, []wfp.LayerID{wfp.LayerInboundTransportV6}},
	wfp.CalloutIPsecOutboundTunnelV4:        {kindTunnelOut, []wfp.LayerID{wfp.LayerOutboundTransportV4}},
	wfp.CalloutIPsecOutboundTunnelV6:        {kindTunnelOut, []wfp.LayerID{wfp.LayerOutboundTransportV6}},
	wfp.CalloutIPsecInboundTunnelV4:         {kindTunnelIn, []wfp.LayerID{wfp.LayerInboundTransportV4}},
	wfp.CalloutIPsecInboundTunnelV6:         {kindTunnelIn, []wfp.LayerID{wfp.LayerInboundTransportV6}},
	wfp.CalloutIPsecForwardInboundTunnelV4:  {kindNone, []wfp.LayerID{wfp.LayerIPForwardV4}},
	wfp.CalloutIPsecForwardInboundTunnelV6:  {kindNone, []wfp.LayerID{wfp.LayerIPForwardV6}},
	wfp.CalloutIPsecForwardOutboundTunnelV4: {kindNone, []wfp.LayerID{wfp.LayerIPForwardV4}},
	wfp.CalloutIPsecForwardOutboundTunnelV6: {kindNone, []wfp.LayerID{wfp.LayerIPForwardV6}},
	wfp.CalloutIPsecDoSPForwardV4:           {kindNone, []wfp.LayerID{wfp.LayerIPForwardV4}},
	wfp.CalloutIPsecDoSPForwardV6:           {kindNone, []wfp.LayerID{wfp.LayerIPForwardV6}},
	// ALE callouts belong to ALE layers, which sadb does not filter at.
	wfp.CalloutIPsecInboundInitiateSecureV4:  {kindNone, []wfp.LayerID{wfp.LayerALEAuthRecvAcceptV4}},
	wfp.CalloutIPsecInboundInitiateSecureV6:  {kindNone, []wfp.LayerID{wfp.LayerALEAuthRecvAcceptV6}},
	wfp.CalloutIPsecInboundTunnelALEAcceptV4: {kindNone, []wfp.LayerID{wfp.LayerALEAuthRecvAcceptV4}},
	wfp.CalloutIPsecInboundTunnelALEAcceptV6: {kindNone, []wfp.LayerID{wfp.LayerALEAuthRecvAcceptV6}},
	wfp.CalloutIPsecALEConnectV4:             {kindNone, []wfp.LayerID{wfp.LayerALEAuthConnectV4}},
	wfp.CalloutIPsecALEConnectV6:             {kindNone, []wfp.LayerID{wfp.LayerALEAuthConnectV6}},
}

var knownSublayers = map[wfp.SublayerID]bool{
	wfp.SublayerIPsecTunnel: true, wfp.SublayerIPsecForwardOutboundTunnel: true,
	wfp.SublayerIPsecDoSP: true, wfp.SublayerIPsecSecurityRealm: true, wfp.SublayerUniversal: true,
}

var knownProviders = map[wfp.ProviderID]bool{
	wfp.ProviderIKEEXT: true, wfp.ProviderIPsecDoSPConfig: true,
}
