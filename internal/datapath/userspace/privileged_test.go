package userspace

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/wfp"
)

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// subscribe returns a channel of h's SA-context changes.
func (h *host) subscribe(tb testing.TB) chan wfp.IPsecSAContextChange0 {
	tb.Helper()
	ch := make(chan wfp.IPsecSAContextChange0, 16)
	sub, err := h.api.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(c *wfp.IPsecSAContextChange0) {
		select {
		case ch <- *c:
		default:
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.api.IPsecSaContextUnsubscribe0(sub) })
	return ch
}

// expectEvent waits for a data-path event of kind on h.
func (h *host) expectEvent(tb testing.TB, kind datapath.EventKind, id datapath.SAID) datapath.Event {
	tb.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-h.events:
			if ev.Kind == kind && ev.SA == id {
				return ev
			}
		case <-timeout:
			tb.Fatalf("%s: no %v event for %v", h.name, kind, id)
		}
	}
}

func expectDelete(tb testing.TB, ch chan wfp.IPsecSAContextChange0, id uint64) {
	tb.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case c := <-ch:
			if c.ChangeType == wfp.SAContextEventDelete && c.SAContextID == id {
				return
			}
		case <-timeout:
			tb.Fatalf("no DELETE event for context %d", id)
		}
	}
}

func counters(tb testing.TB, h *host, ctx uint64, dir wfp.Direction) wfp.SACounters {
	tb.Helper()
	c, _ := h.be.Counters(datapath.SAID{Context: ctx, Direction: dir})
	return c
}

var gcmTransport = mode{name: "transport-v4-gcm", bundle: gcm, keys: gcmKeys}

func TestPacketLifetime(t *testing.T) {
	requireTool(t, "ping")
	m := gcmTransport
	m.lifetime = wfp.IPsecSALifetime0{LifetimeSeconds: 3600, LifetimePackets: 40}
	a, b := newPair(t, pairOptions{})
	p := plumb(t, a, b, m)
	deletes := a.subscribe(t)
	if got := a.ping(t, b.v4, 30); got != 30 {
		t.Fatalf("%d of 30 replies", got)
	}
	out := datapath.SAID{Context: p.ctxA, Direction: wfp.DirectionOutbound}
	a.ping(t, b.v4, 6) // 36 requests: 90 %
	a.expectEvent(t, datapath.SoftLifetime, out)
	a.ping(t, b.v4, 10) // past 40: the SA stops, the context goes
	a.expectEvent(t, datapath.HardLifetime, out)
	expectDelete(t, deletes, p.ctxA)
	if st := a.be.Stats(); st.OutSAExpired+st.OutNoSA == 0 {
		t.Fatalf("no packet refused after the hard lifetime: %+v", st)
	}
	if got := a.ping(t, b.v4, 3); got != 0 {
		t.Fatalf("%d replies after the hard lifetime", got)
	}
}

func TestByteLifetime(t *testing.T) {
	requireTool(t, "ping")
	m := gcmTransport
	m.lifetime = wfp.IPsecSALifetime0{LifetimeSeconds: 3600, LifetimeKilobytes: 20}
	a, b := newPair(t, pairOptions{})
	p := plumb(t, a, b, m)
	deletes := b.subscribe(t)
	in := datapath.SAID{Context: p.ctxB, Direction: wfp.DirectionInbound}
	// 1028-byte packets: the soft limit (18432 bytes) after 18, the hard
	// one (20480) after 20.
	a.run(t, "ping", "-n", "-q", "-c", "18", "-i", "0.01", "-s", "1000", b.v4.String())
	b.expectEvent(t, datapath.SoftLifetime, in)
	a.run(t, "ping", "-n", "-q", "-c", "4", "-i", "0.01", "-s", "1000", b.v4.String())
	b.expectEvent(t, datapath.HardLifetime, in)
	expectDelete(t, deletes, p.ctxB)
}

func TestSequenceExhausted(t *testing.T) {
	requireTool(t, "ping")
	a, b := newPair(t, pairOptions{cfg: Config{seqLimit: 10}})
	p := plumb(t, a, b, gcmTransport)
	deletes := a.subscribe(t)
	// Both directions have 10 sequence numbers; a stray packet of B's
	// stack may take one of B's.
	if got := a.ping(t, b.v4, 15); got < 9 || got > 10 {
		t.Fatalf("%d replies with 10 sequence numbers (A %+v, B %+v)", got, a.be.Stats(), b.be.Stats())
	}
	if st := a.be.Stats(); st.OutProtected != 10 || st.OutSAExpired+st.OutNoSA < 5 {
		t.Fatalf("A protected %d packets, want 10, and refused %d, want 5", st.OutProtected, st.OutSAExpired+st.OutNoSA)
	}
	a.expectEvent(t, datapath.SequenceExhausted, datapath.SAID{Context: p.ctxA, Direction: wfp.DirectionOutbound})
	expectDelete(t, deletes, p.ctxA)
}

// icmpEcho returns an ICMP echo request (the transport-mode payload).
func icmpEcho(id, seq uint16) []byte {
	m := make([]byte, 8+32)
	m[0] = 8
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], "sadb injected echo request.....")
	var sum uint64
	sum = checksumAdd(sum, m)
	binary.BigEndian.PutUint16(m[2:], ^checksumFold(sum))
	return m
}

// sealer makes ESP packets as the peer would.
type sealer struct{ sa *esp.SA }

func newSealer(tb testing.TB, spi uint32, k wfp.Key) *sealer {
	tb.Helper()
	sa, err := esp.NewSA(esp.Config{Protocol: esp.ProtocolESP, Direction: esp.Outbound, SPI: esp.SPI(spi), Encryption: esp.EncryptionAESGCM128, EncryptionKey: esp.Key(k)})
	if err != nil {
		tb.Fatal(err)
	}
	return &sealer{sa: sa}
}

// next seals the next echo request.
func (s *sealer) next(tb testing.TB) []byte {
	tb.Helper()
	payload := icmpEcho(0x5adb, uint16(s.sa.LastSeq()+1))
	buf := make([]byte, 64+len(payload)+64)
	copy(buf[64:], payload)
	pkt, err := s.sa.Seal(buf, 64, len(payload), protoICMP)
	if err != nil {
		tb.Fatal(err)
	}
	return pkt
}

// inject sends ESP payloads from h (with h's mark, so the packets are not
// captured) to dst; the kernel writes the IPv4 header.
func (h *host) inject(tb testing.TB, dst netip.Addr, pkts ...[]byte) {
	tb.Helper()
	err := inNS(tb, h.ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ESP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, DefaultMark); err != nil {
			return err
		}
		for _, p := range pkts {
			if err := unix.Sendto(fd, p, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
}

func TestInjectedPackets(t *testing.T) {
	a, b := newPair(t, pairOptions{})
	p := plumb(t, a, b, gcmTransport)
	s := newSealer(t, p.spiB, p.keysAB[0])
	pkts := make([][]byte, 201)
	for i := 1; i <= 200; i++ {
		pkts[i] = s.next(t)
	}
	in := datapath.SAID{Context: p.ctxB, Direction: wfp.DirectionInbound}
	accepted := func() uint64 { return counters(t, b, p.ctxB, wfp.DirectionInbound).Packets }
	check := func(name string, want uint64, send ...[]byte) {
		t.Helper()
		before := accepted()
		a.inject(t, b.v4, send...)
		if got := accepted() - before; got != want {
			t.Errorf("%s: %d accepted, want %d (stats %+v)", name, got, want, b.be.Stats())
		}
	}
	check("in order", 2, pkts[1], pkts[2])
	check("replayed", 0, pkts[1], pkts[2])
	check("ahead", 1, pkts[100])
	check("reordered inside the window", 2, pkts[50], pkts[99])
	check("reordered outside the window", 0, pkts[30], pkts[3])
	check("replay of a reordered one", 0, pkts[50])
	tampered := append([]byte(nil), pkts[101]...)
	tampered[20] ^= 0x40
	check("tampered", 0, tampered)
	check("the untampered original still", 1, pkts[101])
	check("truncated", 0, pkts[102][:12], pkts[103][:3])
	wrongSPI := append([]byte(nil), pkts[104]...)
	binary.BigEndian.PutUint32(wrongSPI, p.spiB^0x01000000)
	check("wrong SPI", 0, wrongSPI)

	c := counters(t, b, p.ctxB, wfp.DirectionInbound)
	// The 3-byte packet has no SPI: it counts as malformed, not on the SA.
	if c.ReplayDrops != 5 || c.ICVFailures != 1 || c.OtherDrops != 1 {
		t.Errorf("per-SA counters %+v, want 5 replay drops, 1 ICV failure, 1 other", c)
	}
	var st wfp.IPsecStatistics1
	b.be.Statistics(&st)
	agg := st.AggregateDropPacketStatistics
	if agg.InvalidSPIsOnInbound != 1 || agg.ReplayCheckFailuresOnInbound != 5 || agg.AuthenticationFailuresOnInbound != 1 ||
		agg.DecryptionFailuresOnInbound != 2 || st.ESPDropPacketStatistics.DecryptionFailuresOnInbound != 1 ||
		agg.TotalDropPacketsInbound != 9 {
		t.Errorf("aggregate statistics %+v, ESP %+v", agg, st.ESPDropPacketStatistics)
	}
	if ev := b.expectEvent(t, datapath.ReplayFailures, in); ev.Count == 0 {
		t.Errorf("replay report without a count")
	}
	b.expectEvent(t, datapath.AuthFailures, in)
}

func TestReplayWindow4096(t *testing.T) {
	a, b := newPair(t, pairOptions{cfg: Config{ReplayWindow: 4096}})
	if got := b.be.Features().ReplayWindow; got != 4096 {
		t.Fatalf("features say window %d", got)
	}
	p := plumb(t, a, b, gcmTransport)
	s := newSealer(t, p.spiB, p.keysAB[0])
	pkts := make([][]byte, 5001)
	for i := 1; i <= 5000; i++ {
		pkts[i] = s.next(t)
	}
	a.inject(t, b.v4, pkts[5000], pkts[1000], pkts[904], pkts[905], pkts[900])
	c := counters(t, b, p.ctxB, wfp.DirectionInbound)
	// Window [905, 5000]: 5000, 1000 and 905 pass; 904 and 900 are too old.
	if c.Packets != 3 || c.ReplayDrops != 2 {
		t.Fatalf("counters %+v, want 3 packets and 2 replay drops", c)
	}
}

// capture runs tcpdump on h's link while fn runs and returns the packets
// it saw (one line each) matching expr.
func (h *host) capture(tb testing.TB, expr string, fn func()) []string {
	tb.Helper()
	requireTool(tb, "tcpdump")
	cmd := exec.Command("ip", "netns", "exec", h.name, "tcpdump", "-l", "-n", "-i", h.link, "--immediate-mode", "-U", expr)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	fn()
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(unix.SIGINT)
	cmd.Wait()
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestNoSADropsNeverClear(t *testing.T) {
	requireTool(t, "ping")
	a, b := newPair(t, pairOptions{})
	if _, _, err := conformance.TransportFilters(a.api, a.v4, b.v4); err != nil {
		t.Fatal(err)
	}
	var got int
	seen := b.capture(t, "icmp or esp", func() { got = a.ping(t, b.v4, 5) })
	if got != 0 || len(seen) != 0 {
		t.Fatalf("%d replies; on the wire: %q", got, seen)
	}
	if st := a.be.Stats(); st.OutNoSA < 5 {
		t.Fatalf("drops not counted: %+v", st)
	}
}

func TestPermitAndBlockFilters(t *testing.T) {
	requireTool(t, "ping")
	a, b := newPair(t, pairOptions{})
	if _, _, err := conformance.TransportFilters(a.api, a.v4, b.v4); err != nil {
		t.Fatal(err)
	}
	icmp := func(action wfp.ActionType, weight uint8) uint64 {
		id, err := a.api.FwpmFilterAdd0(&wfp.FwpmFilter0{
			DisplayData: wfp.FwpmDisplayData0{Name: "ICMP " + action.String()},
			LayerKey:    wfp.LayerOutboundTransportV4,
			Weight:      wfp.FwpValue0{Type: wfp.DataTypeUint8, Uint8: weight},
			FilterCondition: []wfp.FwpmFilterCondition0{
				wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(protoICMP)),
			},
			Action: wfp.FwpmAction0{Type: action},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	permit := icmp(wfp.ActionPermit, 10)
	if got := a.ping(t, b.v4, 5); got != 5 {
		t.Fatalf("ICMP exemption: %d of 5 replies (%+v)", got, a.be.Stats())
	}
	if st := a.be.Stats(); st.OutClear < 5 {
		t.Fatalf("clear packets not counted: %+v", st)
	}
	block := icmp(wfp.ActionBlock, 12)
	if got := a.ping(t, b.v4, 3); got != 0 {
		t.Fatalf("BLOCK let %d through", got)
	}
	if st := a.be.Stats(); st.OutBlocked < 3 {
		t.Fatalf("blocked packets not counted: %+v", st)
	}
	for _, id := range []uint64{block, permit} {
		if err := a.api.FwpmFilterDeleteById0(id); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.ping(t, b.v4, 3); got != 0 {
		t.Fatalf("without the exemption and without an SA, %d replies", got)
	}
}

func TestExpireLinger(t *testing.T) {
	requireTool(t, "ping")
	a, b := newPair(t, pairOptions{linger: 6 * time.Second})
	p := plumb(t, a, b, gcmTransport)
	if got := a.ping(t, b.v4, 5); got != 5 {
		t.Fatalf("%d of 5 replies", got)
	}
	if err := a.api.IPsecSaContextExpire0(p.ctxA); err != nil {
		t.Fatal(err)
	}
	// A sends nothing protected any more...
	noSA := a.be.Stats().OutNoSA
	if got := a.ping(t, b.v4, 3); got != 0 {
		t.Fatalf("%d replies after Expire0", got)
	}
	if a.be.Stats().OutNoSA < noSA+3 {
		t.Fatalf("outbound traffic not stopped: %+v", a.be.Stats())
	}
	// ...but still decrypts what B sends until the linger ends.
	before := counters(t, a, p.ctxA, wfp.DirectionInbound).Packets
	b.ping(t, a.v4, 3)
	if got := counters(t, a, p.ctxA, wfp.DirectionInbound).Packets - before; got != 3 {
		t.Fatalf("A decrypted %d of B's 3 requests during the linger", got)
	}
	if !waitFor(10*time.Second, func() bool {
		_, ok := a.be.Counters(datapath.SAID{Context: p.ctxA, Direction: wfp.DirectionInbound})
		return !ok
	}) {
		t.Fatal("the inbound SA outlived the linger")
	}
	spi := a.be.Stats().InInvalidSPI
	b.ping(t, a.v4, 2)
	if a.be.Stats().InInvalidSPI < spi+2 {
		t.Fatalf("after the linger B's packets were not dropped as unknown SPIs: %+v", a.be.Stats())
	}
}

func TestSelectorMismatch(t *testing.T) {
	// B protects traffic to A with a tunnel whose inner selectors A does
	// not agree with: A must drop what decrypts to other addresses.
	requireTool(t, "ping")
	a, b := newPair(t, pairOptions{})
	p := plumb(t, a, b, mode{name: "tunnel-v4-gcm", tunnel: true, bundle: gcm, keys: gcmKeys})
	// A packet from B's inner address to an address of A outside A's
	// subnet, sealed with B's outbound keys.
	s, err := esp.NewSA(esp.Config{Protocol: esp.ProtocolESP, Direction: esp.Outbound, SPI: esp.SPI(p.spiA), Encryption: esp.EncryptionAESGCM128, EncryptionKey: esp.Key(p.keysBA[0])})
	if err != nil {
		t.Fatal(err)
	}
	inner := make([]byte, 20+40)
	inner[0], inner[8], inner[9] = 0x45, 64, protoICMP
	esp.IPv4(inner).SetTotalLength(uint16(len(inner)))
	copy(inner[12:], innerB4.AsSlice())
	copy(inner[16:], netip.MustParseAddr("192.0.2.1").AsSlice()) // not in 198.51.100.0/24
	esp.IPv4(inner).UpdateChecksum()
	copy(inner[20:], icmpEcho(1, 1))
	buf := make([]byte, 64+len(inner)+64)
	copy(buf[64:], inner)
	pkt, err := s.Seal(buf, 64, len(inner), esp.ProtoIPv4)
	if err != nil {
		t.Fatal(err)
	}
	b.inject(t, a.v4, pkt)
	if st := a.be.Stats(); st.InSelector != 1 || st.InAccepted != 0 {
		t.Fatalf("stats %+v, want one selector mismatch", st)
	}
	var st wfp.IPsecStatistics1
	a.be.Statistics(&st)
	if st.AggregateDropPacketStatistics.ReceiveOverIncorrectSAInbound != 1 {
		t.Fatalf("aggregate %+v", st.AggregateDropPacketStatistics)
	}
}

func TestUpdateSAKeepsState(t *testing.T) {
	requireTool(t, "ping")
	a, b := newPair(t, pairOptions{})
	p := plumb(t, a, b, gcmTransport)
	if got := a.ping(t, b.v4, 5); got != 5 {
		t.Fatalf("%d of 5", got)
	}
	sc, err := a.api.IPsecSaContextGetById1(p.ctxA)
	if err != nil {
		t.Fatal(err)
	}
	sc.OutboundSA.SABundle.Flags = wfp.SABundleFlagNLB
	sc.InboundSA.SABundle.Flags = wfp.SABundleFlagNLB
	if err := a.api.IPsecSaContextUpdate0(wfp.SABundleUpdateFlags, sc); err != nil {
		t.Fatal(err)
	}
	if got := a.ping(t, b.v4, 5); got != 5 {
		t.Fatalf("after the update %d of 5 (%+v / %+v)", got, a.be.Stats(), b.be.Stats())
	}
	if c := counters(t, a, p.ctxA, wfp.DirectionOutbound); c.Packets != 10 {
		t.Fatalf("counters after the update: %+v", c)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	requireTool(t, "ping")
	opt := goleak.IgnoreCurrent()
	a, b := newPair(t, pairOptions{noTUN: true})
	for _, h := range []*host{a, b} {
		h.start(t, pairOptions{})
	}
	plumb(t, a, b, mode{name: "tunnel-v4-udp-gcm", tunnel: true, udp: true, bundle: gcm, keys: gcmKeys})
	if got := a.ping(t, innerB4, 5); got != 5 {
		t.Fatalf("%d of 5", got)
	}
	for _, h := range []*host{a, b} {
		h.api.FwpmEngineClose0()
		h.eng.Close()
		if err := h.be.Close(); err != nil {
			t.Fatal(err)
		}
		h.be.Close() // twice is fine
	}
	// The backend's own TUN device has no goroutines of its own.
	if err := goleak.Find(opt); err != nil {
		t.Fatal(err)
	}
	rules := a.mustRun(t, "ip", "rule", "show")
	routes := a.mustRun(t, "ip", "route", "show", "table", "all")
	links := a.mustRun(t, "ip", "link", "show")
	if strings.Contains(rules, fmt.Sprintf("%#x", DefaultMark)) || strings.Contains(routes, "sadb0") || strings.Contains(links, "sadb0") {
		t.Fatalf("left behind:\n%s\n%s\n%s", rules, routes, links)
	}
}

func TestNATKeepalives(t *testing.T) {
	a, b := newPair(t, pairOptions{cfg: Config{KeepaliveInterval: 500 * time.Millisecond}})
	plumb(t, a, b, mode{name: "transport-v4-udp-gcm", udp: true, bundle: gcm, keys: gcmKeys})
	// Idle SAs: each side sends a one-byte keepalive every interval (the
	// housekeeping looks once a second).
	seen := b.capture(t, "udp port 4500 and udp[4:2] = 9", func() { time.Sleep(2500 * time.Millisecond) })
	var fromA, fromB int
	for _, l := range seen {
		switch {
		case strings.Contains(l, addrA4.String()+".4500 > "):
			fromA++
		case strings.Contains(l, addrB4.String()+".4500 > "):
			fromB++
		}
	}
	if fromA < 2 || fromB < 2 {
		t.Fatalf("keepalives: %d from A, %d from B in 2.5 s:\n%s", fromA, fromB, strings.Join(seen, "\n"))
	}
}

// The sockets' buffers are sockBuffer, past net.core.rmem_max and
// wmem_max when those are lower (the kernel reports twice what was set).
func TestSocketBuffers(t *testing.T) {
	requireRoot(t)
	for _, open := range []func() (*sock, error){
		func() (*sock, error) { return openRaw(false, unix.IPPROTO_ESP, 0, true) },
		func() (*sock, error) { return openUDP(0, 0) },
	} {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		var rcv, snd int
		err = s.rc.Control(func(fd uintptr) {
			rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		})
		if err == nil {
			err = s.out.rc.Control(func(fd uintptr) { // the sending socket
				snd, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
			})
		}
		s.close()
		if err != nil {
			t.Fatal(err)
		}
		if rcv < 2*sockBuffer || snd < 2*sockBuffer {
			t.Errorf("receive buffer %d, send buffer %d; want %d each", rcv, snd, 2*sockBuffer)
		}
	}
}

// A raw socket's reader waits in a blocking recvmmsg; closing the socket
// must wake it at once (shutdown), not at its receive timeout, and leave
// the sending twin closed too.
func TestRawReaderWakesOnClose(t *testing.T) {
	requireRoot(t)
	s, err := openRaw(false, unix.IPPROTO_ESP, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if !s.blocking || !s.out.blocking || s.out == s {
		t.Fatal("a raw socket is in the poller or sends on itself")
	}
	m := newMmsgs(4)
	bufs := make([][]byte, 4)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	done := make(chan error, 1)
	go func() {
		n, err := m.recv(s, bufs, 0)
		if err == nil {
			err = fmt.Errorf("%d messages, the first %d bytes", n, m.hdrs[0].Len)
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the reader is in recvmmsg
	start := time.Now()
	s.close()
	select {
	case err := <-done:
		if !errClosed(err) {
			t.Errorf("recv after close: %v, want a closed-socket error", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("the reader woke %v after close: by its timeout, not by shutdown", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the reader did not return after close")
	}
	if !s.out.closed.Load() {
		t.Error("the sending twin is still open")
	}
}
