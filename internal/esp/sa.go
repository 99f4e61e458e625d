package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/sadb-dev/sadb/internal/replay"
)

// SA is one IPsec security association in one direction: ESP or AH, its
// transforms and keys, and its sequence-number state (a counter when
// outbound, an anti-replay window when inbound).
//
// An SA is created by NewSA and is safe for concurrent use: Seal and
// SealAH may run on many goroutines at once (each takes its own sequence
// number from an atomic counter), and so may Open and OpenAH (the replay
// window is locked only for its check and its update; the ICV check and
// decryption run outside the lock). Per-packet state (HMAC instances, CBC
// modes, nonces, the CBC IV generator) lives in a pool of scratch areas
// owned by the SA, so the packet path does not allocate once warm.
//
// The SA keeps its own copy of the keys, which Wipe zeroes. An SA needs
// no closing; after Wipe it refuses all packets.
type SA struct {
	// Immutable after NewSA.
	cfg    Config // Encryption, Integrity etc.; key fields are nil
	params params
	salt   [SaltSize]byte // GCM/GMAC nonce salt; not secret (RFC 4543 §3.2)
	aead   cipher.AEAD    // suiteGCM, suiteGMAC; safe for concurrent use
	block  cipher.Block   // suiteCBCHMAC; safe for concurrent use
	newMAC func() hash.Hash

	// seq is the last sequence number sent (outbound SAs); the next
	// packet gets seq+1. Only nextSeq changes it.
	seq atomic.Uint64

	replayMu sync.Mutex // guards replay
	// +checklocks:replayMu
	replay replay.Window // inbound SAs

	keys struct {
		mu sync.Mutex // guards the fields below
		// +checklocks:mu
		enc Key // copy of Config.EncryptionKey
		// +checklocks:mu
		integ Key // copy of Config.IntegrityKey
		// +checklocks:mu
		wiped bool
	}
	// wiped is set by Wipe after the keys are zeroed; an advisory copy of
	// keys.wiped for the packet path, which does not take keys.mu.
	wiped atomic.Bool

	scratch sync.Pool // of *scratch; New is newScratch
}

// scratch is the per-packet working state of one Seal or Open. The pool
// hands each goroutine its own.
type scratch struct {
	nonce [gcmNonceSize]byte
	aad   [12]byte // SPI || [Seqh] || Seql
	sum   [sha256.Size]byte
	seqh  [4]byte
	mac   hash.Hash        // keyed HMAC (HMAC suites)
	cbc   cipher.BlockMode // CBC encrypter (outbound) or decrypter (inbound)
	rng   *rand.ChaCha8    // CBC IV generator (outbound), seeded from crypto/rand
	buf   []byte           // contiguous AAD for GMAC with ESN, and AH
}

// ivSetter is the SetIV method the standard library's CBC modes have; it
// lets a pooled mode take a new IV without allocating.
type ivSetter interface{ SetIV([]byte) }

// NewSA validates cfg and returns the SA it describes. It copies the keys.
// Errors are the NewSA errors of this package (ErrDES, ErrKeyLength, …),
// wrapped with the details; they never contain key bytes.
func NewSA(cfg Config) (*SA, error) {
	p, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	sa := &SA{params: p}
	sa.keys.enc = append(Key(nil), cfg.EncryptionKey...)
	sa.keys.integ = append(Key(nil), cfg.IntegrityKey...)
	sa.cfg = cfg
	sa.cfg.EncryptionKey, sa.cfg.IntegrityKey = nil, nil

	switch p.suite {
	case suiteGCM, suiteGMAC:
		key := sa.keys.enc
		if p.suite == suiteGMAC {
			key = sa.keys.integ
		}
		block, err := aes.NewCipher(key[:p.aesKey])
		if err != nil {
			return nil, fmt.Errorf("esp: %w", err) // unreachable: validate checked the length
		}
		if sa.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("esp: %w", err)
		}
		copy(sa.salt[:], key[p.aesKey:])
	case suiteCBCHMAC:
		if sa.block, err = aes.NewCipher(sa.keys.enc); err != nil {
			return nil, fmt.Errorf("esp: %w", err)
		}
		var iv [AESBlockSize]byte
		if _, ok := cipher.NewCBCEncrypter(sa.block, iv[:]).(ivSetter); !ok {
			return nil, fmt.Errorf("%w: this Go's AES-CBC cannot take a new IV without allocating", ErrTransform)
		}
	}
	switch p.hmacSHA {
	case 1:
		sa.newMAC = sha1.New
	case 256:
		sa.newMAC = sha256.New
	}
	if cfg.Direction == Inbound {
		if err := sa.replay.Init(cfg.ReplayWindow, cfg.ESN); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrReplayWindow, err)
		}
	}
	sa.scratch.New = sa.newScratch
	return sa, nil
}

// newScratch makes the scratch area of one more concurrent packet
// operation. It reads the keys, so it returns a nil *scratch once they are
// wiped.
func (sa *SA) newScratch() any {
	sa.keys.mu.Lock()
	defer sa.keys.mu.Unlock()
	if sa.keys.wiped {
		return (*scratch)(nil)
	}
	s := new(scratch)
	if sa.newMAC != nil {
		s.mac = hmac.New(sa.newMAC, sa.keys.integ)
	}
	if sa.block != nil {
		var iv [AESBlockSize]byte
		if sa.cfg.Direction == Outbound {
			s.cbc = cipher.NewCBCEncrypter(sa.block, iv[:])
			var seed [32]byte
			_, _ = crand.Read(seed[:]) // never fails (crypto/rand)
			s.rng = rand.NewChaCha8(seed)
		} else {
			s.cbc = cipher.NewCBCDecrypter(sa.block, iv[:])
		}
	}
	return s
}

func (sa *SA) getScratch() (*scratch, error) {
	s, _ := sa.scratch.Get().(*scratch)
	if s == nil {
		return nil, ErrWiped
	}
	return s, nil
}

func (sa *SA) putScratch(s *scratch) {
	if !sa.wiped.Load() {
		sa.scratch.Put(s)
	}
}

// Wipe zeroes the SA's copies of its keys and makes every later Seal,
// Open, SealAH and OpenAH fail with ErrWiped. Packets already in progress
// finish. It is safe to call concurrently with them, and more than once.
//
// What Wipe cannot reach: Go's crypto packages keep key-derived state that
// they offer no way to erase — the expanded AES key schedule inside the
// cipher.Block and cipher.AEAD (and in each pooled CBC mode, which copies
// it), the GHASH key H, and the HMAC inner and outer pad states in each
// pooled HMAC instance. Wipe drops the pooled instances it can reach; all
// of it becomes garbage when the SA is no longer referenced, and is
// overwritten only when the memory is reused. The GCM/GMAC salt is kept: it
// is not secret (RFC 4543 §3.2).
func (sa *SA) Wipe() {
	sa.keys.mu.Lock()
	clear(sa.keys.enc)
	clear(sa.keys.integ)
	sa.keys.wiped = true
	sa.wiped.Store(true)
	sa.keys.mu.Unlock()
	// Empty the pool so that the pooled HMAC and CBC states become
	// garbage now. newScratch returns nil from here on, which ends the
	// loop, and putScratch drops what in-flight packets give back.
	for {
		if s, _ := sa.scratch.Get().(*scratch); s == nil {
			return
		}
	}
}

// SPI returns the SA's SPI.
func (sa *SA) SPI() SPI { return sa.cfg.SPI }

// Config returns the SA's configuration without its keys.
func (sa *SA) Config() Config { return sa.cfg }

// String describes the SA without its keys.
func (sa *SA) String() string { return sa.cfg.String() }

// Format implements fmt.Formatter: every verb prints String, so that no
// verb (%#v, %+v, %d, …) dumps the SA's fields and key copies.
func (sa *SA) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(sa.String())) }

// LastSeq returns, for an outbound SA, the last sequence number sent (0
// before the first packet); for an inbound SA, the highest sequence number
// accepted.
func (sa *SA) LastSeq() uint64 {
	if sa.cfg.Direction == Outbound {
		return sa.seq.Load()
	}
	sa.replayMu.Lock()
	defer sa.replayMu.Unlock()
	return sa.replay.Top()
}

// nextSeq reserves the next outbound sequence number. It never wraps
// (RFC 4303 §3.3.3): after 2^32-1 (2^64-1 with ESN) it returns
// ErrSequenceExhausted, and keeps doing so.
func (sa *SA) nextSeq() (uint64, error) {
	limit := uint64(math.MaxUint32)
	if sa.cfg.ESN {
		limit = math.MaxUint64
	}
	for {
		cur := sa.seq.Load()
		if cur >= limit {
			return 0, ErrSequenceExhausted
		}
		if sa.seq.CompareAndSwap(cur, cur+1) {
			return cur + 1, nil
		}
	}
}

// check returns the error for a packet operation of the wrong kind.
func (sa *SA) check(proto Protocol, dir Direction) error {
	switch {
	case sa.cfg.Protocol != proto:
		return fmt.Errorf("%w: %v operation on an %v SA", ErrWrongProtocol, proto, sa.cfg.Protocol)
	case sa.cfg.Direction != dir:
		return fmt.Errorf("%w: %v operation on an %v SA", ErrWrongDirection, dir, sa.cfg.Direction)
	case sa.wiped.Load():
		return ErrWiped
	}
	return nil
}

// replayCheck is the first half of the anti-replay check (RFC 4303
// §3.4.3): it infers the full sequence number of seqLow and refuses
// duplicates and numbers below the window.
func (sa *SA) replayCheck(seqLow uint32) (uint64, error) {
	sa.replayMu.Lock()
	seq, ok := sa.replay.Check(seqLow)
	sa.replayMu.Unlock()
	if !ok {
		return 0, ErrReplay
	}
	return seq, nil
}

// replayAccept is the second half: it records seq once the packet has been
// authenticated, and refuses it if another copy got there first.
func (sa *SA) replayAccept(seq uint64) error {
	sa.replayMu.Lock()
	ok := sa.replay.Accept(seq)
	sa.replayMu.Unlock()
	if !ok {
		return ErrReplay
	}
	return nil
}

// mac computes the truncated HMAC ICV of the concatenation of parts, with
// the high 32 bits of seq appended when the SA uses ESN (RFC 4303 §2.2.1,
// RFC 4302 §3.3.3.2.2). The result lives in s.sum.
func (sa *SA) mac(s *scratch, seq uint64, parts ...[]byte) []byte {
	s.mac.Reset()
	for _, p := range parts {
		s.mac.Write(p)
	}
	if sa.cfg.ESN {
		binary.BigEndian.PutUint32(s.seqh[:], uint32(seq>>32))
		s.mac.Write(s.seqh[:])
	}
	return s.mac.Sum(s.sum[:0])[:sa.params.icvLen]
}

// nonce returns salt || iv in s.nonce (RFC 4106 §4, RFC 4543 §3.2).
func (sa *SA) nonce(s *scratch, iv []byte) []byte {
	copy(s.nonce[:SaltSize], sa.salt[:])
	copy(s.nonce[SaltSize:], iv)
	return s.nonce[:]
}

// grow returns s.buf resized to n bytes, reusing its storage.
func (s *scratch) grow(n int) []byte {
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	return s.buf
}
