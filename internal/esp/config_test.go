package esp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sadb-dev/sadb/internal/replay"
)

func TestNewSARefuses(t *testing.T) {
	gcm := Config{
		Protocol: ProtocolESP, Direction: Outbound, SPI: 0x1001,
		Encryption: EncryptionAESGCM128, EncryptionKey: testKey(20, 1),
	}
	with := func(f func(*Config)) Config {
		c := gcm
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		want    error
		message string // a substring of the error text
	}{
		{"DES", with(func(c *Config) { c.Encryption = EncryptionDES; c.EncryptionKey = testKey(8, 1) }), ErrDES, "esp: DES is not supported (insecure, RFC 8221)"},
		{"3DES", with(func(c *Config) { c.Encryption = Encryption3DES; c.EncryptionKey = testKey(24, 1) }), Err3DES, "esp: 3DES is not supported (insecure, RFC 8221)"},
		{"HMAC-MD5 ESP", with(func(c *Config) {
			c.Encryption, c.Integrity, c.IntegrityKey = EncryptionAESCBC128, IntegrityHMACMD5, testKey(16, 1)
			c.EncryptionKey = testKey(16, 1)
		}), ErrMD5, "esp: HMAC-MD5 is not supported (insecure, RFC 8221)"},
		{"HMAC-MD5 AH", Config{Protocol: ProtocolAH, Direction: Inbound, SPI: 300, Integrity: IntegrityHMACMD5, IntegrityKey: testKey(16, 1)}, ErrMD5, "HMAC-MD5"},
		{"GCM key without salt", with(func(c *Config) { c.EncryptionKey = testKey(16, 1) }), ErrKeyLength, "AES-GCM-128 needs a 20-byte encryption key (AES key followed by a 4-byte salt), got 16 bytes"},
		{"GCM-256 short", with(func(c *Config) { c.Encryption = EncryptionAESGCM256; c.EncryptionKey = testKey(32, 1) }), ErrKeyLength, "36-byte"},
		{"GCM-192 key", with(func(c *Config) { c.Encryption = EncryptionAESGCM192 }), ErrKeyLength, "28-byte"},
		{"CBC-256 key", Config{Protocol: ProtocolESP, Direction: Outbound, SPI: 300, Encryption: EncryptionAESCBC256, EncryptionKey: testKey(24, 1), Integrity: IntegrityHMACSHA256, IntegrityKey: testKey(32, 1)}, ErrKeyLength, "AES-CBC-256 needs a 32-byte encryption key, got 24"},
		{"SHA1 key", Config{Protocol: ProtocolESP, Direction: Outbound, SPI: 300, Encryption: EncryptionAESCBC128, EncryptionKey: testKey(16, 1), Integrity: IntegrityHMACSHA1, IntegrityKey: testKey(16, 1)}, ErrKeyLength, "HMAC-SHA1-96 needs a 20-byte integrity key"},
		{"SHA256 key", Config{Protocol: ProtocolAH, Direction: Outbound, SPI: 300, Integrity: IntegrityHMACSHA256, IntegrityKey: testKey(20, 1)}, ErrKeyLength, "32-byte"},
		{"GMAC key", Config{Protocol: ProtocolAH, Direction: Outbound, SPI: 300, Integrity: IntegrityAESGMAC256, IntegrityKey: testKey(32, 1)}, ErrKeyLength, "36-byte integrity key (AES key followed by a 4-byte salt)"},
		{"stray integrity key", with(func(c *Config) { c.IntegrityKey = testKey(20, 1) }), ErrKeyLength, "none needs a 0-byte integrity key"},
		{"NULL encryption key", Config{Protocol: ProtocolESP, Direction: Outbound, SPI: 300, EncryptionKey: testKey(16, 1), Integrity: IntegrityHMACSHA1, IntegrityKey: testKey(20, 1)}, ErrKeyLength, "NULL needs a 0-byte"},
		{"CBC without integrity", Config{Protocol: ProtocolESP, Direction: Outbound, SPI: 300, Encryption: EncryptionAESCBC128, EncryptionKey: testKey(16, 1)}, ErrTransform, "RFC 8221 §4"},
		{"CBC with GMAC", Config{Protocol: ProtocolESP, Direction: Outbound, SPI: 300, Encryption: EncryptionAESCBC128, EncryptionKey: testKey(16, 1), Integrity: IntegrityAESGMAC128, IntegrityKey: testKey(20, 1)}, ErrTransform, "HMAC"},
		{"GCM with HMAC", with(func(c *Config) { c.Integrity, c.IntegrityKey = IntegrityHMACSHA256, testKey(32, 1) }), ErrTransform, "own ICV"},
		{"NULL NULL", Config{Protocol: ProtocolESP, Direction: Outbound, SPI: 300}, ErrTransform, "RFC 4303 §3.2"},
		{"AH with encryption", Config{Protocol: ProtocolAH, Direction: Outbound, SPI: 300, Encryption: EncryptionAESGCM128, EncryptionKey: testKey(20, 1)}, ErrTransform, "AH"},
		{"unknown encryption", with(func(c *Config) { c.Encryption = 99 }), ErrTransform, "Encryption(99)"},
		{"unknown integrity", with(func(c *Config) { c.Integrity = 99 }), ErrTransform, "Integrity(99)"},
		{"SPI 0", with(func(c *Config) { c.SPI = 0 }), ErrReservedSPI, "0x00000000"},
		{"SPI 255", with(func(c *Config) { c.SPI = 255 }), ErrReservedSPI, "0x000000ff"},
		{"no protocol", with(func(c *Config) { c.Protocol = 0 }), ErrProtocol, ""},
		{"protocol 17", with(func(c *Config) { c.Protocol = 17 }), ErrProtocol, "Protocol(17)"},
		{"no direction", with(func(c *Config) { c.Direction = 0 }), ErrDirection, ""},
		{"outbound replay window", with(func(c *Config) { c.ReplayWindow = 64 }), ErrReplayWindow, "outbound"},
		{"negative replay window", with(func(c *Config) { c.Direction, c.ReplayWindow = Inbound, -1 }), ErrReplayWindow, ""},
		{"huge replay window", with(func(c *Config) { c.Direction, c.ReplayWindow = Inbound, replay.MaxSize+1 }), ErrReplayWindow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sa, err := NewSA(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewSA error = %v, want %v", err, tt.want)
			}
			if sa != nil {
				t.Errorf("NewSA returned an SA with an error")
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.HasPrefix(err.Error(), "esp: ") {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
		})
	}
}

func TestNewSAAccepts(t *testing.T) {
	for _, tc := range append(append([]transformCase(nil), espTransforms...), ahTransforms...) {
		for _, esn := range []bool{false, true} {
			out, in := configPair(tc, SPIMin, esn)
			in.ReplayWindow = 4096
			for _, c := range []Config{out, in} {
				sa, err := NewSA(c)
				if err != nil {
					t.Errorf("NewSA(%v): %v", c, err)
					continue
				}
				if sa.SPI() != SPIMin || sa.Config().EncryptionKey != nil || sa.Config().IntegrityKey != nil {
					t.Errorf("%v: Config() = %v", tc.name, sa.Config())
				}
			}
		}
	}
}

// TestKeysNeverPrint prints configurations, keys and SAs every way fmt
// knows and checks that no key byte sequence appears.
func TestKeysNeverPrint(t *testing.T) {
	encKey := Key(bytes.Repeat([]byte{0xab}, 20))
	integKey := Key(bytes.Repeat([]byte{0xcd}, 32))
	c := Config{
		Protocol: ProtocolESP, Direction: Inbound, SPI: 0x1234,
		Encryption: EncryptionAESCBC128, EncryptionKey: encKey[:16],
		Integrity: IntegrityHMACSHA256, IntegrityKey: integKey, ESN: true, ReplayWindow: 128,
	}
	sa := mustSA(t, c)
	var out []string
	for _, v := range []any{c, &c, c.EncryptionKey, c.IntegrityKey, sa} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "% x", "%d"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
	}
	out = append(out, c.String(), c.EncryptionKey.String(), sa.String(), fmt.Sprint(c), fmt.Sprintln(c.IntegrityKey))
	all := strings.Join(out, "\n")
	for _, secret := range []string{"abab", "ABAB", "cdcd", "CDCD", "171 171", "205 205", `\xab`, `\xcd`, "«", "Í"} {
		if strings.Contains(all, secret) {
			t.Errorf("key bytes %q appear in printed output:\n%s", secret, all)
		}
	}
	if want := "[redacted 16 bytes]"; !strings.Contains(c.String(), want) {
		t.Errorf("Config.String() = %q, want it to contain %q", c.String(), want)
	}
	want := "ESP inbound SPI 0x00001234 encryption AES-CBC-128 integrity HMAC-SHA-256-128 ESN replay-window 128 encryption-key [redacted 16 bytes] integrity-key [redacted 32 bytes]"
	if got := c.String(); got != want {
		t.Errorf("Config.String() =\n %q, want\n %q", got, want)
	}
}

func TestNewSACopiesKeys(t *testing.T) {
	tc := espTransforms[0] // AES-GCM-128
	oc, ic := configPair(tc, 0x1001, false)
	out, in := mustSA(t, oc), mustSA(t, ic)
	// The caller wipes its copies; the SAs keep working.
	clear(oc.EncryptionKey)
	clear(ic.EncryptionKey)
	pkt := sealPayload(t, out, []byte("hello"), ProtoUDP)
	if got, _, err := in.Open(pkt); err != nil || string(got) != "hello" {
		t.Fatalf("Open after the caller cleared its key = %q, %v", got, err)
	}
}

func TestWipe(t *testing.T) {
	for _, tc := range append(append([]transformCase(nil), espTransforms...), ahTransforms...) {
		t.Run(tc.name, func(t *testing.T) {
			out, in := newPair(t, tc, true)
			var pkt []byte
			if tc.proto == ProtocolESP {
				pkt = sealPayload(t, out, []byte("payload"), ProtoUDP)
			} else {
				pkt = sealAHPacket(t, out, testIPv4Packet(t, 30, nil))
			}
			for _, sa := range []*SA{out, in} {
				sa.Wipe()
				sa.keys.mu.Lock()
				if !allZero(sa.keys.enc) || !allZero(sa.keys.integ) {
					t.Errorf("%v: keys not zeroed", sa.cfg.Direction)
				}
				sa.keys.mu.Unlock()
				sa.Wipe() // twice is fine
			}
			buf := make([]byte, 256)
			if _, err := out.Seal(buf, 64, 10, ProtoUDP); !errors.Is(err, ErrWiped) && tc.proto == ProtocolESP {
				t.Errorf("Seal after Wipe = %v", err)
			}
			if _, err := out.SealAH(buf, 64, 10); !errors.Is(err, ErrWiped) && tc.proto == ProtocolAH {
				t.Errorf("SealAH after Wipe = %v", err)
			}
			var err error
			if tc.proto == ProtocolESP {
				_, _, err = in.Open(pkt)
			} else {
				_, _, err = in.OpenAH(pkt)
			}
			if !errors.Is(err, ErrWiped) {
				t.Errorf("open after Wipe = %v", err)
			}
			// The pool is empty and stays so.
			if s, _ := in.scratch.Get().(*scratch); s != nil {
				t.Errorf("scratch pool still hands out state after Wipe")
			}
		})
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestTypeStrings(t *testing.T) {
	tests := []struct {
		v    fmt.Stringer
		want string
	}{
		{SPI(0x1001), "0x00001001"},
		{Inbound, "inbound"}, {Outbound, "outbound"}, {Direction(0), "Direction(0)"},
		{ProtocolESP, "ESP"}, {ProtocolAH, "AH"}, {Protocol(0), "Protocol(0)"},
		{EncryptionNull, "NULL"}, {EncryptionAESGCM256, "AES-GCM-256"}, {EncryptionAESCBC192, "AES-CBC-192"},
		{EncryptionDES, "DES-CBC"}, {Encryption3DES, "3DES-CBC"},
		{IntegrityNone, "none"}, {IntegrityHMACSHA1, "HMAC-SHA1-96"}, {IntegrityAESGMAC192, "AES-GMAC-192"},
		{IntegrityHMACMD5, "HMAC-MD5-96"},
		{UDPESP, "ESP"}, {UDPKeepalive, "keepalive"}, {UDPPayloadKind(9), "UDPPayloadKind(9)"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%T(%v).String() = %q, want %q", tt.v, tt.v, got, tt.want)
		}
	}
	if !SPI(0).IsZero() || SPI(1).IsZero() || !SPI(255).IsReserved() || SPI(256).IsReserved() {
		t.Error("SPI predicates")
	}
	if !Direction(0).IsZero() || !Protocol(0).IsZero() || !EncryptionNull.IsZero() || !IntegrityNone.IsZero() {
		t.Error("IsZero of zero values")
	}
}
