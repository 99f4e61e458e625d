package esp

import "errors"

// The errors of this package form a closed set: every function returns one
// of these, possibly wrapped with %w and context, so callers classify with
// errors.Is. Each drop reason of Open and OpenAH is a distinct value so the
// data path can count them.

// Errors returned by NewSA: the configuration is refused.
var (
	// ErrDES: DES is refused (RFC 8221 §5: MUST NOT).
	ErrDES = errors.New("esp: DES is not supported (insecure, RFC 8221)")
	// Err3DES: 3DES is refused (RFC 8221 §5: SHOULD NOT; 64-bit block).
	Err3DES = errors.New("esp: 3DES is not supported (insecure, RFC 8221)")
	// ErrMD5: HMAC-MD5-96 is refused (RFC 8221 §6: MUST NOT).
	ErrMD5 = errors.New("esp: HMAC-MD5 is not supported (insecure, RFC 8221)")
	// ErrTransform: an unknown transform, or a combination the package
	// does not offer: AES-CBC without integrity (RFC 8221 §4: encryption
	// must be authenticated), AES-GCM with a separate integrity transform,
	// NULL with no integrity (RFC 4303 §3.2), or encryption with AH.
	ErrTransform = errors.New("esp: unsupported transform")
	// ErrKeyLength: a key is not the length its transform requires.
	ErrKeyLength = errors.New("esp: wrong key length")
	// ErrReservedSPI: the SPI is in 0-255 (RFC 4303 §2.1).
	ErrReservedSPI = errors.New("esp: SPI 0-255 is reserved")
	// ErrProtocol: Config.Protocol is neither ESP nor AH.
	ErrProtocol = errors.New("esp: protocol must be ESP or AH")
	// ErrDirection: Config.Direction is neither Inbound nor Outbound.
	ErrDirection = errors.New("esp: direction must be inbound or outbound")
	// ErrReplayWindow: the replay window size is out of range, or set on
	// an outbound SA.
	ErrReplayWindow = errors.New("esp: bad replay window size")
)

// Errors returned by Seal, SealAH and the header builders.
var (
	// ErrSequenceExhausted: the SA has sent sequence number 2^32-1
	// (without ESN) or 2^64-1 (with ESN) and must be rekeyed; the
	// counter never wraps (RFC 4303 §3.3.3).
	ErrSequenceExhausted = errors.New("esp: sequence number space exhausted")
	// ErrNoRoom: the buffer lacks the headroom or tailroom the operation
	// writes into.
	ErrNoRoom = errors.New("esp: not enough room in the buffer")
	// ErrTooBig: the result would not fit the 16-bit length field of the
	// IP header.
	ErrTooBig = errors.New("esp: packet too big")
	// ErrAddressFamily: an address does not match the IP version.
	ErrAddressFamily = errors.New("esp: address family does not match the IP version")
)

// Errors returned by every SA method.
var (
	// ErrWrongDirection: Seal on an inbound SA or Open on an outbound one.
	ErrWrongDirection = errors.New("esp: wrong direction for this SA")
	// ErrWrongProtocol: an ESP method on an AH SA or the reverse.
	ErrWrongProtocol = errors.New("esp: wrong protocol for this SA")
	// ErrWiped: the SA's keys have been wiped (SA.Wipe).
	ErrWiped = errors.New("esp: SA keys have been wiped")
)

// Drop reasons returned by Open and OpenAH.
var (
	// ErrTruncated: the packet is shorter than its headers, IV, trailer
	// and ICV.
	ErrTruncated = errors.New("esp: truncated packet")
	// ErrSPIMismatch: the packet's SPI is not this SA's.
	ErrSPIMismatch = errors.New("esp: SPI does not belong to this SA")
	// ErrReplay: the sequence number is 0, older than the replay window,
	// or already received (RFC 4303 §3.4.3).
	ErrReplay = errors.New("esp: replayed or out-of-window sequence number")
	// ErrAuth: the ICV does not verify (RFC 4303 §3.4.4).
	ErrAuth = errors.New("esp: integrity check failed")
	// ErrMisaligned: AES-CBC ciphertext that is not a whole number of
	// blocks (RFC 3602 §2.4).
	ErrMisaligned = errors.New("esp: ciphertext is not a multiple of the block size")
	// ErrBadPadLength: the Pad Length exceeds the decrypted payload.
	ErrBadPadLength = errors.New("esp: pad length exceeds the payload")
	// ErrBadPadding: the padding is not 1, 2, 3, … (RFC 4303 §2.4).
	ErrBadPadding = errors.New("esp: bad padding bytes")
	// ErrBadNextHeader: the Next Header is 255, reserved by IANA.
	ErrBadNextHeader = errors.New("esp: bad next header")
	// ErrNotAH: OpenAH was given a packet whose IP header does not
	// announce AH.
	ErrNotAH = errors.New("esp: packet does not carry AH")
	// ErrBadAHLength: the AH Payload Len does not match the SA's ICV.
	ErrBadAHLength = errors.New("esp: AH length does not match the SA")
)

// Errors returned by IP header parsing, and by SealAH and OpenAH.
var (
	// ErrBadIPHeader: a malformed IPv4/IPv6 header, option or extension
	// header, or a length field that disagrees with the packet.
	ErrBadIPHeader = errors.New("esp: malformed IP header")
	// ErrFragment: a fragment, which must be reassembled before IPsec
	// processing (RFC 4302 §3.4.1, RFC 4303 §3.4.1).
	ErrFragment = errors.New("esp: IP fragment")
	// ErrSourceRoute: AH over a source-routed packet (an IPv6 Routing
	// header, or an IPv4 Loose or Strict Source Route option), whose
	// mutable-but-predictable destination address AH would have to
	// precompute (RFC 4302 §3.3.3.1, Appendix A). Not supported.
	ErrSourceRoute = errors.New("esp: AH over a source-routed packet is not supported")
)
