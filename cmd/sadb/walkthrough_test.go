package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decode runs a command with -o json on c and decodes its output into v.
func decode[T any](t *testing.T, c *cli, args ...string) T {
	t.Helper()
	out := c.ok(append([]string{"-o", "json"}, args...)...)
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("sadb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// keyFileFor returns key-file text with deterministic keys of the right
// lengths for transform name, distinct per seed.
func keyFileFor(t *testing.T, name string, seed byte) string {
	t.Helper()
	tr, err := parseTransform(name)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s keys, seed %d\n", name, seed)
	for i, s := range tr.sas {
		for _, k := range []struct {
			kind string
			n    int
		}{{"cipher", s.cipherLen}, {"auth", s.authLen}} {
			if k.n == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s=", tr.keyName(i, k.kind))
			for j := 0; j < k.n; j++ {
				fmt.Fprintf(&b, "%02x", seed^byte(0x3c+11*j+i))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// peer is one side of the walkthrough: a server and what the CLI printed.
type peer struct {
	c             *cli
	local, remote string
	pair          pairView
	ctx           createdView
	spi           uint32
}

// TestManualSAWalkthrough plumbs an SA pair between two servers, as two
// peers would, entirely through CLI commands and key files: filters,
// create, an SPI each, inbound then outbound bundles with the keys and SPI
// of the other side. ctx show on each side must then agree: each side's
// inbound SA is the other's outbound SA, keys included.
func TestManualSAWalkthrough(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transform string
		a, b      string // peer addresses
		innerA    string // tunnel mode: inner subnets
		innerB    string
		setSPI    bool // setspi instead of getspi
		udpEncap  bool
		keyStdin  bool
	}{
		{name: "TransportV4GCM", transform: "esp-gcm-256", a: "192.0.2.1", b: "192.0.2.2"},
		{name: "TransportV6CBC", transform: "esp-aes-128-sha256", a: "2001:db8::1", b: "2001:db8::2", setSPI: true, keyStdin: true},
		{name: "TunnelV4ESPAH", transform: "esp-aes-256-sha1+ah-sha256", a: "198.51.100.1", b: "203.0.113.1",
			innerA: "10.1.0.0/16", innerB: "10.2.0.0/16", udpEncap: true},
		{name: "TransportV4AH", transform: "ah-gmac-128", a: "192.0.2.1", b: "192.0.2.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			A := &peer{c: newCLI(t), local: tc.a, remote: tc.b}
			B := &peer{c: newCLI(t), local: tc.b, remote: tc.a}
			tunnel := tc.innerA != ""
			for i, p := range []*peer{A, B} {
				pairArgs := []string{"filter", "add-pair", "--local", p.local, "--remote", p.remote}
				if tunnel {
					l, r := tc.innerA, tc.innerB
					if p == B {
						l, r = r, l
					}
					pairArgs = []string{"filter", "add-pair", "--tunnel", "--local", l, "--remote", r}
				}
				p.pair = decode[pairView](t, p.c, pairArgs...)
				mode := "--filter"
				if tunnel {
					mode = "--tunnel-policy"
				}
				p.ctx = decode[createdView](t, p.c, "ctx", "create", "--local", p.local, "--remote", p.remote, mode, fmt.Sprint(p.pair.OutboundFilterID))
				if p.ctx.InboundFilterID != p.pair.InboundFilterID {
					t.Errorf("peer %d: inbound filter %d, want %d", i, p.ctx.InboundFilterID, p.pair.InboundFilterID)
				}
				id := fmt.Sprint(p.ctx.SAContextID)
				spiArgs := []string{"ctx", "getspi", id}
				if tc.setSPI {
					spiArgs = []string{"ctx", "setspi", id, fmt.Sprintf("0x%x", 0x1000*(i+1))}
				}
				if tc.udpEncap {
					ports := []string{"4500:4501", "4501:4500"}[i]
					spiArgs = append(spiArgs, "--udp-encap", ports)
				}
				p.spi = decode[spiView](t, p.c, spiArgs...).SPI
				if p.spi < 256 {
					t.Fatalf("peer %d: SPI %d is reserved", i, p.spi)
				}
			}
			// Keys for traffic A→B protect A's outbound and B's inbound SA.
			keysAB := writeFile(t, "ab.keys", keyFileFor(t, tc.transform, 0xab))
			keysBA := keyFileFor(t, tc.transform, 0xba)
			for _, p := range []*peer{A, B} {
				other := B
				inKeys, outKeys := keysBA, keysAB
				if p == B {
					other = A
					inKeys, outKeys = keysAB, keysBA
				}
				id := fmt.Sprint(p.ctx.SAContextID)
				addIn := []string{"ctx", "add-inbound", id, "--transform", tc.transform, "--lifetime", "1h", "--qm-sa-id", "42"}
				addOut := []string{"ctx", "add-outbound", id, "--transform", tc.transform, "--spi", fmt.Sprint(other.spi), "--lifetime", "1h", "--qm-sa-id", "42"}
				// Each key file is a path or, with keyStdin, text fed on
				// standard input.
				for _, step := range []struct {
					args []string
					keys string
				}{{addIn, inKeys}, {addOut, outKeys}} {
					args, stdin := step.args, ""
					switch {
					case strings.HasPrefix(step.keys, "/"):
						args = append(args, "--key-file", step.keys)
					case tc.keyStdin:
						args, stdin = append(args, "--key-stdin"), step.keys
					default:
						args = append(args, "--key-file", writeFile(t, "k.keys", step.keys))
					}
					if r := p.c.runIn(stdin, args...); r.code != 0 {
						t.Fatalf("sadb %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
					}
				}
			}
			a := decode[contextView](t, A.c, "ctx", "show", fmt.Sprint(A.ctx.SAContextID), "--show-keys")
			b := decode[contextView](t, B.c, "ctx", "show", fmt.Sprint(B.ctx.SAContextID), "--show-keys")
			for _, v := range []contextView{a, b} {
				if v.State != "SA_CONTEXT_OUTBOUND_ADDED" || v.Inbound == nil || v.Outbound == nil {
					t.Fatalf("context %d: state %s, want both bundles", v.SAContextID, v.State)
				}
			}
			if diff := cmp.Diff(a.Outbound.Bundle.SAs, b.Inbound.Bundle.SAs); diff != "" {
				t.Errorf("A's outbound SAs differ from B's inbound SAs (-A +B):\n%s", diff)
			}
			if diff := cmp.Diff(b.Outbound.Bundle.SAs, a.Inbound.Bundle.SAs); diff != "" {
				t.Errorf("B's outbound SAs differ from A's inbound SAs (-B +A):\n%s", diff)
			}
			if a.Inbound.Bundle.SAs[0].CipherKey == "" && a.Inbound.Bundle.SAs[0].AuthKey == "" {
				t.Errorf("--show-keys showed no keys")
			}
			if a.Traffic.Local != b.Traffic.Remote || a.Traffic.Remote != b.Traffic.Local {
				t.Errorf("traffic A %s -> %s, B %s -> %s: not mirror images", a.Traffic.Local, a.Traffic.Remote, b.Traffic.Local, b.Traffic.Remote)
			}
			if a.Inbound.Bundle.Transform != tc.transform || b.Outbound.Bundle.Transform != tc.transform {
				t.Errorf("transforms %q, %q, want %q", a.Inbound.Bundle.Transform, b.Outbound.Bundle.Transform, tc.transform)
			}
			// The human outputs agree too: each side names the other's SPI.
			humanA := A.c.ok("ctx", "show", fmt.Sprint(A.ctx.SAContextID))
			humanB := B.c.ok("ctx", "show", fmt.Sprint(B.ctx.SAContextID))
			if !strings.Contains(humanA, spiText(B.spi)) || !strings.Contains(humanB, spiText(A.spi)) {
				t.Errorf("ctx show does not name the peer's SPI:\nA:\n%s\nB:\n%s", humanA, humanB)
			}
		})
	}
}
