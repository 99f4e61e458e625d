// Package wfp is the Windows Filtering Platform IPsec SA-context API as Go.
//
// # What it holds
//
// The structures of ipsectypes.h, fwptypes.h and fwpmtypes.h that the
// SA-context functions take and return (IPSEC_TRAFFIC1 is IPsecTraffic1,
// IPSEC_SA_BUNDLE1 is IPsecSABundle1, FWPM_SESSION0 is FwpmSession0, ...),
// with the same members under Go names and every enumeration with its
// Windows numeric value; the status codes (Error: every FWP_E_* code and the
// Win32 and RPC codes these functions return, with their exact values); the
// access rights and security descriptors; the well-known GUIDs of layers,
// callouts and condition fields; and API, the interface whose methods carry
// the WFP function names.
//
// # How it maps
//
//   - The engine handle becomes the receiver: a wfp.API value is one session.
//   - Out parameters become results; arrays become slices, so numEntries
//     members disappear. FwpmFreeMemory0 stays, optional: it zeroes the
//     keys in a result and lets the engine reuse its memory, which spares a
//     caller that enumerates a large database the garbage collector's work.
//   - C unions become one member per alternative (IPsecSA0 has five
//     information pointers; FwpValue0 one member per type), and the member
//     that matches the type tag is the one that counts.
//   - IPv4 addresses keep WFP's host-order UINT32 (V4Addr) and IPv6 ones
//     their 16 network-order bytes (V6Addr); both convert to netip.Addr.
//   - Callback context pointers become closures.
//   - Key material is a Key, which never prints.
//
// A few members and constants are sadb extensions and are marked as such:
// SA counters, the SA context state, SessionFlagKeyMaterial and ActrlReadKeys.
//
// Package engine implements API in process; package client implements it
// over RPC to sadbd. Where the Microsoft pages leave behaviour open, the
// choices sadb made are in docs/semantics.md.
package wfp
