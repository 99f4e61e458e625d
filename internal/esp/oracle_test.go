package esp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireTool returns the path of an external program a test needs. If it
// is missing the test is skipped locally and fails in CI (CI=true), so the
// oracle cannot silently stop running there.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is required in CI: %v", name, err)
	}
	tb.Skipf("%s not installed: %v", name, err)
	return ""
}

// tsharkSA is one SA as tshark's esp_sa table wants it.
type tsharkSA struct {
	tc       transformCase
	encName  string // tshark's name of the encryption algorithm
	authName string // tshark's name of the authentication algorithm
}

var tsharkSAs = []tsharkSA{
	{espTransforms[0], "AES-GCM with 16 octet ICV [RFC4106]", "NULL"},
	{espTransforms[2], "AES-GCM with 16 octet ICV [RFC4106]", "NULL"},
	{espTransforms[6], "AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]"},
	{espTransforms[9], "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"},
	{espTransforms[11], "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"},
	{espTransforms[13], "NULL", "HMAC-SHA-256-128 [RFC4868]"},
}

// oraclePacket is what we expect tshark to find in one frame.
type oraclePacket struct {
	spi     SPI
	seq     uint32
	payload []byte // the inner UDP payload
}

// TestTsharkOracle writes ESP packets sealed by this package (tunnel mode,
// IPv4 and IPv6 outer and inner headers, plain and UDP-encapsulated on
// port 4500) to a pcap file, has tshark decrypt them with the keys, and
// checks that tshark verified every ICV (esp.icv_good) and found the inner
// UDP payload we sealed. tshark 4.0 knows no ESN, so ESN is off.
func TestTsharkOracle(t *testing.T) {
	tshark := requireTool(t, "tshark")
	goroutineLeakCheck(t)
	rng := rand.New(rand.NewPCG(42, 4500))
	var (
		pcap    bytes.Buffer
		w       = newPCAPWriter(&pcap)
		want    []oraclePacket
		uatArgs []string
		spi     = SPI(0x2000)
	)
	for _, ts := range tsharkSAs {
		for _, outer := range []int{4, 6} {
			for _, udp := range []bool{false, true} {
				spi++
				oc, _ := configPair(ts.tc, spi, false)
				oc.EncryptionKey = testKey(len(oc.EncryptionKey), byte(spi))
				oc.IntegrityKey = testKey(len(oc.IntegrityKey), byte(spi>>1))
				out := mustSA(t, oc)
				src, dst, proto := addr4a, addr4b, "IPv4"
				if outer == 6 {
					src, dst, proto = addr6a, addr6b, "IPv6"
				}
				uatArgs = append(uatArgs, "-o", fmt.Sprintf(`uat:esp_sa:"%s","%s","%s","%v","%s","%s","%s","%s"`,
					proto, src, dst, spi, ts.encName, hexKey(oc.EncryptionKey), ts.authName, hexKey(oc.IntegrityKey)))
				for i, n := range []int{0, 1, 17, 100, 1300} {
					inner := 4 + 2*((i+outer)%2) // mix inner IPv4 and IPv6
					payload := []byte(fmt.Sprintf("%v#%d:", spi, i))
					payload = append(payload, randomBytes(rng, n)...)
					pkt := tunnelSeal(t, out, innerUDP(t, inner, payload), outer, udp)
					w.writePacket(pkt)
					want = append(want, oraclePacket{spi: spi, seq: uint32(out.LastSeq()), payload: payload})
				}
			}
		}
	}
	if w.err != nil {
		t.Fatal(w.err)
	}
	file := filepath.Join(t.TempDir(), "esp.pcap")
	if err := os.WriteFile(file, pcap.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	args := []string{"-n", "-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}
	args = append(args, uatArgs...)
	args = append(args, "-r", file, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l",
		"-e", "frame.number", "-e", "esp.spi", "-e", "esp.sequence", "-e", "esp.icv_good", "-e", "esp.icv_bad", "-e", "data.data")
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outBytes, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(outBytes)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tshark printed %d frames, we wrote %d:\n%s\n%s", len(lines), len(want), outBytes, stderr.String())
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			t.Errorf("frame %d: %q", i+1, line)
			continue
		}
		w := want[i]
		if f[1] != w.spi.String() || f[2] != fmt.Sprint(w.seq) {
			t.Errorf("frame %d: tshark sees SPI %s seq %s, we sealed %v seq %d", i+1, f[1], f[2], w.spi, w.seq)
		}
		if f[3] != "1" || f[4] == "1" {
			t.Errorf("frame %d (SPI %v): tshark icv_good=%q icv_bad=%q", i+1, w.spi, f[3], f[4])
		}
		got, err := hex.DecodeString(strings.ReplaceAll(f[5], ":", ""))
		if err != nil || !bytes.Equal(got, w.payload) {
			t.Errorf("frame %d (SPI %v): tshark decrypted payload %q, we sealed %q", i+1, w.spi, got, w.payload)
		}
	}
	t.Logf("tshark verified %d ESP packets over %d SAs", len(lines), len(uatArgs)/2)
}

func hexKey(k Key) string {
	if len(k) == 0 {
		return ""
	}
	return "0x" + hex.EncodeToString(k)
}

// innerUDP returns an IPv4 or IPv6 packet with a UDP datagram between two
// unassigned ports, so that tshark shows its payload as data.
func innerUDP(tb testing.TB, version int, payload []byte) []byte {
	tb.Helper()
	buf := make([]byte, 64+len(payload))
	copy(buf[64:], payload)
	src, dst := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20")
	if version == 6 {
		src, dst = netip.MustParseAddr("2001:db8:aa::10"), netip.MustParseAddr("2001:db8:bb::20")
	}
	u, err := PrependUDP(buf, 64, len(payload), netip.AddrPortFrom(src, 40001), netip.AddrPortFrom(dst, 40002))
	if err != nil {
		tb.Fatal(err)
	}
	var pkt []byte
	if version == 4 {
		pkt, err = PrependIPv4(buf, 64-UDPHeaderSize, len(u), &IPv4Fields{Protocol: ProtoUDP, Src: src, Dst: dst})
	} else {
		pkt, err = PrependIPv6(buf, 64-UDPHeaderSize, len(u), &IPv6Fields{NextHeader: ProtoUDP, Src: src, Dst: dst})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return pkt
}
