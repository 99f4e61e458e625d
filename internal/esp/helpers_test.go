package esp

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

// transformCase is one ESP or AH transform the package offers.
type transformCase struct {
	name  string
	proto Protocol
	enc   Encryption
	integ Integrity
}

// espTransforms lists every ESP transform combination of the package.
var espTransforms = []transformCase{
	{"AES-GCM-128", ProtocolESP, EncryptionAESGCM128, IntegrityNone},
	{"AES-GCM-192", ProtocolESP, EncryptionAESGCM192, IntegrityNone},
	{"AES-GCM-256", ProtocolESP, EncryptionAESGCM256, IntegrityNone},
	{"AES-GMAC-128", ProtocolESP, EncryptionNull, IntegrityAESGMAC128},
	{"AES-GMAC-192", ProtocolESP, EncryptionNull, IntegrityAESGMAC192},
	{"AES-GMAC-256", ProtocolESP, EncryptionNull, IntegrityAESGMAC256},
	{"AES-CBC-128+HMAC-SHA1-96", ProtocolESP, EncryptionAESCBC128, IntegrityHMACSHA1},
	{"AES-CBC-192+HMAC-SHA1-96", ProtocolESP, EncryptionAESCBC192, IntegrityHMACSHA1},
	{"AES-CBC-256+HMAC-SHA1-96", ProtocolESP, EncryptionAESCBC256, IntegrityHMACSHA1},
	{"AES-CBC-128+HMAC-SHA-256-128", ProtocolESP, EncryptionAESCBC128, IntegrityHMACSHA256},
	{"AES-CBC-192+HMAC-SHA-256-128", ProtocolESP, EncryptionAESCBC192, IntegrityHMACSHA256},
	{"AES-CBC-256+HMAC-SHA-256-128", ProtocolESP, EncryptionAESCBC256, IntegrityHMACSHA256},
	{"NULL+HMAC-SHA1-96", ProtocolESP, EncryptionNull, IntegrityHMACSHA1},
	{"NULL+HMAC-SHA-256-128", ProtocolESP, EncryptionNull, IntegrityHMACSHA256},
}

// ahTransforms lists every AH transform of the package.
var ahTransforms = []transformCase{
	{"AH-HMAC-SHA1-96", ProtocolAH, EncryptionNull, IntegrityHMACSHA1},
	{"AH-HMAC-SHA-256-128", ProtocolAH, EncryptionNull, IntegrityHMACSHA256},
	{"AH-AES-GMAC-128", ProtocolAH, EncryptionNull, IntegrityAESGMAC128},
	{"AH-AES-GMAC-192", ProtocolAH, EncryptionNull, IntegrityAESGMAC192},
	{"AH-AES-GMAC-256", ProtocolAH, EncryptionNull, IntegrityAESGMAC256},
}

// keyLens returns the key lengths a transform needs.
func keyLens(enc Encryption, integ Integrity) (encLen, integLen int) {
	switch enc {
	case EncryptionAESCBC128, EncryptionAESCBC192, EncryptionAESCBC256:
		encLen = 16 + 8*int(enc-EncryptionAESCBC128)
	case EncryptionAESGCM128, EncryptionAESGCM192, EncryptionAESGCM256:
		encLen = 20 + 8*int(enc-EncryptionAESGCM128)
	}
	switch integ {
	case IntegrityHMACSHA1:
		integLen = 20
	case IntegrityHMACSHA256:
		integLen = 32
	case IntegrityAESGMAC128, IntegrityAESGMAC192, IntegrityAESGMAC256:
		integLen = 20 + 8*int(integ-IntegrityAESGMAC128)
	}
	return encLen, integLen
}

// testKey returns n deterministic bytes that differ per seed.
func testKey(n int, seed byte) Key {
	k := make(Key, n)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

// configPair returns matching outbound and inbound configurations.
func configPair(tc transformCase, spi SPI, esn bool) (out, in Config) {
	el, il := keyLens(tc.enc, tc.integ)
	out = Config{
		Protocol:      tc.proto,
		Direction:     Outbound,
		SPI:           spi,
		Encryption:    tc.enc,
		Integrity:     tc.integ,
		EncryptionKey: testKey(el, 0x11),
		IntegrityKey:  testKey(il, 0x21),
		ESN:           esn,
	}
	in = out
	in.Direction = Inbound
	return out, in
}

// newPair returns an outbound and an inbound SA for tc.
func newPair(tb testing.TB, tc transformCase, esn bool) (out, in *SA) {
	tb.Helper()
	oc, ic := configPair(tc, 0x1001, esn)
	return mustSA(tb, oc), mustSA(tb, ic)
}

// mustSA returns the SA of c and wipes its keys when the test ends.
func mustSA(tb testing.TB, c Config) *SA {
	tb.Helper()
	sa, err := NewSA(c)
	if err != nil {
		tb.Fatalf("NewSA(%v): %v", c, err)
	}
	tb.Cleanup(sa.Wipe)
	return sa
}

// headroom and tailroom are generous enough for every helper stacked:
// IPv6 + UDP + ESP header in front, the largest trailer behind.
const (
	testHeadroom = 128
	testTailroom = 64
)

// sealPayload seals a copy of payload with sa and returns the ESP packet
// in a fresh buffer.
func sealPayload(tb testing.TB, sa *SA, payload []byte, nh uint8) []byte {
	tb.Helper()
	buf := make([]byte, testHeadroom+len(payload)+testTailroom)
	copy(buf[testHeadroom:], payload)
	pkt, err := sa.Seal(buf, testHeadroom, len(payload), nh)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return pkt
}

// randomBytes returns n bytes from rng.
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// diffBytes describes the first difference of got and want, or "" if they
// are equal.
func diffBytes(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("len got %d want %d, first difference at byte %d:\n got  %x\n want %x",
		len(got), len(want), i, tail(got, i), tail(want, i))
}

func tail(b []byte, i int) []byte {
	if i > len(b) {
		return nil
	}
	return b[i:min(len(b), i+24)]
}

// TestMain runs the package's tests and then fails the run if goroutines
// started by them are still alive: a package-wide leak check on top of the
// per-test goroutineLeakCheck of the concurrent tests.
// The check is off while fuzzing, whose engine keeps goroutines of its
// own (signal handling, workers) past m.Run.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	fuzzing := flag.Lookup("test.fuzz") != nil && flag.Lookup("test.fuzz").Value.String() != ""
	deadline := time.Now().Add(2 * time.Second)
	for code == 0 && !fuzzing && runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutines leaked: %d before, %d after:\n%s\n", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			code = 1
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	os.Exit(code)
}

// goroutineLeakCheck fails the test if it ends with more goroutines than
// it started with, once stragglers have had two seconds to exit.
func goroutineLeakCheck(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines leaked: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
