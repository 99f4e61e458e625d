package kernelpeer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sadb-dev/sadb/internal/testrig"
	"github.com/sadb-dev/sadb/internal/testrig/echo"
)

// TestBoot boots the guest and checks the rig: the command channel, the
// console, both links, the UDP-encapsulation socket and the XFRM
// configuration round trip.
func TestBoot(t *testing.T) {
	testrig.Require(t, "ip", "qemu-system-x86_64", "busybox", "ethtool", "ldd")
	if _, err := FindKernel(); err != nil {
		testrig.Unavailable(t, "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := Boot(ctx, Config{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
			t.Errorf("Close left %s behind", p.dir)
		}
		out := testrig.Run(t, "ip", "netns", "list")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && (f[0] == p.qemuNS.Name || f[0] == p.hostNS.Name) {
				t.Errorf("Close left namespace %s behind", f[0])
			}
		}
	}()

	t.Run("exec", func(t *testing.T) {
		out, err := p.Run(ctx, "echo hello; echo to-stderr >&2")
		if err != nil || out != "hello\n" {
			t.Errorf("Run = %q, %v; want \"hello\\n\"", out, err)
		}
		_, err = p.Run(ctx, "echo failing >&2; exit 3")
		var ee *ExecError
		if !errors.As(err, &ee) || ee.Status != 3 || ee.Stderr != "failing\n" {
			t.Errorf("Run(exit 3) = %v; want an ExecError with status 3", err)
		}
		// Commands that leave a process behind return.
		start := time.Now()
		if _, err := p.Run(ctx, "sleep 600 >/dev/null 2>&1 &"); err != nil {
			t.Error(err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("a command with a background process took %v", d)
		}
		if !strings.Contains(p.Console(), "kernelpeer: network at") {
			t.Errorf("console has no boot progress:\n%s", p.Console())
		}
	})

	t.Run("guest", func(t *testing.T) {
		out, err := p.Run(ctx, "uname -r; cat /sys/class/net/"+GuestPlainLink+"/address; ethtool -k "+GuestPlainLink)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimPrefix(filepath.Base(p.cfg.Kernel), "vmlinuz-"); !strings.HasPrefix(out, want+"\n") {
			t.Errorf("guest kernel %q, want %s", strings.SplitN(out, "\n", 2)[0], want)
		}
		if !strings.Contains(out, plainMAC) {
			t.Errorf("the plain NIC has not the plain MAC:\n%s", out)
		}
		for _, f := range []string{"tcp-segmentation-offload: off", "generic-segmentation-offload: off", "generic-receive-offload: off"} {
			if !strings.Contains(out, f) {
				t.Errorf("guest NIC offloads: no %q in\n%s", f, out)
			}
		}
	})

	t.Run("plain-link", func(t *testing.T) {
		// Any IP protocol crosses the bridge: ICMP both ways.
		out, err := p.HostNS().Command("ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", GuestPlain.String()).CombinedOutput()
		if err != nil {
			t.Errorf("host -> guest ping: %v\n%s", err, out)
		}
		if out, err := p.Run(ctx, "ping -q -c 3 -W 2 "+HostPlain.String()); err != nil {
			t.Errorf("guest -> host ping: %v\n%s", err, out)
		}
	})

	t.Run("nat-link", func(t *testing.T) {
		// qemu forwards UDP to NATPort; the guest's replies go back
		// through the same socket.
		if err := p.EchoServer(ctx, "udp4", fmt.Sprintf(":%d", NATPort)); err != nil {
			t.Fatal(err)
		}
		var c net.Conn
		err := p.HostNS().Do(func() error {
			var err error
			c, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(HostNAT, 0)),
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(QemuNAT, NATPort)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := echo.UDP(ctx, c, 5, 1000, 3*time.Second)
		if err != nil || r.ReceivedPackets != 5 {
			t.Errorf("UDP echo through the NAT: %d of 5 back, %v", r.ReceivedPackets, err)
		}
		// The guest reaches the host namespace through the NAT too.
		var srv *echo.Server
		if err := p.HostNS().Do(func() error {
			var err error
			srv, err = echo.Listen("tcp4", netip.AddrPortFrom(HostNAT, 7).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if r, err := p.EchoTCP(ctx, netip.AddrPortFrom(HostNAT, 7).String(), 64<<10); err != nil || r.Received != 64<<10 {
			t.Errorf("guest TCP echo through the NAT: %+v, %v", r, err)
		}
	})

	t.Run("xfrm", func(t *testing.T) {
		if err := p.Encap(ctx, 14500); err != nil {
			t.Fatal(err)
		}
		if err := p.Encap(ctx, 14500); err != nil {
			t.Errorf("a second Encap on the same port: %v", err)
		}
		key := bytes.Repeat([]byte{7}, 20)
		states := []State{
			{Src: HostPlain, Dst: GuestPlain, SPI: 0x1000, ReqID: 1, Tunnel: true, Alg: GCM(key)},
			{Src: GuestPlain, Dst: HostPlain, SPI: 0x2000, ReqID: 1, Tunnel: true, Alg: CBCSHA256(key[:16], bytes.Repeat([]byte{9}, 32))},
			{Src: GuestSeesHost, Dst: GuestNAT, SPI: 0x3000, ReqID: 2, Alg: GCM(key), EncapSport: NATPort, EncapDport: NATPort},
		}
		policies := []Policy{
			{Src: GuestInnerNet, Dst: HostInnerNet, Dir: "out", TmplSrc: GuestPlain, TmplDst: HostPlain, ReqID: 1, Tunnel: true},
			{Src: HostInnerNet, Dst: GuestInnerNet, Dir: "in", TmplSrc: HostPlain, TmplDst: GuestPlain, ReqID: 1, Tunnel: true},
		}
		if err := p.Configure(ctx, states, policies); err != nil {
			t.Fatal(err)
		}
		got, err := p.States(ctx)
		if err != nil {
			t.Fatal(err)
		}
		spis := map[uint32]bool{}
		for _, s := range got {
			spis[s.SPI] = true
			if s.Packets != 0 || s.Bytes != 0 {
				t.Errorf("a new state has counters: %+v", s)
			}
		}
		if diff := cmp.Diff(map[uint32]bool{0x1000: true, 0x2000: true, 0x3000: true}, spis); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		if out, _ := p.Run(ctx, "xip xfrm policy"); strings.Count(out, "dir ") != 2 {
			t.Errorf("policies:\n%s", out)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.States(ctx); len(got) != 0 {
			t.Errorf("states after Flush: %+v", got)
		}
	})
}

func TestParseStates(t *testing.T) {
	// ip -s xfrm state of iproute2 6.1: a state with the legacy replay
	// context and one with the bitmap (windows over 32).
	const out = `src 192.0.2.1 dst 192.0.2.2
	proto esp spi 0x00001001(4097) reqid 1(0x00000001) mode tunnel
	replay-window 32 seq 0x00000000 flag  (0x00000000)
	aead rfc4106(gcm(aes)) 0x0102030405060708090a0b0c0d0e0f10a1a2a3a4 (160 bits) 128
	encap type espinudp sport 4500 dport 4500 addr 0.0.0.0
	anti-replay context: seq 0x2a, oseq 0x0, bitmap 0xffffffff
	sel src 0.0.0.0/0 dst 0.0.0.0/0 uid 0
	lifetime config:
	  limit: soft (INF)(bytes), hard (INF)(bytes)
	  limit: soft (INF)(packets), hard (INF)(packets)
	  expire add: soft 0(sec), hard 0(sec)
	  expire use: soft 0(sec), hard 0(sec)
	lifetime current:
	  5376(bytes), 42(packets)
	  add 2026-11-25 21:37:36 use 2026-11-25 21:37:40
	stats:
	  replay-window 0 replay 1 failed 2
src 192.0.2.2 dst 192.0.2.1
	proto esp spi 0xfedcba98(4275878552) reqid 1(0x00000001) mode tunnel
	replay-window 0 seq 0x00000000 flag  (0x00000000)
	auth-trunc hmac(sha256) 0x00 (256 bits) 128
	enc cbc(aes) 0x00 (128 bits)
	anti-replay esn context:
	 seq-hi 0x0, seq 0x0, oseq-hi 0x0, oseq 0x1f4
	 replay_window 64, bitmap-length 2
	 00000000 00000000 
	sel src 0.0.0.0/0 dst 0.0.0.0/0 uid 0
	lifetime config:
	  limit: soft (INF)(bytes), hard (INF)(bytes)
	lifetime current:
	  640000(bytes), 500(packets)
	  add 2026-11-25 21:37:38 use -
	stats:
	  replay-window 0 replay 0 failed 0
`
	got, err := ParseStates(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []StateStats{
		{Src: HostPlain, Dst: GuestPlain, SPI: 0x1001, Bytes: 5376, Packets: 42, Replay: 1, Failed: 2, Seq: 42},
		{Src: GuestPlain, Dst: HostPlain, SPI: 0xfedcba98, Bytes: 640000, Packets: 500, OSeq: 500},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("ParseStates (-want +got):\n%s", diff)
	}
	if _, err := ParseStates("src 192.0.2.1 dst 192.0.2.2\n\tproto esp\n"); err == nil {
		t.Error("ParseStates took a state without counters")
	}
	if got, err := ParseStates(""); err != nil || len(got) != 0 {
		t.Errorf("ParseStates(\"\") = %v, %v", got, err)
	}
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"vmlinuz-6.1.0-9-cloud-amd64", "vmlinuz-6.1.0-56-cloud-amd64", true},
		{"vmlinuz-6.1.0-56-cloud-amd64", "vmlinuz-6.1.0-9-cloud-amd64", false},
		{"vmlinuz-6.1.0-56-cloud-amd64", "vmlinuz-6.12.0-1-cloud-amd64", true},
		{"vmlinuz-6.1.0-56-amd64", "vmlinuz-6.1.0-56-cloud-amd64", true},
		{"a", "a", false},
	} {
		if got := versionLess(c.a, c.b); got != c.want {
			t.Errorf("versionLess(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// TestCpio reads back an archive the writer made, checking the newc
// framing the kernel's unpacker expects: parents before children, 4-byte
// alignment, the trailer.
func TestCpio(t *testing.T) {
	var buf bytes.Buffer
	w := newCpio(&buf)
	w.dir("etc")
	if err := w.file("usr/lib/x/data", 0o644, []byte("12345")); err != nil {
		t.Fatal(err)
	}
	if err := w.symlink("bin/sh", "busybox"); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("abc"), 0o600)
	w.copyFile("a/f", src, 0o755)
	w.copyFile("a/f", src, 0o755) // once only
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Name string
		Mode uint32
		Data string
	}
	var got []entry
	b := buf.Bytes()
	for len(b) > 0 {
		if len(b) < 110 || string(b[:6]) != "070701" {
			t.Fatalf("bad header at %d: %q", buf.Len()-len(b), b[:min(len(b), 16)])
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(v)
		}
		mode, size, nameLen := field(1), int(field(6)), int(field(11))
		name := string(b[110 : 110+nameLen-1])
		off := (110 + nameLen + 3) &^ 3
		data := string(b[off : off+size])
		b = b[(off+size+3)&^3:]
		if name == "TRAILER!!!" {
			if len(b) != 0 {
				t.Errorf("%d bytes after the trailer", len(b))
			}
			break
		}
		got = append(got, entry{name, mode, data})
	}
	want := []entry{
		{"etc", sIFDIR | 0o755, ""},
		{"usr", sIFDIR | 0o755, ""},
		{"usr/lib", sIFDIR | 0o755, ""},
		{"usr/lib/x", sIFDIR | 0o755, ""},
		{"usr/lib/x/data", sIFREG | 0o644, "12345"},
		{"bin", sIFDIR | 0o755, ""},
		{"bin/sh", sIFLNK | 0o777, "busybox"},
		{"a", sIFDIR | 0o755, ""},
		{"a/f", sIFREG | 0o755, "abc"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/net/ipv4/esp4.ko":                  "esp4",
		"kernel/drivers/char/virtio_console.ko.xz": "virtio_console",
		"kernel/crypto/crypto-simd.ko":             "crypto_simd",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}
