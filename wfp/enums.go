package wfp

import "fmt"

// IPVersion is FWP_IP_VERSION.
type IPVersion uint32

const (
	IPVersionV4   IPVersion = 0 // FWP_IP_VERSION_V4
	IPVersionV6   IPVersion = 1 // FWP_IP_VERSION_V6
	IPVersionNone IPVersion = 2 // FWP_IP_VERSION_NONE
	IPVersionMax  IPVersion = 3 // FWP_IP_VERSION_MAX
)

func (v IPVersion) String() string {
	return enumString(uint32(v), "FWP_IP_VERSION_", []string{"V4", "V6", "NONE"})
}

// Direction is FWP_DIRECTION, the direction of an SA.
type Direction uint32

const (
	DirectionOutbound Direction = 0 // FWP_DIRECTION_OUTBOUND
	DirectionInbound  Direction = 1 // FWP_DIRECTION_INBOUND
	DirectionMax      Direction = 2 // FWP_DIRECTION_MAX
)

func (d Direction) String() string {
	return enumString(uint32(d), "FWP_DIRECTION_", []string{"OUTBOUND", "INBOUND"})
}

// TrafficType is IPSEC_TRAFFIC_TYPE.
type TrafficType uint32

const (
	TrafficTypeTransport TrafficType = 0 // IPSEC_TRAFFIC_TYPE_TRANSPORT
	TrafficTypeTunnel    TrafficType = 1 // IPSEC_TRAFFIC_TYPE_TUNNEL
	TrafficTypeMax       TrafficType = 2 // IPSEC_TRAFFIC_TYPE_MAX
)

func (t TrafficType) String() string {
	return enumString(uint32(t), "IPSEC_TRAFFIC_TYPE_", []string{"TRANSPORT", "TUNNEL"})
}

// TransformType is IPSEC_TRANSFORM_TYPE: the IPsec protocol of one SA.
// Zero is not a valid transform type.
type TransformType uint32

const (
	TransformAH               TransformType = 1 // IPSEC_TRANSFORM_AH
	TransformESPAuth          TransformType = 2 // IPSEC_TRANSFORM_ESP_AUTH
	TransformESPCipher        TransformType = 3 // IPSEC_TRANSFORM_ESP_CIPHER
	TransformESPAuthAndCipher TransformType = 4 // IPSEC_TRANSFORM_ESP_AUTH_AND_CIPHER
	TransformESPAuthFW        TransformType = 5 // IPSEC_TRANSFORM_ESP_AUTH_FW
	TransformTypeMax          TransformType = 6 // IPSEC_TRANSFORM_TYPE_MAX
)

func (t TransformType) String() string {
	return enumString(uint32(t), "IPSEC_TRANSFORM_", []string{"", "AH", "ESP_AUTH", "ESP_CIPHER", "ESP_AUTH_AND_CIPHER", "ESP_AUTH_FW"})
}

// IsESP reports whether t is one of the ESP transform types.
func (t TransformType) IsESP() bool { return t >= TransformESPAuth && t <= TransformESPAuthFW }

// AuthType is IPSEC_AUTH_TYPE.
type AuthType uint32

const (
	AuthMD5    AuthType = 0 // IPSEC_AUTH_MD5
	AuthSHA1   AuthType = 1 // IPSEC_AUTH_SHA_1
	AuthSHA256 AuthType = 2 // IPSEC_AUTH_SHA_256
	AuthAES128 AuthType = 3 // IPSEC_AUTH_AES_128
	AuthAES192 AuthType = 4 // IPSEC_AUTH_AES_192
	AuthAES256 AuthType = 5 // IPSEC_AUTH_AES_256
	AuthMax    AuthType = 6 // IPSEC_AUTH_MAX
)

func (t AuthType) String() string {
	return enumString(uint32(t), "IPSEC_AUTH_", []string{"MD5", "SHA_1", "SHA_256", "AES_128", "AES_192", "AES_256"})
}

// AuthConfig is IPSEC_AUTH_CONFIG (a UINT8).
type AuthConfig uint8

const (
	AuthConfigHMACMD596     AuthConfig = 0 // IPSEC_AUTH_CONFIG_HMAC_MD5_96
	AuthConfigHMACSHA196    AuthConfig = 1 // IPSEC_AUTH_CONFIG_HMAC_SHA_1_96
	AuthConfigHMACSHA256128 AuthConfig = 2 // IPSEC_AUTH_CONFIG_HMAC_SHA_256_128
	AuthConfigGCMAES128     AuthConfig = 3 // IPSEC_AUTH_CONFIG_GCM_AES_128
	AuthConfigGCMAES192     AuthConfig = 4 // IPSEC_AUTH_CONFIG_GCM_AES_192
	AuthConfigGCMAES256     AuthConfig = 5 // IPSEC_AUTH_CONFIG_GCM_AES_256
	AuthConfigMax           AuthConfig = 6 // IPSEC_AUTH_CONFIG_MAX
)

func (c AuthConfig) String() string {
	return enumString(uint32(c), "IPSEC_AUTH_CONFIG_", []string{"HMAC_MD5_96", "HMAC_SHA_1_96", "HMAC_SHA_256_128", "GCM_AES_128", "GCM_AES_192", "GCM_AES_256"})
}

// CipherType is IPSEC_CIPHER_TYPE. Zero is not a valid cipher type.
type CipherType uint32

const (
	CipherDES    CipherType = 1 // IPSEC_CIPHER_TYPE_DES
	Cipher3DES   CipherType = 2 // IPSEC_CIPHER_TYPE_3DES
	CipherAES128 CipherType = 3 // IPSEC_CIPHER_TYPE_AES_128
	CipherAES192 CipherType = 4 // IPSEC_CIPHER_TYPE_AES_192
	CipherAES256 CipherType = 5 // IPSEC_CIPHER_TYPE_AES_256
	CipherMax    CipherType = 6 // IPSEC_CIPHER_TYPE_MAX
)

func (t CipherType) String() string {
	return enumString(uint32(t), "IPSEC_CIPHER_TYPE_", []string{"", "DES", "3DES", "AES_128", "AES_192", "AES_256"})
}

// CipherConfig is IPSEC_CIPHER_CONFIG (a UINT8). Zero is not valid.
type CipherConfig uint8

const (
	CipherConfigCBCDES    CipherConfig = 1 // IPSEC_CIPHER_CONFIG_CBC_DES
	CipherConfigCBC3DES   CipherConfig = 2 // IPSEC_CIPHER_CONFIG_CBC_3DES
	CipherConfigCBCAES128 CipherConfig = 3 // IPSEC_CIPHER_CONFIG_CBC_AES_128
	CipherConfigCBCAES192 CipherConfig = 4 // IPSEC_CIPHER_CONFIG_CBC_AES_192
	CipherConfigCBCAES256 CipherConfig = 5 // IPSEC_CIPHER_CONFIG_CBC_AES_256
	CipherConfigGCMAES128 CipherConfig = 6 // IPSEC_CIPHER_CONFIG_GCM_AES_128
	CipherConfigGCMAES192 CipherConfig = 7 // IPSEC_CIPHER_CONFIG_GCM_AES_192
	CipherConfigGCMAES256 CipherConfig = 8 // IPSEC_CIPHER_CONFIG_GCM_AES_256
	CipherConfigMax       CipherConfig = 9 // IPSEC_CIPHER_CONFIG_MAX
)

func (c CipherConfig) String() string {
	return enumString(uint32(c), "IPSEC_CIPHER_CONFIG_", []string{"", "CBC_DES", "CBC_3DES", "CBC_AES_128", "CBC_AES_192", "CBC_AES_256", "GCM_AES_128", "GCM_AES_192", "GCM_AES_256"})
}

// PFSGroup is IPSEC_PFS_GROUP.
type PFSGroup uint32

const (
	PFSNone   PFSGroup = 0 // IPSEC_PFS_NONE
	PFS1      PFSGroup = 1 // IPSEC_PFS_1
	PFS2      PFSGroup = 2 // IPSEC_PFS_2
	PFS2048   PFSGroup = 3 // IPSEC_PFS_2048
	PFS14     PFSGroup = 3 // IPSEC_PFS_14 (same value as IPSEC_PFS_2048)
	PFSECP256 PFSGroup = 4 // IPSEC_PFS_ECP_256
	PFSECP384 PFSGroup = 5 // IPSEC_PFS_ECP_384
	PFSMM     PFSGroup = 6 // IPSEC_PFS_MM
	PFS24     PFSGroup = 7 // IPSEC_PFS_24
	PFSMax    PFSGroup = 8 // IPSEC_PFS_MAX
)

func (g PFSGroup) String() string {
	return enumString(uint32(g), "IPSEC_PFS_", []string{"NONE", "1", "2", "2048", "ECP_256", "ECP_384", "MM", "24"})
}

// SAContextEventType is IPSEC_SA_CONTEXT_EVENT_TYPE0.
type SAContextEventType uint32

const (
	SAContextEventAdd    SAContextEventType = 1 // IPSEC_SA_CONTEXT_EVENT_ADD
	SAContextEventDelete SAContextEventType = 2 // IPSEC_SA_CONTEXT_EVENT_DELETE
	SAContextEventMax    SAContextEventType = 3 // IPSEC_SA_CONTEXT_EVENT_MAX
)

func (t SAContextEventType) String() string {
	return enumString(uint32(t), "IPSEC_SA_CONTEXT_EVENT_", []string{"", "ADD", "DELETE"})
}

// TokenType is IPSEC_TOKEN_TYPE.
type TokenType uint32

const (
	TokenTypeMachine       TokenType = 0 // IPSEC_TOKEN_TYPE_MACHINE
	TokenTypeImpersonation TokenType = 1 // IPSEC_TOKEN_TYPE_IMPERSONATION
	TokenTypeMax           TokenType = 2 // IPSEC_TOKEN_TYPE_MAX
)

func (t TokenType) String() string {
	return enumString(uint32(t), "IPSEC_TOKEN_TYPE_", []string{"MACHINE", "IMPERSONATION"})
}

// TokenPrincipal is IPSEC_TOKEN_PRINCIPAL.
type TokenPrincipal uint32

const (
	TokenPrincipalLocal TokenPrincipal = 0 // IPSEC_TOKEN_PRINCIPAL_LOCAL
	TokenPrincipalPeer  TokenPrincipal = 1 // IPSEC_TOKEN_PRINCIPAL_PEER
	TokenPrincipalMax   TokenPrincipal = 2 // IPSEC_TOKEN_PRINCIPAL_MAX
)

func (t TokenPrincipal) String() string {
	return enumString(uint32(t), "IPSEC_TOKEN_PRINCIPAL_", []string{"LOCAL", "PEER"})
}

// TokenMode is IPSEC_TOKEN_MODE.
type TokenMode uint32

const (
	TokenModeMain     TokenMode = 0 // IPSEC_TOKEN_MODE_MAIN
	TokenModeExtended TokenMode = 1 // IPSEC_TOKEN_MODE_EXTENDED
	TokenModeMax      TokenMode = 2 // IPSEC_TOKEN_MODE_MAX
)

func (t TokenMode) String() string {
	return enumString(uint32(t), "IPSEC_TOKEN_MODE_", []string{"MAIN", "EXTENDED"})
}

// DataType is FWP_DATA_TYPE: the type tag of an FwpValue0 or FwpConditionValue0.
type DataType uint32

const (
	DataTypeEmpty                  DataType = 0     // FWP_EMPTY
	DataTypeUint8                  DataType = 1     // FWP_UINT8
	DataTypeUint16                 DataType = 2     // FWP_UINT16
	DataTypeUint32                 DataType = 3     // FWP_UINT32
	DataTypeUint64                 DataType = 4     // FWP_UINT64
	DataTypeInt8                   DataType = 5     // FWP_INT8
	DataTypeInt16                  DataType = 6     // FWP_INT16
	DataTypeInt32                  DataType = 7     // FWP_INT32
	DataTypeInt64                  DataType = 8     // FWP_INT64
	DataTypeFloat                  DataType = 9     // FWP_FLOAT
	DataTypeDouble                 DataType = 10    // FWP_DOUBLE
	DataTypeByteArray16            DataType = 11    // FWP_BYTE_ARRAY16_TYPE
	DataTypeByteBlob               DataType = 12    // FWP_BYTE_BLOB_TYPE
	DataTypeSID                    DataType = 13    // FWP_SID
	DataTypeSecurityDescriptor     DataType = 14    // FWP_SECURITY_DESCRIPTOR_TYPE
	DataTypeTokenInformation       DataType = 15    // FWP_TOKEN_INFORMATION_TYPE
	DataTypeTokenAccessInformation DataType = 16    // FWP_TOKEN_ACCESS_INFORMATION_TYPE
	DataTypeUnicodeString          DataType = 17    // FWP_UNICODE_STRING_TYPE
	DataTypeByteArray6             DataType = 18    // FWP_BYTE_ARRAY6_TYPE
	DataTypeSingleMax              DataType = 0xFF  // FWP_SINGLE_DATA_TYPE_MAX
	DataTypeV4AddrMask             DataType = 0x100 // FWP_V4_ADDR_MASK
	DataTypeV6AddrMask             DataType = 0x101 // FWP_V6_ADDR_MASK
	DataTypeRange                  DataType = 0x102 // FWP_RANGE_TYPE
	DataTypeMax                    DataType = 0x103 // FWP_DATA_TYPE_MAX
)

var dataTypeNames = map[DataType]string{
	DataTypeEmpty: "FWP_EMPTY", DataTypeUint8: "FWP_UINT8", DataTypeUint16: "FWP_UINT16",
	DataTypeUint32: "FWP_UINT32", DataTypeUint64: "FWP_UINT64", DataTypeInt8: "FWP_INT8",
	DataTypeInt16: "FWP_INT16", DataTypeInt32: "FWP_INT32", DataTypeInt64: "FWP_INT64",
	DataTypeFloat: "FWP_FLOAT", DataTypeDouble: "FWP_DOUBLE", DataTypeByteArray16: "FWP_BYTE_ARRAY16_TYPE",
	DataTypeByteBlob: "FWP_BYTE_BLOB_TYPE", DataTypeSID: "FWP_SID",
	DataTypeSecurityDescriptor: "FWP_SECURITY_DESCRIPTOR_TYPE", DataTypeTokenInformation: "FWP_TOKEN_INFORMATION_TYPE",
	DataTypeTokenAccessInformation: "FWP_TOKEN_ACCESS_INFORMATION_TYPE", DataTypeUnicodeString: "FWP_UNICODE_STRING_TYPE",
	DataTypeByteArray6: "FWP_BYTE_ARRAY6_TYPE", DataTypeV4AddrMask: "FWP_V4_ADDR_MASK",
	DataTypeV6AddrMask: "FWP_V6_ADDR_MASK", DataTypeRange: "FWP_RANGE_TYPE",
}

func (t DataType) String() string {
	if s, ok := dataTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("FWP_DATA_TYPE(%d)", uint32(t))
}

// MatchType is FWP_MATCH_TYPE.
type MatchType uint32

const (
	MatchEqual                MatchType = 0  // FWP_MATCH_EQUAL
	MatchGreater              MatchType = 1  // FWP_MATCH_GREATER
	MatchLess                 MatchType = 2  // FWP_MATCH_LESS
	MatchGreaterOrEqual       MatchType = 3  // FWP_MATCH_GREATER_OR_EQUAL
	MatchLessOrEqual          MatchType = 4  // FWP_MATCH_LESS_OR_EQUAL
	MatchRange                MatchType = 5  // FWP_MATCH_RANGE
	MatchFlagsAllSet          MatchType = 6  // FWP_MATCH_FLAGS_ALL_SET
	MatchFlagsAnySet          MatchType = 7  // FWP_MATCH_FLAGS_ANY_SET
	MatchFlagsNoneSet         MatchType = 8  // FWP_MATCH_FLAGS_NONE_SET
	MatchEqualCaseInsensitive MatchType = 9  // FWP_MATCH_EQUAL_CASE_INSENSITIVE
	MatchNotEqual             MatchType = 10 // FWP_MATCH_NOT_EQUAL
	MatchPrefix               MatchType = 11 // FWP_MATCH_PREFIX
	MatchNotPrefix            MatchType = 12 // FWP_MATCH_NOT_PREFIX
	MatchTypeMax              MatchType = 13 // FWP_MATCH_TYPE_MAX
)

func (m MatchType) String() string {
	return enumString(uint32(m), "FWP_MATCH_", []string{"EQUAL", "GREATER", "LESS", "GREATER_OR_EQUAL", "LESS_OR_EQUAL", "RANGE", "FLAGS_ALL_SET", "FLAGS_ANY_SET", "FLAGS_NONE_SET", "EQUAL_CASE_INSENSITIVE", "NOT_EQUAL", "PREFIX", "NOT_PREFIX"})
}

// ActionType is FWP_ACTION_TYPE: a filter's action, a small number combined
// with the ActionFlag* bits.
type ActionType uint32

const (
	ActionFlagTerminating    ActionType = 0x00001000 // FWP_ACTION_FLAG_TERMINATING
	ActionFlagNonTerminating ActionType = 0x00002000 // FWP_ACTION_FLAG_NON_TERMINATING
	ActionFlagCallout        ActionType = 0x00004000 // FWP_ACTION_FLAG_CALLOUT

	ActionBlock              ActionType = 0x00001001 // FWP_ACTION_BLOCK
	ActionPermit             ActionType = 0x00001002 // FWP_ACTION_PERMIT
	ActionCalloutTerminating ActionType = 0x00005003 // FWP_ACTION_CALLOUT_TERMINATING
	ActionCalloutInspection  ActionType = 0x00006004 // FWP_ACTION_CALLOUT_INSPECTION
	ActionCalloutUnknown     ActionType = 0x00004005 // FWP_ACTION_CALLOUT_UNKNOWN
	ActionContinue           ActionType = 0x00002006 // FWP_ACTION_CONTINUE
	ActionNone               ActionType = 0x00000007 // FWP_ACTION_NONE
	ActionNoneNoMatch        ActionType = 0x00000008 // FWP_ACTION_NONE_NO_MATCH
)

var actionNames = map[ActionType]string{
	ActionBlock: "FWP_ACTION_BLOCK", ActionPermit: "FWP_ACTION_PERMIT",
	ActionCalloutTerminating: "FWP_ACTION_CALLOUT_TERMINATING", ActionCalloutInspection: "FWP_ACTION_CALLOUT_INSPECTION",
	ActionCalloutUnknown: "FWP_ACTION_CALLOUT_UNKNOWN", ActionContinue: "FWP_ACTION_CONTINUE",
	ActionNone: "FWP_ACTION_NONE", ActionNoneNoMatch: "FWP_ACTION_NONE_NO_MATCH",
}

func (a ActionType) String() string {
	if s, ok := actionNames[a]; ok {
		return s
	}
	return fmt.Sprintf("FWP_ACTION(0x%X)", uint32(a))
}

// IsCallout reports whether the action invokes a callout.
func (a ActionType) IsCallout() bool { return a&ActionFlagCallout != 0 }

// FilterEnumType is FWP_FILTER_ENUM_TYPE.
type FilterEnumType uint32

const (
	FilterEnumFullyContained FilterEnumType = 0 // FWP_FILTER_ENUM_FULLY_CONTAINED
	FilterEnumOverlapping    FilterEnumType = 1 // FWP_FILTER_ENUM_OVERLAPPING
	FilterEnumTypeMax        FilterEnumType = 2 // FWP_FILTER_ENUM_TYPE_MAX
)

func (t FilterEnumType) String() string {
	return enumString(uint32(t), "FWP_FILTER_ENUM_", []string{"FULLY_CONTAINED", "OVERLAPPING"})
}

// NLAddressType is NL_ADDRESS_TYPE, the value of the IP_LOCAL_ADDRESS_TYPE and
// IP_DESTINATION_ADDRESS_TYPE conditions (an FWP_UINT8).
type NLAddressType uint8

const (
	NlatUnspecified NLAddressType = 0
	NlatUnicast     NLAddressType = 1
	NlatAnycast     NLAddressType = 2
	NlatMulticast   NLAddressType = 3
	NlatBroadcast   NLAddressType = 4
	NlatInvalid     NLAddressType = 5
)

func enumString(v uint32, prefix string, names []string) string {
	if int(v) < len(names) && names[v] != "" {
		return prefix + names[v]
	}
	return fmt.Sprintf("%s(%d)", prefix[:len(prefix)-1], v)
}
