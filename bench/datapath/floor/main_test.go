package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"github.com/sadb-dev/sadb/internal/testrig"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A short run of every way moves authenticated packets and prints their
// figures; the rig is gone afterwards.
func TestFloorPrintsFigures(t *testing.T) {
	testrig.Require(t, "ip")
	var out bytes.Buffer
	if code := run([]string{"-t", "300ms"}, &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	t.Log("\n" + out.String())
	for _, way := range allWays {
		re := regexp.MustCompile(`floor ` + way + ` +(\d+) packets/s delivered \( *(\d+) sent, 0 failed authentication\); CPU per packet +([\d.]+)µs process, +([\d.]+)µs machine; at most +([\d.]+) Gbit/s`)
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("no figures for %s", way)
			continue
		}
		for i, what := range []string{"delivered", "sent", "process CPU", "machine CPU", "goodput"} {
			if v, err := strconv.ParseFloat(m[i+1], 64); err != nil || v <= 0 {
				t.Errorf("%s: %s %q is not positive", way, what, m[i+1])
			}
		}
	}
	// The namespaces are removed.
	if ns := testrig.Run(t, "ip", "netns", "list"); regexp.MustCompile(`trig-floor[ab]-`).MatchString(ns) {
		t.Errorf("namespaces left behind:\n%s", ns)
	}
}

// The packets are sealed and opened for real: a receiver with another key
// authenticates none.
func TestSealerOpensOnlyItsOwn(t *testing.T) {
	sh := newShape(1420)
	if got := ipv4Len + sh.esp; got != 1476 {
		t.Fatalf("ESP packet of a 1420-byte inner packet: %d bytes, want 1476 (20 + 8 + 8 + 1424 + 16)", got)
	}
	tx, rx := newSealer(sh), newSealer(sh)
	b := make([]byte, sh.esp)
	tx.seal(b)
	c := append([]byte(nil), b...)
	if !rx.open(b) {
		t.Fatal("a sealed packet does not open")
	}
	c[len(c)-1] ^= 1
	if rx.open(c) {
		t.Error("a packet with a flipped ICV bit opens")
	}
	other := newSealer(sh)
	other.salt[0] ^= 1
	tx.seal(b)
	if other.open(b) {
		t.Error("a packet opens under another nonce salt")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-ways", "raw,carrier-pigeon"}, {"-mtu", "100"}, {"-batch", "0"}, {"-t", "-1s"}} {
		var out bytes.Buffer
		if code := run(args, &out); code != 2 {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, out.String())
		}
	}
}

// A receiver's parsing of what arrives never reads past it.
func TestAfterIPv4(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int // length after the header, -1 for refused
	}{
		{nil, -1},
		{make([]byte, 19), -1},
		{append([]byte{0x45}, make([]byte, 19)...), 0},
		{append([]byte{0x45}, make([]byte, 29)...), 10},
		{append([]byte{0x4f}, make([]byte, 39)...), -1}, // IHL 60 > 40 bytes
		{append([]byte{0x44}, make([]byte, 39)...), -1}, // IHL 16 < 20
		{append([]byte{0x46}, make([]byte, 39)...), 16},
	} {
		got, ok := afterIPv4(tc.b)
		if (tc.want < 0) == ok || (ok && len(got) != tc.want) {
			t.Errorf("afterIPv4(% x): %d bytes, %v; want %d", tc.b[:min(len(tc.b), 1)], len(got), ok, tc.want)
		}
	}
}
