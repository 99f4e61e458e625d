package main

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// Views are what -o json prints: plain structs with stable snake_case
// names, built from the wfp values. Enumerations carry the WFP symbolic
// names; key material is present only when asked for (and is never a
// wfp.Key, which would redact itself).

// trafficView is an IPSEC_TRAFFIC1.
type trafficView struct {
	IPVersion      string `json:"ip_version"`
	TrafficType    string `json:"traffic_type"`
	Local          string `json:"local"`
	Remote         string `json:"remote"`
	IPsecFilterID  uint64 `json:"ipsec_filter_id,omitempty"`
	TunnelPolicyID uint64 `json:"tunnel_policy_id,omitempty"`
	IPProtocol     uint8  `json:"ip_protocol,omitempty"`
	LocalPort      uint16 `json:"local_port,omitempty"`
	RemotePort     uint16 `json:"remote_port,omitempty"`
}

// newTrafficView is the JSON view of IPSEC_TRAFFIC1.
func newTrafficView(t *wfp.IPsecTraffic1) trafficView {
	return trafficView{
		IPVersion: t.IPVersion.String(), TrafficType: t.TrafficType.String(),
		Local: t.LocalAddr().String(), Remote: t.RemoteAddr().String(),
		IPsecFilterID: t.IPsecFilterID, TunnelPolicyID: t.TunnelPolicyID,
		IPProtocol: t.IPProtocol, LocalPort: t.LocalPort, RemotePort: t.RemotePort,
	}
}

// udpEncapView is an IPSEC_V4_UDP_ENCAPSULATION0.
type udpEncapView struct {
	LocalPort  uint16 `json:"local_port"`
	RemotePort uint16 `json:"remote_port"`
}

// newUDPEncapView is the JSON view of UDP encapsulation (nil for nil).
func newUDPEncapView(u *wfp.IPsecV4UDPEncapsulation0) *udpEncapView {
	if u == nil {
		return nil
	}
	return &udpEncapView{LocalPort: u.LocalUDPEncapPort, RemotePort: u.RemoteUDPEncapPort}
}

// lifetimeView is an IPSEC_SA_LIFETIME0 (0: no limit).
type lifetimeView struct {
	Seconds   uint32 `json:"seconds"`
	Kilobytes uint32 `json:"kilobytes"`
	Packets   uint32 `json:"packets"`
}

// saView is one IPSEC_SA0.
type saView struct {
	SPI           uint32 `json:"spi"`
	SPIHex        string `json:"spi_hex"`
	Transform     string `json:"transform"`
	TransformType string `json:"transform_type"`
	Cipher        string `json:"cipher,omitempty"`
	Auth          string `json:"auth,omitempty"`
	CipherKey     string `json:"cipher_key,omitempty"` // hex, only with --show-keys
	AuthKey       string `json:"auth_key,omitempty"`   // hex, only with --show-keys
}

// newSAView is the JSON view of one SA; keys as hex only when showKeys.
func newSAView(sa *wfp.IPsecSA0, showKeys bool) saView {
	v := saView{SPI: sa.SPI, SPIHex: spiHex(sa.SPI), Transform: saName(sa), TransformType: sa.SATransformType.String()}
	cipher, auth, hasCipher, hasAuth := saTransformIDs(sa)
	if hasCipher {
		v.Cipher = cipher.String()
	}
	if hasAuth {
		v.Auth = auth.String()
	}
	if showKeys {
		c, a := saKeys(sa)
		v.CipherKey, v.AuthKey = hex.EncodeToString(c), hex.EncodeToString(a)
	}
	return v
}

// keyModuleStateView is an IPSEC_KEYMODULE_STATE0.
type keyModuleStateView struct {
	KeyModule string `json:"key_module"`
	State     string `json:"state"` // hex
}

// bundleView is an IPSEC_SA_BUNDLE1.
type bundleView struct {
	Transform                  string              `json:"transform"`
	SAs                        []saView            `json:"sas"`
	Flags                      []string            `json:"flags"`
	Lifetime                   lifetimeView        `json:"lifetime"`
	IdleTimeoutSeconds         uint32              `json:"idle_timeout_seconds"`
	NDAllowClearTimeoutSeconds uint32              `json:"nd_allow_clear_timeout_seconds,omitempty"`
	NAPContext                 uint32              `json:"nap_context,omitempty"`
	QMSAID                     uint32              `json:"qm_sa_id"`
	MMSAID                     uint64              `json:"mm_sa_id"`
	PFSGroup                   string              `json:"pfs_group"`
	IPVersion                  string              `json:"ip_version"`
	PeerV4PrivateAddress       string              `json:"peer_v4_private_address,omitempty"`
	KeyModuleState             *keyModuleStateView `json:"key_module_state,omitempty"`
	SALookupContext            string              `json:"sa_lookup_context,omitempty"`
	QMFilterID                 uint64              `json:"qm_filter_id,omitempty"`
}

// newBundleView is the JSON view of a bundle; keys only when showKeys.
func newBundleView(b *wfp.IPsecSABundle1, showKeys bool) bundleView {
	v := bundleView{
		Transform: bundleName(b.SAList), Flags: bundleFlagSymbols(b.Flags),
		Lifetime:           lifetimeView{b.Lifetime.LifetimeSeconds, b.Lifetime.LifetimeKilobytes, b.Lifetime.LifetimePackets},
		IdleTimeoutSeconds: b.IdleTimeoutSeconds, NDAllowClearTimeoutSeconds: b.NDAllowClearTimeoutSeconds,
		NAPContext: b.NAPContext, QMSAID: b.QMSAID, MMSAID: b.MMSAID, PFSGroup: b.PFSGroup.String(),
		IPVersion: b.IPVersion.String(), QMFilterID: b.QMFilterID,
	}
	for i := range b.SAList {
		v.SAs = append(v.SAs, newSAView(&b.SAList[i], showKeys))
	}
	if v.SAs == nil {
		v.SAs = []saView{}
	}
	if !b.PeerV4PrivateAddress.IsZero() {
		v.PeerV4PrivateAddress = b.PeerV4PrivateAddress.String()
	}
	if b.KeyModuleState != nil {
		v.KeyModuleState = &keyModuleStateView{KeyModule: guidName(b.KeyModuleState.KeyModuleKey), State: hex.EncodeToString(b.KeyModuleState.StateBlob)}
	}
	if !b.SALookupContext.IsZero() {
		v.SALookupContext = b.SALookupContext.String()
	}
	return v
}

// countersView is sadb's per-SA counters.
type countersView struct {
	Bytes       uint64 `json:"bytes"`
	Packets     uint64 `json:"packets"`
	ReplayDrops uint64 `json:"replay_drops"`
	ICVFailures uint64 `json:"icv_failures"`
	OtherDrops  uint64 `json:"other_drops"`
	LastUse     string `json:"last_use,omitempty"` // RFC 3339
}

// detailsView is an IPSEC_SA_DETAILS1: one direction of an SA context.
type detailsView struct {
	Direction        string        `json:"direction"`
	IPVersion        string        `json:"ip_version"`
	Traffic          trafficView   `json:"traffic"`
	Bundle           bundleView    `json:"bundle"`
	UDPEncapsulation *udpEncapView `json:"udp_encapsulation,omitempty"`
	TransportFilter  uint64        `json:"transport_filter_id,omitempty"`
	Counters         *countersView `json:"counters,omitempty"`
}

// newDetailsView is the JSON view of one direction (nil for nil).
func newDetailsView(d *wfp.IPsecSADetails1, showKeys bool) *detailsView {
	if d == nil {
		return nil
	}
	v := &detailsView{
		Direction: d.SADirection.String(), IPVersion: d.IPVersion.String(),
		Traffic: newTrafficView(&d.Traffic), Bundle: newBundleView(&d.SABundle, showKeys),
		UDPEncapsulation: newUDPEncapView(d.UDPEncapsulation),
	}
	if d.TransportFilter != nil {
		v.TransportFilter = d.TransportFilter.FilterID
	}
	if c := d.Counters; c != nil {
		v.Counters = &countersView{Bytes: c.Bytes, Packets: c.Packets, ReplayDrops: c.ReplayDrops, ICVFailures: c.ICVFailures, OtherDrops: c.OtherDrops}
		if c.LastUseUnixSec != 0 {
			v.Counters.LastUse = time.Unix(c.LastUseUnixSec, 0).UTC().Format(time.RFC3339)
		}
	}
	return v
}

// contextView is an IPSEC_SA_CONTEXT1 with sadb's extensions.
type contextView struct {
	SAContextID   uint64       `json:"sa_context_id"`
	State         string       `json:"state"`
	Traffic       trafficView  `json:"traffic"`
	InboundSPI    uint32       `json:"inbound_spi"`
	InboundSPIHex string       `json:"inbound_spi_hex"`
	Inbound       *detailsView `json:"inbound"`
	Outbound      *detailsView `json:"outbound"`
}

// newContextView is the JSON view of an SA context.
func newContextView(sc *wfp.IPsecSAContext1, showKeys bool) contextView {
	return contextView{
		SAContextID: sc.SAContextID, State: sc.State.String(), Traffic: newTrafficView(&sc.Traffic),
		InboundSPI: sc.InboundSPI, InboundSPIHex: spiHex(sc.InboundSPI),
		Inbound: newDetailsView(sc.InboundSA, showKeys), Outbound: newDetailsView(sc.OutboundSA, showKeys),
	}
}

// Human renderings.

// modeText is "transport" or "tunnel".
func modeText(t wfp.TrafficType) string {
	return strings.ToLower(trimEnum(t.String(), "IPSEC_TRAFFIC_TYPE_"))
}

// stateText is a context state without its prefix: "OUTBOUND_ADDED".
func stateText(s wfp.SAContextState) string { return trimEnum(s.String(), "SA_CONTEXT_") }

// versionText is "v4" or "v6".
func versionText(v wfp.IPVersion) string {
	return strings.ToLower(trimEnum(v.String(), "FWP_IP_VERSION_"))
}

// trafficBlock describes traffic as key/value lines.
func trafficBlock(b *block, t *wfp.IPsecTraffic1) {
	b.add("mode", modeText(t.TrafficType))
	b.add("ip version", versionText(t.IPVersion))
	b.add("local", t.LocalAddr().String())
	b.add("remote", t.RemoteAddr().String())
	if t.TrafficType == wfp.TrafficTypeTunnel {
		b.add("tunnel policy", fmt.Sprint(t.TunnelPolicyID))
	} else {
		b.add("filter", fmt.Sprint(t.IPsecFilterID))
	}
	if t.IPProtocol != 0 {
		b.add("protocol", protocolText(t.IPProtocol))
	}
	if t.LocalPort != 0 {
		b.add("local port", fmt.Sprint(t.LocalPort))
	}
	if t.RemotePort != 0 {
		b.add("remote port", fmt.Sprint(t.RemotePort))
	}
}

// lifetimeText describes a lifetime: "1h0m0s, 1000 KB, unlimited packets".
func lifetimeText(l wfp.IPsecSALifetime0) string {
	parts := []string{"unlimited time", "unlimited KB", "unlimited packets"}
	if l.LifetimeSeconds != 0 {
		parts[0] = secondsText(l.LifetimeSeconds)
	}
	if l.LifetimeKilobytes != 0 {
		parts[1] = fmt.Sprintf("%d KB", l.LifetimeKilobytes)
	}
	if l.LifetimePackets != 0 {
		parts[2] = fmt.Sprintf("%d packets", l.LifetimePackets)
	}
	return strings.Join(parts, ", ")
}

// secondsText formats seconds as a duration: "1h0m0s".
func secondsText(s uint32) string { return (time.Duration(s) * time.Second).String() }

// detailsBlock describes one direction of an SA context.
func detailsBlock(b *block, d *wfp.IPsecSADetails1, showKeys bool) {
	bu := &d.SABundle
	b.add("transform", bundleName(bu.SAList))
	for i := range bu.SAList {
		sa := &bu.SAList[i]
		prefix := ""
		if len(bu.SAList) > 1 {
			prefix = strings.ToLower(strings.SplitN(trimEnum(sa.SATransformType.String(), "IPSEC_TRANSFORM_"), "_", 2)[0]) + " "
		}
		b.add(prefix+"spi", spiText(sa.SPI))
		if showKeys {
			c, a := saKeys(sa)
			if len(c) > 0 {
				b.add(prefix+"cipher key", hex.EncodeToString(c))
			}
			if len(a) > 0 {
				b.add(prefix+"auth key", hex.EncodeToString(a))
			}
		}
	}
	if d.Traffic.LocalAddr().IsValid() {
		b.add("traffic", fmt.Sprintf("%s %s -> %s", modeText(d.Traffic.TrafficType), d.Traffic.LocalAddr(), d.Traffic.RemoteAddr()))
	}
	if d.Traffic.TrafficType == wfp.TrafficTypeTunnel {
		b.add("tunnel policy", fmt.Sprint(d.Traffic.TunnelPolicyID))
	} else {
		b.add("filter", fmt.Sprint(d.Traffic.IPsecFilterID))
	}
	b.add("lifetime", lifetimeText(bu.Lifetime))
	if bu.IdleTimeoutSeconds != 0 {
		b.add("idle timeout", secondsText(bu.IdleTimeoutSeconds))
	}
	b.add("qm sa id", fmt.Sprint(bu.QMSAID))
	if bu.MMSAID != 0 {
		b.add("mm sa id", fmt.Sprint(bu.MMSAID))
	}
	if bu.PFSGroup != wfp.PFSNone {
		b.add("pfs group", pfsText(bu.PFSGroup))
	}
	if bu.Flags != 0 {
		b.add("flags", strings.Join(bundleFlagNames(bu.Flags), ","))
	}
	if bu.NAPContext != 0 {
		b.add("nap context", fmt.Sprint(bu.NAPContext))
	}
	if !bu.PeerV4PrivateAddress.IsZero() {
		b.add("peer private address", bu.PeerV4PrivateAddress.String())
	}
	if bu.KeyModuleState != nil {
		b.add("key module", shortGUIDName(bu.KeyModuleState.KeyModuleKey, "FWPM_KEYING_MODULE_"))
	}
	if u := d.UDPEncapsulation; u != nil {
		b.add("udp encapsulation", fmt.Sprintf("%d:%d", u.LocalUDPEncapPort, u.RemoteUDPEncapPort))
	}
	if c := d.Counters; c != nil {
		b.add("counters", fmt.Sprintf("%d packets, %d bytes, %d replay drops, %d ICV failures, %d other drops",
			c.Packets, c.Bytes, c.ReplayDrops, c.ICVFailures, c.OtherDrops))
	}
}

// contextBlock describes an SA context as ctx show prints it.
func contextBlock(sc *wfp.IPsecSAContext1, showKeys bool) *block {
	b := &block{title: fmt.Sprintf("SA context %d", sc.SAContextID)}
	b.add("state", stateText(sc.State))
	trafficBlock(b, &sc.Traffic)
	if sc.InboundSPI != 0 {
		b.add("inbound spi", spiText(sc.InboundSPI))
	} else {
		b.add("inbound spi", "")
	}
	for _, d := range []struct {
		title string
		det   *wfp.IPsecSADetails1
	}{{"inbound", sc.InboundSA}, {"outbound", sc.OutboundSA}} {
		if d.det == nil {
			b.add(d.title, "not added")
			continue
		}
		detailsBlock(b.sub(d.title), d.det, showKeys)
	}
	return b
}

// bundleSPIText is the SPI column of a bundle: one SPI, or two joined by
// "/" when an ESP+AH bundle's SPIs differ.
func bundleSPIText(sas []wfp.IPsecSA0) string {
	if len(sas) == 0 {
		return ""
	}
	s := spiText(sas[0].SPI)
	if len(sas) > 1 && sas[1].SPI != sas[0].SPI {
		s += "/" + spiText(sas[1].SPI)
	}
	return s
}
