package esp

import (
	"fmt"
	"strconv"
)

// SPI is a Security Parameters Index (RFC 4303 §2.1). Values 0-255 are
// reserved and refused by NewSA.
type SPI uint32

// String returns the SPI as eight hexadecimal digits, "0x00001001".
func (s SPI) String() string { return fmt.Sprintf("0x%08x", uint32(s)) }

// IsZero reports whether s is the reserved SPI 0.
func (s SPI) IsZero() bool { return s == 0 }

// IsReserved reports whether s is in 0-255, which no SA may use.
func (s SPI) IsReserved() bool { return s <= SPIReservedMax }

// Direction says whether an SA protects packets we send or packets we
// receive. The zero value is unset and refused by NewSA.
type Direction uint8

// Directions.
const (
	Inbound  Direction = 1
	Outbound Direction = 2
)

// String returns "inbound", "outbound" or "Direction(n)".
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// IsZero reports whether d is unset.
func (d Direction) IsZero() bool { return d == 0 }

// Protocol is the IPsec protocol of an SA, with its IP protocol number.
// The zero value is unset and refused by NewSA.
type Protocol uint8

// Protocols.
const (
	ProtocolESP = Protocol(ProtoESP)
	ProtocolAH  = Protocol(ProtoAH)
)

// String returns "ESP", "AH" or "Protocol(n)".
func (p Protocol) String() string {
	switch p {
	case ProtocolESP:
		return "ESP"
	case ProtocolAH:
		return "AH"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// IsZero reports whether p is unset.
func (p Protocol) IsZero() bool { return p == 0 }

// Encryption is the ESP encryption transform. AES-GCM is a combined mode
// that also provides integrity; the others need an Integrity transform.
// The names follow RFC 8221 §5. The zero value, EncryptionNull, is ESP
// without encryption (RFC 2410) and is the only valid value for AH.
type Encryption uint8

// Encryption transforms. The key (Config.EncryptionKey) of each is given
// in brackets.
const (
	// EncryptionNull is ENCR_NULL (RFC 2410): no confidentiality, no IV.
	EncryptionNull Encryption = iota
	// EncryptionAESCBC128, 192 and 256 are ENCR_AES_CBC (RFC 3602) with a
	// random 16-byte IV per packet. [16, 24 or 32 bytes of AES key]
	EncryptionAESCBC128
	EncryptionAESCBC192
	EncryptionAESCBC256
	// EncryptionAESGCM128, 192 and 256 are ENCR_AES_GCM_16 (RFC 4106)
	// with a 16-byte ICV and the 64-bit sequence number as the 8-byte
	// explicit IV. [AES key || 4-byte salt: 20, 28 or 36 bytes]
	EncryptionAESGCM128
	EncryptionAESGCM192
	EncryptionAESGCM256
	// EncryptionDES and Encryption3DES exist so that callers can name
	// them; NewSA refuses both (RFC 8221 §5: DES MUST NOT, 3DES SHOULD
	// NOT).
	EncryptionDES
	Encryption3DES
)

var encryptionNames = [...]string{
	EncryptionNull:      "NULL",
	EncryptionAESCBC128: "AES-CBC-128",
	EncryptionAESCBC192: "AES-CBC-192",
	EncryptionAESCBC256: "AES-CBC-256",
	EncryptionAESGCM128: "AES-GCM-128",
	EncryptionAESGCM192: "AES-GCM-192",
	EncryptionAESGCM256: "AES-GCM-256",
	EncryptionDES:       "DES-CBC",
	Encryption3DES:      "3DES-CBC",
}

// String returns the transform's name, such as "AES-GCM-128".
func (e Encryption) String() string {
	if int(e) < len(encryptionNames) {
		return encryptionNames[e]
	}
	return "Encryption(" + strconv.Itoa(int(e)) + ")"
}

// IsZero reports whether e is EncryptionNull.
func (e Encryption) IsZero() bool { return e == EncryptionNull }

// Integrity is the integrity transform of an ESP or AH SA. The names follow
// RFC 8221 §6. The zero value, IntegrityNone, is only valid with AES-GCM,
// which carries its own ICV.
type Integrity uint8

// Integrity transforms. The key (Config.IntegrityKey) of each is given in
// brackets.
const (
	IntegrityNone Integrity = iota
	// IntegrityHMACSHA1 is AUTH_HMAC_SHA1_96 (RFC 2404). [20 bytes]
	IntegrityHMACSHA1
	// IntegrityHMACSHA256 is AUTH_HMAC_SHA2_256_128 (RFC 4868). [32 bytes]
	IntegrityHMACSHA256
	// IntegrityAESGMAC128, 192 and 256 are AES-GMAC (RFC 4543): in ESP
	// with EncryptionNull this is ENCR_NULL_AUTH_AES_GMAC, in AH it is
	// AUTH_AES_*_GMAC. The sequence number is the 8-byte IV.
	// [AES key || 4-byte salt: 20, 28 or 36 bytes]
	IntegrityAESGMAC128
	IntegrityAESGMAC192
	IntegrityAESGMAC256
	// IntegrityHMACMD5 exists so that callers can name it; NewSA refuses
	// it (RFC 8221 §6: AUTH_HMAC_MD5_96 MUST NOT).
	IntegrityHMACMD5
)

var integrityNames = [...]string{
	IntegrityNone:       "none",
	IntegrityHMACSHA1:   "HMAC-SHA1-96",
	IntegrityHMACSHA256: "HMAC-SHA-256-128",
	IntegrityAESGMAC128: "AES-GMAC-128",
	IntegrityAESGMAC192: "AES-GMAC-192",
	IntegrityAESGMAC256: "AES-GMAC-256",
	IntegrityHMACMD5:    "HMAC-MD5-96",
}

// String returns the transform's name, such as "HMAC-SHA-256-128".
func (i Integrity) String() string {
	if int(i) < len(integrityNames) {
		return integrityNames[i]
	}
	return "Integrity(" + strconv.Itoa(int(i)) + ")"
}

// IsZero reports whether i is IntegrityNone.
func (i Integrity) IsZero() bool { return i == IntegrityNone }

// Key is secret keying material. It never prints: every fmt verb, and
// String, give "[redacted N bytes]".
type Key []byte

// String returns "[redacted N bytes]".
func (k Key) String() string { return "[redacted " + strconv.Itoa(len(k)) + " bytes]" }

// Format implements fmt.Formatter so that no verb (%x, %v, %#v, %q, …)
// prints the key bytes.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }
