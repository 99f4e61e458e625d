// Well-known WFP GUIDs (layers, sublayers, callouts, condition fields, providers, keying modules) with their fwpmu.h values.

package wfp

// LayerID values.
var (
	LayerALEAuthConnectV4           = LayerID(known("FWPM_LAYER_ALE_AUTH_CONNECT_V4", "c38d57d1-05a7-4c33-904f-7fbceee60e82"))           // FWPM_LAYER_ALE_AUTH_CONNECT_V4
	LayerALEAuthConnectV6           = LayerID(known("FWPM_LAYER_ALE_AUTH_CONNECT_V6", "4a72393b-319f-44bc-84c3-ba54dcb3b6b4"))           // FWPM_LAYER_ALE_AUTH_CONNECT_V6
	LayerALEAuthRecvAcceptV4        = LayerID(known("FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4", "e1cd9fe7-f4b5-4273-96c0-592e487b8650"))       // FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4
	LayerALEAuthRecvAcceptV6        = LayerID(known("FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6", "a3b42c97-9f04-4672-b87e-cee9c483257f"))       // FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6
	LayerIKEEXTV4                   = LayerID(known("FWPM_LAYER_IKEEXT_V4", "b14b7bdb-dbbd-473e-bed4-8b4708d4f270"))                     // FWPM_LAYER_IKEEXT_V4
	LayerIKEEXTV6                   = LayerID(known("FWPM_LAYER_IKEEXT_V6", "b64786b3-f687-4eb9-89d2-8ef32acdabe2"))                     // FWPM_LAYER_IKEEXT_V6
	LayerInboundIPPacketV4          = LayerID(known("FWPM_LAYER_INBOUND_IPPACKET_V4", "c86fd1bf-21cd-497e-a0bb-17425c885c58"))           // FWPM_LAYER_INBOUND_IPPACKET_V4
	LayerInboundIPPacketV4Discard   = LayerID(known("FWPM_LAYER_INBOUND_IPPACKET_V4_DISCARD", "b5a230d0-a8c0-44f2-916e-991b53ded1f7"))   // FWPM_LAYER_INBOUND_IPPACKET_V4_DISCARD
	LayerInboundIPPacketV6          = LayerID(known("FWPM_LAYER_INBOUND_IPPACKET_V6", "f52032cb-991c-46e7-971d-2601459a91ca"))           // FWPM_LAYER_INBOUND_IPPACKET_V6
	LayerInboundIPPacketV6Discard   = LayerID(known("FWPM_LAYER_INBOUND_IPPACKET_V6_DISCARD", "bb24c279-93b4-47a2-83ad-ae1698b50885"))   // FWPM_LAYER_INBOUND_IPPACKET_V6_DISCARD
	LayerInboundTransportV4         = LayerID(known("FWPM_LAYER_INBOUND_TRANSPORT_V4", "5926dfc8-e3cf-4426-a283-dc393f5d0f9d"))          // FWPM_LAYER_INBOUND_TRANSPORT_V4
	LayerInboundTransportV4Discard  = LayerID(known("FWPM_LAYER_INBOUND_TRANSPORT_V4_DISCARD", "ac4a9833-f69d-4648-b261-6dc84835ef39"))  // FWPM_LAYER_INBOUND_TRANSPORT_V4_DISCARD
	LayerInboundTransportV6         = LayerID(known("FWPM_LAYER_INBOUND_TRANSPORT_V6", "634a869f-fc23-4b90-b0c1-bf620a36ae6f"))          // FWPM_LAYER_INBOUND_TRANSPORT_V6
	LayerInboundTransportV6Discard  = LayerID(known("FWPM_LAYER_INBOUND_TRANSPORT_V6_DISCARD", "2a6ff955-3b2b-49d2-9848-ad9d72dcaab7"))  // FWPM_LAYER_INBOUND_TRANSPORT_V6_DISCARD
	LayerIPForwardV4                = LayerID(known("FWPM_LAYER_IPFORWARD_V4", "a82acc24-4ee1-4ee1-b465-fd1d25cb10a4"))                  // FWPM_LAYER_IPFORWARD_V4
	LayerIPForwardV4Discard         = LayerID(known("FWPM_LAYER_IPFORWARD_V4_DISCARD", "9e9ea773-2fae-4210-8f17-34129ef369eb"))          // FWPM_LAYER_IPFORWARD_V4_DISCARD
	LayerIPForwardV6                = LayerID(known("FWPM_LAYER_IPFORWARD_V6", "7b964818-19c7-493a-b71f-832c3684d28c"))                  // FWPM_LAYER_IPFORWARD_V6
	LayerIPForwardV6Discard         = LayerID(known("FWPM_LAYER_IPFORWARD_V6_DISCARD", "31524a5d-1dfe-472f-bb93-518ee945d8a2"))          // FWPM_LAYER_IPFORWARD_V6_DISCARD
	LayerIPsecKMDemuxV4             = LayerID(known("FWPM_LAYER_IPSEC_KM_DEMUX_V4", "f02b1526-a459-4a51-b9e3-759de52b9d2c"))             // FWPM_LAYER_IPSEC_KM_DEMUX_V4
	LayerIPsecKMDemuxV6             = LayerID(known("FWPM_LAYER_IPSEC_KM_DEMUX_V6", "2f755cf6-2fd4-4e88-b3e4-a91bca495235"))             // FWPM_LAYER_IPSEC_KM_DEMUX_V6
	LayerIPsecV4                    = LayerID(known("FWPM_LAYER_IPSEC_V4", "eda65c74-610d-4bc5-948f-3c4f89556867"))                      // FWPM_LAYER_IPSEC_V4
	LayerIPsecV6                    = LayerID(known("FWPM_LAYER_IPSEC_V6", "13c48442-8d87-4261-9a29-59d2abc348b4"))                      // FWPM_LAYER_IPSEC_V6
	LayerOutboundIPPacketV4         = LayerID(known("FWPM_LAYER_OUTBOUND_IPPACKET_V4", "1e5c9fae-8a84-4135-a331-950b54229ecd"))          // FWPM_LAYER_OUTBOUND_IPPACKET_V4
	LayerOutboundIPPacketV4Discard  = LayerID(known("FWPM_LAYER_OUTBOUND_IPPACKET_V4_DISCARD", "08e4bcb5-b647-48f3-953c-e5ddbd03937e"))  // FWPM_LAYER_OUTBOUND_IPPACKET_V4_DISCARD
	LayerOutboundIPPacketV6         = LayerID(known("FWPM_LAYER_OUTBOUND_IPPACKET_V6", "a3b3ab6b-3564-488c-9117-f34e82142763"))          // FWPM_LAYER_OUTBOUND_IPPACKET_V6
	LayerOutboundIPPacketV6Discard  = LayerID(known("FWPM_LAYER_OUTBOUND_IPPACKET_V6_DISCARD", "9513d7c4-a934-49dc-91a7-6ccb80cc02e3"))  // FWPM_LAYER_OUTBOUND_IPPACKET_V6_DISCARD
	LayerOutboundTransportV4        = LayerID(known("FWPM_LAYER_OUTBOUND_TRANSPORT_V4", "09e61aea-d214-46e2-9b21-b26b0b2f28c8"))         // FWPM_LAYER_OUTBOUND_TRANSPORT_V4
	LayerOutboundTransportV4Discard = LayerID(known("FWPM_LAYER_OUTBOUND_TRANSPORT_V4_DISCARD", "c5f10551-bdb0-43d7-a313-50e211f4d68a")) // FWPM_LAYER_OUTBOUND_TRANSPORT_V4_DISCARD
	LayerOutboundTransportV6        = LayerID(known("FWPM_LAYER_OUTBOUND_TRANSPORT_V6", "e1735bde-013f-4655-b351-a49e15762df0"))         // FWPM_LAYER_OUTBOUND_TRANSPORT_V6
	LayerOutboundTransportV6Discard = LayerID(known("FWPM_LAYER_OUTBOUND_TRANSPORT_V6_DISCARD", "f433df69-ccbd-482e-b9b2-57165658c3b3")) // FWPM_LAYER_OUTBOUND_TRANSPORT_V6_DISCARD
)

// SublayerID values.
var (
	SublayerIPsecDoSP                  = SublayerID(known("FWPM_SUBLAYER_IPSEC_DOSP", "e076d572-5d3d-48ef-802b-909eddb098bd"))                    // FWPM_SUBLAYER_IPSEC_DOSP
	SublayerIPsecForwardOutboundTunnel = SublayerID(known("FWPM_SUBLAYER_IPSEC_FORWARD_OUTBOUND_TUNNEL", "a5082e73-8f71-4559-8a9a-101cea04ef87")) // FWPM_SUBLAYER_IPSEC_FORWARD_OUTBOUND_TUNNEL
	SublayerIPsecSecurityRealm         = SublayerID(known("FWPM_SUBLAYER_IPSEC_SECURITY_REALM", "37a57701-5884-4964-92b8-3e704688b0ad"))          // FWPM_SUBLAYER_IPSEC_SECURITY_REALM
	SublayerIPsecTunnel                = SublayerID(known("FWPM_SUBLAYER_IPSEC_TUNNEL", "83f299ed-9ff4-4967-aff4-c309f4dab827"))                  // FWPM_SUBLAYER_IPSEC_TUNNEL
	SublayerUniversal                  = SublayerID(known("FWPM_SUBLAYER_UNIVERSAL", "eebecc03-ced4-4380-819a-2734397b2b74"))                     // FWPM_SUBLAYER_UNIVERSAL
)

// CalloutID values.
var (
	CalloutIPsecALEConnectV4             = CalloutID(known("FWPM_CALLOUT_IPSEC_ALE_CONNECT_V4", "6ac141fc-f75d-4203-b9c8-48e6149c2712"))               // FWPM_CALLOUT_IPSEC_ALE_CONNECT_V4
	CalloutIPsecALEConnectV6             = CalloutID(known("FWPM_CALLOUT_IPSEC_ALE_CONNECT_V6", "4c0dda05-e31f-4666-90b0-b3dfad34129a"))               // FWPM_CALLOUT_IPSEC_ALE_CONNECT_V6
	CalloutIPsecDoSPForwardV4            = CalloutID(known("FWPM_CALLOUT_IPSEC_DOSP_FORWARD_V4", "2fcb56ec-cd37-4b4f-b108-62c2b1850a0c"))              // FWPM_CALLOUT_IPSEC_DOSP_FORWARD_V4
	CalloutIPsecDoSPForwardV6            = CalloutID(known("FWPM_CALLOUT_IPSEC_DOSP_FORWARD_V6", "6d08a342-db9e-4fbe-9ed2-57374ce89f79"))              // FWPM_CALLOUT_IPSEC_DOSP_FORWARD_V6
	CalloutIPsecForwardInboundTunnelV4   = CalloutID(known("FWPM_CALLOUT_IPSEC_FORWARD_INBOUND_TUNNEL_V4", "28829633-c4f0-4e66-873f-844db2a899c7"))    // FWPM_CALLOUT_IPSEC_FORWARD_INBOUND_TUNNEL_V4
	CalloutIPsecForwardInboundTunnelV6   = CalloutID(known("FWPM_CALLOUT_IPSEC_FORWARD_INBOUND_TUNNEL_V6", "af50bec2-c686-429a-884d-b74443e7b0b4"))    // FWPM_CALLOUT_IPSEC_FORWARD_INBOUND_TUNNEL_V6
	CalloutIPsecForwardOutboundTunnelV4  = CalloutID(known("FWPM_CALLOUT_IPSEC_FORWARD_OUTBOUND_TUNNEL_V4", "fb532136-15cb-440b-937c-1717ca320c40"))   // FWPM_CALLOUT_IPSEC_FORWARD_OUTBOUND_TUNNEL_V4
	CalloutIPsecForwardOutboundTunnelV6  = CalloutID(known("FWPM_CALLOUT_IPSEC_FORWARD_OUTBOUND_TUNNEL_V6", "dae640cc-e021-4bee-9eb6-a48b275c8c1d"))   // FWPM_CALLOUT_IPSEC_FORWARD_OUTBOUND_TUNNEL_V6
	CalloutIPsecInboundInitiateSecureV4  = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_INITIATE_SECURE_V4", "7dff309b-ba7d-4aba-91aa-ae5c6640c944"))   // FWPM_CALLOUT_IPSEC_INBOUND_INITIATE_SECURE_V4
	CalloutIPsecInboundInitiateSecureV6  = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_INITIATE_SECURE_V6", "a9a0d6d9-c58c-474e-8aeb-3cfe99d6d53d"))   // FWPM_CALLOUT_IPSEC_INBOUND_INITIATE_SECURE_V6
	CalloutIPsecInboundTransportV4       = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V4", "5132900d-5e84-4b5f-80e4-01741e81ff10"))         // FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V4
	CalloutIPsecInboundTransportV6       = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V6", "49d3ac92-2a6c-4dcf-955f-1c3be009dd99"))         // FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V6
	CalloutIPsecInboundTunnelALEAcceptV4 = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_ALE_ACCEPT_V4", "3df6e7de-fd20-48f2-9f26-f854444cba79")) // FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_ALE_ACCEPT_V4
	CalloutIPsecInboundTunnelALEAcceptV6 = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_ALE_ACCEPT_V6", "a1e392d3-72ac-47bb-87a7-0122c69434ab")) // FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_ALE_ACCEPT_V6
	CalloutIPsecInboundTunnelV4          = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_V4", "191a8a46-0bf8-46cf-b045-4b45dfa6a324"))            // FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_V4
	CalloutIPsecInboundTunnelV6          = CalloutID(known("FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_V6", "80c342e3-1e53-4d6f-9b44-03df5aeee154"))            // FWPM_CALLOUT_IPSEC_INBOUND_TUNNEL_V6
	CalloutIPsecOutboundTransportV4      = CalloutID(known("FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V4", "4b46bf0a-4523-4e57-aa38-a87987c910d9"))        // FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V4
	CalloutIPsecOutboundTransportV6      = CalloutID(known("FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V6", "38d87722-ad83-4f11-a91f-df0fb077225b"))        // FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V6
	CalloutIPsecOutboundTunnelV4         = CalloutID(known("FWPM_CALLOUT_IPSEC_OUTBOUND_TUNNEL_V4", "70a4196c-835b-4fb0-98e8-075f4d977d46"))           // FWPM_CALLOUT_IPSEC_OUTBOUND_TUNNEL_V4
	CalloutIPsecOutboundTunnelV6         = CalloutID(known("FWPM_CALLOUT_IPSEC_OUTBOUND_TUNNEL_V6", "f1835363-a6a5-4e62-b180-23db789d8da6"))           // FWPM_CALLOUT_IPSEC_OUTBOUND_TUNNEL_V6
)

// FieldID values.
var (
	ConditionALEAppID                 = FieldID(known("FWPM_CONDITION_ALE_APP_ID", "d78e1e87-8644-4ea5-9437-d809ecefc971"))                  // FWPM_CONDITION_ALE_APP_ID
	ConditionCompartmentID            = FieldID(known("FWPM_CONDITION_COMPARTMENT_ID", "35a791ab-04ac-4ff2-a6bb-da6cfac71806"))              // FWPM_CONDITION_COMPARTMENT_ID
	ConditionCurrentProfileID         = FieldID(known("FWPM_CONDITION_CURRENT_PROFILE_ID", "ab3033c9-c0e3-4759-937d-5758c65d4ae3"))          // FWPM_CONDITION_CURRENT_PROFILE_ID
	ConditionFlags                    = FieldID(known("FWPM_CONDITION_FLAGS", "632ce23b-5167-435c-86d7-e903684aa80c"))                       // FWPM_CONDITION_FLAGS
	ConditionInterfaceIndex           = FieldID(known("FWPM_CONDITION_INTERFACE_INDEX", "667fd755-d695-434a-8af5-d3835a1259bc"))             // FWPM_CONDITION_INTERFACE_INDEX
	ConditionInterfaceType            = FieldID(known("FWPM_CONDITION_INTERFACE_TYPE", "daf8cd14-e09e-4c93-a5ae-c5c13b73ffca"))              // FWPM_CONDITION_INTERFACE_TYPE
	ConditionIPsecPolicyKey           = FieldID(known("FWPM_CONDITION_IPSEC_POLICY_KEY", "ad37dee3-722f-45cc-a4e3-068048124452"))            // FWPM_CONDITION_IPSEC_POLICY_KEY
	ConditionIPsecSecurityRealmID     = FieldID(known("FWPM_CONDITION_IPSEC_SECURITY_REALM_ID", "37a57700-5884-4964-92b8-3e704688b0ad"))     // FWPM_CONDITION_IPSEC_SECURITY_REALM_ID
	ConditionIPDestinationAddress     = FieldID(known("FWPM_CONDITION_IP_DESTINATION_ADDRESS", "2d79133b-b390-45c6-8699-acaceaafed33"))      // FWPM_CONDITION_IP_DESTINATION_ADDRESS
	ConditionIPDestinationAddressType = FieldID(known("FWPM_CONDITION_IP_DESTINATION_ADDRESS_TYPE", "1ec1b7c9-4eea-4f5e-b9ef-76beaaaf17ee")) // FWPM_CONDITION_IP_DESTINATION_ADDRESS_TYPE
	ConditionIPLocalAddress           = FieldID(known("FWPM_CONDITION_IP_LOCAL_ADDRESS", "d9ee00de-c1ef-4617-bfe3-ffd8f5a08957"))            // FWPM_CONDITION_IP_LOCAL_ADDRESS
	ConditionIPLocalAddressType       = FieldID(known("FWPM_CONDITION_IP_LOCAL_ADDRESS_TYPE", "6ec7f6c4-376b-45d7-9e9c-d337cedcd237"))       // FWPM_CONDITION_IP_LOCAL_ADDRESS_TYPE
	ConditionIPLocalAddressV4         = FieldID(known("FWPM_CONDITION_IP_LOCAL_ADDRESS_V4", "03a629cb-6e52-49f8-9c41-5709633c09cf"))         // FWPM_CONDITION_IP_LOCAL_ADDRESS_V4
	ConditionIPLocalAddressV6         = FieldID(known("FWPM_CONDITION_IP_LOCAL_ADDRESS_V6", "2381be84-7524-45b3-a05b-1e637d9c7a6a"))         // FWPM_CONDITION_IP_LOCAL_ADDRESS_V6
	ConditionIPLocalInterface         = FieldID(known("FWPM_CONDITION_IP_LOCAL_INTERFACE", "4cd62a49-59c3-4969-b7f3-bda5d32890a4"))          // FWPM_CONDITION_IP_LOCAL_INTERFACE
	ConditionIPLocalPort              = FieldID(known("FWPM_CONDITION_IP_LOCAL_PORT", "0c1ba1af-5765-453f-af22-a8f791ac775b"))               // FWPM_CONDITION_IP_LOCAL_PORT
	ConditionIPProtocol               = FieldID(known("FWPM_CONDITION_IP_PROTOCOL", "3971ef2b-623e-4f9a-8cb1-6e79b806b9a7"))                 // FWPM_CONDITION_IP_PROTOCOL
	ConditionIPRemoteAddress          = FieldID(known("FWPM_CONDITION_IP_REMOTE_ADDRESS", "b235ae9a-1d64-49b8-a44c-5ff3d9095045"))           // FWPM_CONDITION_IP_REMOTE_ADDRESS
	ConditionIPRemoteAddressV4        = FieldID(known("FWPM_CONDITION_IP_REMOTE_ADDRESS_V4", "1febb610-3bcc-45e1-bc36-2e067e2cb186"))        // FWPM_CONDITION_IP_REMOTE_ADDRESS_V4
	ConditionIPRemoteAddressV6        = FieldID(known("FWPM_CONDITION_IP_REMOTE_ADDRESS_V6", "246e1d8c-8bee-4018-9b98-31d4582f3361"))        // FWPM_CONDITION_IP_REMOTE_ADDRESS_V6
	ConditionIPRemotePort             = FieldID(known("FWPM_CONDITION_IP_REMOTE_PORT", "c35a604d-d22b-4e1a-91b4-68f674ee674b"))              // FWPM_CONDITION_IP_REMOTE_PORT
	ConditionIPSourceAddress          = FieldID(known("FWPM_CONDITION_IP_SOURCE_ADDRESS", "ae96897e-2e94-4bc9-b313-b27ee80e574d"))           // FWPM_CONDITION_IP_SOURCE_ADDRESS
	ConditionSubInterfaceIndex        = FieldID(known("FWPM_CONDITION_SUB_INTERFACE_INDEX", "0cd42473-d621-4be3-ae8c-72a348d283e1"))         // FWPM_CONDITION_SUB_INTERFACE_INDEX
	ConditionTunnelType               = FieldID(known("FWPM_CONDITION_TUNNEL_TYPE", "77a40437-8779-4868-a261-f5a902f1c0cd"))                 // FWPM_CONDITION_TUNNEL_TYPE
)

// ProviderID values.
var (
	ProviderIKEEXT          = ProviderID(known("FWPM_PROVIDER_IKEEXT", "10ad9216-ccde-456c-8b16-e9f04e60a90b"))            // FWPM_PROVIDER_IKEEXT
	ProviderIPsecDoSPConfig = ProviderID(known("FWPM_PROVIDER_IPSEC_DOSP_CONFIG", "3c6c05a9-c05c-4bb9-8338-2327814ce8bf")) // FWPM_PROVIDER_IPSEC_DOSP_CONFIG
)

// KeyingModuleID values.
var (
	KeyingModuleAuthIP = KeyingModuleID(known("FWPM_KEYING_MODULE_AUTHIP", "11e3dae0-dd26-4590-857d-ab4b28d1a095")) // FWPM_KEYING_MODULE_AUTHIP
	KeyingModuleIKE    = KeyingModuleID(known("FWPM_KEYING_MODULE_IKE", "a9bbf787-82a8-45bb-a400-5d7e5952c7a9"))    // FWPM_KEYING_MODULE_IKE
	KeyingModuleIKEv2  = KeyingModuleID(known("FWPM_KEYING_MODULE_IKEV2", "041792cc-8f07-419d-a394-716968cb1647"))  // FWPM_KEYING_MODULE_IKEV2
)
