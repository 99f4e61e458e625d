// Package wire converts between package wfp's Go structures and the
// protobuf messages of api/sadb/v1, in both directions. It is the only code
// that knows both; the server and the client use it at the RPC edge.
//
// Conversions are total: every wfp value converts to a message and back to
// an equal value (keys included: a key travels on the wire only where the
// engine chose to return it). Messages from the wire are untrusted: FromPB
// functions never panic, and reject shapes the Go types cannot hold (a
// 16-byte address of another length, say) with an error; semantic checks
// are the engine's.
package wire

import (
	"errors"
	"fmt"

	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/wfp"
)

// ErrBadShape is wrapped by FromPB errors: the message cannot be a wfp value.
var ErrBadShape = errors.New("wire: malformed message")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadShape, fmt.Sprintf(format, args...))
}

// Limits on untrusted input, well above anything valid.
const (
	maxConditions = 1024
	maxACEs       = 4096
	maxSAs        = 16
	maxTokens     = 1024
)

func guidPB(g wfp.GUID) []byte {
	if g.IsZero() {
		return nil
	}
	return append([]byte(nil), g[:]...)
}

func guidFromPB(b []byte, what string) (wfp.GUID, error) {
	var g wfp.GUID
	switch len(b) {
	case 0:
		return g, nil
	case 16:
		copy(g[:], b)
		return g, nil
	}
	return g, bad("%s is %d bytes, a GUID is 16", what, len(b))
}

func guidPtrPB(g *wfp.GUID) []byte {
	if g == nil {
		return nil
	}
	b := make([]byte, 16)
	copy(b, g[:])
	return b
}

func guidPtrFromPB(b []byte, what string) (*wfp.GUID, error) {
	if len(b) == 0 {
		return nil, nil
	}
	g, err := guidFromPB(b, what)
	return &g, err
}

func v6FromPB(b []byte, what string) (wfp.V6Addr, error) {
	var a wfp.V6Addr
	switch len(b) {
	case 0:
		return a, nil
	case 16:
		copy(a[:], b)
		return a, nil
	}
	return a, bad("%s is %d bytes, an IPv6 address is 16", what, len(b))
}

func v6PB(a wfp.V6Addr) []byte {
	if a.IsZero() {
		return nil
	}
	return append([]byte(nil), a[:]...)
}

func u16(v uint32, what string) (uint16, error) {
	if v > 0xFFFF {
		return 0, bad("%s %d does not fit 16 bits", what, v)
	}
	return uint16(v), nil
}

func u8(v uint32, what string) (uint8, error) {
	if v > 0xFF {
		return 0, bad("%s %d does not fit 8 bits", what, v)
	}
	return uint8(v), nil
}

// Session

func SessionPB(s *wfp.FwpmSession0) *pb.Session {
	return &pb.Session{
		SessionKey: guidPB(s.SessionKey), DisplayData: displayPB(s.DisplayData), Flags: s.Flags,
		TxnWaitTimeoutInMsec: s.TxnWaitTimeoutInMSec, ProcessId: s.ProcessID, Sid: string(s.SID),
		Username: s.Username, KernelMode: s.KernelMode,
	}
}

func SessionFromPB(m *pb.Session) (wfp.FwpmSession0, error) {
	var s wfp.FwpmSession0
	if m == nil {
		return s, nil
	}
	k, err := guidFromPB(m.SessionKey, "session key")
	if err != nil {
		return s, err
	}
	s = wfp.FwpmSession0{SessionKey: k, DisplayData: displayFromPB(m.DisplayData), Flags: m.Flags,
		TxnWaitTimeoutInMSec: m.TxnWaitTimeoutInMsec, ProcessID: m.ProcessId, SID: wfp.SID(m.Sid),
		Username: m.Username, KernelMode: m.KernelMode}
	return s, nil
}

func displayPB(d wfp.FwpmDisplayData0) *pb.DisplayData {
	if d == (wfp.FwpmDisplayData0{}) {
		return nil
	}
	return &pb.DisplayData{Name: d.Name, Description: d.Description}
}

func displayFromPB(m *pb.DisplayData) wfp.FwpmDisplayData0 {
	if m == nil {
		return wfp.FwpmDisplayData0{}
	}
	return wfp.FwpmDisplayData0{Name: m.Name, Description: m.Description}
}

// Security

func ACLPB(a *wfp.ACL) *pb.ACL {
	if a == nil {
		return nil
	}
	m := &pb.ACL{Entries: make([]*pb.ACE, len(*a))}
	for i, e := range *a {
		m.Entries[i] = &pb.ACE{Type: uint32(e.Type), Mask: uint32(e.Mask), Sid: string(e.SID)}
	}
	return m
}

func ACLFromPB(m *pb.ACL) (*wfp.ACL, error) {
	if m == nil {
		return nil, nil
	}
	if len(m.Entries) > maxACEs {
		return nil, bad("%d ACEs", len(m.Entries))
	}
	a := make(wfp.ACL, len(m.Entries))
	for i, e := range m.Entries {
		if e == nil {
			return nil, bad("ACE %d is null", i)
		}
		t, err := u8(e.Type, "ACE type")
		if err != nil {
			return nil, err
		}
		a[i] = wfp.ACE{Type: wfp.ACEType(t), Mask: wfp.AccessMask(e.Mask), SID: wfp.SID(e.Sid)}
	}
	return &a, nil
}

func SDPB(sd *wfp.SecurityDescriptor) *pb.SecurityDescriptor {
	if sd == nil {
		return nil
	}
	return &pb.SecurityDescriptor{Owner: string(sd.Owner), Group: string(sd.Group), Dacl: ACLPB(sd.DACL)}
}

func SDFromPB(m *pb.SecurityDescriptor) (*wfp.SecurityDescriptor, error) {
	if m == nil {
		return nil, nil
	}
	acl, err := ACLFromPB(m.Dacl)
	if err != nil {
		return nil, err
	}
	return &wfp.SecurityDescriptor{Owner: wfp.SID(m.Owner), Group: wfp.SID(m.Group), DACL: acl}, nil
}

// Values

func ValuePB(v *wfp.FwpValue0) *pb.Value {
	m := &pb.Value{Type: uint32(v.Type)}
	switch v.Type {
	case wfp.DataTypeUint8:
		m.Uint = uint64(v.Uint8)
	case wfp.DataTypeUint16:
		m.Uint = uint64(v.Uint16)
	case wfp.DataTypeUint32:
		m.Uint = uint64(v.Uint32)
	case wfp.DataTypeUint64:
		m.Uint = v.Uint64
	case wfp.DataTypeInt8:
		m.Int = int64(v.Int8)
	case wfp.DataTypeInt16:
		m.Int = int64(v.Int16)
	case wfp.DataTypeInt32:
		m.Int = int64(v.Int32)
	case wfp.DataTypeInt64:
		m.Int = v.Int64
	case wfp.DataTypeFloat:
		m.Float = float64(v.Float32)
	case wfp.DataTypeDouble:
		m.Float = v.Double64
	case wfp.DataTypeByteArray16:
		if v.ByteArray16 != nil {
			m.Bytes, m.HasBytes = append([]byte(nil), v.ByteArray16[:]...), true
		}
	case wfp.DataTypeByteArray6:
		if v.ByteArray6 != nil {
			m.Bytes, m.HasBytes = append([]byte(nil), v.ByteArray6[:]...), true
		}
	case wfp.DataTypeByteBlob:
		m.Bytes = append([]byte(nil), v.ByteBlob...)
	case wfp.DataTypeUnicodeString:
		m.Str = v.UnicodeString
	case wfp.DataTypeSID:
		m.Str = string(v.SID)
	case wfp.DataTypeSecurityDescriptor:
		m.Sd = SDPB(v.SD)
	}
	return m
}

func ValueFromPB(m *pb.Value) (wfp.FwpValue0, error) {
	var v wfp.FwpValue0
	if m == nil {
		return v, nil
	}
	v.Type = wfp.DataType(m.Type)
	switch v.Type {
	case wfp.DataTypeUint8:
		v.Uint8 = uint8(m.Uint)
	case wfp.DataTypeUint16:
		v.Uint16 = uint16(m.Uint)
	case wfp.DataTypeUint32:
		v.Uint32 = uint32(m.Uint)
	case wfp.DataTypeUint64:
		v.Uint64 = m.Uint
	case wfp.DataTypeInt8:
		v.Int8 = int8(m.Int)
	case wfp.DataTypeInt16:
		v.Int16 = int16(m.Int)
	case wfp.DataTypeInt32:
		v.Int32 = int32(m.Int)
	case wfp.DataTypeInt64:
		v.Int64 = m.Int
	case wfp.DataTypeFloat:
		v.Float32 = float32(m.Float)
	case wfp.DataTypeDouble:
		v.Double64 = m.Float
	case wfp.DataTypeByteArray16:
		if m.HasBytes {
			if len(m.Bytes) != 16 {
				return v, bad("FWP_BYTE_ARRAY16 value is %d bytes", len(m.Bytes))
			}
			var a wfp.FwpByteArray16
			copy(a[:], m.Bytes)
			v.ByteArray16 = &a
		}
	case wfp.DataTypeByteArray6:
		if m.HasBytes {
			if len(m.Bytes) != 6 {
				return v, bad("FWP_BYTE_ARRAY6 value is %d bytes", len(m.Bytes))
			}
			var a wfp.FwpByteArray6
			copy(a[:], m.Bytes)
			v.ByteArray6 = &a
		}
	case wfp.DataTypeByteBlob:
		v.ByteBlob = append([]byte(nil), m.Bytes...)
	case wfp.DataTypeUnicodeString:
		v.UnicodeString = m.Str
	case wfp.DataTypeSID:
		v.SID = wfp.SID(m.Str)
	case wfp.DataTypeSecurityDescriptor:
		sd, err := SDFromPB(m.Sd)
		if err != nil {
			return v, err
		}
		v.SD = sd
	}
	return v, nil
}

func CondValuePB(v *wfp.FwpConditionValue0) *pb.ConditionValue {
	m := &pb.ConditionValue{Value: ValuePB(&v.FwpValue0)}
	if v.V4AddrMask != nil {
		m.V4AddrMask = &pb.V4AddrMask{Addr: uint32(v.V4AddrMask.Addr), Mask: v.V4AddrMask.Mask}
	}
	if v.V6AddrMask != nil {
		m.V6AddrMask = &pb.V6AddrMask{Addr: append([]byte(nil), v.V6AddrMask.Addr[:]...), PrefixLength: uint32(v.V6AddrMask.PrefixLength)}
	}
	if v.RangeValue != nil {
		m.Range = &pb.Range{Low: ValuePB(&v.RangeValue.ValueLow), High: ValuePB(&v.RangeValue.ValueHigh)}
	}
	return m
}

func CondValueFromPB(m *pb.ConditionValue) (wfp.FwpConditionValue0, error) {
	var v wfp.FwpConditionValue0
	if m == nil {
		return v, nil
	}
	var err error
	if v.FwpValue0, err = ValueFromPB(m.Value); err != nil {
		return v, err
	}
	if m.V4AddrMask != nil {
		v.V4AddrMask = &wfp.FwpV4AddrAndMask{Addr: wfp.V4Addr(m.V4AddrMask.Addr), Mask: m.V4AddrMask.Mask}
	}
	if m.V6AddrMask != nil {
		a, err := v6FromPB(m.V6AddrMask.Addr, "v6AddrMask.addr")
		if err != nil {
			return v, err
		}
		p, err := u8(m.V6AddrMask.PrefixLength, "prefix length")
		if err != nil {
			return v, err
		}
		v.V6AddrMask = &wfp.FwpV6AddrAndMask{Addr: a, PrefixLength: p}
	}
	if m.Range != nil {
		lo, err := ValueFromPB(m.Range.Low)
		if err != nil {
			return v, err
		}
		hi, err := ValueFromPB(m.Range.High)
		if err != nil {
			return v, err
		}
		v.RangeValue = &wfp.FwpRange0{ValueLow: lo, ValueHigh: hi}
	}
	return v, nil
}

func conditionsPB(cs []wfp.FwpmFilterCondition0) []*pb.FilterCondition {
	if cs == nil {
		return nil
	}
	out := make([]*pb.FilterCondition, len(cs))
	for i := range cs {
		c := &cs[i]
		out[i] = &pb.FilterCondition{FieldKey: guidPB(wfp.GUID(c.FieldKey)), MatchType: uint32(c.MatchType), ConditionValue: CondValuePB(&c.ConditionValue)}
	}
	return out
}

func conditionsFromPB(ms []*pb.FilterCondition) ([]wfp.FwpmFilterCondition0, error) {
	if ms == nil {
		return nil, nil
	}
	if len(ms) > maxConditions {
		return nil, bad("%d conditions", len(ms))
	}
	out := make([]wfp.FwpmFilterCondition0, len(ms))
	for i, m := range ms {
		if m == nil {
			return nil, bad("condition %d is null", i)
		}
		f, err := guidFromPB(m.FieldKey, "field key")
		if err != nil {
			return nil, err
		}
		cv, err := CondValueFromPB(m.ConditionValue)
		if err != nil {
			return nil, err
		}
		out[i] = wfp.FwpmFilterCondition0{FieldKey: wfp.FieldID(f), MatchType: wfp.MatchType(m.MatchType), ConditionValue: cv}
	}
	return out, nil
}

// Filters

func FilterPB(f *wfp.FwpmFilter0) *pb.Filter {
	if f == nil {
		return nil
	}
	m := &pb.Filter{
		FilterKey: guidPB(f.FilterKey), DisplayData: displayPB(f.DisplayData), Flags: f.Flags,
		ProviderData: append([]byte(nil), f.ProviderData...), LayerKey: guidPB(wfp.GUID(f.LayerKey)),
		SubLayerKey: guidPB(wfp.GUID(f.SubLayerKey)), Weight: ValuePB(&f.Weight),
		FilterCondition: conditionsPB(f.FilterCondition), ActionType: uint32(f.Action.Type),
		ActionFilterType: guidPB(f.Action.FilterType), ActionCalloutKey: guidPB(wfp.GUID(f.Action.CalloutKey)),
		RawContext: f.RawContext, ProviderContextKey: guidPB(f.ProviderContextKey), Reserved: guidPtrPB(f.Reserved),
		FilterId: f.FilterID, EffectiveWeight: ValuePB(&f.EffectiveWeight),
	}
	if f.ProviderKey != nil {
		m.ProviderKey = guidPtrPB((*wfp.GUID)(f.ProviderKey))
	}
	return m
}

func FilterFromPB(m *pb.Filter) (*wfp.FwpmFilter0, error) {
	if m == nil {
		return nil, nil
	}
	var err error
	f := &wfp.FwpmFilter0{DisplayData: displayFromPB(m.DisplayData), Flags: m.Flags, RawContext: m.RawContext, FilterID: m.FilterId}
	var g wfp.GUID
	if f.FilterKey, err = guidFromPB(m.FilterKey, "filter key"); err != nil {
		return nil, err
	}
	if len(m.ProviderKey) > 0 {
		if g, err = guidFromPB(m.ProviderKey, "provider key"); err != nil {
			return nil, err
		}
		p := wfp.ProviderID(g)
		f.ProviderKey = &p
	}
	if len(m.ProviderData) > 0 {
		f.ProviderData = append([]byte(nil), m.ProviderData...)
	}
	if g, err = guidFromPB(m.LayerKey, "layer key"); err != nil {
		return nil, err
	}
	f.LayerKey = wfp.LayerID(g)
	if g, err = guidFromPB(m.SubLayerKey, "sublayer key"); err != nil {
		return nil, err
	}
	f.SubLayerKey = wfp.SublayerID(g)
	if f.Weight, err = ValueFromPB(m.Weight); err != nil {
		return nil, err
	}
	if f.FilterCondition, err = conditionsFromPB(m.FilterCondition); err != nil {
		return nil, err
	}
	f.Action.Type = wfp.ActionType(m.ActionType)
	if f.Action.FilterType, err = guidFromPB(m.ActionFilterType, "action filter type"); err != nil {
		return nil, err
	}
	if g, err = guidFromPB(m.ActionCalloutKey, "callout key"); err != nil {
		return nil, err
	}
	f.Action.CalloutKey = wfp.CalloutID(g)
	if f.ProviderContextKey, err = guidFromPB(m.ProviderContextKey, "provider context key"); err != nil {
		return nil, err
	}
	if f.Reserved, err = guidPtrFromPB(m.Reserved, "reserved"); err != nil {
		return nil, err
	}
	if f.EffectiveWeight, err = ValueFromPB(m.EffectiveWeight); err != nil {
		return nil, err
	}
	return f, nil
}

func FilterTemplatePB(t *wfp.FwpmFilterEnumTemplate0) *pb.FilterEnumTemplate {
	if t == nil {
		return &pb.FilterEnumTemplate{}
	}
	m := &pb.FilterEnumTemplate{HasTemplate: true, LayerKey: guidPB(wfp.GUID(t.LayerKey)), EnumType: uint32(t.EnumType),
		Flags: t.Flags, FilterCondition: conditionsPB(t.FilterCondition), ActionMask: t.ActionMask}
	if t.ProviderKey != nil {
		m.ProviderKey = guidPtrPB((*wfp.GUID)(t.ProviderKey))
	}
	if t.CalloutKey != nil {
		m.CalloutKey = guidPtrPB((*wfp.GUID)(t.CalloutKey))
	}
	return m
}

func FilterTemplateFromPB(m *pb.FilterEnumTemplate) (*wfp.FwpmFilterEnumTemplate0, error) {
	if m == nil || !m.HasTemplate {
		return nil, nil
	}
	t := &wfp.FwpmFilterEnumTemplate0{EnumType: wfp.FilterEnumType(m.EnumType), Flags: m.Flags, ActionMask: m.ActionMask}
	g, err := guidFromPB(m.LayerKey, "layer key")
	if err != nil {
		return nil, err
	}
	t.LayerKey = wfp.LayerID(g)
	if len(m.ProviderKey) > 0 {
		if g, err = guidFromPB(m.ProviderKey, "provider key"); err != nil {
			return nil, err
		}
		p := wfp.ProviderID(g)
		t.ProviderKey = &p
	}
	if len(m.CalloutKey) > 0 {
		if g, err = guidFromPB(m.CalloutKey, "callout key"); err != nil {
			return nil, err
		}
		c := wfp.CalloutID(g)
		t.CalloutKey = &c
	}
	if t.FilterCondition, err = conditionsFromPB(m.FilterCondition); err != nil {
		return nil, err
	}
	return t, nil
}

// Traffic and SPIs

func TrafficPB(t *wfp.IPsecTraffic1) *pb.Traffic {
	return &pb.Traffic{
		IpVersion: uint32(t.IPVersion), LocalV4Address: uint32(t.LocalV4Address), LocalV6Address: v6PB(t.LocalV6Address),
		RemoteV4Address: uint32(t.RemoteV4Address), RemoteV6Address: v6PB(t.RemoteV6Address),
		TrafficType: uint32(t.TrafficType), IpsecFilterId: t.IPsecFilterID, TunnelPolicyId: t.TunnelPolicyID,
		RemotePort: uint32(t.RemotePort), LocalPort: uint32(t.LocalPort), IpProtocol: uint32(t.IPProtocol),
		LocalIfLuid: t.LocalIfLUID, RealIfProfileId: t.RealIfProfileID,
	}
}

func TrafficFromPB(m *pb.Traffic) (wfp.IPsecTraffic1, error) {
	var t wfp.IPsecTraffic1
	if m == nil {
		return t, nil
	}
	var err error
	t = wfp.IPsecTraffic1{IPVersion: wfp.IPVersion(m.IpVersion), LocalV4Address: wfp.V4Addr(m.LocalV4Address),
		RemoteV4Address: wfp.V4Addr(m.RemoteV4Address), TrafficType: wfp.TrafficType(m.TrafficType),
		IPsecFilterID: m.IpsecFilterId, TunnelPolicyID: m.TunnelPolicyId, LocalIfLUID: m.LocalIfLuid,
		RealIfProfileID: m.RealIfProfileId}
	if t.LocalV6Address, err = v6FromPB(m.LocalV6Address, "local address"); err != nil {
		return t, err
	}
	if t.RemoteV6Address, err = v6FromPB(m.RemoteV6Address, "remote address"); err != nil {
		return t, err
	}
	if t.RemotePort, err = u16(m.RemotePort, "remote port"); err != nil {
		return t, err
	}
	if t.LocalPort, err = u16(m.LocalPort, "local port"); err != nil {
		return t, err
	}
	if t.IPProtocol, err = u8(m.IpProtocol, "IP protocol"); err != nil {
		return t, err
	}
	return t, nil
}

func UDPPB(u *wfp.IPsecV4UDPEncapsulation0) *pb.UDPEncapsulation {
	if u == nil {
		return nil
	}
	return &pb.UDPEncapsulation{LocalUdpEncapPort: uint32(u.LocalUDPEncapPort), RemoteUdpEncapPort: uint32(u.RemoteUDPEncapPort)}
}

func UDPFromPB(m *pb.UDPEncapsulation) (*wfp.IPsecV4UDPEncapsulation0, error) {
	if m == nil {
		return nil, nil
	}
	l, err := u16(m.LocalUdpEncapPort, "local UDP port")
	if err != nil {
		return nil, err
	}
	r, err := u16(m.RemoteUdpEncapPort, "remote UDP port")
	if err != nil {
		return nil, err
	}
	return &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: l, RemoteUDPEncapPort: r}, nil
}

func VIFPB(v *wfp.IPsecVirtualIfTunnelInfo0) *pb.VirtualIfTunnelInfo {
	if v == nil {
		return nil
	}
	return &pb.VirtualIfTunnelInfo{VirtualIfTunnelId: v.VirtualIfTunnelID, TrafficSelectorId: v.TrafficSelectorID}
}

func VIFFromPB(m *pb.VirtualIfTunnelInfo) *wfp.IPsecVirtualIfTunnelInfo0 {
	if m == nil {
		return nil
	}
	return &wfp.IPsecVirtualIfTunnelInfo0{VirtualIfTunnelID: m.VirtualIfTunnelId, TrafficSelectorID: m.TrafficSelectorId}
}

func GetSPIPB(g *wfp.IPsecGetSPI1) *pb.GetSpi {
	if g == nil {
		return nil
	}
	return &pb.GetSpi{InboundIpsecTraffic: TrafficPB(&g.InboundIPsecTraffic), IpVersion: uint32(g.IPVersion),
		InboundUdpEncapsulation: UDPPB(g.InboundUDPEncapsulation), RngCryptoModuleId: guidPtrPB(g.RngCryptoModuleID)}
}

func GetSPIFromPB(m *pb.GetSpi) (*wfp.IPsecGetSPI1, error) {
	if m == nil {
		return nil, nil
	}
	t, err := TrafficFromPB(m.InboundIpsecTraffic)
	if err != nil {
		return nil, err
	}
	g := &wfp.IPsecGetSPI1{InboundIPsecTraffic: t, IPVersion: wfp.IPVersion(m.IpVersion)}
	if g.InboundUDPEncapsulation, err = UDPFromPB(m.InboundUdpEncapsulation); err != nil {
		return nil, err
	}
	if g.RngCryptoModuleID, err = guidPtrFromPB(m.RngCryptoModuleId, "rngCryptoModuleID"); err != nil {
		return nil, err
	}
	return g, nil
}

// SAs and bundles

func authPB(a *wfp.IPsecSAAuthInformation0) *pb.AuthInformation {
	if a == nil {
		return nil
	}
	id := a.AuthTransform.AuthTransformID
	return &pb.AuthInformation{AuthType: uint32(id.AuthType), AuthConfig: uint32(id.AuthConfig),
		AuthKey: append([]byte(nil), a.AuthKey...), CryptoModuleId: guidPtrPB(a.AuthTransform.CryptoModuleID)}
}

func authFromPB(m *pb.AuthInformation) (*wfp.IPsecSAAuthInformation0, error) {
	if m == nil {
		return nil, nil
	}
	c, err := u8(m.AuthConfig, "auth config")
	if err != nil {
		return nil, err
	}
	mod, err := guidPtrFromPB(m.CryptoModuleId, "crypto module id")
	if err != nil {
		return nil, err
	}
	a := &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{
		AuthTransformID: wfp.IPsecAuthTransformID0{AuthType: wfp.AuthType(m.AuthType), AuthConfig: wfp.AuthConfig(c)}, CryptoModuleID: mod}}
	if len(m.AuthKey) > 0 {
		a.AuthKey = append(wfp.Key(nil), m.AuthKey...)
	}
	return a, nil
}

func cipherPB(c *wfp.IPsecSACipherInformation0) *pb.CipherInformation {
	if c == nil {
		return nil
	}
	id := c.CipherTransform.CipherTransformID
	return &pb.CipherInformation{CipherType: uint32(id.CipherType), CipherConfig: uint32(id.CipherConfig),
		CipherKey: append([]byte(nil), c.CipherKey...), CryptoModuleId: guidPtrPB(c.CipherTransform.CryptoModuleID)}
}

func cipherFromPB(m *pb.CipherInformation) (*wfp.IPsecSACipherInformation0, error) {
	if m == nil {
		return nil, nil
	}
	cc, err := u8(m.CipherConfig, "cipher config")
	if err != nil {
		return nil, err
	}
	mod, err := guidPtrFromPB(m.CryptoModuleId, "crypto module id")
	if err != nil {
		return nil, err
	}
	c := &wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{
		CipherTransformID: wfp.IPsecCipherTransformID0{CipherType: wfp.CipherType(m.CipherType), CipherConfig: wfp.CipherConfig(cc)}, CryptoModuleID: mod}}
	if len(m.CipherKey) > 0 {
		c.CipherKey = append(wfp.Key(nil), m.CipherKey...)
	}
	return c, nil
}

func SAPB(sa *wfp.IPsecSA0) *pb.SA {
	m := &pb.SA{Spi: sa.SPI, SaTransformType: uint32(sa.SATransformType),
		AhInformation: authPB(sa.AHInformation), EspAuthInformation: authPB(sa.ESPAuthInformation),
		EspCipherInformation: cipherPB(sa.ESPCipherInformation), EspAuthFwInformation: authPB(sa.ESPAuthFWInformation)}
	if ac := sa.ESPAuthAndCipherInformation; ac != nil {
		m.EspAuthAndCipherAuth = authPB(&ac.SAAuthInformation)
		m.EspAuthAndCipherCipher = cipherPB(&ac.SACipherInformation)
	}
	return m
}

func SAFromPB(m *pb.SA) (wfp.IPsecSA0, error) {
	sa := wfp.IPsecSA0{SPI: m.Spi, SATransformType: wfp.TransformType(m.SaTransformType)}
	var err error
	if sa.AHInformation, err = authFromPB(m.AhInformation); err != nil {
		return sa, err
	}
	if sa.ESPAuthInformation, err = authFromPB(m.EspAuthInformation); err != nil {
		return sa, err
	}
	if sa.ESPCipherInformation, err = cipherFromPB(m.EspCipherInformation); err != nil {
		return sa, err
	}
	if sa.ESPAuthFWInformation, err = authFromPB(m.EspAuthFwInformation); err != nil {
		return sa, err
	}
	if m.EspAuthAndCipherAuth != nil || m.EspAuthAndCipherCipher != nil {
		a, err := authFromPB(m.EspAuthAndCipherAuth)
		if err != nil {
			return sa, err
		}
		c, err := cipherFromPB(m.EspAuthAndCipherCipher)
		if err != nil {
			return sa, err
		}
		ac := &wfp.IPsecSAAuthAndCipherInformation0{}
		if a != nil {
			ac.SAAuthInformation = *a
		}
		if c != nil {
			ac.SACipherInformation = *c
		}
		sa.ESPAuthAndCipherInformation = ac
	}
	return sa, nil
}

func BundlePB(b *wfp.IPsecSABundle1) *pb.Bundle {
	if b == nil {
		return nil
	}
	m := &pb.Bundle{
		Flags: b.Flags, Lifetime: &pb.Lifetime{LifetimeSeconds: b.Lifetime.LifetimeSeconds, LifetimeKilobytes: b.Lifetime.LifetimeKilobytes, LifetimePackets: b.Lifetime.LifetimePackets},
		IdleTimeoutSeconds: b.IdleTimeoutSeconds, NdAllowClearTimeoutSeconds: b.NDAllowClearTimeoutSeconds,
		NapContext: b.NAPContext, QmSaId: b.QMSAID, IpVersion: uint32(b.IPVersion),
		PeerV4PrivateAddress: uint32(b.PeerV4PrivateAddress), MmSaId: b.MMSAID, PfsGroup: uint32(b.PFSGroup),
		SaLookupContext: guidPB(b.SALookupContext), QmFilterId: b.QMFilterID,
	}
	if id := b.IPsecID; id != nil {
		pid := &pb.IPsecID{MmTargetName: id.MMTargetName, EmTargetName: id.EMTargetName, ExplicitCredentials: id.ExplicitCredentials, LogonId: id.LogonID}
		for _, t := range id.Tokens {
			pid.Tokens = append(pid.Tokens, &pb.Token{Type: uint32(t.Type), Principal: uint32(t.Principal), Mode: uint32(t.Mode), Token: t.Token})
		}
		m.IpsecId = pid
	}
	if k := b.KeyModuleState; k != nil {
		m.KeyModuleState = &pb.KeyModuleState{KeyModuleKey: append([]byte(nil), k.KeyModuleKey[:]...), StateBlob: append([]byte(nil), k.StateBlob...)}
	}
	if b.SAList != nil {
		m.SaList = make([]*pb.SA, len(b.SAList))
		for i := range b.SAList {
			m.SaList[i] = SAPB(&b.SAList[i])
		}
	}
	return m
}

func BundleFromPB(m *pb.Bundle) (*wfp.IPsecSABundle1, error) {
	if m == nil {
		return nil, nil
	}
	b := &wfp.IPsecSABundle1{Flags: m.Flags, IdleTimeoutSeconds: m.IdleTimeoutSeconds, NDAllowClearTimeoutSeconds: m.NdAllowClearTimeoutSeconds,
		NAPContext: m.NapContext, QMSAID: m.QmSaId, IPVersion: wfp.IPVersion(m.IpVersion),
		PeerV4PrivateAddress: wfp.V4Addr(m.PeerV4PrivateAddress), MMSAID: m.MmSaId, PFSGroup: wfp.PFSGroup(m.PfsGroup), QMFilterID: m.QmFilterId}
	if l := m.Lifetime; l != nil {
		b.Lifetime = wfp.IPsecSALifetime0{LifetimeSeconds: l.LifetimeSeconds, LifetimeKilobytes: l.LifetimeKilobytes, LifetimePackets: l.LifetimePackets}
	}
	var err error
	if b.SALookupContext, err = guidFromPB(m.SaLookupContext, "saLookupContext"); err != nil {
		return nil, err
	}
	if id := m.IpsecId; id != nil {
		if len(id.Tokens) > maxTokens {
			return nil, bad("%d tokens", len(id.Tokens))
		}
		wid := &wfp.IPsecID0{MMTargetName: id.MmTargetName, EMTargetName: id.EmTargetName, ExplicitCredentials: id.ExplicitCredentials, LogonID: id.LogonId}
		for i, t := range id.Tokens {
			if t == nil {
				return nil, bad("token %d is null", i)
			}
			wid.Tokens = append(wid.Tokens, wfp.IPsecToken0{Type: wfp.TokenType(t.Type), Principal: wfp.TokenPrincipal(t.Principal), Mode: wfp.TokenMode(t.Mode), Token: t.Token})
		}
		b.IPsecID = wid
	}
	if k := m.KeyModuleState; k != nil {
		g, err := guidFromPB(k.KeyModuleKey, "keyModuleKey")
		if err != nil {
			return nil, err
		}
		b.KeyModuleState = &wfp.IPsecKeyModuleState0{KeyModuleKey: g, StateBlob: append([]byte(nil), k.StateBlob...)}
	}
	if m.SaList != nil {
		if len(m.SaList) > maxSAs {
			return nil, bad("%d SAs in a bundle", len(m.SaList))
		}
		b.SAList = make([]wfp.IPsecSA0, len(m.SaList))
		for i, s := range m.SaList {
			if s == nil {
				return nil, bad("SA %d is null", i)
			}
			if b.SAList[i], err = SAFromPB(s); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// Details and contexts

func DetailsPB(d *wfp.IPsecSADetails1) *pb.SADetails { return detailsPB(d, nil) }

// detailsPB encodes d, its transport filter inline or, given refs, as a
// reference into the page's filters.
func detailsPB(d *wfp.IPsecSADetails1, refs *filterRefs) *pb.SADetails {
	if d == nil {
		return nil
	}
	m := &pb.SADetails{IpVersion: uint32(d.IPVersion), SaDirection: uint32(d.SADirection), Traffic: TrafficPB(&d.Traffic),
		SaBundle: BundlePB(&d.SABundle), UdpEncapsulation: UDPPB(d.UDPEncapsulation),
		VirtualIfTunnelInfo: VIFPB(d.VirtualIfTunnelInfo)}
	if refs != nil {
		m.TransportFilterRef = refs.ref(d.TransportFilter)
	} else {
		m.TransportFilter = FilterPB(d.TransportFilter)
	}
	if c := d.Counters; c != nil {
		m.Counters = &pb.Counters{Bytes: c.Bytes, Packets: c.Packets, ReplayDrops: c.ReplayDrops, IcvFailures: c.ICVFailures, OtherDrops: c.OtherDrops, LastUseUnixSec: c.LastUseUnixSec}
	}
	return m
}

func DetailsFromPB(m *pb.SADetails) (*wfp.IPsecSADetails1, error) { return detailsFromPB(m, nil) }

// detailsFromPB decodes m; a transport filter reference points into
// filters, the page's decoded filters, which the results share.
func detailsFromPB(m *pb.SADetails, filters []*wfp.FwpmFilter0) (*wfp.IPsecSADetails1, error) {
	if m == nil {
		return nil, nil
	}
	d := &wfp.IPsecSADetails1{IPVersion: wfp.IPVersion(m.IpVersion), SADirection: wfp.Direction(m.SaDirection), VirtualIfTunnelInfo: VIFFromPB(m.VirtualIfTunnelInfo)}
	var err error
	if d.Traffic, err = TrafficFromPB(m.Traffic); err != nil {
		return nil, err
	}
	b, err := BundleFromPB(m.SaBundle)
	if err != nil {
		return nil, err
	}
	if b != nil {
		d.SABundle = *b
	}
	if d.UDPEncapsulation, err = UDPFromPB(m.UdpEncapsulation); err != nil {
		return nil, err
	}
	switch ref := m.TransportFilterRef; {
	case ref == 0:
		if d.TransportFilter, err = FilterFromPB(m.TransportFilter); err != nil {
			return nil, err
		}
	case m.TransportFilter != nil:
		return nil, fmt.Errorf("transport filter given both inline and as reference %d", ref)
	case uint64(ref) > uint64(len(filters)):
		return nil, fmt.Errorf("transport filter reference %d, the page has %d filters", ref, len(filters))
	default:
		d.TransportFilter = filters[ref-1]
	}
	if c := m.Counters; c != nil {
		d.Counters = &wfp.SACounters{Bytes: c.Bytes, Packets: c.Packets, ReplayDrops: c.ReplayDrops, ICVFailures: c.IcvFailures, OtherDrops: c.OtherDrops, LastUseUnixSec: c.LastUseUnixSec}
	}
	return d, nil
}

func ContextPB(c *wfp.IPsecSAContext1) *pb.SAContext { return contextPB(c, nil) }

func contextPB(c *wfp.IPsecSAContext1, refs *filterRefs) *pb.SAContext {
	if c == nil {
		return nil
	}
	return &pb.SAContext{SaContextId: c.SAContextID, InboundSa: detailsPB(c.InboundSA, refs), OutboundSa: detailsPB(c.OutboundSA, refs),
		State: uint32(c.State), Traffic: TrafficPB(&c.Traffic), InboundSpi: c.InboundSPI}
}

func ContextFromPB(m *pb.SAContext) (*wfp.IPsecSAContext1, error) { return contextFromPB(m, nil) }

func contextFromPB(m *pb.SAContext, filters []*wfp.FwpmFilter0) (*wfp.IPsecSAContext1, error) {
	if m == nil {
		return nil, nil
	}
	st, err := u8(m.State, "state")
	if err != nil {
		return nil, err
	}
	c := &wfp.IPsecSAContext1{SAContextID: m.SaContextId, State: wfp.SAContextState(st), InboundSPI: m.InboundSpi}
	if c.InboundSA, err = detailsFromPB(m.InboundSa, filters); err != nil {
		return nil, err
	}
	if c.OutboundSA, err = detailsFromPB(m.OutboundSa, filters); err != nil {
		return nil, err
	}
	if c.Traffic, err = TrafficFromPB(m.Traffic); err != nil {
		return nil, err
	}
	return c, nil
}

// Pages: every transport filter once per page. A filter is about 1.4 KB
// on the wire, more than the rest of an SA's details, and every context
// of a keying daemon refers to one of a few (or to its peer's pair twice).

// filterRefs numbers the distinct transport filters of a page. The engine
// gives every result the same copy of a filter, so the pointer is the key.
type filterRefs struct {
	idx  map[*wfp.FwpmFilter0]uint32
	list []*pb.Filter
}

func (r *filterRefs) ref(f *wfp.FwpmFilter0) uint32 {
	if f == nil {
		return 0
	}
	if k, ok := r.idx[f]; ok {
		return k
	}
	if r.idx == nil {
		r.idx = make(map[*wfp.FwpmFilter0]uint32)
	}
	r.list = append(r.list, FilterPB(f))
	k := uint32(len(r.list))
	r.idx[f] = k
	return k
}

// pageFilters decodes a page's filters.
func pageFilters(ms []*pb.Filter) ([]*wfp.FwpmFilter0, error) {
	fs := make([]*wfp.FwpmFilter0, len(ms))
	for i, m := range ms {
		f, err := FilterFromPB(m)
		if err != nil {
			return nil, fmt.Errorf("filter %d of the page: %w", i, err)
		}
		if f == nil {
			return nil, fmt.Errorf("filter %d of the page is empty", i)
		}
		fs[i] = f
	}
	return fs, nil
}

// ContextsPB encodes a page of an SA-context enumeration.
func ContextsPB(scs []*wfp.IPsecSAContext1) *pb.SAContexts {
	ms, fs := pagePB(scs, contextPB)
	return &pb.SAContexts{SaContexts: ms, Filters: fs}
}

// pagePB encodes the entries of a page and the filters they refer to.
func pagePB[V, M any](vs []V, encode func(V, *filterRefs) M) ([]M, []*pb.Filter) {
	var refs filterRefs
	ms := make([]M, len(vs))
	for i, v := range vs {
		ms[i] = encode(v, &refs)
	}
	return ms, refs.list
}

// ContextsFromPB decodes a page of an SA-context enumeration. The details
// that refer to one filter share one decoded copy of it, as in-process
// results do.
func ContextsFromPB(m *pb.SAContexts) ([]*wfp.IPsecSAContext1, error) {
	return pageFromPB(m.GetFilters(), m.GetSaContexts(), contextFromPB, "SA context")
}

// pageFromPB decodes the entries ms of a page with filters, refusing an
// empty entry.
func pageFromPB[M any, V comparable](filters []*pb.Filter, ms []M, decode func(M, []*wfp.FwpmFilter0) (V, error), what string) ([]V, error) {
	fs, err := pageFilters(filters)
	if err != nil {
		return nil, err
	}
	out := make([]V, len(ms))
	var none V
	for i, m := range ms {
		if out[i], err = decode(m, fs); err != nil {
			return nil, fmt.Errorf("%s %d of the page: %w", what, i, err)
		}
		if out[i] == none {
			return nil, fmt.Errorf("%s %d of the page is empty", what, i)
		}
	}
	return out, nil
}

// DetailsListPB encodes a page of an SA enumeration.
func DetailsListPB(ds []*wfp.IPsecSADetails1) *pb.SADetailsList {
	ms, fs := pagePB(ds, detailsPB)
	return &pb.SADetailsList{Details: ms, Filters: fs}
}

// DetailsListFromPB decodes a page of an SA enumeration (see ContextsFromPB).
func DetailsListFromPB(m *pb.SADetailsList) ([]*wfp.IPsecSADetails1, error) {
	return pageFromPB(m.GetFilters(), m.GetDetails(), detailsFromPB, "SA details")
}

// Templates and subscriptions

func ContextTemplatePB(t *wfp.IPsecSAContextEnumTemplate0) *pb.SAContextEnumTemplate {
	if t == nil {
		return &pb.SAContextEnumTemplate{}
	}
	return &pb.SAContextEnumTemplate{HasTemplate: true, LocalSubNet: CondValuePB(&t.LocalSubNet), RemoteSubNet: CondValuePB(&t.RemoteSubNet)}
}

func ContextTemplateFromPB(m *pb.SAContextEnumTemplate) (*wfp.IPsecSAContextEnumTemplate0, error) {
	if m == nil || !m.HasTemplate {
		return nil, nil
	}
	l, err := CondValueFromPB(m.LocalSubNet)
	if err != nil {
		return nil, err
	}
	r, err := CondValueFromPB(m.RemoteSubNet)
	if err != nil {
		return nil, err
	}
	return &wfp.IPsecSAContextEnumTemplate0{LocalSubNet: l, RemoteSubNet: r}, nil
}

func SubscriptionPB(s *wfp.IPsecSAContextSubscription0) *pb.SAContextSubscription {
	if s == nil {
		return &pb.SAContextSubscription{}
	}
	m := &pb.SAContextSubscription{HasSubscription: true, Flags: s.Flags, SessionKey: guidPB(s.SessionKey)}
	if s.EnumTemplate != nil {
		m.EnumTemplate = ContextTemplatePB(s.EnumTemplate)
	}
	return m
}

func SubscriptionFromPB(m *pb.SAContextSubscription) (*wfp.IPsecSAContextSubscription0, error) {
	if m == nil || !m.HasSubscription {
		return nil, nil
	}
	k, err := guidFromPB(m.SessionKey, "session key")
	if err != nil {
		return nil, err
	}
	s := &wfp.IPsecSAContextSubscription0{Flags: m.Flags, SessionKey: k}
	if s.EnumTemplate, err = ContextTemplateFromPB(m.EnumTemplate); err != nil {
		return nil, err
	}
	return s, nil
}

// Statistics

func StatisticsPB(s *wfp.IPsecStatistics1) *pb.Statistics {
	a := s.AggregateSAStatistics
	e, h, d := s.ESPDropPacketStatistics, s.AHDropPacketStatistics, s.AggregateDropPacketStatistics
	in, out := s.InboundTrafficStatistics, s.OutboundTrafficStatistics
	return &pb.Statistics{
		ActiveSas: a.ActiveSAs, PendingSaNegotiations: a.PendingSANegotiations, TotalSasAdded: a.TotalSAsAdded,
		TotalSasDeleted: a.TotalSAsDeleted, SuccessfulRekeys: a.SuccessfulRekeys, ActiveTunnels: a.ActiveTunnels, OffloadedSas: a.OffloadedSAs,
		EspDrop:        []uint32{e.InvalidSPIsOnInbound, e.DecryptionFailuresOnInbound, e.AuthenticationFailuresOnInbound, e.ReplayCheckFailuresOnInbound, e.SANotInitializedOnInbound},
		AhDrop:         []uint32{h.InvalidSPIsOnInbound, h.AuthenticationFailuresOnInbound, h.ReplayCheckFailuresOnInbound, h.SANotInitializedOnInbound},
		AggregateDrop:  []uint32{d.InvalidSPIsOnInbound, d.DecryptionFailuresOnInbound, d.AuthenticationFailuresOnInbound, d.UDPESPValidationFailuresOnInbound, d.ReplayCheckFailuresOnInbound, d.InvalidClearTextInbound, d.SANotInitializedOnInbound, d.ReceiveOverIncorrectSAInbound, d.SecureReceivesNotMatchingFilters, d.TotalDropPacketsInbound},
		InboundTraffic: trafficStatsPB(&in), OutboundTraffic: trafficStatsPB(&out),
	}
}

func trafficStatsPB(t *wfp.IPsecTrafficStatistics1) []uint64 {
	return []uint64{t.EncryptedByteCount, t.AuthenticatedAHByteCount, t.AuthenticatedESPByteCount, t.TransportByteCount, t.TunnelByteCount, t.OffloadByteCount, t.TotalSuccessfulPackets}
}

func StatisticsFromPB(m *pb.Statistics) (*wfp.IPsecStatistics1, error) {
	if m == nil {
		return nil, bad("no statistics")
	}
	if len(m.EspDrop) != 5 || len(m.AhDrop) != 4 || len(m.AggregateDrop) != 10 || len(m.InboundTraffic) != 7 || len(m.OutboundTraffic) != 7 {
		return nil, bad("statistics arrays have the wrong lengths")
	}
	s := &wfp.IPsecStatistics1{}
	s.AggregateSAStatistics = wfp.IPsecAggregateSAStatistics0{ActiveSAs: m.ActiveSas, PendingSANegotiations: m.PendingSaNegotiations,
		TotalSAsAdded: m.TotalSasAdded, TotalSAsDeleted: m.TotalSasDeleted, SuccessfulRekeys: m.SuccessfulRekeys, ActiveTunnels: m.ActiveTunnels, OffloadedSAs: m.OffloadedSas}
	e := m.EspDrop
	s.ESPDropPacketStatistics = wfp.IPsecESPDropPacketStatistics0{InvalidSPIsOnInbound: e[0], DecryptionFailuresOnInbound: e[1], AuthenticationFailuresOnInbound: e[2], ReplayCheckFailuresOnInbound: e[3], SANotInitializedOnInbound: e[4]}
	h := m.AhDrop
	s.AHDropPacketStatistics = wfp.IPsecAHDropPacketStatistics0{InvalidSPIsOnInbound: h[0], AuthenticationFailuresOnInbound: h[1], ReplayCheckFailuresOnInbound: h[2], SANotInitializedOnInbound: h[3]}
	d := m.AggregateDrop
	s.AggregateDropPacketStatistics = wfp.IPsecAggregateDropPacketStatistics1{IPsecAggregateDropPacketStatistics0: wfp.IPsecAggregateDropPacketStatistics0{
		InvalidSPIsOnInbound: d[0], DecryptionFailuresOnInbound: d[1], AuthenticationFailuresOnInbound: d[2], UDPESPValidationFailuresOnInbound: d[3],
		ReplayCheckFailuresOnInbound: d[4], InvalidClearTextInbound: d[5], SANotInitializedOnInbound: d[6], ReceiveOverIncorrectSAInbound: d[7],
		SecureReceivesNotMatchingFilters: d[8]}, TotalDropPacketsInbound: d[9]}
	s.InboundTrafficStatistics = trafficStatsFromPB(m.InboundTraffic)
	s.OutboundTrafficStatistics = trafficStatsFromPB(m.OutboundTraffic)
	return s, nil
}

func trafficStatsFromPB(t []uint64) wfp.IPsecTrafficStatistics1 {
	return wfp.IPsecTrafficStatistics1{IPsecTrafficStatistics0: wfp.IPsecTrafficStatistics0{EncryptedByteCount: t[0], AuthenticatedAHByteCount: t[1],
		AuthenticatedESPByteCount: t[2], TransportByteCount: t[3], TunnelByteCount: t[4], OffloadByteCount: t[5]}, TotalSuccessfulPackets: t[6]}
}

// Key managers

func KeyManagerPB(k *wfp.IPsecKeyManager0) *pb.KeyManager {
	if k == nil {
		return nil
	}
	return &pb.KeyManager{KeyManagerKey: guidPB(k.KeyManagerKey), DisplayData: displayPB(k.DisplayData), Flags: k.Flags, KeyDictationTimeoutHint: uint32(k.KeyDictationTimeoutHint)}
}

func KeyManagerFromPB(m *pb.KeyManager) (*wfp.IPsecKeyManager0, error) {
	if m == nil {
		return nil, nil
	}
	g, err := guidFromPB(m.KeyManagerKey, "keyManagerKey")
	if err != nil {
		return nil, err
	}
	h, err := u8(m.KeyDictationTimeoutHint, "keyDictationTimeoutHint")
	if err != nil {
		return nil, err
	}
	return &wfp.IPsecKeyManager0{KeyManagerKey: g, DisplayData: displayFromPB(m.DisplayData), Flags: m.Flags, KeyDictationTimeoutHint: h}, nil
}
