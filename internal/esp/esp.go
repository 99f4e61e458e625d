package esp

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
)

// ESP header field offsets (RFC 4303 §2).
const (
	espSPI = 0
	espSeq = 4
)

// ESP is an ESP packet at the start of a byte slice: SPI, Sequence Number,
// then the payload (IV, ciphertext, ICV) whose layout depends on the SA.
// Check IsValid before using the accessors.
type ESP []byte

// IsValid reports whether b holds the SPI and Sequence Number fields.
func (b ESP) IsValid() bool { return len(b) >= ESPHeaderSize }

// SPI returns the SPI field.
func (b ESP) SPI() SPI { return SPI(binary.BigEndian.Uint32(b[espSPI:])) }

// SequenceNumber returns the Sequence Number field: the low 32 bits of the
// sequence number when ESN is used.
func (b ESP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[espSeq:]) }

// Payload returns what follows the header: IV, (encrypted) payload,
// padding, Pad Length, Next Header and ICV.
func (b ESP) Payload() []byte { return b[ESPHeaderSize:] }

// HeaderLen returns how many bytes Seal writes in front of the payload:
// SPI, Sequence Number and IV. It is 16 for AES-GCM and AES-GMAC, 24 for
// AES-CBC and 8 for NULL with HMAC. For AH SAs see AHLen.
func (sa *SA) HeaderLen() int { return ESPHeaderSize + sa.params.ivLen }

// TrailerLen returns how many bytes Seal writes after a payload of n bytes:
// padding (to 4 bytes, or to the 16-byte AES block for AES-CBC), Pad
// Length, Next Header and ICV.
func (sa *SA) TrailerLen(n int) int { return sa.padLen(n) + ESPTrailerSize + sa.params.icvLen }

// MaxTrailerLen returns the largest TrailerLen for any payload length.
func (sa *SA) MaxTrailerLen() int { return sa.params.align - 1 + ESPTrailerSize + sa.params.icvLen }

func (sa *SA) padLen(n int) int {
	a := sa.params.align
	return (a - (n+ESPTrailerSize)%a) % a
}

// Seal protects the payload buf[off:off+n] with ESP, in place, and
// returns the ESP packet: buf[off-HeaderLen() : off+n+TrailerLen(n)]. The
// payload is a whole inner IP packet in tunnel mode (nextHeader ProtoIPv4
// or ProtoIPv6), or the upper-layer payload in transport mode (nextHeader
// its protocol). Seal writes the header into the HeaderLen() bytes before
// off and the trailer after the payload, so buf needs that headroom and
// tailroom; MaxTrailerLen bounds the latter. On error buf is unchanged.
//
// Each call takes the next sequence number; Seal is safe for concurrent
// use and does not allocate once warm (AES-GMAC with ESN assembles its AAD
// in a pooled buffer that grows to the largest packet seen). It returns
// ErrSequenceExhausted once the sequence numbers have run out; the SA must
// then be replaced.
func (sa *SA) Seal(buf []byte, off, n int, nextHeader uint8) ([]byte, error) {
	if err := sa.check(ProtocolESP, Outbound); err != nil {
		return nil, err
	}
	hl := sa.HeaderLen()
	if off < hl || n < 0 || n > len(buf)-off || sa.TrailerLen(n) > len(buf)-off-n {
		return nil, fmt.Errorf("%w: ESP needs %d bytes before and %d after a %d-byte payload", ErrNoRoom, hl, sa.TrailerLen(n), n)
	}
	seq, err := sa.nextSeq()
	if err != nil {
		return nil, err
	}
	pkt := buf[off-hl : off+n+sa.TrailerLen(n)]
	if err := sa.sealESP(pkt, n, nextHeader, seq, nil); err != nil {
		return nil, err
	}
	return pkt, nil
}

// sealESP builds the ESP packet pkt around the n-byte payload at
// pkt[HeaderLen():], with sequence number seq. iv overrides the IV (tests
// with published vectors only); nil means the IV the transform prescribes:
// the sequence number for AES-GCM and AES-GMAC, random for AES-CBC.
func (sa *SA) sealESP(pkt []byte, n int, nextHeader uint8, seq uint64, iv []byte) error {
	s, err := sa.getScratch()
	if err != nil {
		return err
	}
	defer sa.putScratch(s)
	hl := sa.HeaderLen()
	binary.BigEndian.PutUint32(pkt[espSPI:], uint32(sa.cfg.SPI))
	binary.BigEndian.PutUint32(pkt[espSeq:], uint32(seq))

	// Padding 1, 2, 3, … (RFC 4303 §2.4), Pad Length, Next Header.
	pad := sa.padLen(n)
	trailer := pkt[hl+n:]
	for i := range pad {
		trailer[i] = byte(i + 1)
	}
	trailer[pad] = byte(pad)
	trailer[pad+1] = nextHeader
	sa.protect(s, pkt, hl+n+pad+ESPTrailerSize, seq, iv)
	return nil
}

// protect writes the IV into pkt, encrypts pkt[HeaderLen():textEnd] (the
// payload and trailer) and writes the ICV after it, for sequence number
// seq. iv is as for sealESP.
func (sa *SA) protect(s *scratch, pkt []byte, textEnd int, seq uint64, iv []byte) {
	hl := sa.HeaderLen()
	ivField := pkt[ESPHeaderSize:hl]
	switch sa.params.suite {
	case suiteGCM:
		sa.putIV(ivField, seq, iv)
		sa.aead.Seal(pkt[hl:hl], sa.nonce(s, ivField), pkt[hl:textEnd], sa.gcmAAD(s, pkt, seq))
	case suiteGMAC:
		sa.putIV(ivField, seq, iv)
		sa.aead.Seal(pkt[textEnd:textEnd], sa.nonce(s, ivField), nil, sa.gmacAAD(s, pkt[:textEnd], seq))
	case suiteCBCHMAC:
		if iv != nil {
			copy(ivField, iv)
		} else {
			binary.LittleEndian.PutUint64(ivField[:8], s.rng.Uint64())
			binary.LittleEndian.PutUint64(ivField[8:], s.rng.Uint64())
		}
		s.cbc.(ivSetter).SetIV(ivField)
		s.cbc.CryptBlocks(pkt[hl:textEnd], pkt[hl:textEnd])
		copy(pkt[textEnd:], sa.mac(s, seq, pkt[:textEnd]))
	case suiteHMAC:
		copy(pkt[textEnd:], sa.mac(s, seq, pkt[:textEnd]))
	}
}

// putIV writes the 8-byte GCM/GMAC IV: the 64-bit sequence number, which
// never repeats for the SA's key (RFC 4106 §3.1 allows a counter).
func (sa *SA) putIV(ivField []byte, seq uint64, iv []byte) {
	if iv != nil {
		copy(ivField, iv)
		return
	}
	binary.BigEndian.PutUint64(ivField, seq)
}

// gcmAAD returns the AES-GCM AAD: SPI || Seql, or SPI || Seqh || Seql with
// ESN (RFC 4106 §5).
func (sa *SA) gcmAAD(s *scratch, pkt []byte, seq uint64) []byte {
	if !sa.cfg.ESN {
		return pkt[:ESPHeaderSize]
	}
	copy(s.aad[:4], pkt[espSPI:espSPI+4])
	binary.BigEndian.PutUint64(s.aad[4:], seq)
	return s.aad[:12]
}

// gmacAAD returns the AES-GMAC AAD for ESP: the packet from the SPI to the
// Next Header, with Seqh between SPI and Seql when ESN is used (RFC 4543
// §3.3). Without ESN that is msg itself; with ESN it is copied to s.buf.
func (sa *SA) gmacAAD(s *scratch, msg []byte, seq uint64) []byte {
	if !sa.cfg.ESN {
		return msg
	}
	aad := s.grow(len(msg) + 4)
	copy(aad, msg[:espSeq])
	binary.BigEndian.PutUint32(aad[espSeq:], uint32(seq>>32))
	copy(aad[espSeq+4:], msg[espSeq:])
	return aad
}

// Open verifies and decrypts the ESP packet pkt (from the SPI to the end
// of the ICV) in place, and returns the payload, a sub-slice of pkt, with
// its Next Header: ProtoIPv4/ProtoIPv6 for a tunnel-mode inner packet, the
// upper-layer protocol in transport mode, or ProtoNoNext for a dummy packet
// the caller discards silently (RFC 4303 §2.6).
//
// The steps follow RFC 4303 §3.4: length and SPI checks, the replay check
// (which with ESN infers the high 32 bits of the sequence number), the
// constant-time ICV check, decryption, the padding and Next Header checks,
// and only then the update of the replay window. Each way to fail has its
// own error (ErrTruncated, ErrSPIMismatch, ErrReplay, ErrAuth,
// ErrMisaligned, ErrBadPadLength, ErrBadPadding, ErrBadNextHeader). No
// unauthenticated plaintext is ever returned; after a failure the contents
// of pkt are unspecified (Go's AES-GCM zeroes the ciphertext of a packet
// whose ICV fails).
//
// Open is safe for concurrent use and does not allocate, except for
// AES-GMAC with ESN, whose scratch buffer grows to the largest packet seen.
func (sa *SA) Open(pkt []byte) (payload []byte, nextHeader uint8, err error) {
	if err := sa.check(ProtocolESP, Inbound); err != nil {
		return nil, 0, err
	}
	hl, icvLen := sa.HeaderLen(), sa.params.icvLen
	minText := ESPTrailerSize
	if sa.params.suite == suiteCBCHMAC {
		minText = AESBlockSize
	}
	if len(pkt) < hl+minText+icvLen {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrTruncated, len(pkt))
	}
	h := ESP(pkt)
	if h.SPI() != sa.cfg.SPI {
		return nil, 0, ErrSPIMismatch
	}
	textEnd := len(pkt) - icvLen
	if sa.params.suite == suiteCBCHMAC && (textEnd-hl)%AESBlockSize != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrMisaligned, textEnd-hl)
	}
	seq, err := sa.replayCheck(h.SequenceNumber())
	if err != nil {
		return nil, 0, err
	}

	s, err := sa.getScratch()
	if err != nil {
		return nil, 0, err
	}
	ivField := pkt[ESPHeaderSize:hl]
	switch sa.params.suite {
	case suiteGCM:
		_, err = sa.aead.Open(pkt[hl:hl], sa.nonce(s, ivField), pkt[hl:], sa.gcmAAD(s, pkt, seq))
	case suiteGMAC:
		_, err = sa.aead.Open(pkt[textEnd:textEnd], sa.nonce(s, ivField), pkt[textEnd:], sa.gmacAAD(s, pkt[:textEnd], seq))
	case suiteCBCHMAC, suiteHMAC:
		if !hmac.Equal(sa.mac(s, seq, pkt[:textEnd]), pkt[textEnd:]) {
			err = ErrAuth
		} else if sa.params.suite == suiteCBCHMAC {
			s.cbc.(ivSetter).SetIV(ivField)
			s.cbc.CryptBlocks(pkt[hl:textEnd], pkt[hl:textEnd])
		}
	}
	sa.putScratch(s)
	if err != nil {
		return nil, 0, ErrAuth
	}

	payload, nextHeader, err = trimTrailer(pkt[hl:textEnd])
	if err != nil {
		return nil, 0, err
	}
	if err := sa.replayAccept(seq); err != nil {
		return nil, 0, err
	}
	return payload, nextHeader, nil
}

// trimTrailer checks the padding, Pad Length and Next Header at the end
// of the decrypted text and returns the payload before them.
func trimTrailer(text []byte) ([]byte, uint8, error) {
	n := len(text) - ESPTrailerSize
	padLen, nextHeader := int(text[n]), text[n+1]
	if padLen > n {
		return nil, 0, fmt.Errorf("%w: pad length %d, %d bytes", ErrBadPadLength, padLen, n)
	}
	n -= padLen
	for i, b := range text[n : n+padLen] {
		if int(b) != i+1 {
			return nil, 0, fmt.Errorf("%w: byte %d of the padding is %d", ErrBadPadding, i+1, b)
		}
	}
	if nextHeader == ProtoReserved {
		return nil, 0, ErrBadNextHeader
	}
	return text[:n], nextHeader, nil
}
