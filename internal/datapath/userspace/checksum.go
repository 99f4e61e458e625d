package userspace

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) of the packet path: the TCP and UDP
// checksums of segments split from super-packets, of segments checked
// before they are coalesced, and of transport-mode packets received in
// UDP. The sum is independent of byte order (RFC 1071 §2(B)), so it is
// taken over little-endian 64-bit words with a carry chain and swapped
// at the end.

// onesSum returns the one's-complement sum of b as big-endian 16-bit
// words (an odd last byte padded with zero), folded to 16 bits. b must
// start at an even offset of the packet.
func onesSum(b []byte) uint16 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	var t uint64
	for len(b) >= 2 {
		t += uint64(binary.LittleEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		t += uint64(b[0])
	}
	s, c = bits.Add64(s, t, c)
	s += c // no carry out: if c was 1, s wrapped below 2^64-1
	return bits.ReverseBytes16(fold64(s))
}

// fold64 folds a 64-bit one's-complement accumulator into 16 bits.
func fold64(x uint64) uint16 {
	x = x&0xffffffff + x>>32
	x = x&0xffffffff + x>>32
	x = x&0xffff + x>>16
	x = x&0xffff + x>>16
	x = x&0xffff + x>>16
	return uint16(x)
}

// pseudoSum returns the sum of the pseudo-header of a TCP or UDP packet
// of l4Len bytes between the addresses src and dst (4 or 16 bytes each),
// as an unfolded accumulator of 16-bit words (RFC 793, RFC 768, RFC 8200
// §8.1).
func pseudoSum(src, dst []byte, proto uint8, l4Len int) uint64 {
	return uint64(onesSum(src)) + uint64(onesSum(dst)) + uint64(proto) + uint64(l4Len)
}

// l4ChecksumOK reports whether the TCP or UDP packet l4 between the
// addresses src and dst has a correct checksum.
func l4ChecksumOK(src, dst []byte, proto uint8, l4 []byte) bool {
	return fold64(pseudoSum(src, dst, proto, len(l4))+uint64(onesSum(l4))) == 0xffff
}
