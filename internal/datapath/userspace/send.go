package userspace

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/sadb-dev/sadb/internal/esp"
)

// outbound is the state of the goroutine that reads the TUN device and
// sends what it reads: protected, in clear, or nothing. It belongs to that
// goroutine alone.
type outbound struct {
	b     *Backend
	bufs  [][]byte // TUN read buffers: headroom + MTU + tailroom each
	sizes []int
	fl    flow
	now   int64 // Unix seconds at the start of the batch
	nowNs int64

	raw4, raw6 *mmsgs // batches for the raw sockets
	udp        []udpBatch
	frags      [][]byte // buffers for outer fragments
	nfrags     int      // frags in use in the current batch
}

// udpBatch is the send batch of one UDP socket.
type udpBatch struct {
	s *sock
	m *mmsgs
}

func (b *Backend) outboundLoop() {
	defer b.wg.Done()
	n := b.dev.BatchSize()
	o := &outbound{b: b, bufs: make([][]byte, n), sizes: make([]int, n), raw4: newMmsgs(n), raw6: newMmsgs(n)}
	size := headroom + b.cfg.MTU + tailroom
	for i := range o.bufs {
		o.bufs[i] = make([]byte, size)
	}
	o.frags = make([][]byte, 2*n)
	for i := range o.frags {
		o.frags[i] = make([]byte, fragBufSize)
	}
	var lastErr time.Time
	for {
		count, err := b.dev.Read(o.bufs, o.sizes, headroom)
		if err != nil {
			if errClosed(err) || state(b.state.Load()) != stateUp {
				return
			}
			// A packet the device could not hand over (too large for a
			// buffer, bad offload header): it is lost; go on.
			if time.Since(lastErr) > time.Second {
				b.log.Warn("reading the TUN device failed", "err", err)
				lastErr = time.Now()
			}
			if count == 0 {
				continue
			}
		}
		o.batch(count)
	}
}

// batch processes the count packets just read.
func (o *outbound) batch(count int) {
	b := o.b
	t := time.Now()
	o.now, o.nowNs = t.Unix(), t.UnixNano()
	o.nfrags = 0
	raised := false
	for i := range count {
		raised = o.packet(o.bufs[i], o.sizes[i]) || raised
	}
	o.flush()
	if raised {
		b.wake()
	}
}

// packet handles one packet at buf[headroom:headroom+n]. The caller holds
// b.tab for reading. It reports whether an SA event was raised.
func (o *outbound) packet(buf []byte, n int) bool {
	b := o.b
	pkt := buf[headroom : headroom+n]
	h, ok := parseFlow(pkt, true, &o.fl)
	if !ok {
		b.stats.outMalformed.Add(1)
		return false
	}
	n = h.PacketLen
	v := 0
	if h.Version == 6 {
		v = 1
	}
	r := b.tab.spd[v].lookup(&o.fl)
	switch {
	case r == nil || r.verdict == verdictClear:
		o.sendClear(pkt[:n], h.Version == 6)
		return false
	case r.verdict == verdictBlock:
		b.stats.outBlocked.Add(1)
		return false
	}
	d := b.tab.outboundSA(r, &o.fl, h.Version == 4)
	if d == nil {
		b.stats.outNoSA.Add(1)
		return false
	}
	if !d.tunnel && h.Fragment {
		b.stats.outFragments.Add(1)
		return false
	}
	return o.protect(d, buf, n, h)
}

// sendClear lets pkt out as it is, with the backend's mark.
func (o *outbound) sendClear(pkt []byte, v6 bool) {
	b := o.b
	var dst netip.Addr
	m, s := o.raw4, b.raw4
	if v6 {
		m, s = o.raw6, b.raw6
		dst = esp.IPv6(pkt).Destination()
	} else {
		dst = esp.IPv4(pkt).Destination()
	}
	if s == nil {
		b.stats.outSendErrors.Add(1)
		return
	}
	b.stats.outClear.Add(1)
	o.queue(m, s, pkt, netip.AddrPortFrom(dst, 0), netip.Addr{})
}

// queue adds a message to a batch, sending the batch first if it is full.
func (o *outbound) queue(m *mmsgs, s *sock, pkt []byte, dst netip.AddrPort, src netip.Addr) {
	if !m.add(pkt, dst, src) {
		o.flushOne(m, s)
		m.add(pkt, dst, src)
	}
}

func (o *outbound) flushOne(m *mmsgs, s *sock) {
	if failed, err := m.flush(s); failed > 0 {
		o.b.stats.outSendErrors.Add(uint64(failed))
		o.b.logSendError(err)
	}
}

// flush sends every batch.
func (o *outbound) flush() {
	if o.b.raw4 != nil {
		o.flushOne(o.raw4, o.b.raw4)
	}
	if o.b.raw6 != nil {
		o.flushOne(o.raw6, o.b.raw6)
	}
	for i := range o.udp {
		o.flushOne(o.udp[i].m, o.udp[i].s)
	}
}

// udpBatchFor returns the batch of UDP socket s.
func (o *outbound) udpBatchFor(s *sock) *mmsgs {
	for i := range o.udp {
		if o.udp[i].s == s {
			return o.udp[i].m
		}
	}
	// A socket this goroutine has not sent on yet (allocates once per
	// socket). Batches of closed sockets are dropped.
	live := o.udp[:0]
	for _, u := range o.udp {
		if !u.s.closed.Load() {
			live = append(live, u)
		}
	}
	o.udp = append(live, udpBatch{s: s, m: newMmsgs(len(o.bufs))})
	return o.udp[len(o.udp)-1].m
}

// protect applies d to the packet of n bytes at buf[headroom:] and queues
// the result. It reports whether an SA event was raised.
func (o *outbound) protect(d *bundle, buf []byte, n int, h esp.IPHeaders) bool {
	b := o.b
	st := d.st
	ok, raised := st.account(n, o.now)
	if !ok {
		b.stats.outSAExpired.Add(1)
		return raised
	}
	off := headroom
	var pkt []byte
	var err error
	if d.tunnel {
		pkt, off, err = o.tunnel(d, buf, off, n, h)
	} else {
		pkt, off, err = o.transport(d, buf, off, n, h)
	}
	if err != nil {
		if errors.Is(err, esp.ErrSequenceExhausted) || errors.Is(err, esp.ErrWiped) {
			st.dead.Store(true)
			raised = st.raise(evSeq) || raised
			b.stats.outSAExpired.Add(1)
			return raised
		}
		b.stats.outMalformed.Add(1)
		return raised
	}
	// Stop the SA as soon as it has used its last sequence number.
	if (st.esp != nil && st.esp.LastSeq() >= st.seqLimit) || (st.ah != nil && st.ah.LastSeq() >= st.seqLimit) {
		st.dead.Store(true)
		raised = st.raise(evSeq) || raised
	}
	st.lastSend.Store(o.nowNs)
	b.stats.outProtected.Add(1)
	b.stats.outProtectedBytes.Add(uint64(n))
	o.trafficStats(d, n)
	if d.udp != nil {
		s := d.usock
		if s == nil {
			b.stats.outSendErrors.Add(1)
			return raised
		}
		// pkt is the ESP packet; the kernel writes the IP and UDP headers.
		o.queue(o.udpBatchFor(s), s, pkt[off:], netip.AddrPortFrom(d.remote, d.udp.remotePort), d.local)
		return raised
	}
	m, s := o.raw4, b.raw4
	if !d.remote.Is4() {
		m, s = o.raw6, b.raw6
	}
	if s == nil {
		b.stats.outSendErrors.Add(1)
		return raised
	}
	dst := netip.AddrPortFrom(d.remote, 0)
	if len(pkt) > d.pmtu && d.pmtu > 0 {
		o.fragment(m, s, pkt, d, dst)
		return raised
	}
	o.queue(m, s, pkt, dst, netip.Addr{})
	return raised
}

// trafficStats counts n protected bytes by kind.
func (o *outbound) trafficStats(d *bundle, n int) {
	s := &o.b.stats
	if d.st.esp != nil {
		if d.st.esp.Config().Encryption != esp.EncryptionNull {
			s.outEncrypted.Add(uint64(n))
		}
		if d.st.esp.Config().Integrity != esp.IntegrityNone || d.st.esp.Config().Encryption != esp.EncryptionNull {
			s.outESPAuth.Add(uint64(n))
		}
	}
	if d.st.ah != nil {
		s.outAHAuth.Add(uint64(n))
	}
	if d.tunnel {
		s.outTunnel.Add(uint64(n))
	} else {
		s.outTransport.Add(uint64(n))
	}
}

// tunnel protects the inner packet buf[off:off+n] in tunnel mode. It
// returns the outer packet (plain ESP or AH: a whole IP packet; ESP in UDP:
// the ESP packet at pkt[espOff:] of an outer IP packet the caller drops).
func (o *outbound) tunnel(d *bundle, buf []byte, off, n int, h esp.IPHeaders) (pkt []byte, espOff int, err error) {
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
	start, length := off, n
	if st.esp != nil {
		e, err := st.esp.Seal(buf, off, n, nh)
		if err != nil {
			return nil, 0, err
		}
		start, length = off-st.esp.HeaderLen(), len(e)
		proto = esp.ProtoESP
		if d.udp != nil {
			return buf[start : start+length], 0, nil
		}
	}
	if d.remote.Is4() {
		pkt, err = esp.PrependIPv4(buf, start, length, &esp.IPv4Fields{TOS: tos, ID: uint16(o.b.ipID.Add(1)), Protocol: proto, Src: d.local, Dst: d.remote})
	} else {
		pkt, err = esp.PrependIPv6(buf, start, length, &esp.IPv6Fields{TrafficClass: tos, NextHeader: proto, Src: d.local, Dst: d.remote})
	}
	if err != nil {
		return nil, 0, err
	}
	if st.ah != nil {
		hl := esp.IPv4MinimumSize
		if !d.remote.Is4() {
			hl = esp.IPv6FixedHeaderSize
		}
		if pkt, err = st.ah.SealAH(buf, start-hl, len(pkt)); err != nil {
			return nil, 0, err
		}
	}
	return pkt, 0, nil
}

// transport protects the packet buf[off:off+n] in transport mode: ESP (or
// AH, or ESP then AH) goes between the IP headers and the payload. For ESP
// in UDP it returns the packet with the ESP part at pkt[espOff:].
func (o *outbound) transport(d *bundle, buf []byte, off, n int, h esp.IPHeaders) (pkt []byte, espOff int, err error) {
	st := d.st
	pkt = buf[off : off+n]
	if st.esp != nil {
		hl := st.esp.HeaderLen()
		copy(buf[off-hl:], buf[off:off+h.Len])
		e, err := st.esp.Seal(buf, off+h.Len, n-h.Len, h.Protocol)
		if err != nil {
			// Seal leaves the payload alone on error; put the headers back.
			copy(buf[off:], buf[off-hl:off-hl+h.Len])
			return nil, 0, err
		}
		off -= hl
		pkt = buf[off : off+h.Len+len(e)]
		if err := esp.RewriteIPHeaders(pkt, h, esp.ProtoESP); err != nil {
			return nil, 0, err
		}
		if d.udp != nil {
			return pkt, h.Len, nil
		}
	}
	if st.ah != nil {
		if pkt, err = st.ah.SealAH(buf, off, len(pkt)); err != nil {
			return nil, 0, err
		}
	}
	return pkt, 0, nil
}

// fragment sends pkt, which is larger than d's path MTU, as fragments
// (RFC 4303 §3.3.5: fragmentation after IPsec processing).
func (o *outbound) fragment(m *mmsgs, s *sock, pkt []byte, d *bundle, dst netip.AddrPort) {
	b := o.b
	mtu := min(d.pmtu, fragBufSize)
	var ok bool
	if pkt[0]>>4 == 4 {
		ok = o.fragment4(m, s, pkt, mtu, dst)
	} else {
		ok = o.fragment6(m, s, pkt, max(mtu, ipv6MinMTU), dst)
	}
	if !ok {
		b.stats.outSendErrors.Add(1)
		return
	}
	b.stats.outFragmented.Add(1)
}

// fragBuf returns a free fragment buffer, sending the batches to free all
// of them when none is left.
func (o *outbound) fragBuf() []byte {
	if o.nfrags == len(o.frags) {
		o.flush()
		o.nfrags = 0
	}
	f := o.frags[o.nfrags]
	o.nfrags++
	return f
}

// fragment4 splits the IPv4 packet pkt into fragments of at most mtu
// bytes (RFC 791). Options are copied into every fragment.
func (o *outbound) fragment4(m *mmsgs, s *sock, pkt []byte, mtu int, dst netip.AddrPort) bool {
	ip := esp.IPv4(pkt)
	hl := ip.HeaderLength()
	if ip.IsFragment() {
		return false // a tunnel-mode outer header is never a fragment
	}
	// The outer header has DF clear; in transport mode the packet is our
	// own host's, whose DF we clear rather than drop the packet.
	step := (mtu - hl) &^ 7
	if step <= 0 {
		return false
	}
	data := pkt[hl:]
	for foff := 0; foff < len(data); foff += step {
		end := min(foff+step, len(data))
		f := o.fragBuf()[:hl+end-foff]
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
		o.queue(m, s, f, dst, netip.Addr{})
	}
	return true
}

// fragment6 splits the IPv6 packet pkt into fragments of at most mtu
// bytes with a Fragment header after the fixed header (RFC 8200 §4.5). It
// refuses packets whose fixed header is followed by Hop-by-Hop or Routing
// headers, which would have to stay unfragmented.
func (o *outbound) fragment6(m *mmsgs, s *sock, pkt []byte, mtu int, dst netip.AddrPort) bool {
	nh := pkt[6]
	if nh == esp.ProtoHopByHop || nh == esp.ProtoRouting || nh == esp.ProtoFragment {
		return false
	}
	const fixed = esp.IPv6FixedHeaderSize
	step := (mtu - fixed - ipv6FragmentHeaderSize) &^ 7
	data := pkt[fixed:]
	id := o.b.ipID.Add(1)
	for foff := 0; foff < len(data); foff += step {
		end := min(foff+step, len(data))
		f := o.fragBuf()[:fixed+ipv6FragmentHeaderSize+end-foff]
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
		o.queue(m, s, f, dst, netip.Addr{})
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
