package wfp

// Session flags: FWPM_SESSION0.Flags.
const (
	SessionFlagDynamic  uint32 = 0x00000001 // FWPM_SESSION_FLAG_DYNAMIC
	SessionFlagReserved uint32 = 0x10000000 // FWPM_SESSION_FLAG_RESERVED

	// SessionFlagKeyMaterial is a sadb extension: a session opened with it
	// receives key material from IPsecSaContextGetById*, IPsecSaContextEnum*
	// and IPsecSaEnum*, provided its caller holds ActrlReadKeys on the SA
	// database. Without it keys are always returned empty.
	SessionFlagKeyMaterial uint32 = 0x00010000
)

// Transaction flags: FwpmTransactionBegin0's flags.
const (
	TxnReadOnly uint32 = 0x00000001 // FWPM_TXN_READ_ONLY
)

// RPC authentication services FwpmEngineOpen0 accepts.
const (
	RPCCAuthnWinNT   uint32 = 10         // RPC_C_AUTHN_WINNT
	RPCCAuthnDefault uint32 = 0xFFFFFFFF // RPC_C_AUTHN_DEFAULT
)

// IPsec SA bundle flags: IPsecSABundle1.Flags.
const (
	SABundleFlagNDSecure                     uint32 = 0x00000001 // IPSEC_SA_BUNDLE_FLAG_ND_SECURE
	SABundleFlagNDBoundary                   uint32 = 0x00000002 // IPSEC_SA_BUNDLE_FLAG_ND_BOUNDARY
	SABundleFlagNDPeerNATBoundary            uint32 = 0x00000004 // IPSEC_SA_BUNDLE_FLAG_ND_PEER_NAT_BOUNDARY
	SABundleFlagGuaranteeEncryption          uint32 = 0x00000008 // IPSEC_SA_BUNDLE_FLAG_GUARANTEE_ENCRYPTION
	SABundleFlagNLB                          uint32 = 0x00000010 // IPSEC_SA_BUNDLE_FLAG_NLB
	SABundleFlagNoMachineLUIDVerify          uint32 = 0x00000020 // IPSEC_SA_BUNDLE_FLAG_NO_MACHINE_LUID_VERIFY
	SABundleFlagNoImpersonationLUIDVerify    uint32 = 0x00000040 // IPSEC_SA_BUNDLE_FLAG_NO_IMPERSONATION_LUID_VERIFY
	SABundleFlagNoExplicitCredMatch          uint32 = 0x00000080 // IPSEC_SA_BUNDLE_FLAG_NO_EXPLICIT_CRED_MATCH
	SABundleFlagAllowNullTargetNameMatch     uint32 = 0x00000200 // IPSEC_SA_BUNDLE_FLAG_ALLOW_NULL_TARGET_NAME_MATCH
	SABundleFlagClearDFOnTunnel              uint32 = 0x00000400 // IPSEC_SA_BUNDLE_FLAG_CLEAR_DF_ON_TUNNEL
	SABundleFlagAssumeUDPContextOutbound     uint32 = 0x00000800 // IPSEC_SA_BUNDLE_FLAG_ASSUME_UDP_CONTEXT_OUTBOUND
	SABundleFlagNDPeerBoundary               uint32 = 0x00001000 // IPSEC_SA_BUNDLE_FLAG_ND_PEER_BOUNDARY
	SABundleFlagSuppressDuplicateDeletion    uint32 = 0x00002000 // IPSEC_SA_BUNDLE_FLAG_SUPPRESS_DUPLICATE_DELETION
	SABundleFlagPeerSupportsGuaranteeEncrypt uint32 = 0x00004000 // IPSEC_SA_BUNDLE_FLAG_PEER_SUPPORTS_GUARANTEE_ENCRYPTION
	SABundleFlagForceInboundConnections      uint32 = 0x00008000 // IPSEC_SA_BUNDLE_FLAG_FORCE_INBOUND_CONNECTIONS
	SABundleFlagForceOutboundConnections     uint32 = 0x00010000 // IPSEC_SA_BUNDLE_FLAG_FORCE_OUTBOUND_CONNECTIONS
	SABundleFlagForwardPathInitiator         uint32 = 0x00020000 // IPSEC_SA_BUNDLE_FLAG_FORWARD_PATH_INITIATOR
	SABundleFlagEnableOptionalAsymmetricIdle uint32 = 0x00040000 // IPSEC_SA_BUNDLE_FLAG_ENABLE_OPTIONAL_ASYMMETRIC_IDLE
	SABundleFlagUsingDictatedKeys            uint32 = 0x00080000 // IPSEC_SA_BUNDLE_FLAG_USING_DICTATED_KEYS
	SABundleFlagLocallyDictatedKeys          uint32 = 0x00100000 // IPSEC_SA_BUNDLE_FLAG_LOCALLY_DICTATED_KEYS
	SABundleFlagSAOffloaded                  uint32 = 0x00200000 // IPSEC_SA_BUNDLE_FLAG_SA_OFFLOADED
	SABundleFlagIPInIPPkt                    uint32 = 0x00400000 // IPSEC_SA_BUNDLE_FLAG_IP_IN_IP_PKT
	SABundleFlagLowPowerModeSupport          uint32 = 0x00800000 // IPSEC_SA_BUNDLE_FLAG_LOW_POWER_MODE_SUPPORT
	SABundleFlagTunnelBandwidth1             uint32 = 0x10000000 // IPSEC_SA_BUNDLE_FLAG_TUNNEL_BANDWIDTH1
	SABundleFlagTunnelBandwidth2             uint32 = 0x20000000 // IPSEC_SA_BUNDLE_FLAG_TUNNEL_BANDWIDTH2
	SABundleFlagTunnelBandwidth3             uint32 = 0x40000000 // IPSEC_SA_BUNDLE_FLAG_TUNNEL_BANDWIDTH3
	SABundleFlagTunnelBandwidth4             uint32 = 0x80000000 // IPSEC_SA_BUNDLE_FLAG_TUNNEL_BANDWIDTH4

	// SABundleFlagsValid is every defined bundle flag. Bit 0x100 and bits
	// 0x01000000-0x08000000 are not defined.
	SABundleFlagsValid uint32 = 0xF0FFFEFF
)

// IPsecSaContextUpdate0 flags: which fields of the new values to apply.
const (
	SADetailsUpdateTraffic             uint64 = 0x01 // IPSEC_SA_DETAILS_UPDATE_TRAFFIC
	SADetailsUpdateUDPEncapsulation    uint64 = 0x02 // IPSEC_SA_DETAILS_UPDATE_UDP_ENCAPSULATION
	SABundleUpdateFlags                uint64 = 0x04 // IPSEC_SA_BUNDLE_UPDATE_FLAGS
	SABundleUpdateNAPContext           uint64 = 0x08 // IPSEC_SA_BUNDLE_UPDATE_NAP_CONTEXT
	SABundleUpdateKeyModuleState       uint64 = 0x10 // IPSEC_SA_BUNDLE_UPDATE_KEY_MODULE_STATE
	SABundleUpdatePeerV4PrivateAddress uint64 = 0x20 // IPSEC_SA_BUNDLE_UPDATE_PEER_V4_PRIVATE_ADDRESS
	SABundleUpdateMMSAID               uint64 = 0x40 // IPSEC_SA_BUNDLE_UPDATE_MM_SA_ID

	// SAUpdateFlagsValid is every defined update flag.
	SAUpdateFlagsValid uint64 = 0x7F
)

// Filter flags: FwpmFilter0.Flags.
const (
	FilterFlagNone                        uint32 = 0x00000000 // FWPM_FILTER_FLAG_NONE
	FilterFlagPersistent                  uint32 = 0x00000001 // FWPM_FILTER_FLAG_PERSISTENT
	FilterFlagBoottime                    uint32 = 0x00000002 // FWPM_FILTER_FLAG_BOOTTIME
	FilterFlagHasProviderContext          uint32 = 0x00000004 // FWPM_FILTER_FLAG_HAS_PROVIDER_CONTEXT
	FilterFlagClearActionRight            uint32 = 0x00000008 // FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT
	FilterFlagPermitIfCalloutUnregistered uint32 = 0x00000010 // FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED
	FilterFlagDisabled                    uint32 = 0x00000020 // FWPM_FILTER_FLAG_DISABLED
	FilterFlagIndexed                     uint32 = 0x00000040 // FWPM_FILTER_FLAG_INDEXED
	FilterFlagHasSecurityRealmProviderCtx uint32 = 0x00000080 // FWPM_FILTER_FLAG_HAS_SECURITY_REALM_PROVIDER_CONTEXT
	FilterFlagSystemOSOnly                uint32 = 0x00000100 // FWPM_FILTER_FLAG_SYSTEMOS_ONLY
	FilterFlagGameOSOnly                  uint32 = 0x00000200 // FWPM_FILTER_FLAG_GAMEOS_ONLY
	FilterFlagSilentMode                  uint32 = 0x00000400 // FWPM_FILTER_FLAG_SILENT_MODE
	FilterFlagIPsecNoAcquireInitiate      uint32 = 0x00000800 // FWPM_FILTER_FLAG_IPSEC_NO_ACQUIRE_INITIATE
)

// Filter enumeration flags: FwpmFilterEnumTemplate0.Flags.
const (
	FilterEnumFlagBestTerminatingMatch uint32 = 0x1  // FWP_FILTER_ENUM_FLAG_BEST_TERMINATING_MATCH
	FilterEnumFlagSorted               uint32 = 0x2  // FWP_FILTER_ENUM_FLAG_SORTED
	FilterEnumFlagBoottimeOnly         uint32 = 0x4  // FWP_FILTER_ENUM_FLAG_BOOTTIME_ONLY
	FilterEnumFlagIncludeBoottime      uint32 = 0x8  // FWP_FILTER_ENUM_FLAG_INCLUDE_BOOTTIME
	FilterEnumFlagIncludeDisabled      uint32 = 0x10 // FWP_FILTER_ENUM_FLAG_INCLUDE_DISABLED
)

// Filter weights (fwpmu.h).
const (
	AutoWeightBits              = 60                    // FWPM_AUTO_WEIGHT_BITS
	AutoWeightMax        uint64 = 1<<AutoWeightBits - 1 // FWPM_AUTO_WEIGHT_MAX
	WeightRangeMax       uint8  = 0xF                   // FWPM_WEIGHT_RANGE_MAX
	WeightRangeIPsec     uint8  = 0x0                   // FWPM_WEIGHT_RANGE_IPSEC
	WeightRangeIKEExempt uint8  = 0xC                   // FWPM_WEIGHT_RANGE_IKE_EXEMPTIONS
)

// Key manager flags: IPsecKeyManager0.Flags.
const (
	KeyManagerFlagDictateKey uint32 = 0x00000001 // IPSEC_KEY_MANAGER_FLAG_DICTATE_KEY
)

// Key dictation timeout bounds (IPsecKeyManager0.KeyDictationTimeoutHint).
const (
	KeyDictationTimeoutDefault = 5  // seconds used when the hint is 0
	KeyDictationTimeoutMax     = 10 // larger hints fail with FWP_E_INVALID_INTERVAL
)

// IP protocol numbers used in traffic descriptions and filter conditions.
const (
	IPProtoICMP   uint8 = 1
	IPProtoTCP    uint8 = 6
	IPProtoUDP    uint8 = 17
	IPProtoESP    uint8 = 50
	IPProtoAH     uint8 = 51
	IPProtoICMPv6 uint8 = 58
)
