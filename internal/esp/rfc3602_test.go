package esp

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// rfc3602Case is one of the sample ESP packets of RFC 3602 §4 (cases 5-8):
// AES-128-CBC without an ICV. Our CBC transforms always add an HMAC, so
// these check everything before the ICV: SPI, sequence number, IV, padding
// and ciphertext, and the IPv4 header around them.
type rfc3602Case struct {
	name        string
	key         string
	spi         SPI
	seq         uint32
	iv          string
	origHeader  string // the original IPv4 header
	data        string // what ESP protects (transport: the IP payload; tunnel: the whole packet)
	nextHeader  uint8
	tunnel      bool
	outerHeader string // the IPv4 header of the ESP packet, without an ICV
	ciphertext  string
}

var rfc3602Cases = []rfc3602Case{
	{
		name: "case5 transport", key: "90d382b410eeba7ad938c46cec1a82bf", spi: 0x4321, seq: 1,
		iv:         "e96e8c08ab465763fd098d45dd3ff893",
		origHeader: "4500005408f200004001f9fec0a87b03c0a87b64",
		data: "08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f1011121314151617" +
			"18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
		nextHeader:  1,
		outerHeader: "4500007c08f200004032f9a5c0a87b03c0a87b64",
		ciphertext: "f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856" +
			"a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874a" +
			"a269add047ad2d5913ac19b7cfbad4a6",
	},
	{
		name: "case6 transport", key: "90d382b410eeba7ad938c46cec1a82bf", spi: 0x4321, seq: 8,
		iv:          "69d08df7d203329db093fc4924e5bd80",
		origHeader:  "4500003008fe00004001fa16c0a87b03c0a87b64",
		data:        "0800b5e8a80a0500a69c083d0b660e00777777777777777777777777",
		nextHeader:  1,
		outerHeader: "4500004c08fe00004032f9c9c0a87b03c0a87b64",
		ciphertext:  "f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75",
	},
	{
		name: "case7 tunnel", key: "0123456789abcdef0123456789abcdef", spi: 0x8765, seq: 2,
		iv: "f4e765244f6407adf13dc1380f673f37",
		data: "45000054090400004001f988c0a87b03c0a87bc8" +
			"08009f76a90a0100b49c083d02a2040008090a0b0c0d0e0f1011121314151617" +
			"18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
		nextHeader:  4,
		tunnel:      true,
		outerHeader: "4500008c090500004032f91ec0a87b03c0a87bc8",
		ciphertext: "773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8" +
			"e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5" +
			"c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d",
	},
	{
		name: "case8 tunnel", key: "0123456789abcdef0123456789abcdef", spi: 0x8765, seq: 5,
		iv: "85d47224b5f3dd5d2101d4ea8dffab22",
		data: "45000044090c00004001f990c0a87b03c0a87bc8" +
			"0800d63caa0a0200c69c083da3de0300ffffffffffffffffffffffffffffffff" +
			"ffffffffffffffffffffffffffffffff",
		nextHeader:  4,
		tunnel:      true,
		outerHeader: "4500007c090d00004032f926c0a87b03c0a87bc8",
		ciphertext: "15b92683819596a8047232cc00f7048fe45318e11f8a0f62ede3c3fc61203bb5" +
			"0f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de435e7207ed971ef3" +
			"d2726d9b5ef6affc6d17a0decbb13892",
	},
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestRFC3602Packets seals the RFC's sample packets with its key and IV
// and compares the ESP packet up to the ICV, and the IPv4 header built by
// PrependIPv4 (tunnel) or RewriteIPHeaders (transport) for the packet
// without ICV; then opens our packet, ICV included.
func TestRFC3602Packets(t *testing.T) {
	for _, c := range rfc3602Cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{
				Protocol: ProtocolESP, Direction: Outbound, SPI: c.spi,
				Encryption: EncryptionAESCBC128, EncryptionKey: unhex(t, c.key),
				Integrity: IntegrityHMACSHA256, IntegrityKey: testKey(32, 1),
			}
			out := mustSA(t, cfg)
			data := unhex(t, c.data)
			hl := out.HeaderLen()
			pkt := make([]byte, hl+len(data)+out.TrailerLen(len(data)))
			copy(pkt[hl:], data)
			if err := out.sealESP(pkt, len(data), c.nextHeader, uint64(c.seq), unhex(t, c.iv)); err != nil {
				t.Fatal(err)
			}
			want := binary.BigEndian.AppendUint32(nil, uint32(c.spi))
			want = binary.BigEndian.AppendUint32(want, c.seq)
			want = append(append(want, unhex(t, c.iv)...), unhex(t, c.ciphertext)...)
			noICV := pkt[:len(pkt)-HMACSHA256ICVSize]
			if d := diffBytes(noICV, want); d != "" {
				t.Errorf("ESP packet (without ICV) differs from RFC 3602: %s", d)
			}

			// The IPv4 header of the packet without ICV, built both ways
			// the data path builds it.
			buf := make([]byte, IPv4MaximumHeaderSize+len(noICV))
			copy(buf[IPv4MaximumHeaderSize:], noICV)
			var ip []byte
			if c.tunnel {
				inner := IPv4(data)
				var err error
				ip, err = PrependIPv4(buf, IPv4MaximumHeaderSize, len(noICV), &IPv4Fields{
					ID: inner.ID() + 1, TTL: 64, Protocol: ProtoESP,
					Src: inner.Source(), Dst: inner.Destination(),
				})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				orig := unhex(t, c.origHeader)
				ip = buf[IPv4MaximumHeaderSize-len(orig):]
				copy(ip, orig)
				h, err := ParseIPHeaders(append(orig, data...))
				if err != nil {
					t.Fatal(err)
				}
				if err := RewriteIPHeaders(ip, h, ProtoESP); err != nil {
					t.Fatal(err)
				}
			}
			if d := diffBytes(ip[:IPv4MinimumSize], unhex(t, c.outerHeader)); d != "" {
				t.Errorf("IPv4 header differs from RFC 3602: %s", d)
			}

			cfg.Direction = Inbound
			in := mustSA(t, cfg)
			got, nh, err := in.Open(pkt)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if d := diffBytes(got, data); d != "" || nh != c.nextHeader {
				t.Errorf("Open = nh %d, payload %s", nh, d)
			}
		})
	}
}
