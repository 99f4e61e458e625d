package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/internal/testrig"
)

// sadbdMark is the firewall mark of sadbd's data path (the default).
const sadbdMark = 0x5adb

var gcmTransport = emode{name: "transport-v4-esp-gcm-128", transform: "esp-gcm-128"}

// inject sends ESP packets from h's namespace, with sadbd's mark so that
// h's own data path does not capture them; the kernel writes the IPv4
// header.
func (h *node) inject(tb testing.TB, dst netip.Addr, pkts ...[]byte) {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ns, err := netns.GetFromName(h.ns)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ESP)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, sadbdMark); err != nil {
			errc <- err
			return
		}
		for _, p := range pkts {
			if err := unix.Sendto(fd, p, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
}

// echoSealer seals ICMP echo requests as the sender of SA d would.
type echoSealer struct{ sa *esp.SA }

func newEchoSealer(tb testing.TB, d sa) *echoSealer {
	tb.Helper()
	s, err := esp.NewSA(esp.Config{Protocol: esp.ProtocolESP, Direction: esp.Outbound, SPI: esp.SPI(d.spi),
		Encryption: esp.EncryptionAESGCM128, EncryptionKey: esp.Key(d.keys["cipher"])})
	if err != nil {
		tb.Fatal(err)
	}
	return &echoSealer{sa: s}
}

func (s *echoSealer) next(tb testing.TB) []byte {
	tb.Helper()
	m := make([]byte, 8+24)
	m[0] = 8 // echo request
	binary.BigEndian.PutUint16(m[4:], 0x5adb)
	binary.BigEndian.PutUint16(m[6:], uint16(s.sa.LastSeq()+1))
	copy(m[8:], "injected by the e2e test")
	var sum uint32
	for i := 0; i < len(m); i += 2 {
		sum += uint32(m[i])<<8 | uint32(m[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(m[2:], ^uint16(sum))
	buf := make([]byte, 64+len(m)+64)
	copy(buf[64:], m)
	pkt, err := s.sa.Seal(buf, 64, len(m), 1)
	if err != nil {
		tb.Fatal(err)
	}
	return pkt
}

// TestInjectedPackets sends B packets sealed with the real SA's keys
// from a raw socket: in order, replayed, reordered inside and outside the
// 64-packet window, tampered, truncated and with a wrong SPI. Only the
// good ones may be delivered; every drop must show in the SA's counters
// and in the statistics, and the failures must be reported.
func TestInjectedPackets(t *testing.T) {
	requireRig(t)
	a, b := newRig(t)
	l := plumb(t, a, b, gcmTransport)
	s := newEchoSealer(t, l.ab)
	pkts := make([][]byte, 201)
	for i := 1; i <= 200; i++ {
		pkts[i] = s.next(t)
	}
	inbound := func() testrig.SACounters {
		c := b.ctxShow(l.ctxB).Inbound
		if c == nil || c.Counters == nil {
			t.Fatal("no inbound counters in 'sadb ctx show'")
		}
		return *c.Counters
	}
	check := func(name string, want uint64, send ...[]byte) {
		t.Helper()
		before := inbound().Packets
		a.inject(t, b.v4, send...)
		if got := inbound().Packets - before; got != want {
			t.Errorf("%s: %d delivered, want %d", name, got, want)
		}
	}
	check("in order", 2, pkts[1], pkts[2])
	check("replayed", 0, pkts[1], pkts[2])
	check("ahead", 1, pkts[100])
	check("reordered inside the window", 2, pkts[50], pkts[99])
	check("reordered outside the window", 0, pkts[30], pkts[3])
	tampered := append([]byte(nil), pkts[101]...)
	tampered[20] ^= 0x01
	check("tampered", 0, tampered)
	check("truncated", 0, pkts[102][:14])
	wrong := append([]byte(nil), pkts[103]...)
	binary.BigEndian.PutUint32(wrong, l.ab.spi^0x00100000)
	check("wrong SPI", 0, wrong)
	check("the untouched originals", 3, pkts[101], pkts[102], pkts[103])

	c := inbound()
	if c.ReplayDrops != 4 || c.ICVFailures != 1 || c.OtherDrops != 1 {
		t.Errorf("SA counters %+v, want 4 replay drops, 1 ICV failure, 1 other drop", c)
	}
	st := b.stats()
	if st.Drops.InvalidSPIs != 1 || st.Drops.Replay != 4 || st.Drops.Auth != 1 || st.ESP.Decryption != 1 || st.Drops.Total != 7 {
		t.Errorf("statistics %+v", st)
	}
	// The replay and ICV failures reach sadbd, once a second per SA.
	time.Sleep(1200 * time.Millisecond)
	log := b.logText()
	for _, ev := range []string{"event=replay-failures", "event=auth-failures"} {
		if !strings.Contains(log, ev) {
			t.Errorf("sadbd did not hear of %s", ev)
		}
	}
}

// watch runs 'sadb watch' on h and returns its changes as "ADD 1",
// "DELETE 1", ...
func (h *node) watch(tb testing.TB) <-chan string {
	tb.Helper()
	cmd := exec.Command(bin.sadb, "--target", "unix://"+h.sock, "-o", "json", "watch")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ch := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var v struct {
				Change string `json:"change"`
				ID     uint64 `json:"sa_context_id"`
			}
			if json.Unmarshal(sc.Bytes(), &v) == nil {
				ch <- fmt.Sprintf("%s %d", v.Change, v.ID)
			}
		}
		close(ch)
	}()
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(300 * time.Millisecond) // subscribed
	return ch
}

func expectChange(tb testing.TB, ch <-chan string, want string) {
	tb.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				tb.Fatalf("watch ended before %q", want)
			}
			if c == want {
				return
			}
		case <-timeout:
			tb.Fatalf("no %q from sadb watch", want)
		}
	}
}

// TestLifetimes sets packet and kilobyte lifetimes with the CLI: at 90 %
// sadbd hears of the soft lifetime (WFP has no event type to tell
// subscribers: it is logged for the keying daemon's operator), at 100 %
// the data path stops the SA and the context's DELETE reaches 'sadb
// watch'.
func TestLifetimes(t *testing.T) {
	requireRig(t, "ping")
	for _, tc := range []struct {
		name       string
		extra      []string
		soft, hard []string // ping arguments
	}{
		{"packets", []string{"--packets", "40"}, []string{"-c", "36"}, []string{"-c", "10"}},
		{"kilobytes", []string{"--kilobytes", "20"}, []string{"-c", "18", "-s", "1000"}, []string{"-c", "5", "-s", "1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newRig(t)
			m := gcmTransport
			m.extra = tc.extra
			l := plumb(t, a, b, m)
			changes := a.watch(t)
			a.exec(append(append([]string{"ping", "-n", "-q", "-i", "0.01", "-W", "1"}, tc.soft...), b.v4.String())...)
			time.Sleep(200 * time.Millisecond)
			if !strings.Contains(a.logText(), "SA lifetime nearly spent") {
				t.Errorf("no soft lifetime in sadbd's log")
			}
			a.exec(append(append([]string{"ping", "-n", "-q", "-i", "0.01", "-W", "1"}, tc.hard...), b.v4.String())...)
			expectChange(t, changes, fmt.Sprintf("DELETE %d", l.ctxA))
			if !strings.Contains(a.logText(), "event=hard-lifetime") {
				t.Errorf("no hard lifetime in sadbd's log")
			}
			if got := a.ping(b.v4, 3); got != 0 {
				t.Errorf("%d replies after the hard lifetime", got)
			}
		})
	}
}

// TestExpire expires A's context with the CLI: A's outbound traffic stops
// at once, B's packets still decrypt on A until the 60-second linger
// ends, and afterwards they are dropped as unknown SPIs.
func TestExpire(t *testing.T) {
	requireRig(t, "ping")
	if testing.Short() {
		t.Skip("waits for the 60-second linger")
	}
	a, b := newRig(t)
	l := plumb(t, a, b, gcmTransport)
	if got := a.ping(b.v4, 5); got != 5 {
		t.Fatalf("%d of 5 replies before Expire0", got)
	}
	a.sadb(nil, "ctx", "expire", fmt.Sprint(l.ctxA))
	stop := a.capture("esp or icmp")
	if got := a.ping(b.v4, 5); got != 0 {
		t.Errorf("%d replies after Expire0", got)
	}
	pcap := stop()
	if rows := l.tshark(t, pcap, fmt.Sprintf("esp.spi == 0x%08x || icmp", l.ab.spi), "frame.number"); len(rows) != 0 {
		t.Errorf("A still sent %d packets after Expire0", len(rows))
	}
	v := a.ctxShow(l.ctxA)
	before := v.Inbound.Counters.Packets
	b.ping(a.v4, 5)
	v = a.ctxShow(l.ctxA)
	if v.State != "SA_CONTEXT_EXPIRED" || v.Inbound.Counters.Packets-before != 5 {
		t.Errorf("during the linger: state %s, %d of B's 5 packets decrypted", v.State, v.Inbound.Counters.Packets-before)
	}
	deadline := time.Now().Add(75 * time.Second)
	for {
		if _, err := a.sadbRun("ctx", "show", fmt.Sprint(l.ctxA)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the context outlived the linger")
		}
		time.Sleep(time.Second)
	}
	spis := a.stats().Drops.InvalidSPIs
	b.ping(a.v4, 3)
	if got := a.stats().Drops.InvalidSPIs - spis; got != 3 {
		t.Errorf("after the linger %d of B's 3 packets counted as invalid SPIs", got)
	}
}

// TestNoSA installs IPsec filters without SAs: the traffic they match is
// dropped and counted, and nothing crosses the link in clear.
func TestNoSA(t *testing.T) {
	requireRig(t, "ping", "tcpdump", "tshark")
	a, b := newRig(t)
	a.sadb(nil, "filter", "add-pair", "--local", a.v4.String(), "--remote", b.v4.String())
	a.sadb(nil, "filter", "add-pair", "--tunnel", "--local", subnetA4.String(), "--remote", subnetB4.String())
	stop := a.capture("ip")
	if got := a.ping(b.v4, 5); got != 0 {
		t.Errorf("transport: %d replies without an SA", got)
	}
	if got := a.ping(b.inner4, 5, "-I", a.inner4.String()); got != 0 {
		t.Errorf("tunnel: %d replies without an SA", got)
	}
	pcap := stop()
	l := &link{m: gcmTransport}
	if rows := l.tshark(t, pcap, "ip", "frame.number", "frame.protocols"); len(rows) != 0 {
		t.Errorf("%d packets on the link, first %q", len(rows), rows[0])
	}
	time.Sleep(1200 * time.Millisecond)
	log := a.logText()
	if !strings.Contains(log, "outbound packets dropped: they match an IPsec filter but no SA") || !strings.Contains(log, "total=10") {
		t.Errorf("the drops were not counted in sadbd's log:\n%s", tail(log, 10))
	}
}
