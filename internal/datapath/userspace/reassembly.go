package userspace

import (
	"encoding/binary"
	"slices"

	"github.com/sadb-dev/sadb/internal/esp"
)

// Outbound reassembly.
//
// The local stack fragments a datagram larger than the MTU of its route
// into the TUN device (a UDP datagram, typically) before sadb sees it.
// ESP in transport mode applies only to whole datagrams (RFC 4303
// §3.3.4), and selectors with ports can only be matched against a whole
// one (RFC 4301 §7), so the outbound path puts fragments back together
// before the SPD lookup and fragments the protected packet after
// protection if it does not fit the path, as a kernel IPsec stack does
// for its own traffic.
//
// The reassembler belongs to the outbound goroutine, which reads the one
// TUN queue: it needs no lock.

// Reassembly limits.
const (
	// maxReasm bounds the datagrams being reassembled at once; a new one
	// evicts the oldest.
	maxReasm = 32
	// maxReasmPayload bounds the fragmentable part of a datagram: an IPv4
	// Total Length or IPv6 Payload Length cannot say more.
	maxReasmPayload = 65535
	// maxReasmHeader bounds the unfragmentable part kept from the first
	// fragment: the IPv4 header, or the IPv6 header and the extension
	// headers before the Fragment header.
	maxReasmHeader = 512
	// IPv4 fragments wait 30 s for the rest (as Linux's ipfrag_time), IPv6
	// fragments 60 s (RFC 8200 §4.5).
	reasmTimeout4 = 30e9
	reasmTimeout6 = 60e9
)

// reasmKey identifies a datagram's fragments: RFC 791 §3.2 (source,
// destination, protocol, identification) and RFC 8200 §4.5 (source,
// destination, identification).
type reasmKey struct {
	v6       bool
	proto    uint8
	id       uint32
	src, dst [16]byte
}

// reasmEntry is one datagram being reassembled.
type reasmEntry struct {
	key      reasmKey
	deadline int64  // Unix ns: dropped if still incomplete then
	frags    int    // fragments held
	hdr      []byte // the first fragment's unfragmentable part; empty until it came
	total    int    // length of the fragmentable part, once the last fragment came; -1 before
	got      int    // bytes of the fragmentable part received
	maxEnd   int    // end of the furthest fragment received
	seen     [maxReasmPayload/8/64 + 1]uint64
	pay      []byte // the fragmentable part, at its offsets
}

// reassembler holds the datagrams the outbound goroutine is reassembling.
// It belongs to that goroutine alone.
type reassembler struct {
	ents []*reasmEntry // in arrival order of their first fragment
	free []*reasmEntry
	out  []byte // the last datagram completed, valid until the next add
}

// reasmResult says what add did with a fragment.
type reasmResult int

const (
	reasmHeld      reasmResult = iota // kept, the datagram is not whole yet
	reasmDone                         // the datagram is whole
	reasmMalformed                    // the fragment is not a valid one: dropped
)

// add takes the fragment pkt (an IP packet whose headers are h) read at
// now (Unix ns). When it completes its datagram, add returns the whole
// datagram, valid until the next call. dropped counts the fragments given
// up on: this one if it is malformed, and those of datagrams abandoned
// (timed out, overlapping, evicted, too large).
func (r *reassembler) add(pkt []byte, h esp.IPHeaders, now int64) (whole []byte, res reasmResult, dropped int) {
	dropped = r.expire(now)
	f, ok := parseFragment(pkt, h)
	if !ok {
		return nil, reasmMalformed, dropped + 1
	}
	if f.off == 0 && !f.more {
		// An atomic fragment (RFC 6946): whole already.
		r.out = append(r.out[:0], f.unfrag...)
		f.fixNext(r.out)
		r.out = f.finish(append(r.out, f.data...))
		return r.out, reasmDone, dropped
	}
	i := r.find(f.key)
	if i < 0 {
		if len(r.ents) == maxReasm {
			dropped += r.drop(0)
		}
		i = r.alloc(f.key, now)
	}
	e := r.ents[i]
	end := f.off + len(f.data)
	if end > maxReasmPayload || (e.total >= 0 && (end > e.total || !f.more && end != e.total)) ||
		!f.more && e.maxEnd > end || e.overlaps(f.off, end) {
		// Past the end, a second end, or overlapping what came (RFC 5722:
		// the whole datagram is dropped).
		return nil, reasmMalformed, dropped + r.drop(i) + 1
	}
	copy(e.pay[f.off:], f.data)
	e.mark(f.off, end)
	e.got += len(f.data)
	e.maxEnd = max(e.maxEnd, end)
	e.frags++
	if !f.more {
		e.total = end
	}
	if f.off == 0 {
		e.hdr = append(e.hdr[:0], f.unfrag...)
		f.fixNext(e.hdr)
	}
	if e.total < 0 || e.got != e.total || len(e.hdr) == 0 {
		return nil, reasmHeld, dropped
	}
	if len(e.hdr)+e.total > maxMTU {
		return nil, reasmMalformed, dropped + r.drop(i) // cannot be protected
	}
	r.out = f.finish(append(append(r.out[:0], e.hdr...), e.pay[:e.total]...))
	r.release(i)
	return r.out, reasmDone, dropped
}

// expire drops the datagrams whose time is up and returns how many
// fragments they held.
func (r *reassembler) expire(now int64) int {
	n := 0
	for i := 0; i < len(r.ents); {
		if now >= r.ents[i].deadline {
			n += r.drop(i)
			continue
		}
		i++
	}
	return n
}

// find returns the index of the datagram k, or -1.
func (r *reassembler) find(k reasmKey) int {
	for i, e := range r.ents {
		if e.key == k {
			return i
		}
	}
	return -1
}

// alloc starts the datagram k and returns its index.
func (r *reassembler) alloc(k reasmKey, now int64) int {
	var e *reasmEntry
	if n := len(r.free); n > 0 {
		e, r.free = r.free[n-1], r.free[:n-1]
	} else {
		e = &reasmEntry{pay: make([]byte, maxReasmPayload)}
	}
	e.key, e.frags, e.hdr, e.total, e.got, e.maxEnd = k, 0, e.hdr[:0], -1, 0, 0
	e.seen = [len(e.seen)]uint64{}
	e.deadline = now + reasmTimeout4
	if k.v6 {
		e.deadline = now + reasmTimeout6
	}
	r.ents = append(r.ents, e)
	return len(r.ents) - 1
}

// drop gives up on the i-th datagram and returns how many fragments it
// held.
func (r *reassembler) drop(i int) int {
	n := r.ents[i].frags
	r.release(i)
	return n
}

// release ends the i-th datagram and keeps its buffers for the next.
func (r *reassembler) release(i int) {
	e := r.ents[i]
	r.ents = slices.Delete(r.ents, i, i+1)
	r.free = append(r.free, e)
}

// overlaps reports whether any of the 8-byte blocks of [off, end) came.
func (e *reasmEntry) overlaps(off, end int) bool {
	for b := off / 8; b < (end+7)/8; b++ {
		if e.seen[b/64]&(1<<(b%64)) != 0 {
			return true
		}
	}
	return false
}

func (e *reasmEntry) mark(off, end int) {
	for b := off / 8; b < (end+7)/8; b++ {
		e.seen[b/64] |= 1 << (b % 64)
	}
}

// fragment is what one fragment says about its datagram.
type fragment struct {
	key    reasmKey
	v6     bool
	unfrag []byte // the headers every fragment repeats
	nextAt int    // IPv6: offset in unfrag of the Next Header byte that names the Fragment header
	next   uint8  // IPv6: the Fragment header's Next Header
	off    int    // offset of data in the fragmentable part
	more   bool   // more fragments follow
	data   []byte
}

// parseFragment reads the fragment pkt, whose headers are h. A fragment
// that is not a multiple of 8 bytes long yet not the last, or that is
// empty, is malformed (RFC 8200 §4.5, RFC 791).
func parseFragment(pkt []byte, h esp.IPHeaders) (fragment, bool) {
	var f fragment
	pkt = pkt[:h.PacketLen]
	if h.Version == 4 {
		ip := esp.IPv4(pkt)
		hl := ip.HeaderLength()
		ff := binary.BigEndian.Uint16(pkt[6:])
		f.key = reasmKey{proto: ip.Protocol(), id: uint32(ip.ID())}
		copy(f.key.src[:], pkt[12:16])
		copy(f.key.dst[:], pkt[16:20])
		f.unfrag, f.off, f.more, f.data = pkt[:hl], int(ff&0x1fff)*8, ff&0x2000 != 0, pkt[hl:]
	} else {
		// The unfragmentable part ends at the Fragment header.
		nextAt, at := 6, esp.IPv6FixedHeaderSize
		for pkt[nextAt] != esp.ProtoFragment {
			switch pkt[nextAt] {
			case esp.ProtoHopByHop, esp.ProtoRouting, esp.ProtoDestOpts:
			default:
				return f, false
			}
			if at+8 > len(pkt) {
				return f, false
			}
			nextAt, at = at, at+(int(pkt[at+1])+1)*8
		}
		if at+8 > len(pkt) || at > maxReasmHeader {
			return f, false
		}
		fh := pkt[at : at+8]
		of := binary.BigEndian.Uint16(fh[2:])
		f.v6, f.key.v6 = true, true
		f.key.id = binary.BigEndian.Uint32(fh[4:])
		copy(f.key.src[:], pkt[8:24])
		copy(f.key.dst[:], pkt[24:40])
		f.unfrag, f.nextAt, f.next = pkt[:at], nextAt, fh[0]
		f.off, f.more, f.data = int(of&^7), of&1 != 0, pkt[at+8:]
	}
	if len(f.unfrag) > maxReasmHeader || (f.more && (len(f.data) == 0 || len(f.data)%8 != 0)) {
		return f, false
	}
	return f, true
}

// fixNext makes the unfragmentable headers hdr (a copy of f.unfrag) name
// what followed the Fragment header, which the whole datagram drops.
func (f *fragment) fixNext(hdr []byte) {
	if f.v6 {
		hdr[f.nextAt] = f.next
	}
}

// finish sets the lengths of the whole datagram pkt (and, for IPv4,
// clears the fragment fields and recomputes the checksum) and returns it.
func (f *fragment) finish(pkt []byte) []byte {
	if f.v6 {
		esp.IPv6(pkt).SetPayloadLength(uint16(len(pkt) - esp.IPv6FixedHeaderSize))
		return pkt
	}
	ip := esp.IPv4(pkt)
	binary.BigEndian.PutUint16(pkt[6:], binary.BigEndian.Uint16(pkt[6:])&0x4000) // keep DF only
	ip.SetTotalLength(uint16(len(pkt)))
	ip.UpdateChecksum()
	return pkt
}
