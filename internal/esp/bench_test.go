package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"testing"
)

// benchTransforms are the transforms the packet-path figures are reported
// for, plus the rest of the ESP suites for comparison.
var benchTransforms = []transformCase{
	espTransforms[0],  // AES-GCM-128
	espTransforms[2],  // AES-GCM-256
	espTransforms[9],  // AES-CBC-128+HMAC-SHA-256-128
	espTransforms[6],  // AES-CBC-128+HMAC-SHA1-96
	espTransforms[3],  // AES-GMAC-128
	espTransforms[13], // NULL+HMAC-SHA-256-128
}

const benchPayload = 1400

// BenchmarkSeal seals 1400-byte payloads in place in one buffer.
func BenchmarkSeal(b *testing.B) {
	for _, tc := range benchTransforms {
		for _, esn := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/esn=%v", tc.name, esn), func(b *testing.B) {
				out, _ := newPair(b, tc, esn)
				buf := make([]byte, testHeadroom+benchPayload+testTailroom)
				b.SetBytes(benchPayload)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := out.Seal(buf, testHeadroom, benchPayload, ProtoIPv4); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSealParallel seals on one SA from every P at once.
func BenchmarkSealParallel(b *testing.B) {
	for _, tc := range benchTransforms[:3] {
		b.Run(tc.name, func(b *testing.B) {
			out, _ := newPair(b, tc, true)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, testHeadroom+benchPayload+testTailroom)
				for pb.Next() {
					if _, err := out.Seal(buf, testHeadroom, benchPayload, ProtoIPv4); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpen opens 1400-byte-payload packets in place. Open decrypts in
// place and the replay window refuses a second copy, so packets are sealed
// in batches outside the timer and each is opened once.
func BenchmarkOpen(b *testing.B) {
	const batch = 1024
	for _, tc := range benchTransforms {
		for _, esn := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/esn=%v", tc.name, esn), func(b *testing.B) {
				out, in := newPair(b, tc, esn)
				stride := testHeadroom + benchPayload + testTailroom
				arena := make([]byte, batch*stride)
				pkts := make([][]byte, batch)
				refill := func() {
					for i := range pkts {
						buf := arena[i*stride : (i+1)*stride]
						p, err := out.Seal(buf, testHeadroom, benchPayload, ProtoIPv4)
						if err != nil {
							b.Fatal(err)
						}
						pkts[i] = p
					}
				}
				refill()
				// Warm the scratch pool and the window outside the timer.
				if _, _, err := in.Open(pkts[0]); err != nil {
					b.Fatal(err)
				}
				next := 1
				b.SetBytes(benchPayload)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if next == batch {
						b.StopTimer()
						refill()
						next = 0
						b.StartTimer()
					}
					if _, _, err := in.Open(pkts[next]); err != nil {
						b.Fatal(err)
					}
					next++
				}
			})
		}
	}
}

// BenchmarkSealAH applies AH to 1400-byte IPv4 packets.
func BenchmarkSealAH(b *testing.B) {
	for _, tc := range ahTransforms[:3] {
		b.Run(tc.name, func(b *testing.B) {
			out, _ := newPair(b, tc, true)
			orig := testIPv4Packet(b, benchPayload, nil)
			buf := make([]byte, 64+len(orig))
			b.SetBytes(int64(len(orig)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf[64:], orig)
				if _, err := out.SealAH(buf, 64, len(orig)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCBCIV compares the per-packet IV source the CBC transforms use
// (a ChaCha8 generator per scratch area, seeded from crypto/rand) with
// calling crypto/rand for each IV.
func BenchmarkCBCIV(b *testing.B) {
	b.Run("chacha8", func(b *testing.B) {
		out, _ := newPair(b, espTransforms[6], false)
		s, _ := out.getScratch()
		b.ReportAllocs()
		for b.Loop() {
			s.rng.Uint64()
			s.rng.Uint64()
		}
	})
	b.Run("crypto/rand", func(b *testing.B) {
		var iv [16]byte
		b.ReportAllocs()
		for b.Loop() {
			cryptoRandRead(iv[:])
		}
	})
}

// BenchmarkBaseline measures the bare standard-library primitives on the
// same 1400 bytes, in place, with no ESP framing: the ceiling Seal and Open
// are compared against in the same run.
func BenchmarkBaseline(b *testing.B) {
	buf := make([]byte, benchPayload+64)
	nonce := make([]byte, 12)
	aad := make([]byte, 8)
	for _, keyLen := range []int{16, 32} {
		block, _ := aes.NewCipher(make([]byte, keyLen))
		aead, _ := cipher.NewGCM(block)
		b.Run(fmt.Sprintf("GCM-%d-seal", keyLen*8), func(b *testing.B) {
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				aead.Seal(buf[:0], nonce, buf[:benchPayload], aad)
			}
		})
		b.Run(fmt.Sprintf("GCM-%d-open", keyLen*8), func(b *testing.B) {
			sealed := aead.Seal(nil, nonce, buf[:benchPayload], aad)
			ct := make([]byte, len(sealed))
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				copy(ct, sealed)
				if _, err := aead.Open(ct[:0], nonce, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("CBC-128+HMAC-SHA-256-encrypt", func(b *testing.B) {
		block, _ := aes.NewCipher(make([]byte, 16))
		iv := make([]byte, 16)
		mode := cipher.NewCBCEncrypter(block, iv)
		mac := hmac.New(sha256.New, make([]byte, 32))
		var sum [32]byte
		b.SetBytes(benchPayload)
		b.ReportAllocs()
		for b.Loop() {
			mode.(ivSetter).SetIV(iv)
			mode.CryptBlocks(buf[:1408], buf[:1408])
			mac.Reset()
			mac.Write(buf[:1408+24])
			mac.Sum(sum[:0])
		}
	})
}
