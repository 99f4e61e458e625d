package wfp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// V4Addr is an IPv4 address as WFP stores it: a UINT32 in host byte order, so
// 192.0.2.1 is 0xC0000201. The zero value is 0.0.0.0.
type V4Addr uint32

// V4AddrFrom converts an IPv4 (or IPv4-mapped IPv6) address. It returns 0 and
// false for anything else.
func V4AddrFrom(a netip.Addr) (V4Addr, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return V4Addr(binary.BigEndian.Uint32(b[:])), true
}

// MustV4 parses a dotted-quad literal; it panics on bad input. For tests and
// constants.
func MustV4(s string) V4Addr {
	v, ok := V4AddrFrom(netip.MustParseAddr(s))
	if !ok {
		panic("wfp: not an IPv4 address: " + s)
	}
	return v
}

// Addr returns a as a netip.Addr.
func (a V4Addr) Addr() netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(a))
	return netip.AddrFrom4(b)
}

func (a V4Addr) String() string { return a.Addr().String() }

// IsZero reports whether a is 0.0.0.0.
func (a V4Addr) IsZero() bool { return a == 0 }

// MarshalText implements encoding.TextMarshaler (dotted quad).
func (a V4Addr) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *V4Addr) UnmarshalText(b []byte) error {
	p, err := netip.ParseAddr(string(b))
	if err != nil {
		return err
	}
	v, ok := V4AddrFrom(p)
	if !ok {
		return fmt.Errorf("wfp: %q is not an IPv4 address", b)
	}
	*a = v
	return nil
}

// V6Addr is an IPv6 address: 16 bytes in network order. The zero value is ::.
type V6Addr [16]byte

// V6AddrFrom converts an IPv6 address (IPv4-mapped addresses included).
func V6AddrFrom(a netip.Addr) (V6Addr, bool) {
	if !a.Is6() {
		return V6Addr{}, false
	}
	return V6Addr(a.As16()), true
}

// MustV6 parses an IPv6 literal; it panics on bad input.
func MustV6(s string) V6Addr {
	v, ok := V6AddrFrom(netip.MustParseAddr(s))
	if !ok {
		panic("wfp: not an IPv6 address: " + s)
	}
	return v
}

// Addr returns a as a netip.Addr.
func (a V6Addr) Addr() netip.Addr { return netip.AddrFrom16(a) }

func (a V6Addr) String() string { return a.Addr().String() }

// IsZero reports whether a is ::.
func (a V6Addr) IsZero() bool { return a == V6Addr{} }

// MarshalText implements encoding.TextMarshaler.
func (a V6Addr) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *V6Addr) UnmarshalText(b []byte) error {
	p, err := netip.ParseAddr(string(b))
	if err != nil {
		return err
	}
	v, ok := V6AddrFrom(p)
	if !ok {
		return fmt.Errorf("wfp: %q is not an IPv6 address", b)
	}
	*a = v
	return nil
}

// FwpmDisplayData0 is FWPM_DISPLAY_DATA0.
type FwpmDisplayData0 struct {
	Name        string
	Description string
}

// FwpmSession0 is FWPM_SESSION0: the parameters of a session. SessionKey,
// DisplayData, Flags and TxnWaitTimeoutInMSec are supplied by the caller of
// FwpmEngineOpen0; the engine fills in the rest.
type FwpmSession0 struct {
	SessionKey  GUID // zero: the engine generates one
	DisplayData FwpmDisplayData0
	Flags       uint32 // SessionFlag*
	// TxnWaitTimeoutInMSec is how long FwpmTransactionBegin0 (and an
	// implicit transaction) waits for the transaction lock; 0 means the
	// default of 15 seconds, 0xFFFFFFFF waits forever.
	TxnWaitTimeoutInMSec uint32
	ProcessID            uint32
	SID                  SID
	Username             string
	KernelMode           bool
}

// IPsecTraffic0 is IPSEC_TRAFFIC0.
type IPsecTraffic0 struct {
	IPVersion       IPVersion
	LocalV4Address  V4Addr // when IPVersion is V4
	LocalV6Address  V6Addr // when IPVersion is V6
	RemoteV4Address V4Addr
	RemoteV6Address V6Addr
	TrafficType     TrafficType
	IPsecFilterID   uint64 // transport mode: the LUID of the transport-layer IPsec filter
	TunnelPolicyID  uint64 // tunnel mode: the LUID of the tunnel policy (see docs/semantics.md)
	RemotePort      uint16
}

// IPsecTraffic1 is IPSEC_TRAFFIC1: the traffic an SA context protects. In
// tunnel mode the addresses are the tunnel endpoints.
type IPsecTraffic1 struct {
	IPVersion       IPVersion
	LocalV4Address  V4Addr
	LocalV6Address  V6Addr
	RemoteV4Address V4Addr
	RemoteV6Address V6Addr
	TrafficType     TrafficType
	IPsecFilterID   uint64
	TunnelPolicyID  uint64
	RemotePort      uint16 // nonzero overrides the filter's remote port condition
	LocalPort       uint16 // nonzero overrides the filter's local port condition
	IPProtocol      uint8  // nonzero overrides the filter's protocol condition
	LocalIfLUID     uint64
	RealIfProfileID uint32
}

// LocalAddr returns the local address of the version in use.
func (t *IPsecTraffic1) LocalAddr() netip.Addr {
	if t.IPVersion == IPVersionV6 {
		return t.LocalV6Address.Addr()
	}
	return t.LocalV4Address.Addr()
}

// RemoteAddr returns the remote address of the version in use.
func (t *IPsecTraffic1) RemoteAddr() netip.Addr {
	if t.IPVersion == IPVersionV6 {
		return t.RemoteV6Address.Addr()
	}
	return t.RemoteV4Address.Addr()
}

// ToTraffic1 widens an IPSEC_TRAFFIC0 to IPSEC_TRAFFIC1.
func (t *IPsecTraffic0) ToTraffic1() IPsecTraffic1 {
	return IPsecTraffic1{
		IPVersion: t.IPVersion, LocalV4Address: t.LocalV4Address, LocalV6Address: t.LocalV6Address,
		RemoteV4Address: t.RemoteV4Address, RemoteV6Address: t.RemoteV6Address,
		TrafficType: t.TrafficType, IPsecFilterID: t.IPsecFilterID, TunnelPolicyID: t.TunnelPolicyID,
		RemotePort: t.RemotePort,
	}
}

// ToTraffic0 narrows an IPSEC_TRAFFIC1 to IPSEC_TRAFFIC0, dropping the
// fields version 0 does not have.
func (t *IPsecTraffic1) ToTraffic0() IPsecTraffic0 {
	return IPsecTraffic0{
		IPVersion: t.IPVersion, LocalV4Address: t.LocalV4Address, LocalV6Address: t.LocalV6Address,
		RemoteV4Address: t.RemoteV4Address, RemoteV6Address: t.RemoteV6Address,
		TrafficType: t.TrafficType, IPsecFilterID: t.IPsecFilterID, TunnelPolicyID: t.TunnelPolicyID,
		RemotePort: t.RemotePort,
	}
}

// IPsecV4UDPEncapsulation0 is IPSEC_V4_UDP_ENCAPSULATION0: the UDP ports of
// ESP-in-UDP (RFC 3948) when a NAT was detected.
type IPsecV4UDPEncapsulation0 struct {
	LocalUDPEncapPort  uint16
	RemoteUDPEncapPort uint16
}

// IPsecVirtualIfTunnelInfo0 is IPSEC_VIRTUAL_IF_TUNNEL_INFO0 (IKEv2 only).
type IPsecVirtualIfTunnelInfo0 struct {
	VirtualIfTunnelID uint64
	TrafficSelectorID uint64
}

// IPsecGetSPI0 is IPSEC_GETSPI0.
type IPsecGetSPI0 struct {
	InboundIPsecTraffic     IPsecTraffic0
	IPVersion               IPVersion
	InboundUDPEncapsulation *IPsecV4UDPEncapsulation0 // IPv4 only
	RngCryptoModuleID       *GUID                     // not used
}

// IPsecGetSPI1 is IPSEC_GETSPI1: the inbound traffic an SPI is requested for.
type IPsecGetSPI1 struct {
	InboundIPsecTraffic     IPsecTraffic1
	IPVersion               IPVersion
	InboundUDPEncapsulation *IPsecV4UDPEncapsulation0 // IPv4 only
	RngCryptoModuleID       *GUID                     // not used
}

// IPsecSALifetime0 is IPSEC_SA_LIFETIME0. A zero member means no limit of
// that kind (see docs/semantics.md).
type IPsecSALifetime0 struct {
	LifetimeSeconds   uint32
	LifetimeKilobytes uint32
	LifetimePackets   uint32
}

// IPsecAuthTransformID0 is IPSEC_AUTH_TRANSFORM_ID0.
type IPsecAuthTransformID0 struct {
	AuthType   AuthType
	AuthConfig AuthConfig
}

// The IPSEC_AUTH_TRANSFORM_ID_* values.
var (
	AuthTransformIDHMACMD596     = IPsecAuthTransformID0{AuthMD5, AuthConfigHMACMD596}
	AuthTransformIDHMACSHA196    = IPsecAuthTransformID0{AuthSHA1, AuthConfigHMACSHA196}
	AuthTransformIDHMACSHA256128 = IPsecAuthTransformID0{AuthSHA256, AuthConfigHMACSHA256128}
	AuthTransformIDGCMAES128     = IPsecAuthTransformID0{AuthAES128, AuthConfigGCMAES128}
	AuthTransformIDGCMAES192     = IPsecAuthTransformID0{AuthAES192, AuthConfigGCMAES192}
	AuthTransformIDGCMAES256     = IPsecAuthTransformID0{AuthAES256, AuthConfigGCMAES256}
)

func (id IPsecAuthTransformID0) String() string {
	switch id {
	case AuthTransformIDHMACMD596:
		return "HMAC_MD5_96"
	case AuthTransformIDHMACSHA196:
		return "HMAC_SHA_1_96"
	case AuthTransformIDHMACSHA256128:
		return "HMAC_SHA_256_128"
	case AuthTransformIDGCMAES128:
		return "GCM_AES_128"
	case AuthTransformIDGCMAES192:
		return "GCM_AES_192"
	case AuthTransformIDGCMAES256:
		return "GCM_AES_256"
	}
	return fmt.Sprintf("{%v %v}", id.AuthType, id.AuthConfig)
}

// IPsecAuthTransform0 is IPSEC_AUTH_TRANSFORM0.
type IPsecAuthTransform0 struct {
	AuthTransformID IPsecAuthTransformID0
	CryptoModuleID  *GUID // not used
}

// IPsecCipherTransformID0 is IPSEC_CIPHER_TRANSFORM_ID0.
type IPsecCipherTransformID0 struct {
	CipherType   CipherType
	CipherConfig CipherConfig
}

// The IPSEC_CIPHER_TRANSFORM_ID_* values.
var (
	CipherTransformIDCBCDES    = IPsecCipherTransformID0{CipherDES, CipherConfigCBCDES}
	CipherTransformIDCBC3DES   = IPsecCipherTransformID0{Cipher3DES, CipherConfigCBC3DES}
	CipherTransformIDAES128    = IPsecCipherTransformID0{CipherAES128, CipherConfigCBCAES128}
	CipherTransformIDAES192    = IPsecCipherTransformID0{CipherAES192, CipherConfigCBCAES192}
	CipherTransformIDAES256    = IPsecCipherTransformID0{CipherAES256, CipherConfigCBCAES256}
	CipherTransformIDGCMAES128 = IPsecCipherTransformID0{CipherAES128, CipherConfigGCMAES128}
	CipherTransformIDGCMAES192 = IPsecCipherTransformID0{CipherAES192, CipherConfigGCMAES192}
	CipherTransformIDGCMAES256 = IPsecCipherTransformID0{CipherAES256, CipherConfigGCMAES256}
)

func (id IPsecCipherTransformID0) String() string {
	switch id {
	case CipherTransformIDCBCDES:
		return "CBC_DES"
	case CipherTransformIDCBC3DES:
		return "CBC_3DES"
	case CipherTransformIDAES128:
		return "AES_128"
	case CipherTransformIDAES192:
		return "AES_192"
	case CipherTransformIDAES256:
		return "AES_256"
	case CipherTransformIDGCMAES128:
		return "GCM_AES_128"
	case CipherTransformIDGCMAES192:
		return "GCM_AES_192"
	case CipherTransformIDGCMAES256:
		return "GCM_AES_256"
	}
	return fmt.Sprintf("{%v %v}", id.CipherType, id.CipherConfig)
}

// IPsecCipherTransform0 is IPSEC_CIPHER_TRANSFORM0.
type IPsecCipherTransform0 struct {
	CipherTransformID IPsecCipherTransformID0
	CryptoModuleID    *GUID // not used
}

// IPsecAuthAndCipherTransform0 is IPSEC_AUTH_AND_CIPHER_TRANSFORM0.
type IPsecAuthAndCipherTransform0 struct {
	AuthTransform   IPsecAuthTransform0
	CipherTransform IPsecCipherTransform0
}

// IPsecSAAuthInformation0 is IPSEC_SA_AUTH_INFORMATION0.
type IPsecSAAuthInformation0 struct {
	AuthTransform IPsecAuthTransform0
	AuthKey       Key
}

// IPsecSACipherInformation0 is IPSEC_SA_CIPHER_INFORMATION0.
type IPsecSACipherInformation0 struct {
	CipherTransform IPsecCipherTransform0
	CipherKey       Key
}

// IPsecSAAuthAndCipherInformation0 is IPSEC_SA_AUTH_AND_CIPHER_INFORMATION0.
type IPsecSAAuthAndCipherInformation0 struct {
	SACipherInformation IPsecSACipherInformation0
	SAAuthInformation   IPsecSAAuthInformation0
}

// IPsecSA0 is IPSEC_SA0: one SA of a bundle. Exactly the information member
// that matches SATransformType is set; the C union becomes five pointers.
type IPsecSA0 struct {
	SPI                         uint32
	SATransformType             TransformType
	AHInformation               *IPsecSAAuthInformation0          // TransformAH
	ESPAuthInformation          *IPsecSAAuthInformation0          // TransformESPAuth
	ESPCipherInformation        *IPsecSACipherInformation0        // TransformESPCipher
	ESPAuthAndCipherInformation *IPsecSAAuthAndCipherInformation0 // TransformESPAuthAndCipher
	ESPAuthFWInformation        *IPsecSAAuthInformation0          // TransformESPAuthFW
}

// IPsecToken0 is IPSEC_TOKEN0.
type IPsecToken0 struct {
	Type      TokenType
	Principal TokenPrincipal
	Mode      TokenMode
	Token     uint64 // IPSEC_TOKEN_HANDLE
}

// IPsecID0 is IPSEC_ID0: optional identity information of an SA bundle.
type IPsecID0 struct {
	MMTargetName        string
	EMTargetName        string
	Tokens              []IPsecToken0
	ExplicitCredentials uint64
	LogonID             uint64
}

// IPsecKeyModuleState0 is IPSEC_KEYMODULE_STATE0.
type IPsecKeyModuleState0 struct {
	KeyModuleKey GUID
	StateBlob    []byte
}

// IPsecSABundle0 is IPSEC_SA_BUNDLE0.
type IPsecSABundle0 struct {
	Flags                      uint32
	Lifetime                   IPsecSALifetime0
	IdleTimeoutSeconds         uint32
	NDAllowClearTimeoutSeconds uint32
	IPsecID                    *IPsecID0
	NAPContext                 uint32
	QMSAID                     uint32
	SAList                     []IPsecSA0 // numSAs is len(SAList)
	KeyModuleState             *IPsecKeyModuleState0
	IPVersion                  IPVersion
	PeerV4PrivateAddress       V4Addr
	MMSAID                     uint64
	PFSGroup                   PFSGroup
}

// IPsecSABundle1 is IPSEC_SA_BUNDLE1: the SAs of one direction of an SA
// context. SAList has one SA, or two for AH with ESP (index 0 ESP, index 1 AH).
type IPsecSABundle1 struct {
	Flags                      uint32 // SABundleFlag*
	Lifetime                   IPsecSALifetime0
	IdleTimeoutSeconds         uint32
	NDAllowClearTimeoutSeconds uint32
	IPsecID                    *IPsecID0
	NAPContext                 uint32
	QMSAID                     uint32
	SAList                     []IPsecSA0
	KeyModuleState             *IPsecKeyModuleState0
	IPVersion                  IPVersion
	PeerV4PrivateAddress       V4Addr // IPv4 only
	MMSAID                     uint64
	PFSGroup                   PFSGroup
	SALookupContext            GUID
	QMFilterID                 uint64
}

// FwpByteArray16 is FWP_BYTE_ARRAY16.
type FwpByteArray16 [16]byte

// FwpByteArray6 is FWP_BYTE_ARRAY6.
type FwpByteArray6 [6]byte

// FwpV4AddrAndMask is FWP_V4_ADDR_AND_MASK (both in host byte order).
type FwpV4AddrAndMask struct {
	Addr V4Addr
	Mask uint32
}

// FwpV6AddrAndMask is FWP_V6_ADDR_AND_MASK.
type FwpV6AddrAndMask struct {
	Addr         V6Addr
	PrefixLength uint8
}

// FwpValue0 is FWP_VALUE0: a tagged union. Type says which member is set.
type FwpValue0 struct {
	Type          DataType
	Uint8         uint8
	Uint16        uint16
	Uint32        uint32
	Uint64        uint64
	Int8          int8
	Int16         int16
	Int32         int32
	Int64         int64
	Float32       float32
	Double64      float64
	ByteArray16   *FwpByteArray16
	ByteBlob      []byte
	SID           SID
	SD            *SecurityDescriptor
	UnicodeString string
	ByteArray6    *FwpByteArray6
}

// FwpRange0 is FWP_RANGE0: an inclusive range of two values of one type.
type FwpRange0 struct {
	ValueLow  FwpValue0
	ValueHigh FwpValue0
}

// FwpConditionValue0 is FWP_CONDITION_VALUE0: an FwpValue0 that may also be
// an address with mask or a range.
type FwpConditionValue0 struct {
	FwpValue0
	V4AddrMask *FwpV4AddrAndMask
	V6AddrMask *FwpV6AddrAndMask
	RangeValue *FwpRange0
}

// FwpmFilterCondition0 is FWPM_FILTER_CONDITION0.
type FwpmFilterCondition0 struct {
	FieldKey       FieldID
	MatchType      MatchType
	ConditionValue FwpConditionValue0
}

// FwpmAction0 is FWPM_ACTION0. CalloutKey is used when Type has
// ActionFlagCallout, FilterType otherwise.
type FwpmAction0 struct {
	Type       ActionType
	FilterType GUID
	CalloutKey CalloutID
}

// FwpmFilter0 is FWPM_FILTER0. FilterID and EffectiveWeight are assigned by
// the engine and ignored by FwpmFilterAdd0.
type FwpmFilter0 struct {
	FilterKey          GUID // zero: the engine generates one
	DisplayData        FwpmDisplayData0
	Flags              uint32 // FilterFlag*
	ProviderKey        *ProviderID
	ProviderData       []byte
	LayerKey           LayerID
	SubLayerKey        SublayerID // zero: the default sublayer
	Weight             FwpValue0  // FWP_EMPTY, FWP_UINT8 range 0-15, or FWP_UINT64
	FilterCondition    []FwpmFilterCondition0
	Action             FwpmAction0
	RawContext         uint64
	ProviderContextKey GUID
	Reserved           *GUID
	FilterID           uint64
	EffectiveWeight    FwpValue0
}

// FwpmFilterEnumTemplate0 is FWPM_FILTER_ENUM_TEMPLATE0.
type FwpmFilterEnumTemplate0 struct {
	ProviderKey     *ProviderID
	LayerKey        LayerID
	EnumType        FilterEnumType
	Flags           uint32
	FilterCondition []FwpmFilterCondition0
	ActionMask      uint32 // a filter matches if its action type shares a bit with the mask; 0xFFFFFFFF: any
	CalloutKey      *CalloutID
}

// IPsecSADetails0 is IPSEC_SA_DETAILS0.
type IPsecSADetails0 struct {
	IPVersion        IPVersion
	SADirection      Direction
	Traffic          IPsecTraffic0
	SABundle         IPsecSABundle0
	UDPEncapsulation *IPsecV4UDPEncapsulation0
	TransportFilter  *FwpmFilter0
}

// IPsecSADetails1 is IPSEC_SA_DETAILS1: one direction of an SA context.
type IPsecSADetails1 struct {
	IPVersion        IPVersion
	SADirection      Direction
	Traffic          IPsecTraffic1
	SABundle         IPsecSABundle1
	UDPEncapsulation *IPsecV4UDPEncapsulation0
	// TransportFilter is the filter the traffic refers to. It is shared
	// read-only among results (the in-process engine's results, the
	// details of one page over RPC): do not modify it (Clone it first).
	TransportFilter     *FwpmFilter0
	VirtualIfTunnelInfo *IPsecVirtualIfTunnelInfo0

	// Counters is a sadb extension: what the data path has counted for this
	// SA; nil when no data path carries it.
	Counters *SACounters
}

// SACounters is a sadb extension: per-SA traffic counters kept by the data
// path. WFP has no such structure.
type SACounters struct {
	Bytes          uint64 // payload bytes protected (outbound) or accepted (inbound)
	Packets        uint64
	ReplayDrops    uint64 // inbound only
	ICVFailures    uint64 // inbound only
	OtherDrops     uint64 // inbound: malformed, bad padding, selector mismatch
	LastUseUnixSec int64  // 0: never used
}

// IPsecSAContext0 is IPSEC_SA_CONTEXT0.
type IPsecSAContext0 struct {
	SAContextID uint64
	InboundSA   *IPsecSADetails0
	OutboundSA  *IPsecSADetails0
}

// IPsecSAContext1 is IPSEC_SA_CONTEXT1: an SA context with its inbound and
// outbound SA bundles (nil until added).
type IPsecSAContext1 struct {
	SAContextID uint64
	InboundSA   *IPsecSADetails1
	OutboundSA  *IPsecSADetails1

	// State is a sadb extension: where the context is in its life cycle.
	State SAContextState
	// Traffic is a sadb extension: the outbound traffic given to
	// IPsecSaContextCreate*.
	Traffic IPsecTraffic1
	// InboundSPI is a sadb extension: the SPI from GetSpi/SetSpi, 0 before.
	InboundSPI uint32
}

// SAContextState is a sadb extension: the life-cycle state of an SA context.
//
//	Created --GetSpi/SetSpi--> SPISet --AddInbound--> InboundAdded --AddOutbound--> OutboundAdded
//	    any state --Expire0--> Expired --(60 s linger)--> deleted
//	    any state --DeleteById0 or hard lifetime--> deleted
type SAContextState uint8

const (
	SAContextCreated       SAContextState = 1
	SAContextSPISet        SAContextState = 2
	SAContextInboundAdded  SAContextState = 3
	SAContextOutboundAdded SAContextState = 4
	SAContextExpired       SAContextState = 5
)

func (s SAContextState) String() string {
	return enumString(uint32(s), "SA_CONTEXT_", []string{"", "CREATED", "SPI_SET", "INBOUND_ADDED", "OUTBOUND_ADDED", "EXPIRED"})
}

// IPsecSAContextEnumTemplate0 is IPSEC_SA_CONTEXT_ENUM_TEMPLATE0. An empty
// (FWP_EMPTY) member matches everything.
type IPsecSAContextEnumTemplate0 struct {
	LocalSubNet  FwpConditionValue0
	RemoteSubNet FwpConditionValue0
}

// IPsecSAContextSubscription0 is IPSEC_SA_CONTEXT_SUBSCRIPTION0.
type IPsecSAContextSubscription0 struct {
	EnumTemplate *IPsecSAContextEnumTemplate0 // nil: every SA context
	Flags        uint32                       // reserved, must be 0
	SessionKey   GUID                         // filled in by the engine
}

// IPsecSAContextChange0 is IPSEC_SA_CONTEXT_CHANGE0.
type IPsecSAContextChange0 struct {
	ChangeType  SAContextEventType
	SAContextID uint64
}

// IPsecSAContextCallback0 is IPSEC_SA_CONTEXT_CALLBACK0. The C context
// pointer becomes the closure's captured state.
type IPsecSAContextCallback0 func(change *IPsecSAContextChange0)

// IPsecSAEnumTemplate0 is IPSEC_SA_ENUM_TEMPLATE0.
type IPsecSAEnumTemplate0 struct {
	SADirection Direction
}

// IPsecKeyManager0 is IPSEC_KEY_MANAGER0.
type IPsecKeyManager0 struct {
	KeyManagerKey           GUID
	DisplayData             FwpmDisplayData0
	Flags                   uint32 // KeyManagerFlag*
	KeyDictationTimeoutHint uint8  // seconds; 0: 5 s; at most 10
}

// IPsecKeyManagerCallbacks0 is IPSEC_KEY_MANAGER_CALLBACKS0. With
// KeyManagerFlagDictateKey all three callbacks are required; otherwise only
// KeyNotify may be set.
type IPsecKeyManagerCallbacks0 struct {
	Reserved          GUID
	Flags             uint32
	KeyDictationCheck func(traffic *IPsecTraffic1) (willDictateKey bool, weight uint32)
	KeyDictation      func(inbound, outbound *IPsecSADetails1) (keyingModuleGenKey bool)
	KeyNotify         func(inbound, outbound *IPsecSADetails1)
}

// IPsecAggregateSAStatistics0 is IPSEC_AGGREGATE_SA_STATISTICS0.
type IPsecAggregateSAStatistics0 struct {
	ActiveSAs             uint32
	PendingSANegotiations uint32
	TotalSAsAdded         uint32
	TotalSAsDeleted       uint32
	SuccessfulRekeys      uint32
	ActiveTunnels         uint32
	OffloadedSAs          uint32
}

// IPsecESPDropPacketStatistics0 is IPSEC_ESP_DROP_PACKET_STATISTICS0.
type IPsecESPDropPacketStatistics0 struct {
	InvalidSPIsOnInbound            uint32
	DecryptionFailuresOnInbound     uint32
	AuthenticationFailuresOnInbound uint32
	ReplayCheckFailuresOnInbound    uint32
	SANotInitializedOnInbound       uint32
}

// IPsecAHDropPacketStatistics0 is IPSEC_AH_DROP_PACKET_STATISTICS0.
type IPsecAHDropPacketStatistics0 struct {
	InvalidSPIsOnInbound            uint32
	AuthenticationFailuresOnInbound uint32
	ReplayCheckFailuresOnInbound    uint32
	SANotInitializedOnInbound       uint32
}

// IPsecAggregateDropPacketStatistics0 is IPSEC_AGGREGATE_DROP_PACKET_STATISTICS0.
type IPsecAggregateDropPacketStatistics0 struct {
	InvalidSPIsOnInbound              uint32
	DecryptionFailuresOnInbound       uint32
	AuthenticationFailuresOnInbound   uint32
	UDPESPValidationFailuresOnInbound uint32
	ReplayCheckFailuresOnInbound      uint32
	InvalidClearTextInbound           uint32
	SANotInitializedOnInbound         uint32
	ReceiveOverIncorrectSAInbound     uint32
	SecureReceivesNotMatchingFilters  uint32
}

// IPsecAggregateDropPacketStatistics1 is IPSEC_AGGREGATE_DROP_PACKET_STATISTICS1.
type IPsecAggregateDropPacketStatistics1 struct {
	IPsecAggregateDropPacketStatistics0
	TotalDropPacketsInbound uint32
}

// IPsecTrafficStatistics0 is IPSEC_TRAFFIC_STATISTICS0.
type IPsecTrafficStatistics0 struct {
	EncryptedByteCount        uint64
	AuthenticatedAHByteCount  uint64
	AuthenticatedESPByteCount uint64
	TransportByteCount        uint64
	TunnelByteCount           uint64
	OffloadByteCount          uint64
}

// IPsecTrafficStatistics1 is IPSEC_TRAFFIC_STATISTICS1.
type IPsecTrafficStatistics1 struct {
	IPsecTrafficStatistics0
	TotalSuccessfulPackets uint64
}

// IPsecStatistics0 is IPSEC_STATISTICS0.
type IPsecStatistics0 struct {
	AggregateSAStatistics         IPsecAggregateSAStatistics0
	ESPDropPacketStatistics       IPsecESPDropPacketStatistics0
	AHDropPacketStatistics        IPsecAHDropPacketStatistics0
	AggregateDropPacketStatistics IPsecAggregateDropPacketStatistics0
	InboundTrafficStatistics      IPsecTrafficStatistics0
	OutboundTrafficStatistics     IPsecTrafficStatistics0
}

// IPsecStatistics1 is IPSEC_STATISTICS1.
type IPsecStatistics1 struct {
	AggregateSAStatistics         IPsecAggregateSAStatistics0
	ESPDropPacketStatistics       IPsecESPDropPacketStatistics0
	AHDropPacketStatistics        IPsecAHDropPacketStatistics0
	AggregateDropPacketStatistics IPsecAggregateDropPacketStatistics1
	InboundTrafficStatistics      IPsecTrafficStatistics1
	OutboundTrafficStatistics     IPsecTrafficStatistics1
}
