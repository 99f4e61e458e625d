package esp

import (
	"fmt"
	"strings"

	"github.com/sadb-dev/sadb/internal/replay"
)

// Config describes one SA in one direction. It is the input of NewSA,
// which copies the keys; the caller may wipe its own copies afterwards.
// Printing a Config (String, or any fmt verb) never shows key bytes.
type Config struct {
	// Protocol is ProtocolESP or ProtocolAH. Required.
	Protocol Protocol
	// Direction is Inbound or Outbound. Required.
	Direction Direction
	// SPI identifies the SA; 0-255 are reserved (RFC 4303 §2.1).
	SPI SPI
	// Encryption is the ESP encryption transform; EncryptionNull for AH
	// and for integrity-only ESP.
	Encryption Encryption
	// Integrity is the integrity transform; IntegrityNone only with
	// AES-GCM, which has its own ICV.
	Integrity Integrity
	// EncryptionKey is the keying material of Encryption, in the length
	// the transform's documentation gives (AES-GCM: key || salt). Empty
	// for EncryptionNull.
	EncryptionKey Key
	// IntegrityKey is the keying material of Integrity, in the length the
	// transform's documentation gives (AES-GMAC: key || salt). Empty for
	// IntegrityNone.
	IntegrityKey Key
	// ESN selects 64-bit extended sequence numbers (RFC 4303 §2.2.1).
	// Both ends must agree; false means 32-bit sequence numbers.
	ESN bool
	// ReplayWindow is the anti-replay window of an inbound SA, in
	// packets; 0 means replay.DefaultSize (64). It is rounded up to a
	// multiple of 64 and must not exceed replay.MaxSize. It must be 0
	// for an outbound SA.
	ReplayWindow int
}

// String describes c with its keys redacted, for logs.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %v SPI %v", c.Protocol, c.Direction, c.SPI)
	if c.Encryption != EncryptionNull || c.Protocol != ProtocolAH {
		fmt.Fprintf(&b, " encryption %v", c.Encryption)
	}
	if c.Integrity != IntegrityNone {
		fmt.Fprintf(&b, " integrity %v", c.Integrity)
	}
	if c.ESN {
		b.WriteString(" ESN")
	}
	if c.ReplayWindow != 0 {
		fmt.Fprintf(&b, " replay-window %d", c.ReplayWindow)
	}
	if len(c.EncryptionKey) != 0 {
		fmt.Fprintf(&b, " encryption-key %v", c.EncryptionKey)
	}
	if len(c.IntegrityKey) != 0 {
		fmt.Fprintf(&b, " integrity-key %v", c.IntegrityKey)
	}
	return b.String()
}

// suite is the packet layout and cryptography an SA's transforms come
// down to.
type suite uint8

const (
	suiteGCM     suite = iota + 1 // AES-GCM (RFC 4106): IV 8, encrypt and ICV in one
	suiteGMAC                     // AES-GMAC (RFC 4543): IV 8, payload in the clear
	suiteCBCHMAC                  // AES-CBC (RFC 3602) then HMAC over the ciphertext
	suiteHMAC                     // NULL encryption (RFC 2410) with HMAC
)

// params is what validate derives from a Config.
type params struct {
	suite    suite
	aesKey   int // AES key bytes (GCM, GMAC, CBC)
	hmacSHA  int // 1 or 256 for HMAC suites
	icvLen   int
	ivLen    int // ESP: IV bytes on the wire; AH: IV bytes in the ICV field (GMAC)
	align    int // ESP: the payload and trailer end on a multiple of align
	encKey   int // required len(EncryptionKey)
	integKey int // required len(IntegrityKey)
}

// validate checks c and derives the SA parameters. It returns one of the
// NewSA errors, wrapped with the details.
func (c *Config) validate() (params, error) {
	var p params
	switch c.Protocol {
	case ProtocolESP, ProtocolAH:
	default:
		return p, fmt.Errorf("%w: %v", ErrProtocol, c.Protocol)
	}
	switch c.Direction {
	case Inbound:
		if c.ReplayWindow < 0 || c.ReplayWindow > replay.MaxSize {
			return p, fmt.Errorf("%w: %d not in [0, %d]", ErrReplayWindow, c.ReplayWindow, replay.MaxSize)
		}
	case Outbound:
		if c.ReplayWindow != 0 {
			return p, fmt.Errorf("%w: an outbound SA has no replay window", ErrReplayWindow)
		}
	default:
		return p, fmt.Errorf("%w: %v", ErrDirection, c.Direction)
	}
	if c.SPI.IsReserved() {
		return p, fmt.Errorf("%w: %v", ErrReservedSPI, c.SPI)
	}
	switch c.Encryption {
	case EncryptionDES:
		return p, ErrDES
	case Encryption3DES:
		return p, Err3DES
	}
	if c.Integrity == IntegrityHMACMD5 {
		return p, ErrMD5
	}

	switch c.Integrity {
	case IntegrityNone:
	case IntegrityHMACSHA1:
		p.hmacSHA, p.icvLen, p.integKey = 1, HMACSHA1ICVSize, HMACSHA1KeySize
	case IntegrityHMACSHA256:
		p.hmacSHA, p.icvLen, p.integKey = 256, HMACSHA256ICVSize, HMACSHA256KeySize
	case IntegrityAESGMAC128, IntegrityAESGMAC192, IntegrityAESGMAC256:
		p.aesKey = 16 + 8*int(c.Integrity-IntegrityAESGMAC128)
		p.suite, p.icvLen, p.ivLen, p.integKey = suiteGMAC, GCMICVSize, GCMIVSize, p.aesKey+SaltSize
	default:
		return p, fmt.Errorf("%w: integrity %v", ErrTransform, c.Integrity)
	}
	p.align = espAlign

	switch c.Encryption {
	case EncryptionNull:
		if c.Integrity == IntegrityNone {
			return p, fmt.Errorf("%w: NULL encryption needs an integrity transform (RFC 4303 §3.2)", ErrTransform)
		}
		if p.suite == 0 {
			p.suite = suiteHMAC
		}
	case EncryptionAESCBC128, EncryptionAESCBC192, EncryptionAESCBC256:
		if p.hmacSHA == 0 {
			return p, fmt.Errorf("%w: %v needs an HMAC integrity transform, not %v (RFC 8221 §4)", ErrTransform, c.Encryption, c.Integrity)
		}
		p.aesKey = 16 + 8*int(c.Encryption-EncryptionAESCBC128)
		p.suite, p.ivLen, p.align, p.encKey = suiteCBCHMAC, AESBlockSize, AESBlockSize, p.aesKey
	case EncryptionAESGCM128, EncryptionAESGCM192, EncryptionAESGCM256:
		if c.Integrity != IntegrityNone {
			return p, fmt.Errorf("%w: %v carries its own ICV; integrity must be none, not %v", ErrTransform, c.Encryption, c.Integrity)
		}
		p.aesKey = 16 + 8*int(c.Encryption-EncryptionAESGCM128)
		p.suite, p.icvLen, p.ivLen, p.encKey = suiteGCM, GCMICVSize, GCMIVSize, p.aesKey+SaltSize
	default:
		return p, fmt.Errorf("%w: encryption %v", ErrTransform, c.Encryption)
	}
	if c.Protocol == ProtocolAH && c.Encryption != EncryptionNull {
		return p, fmt.Errorf("%w: AH cannot use encryption %v", ErrTransform, c.Encryption)
	}

	if len(c.EncryptionKey) != p.encKey {
		return p, fmt.Errorf("%w: %v needs a %d-byte encryption key%s, got %d bytes",
			ErrKeyLength, c.Encryption, p.encKey, saltNote(p.suite == suiteGCM), len(c.EncryptionKey))
	}
	if len(c.IntegrityKey) != p.integKey {
		return p, fmt.Errorf("%w: %v needs a %d-byte integrity key%s, got %d bytes",
			ErrKeyLength, c.Integrity, p.integKey, saltNote(p.suite == suiteGMAC), len(c.IntegrityKey))
	}
	return p, nil
}

func saltNote(salted bool) string {
	if salted {
		return " (AES key followed by a 4-byte salt)"
	}
	return ""
}
