package userspace

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/sadb-dev/sadb/internal/esp"
)

// The inbound path, run to completion by one goroutine per socket:
//
//	socket ──recvmmsg (UDP: coalesced runs, UDP_GRO)──▶ SPI, replay, ICV,
//	decryption, selectors, lifetime, in place in the batch ──▶ runs of one
//	TCP or UDP flow coalesced in place into super-packets ──▶ one TUN
//	write each
//
// The batch is ibatchRegions regions of regionSize bytes; recvmmsg puts
// one message at headroom in each. A coalesced message holds several ESP
// packets back to back; each is opened in place, and the inner packets
// stay where they are until the coalescing moves their payloads (see
// offload.go). The goroutine reuses its batch: while it writes to the TUN
// device, its socket's buffer holds what arrives.

// ibatch is a batch of received messages and the inner packets they
// delivered, in order.
type ibatch struct {
	arena []byte
	bufs  [][]byte // the regions, for recvmmsg
	pkts  []dpkt
}

// dpkt is a delivered inner packet, arena[start:end], which may grow up to
// limit (the end of its region) when the writer coalesces.
type dpkt struct {
	start, end, limit int
}

// Batch sizes of the inbound path.
const (
	regionSize    = headroom + 65535 + tailroom
	ibatchRegions = 32
)

func newIbatch(regions int) *ibatch {
	bt := &ibatch{arena: make([]byte, regions*regionSize), bufs: make([][]byte, regions), pkts: make([]dpkt, 0, regions)}
	for i := range bt.bufs {
		bt.bufs[i] = bt.arena[i*regionSize : (i+1)*regionSize]
	}
	return bt
}

// inbound is the state of one socket's receiver goroutine: it receives ESP
// (raw or in UDP) or AH, removes the protection, checks the inner packet
// against the SA's selectors and queues it for the TUN device. It belongs
// to that goroutine alone.
type inbound struct {
	b     *Backend
	s     *sock
	proto uint8 // protoESP (raw or UDP) or protoAH
	m     *mmsgs
	cur   *ibatch
	w     *tunWriter // nil offline
	base  int        // arena offset of the region being handled
	fl    flow
	now   int64
	c     tally
}

func newInbound(b *Backend, s *sock, proto uint8, regions int) *inbound {
	in := &inbound{b: b, s: s, proto: proto, m: newMmsgs(regions), cur: newIbatch(regions)}
	if b.dev != nil {
		in.w = newTUNWriter(b.dev)
	}
	return in
}

func (b *Backend) inboundLoop(in *inbound) {
	defer b.wg.Done()
	var lastErr time.Time
	for {
		n, err := in.m.recv(in.s, in.cur.bufs, headroom)
		if err != nil {
			if errClosed(err) || state(b.state.Load()) != stateUp {
				return
			}
			if time.Since(lastErr) > time.Second {
				b.log.Warn("receiving failed", "protocol", protoName(in.proto), "udp", in.s.udp, "err", err)
				lastErr = time.Now()
			}
			continue
		}
		if in.process(n) {
			b.wake()
		}
		b.writeBatch(in.w, in.cur)
		in.cur.pkts = in.cur.pkts[:0]
	}
}

// process handles the n messages just received into the current batch,
// and reports whether an SA event was raised.
func (in *inbound) process(n int) bool {
	b := in.b
	in.now = time.Now().Unix()
	raised := false
	for i := range n {
		size, src, dst, gso, trunc := in.m.received(i)
		if trunc || size <= 0 {
			b.stats.inMalformed.Add(1)
			continue
		}
		in.base = i * regionSize
		buf := in.cur.bufs[i]
		if gso <= 0 || gso >= size {
			raised = in.message(buf, headroom, size, src, dst) || raised
			continue
		}
		for off := 0; off < size; off += gso {
			raised = in.message(buf, headroom+off, min(gso, size-off), src, dst) || raised
		}
	}
	in.c.flush(&b.stats)
	return raised
}

// outer is what the receiver knows of the packet around ESP or AH.
type outer struct {
	v6       bool
	src, dst netip.Addr
	udp      bool
	tos, ttl uint8
}

// message handles one received message at buf[off:off+size].
func (in *inbound) message(buf []byte, off, size int, src netip.AddrPort, dst netip.Addr) bool {
	b := in.b
	o := outer{v6: in.s.v6, udp: in.s.udp, src: src.Addr().Unmap(), dst: dst.Unmap(), ttl: esp.DefaultTTL}
	start, end := off, off+size
	if !in.s.v6 && !in.s.udp {
		// IPv4 raw sockets hand over the IP header too.
		ip := esp.IPv4(buf[start:end])
		if !ip.IsValid(size) {
			b.stats.inMalformed.Add(1)
			return false
		}
		o.src, o.dst, o.tos, o.ttl = ip.Source(), ip.Destination(), ip[1], ip.TTL()
		if in.proto == protoESP {
			end = start + int(ip.TotalLength())
			start += ip.HeaderLength()
		} else {
			end = start + int(ip.TotalLength())
		}
	}
	if in.s.udp {
		kind, payload := esp.ClassifyUDP(buf[start:end])
		switch kind {
		case esp.UDPESP:
		case esp.UDPIKE, esp.UDPKeepalive:
			return false // not ours: IKE belongs to the keying daemon
		default:
			b.stats.inUDPInvalid.Add(1)
			return false
		}
		start = end - len(payload)
	}
	if !o.dst.IsValid() {
		b.stats.inMalformed.Add(1)
		return false
	}
	if in.proto == protoAH {
		return in.ah(buf, start, end, &o)
	}
	return in.esp(buf, start, end, &o, nil)
}

// ah handles an AH packet: buf[start:end] is the whole IPv4 packet, or for
// IPv6 what follows the IPv6 header (which is rebuilt in front of it).
func (in *inbound) ah(buf []byte, start, end int, o *outer) bool {
	b := in.b
	if o.v6 {
		pkt, err := esp.PrependIPv6(buf, start, end-start, &esp.IPv6Fields{NextHeader: esp.ProtoAH, Src: o.src, Dst: o.dst})
		if err != nil {
			b.stats.inMalformed.Add(1)
			return false
		}
		start = end - len(pkt)
	}
	pkt := buf[start:end]
	h, err := esp.ParseIPHeaders(pkt)
	if err != nil || h.Protocol != esp.ProtoAH || len(pkt) < h.Len+esp.AHHeaderSize {
		b.stats.inMalformed.Add(1)
		return false
	}
	spi := binary.BigEndian.Uint32(pkt[h.Len+4:])
	d := b.tab.in.Get(spiKey{protoAH, spi})
	if d == nil || d.st.ah == nil {
		b.stats.ahInvalidSPI.Add(1)
		return false
	}
	st := d.st
	if st.dead.Load() {
		b.stats.inSAExpired.Add(1)
		st.otherDrops.Add(1)
		return false
	}
	if o.udp {
		b.stats.inUDPInvalid.Add(1)
		st.otherDrops.Add(1)
		return false
	}
	out, nh, err := st.ah.OpenAH(pkt)
	if err != nil {
		return in.fail(d, err, true)
	}
	start += cap(pkt) - cap(out) // out is a sub-slice of pkt
	end = start + len(out)
	if st.esp != nil {
		// ESP inside AH (the ESP+AH bundle).
		oh, err := esp.ParseIPHeaders(out)
		if err != nil || nh != esp.ProtoESP {
			b.stats.inBundleMismatch.Add(1)
			st.otherDrops.Add(1)
			return false
		}
		if !o.v6 {
			o.tos, o.ttl = out[1], out[8]
		}
		return in.esp(buf, start+oh.Len, start+oh.PacketLen, o, d)
	}
	in.c.inAHAuth += uint64(len(out))
	if d.tunnel {
		oh, err := esp.ParseIPHeaders(out)
		if err != nil {
			b.stats.inMalformed.Add(1)
			st.otherDrops.Add(1)
			return false
		}
		return in.deliver(d, buf, start+oh.Len, start+oh.PacketLen, nh, o)
	}
	return in.accept(d, buf, start, end)
}

// esp handles the ESP packet buf[start:end]. via is the bundle whose AH
// carried it, nil for ESP received on its own.
func (in *inbound) esp(buf []byte, start, end int, o *outer, via *bundle) bool {
	b := in.b
	pkt := buf[start:end]
	if len(pkt) < esp.ESPHeaderSize {
		b.stats.inMalformed.Add(1)
		return false
	}
	spi := esp.ESP(pkt).SPI()
	d := b.tab.in.Get(spiKey{protoESP, uint32(spi)})
	if d == nil || d.st.esp == nil {
		b.stats.espInvalidSPI.Add(1)
		return false
	}
	st := d.st
	switch {
	case via != d && (via != nil || st.ah != nil):
		// An ESP+AH bundle's ESP must come inside its own AH.
		b.stats.inBundleMismatch.Add(1)
		st.otherDrops.Add(1)
		return false
	case (d.udp != nil) != o.udp:
		b.stats.inUDPInvalid.Add(1)
		st.otherDrops.Add(1)
		return false
	case st.dead.Load():
		b.stats.inSAExpired.Add(1)
		st.otherDrops.Add(1)
		return false
	}
	payload, nh, err := st.esp.Open(pkt)
	if err != nil {
		return in.fail(d, err, false)
	}
	if nh == esp.ProtoNoNext {
		b.stats.inDummy.Add(1)
		return false
	}
	pStart := start + (cap(pkt) - cap(payload)) // payload is a sub-slice of pkt
	pEnd := pStart + len(payload)
	n := uint64(len(payload))
	if d.encrypts {
		in.c.inEncrypted += n
	}
	in.c.inESPAuth += n
	if via != nil {
		in.c.inAHAuth += n
	}
	return in.deliver(d, buf, pStart, pEnd, nh, o)
}

// deliver finishes a packet whose protection is removed: buf[start:end]
// is the inner packet (tunnel mode) or the upper-layer payload with next
// header nh (transport mode, whose IP header is rebuilt in front of it).
func (in *inbound) deliver(d *bundle, buf []byte, start, end int, nh uint8, o *outer) bool {
	b := in.b
	if d.tunnel {
		if (nh != esp.ProtoIPv4 || !d.innerV4) && (nh != esp.ProtoIPv6 || d.innerV4) {
			b.stats.inMalformed.Add(1)
			d.st.otherDrops.Add(1)
			return false
		}
		return in.accept(d, buf, start, end)
	}
	var pkt []byte
	var err error
	if o.v6 {
		pkt, err = esp.PrependIPv6(buf, start, end-start, &esp.IPv6Fields{NextHeader: nh, Src: o.src, Dst: o.dst})
	} else {
		pkt, err = esp.PrependIPv4(buf, start, end-start, &esp.IPv4Fields{TOS: o.tos, TTL: o.ttl, Protocol: nh, Src: o.src, Dst: o.dst})
	}
	if err != nil {
		b.stats.inMalformed.Add(1)
		d.st.otherDrops.Add(1)
		return false
	}
	start = end - len(pkt)
	if o.udp {
		// RFC 3948 §3.1.2: NAT may have changed the addresses the
		// checksum covers; recompute it over the addresses seen here.
		fixTransportChecksum(pkt)
	}
	return in.accept(d, buf, start, end)
}

// accept checks the inner packet buf[start:end] against d's selectors,
// counts it and queues it for the TUN device.
func (in *inbound) accept(d *bundle, buf []byte, start, end int) bool {
	b := in.b
	pkt := buf[start:end]
	h, ok := parseFlow(pkt, false, &in.fl)
	if !ok || (h.Version == 4) != d.innerV4 {
		b.stats.inMalformed.Add(1)
		d.st.otherDrops.Add(1)
		return false
	}
	pkt = pkt[:h.PacketLen]
	if !d.matchesInbound(&in.fl) {
		b.stats.inSelector.Add(1)
		d.st.otherDrops.Add(1)
		return false
	}
	ok, raised := d.st.account(len(pkt), in.now)
	if !ok {
		b.stats.inSAExpired.Add(1)
		d.st.otherDrops.Add(1)
		return raised
	}
	in.c.inAccepted++
	in.c.inAcceptedBytes += uint64(len(pkt))
	if d.tunnel {
		in.c.inTunnel += uint64(len(pkt))
	} else {
		in.c.inTransport += uint64(len(pkt))
	}
	if start < vnetHdrLen {
		b.stats.inMalformed.Add(1)
		return raised
	}
	in.cur.pkts = append(in.cur.pkts, dpkt{start: in.base + start, end: in.base + start + len(pkt), limit: in.base + len(buf)})
	return raised
}

// fail counts an Open or OpenAH failure on d.
func (in *inbound) fail(d *bundle, err error, ah bool) bool {
	b, st := in.b, d.st
	switch {
	case errors.Is(err, esp.ErrReplay):
		st.replayFailed()
		if ah {
			b.stats.ahReplay.Add(1)
		} else {
			b.stats.espReplay.Add(1)
		}
	case errors.Is(err, esp.ErrAuth):
		st.authFailed()
		if ah {
			b.stats.ahAuth.Add(1)
		} else {
			b.stats.espAuth.Add(1)
		}
	case errors.Is(err, esp.ErrWiped):
		b.stats.inSAExpired.Add(1)
		st.otherDrops.Add(1)
	default:
		// Truncated, misaligned, bad padding or next header, bad IP
		// header around AH.
		st.otherDrops.Add(1)
		if ah {
			b.stats.inMalformed.Add(1)
		} else {
			b.stats.espDecrypt.Add(1)
		}
	}
	return false
}

// fixTransportChecksum recomputes the TCP or UDP checksum of the IP packet
// pkt (a UDP checksum of zero over IPv4 stays zero: none was sent).
func fixTransportChecksum(pkt []byte) {
	h, err := esp.ParseIPHeaders(pkt)
	if err != nil || h.Fragment || h.PacketLen > len(pkt) {
		return
	}
	l4 := pkt[h.Len:h.PacketLen]
	var csumOff int
	switch h.Protocol {
	case protoTCP:
		csumOff = tcpCsumOff
	case protoUDP:
		csumOff = udpCsumOff
	default:
		return
	}
	if len(l4) < csumOff+2 {
		return
	}
	if h.Protocol == protoUDP && h.Version == 4 && binary.BigEndian.Uint16(l4[6:]) == 0 {
		return
	}
	l4[csumOff], l4[csumOff+1] = 0, 0
	var sum uint64
	if h.Version == 4 {
		sum = pseudoSum(pkt[12:16], pkt[16:20], h.Protocol, len(l4))
	} else {
		sum = pseudoSum(pkt[8:24], pkt[24:40], h.Protocol, len(l4))
	}
	c := ^fold64(sum + uint64(onesSum(l4)))
	if c == 0 && h.Protocol == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumOff:], c)
}
