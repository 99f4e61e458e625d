package userspace

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/sadb-dev/sadb/internal/esp"
)

// inbound is the state of one socket's reader goroutine: it receives ESP
// (raw or in UDP) or AH, removes the protection, checks the inner packet
// against the SA's selectors and writes it to the TUN device. It belongs
// to that goroutine alone.
type inbound struct {
	b     *Backend
	s     *sock
	proto uint8 // protoESP (raw or UDP) or protoAH
	m     *mmsgs
	bufs  [][]byte // receive buffers, recvBufSize each
	tun   [][]byte // packets to write to the TUN device
	fl    flow
	now   int64
}

func (b *Backend) inboundLoop(s *sock, proto uint8, batch int) {
	defer b.wg.Done()
	in := &inbound{b: b, s: s, proto: proto, m: newMmsgs(batch), bufs: make([][]byte, batch), tun: make([][]byte, 0, batch)}
	for i := range in.bufs {
		in.bufs[i] = make([]byte, recvBufSize)
	}
	var lastErr time.Time
	for {
		n, err := in.m.recv(s, in.bufs, headroom)
		if err != nil {
			if errClosed(err) || state(b.state.Load()) != stateUp {
				return
			}
			if time.Since(lastErr) > time.Second {
				b.log.Warn("receiving failed", "protocol", protoName(proto), "udp", s.udp, "err", err)
				lastErr = time.Now()
			}
			continue
		}
		in.batch(n)
	}
}

// batch handles the n messages just received.
func (in *inbound) batch(n int) {
	b := in.b
	in.now = time.Now().Unix()
	raised := false
	in.tun = in.tun[:0]
	for i := range n {
		size, src, dst, trunc := in.m.received(i)
		if trunc || size <= 0 {
			b.stats.inMalformed.Add(1)
			continue
		}
		buf := in.bufs[i]
		raised = in.message(buf, headroom, size, src, dst) || raised
	}
	if len(in.tun) > 0 {
		if _, err := b.dev.Write(in.tun, tunOffset); err != nil && !errClosed(err) {
			b.stats.inTUNErrors.Add(1)
			b.logSendError(err)
		}
	}
	if raised {
		b.wake()
	}
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
	d := b.tab.in.get(spiKey{protoAH, spi})
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
	b.stats.inAHAuth.Add(uint64(len(out)))
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
	d := b.tab.in.get(spiKey{protoESP, uint32(spi)})
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
	c := st.esp.Config()
	if c.Encryption != esp.EncryptionNull {
		b.stats.inEncrypted.Add(n)
	}
	b.stats.inESPAuth.Add(n)
	if via != nil {
		b.stats.inAHAuth.Add(n)
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
	b.stats.inAccepted.Add(1)
	b.stats.inAcceptedBytes.Add(uint64(len(pkt)))
	if d.tunnel {
		b.stats.inTunnel.Add(uint64(len(pkt)))
	} else {
		b.stats.inTransport.Add(uint64(len(pkt)))
	}
	if start < tunOffset {
		b.stats.inMalformed.Add(1)
		return raised
	}
	in.tun = append(in.tun, buf[start-tunOffset:start+len(pkt):len(buf)])
	return raised
}

// fail counts an Open or OpenAH failure on d.
func (in *inbound) fail(d *bundle, err error, ah bool) bool {
	b, st := in.b, d.st
	switch {
	case errors.Is(err, esp.ErrReplay):
		st.replayDrops.Add(1)
		st.replayPending.Add(1)
		if ah {
			b.stats.ahReplay.Add(1)
		} else {
			b.stats.espReplay.Add(1)
		}
	case errors.Is(err, esp.ErrAuth):
		st.icvFailures.Add(1)
		st.authPending.Add(1)
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
		csumOff = 16
	case protoUDP:
		csumOff = 6
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
		sum = checksumAdd(sum, pkt[12:20])
	} else {
		sum = checksumAdd(sum, pkt[8:40])
	}
	sum += uint64(h.Protocol) + uint64(len(l4))
	sum = checksumAdd(sum, l4)
	c := ^checksumFold(sum)
	if c == 0 && h.Protocol == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumOff:], c)
}

// checksumAdd adds b to a one's-complement sum (RFC 1071).
func checksumAdd(sum uint64, b []byte) uint64 {
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

func checksumFold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
