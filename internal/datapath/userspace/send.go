package userspace

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sadb-dev/sadb/internal/esp"
)

// The outbound path, run to completion by one goroutine:
//
//	TUN device ──read, drained per wakeup (super-packets split)──▶ SPD, SA,
//	lifetime, sequence number, ESP/AH, outer header, in place in the
//	batch's arena ──▶ sendmmsg: UDP GSO for runs of ESP-in-UDP datagrams
//	to one peer, one message per packet otherwise
//
// The batch is a fixed-size arena (obatchArena bytes, at most obatchMsgs
// messages) that the goroutine reuses: packets are read straight into it
// with room for ESP around each, protected in place and sent from there.
// A batch ends when the device has nothing more queued or the arena is
// full. Handing batches to a second goroutine to send was measured slower
// on a loaded 2-CPU machine (a wakeup per batch, and no idle CPU to gain),
// so the reading goroutine sends. Sequence numbers are taken in read order
// and batches sent in that order: nothing is reordered.

// obatch is a batch of outbound messages: what the sender sends, each in
// place in arena.
type obatch struct {
	arena []byte
	used  int    // arena[:used] holds the batch's packets
	msgs  []omsg // in order
}

// omsg is one message of a batch: arena[off:off+n] to dst on s (from src,
// for UDP with a chosen source). alone keeps a UDP datagram out of GSO
// runs: it does not fit the path MTU whole, and only a datagram sent on
// its own may be fragmented.
type omsg struct {
	s      *sock
	off, n int
	dst    netip.AddrPort
	src    netip.Addr
	alone  bool
}

// Batch sizes of the outbound path.
const (
	obatchArena = 512 << 10 // two super-packets' worth with room around each segment
	obatchMsgs  = 512
)

func newObatch() *obatch {
	return &obatch{arena: make([]byte, obatchArena), msgs: make([]omsg, 0, obatchMsgs)}
}

// room reports whether the batch can take one more packet of up to n bytes
// (with room for ESP around it and for outer fragments of it).
func (bt *obatch) room(n int) bool {
	return len(bt.msgs)+maxFragments <= cap(bt.msgs) && bt.used+2*(headroom+n+tailroom) <= len(bt.arena)
}

// maxFragments bounds the fragments of one protected packet: a packet of
// at most the TUN MTU plus overhead, cut to at least minMTU bytes.
const maxFragments = (maxMTU+maxOverhead)/(minMTU-esp.IPv6FixedHeaderSize-ipv6FragmentHeaderSize) + 1

// outbound is the state of the goroutine that reads the TUN device and
// protects what it reads. It belongs to that goroutine alone.
type outbound struct {
	b       *Backend
	r       *tunReader
	cur     *obatch
	x       *sender
	hdr     [vnetHdrLen]byte
	spill   []byte // the rest of a super-packet: mtu bytes of slack, then 64 KiB
	mtu     int
	fl      flow
	cache   flowCache
	reasm   reassembler
	now     int64 // Unix seconds at the start of the batch
	nowNs   int64
	raised  bool
	lastErr time.Time
	c       tally
}

// flowCache is the outbound goroutine's last decision: consecutive
// packets of one flow (the segments of a super-packet) skip the lookups
// while the tables are unchanged.
type flowCache struct {
	gen   uint64
	valid bool
	fl    flow
	v4    bool
	r     *rule
	d     *bundle
}

func newOutbound(b *Backend, dev *tunDev) *outbound {
	o := &outbound{b: b, mtu: b.cfg.MTU, cur: newObatch(), x: newSender(b)}
	if dev != nil {
		o.r = newTUNReader(dev)
	}
	o.spill = make([]byte, o.mtu+65536)
	return o
}

// outboundLoop is the outbound goroutine.
func (b *Backend) outboundLoop(o *outbound) {
	defer b.wg.Done()
	for o.fill() {
		o.ship()
	}
}

// fill reads packets into the current batch until the device has no more
// queued or the batch is full, waiting for the first. It returns false
// once the device is closed.
func (o *outbound) fill() bool {
	b := o.b
	wait := true
	for {
		bt := o.cur
		if !bt.room(o.mtu) {
			return true
		}
		p := bt.used + headroom
		n, err := o.r.read(o.hdr[:], bt.arena[p:p+o.mtu], o.spill[o.mtu:], wait)
		if err != nil {
			if errClosed(err) || state(b.state.Load()) != stateUp {
				return false
			}
			// A packet the device could not hand over: lost; go on.
			if time.Since(o.lastErr) > time.Second {
				b.log.Warn("reading the TUN device failed", "err", err)
				o.lastErr = time.Now()
			}
			continue
		}
		if n == 0 {
			return true // drained
		}
		if wait {
			t := time.Now()
			o.now, o.nowNs = t.Unix(), t.UnixNano()
			wait = false
		}
		var h vnetHdr
		h.decode(o.hdr[:])
		o.handle(&h, p, n)
	}
}

// handle handles what a read put at the current batch's arena[p:p+n]
// (and, for a super-packet, the rest in spill[mtu:]).
func (o *outbound) handle(h *vnetHdr, p, n int) {
	bt := o.cur
	if h.gsoType == unix.VIRTIO_NET_HDR_GSO_NONE {
		pkt := bt.arena[p : p+n]
		if n > o.mtu || h.flags&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 && !completeChecksum(pkt, h) {
			o.b.stats.outMalformed.Add(1)
			return
		}
		o.packet(p, n)
		return
	}
	// A super-packet: make it contiguous in spill and split it.
	first := min(n, o.mtu)
	src := o.spill[o.mtu-first : o.mtu+n-first]
	copy(src, bt.arena[p:p+first])
	o.super(h, src)
}

// super splits the super-packet pkt into the batch (sending the batch
// when it is full) and handles each segment.
func (o *outbound) super(h *vnetHdr, pkt []byte) {
	sp, err := parseSuper(h, pkt)
	if err != nil {
		o.b.stats.outMalformed.Add(1)
		return
	}
	for i := range sp.segments {
		n := sp.segmentLen(i)
		if !o.cur.room(n) {
			o.ship()
		}
		p := o.cur.used + headroom
		sp.segment(i, o.cur.arena[p:p+n])
		o.packet(p, n)
	}
}

// ship sends the current batch and empties it.
func (o *outbound) ship() {
	b := o.b
	o.c.flush(&b.stats)
	if o.raised {
		o.raised = false
		b.wake()
	}
	bt := o.cur
	o.x.send(bt)
	bt.msgs, bt.used = bt.msgs[:0], 0
}

// packet handles the packet at the current batch's arena[p:p+n].
func (o *outbound) packet(p, n int) {
	b := o.b
	bt := o.cur
	pkt := bt.arena[p : p+n]
	h, ok := parseFlow(pkt, true, &o.fl)
	if !ok {
		b.stats.outMalformed.Add(1)
		return
	}
	if h.Fragment {
		o.reassemble(pkt, h)
		return
	}
	n = h.PacketLen
	v4 := h.Version == 4
	r, d := o.classify(v4)
	switch {
	case r == nil || r.verdict == verdictClear:
		o.sendClear(p, n, v4)
		return
	case r.verdict == verdictBlock:
		b.stats.outBlocked.Add(1)
		return
	case d == nil:
		b.stats.outNoSA.Add(1)
		return
	}
	o.protect(d, p, n, h)
}

// reassemble hands the fragment pkt to the reassembler and, once its
// datagram is whole, handles the datagram as a packet read from the
// device.
func (o *outbound) reassemble(pkt []byte, h esp.IPHeaders) {
	b := o.b
	whole, res, dropped := o.reasm.add(pkt, h, o.nowNs)
	if dropped > 0 {
		b.stats.outReasmDropped.Add(uint64(dropped))
	}
	if res != reasmDone {
		return
	}
	b.stats.outReassembled.Add(1)
	if !o.cur.room(len(whole)) {
		o.ship()
	}
	p := o.cur.used + headroom
	copy(o.cur.arena[p:], whole)
	o.packet(p, len(whole))
}

// classify returns the rule for o.fl and, for an IPsec rule, the SA that
// carries it (nil if none).
func (o *outbound) classify(v4 bool) (*rule, *bundle) {
	t := &o.b.tab
	gen := t.gen.Load()
	c := &o.cache
	if c.valid && c.gen == gen && c.v4 == v4 && c.fl == o.fl && (c.d == nil || !c.d.st.dead.Load()) {
		return c.r, c.d
	}
	v := 0
	if !v4 {
		v = 1
	}
	r := t.spd[v].lookup(&o.fl)
	var d *bundle
	if r != nil && r.verdict == verdictProtect {
		d = t.outboundSA(r, &o.fl, v4)
	}
	*c = flowCache{gen: gen, valid: true, fl: o.fl, v4: v4, r: r, d: d}
	return r, d
}

// add queues arena[off:off+n] of the current batch for s and moves the
// batch's end past it.
func (o *outbound) add(s *sock, off, n int, dst netip.AddrPort, src netip.Addr) {
	bt := o.cur
	bt.msgs = append(bt.msgs, omsg{s: s, off: off, n: n, dst: dst, src: src})
	bt.used = max(bt.used, off+n)
}

// sendClear lets the packet at arena[p:p+n] out as it is, with the
// backend's mark.
func (o *outbound) sendClear(p, n int, v4 bool) {
	b := o.b
	pkt := o.cur.arena[p : p+n]
	s := b.raw4
	var dst netip.Addr
	if v4 {
		dst = esp.IPv4(pkt).Destination()
	} else {
		s, dst = b.raw6, esp.IPv6(pkt).Destination()
	}
	if s == nil {
		b.stats.outSendErrors.Add(1)
		return
	}
	o.c.outClear++
	o.add(s, p, n, netip.AddrPortFrom(dst, 0), netip.Addr{})
}

// protect applies d to the packet of n bytes at the current batch's
// arena[p:] and queues the result.
func (o *outbound) protect(d *bundle, p, n int, h esp.IPHeaders) {
	b := o.b
	st := d.st
	ok, raised := st.account(n, o.now)
	o.raised = o.raised || raised
	if !ok {
		b.stats.outSAExpired.Add(1)
		return
	}
	buf := o.cur.arena[:p+n+tailroom]
	var start, end int
	var err error
	if d.tunnel {
		start, end, err = o.tunnel(d, buf, p, n, h)
	} else {
		start, end, err = o.transport(d, buf, p, n, h)
	}
	if err != nil {
		switch {
		case errors.Is(err, esp.ErrSequenceExhausted):
			st.dead.Store(true)
			o.raised = st.raise(evSeq) || o.raised
			b.stats.outSAExpired.Add(1)
		case errors.Is(err, esp.ErrWiped):
			b.stats.outSAExpired.Add(1) // deleted while the packet was on its way
		default:
			b.stats.outMalformed.Add(1)
		}
		return
	}
	// Stop the SA as soon as it has used its last sequence number.
	if (st.esp != nil && st.esp.LastSeq() >= st.seqLimit) || (st.ah != nil && st.ah.LastSeq() >= st.seqLimit) {
		st.dead.Store(true)
		o.raised = st.raise(evSeq) || o.raised
	}
	if st.lastSend.Load() != o.nowNs {
		st.lastSend.Store(o.nowNs)
	}
	o.c.outProtected++
	o.c.outProtectedBytes += uint64(n)
	o.trafficStats(d, n)
	if d.udp != nil {
		s := d.usock
		if s == nil {
			b.stats.outSendErrors.Add(1)
			return
		}
		// The ESP packet; the kernel writes the IP and UDP headers.
		o.add(s, start, end-start, netip.AddrPortFrom(d.remote, d.udp.remotePort), d.local)
		if d.pmtu > 0 && end-start+esp.IPv4MinimumSize+esp.UDPHeaderSize > d.pmtu {
			o.cur.msgs[len(o.cur.msgs)-1].alone = true
		}
		return
	}
	s := b.raw4
	if !d.remote.Is4() {
		s = b.raw6
	}
	if s == nil {
		b.stats.outSendErrors.Add(1)
		return
	}
	dst := netip.AddrPortFrom(d.remote, 0)
	if end-start > d.pmtu && d.pmtu > 0 {
		o.fragment(s, start, end, d, dst)
		return
	}
	o.add(s, start, end-start, dst, netip.Addr{})
}

// trafficStats counts n protected bytes by kind.
func (o *outbound) trafficStats(d *bundle, n int) {
	c := &o.c
	if e := d.st.esp; e != nil {
		if d.encrypts {
			c.outEncrypted += uint64(n)
		}
		if d.espAuth {
			c.outESPAuth += uint64(n)
		}
	}
	if d.st.ah != nil {
		c.outAHAuth += uint64(n)
	}
	if d.tunnel {
		c.outTunnel += uint64(n)
	} else {
		c.outTransport += uint64(n)
	}
}

// tunnel protects the inner packet buf[off:off+n] in tunnel mode and
// returns where the result is in buf: a whole IP packet (plain ESP, AH),
// or the ESP packet (ESP in UDP).
func (o *outbound) tunnel(d *bundle, buf []byte, off, n int, h esp.IPHeaders) (start, end int, err error) {
	st := d.st
	nh := esp.ProtoIPv4
	var tos uint8
	if h.Version == 6 {
		nh = esp.ProtoIPv6
		tos = uint8(binary.BigEndian.Uint16(buf[off:]) >> 4)
	} else {
		tos = buf[off+1]
	}
	proto := nh
	start, end = off, off+n
	if st.esp != nil {
		e, err := st.esp.Seal(buf, off, n, nh)
		if err != nil {
			return 0, 0, err
		}
		start, end = off-st.esp.HeaderLen(), off-st.esp.HeaderLen()+len(e)
		proto = esp.ProtoESP
		if d.udp != nil {
			return start, end, nil
		}
	}
	var pkt []byte
	if d.remote.Is4() {
		pkt, err = esp.PrependIPv4(buf, start, end-start, &esp.IPv4Fields{TOS: tos, ID: uint16(o.b.ipID.Add(1)), Protocol: proto, Src: d.local, Dst: d.remote})
	} else {
		pkt, err = esp.PrependIPv6(buf, start, end-start, &esp.IPv6Fields{TrafficClass: tos, NextHeader: proto, Src: d.local, Dst: d.remote})
	}
	if err != nil {
		return 0, 0, err
	}
	start = end - len(pkt)
	if st.ah != nil {
		if pkt, err = st.ah.SealAH(buf, start, len(pkt)); err != nil {
			return 0, 0, err
		}
		start = end - len(pkt)
	}
	return start, end, nil
}

// transport protects the packet buf[off:off+n] in transport mode: ESP (or
// AH, or ESP then AH) goes between the IP headers and the payload. For ESP
// in UDP it returns only the ESP packet: the IP header is the kernel's.
func (o *outbound) transport(d *bundle, buf []byte, off, n int, h esp.IPHeaders) (start, end int, err error) {
	st := d.st
	start, end = off, off+n
	if st.esp != nil {
		hl := st.esp.HeaderLen()
		if d.udp != nil {
			// The IP header is not sent: ESP goes over its end.
			e, err := st.esp.Seal(buf, off+h.Len, n-h.Len, h.Protocol)
			if err != nil {
				return 0, 0, err
			}
			return off + h.Len - hl, off + h.Len - hl + len(e), nil
		}
		copy(buf[off-hl:], buf[off:off+h.Len])
		e, err := st.esp.Seal(buf, off+h.Len, n-h.Len, h.Protocol)
		if err != nil {
			// Seal leaves the payload alone on error; put the headers back.
			copy(buf[off:], buf[off-hl:off-hl+h.Len])
			return 0, 0, err
		}
		start, end = off-hl, off-hl+h.Len+len(e)
		if err := esp.RewriteIPHeaders(buf[start:end], h, esp.ProtoESP); err != nil {
			return 0, 0, err
		}
	}
	if st.ah != nil {
		pkt, err := st.ah.SealAH(buf, start, end-start)
		if err != nil {
			return 0, 0, err
		}
		start = end - len(pkt)
	}
	return start, end, nil
}

// fragment queues the protected packet arena[start:end], larger than d's
// path MTU, as fragments built after it in the batch (RFC 4303 §3.3.5:
// fragmentation after IPsec processing).
func (o *outbound) fragment(s *sock, start, end int, d *bundle, dst netip.AddrPort) {
	b := o.b
	mtu := min(d.pmtu, maxMTU)
	pkt := o.cur.arena[start:end]
	o.cur.used = max(o.cur.used, end)
	var ok bool
	if pkt[0]>>4 == 4 {
		ok = o.fragment4(s, pkt, mtu, dst)
	} else {
		ok = o.fragment6(s, pkt, max(mtu, ipv6MinMTU), dst)
	}
	if !ok {
		b.stats.outSendErrors.Add(1)
		return
	}
	b.stats.outFragmented.Add(1)
}

// fragBuf returns room for a fragment of n bytes at the end of the batch.
func (o *outbound) fragBuf(n int) (int, []byte) {
	off := o.cur.used
	return off, o.cur.arena[off : off+n]
}

// fragment4 splits the IPv4 packet pkt into fragments of at most mtu
// bytes (RFC 791). Options are copied into every fragment.
func (o *outbound) fragment4(s *sock, pkt []byte, mtu int, dst netip.AddrPort) bool {
	ip := esp.IPv4(pkt)
	hl := ip.HeaderLength()
	if ip.IsFragment() {
		return false // a tunnel-mode outer header is never a fragment
	}
	// The outer header has DF clear; in transport mode the packet is our
	// own host's, whose DF we clear rather than drop the packet.
	step := (mtu - hl) &^ 7
	if step <= 0 || (len(pkt)-hl+step-1)/step > maxFragments {
		return false
	}
	data := pkt[hl:]
	for foff := 0; foff < len(data); foff += step {
		end := min(foff+step, len(data))
		off, f := o.fragBuf(hl + end - foff)
		copy(f, pkt[:hl])
		copy(f[hl:], data[foff:end])
		flags := uint16(foff / 8)
		if end < len(data) {
			flags |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(f[6:], flags)
		fi := esp.IPv4(f)
		fi.SetTotalLength(uint16(len(f)))
		fi.UpdateChecksum()
		o.add(s, off, len(f), dst, netip.Addr{})
	}
	return true
}

// fragment6 splits the IPv6 packet pkt into fragments of at most mtu
// bytes with a Fragment header after the fixed header (RFC 8200 §4.5). It
// refuses packets whose fixed header is followed by Hop-by-Hop or Routing
// headers, which would have to stay unfragmented.
func (o *outbound) fragment6(s *sock, pkt []byte, mtu int, dst netip.AddrPort) bool {
	nh := pkt[6]
	if nh == esp.ProtoHopByHop || nh == esp.ProtoRouting || nh == esp.ProtoFragment {
		return false
	}
	const fixed = esp.IPv6FixedHeaderSize
	step := (mtu - fixed - ipv6FragmentHeaderSize) &^ 7
	data := pkt[fixed:]
	if (len(data)+step-1)/step > maxFragments {
		return false
	}
	id := o.b.ipID.Add(1)
	for foff := 0; foff < len(data); foff += step {
		end := min(foff+step, len(data))
		off, f := o.fragBuf(fixed + ipv6FragmentHeaderSize + end - foff)
		copy(f, pkt[:fixed])
		f[6] = esp.ProtoFragment
		fh := f[fixed : fixed+ipv6FragmentHeaderSize]
		fh[0], fh[1] = nh, 0
		offFlags := uint16(foff)
		if end < len(data) {
			offFlags |= 1 // M
		}
		binary.BigEndian.PutUint16(fh[2:], offFlags)
		binary.BigEndian.PutUint32(fh[4:], id)
		copy(f[fixed+ipv6FragmentHeaderSize:], data[foff:end])
		esp.IPv6(f).SetPayloadLength(uint16(len(f) - fixed))
		o.add(s, off, len(f), dst, netip.Addr{})
	}
	return true
}

// logSendError logs a send failure, at most once a second.
func (b *Backend) logSendError(err error) {
	if err == nil || errClosed(err) {
		return
	}
	now := time.Now().UnixNano()
	if last := b.lastSendErrLog.Load(); now-last < int64(time.Second) || !b.lastSendErrLog.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("sending protected packets failed", "err", err)
}
