package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// Key material the golden scenario plumbs. None of it may appear in an
// output made without --show-keys.
const (
	inboundCipher  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" // AES-256
	inboundAuth    = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080706050403020100f" // HMAC-SHA-256
	outboundCipher = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	outboundAuth   = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	bundleESP      = "5a5b5c5d5e5f60616263646566676869"                                 // AES-128
	bundleESPAuth  = "7071727374757677787980818283848586878889"                         // HMAC-SHA-1
	bundleAH       = "9091929394959697989990919293949596979899909192939495969798999091" // HMAC-SHA-256
)

// allKeys lists every key of the scenario.
func allKeys() []string {
	return []string{inboundCipher, inboundAuth, outboundCipher, outboundAuth, bundleESP, bundleESPAuth, bundleAH}
}

var (
	guidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	pidRE  = regexp.MustCompile(`("process_id": |process id +)\d+`)
)

// mask replaces what changes from run to run: GUIDs, the server's socket,
// temporary paths and process ids.
func (c *cli) mask(s string, tmp string) string {
	s = strings.ReplaceAll(s, c.srv.Socket, "<socket>")
	if tmp != "" {
		s = strings.ReplaceAll(s, tmp, "<tmp>")
	}
	s = guidRE.ReplaceAllString(s, "<guid>")
	return pidRE.ReplaceAllString(s, "${1}<pid>")
}

// golden compares got with testdata/name.golden, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/sadb -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// render is how a result is stored in a golden file: stdout, then stderr
// and the exit status when there are any.
func render(r result) string {
	s := r.stdout
	if r.stderr != "" {
		s += "--- stderr\n" + r.stderr
	}
	if r.code != 0 {
		s += fmt.Sprintf("--- exit %d\n", r.code)
	}
	return s
}

// goldenStep is one command of the golden scenario.
type goldenStep struct {
	name string
	args []string
	keys bool // the output may hold keys (--show-keys)
}

// goldenScenario plumbs three SA contexts in the states a real database
// has: a transport context with both bundles, a tunnel context with an
// ESP+AH inbound bundle, and one with only its SPI.
func goldenScenario(inKeys, outKeys, bundleKeys string) []goldenStep {
	return []goldenStep{
		{"filter-add-pair", []string{"filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2"}, false},
		{"filter-add-pair-tunnel", []string{"filter", "add-pair", "--tunnel", "--local", "10.1.0.0/16", "--remote", "10.2.0.0/16", "--protocol", "tcp", "--remote-port", "1000-2000"}, false},
		{"filter-list", []string{"filter", "list"}, false},
		{"filter-show", []string{"filter", "show", "1"}, false},
		{"ctx-create", []string{"ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2", "--filter", "1"}, false},
		{"ctx-setspi", []string{"ctx", "setspi", "1", "4096"}, false},
		{"ctx-add-inbound", []string{"ctx", "add-inbound", "1", "--transform", "esp-aes-256-sha256", "--lifetime", "1h", "--qm-sa-id", "7", "--key-file", inKeys}, false},
		{"ctx-add-outbound", []string{"ctx", "add-outbound", "1", "--transform", "esp-aes-256-sha256", "--spi", "0x2000", "--lifetime", "1h", "--idle", "5m", "--kilobytes", "1000000", "--qm-sa-id", "7", "--flags", "guarantee-encryption", "--key-file", outKeys}, false},
		{"ctx-create-tunnel", []string{"ctx", "create", "--local", "198.51.100.1", "--remote", "203.0.113.1", "--tunnel-policy", "3"}, false},
		{"ctx-setspi-tunnel", []string{"ctx", "setspi", "2", "0x3000", "--udp-encap", "4500:4500"}, false},
		{"ctx-add-inbound-bundle", []string{"ctx", "add-inbound", "2", "--transform", "esp-aes-128-sha1+ah-sha256", "--key-file", bundleKeys}, false},
		{"ctx-create-third", []string{"ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2", "--filter", "1", "--protocol", "udp", "--remote-port", "53"}, false},
		{"ctx-setspi-third", []string{"ctx", "setspi", "3", "5000"}, false},
		// GetSpi with the traffic SetSpi was given returns the SPI set.
		{"ctx-getspi", []string{"ctx", "getspi", "3"}, false},
		{"ctx-show", []string{"ctx", "show", "1"}, false},
		{"ctx-show-keys", []string{"ctx", "show", "1", "--show-keys"}, true},
		{"ctx-show-bundle", []string{"ctx", "show", "2"}, false},
		{"ctx-list", []string{"ctx", "list"}, false},
		{"ctx-list-keys", []string{"ctx", "list", "--show-keys"}, true},
		{"ctx-list-remote", []string{"ctx", "list", "--remote", "203.0.113.0/24"}, false},
		{"sa-list", []string{"sa", "list"}, false},
		{"sa-list-keys", []string{"sa", "list", "--show-keys"}, true},
		{"sa-list-outbound", []string{"sa", "list", "--direction", "outbound"}, false},
		{"acl-show", []string{"acl", "show"}, false},
		{"acl-show-engine", []string{"acl", "show", "--engine"}, false},
		{"stats", []string{"stats"}, false},
		{"session", []string{"session"}, false},
	}
}

// errorScenario are the failures the golden files record, run after the
// scenario above.
func errorScenario(badKeys, outKeys string) []goldenStep {
	return []goldenStep{
		{"err-key-length", []string{"ctx", "add-outbound", "2", "--transform", "esp-gcm-256", "--spi", "0x4000", "--key-file", badKeys}, false},
		{"err-unknown-id", []string{"ctx", "show", "99"}, false},
		{"err-outbound-before-inbound", []string{"ctx", "add-outbound", "3", "--transform", "esp-aes-256-sha256", "--spi", "0x4000", "--key-file", outKeys}, false},
		{"err-filter-in-use", []string{"filter", "delete", "1"}, false},
		{"err-unknown-transform", []string{"ctx", "add-inbound", "3", "--transform", "esp-chacha", "--key-file", outKeys}, false},
		{"err-unknown-flag", []string{"ctx", "show", "1", "--bogus"}, false},
		{"err-missing-arg", []string{"ctx", "show"}, false},
		{"err-key-on-command-line", []string{"ctx", "add-inbound", "3", "--transform", "esp-gcm-128"}, false},
	}
}

// goldenKeyFiles writes the scenario's key files into a fresh directory
// and returns it with the files' paths.
func goldenKeyFiles(t *testing.T) (dir, in, out, bundle, bad string) {
	dir = t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	in = write("in.keys", "# inbound: AES-256-CBC + HMAC-SHA-256\ncipher="+inboundCipher+"\nauth="+inboundAuth+"\n")
	out = write("out.keys", "cipher="+outboundCipher+"\n\nauth = "+outboundAuth+"\n")
	bundle = write("bundle.keys", "esp.cipher="+bundleESP+"\nesp.auth="+bundleESPAuth+"\nah.auth="+bundleAH+"\n")
	bad = write("bad.keys", "# a 32-byte AES key without the 4-byte salt GCM needs\ncipher="+outboundCipher+"\n")
	return dir, in, out, bundle, bad
}

// TestGolden runs the scenario once with table output and once with -o
// json, each on a fresh server so that ids start at 1, and compares every
// output with its golden file. SPIs are set with setspi so they are
// stable. No output made without --show-keys may hold key material.
func TestGolden(t *testing.T) {
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			c := newCLI(t)
			dir, in, out, bundle, bad := goldenKeyFiles(t)
			steps := append(goldenScenario(in, out, bundle), errorScenario(bad, out)...)
			for _, st := range steps {
				if format == "json" && strings.HasPrefix(st.name, "err-") {
					continue // errors are text on stderr whatever -o says
				}
				r := c.run(append([]string{"-o", format}, st.args...)...)
				got := c.mask(render(r), dir)
				if !st.keys {
					for _, k := range allKeys() {
						if strings.Contains(strings.ToLower(r.stdout+r.stderr), k) {
							t.Errorf("%s: output without --show-keys holds key material %s…", st.name, k[:8])
						}
					}
				}
				name := st.name
				if format == "json" {
					name += ".json"
				}
				golden(t, name, got)
				if !strings.HasPrefix(st.name, "err-") && r.code != 0 {
					t.Fatalf("%s: exit %d: %s", st.name, r.code, r.stderr)
				}
			}
		})
	}
}
