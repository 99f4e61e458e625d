package esp

import (
	"encoding/binary"
	"io"
	"time"
)

// pcapWriter writes a classic libpcap file (the tcpdump format) whose
// records are raw IPv4 or IPv6 packets, LINKTYPE_RAW (101): enough for
// tshark to read what our code sealed.
type pcapWriter struct {
	w   io.Writer
	now time.Time
	err error
}

const (
	pcapMagic      = 0xa1b2c3d4 // microsecond timestamps
	pcapLinkRaw    = 101        // LINKTYPE_RAW: the packet starts with the IP header
	pcapSnapLength = 0xffff
)

func newPCAPWriter(w io.Writer) *pcapWriter {
	p := &pcapWriter{w: w, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagic)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	// thiszone and sigfigs stay 0.
	binary.LittleEndian.PutUint32(h[16:], pcapSnapLength)
	binary.LittleEndian.PutUint32(h[20:], pcapLinkRaw)
	_, p.err = w.Write(h[:])
	return p
}

// writePacket appends one record, a millisecond after the previous one.
func (p *pcapWriter) writePacket(pkt []byte) {
	if p.err != nil {
		return
	}
	p.now = p.now.Add(time.Millisecond)
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(p.now.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(p.now.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(pkt)))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(pkt)))
	if _, p.err = p.w.Write(h[:]); p.err == nil {
		_, p.err = p.w.Write(pkt)
	}
}
