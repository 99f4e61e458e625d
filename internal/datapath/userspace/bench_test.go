package userspace

import (
	"encoding/binary"
	"net/netip"
	"os"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/wfp"
)

// The per-batch cost of the backend's packet loops, everything but the
// system calls themselves: for outbound batches the split of super-
// packets, the SPD and SA lookups, lifetime accounting, ESP and the outer
// headers, and building the sendmmsg messages (UDP GSO runs); for inbound
// batches the coalesced datagrams' split, the SPI lookup, replay check,
// ICV, decryption, header rebuild, selector check and accounting, then the
// in-place coalescing (with checksum checks) and the virtio-net headers
// for the TUN writes. Each reports ns/packet; allocs/op must be 0
// (TestBatchAllocs).

const benchSize = 1400

type benchCase struct {
	name   string
	tunnel bool
	udp    bool
	bundle func(spi uint32) *wfp.IPsecSABundle1
}

func gcmBench(spi uint32) *wfp.IPsecSABundle1 {
	return conformance.GCMBundle(wfp.IPVersionV4, spi, fuzzESPKey)
}

var benchCases = []benchCase{
	{"transport-gcm128", false, false, gcmBench},
	{"tunnel-gcm128", true, false, gcmBench},
	{"tunnel-gcm128-udp", true, true, gcmBench},
	{"tunnel-cbc128-sha256", true, false, func(spi uint32) *wfp.IPsecSABundle1 {
		return conformance.CBCBundle(wfp.IPVersionV4, spi, fuzzESPKey[:16], append(append(wfp.Key{}, fuzzESPKey...), fuzzAHKey[:12]...))
	}},
}

// benchSA describes one direction of the benchmark's SA between A and B.
func benchSA(c benchCase, dir wfp.Direction) *datapath.SA {
	var f *wfp.FwpmFilter0
	var t wfp.IPsecTraffic1
	if c.tunnel {
		f = conformance.TunnelFilter(dir, subnetA4, subnetB4)
		f.FilterID = 9
		t = conformance.TunnelTraffic(addrA4, addrB4, 9)
	} else {
		f = conformance.TransportFilter(dir, addrA4, addrB4)
		f.FilterID = 9
		t = conformance.TransportTraffic(addrA4, addrB4, 9)
	}
	f.EffectiveWeight = wfp.Uint64Value(1)
	sa := &datapath.SA{ID: datapath.SAID{Context: 1, Direction: dir}, Traffic: t, Filter: f, Bundle: c.bundle(fuzzSPI)}
	if c.udp {
		sa.UDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4500}
	}
	return sa
}

// benchPacket is a UDP packet of benchSize bytes from A to B.
func benchPacket(c benchCase) []byte {
	src, dst := addrA4, addrB4
	if c.tunnel {
		src, dst = innerA4, innerB4
	}
	udp := make([]byte, benchSize-20)
	udp[0], udp[1], udp[2], udp[3] = 0x13, 0x88, 0x13, 0x89
	udp[4], udp[5] = byte(len(udp)>>8), byte(len(udp))
	return ipPacket(src, dst, protoUDP, udp)
}

// superTCP is what the local stack hands the TUN device for one TCP send:
// a super-packet of n payload bytes from A to B (inner addresses in
// tunnel mode), MSS mss, timestamps on, and its virtio-net header.
func superTCP(c benchCase, n, mss int) ([]byte, vnetHdr) {
	src, dst := addrA4, addrB4
	if c.tunnel {
		src, dst = innerA4, innerB4
	}
	tcp := make([]byte, 32+n)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], 77)
	tcp[12], tcp[13] = 8<<4, tcpFlagACK|tcpFlagPSH
	binary.BigEndian.PutUint16(tcp[14:], 512)
	tcp[20], tcp[21], tcp[22], tcp[23] = 1, 1, 8, 10 // NOP NOP timestamps
	for i := range n {
		tcp[32+i] = byte(i)
	}
	pkt := ipPacket(src, dst, protoTCP, tcp)
	// As the kernel leaves it: the pseudo-header sum in the checksum.
	binary.BigEndian.PutUint16(tcp[16:], fold64(pseudoSum(pkt[12:16], pkt[16:20], protoTCP, len(tcp))))
	copy(pkt[20:], tcp)
	return pkt, vnetHdr{flags: unix.VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: unix.VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 52,
		gsoSize: uint16(mss), csumStart: 20, csumOffset: 16}
}

// dummySock returns a sock whose system calls the benchmarks replace: an
// unbound UDP socket.
func dummySock(tb testing.TB, udp bool) *sock {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := newSock(fd, false, udp, 4500)
	if err != nil {
		tb.Fatal(err)
	}
	s.gso.Store(true)
	tb.Cleanup(func() { s.close() })
	return s
}

// benchOut is an offline outbound goroutine and sender whose sendmmsg is
// a no-op.
type benchOut struct {
	be  *Backend
	o   *outbound
	x   *sender
	pkt []byte
}

func newBenchOut(tb testing.TB, c benchCase) *benchOut {
	tb.Helper()
	be := offline(tb)
	be.raw4 = dummySock(tb, false)
	sa := benchSA(c, wfp.DirectionOutbound)
	fi := compileFilter(sa.Filter)
	be.tab.spd[0].add(fi.rule)
	d, err := be.newBundle(sa)
	if err != nil {
		tb.Fatal(err)
	}
	d.pmtu = 65535
	if c.udp {
		d.usock = dummySock(tb, true)
	}
	be.insertLocked(d)
	o := newOutbound(be, nil)
	x := o.x
	x.sendFn = func(uintptr) bool { x.sent = x.count; return true }
	return &benchOut{be: be, o: o, x: x, pkt: benchPacket(c)}
}

// packets handles n packets as n reads of the device would, then sends
// the batch.
func (bo *benchOut) packets(n int) {
	o := bo.o
	var h vnetHdr
	for range n {
		p := o.cur.used + headroom
		copy(o.cur.arena[p:], bo.pkt)
		o.handle(&h, p, len(bo.pkt))
	}
	bo.send()
}

// super handles one super-packet as a read of the device would, then
// sends the batch.
func (bo *benchOut) super(pkt []byte, h *vnetHdr) {
	o := bo.o
	p := o.cur.used + headroom
	n := copy(o.cur.arena[p:p+o.mtu], pkt)
	copy(o.spill[o.mtu:], pkt[n:])
	o.handle(h, p, len(pkt))
	bo.send()
}

func (bo *benchOut) send() { bo.o.ship() }

const benchBatch = 64

func BenchmarkOutboundBatch(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			bo := newBenchOut(b, c)
			b.SetBytes(benchSize * benchBatch)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				bo.packets(benchBatch)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/packet")
			if got := bo.be.Stats().OutProtected; got != uint64(b.N*benchBatch) {
				b.Fatalf("protected %d of %d: %+v", got, b.N*benchBatch, bo.be.Stats())
			}
		})
		b.Run(c.name+"-tso", func(b *testing.B) {
			bo := newBenchOut(b, c)
			pkt, h := superTCP(c, 65000-52, 1368)
			segs := (65000 - 52 + 1367) / 1368
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				bo.super(pkt, &h)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*segs), "ns/packet")
			if got := bo.be.Stats().OutProtected; got != uint64(b.N*segs) {
				b.Fatalf("protected %d of %d: %+v", got, b.N*segs, bo.be.Stats())
			}
		})
	}
}

// benchIn is an offline receiver and TUN writer whose write is a no-op,
// with a ring of sealed messages as the socket would return them.
type benchIn struct {
	be    *Backend
	in    *inbound
	w     *tunWriter
	d     *bundle
	inCfg esp.Config
	ring  [][]byte // ESP (UDP) or IPv4 packets (raw) of one batch each: coalesced for UDP
	gso   int      // UDP: the segment size of a ring entry; raw: 0
	msgs  int      // messages per batch
	pkts  int      // packets per batch
	next  int
}

func newBenchIn(tb testing.TB, c benchCase, tcp bool) *benchIn {
	tb.Helper()
	be := offline(tb)
	sa := benchSA(c, wfp.DirectionInbound)
	// B's view: local B, remote A; the filter's conditions swap.
	sa.Traffic.LocalV4Address, sa.Traffic.RemoteV4Address = sa.Traffic.RemoteV4Address, sa.Traffic.LocalV4Address
	if c.tunnel {
		sa.Filter = conformance.TunnelFilter(wfp.DirectionInbound, subnetB4, subnetA4)
	} else {
		sa.Filter = conformance.TransportFilter(wfp.DirectionInbound, addrB4, addrA4)
	}
	sa.Filter.FilterID = 9
	d, err := be.newBundle(sa)
	if err != nil {
		tb.Fatal(err)
	}
	be.insertLocked(d)
	bi := &benchIn{be: be, d: d, inCfg: d.st.esp.Config(), msgs: benchBatch, pkts: benchBatch}
	bi.inCfg.EncryptionKey, bi.inCfg.IntegrityKey = espKeys(c)
	s := &sock{udp: c.udp}
	if c.udp {
		s.gro = true
	}
	bi.in = newInbound(be, s, protoESP, benchBatch)
	f, err := os.Open(os.DevNull)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	dev := &tunDev{f: f, uso: true}
	if dev.rc, err = f.SyscallConn(); err != nil {
		tb.Fatal(err)
	}
	be.dev = dev
	bi.w = newTUNWriter(dev)
	bi.w.fn = func(uintptr) bool { return true }

	// What A sends: the inner packets (TCP segments of one flow, or UDP
	// datagrams), sealed in order.
	cfg := d.st.esp.Config()
	cfg.Direction, cfg.ReplayWindow = esp.Outbound, 0
	cfg.EncryptionKey, cfg.IntegrityKey = espKeys(c)
	out, err := esp.NewSA(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var inner [][]byte
	if tcp {
		sp, h := superTCP(c, 1368*47, 1368) // a 64 KiB TCP send
		x, err := parseSuper(&h, sp)
		if err != nil {
			tb.Fatal(err)
		}
		for i := range x.segments {
			seg := make([]byte, x.segmentLen(i))
			x.segment(i, seg)
			inner = append(inner, seg)
		}
	} else {
		for range benchBatch {
			inner = append(inner, benchPacket(c))
		}
	}
	const ringBatches = 16
	for range ringBatches {
		var msg []byte
		for _, in := range inner {
			buf := make([]byte, 256+len(in)+64)
			start, n, nh := 192, len(in), uint8(esp.ProtoIPv4)
			copy(buf[start:], in)
			if !c.tunnel {
				start, n, nh = 192+20, len(in)-20, in[9]
			}
			e, err := out.Seal(buf, start, n, nh)
			if err != nil {
				tb.Fatal(err)
			}
			if c.udp {
				// Coalesced as UDP GRO does: up to 64 KiB per message.
				if len(msg)+len(e) > 65535 {
					bi.ring = append(bi.ring, msg)
					msg = nil
				}
				bi.gso = len(e)
				msg = append(msg, e...)
				continue
			}
			pkt, _ := esp.PrependIPv4(buf, start-out.HeaderLen(), len(e), &esp.IPv4Fields{Protocol: esp.ProtoESP, Src: addrA4, Dst: addrB4})
			bi.ring = append(bi.ring, pkt)
		}
		if c.udp {
			bi.ring = append(bi.ring, msg)
		}
	}
	bi.msgs, bi.pkts = len(bi.ring)/ringBatches, len(inner)
	return bi
}

// setReceived makes message i of m look as recvmmsg left it: n bytes from
// src to dst, coalesced datagrams of gso bytes if gso > 0.
func setReceived(m *mmsgs, i, n int, src netip.AddrPort, dst netip.Addr, gso int) {
	m.hdrs[i].Len = uint32(n)
	m.hdrs[i].Hdr.Flags = 0
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.names[i]))
	*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: src.Addr().As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], src.Port())
	oob := m.oob[i*cmsgSpace : (i+1)*cmsgSpace]
	clear(oob)
	c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	c.Level, c.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
	c.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	pi.Addr = dst.As4()
	l := unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	if gso > 0 {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[l]))
		c.Level, c.Type = unix.SOL_UDP, unix.UDP_GRO
		c.SetLen(unix.CmsgLen(4))
		binary.NativeEndian.PutUint32(oob[l+unix.CmsgLen(0):], uint32(gso))
		l += unix.CmsgSpace(4)
	}
	m.hdrs[i].Hdr.SetControllen(l)
}

// renew replaces the inbound SA with a fresh one with the same keys once
// the ring is used up, so that its sequence numbers are new again.
func (bi *benchIn) renew(tb testing.TB) {
	if bi.next < len(bi.ring) {
		return
	}
	sa, err := esp.NewSA(bi.inCfg)
	if err != nil {
		tb.Fatal(err)
	}
	bi.d.st.esp = sa
	bi.next = 0
}

// batch receives, opens, coalesces and writes one batch.
func (bi *benchIn) batch(tb testing.TB) {
	in := bi.in
	bi.renew(tb)
	for i := range bi.msgs {
		msg := bi.ring[bi.next]
		bi.next++
		copy(in.cur.bufs[i][headroom:], msg)
		setReceived(in.m, i, len(msg), netip.AddrPortFrom(addrA4, 4500), addrB4, bi.gso)
	}
	in.process(bi.msgs)
	bi.be.writeBatch(bi.w, in.cur)
	in.cur.pkts = in.cur.pkts[:0]
}

func BenchmarkInboundBatch(b *testing.B) {
	for _, c := range benchCases {
		for _, tcp := range []bool{false, true} {
			name := c.name + "-udp1400"
			if tcp {
				name = c.name + "-tcp"
			}
			b.Run(name, func(b *testing.B) {
				bi := newBenchIn(b, c, tcp)
				b.SetBytes(int64(benchSize * bi.pkts))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if bi.next == len(bi.ring) {
						b.StopTimer()
						bi.renew(b)
						b.StartTimer()
					}
					bi.batch(b)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bi.pkts), "ns/packet")
				if got := bi.be.Stats().InAccepted; got != uint64(b.N*bi.pkts) {
					b.Fatalf("accepted %d of %d: %+v", got, b.N*bi.pkts, bi.be.Stats())
				}
			})
		}
	}
}

// TestBatchAllocs checks that the outbound and inbound batch loops
// allocate nothing per packet once warm (STYLE rule 11).
func TestBatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, c := range benchCases {
		t.Run(c.name, func(t *testing.T) {
			bo := newBenchOut(t, c)
			bo.packets(benchBatch)
			if n := testing.AllocsPerRun(50, func() { bo.packets(benchBatch) }); n != 0 {
				t.Errorf("outbound batch of %d packets: %.1f allocations", benchBatch, n)
			}
			pkt, h := superTCP(c, 65000-52, 1368)
			bo.super(pkt, &h)
			if n := testing.AllocsPerRun(50, func() { bo.super(pkt, &h) }); n != 0 {
				t.Errorf("outbound super-packet: %.1f allocations", n)
			}
			for _, tcp := range []bool{false, true} {
				bi := newBenchIn(t, c, tcp)
				bi.batch(t)
				if n := testing.AllocsPerRun(10, func() { bi.batch(t) }); n != 0 {
					t.Errorf("inbound batch (tcp %v): %.1f allocations", tcp, n)
				}
				// One warm-up, and AllocsPerRun's own warm-up and runs.
				if got := bi.be.Stats().InAccepted; got != uint64(12*bi.pkts) {
					t.Errorf("inbound batch (tcp %v): accepted %d of %d: %+v", tcp, got, 12*bi.pkts, bi.be.Stats())
				}
			}
		})
	}
}

// espKeys returns the ESP keys of a benchmark case.
func espKeys(c benchCase) (enc, integ esp.Key) {
	sa := c.bundle(fuzzSPI).SAList[0].ESPAuthAndCipherInformation
	enc = esp.Key(sa.SACipherInformation.CipherKey)
	if k := sa.SAAuthInformation.AuthKey; len(k) > 0 {
		integ = esp.Key(k)
	}
	return enc, integ
}

// TestOutboundBatchSends checks what the sender hands the kernel for a
// batch: ESP-in-UDP datagrams to one peer go as UDP GSO runs of at most
// maxGSOSegments, plain ESP one message per packet.
func TestOutboundBatchSends(t *testing.T) {
	for _, c := range benchCases {
		t.Run(c.name, func(t *testing.T) {
			bo := newBenchOut(t, c)
			var msgs, segs []int
			var size int
			x := bo.x
			x.sendFn = func(uintptr) bool {
				size = int(x.iovs[0].Len)
				for i := range x.count {
					msgs = append(msgs, int(x.hdrs[i].Hdr.Iovlen))
					segs = append(segs, x.segs[i])
				}
				x.sent = x.count
				return true
			}
			bo.packets(100)
			want := []int{}
			for range 100 {
				want = append(want, 1)
			}
			if c.udp {
				// Runs of at most 64 datagrams and 64 KiB.
				run := min(maxGSOSegments, maxGSOBytes/size)
				want = []int{run, run, 100 - 2*run}
			}
			if !slices.Equal(segs, want) {
				t.Fatalf("datagrams per message %v, want %v", segs, want)
			}
			if !c.udp {
				return
			}
			// Datagrams too large for the path MTU go one by one: only
			// those may be fragmented.
			d := bo.be.tab.all.Get(datapath.SAID{Context: 1, Direction: wfp.DirectionOutbound})
			d.pmtu = 1400
			msgs, segs = nil, nil
			bo.packets(10)
			if len(segs) != 10 || slices.Max(segs) != 1 {
				t.Fatalf("with a 1400-byte path MTU: datagrams per message %v", segs)
			}
		})
	}
}
