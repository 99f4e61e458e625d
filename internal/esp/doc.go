// Package esp implements the IPsec packet transforms of the userspace data
// path: ESP (RFC 4303) and AH (RFC 4302) with the AES-GCM (RFC 4106),
// AES-GMAC (RFC 4543), AES-CBC (RFC 3602), HMAC-SHA1-96 (RFC 2404) and
// HMAC-SHA-256-128 (RFC 4868) transforms, extended sequence numbers, and
// the header helpers for tunnel mode, transport mode and UDP encapsulation
// (RFC 3948).
//
// # What it owns
//
// The package owns the byte layout of ESP and AH packets and the
// cryptography of one SA in one direction ([SA]): sealing a payload into
// an ESP packet or an IP packet into an AH-protected one, and verifying
// and opening them, with the replay window of [replay.Window]. It owns the
// header views ([ESP], [AH], [IPv4], [IPv6], [UDP]) and the builders the
// data path puts around ESP and AH. It does not look SAs up by SPI, choose
// SAs by policy, reassemble fragments, or count drops: the data path does,
// using the distinct error values this package returns.
//
// # Transforms
//
// A [Config] names one [Encryption] and one [Integrity] transform:
//
//	ESP  AES-GCM-128/192/256        + none           RFC 4106, ICV 16, IV = sequence number
//	ESP  NULL                       + AES-GMAC-*     RFC 4543 (ENCR_NULL_AUTH_AES_GMAC)
//	ESP  AES-CBC-128/192/256        + HMAC-SHA1-96   RFC 3602 + RFC 2404, random IV
//	ESP  AES-CBC-128/192/256        + HMAC-SHA-256-128  RFC 3602 + RFC 4868
//	ESP  NULL                       + HMAC-SHA1-96 / HMAC-SHA-256-128  RFC 2410 framing
//	AH   HMAC-SHA1-96 / HMAC-SHA-256-128 / AES-GMAC-*  RFC 4302, RFC 4543
//
// DES, 3DES and HMAC-MD5 are refused at NewSA ([ErrDES], [Err3DES],
// [ErrMD5]), as are keys of the wrong length ([ErrKeyLength]) and other
// combinations ([ErrTransform]). AES-GCM and AES-GMAC keying material is
// the AES key followed by the 4-byte salt (RFC 4106 §8.1, RFC 4543 §5.4).
//
// # Buffers
//
// The packet path works in place, in caller-owned buffers with headroom
// and tailroom, and allocates nothing per packet once warm. [SA.Seal]
// takes a payload at buf[off:off+n] and grows it into the ESP packet:
//
//	buf: [ headroom ........ | payload (n) | tailroom ................ ]
//	                   off-HeaderLen   off          off+n
//	ESP:          [ SPI | Seq | IV | payload | pad | PL | NH | ICV ]
//	                                           \___ TrailerLen(n) ___/
//
// The outer headers then go into the remaining headroom with
// [PrependUDP], [PrependIPv4] and [PrependIPv6]. [SA.Open] decrypts an ESP
// packet in place and returns the payload as a sub-slice. [SA.SealAH]
// inserts AH after the IP headers of a packet, moving them into the
// headroom; [SA.OpenAH] removes it again.
//
// # Sequence numbers and replay
//
// An outbound SA numbers its packets from 1 with an atomic counter that
// never wraps: after 2^32-1, or 2^64-1 with ESN, Seal fails with
// [ErrSequenceExhausted] and the SA must be replaced (RFC 4303 §3.3.3).
// AES-GCM and AES-GMAC use the 64-bit sequence number as their IV, so an
// IV never repeats under a key. With ESN the high 32 bits take part in the
// ICV without being sent: in the GCM/GMAC AAD between SPI and Seql
// (RFC 4106 §5, RFC 4543 §3.3), appended after the packet for HMAC and AH
// (RFC 4303 §2.2.1, RFC 4302 §3.3.3.2.2). An inbound SA infers them with
// its replay window (RFC 4303 Appendix A2.2).
//
// # Concurrency
//
// An SA is safe for concurrent use. Seal and SealAH only share the atomic
// counter. Open and OpenAH take the SA's replay lock twice, briefly: to
// check the sequence number before the ICV check, and to record it after
// the packet passed every check; the ICV check and decryption run outside
// the lock. Per-packet state comes from a pool owned by the SA.
//
// # Keys
//
// NewSA copies the keys; [SA.Wipe] zeroes the copies and disables the SA.
// Key-derived state inside Go's crypto packages (AES key schedules, GHASH
// keys, HMAC pad states) cannot be wiped; see Wipe. [Key] and [Config]
// never print key bytes.
//
// # Tunnel and transport mode
//
// The payload is the caller's choice. In tunnel mode it is a whole inner
// packet (Next Header [ProtoIPv4] or [ProtoIPv6]) and the outer header is
// built around the ESP packet. In transport mode it is what follows the IP
// headers; [ParseIPHeaders] finds where that is and [RewriteIPHeaders]
// fixes the protocol and lengths after ESP was inserted or removed:
//
//	h, _ := esp.ParseIPHeaders(buf[off : off+n])
//	hl := sa.HeaderLen()
//	copy(buf[off-hl:], buf[off:off+h.Len])           // open a gap for the ESP header
//	e, _ := sa.Seal(buf, off+h.Len, n-h.Len, h.Protocol)
//	pkt := buf[off-hl : off-hl+h.Len+len(e)]
//	esp.RewriteIPHeaders(pkt, h, esp.ProtoESP)
//
// # NAT traversal
//
// [PrependUDP] encapsulates ESP in UDP (RFC 3948, port [NATTPort]),
// [ClassifyUDP] tells ESP, IKE (Non-ESP Marker) and NAT-keepalives apart
// on receipt, and [BuildNATKeepalive] makes a keepalive. The transport-mode
// checksum fix-up of RFC 3948 §3.1.2 needs the peers' original addresses
// from IKE and is left to the caller.
//
// # Not implemented
//
// TFC padding and extra padding on send (both optional), AES-GCM with 8-
// or 12-byte ICVs, ChaCha20-Poly1305, AH over source-routed packets
// ([ErrSourceRoute]), and the ESN resynchronization of RFC 4303
// Appendix A3.
package esp
