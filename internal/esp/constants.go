package esp

// Specification constants. Each names the document and section that fixes
// it; offsets into headers are unexported and live beside their views.

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), as
// carried in the IPv4 Protocol, IPv6 Next Header, ESP Next Header and AH
// Next Header fields.
const (
	ProtoHopByHop uint8 = 0   // IPv6 Hop-by-Hop Options (RFC 8200 §4.3)
	ProtoIPv4     uint8 = 4   // IPv4 in IP: a tunnel-mode inner IPv4 packet (RFC 2003, RFC 4303 §3.1.2)
	ProtoUDP      uint8 = 17  // UDP (RFC 768); ESP-in-UDP (RFC 3948)
	ProtoIPv6     uint8 = 41  // IPv6 in IP: a tunnel-mode inner IPv6 packet (RFC 2473, RFC 4303 §3.1.2)
	ProtoRouting  uint8 = 43  // IPv6 Routing header (RFC 8200 §4.4)
	ProtoFragment uint8 = 44  // IPv6 Fragment header (RFC 8200 §4.5)
	ProtoESP      uint8 = 50  // Encapsulating Security Payload (RFC 4303)
	ProtoAH       uint8 = 51  // Authentication Header (RFC 4302)
	ProtoNoNext   uint8 = 59  // No Next Header: an ESP dummy packet (RFC 4303 §2.6, RFC 8200 §4.7)
	ProtoDestOpts uint8 = 60  // IPv6 Destination Options (RFC 8200 §4.6)
	ProtoReserved uint8 = 255 // Reserved by IANA; never a valid Next Header
)

// SPI ranges (RFC 4303 §2.1, RFC 4302 §2.4).
const (
	// SPILocal is reserved for local, implementation-specific use and
	// MUST NOT be sent on the wire.
	SPILocal SPI = 0
	// SPIReservedMax is the top of 1-255, reserved by IANA for future use.
	SPIReservedMax SPI = 255
	// SPIMin is the smallest SPI an SA may use.
	SPIMin SPI = 256
)

// ESP packet format (RFC 4303 §2).
const (
	// ESPHeaderSize is the size of the SPI and Sequence Number fields
	// that start every ESP packet (§2.1, §2.2).
	ESPHeaderSize = 8
	// ESPTrailerSize is the size of the Pad Length and Next Header
	// fields that end the (encrypted) payload (§2.5, §2.6).
	ESPTrailerSize = 2
	// MaxPadLen is the largest Pad Length (§2.4: 0-255 bytes).
	MaxPadLen = 255
	// espAlign is the alignment of the ciphertext and ICV: the payload,
	// padding, Pad Length and Next Header end on a 4-byte boundary (§2.4).
	espAlign = 4
)

// AES-GCM and AES-GMAC in ESP and AH (RFC 4106, RFC 4543).
const (
	// SaltSize is the salt taken from the last 4 bytes of the keying
	// material (RFC 4106 §8.1, RFC 4543 §5.4).
	SaltSize = 4
	// GCMIVSize is the explicit IV carried in each packet (RFC 4106 §3.1,
	// RFC 4543 §3.1).
	GCMIVSize = 8
	// GCMICVSize is the ICV of AES-GCM-16 (RFC 4106 §6) and AES-GMAC
	// (RFC 4543 §3.4: "MUST NOT be truncated").
	GCMICVSize = 16
	// gcmNonceSize is salt || IV (RFC 4106 §4, RFC 4543 §3.2).
	gcmNonceSize = SaltSize + GCMIVSize
)

// AES-CBC in ESP (RFC 3602).
const (
	// AESBlockSize is the AES block size, the CBC IV size (§3) and the
	// alignment of the CBC ciphertext (§2.4: padding to a multiple of 16).
	AESBlockSize = 16
)

// HMAC integrity transforms.
const (
	// HMACSHA1KeySize and HMACSHA1ICVSize: HMAC-SHA1-96 takes a 160-bit
	// key (RFC 2404 §3) and truncates to 96 bits (RFC 2404 §2).
	HMACSHA1KeySize = 20
	HMACSHA1ICVSize = 12
	// HMACSHA256KeySize and HMACSHA256ICVSize: HMAC-SHA-256-128 takes a
	// 256-bit key (RFC 4868 §2.1.1) and truncates to 128 bits (§2.3).
	HMACSHA256KeySize = 32
	HMACSHA256ICVSize = 16
)

// AH packet format (RFC 4302 §2).
const (
	// AHHeaderSize is Next Header, Payload Len, Reserved, SPI and Sequence
	// Number: AH without its ICV field.
	AHHeaderSize = 12
	// ahLenUnit and ahLenBias: Payload Len is the AH length in 32-bit
	// words minus 2 (§2.2).
	ahLenUnit = 4
	ahLenBias = 2
	// ahAlign4 and ahAlign6: AH is a multiple of 32 bits over IPv4 and of
	// 64 bits over IPv6, with explicit ICV padding to get there (§2.6,
	// §3.3.3.2.1).
	ahAlign4 = 4
	ahAlign6 = 8
)

// IP options AH must know (RFC 4302 Appendix A). IPv4 option types are
// the whole type byte: copy flag, class and number (RFC 791 §3.1).
const (
	ipv4OptEOL            = 0x00 // End of Options List
	ipv4OptNOP            = 0x01 // No Operation
	ipv4OptSecurity       = 0x82 // Security (RFC 1108): immutable
	ipv4OptLSRR           = 0x83 // Loose Source Route: mutable but predictable
	ipv4OptExtSecurity    = 0x85 // Extended Security (RFC 1108): immutable
	ipv4OptCommercialSec  = 0x86 // Commercial Security: immutable
	ipv4OptSSRR           = 0x89 // Strict Source Route: mutable but predictable
	ipv4OptRouterAlert    = 0x94 // Router Alert (RFC 2113): immutable
	ipv4OptSenderDirected = 0x95 // Sender Directed Multi-Destination Delivery (RFC 1770): immutable

	ipv6OptPad1   = 0x00 // Pad1: a single byte without length (RFC 8200 §4.2)
	ipv6OptChange = 0x20 // "Option Data may change en route" bit of an option type (RFC 8200 §4.2)
)

// IP headers (RFC 791, RFC 8200).
const (
	// IPv4MinimumSize is an IPv4 header without options.
	IPv4MinimumSize = 20
	// IPv4MaximumHeaderSize is an IPv4 header with 40 bytes of options.
	IPv4MaximumHeaderSize = 60
	// IPv4MaximumSize is the largest IPv4 packet (Total Length is 16 bits).
	IPv4MaximumSize = 0xffff
	// IPv6FixedHeaderSize is the IPv6 header without extension headers.
	IPv6FixedHeaderSize = 40
	// IPv6MaximumPayloadSize is the largest IPv6 payload without a jumbo
	// option (Payload Length is 16 bits).
	IPv6MaximumPayloadSize = 0xffff
	// DefaultTTL is the TTL or Hop Limit written when IPv4Fields.TTL or
	// IPv6Fields.HopLimit is zero: the value IANA recommends for IP
	// ("ip-parameters" registry, RFC 1700) and Linux uses.
	DefaultTTL = 64
)

// UDP encapsulation of ESP (RFC 3948).
const (
	// UDPHeaderSize is the UDP header (RFC 768).
	UDPHeaderSize = 8
	// NATTPort is the IKE/ESP-in-UDP port ("ipsec-nat-t", RFC 3948 §1,
	// RFC 3947 §4).
	NATTPort = 4500
	// NonESPMarkerSize is the 4 zero bytes in front of an IKE message on
	// the NAT-T port, where an ESP packet has its (never zero) SPI (§2.2).
	NonESPMarkerSize = 4
	// NATKeepalive is the single payload byte of a NAT-keepalive packet
	// (§2.3).
	NATKeepalive byte = 0xff
)
