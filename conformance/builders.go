package conformance

import (
	"fmt"
	"net/netip"

	"github.com/sadb-dev/sadb/wfp"
)

// Builders for the objects an SA needs. They are plain functions returning
// new values (never shared), usable by any package that drives a wfp.API.

// Documentation addresses (RFC 5737, RFC 3849) the suite uses for its two
// peers.
var (
	PeerA4 = netip.MustParseAddr("192.0.2.1")
	PeerB4 = netip.MustParseAddr("192.0.2.2")
	PeerA6 = netip.MustParseAddr("2001:db8::1")
	PeerB6 = netip.MustParseAddr("2001:db8::2")
)

// IPVersionOf returns the FWP_IP_VERSION of a.
func IPVersionOf(a netip.Addr) wfp.IPVersion {
	if a.Unmap().Is4() {
		return wfp.IPVersionV4
	}
	return wfp.IPVersionV6
}

func transportLayer(dir wfp.Direction, v wfp.IPVersion) (wfp.LayerID, wfp.CalloutID, wfp.CalloutID) {
	switch {
	case dir == wfp.DirectionOutbound && v == wfp.IPVersionV4:
		return wfp.LayerOutboundTransportV4, wfp.CalloutIPsecOutboundTransportV4, wfp.CalloutIPsecOutboundTunnelV4
	case dir == wfp.DirectionOutbound:
		return wfp.LayerOutboundTransportV6, wfp.CalloutIPsecOutboundTransportV6, wfp.CalloutIPsecOutboundTunnelV6
	case v == wfp.IPVersionV4:
		return wfp.LayerInboundTransportV4, wfp.CalloutIPsecInboundTransportV4, wfp.CalloutIPsecInboundTunnelV4
	default:
		return wfp.LayerInboundTransportV6, wfp.CalloutIPsecInboundTransportV6, wfp.CalloutIPsecInboundTunnelV6
	}
}

// TransportFilter returns (without adding it) the per-packet filter of the
// Manual SA scenario (concepts/manual-ipsec-sas.md) for one direction of the
// traffic between local and remote: at FWPM_LAYER_{IN,OUT}BOUND_TRANSPORT_V4/6,
// conditions IP_LOCAL_ADDRESS_TYPE = NlatUnicast, IP_LOCAL_ADDRESS = local and
// IP_REMOTE_ADDRESS = remote, action FWP_ACTION_CALLOUT_TERMINATING with the
// IPsec transport callout of that direction and version.
func TransportFilter(dir wfp.Direction, local, remote netip.Addr) *wfp.FwpmFilter0 {
	layer, callout, _ := transportLayer(dir, IPVersionOf(local))
	return &wfp.FwpmFilter0{
		DisplayData: wfp.FwpmDisplayData0{Name: fmt.Sprintf("IPsec transport %v %v -> %v", dir, local, remote)},
		LayerKey:    layer,
		FilterCondition: []wfp.FwpmFilterCondition0{
			wfp.ValueCondition(wfp.ConditionIPLocalAddressType, wfp.MatchEqual, wfp.Uint8Value(uint8(wfp.NlatUnicast))),
			wfp.Condition(wfp.ConditionIPLocalAddress, wfp.MatchEqual, wfp.AddrValue(local)),
			wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(remote)),
		},
		Action: wfp.FwpmAction0{Type: wfp.ActionCalloutTerminating, CalloutKey: callout},
	}
}

// TunnelFilter returns (without adding it) a tunnel-mode filter for one
// direction: at the transport layer of the inner IP version, conditions
// IP_LOCAL_ADDRESS in local and IP_REMOTE_ADDRESS in remote (the inner
// selectors), action FWP_ACTION_CALLOUT_TERMINATING with the IPsec tunnel
// callout of that direction. sadb uses such a filter's id as the
// tunnelPolicyId of IPSEC_TRAFFIC1 (docs/semantics.md, "Traffic").
func TunnelFilter(dir wfp.Direction, local, remote netip.Prefix) *wfp.FwpmFilter0 {
	layer, _, callout := transportLayer(dir, IPVersionOf(local.Addr()))
	return &wfp.FwpmFilter0{
		DisplayData: wfp.FwpmDisplayData0{Name: fmt.Sprintf("IPsec tunnel %v %v -> %v", dir, local, remote)},
		LayerKey:    layer,
		FilterCondition: []wfp.FwpmFilterCondition0{
			wfp.Condition(wfp.ConditionIPLocalAddress, wfp.MatchEqual, wfp.PrefixValue(local)),
			wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.PrefixValue(remote)),
		},
		Action: wfp.FwpmAction0{Type: wfp.ActionCalloutTerminating, CalloutKey: callout},
	}
}

// TransportFilters adds the outbound and inbound transport filters of the
// Manual SA scenario for the traffic between local and remote and returns
// their ids.
func TransportFilters(api wfp.API, local, remote netip.Addr) (outbound, inbound uint64, err error) {
	outbound, err = api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, local, remote), nil)
	if err != nil {
		return 0, 0, err
	}
	inbound, err = api.FwpmFilterAdd0(TransportFilter(wfp.DirectionInbound, local, remote), nil)
	if err != nil {
		return 0, 0, err
	}
	return outbound, inbound, nil
}

// TunnelFilters adds the outbound and inbound tunnel filters for the inner
// subnets local and remote and returns their ids (the tunnel policy ids).
func TunnelFilters(api wfp.API, local, remote netip.Prefix) (outbound, inbound uint64, err error) {
	outbound, err = api.FwpmFilterAdd0(TunnelFilter(wfp.DirectionOutbound, local, remote), nil)
	if err != nil {
		return 0, 0, err
	}
	inbound, err = api.FwpmFilterAdd0(TunnelFilter(wfp.DirectionInbound, local, remote), nil)
	if err != nil {
		return 0, 0, err
	}
	return outbound, inbound, nil
}

func setAddrs(t *wfp.IPsecTraffic1, local, remote netip.Addr) {
	t.IPVersion = IPVersionOf(local)
	if t.IPVersion == wfp.IPVersionV4 {
		t.LocalV4Address, _ = wfp.V4AddrFrom(local)
		t.RemoteV4Address, _ = wfp.V4AddrFrom(remote)
	} else {
		t.LocalV6Address, _ = wfp.V6AddrFrom(local)
		t.RemoteV6Address, _ = wfp.V6AddrFrom(remote)
	}
}

// TransportTraffic returns the IPSEC_TRAFFIC1 of transport-mode traffic
// between local and remote through the filter filterID (the outbound filter
// for IPsecSaContextCreate1, the inbound one for GetSpi/SetSpi).
func TransportTraffic(local, remote netip.Addr, filterID uint64) wfp.IPsecTraffic1 {
	t := wfp.IPsecTraffic1{TrafficType: wfp.TrafficTypeTransport, IPsecFilterID: filterID}
	setAddrs(&t, local, remote)
	return t
}

// TunnelTraffic returns the IPSEC_TRAFFIC1 of a tunnel between the
// endpoints local and remote under the tunnel policy (filter) policyID.
func TunnelTraffic(local, remote netip.Addr, policyID uint64) wfp.IPsecTraffic1 {
	t := wfp.IPsecTraffic1{TrafficType: wfp.TrafficTypeTunnel, TunnelPolicyID: policyID}
	setAddrs(&t, local, remote)
	return t
}

// GetSPI returns the IPSEC_GETSPI1 for the inbound traffic in.
func GetSPI(in wfp.IPsecTraffic1) *wfp.IPsecGetSPI1 {
	return &wfp.IPsecGetSPI1{InboundIPsecTraffic: in, IPVersion: in.IPVersion}
}

// TestKey returns n deterministic key bytes derived from seed. Distinct seeds
// give distinct keys; the bytes are easy to spot in a dump.
func TestKey(n int, seed byte) wfp.Key {
	k := make(wfp.Key, n)
	for i := range k {
		k[i] = seed ^ byte(0xA5+7*i)
	}
	return k
}

// hmacID returns the HMAC transform for an authentication key length:
// 16 HMAC-MD5-96, 20 HMAC-SHA-1-96, anything else HMAC-SHA-256-128.
func hmacID(keyLen int) wfp.IPsecAuthTransformID0 {
	switch keyLen {
	case 16:
		return wfp.AuthTransformIDHMACMD596
	case 20:
		return wfp.AuthTransformIDHMACSHA196
	}
	return wfp.AuthTransformIDHMACSHA256128
}

// gcmIDs returns the GCM cipher and authentication transforms for a GCM key
// with its 4-byte salt (20, 28 or 36 bytes).
func gcmIDs(keyLen int) (wfp.IPsecCipherTransformID0, wfp.IPsecAuthTransformID0) {
	switch keyLen {
	case 28:
		return wfp.CipherTransformIDGCMAES192, wfp.AuthTransformIDGCMAES192
	case 36:
		return wfp.CipherTransformIDGCMAES256, wfp.AuthTransformIDGCMAES256
	}
	return wfp.CipherTransformIDGCMAES128, wfp.AuthTransformIDGCMAES128
}

func cbcID(keyLen int) wfp.IPsecCipherTransformID0 {
	switch keyLen {
	case 24:
		return wfp.CipherTransformIDAES192
	case 32:
		return wfp.CipherTransformIDAES256
	}
	return wfp.CipherTransformIDAES128
}

// GCMSA returns an ESP_AUTH_AND_CIPHER SA with AES-GCM; key is the AES key
// plus the 4-byte salt (20, 28 or 36 bytes for AES-128/192/256).
func GCMSA(spi uint32, key wfp.Key) wfp.IPsecSA0 {
	c, a := gcmIDs(len(key))
	return wfp.IPsecSA0{
		SPI:             spi,
		SATransformType: wfp.TransformESPAuthAndCipher,
		ESPAuthAndCipherInformation: &wfp.IPsecSAAuthAndCipherInformation0{
			SACipherInformation: wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: c}, CipherKey: key.Clone()},
			SAAuthInformation:   wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: a}},
		},
	}
}

// CBCSA returns an ESP_AUTH_AND_CIPHER SA with AES-CBC (16, 24 or 32-byte
// cipherKey) and an HMAC chosen by the authKey length (16 MD5, 20 SHA-1,
// 32 SHA-256).
func CBCSA(spi uint32, cipherKey, authKey wfp.Key) wfp.IPsecSA0 {
	return wfp.IPsecSA0{
		SPI:             spi,
		SATransformType: wfp.TransformESPAuthAndCipher,
		ESPAuthAndCipherInformation: &wfp.IPsecSAAuthAndCipherInformation0{
			SACipherInformation: wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: cbcID(len(cipherKey))}, CipherKey: cipherKey.Clone()},
			SAAuthInformation:   wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: hmacID(len(authKey))}, AuthKey: authKey.Clone()},
		},
	}
}

// ESPAuthSA returns an ESP_AUTH (integrity only) SA with an HMAC chosen by
// the key length.
func ESPAuthSA(spi uint32, authKey wfp.Key) wfp.IPsecSA0 {
	return wfp.IPsecSA0{
		SPI:                spi,
		SATransformType:    wfp.TransformESPAuth,
		ESPAuthInformation: &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: hmacID(len(authKey))}, AuthKey: authKey.Clone()},
	}
}

// AHSA returns an AH SA with an HMAC chosen by the key length.
func AHSA(spi uint32, authKey wfp.Key) wfp.IPsecSA0 {
	return wfp.IPsecSA0{
		SPI:             spi,
		SATransformType: wfp.TransformAH,
		AHInformation:   &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: hmacID(len(authKey))}, AuthKey: authKey.Clone()},
	}
}

// Bundle returns an IPSEC_SA_BUNDLE1 of IP version v holding sas, with
// qmSaId qm and no lifetime limit.
func Bundle(v wfp.IPVersion, qm uint32, sas ...wfp.IPsecSA0) *wfp.IPsecSABundle1 {
	return &wfp.IPsecSABundle1{IPVersion: v, QMSAID: qm, SAList: sas}
}

// GCMBundle returns a one-SA AES-GCM bundle (see GCMSA).
func GCMBundle(v wfp.IPVersion, spi uint32, key wfp.Key) *wfp.IPsecSABundle1 {
	return Bundle(v, 0, GCMSA(spi, key))
}

// CBCBundle returns a one-SA AES-CBC + HMAC bundle (see CBCSA).
func CBCBundle(v wfp.IPVersion, spi uint32, cipherKey, authKey wfp.Key) *wfp.IPsecSABundle1 {
	return Bundle(v, 0, CBCSA(spi, cipherKey, authKey))
}

// AHESPBundle returns the two-SA bundle ESP (AES-GCM, index 0) + AH (HMAC,
// index 1), both with the same SPI.
func AHESPBundle(v wfp.IPVersion, spi uint32, espKey, ahKey wfp.Key) *wfp.IPsecSABundle1 {
	return Bundle(v, 0, GCMSA(spi, espKey), AHSA(spi, ahKey))
}
