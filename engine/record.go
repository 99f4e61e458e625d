package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// SA context records are stored in a compact binary form. Decoding the
// JSON form they had before was most of the time a large store took to
// load (about 2 KB and tens of microseconds per record), and encoding it a
// fifth of the CPU time of a durable call; both forms are read.
//
// A binary record is recordBinaryV1 followed by the fields of ctxRecord in
// declaration order; a JSON record starts with '{'. Encodings:
//
//	integers            uvarint (enums, addresses and ports included)
//	V6Addr, GUID        16 bytes
//	time                uvarint 0 for the zero time, else 1 and the
//	                    zigzag varint of its Unix time in nanoseconds
//	pointer             byte 0 (nil) or 1, then the value
//	string, []byte      uvarint length, then the bytes (length 0: nil)
//	slice               uvarint count, then the elements
//
// IPsecTraffic1: IPVersion, LocalV4Address, LocalV6Address,
// RemoteV4Address, RemoteV6Address, TrafficType, IPsecFilterID,
// TunnelPolicyID, RemotePort, LocalPort, IPProtocol, LocalIfLUID,
// RealIfProfileID. A bundleRecord is its IPsecSABundle1 in declaration
// order without SAList, then its saRecords, then Added. Nothing may follow
// the last field. TestRecordCoversEveryField fails when a field is added
// to any of these types and not here.
const recordBinaryV1 = 0x01

// errRecord is returned for a binary record that is cut short, too long, or
// holds a value out of range.
var errRecord = errors.New("malformed binary record")

// Shortest encodings, bounding the count a slice header may claim.
const (
	minTokenSize = 4 // four uvarints
	minSASize    = 6 // SPI, Type, two pointer flags, two blob lengths
)

// appendCtxRecord appends the binary form of r to b.
func appendCtxRecord(b []byte, r *ctxRecord) []byte {
	w := recWriter{b: append(b, recordBinaryV1)}
	w.uv(r.ID)
	w.uv(uint64(r.State))
	w.time(r.Created)
	w.traffic(&r.OutTraffic)
	if w.flag(r.VIF != nil) {
		w.uv(r.VIF.VirtualIfTunnelID)
		w.uv(r.VIF.TrafficSelectorID)
	}
	if w.flag(r.GetSpi != nil) {
		w.traffic(&r.GetSpi.InboundIPsecTraffic)
		w.uv(uint64(r.GetSpi.IPVersion))
		w.udp(r.GetSpi.InboundUDPEncapsulation)
		if w.flag(r.GetSpi.RngCryptoModuleID != nil) {
			w.b = append(w.b, r.GetSpi.RngCryptoModuleID[:]...)
		}
	}
	w.uv(uint64(r.SPI))
	w.traffic(&r.InTraffic)
	w.udp(r.InUDP)
	w.udp(r.OutUDP)
	w.bundle(r.In)
	w.bundle(r.Out)
	w.time(r.ExpiredAt)
	return w.b
}

// decodeCtxRecord decodes a binary record (recordBinaryV1 first) into r.
func decodeCtxRecord(b []byte, r *ctxRecord) error {
	if len(b) == 0 || b[0] != recordBinaryV1 {
		return fmt.Errorf("%w: not a binary record", errRecord)
	}
	d := recReader{b: b[1:]}
	r.ID = d.uv()
	r.State = wfp.SAContextState(d.u8())
	r.Created = d.time()
	d.traffic(&r.OutTraffic)
	if d.flag() {
		r.VIF = &wfp.IPsecVirtualIfTunnelInfo0{VirtualIfTunnelID: d.uv(), TrafficSelectorID: d.uv()}
	}
	if d.flag() {
		g := &wfp.IPsecGetSPI1{}
		d.traffic(&g.InboundIPsecTraffic)
		g.IPVersion = wfp.IPVersion(d.u32())
		g.InboundUDPEncapsulation = d.udp()
		if d.flag() {
			g.RngCryptoModuleID = new(wfp.GUID(d.fixed16()))
		}
		r.GetSpi = g
	}
	r.SPI = d.u32()
	d.traffic(&r.InTraffic)
	r.InUDP = d.udp()
	r.OutUDP = d.udp()
	r.In = d.bundle()
	r.Out = d.bundle()
	r.ExpiredAt = d.time()
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d bytes after the last field", errRecord, len(d.b))
	}
	return d.err
}

// recWriter appends the encodings above.
type recWriter struct{ b []byte }

func (w *recWriter) uv(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *recWriter) flag(ok bool) bool {
	if ok {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
	return ok
}

func (w *recWriter) blob(p []byte) {
	w.uv(uint64(len(p)))
	w.b = append(w.b, p...)
}

func (w *recWriter) time(t time.Time) {
	if w.flag(!t.IsZero()) {
		w.b = binary.AppendVarint(w.b, t.UnixNano())
	}
}

func (w *recWriter) traffic(t *wfp.IPsecTraffic1) {
	w.uv(uint64(t.IPVersion))
	w.uv(uint64(t.LocalV4Address))
	w.b = append(w.b, t.LocalV6Address[:]...)
	w.uv(uint64(t.RemoteV4Address))
	w.b = append(w.b, t.RemoteV6Address[:]...)
	w.uv(uint64(t.TrafficType))
	w.uv(t.IPsecFilterID)
	w.uv(t.TunnelPolicyID)
	w.uv(uint64(t.RemotePort))
	w.uv(uint64(t.LocalPort))
	w.uv(uint64(t.IPProtocol))
	w.uv(t.LocalIfLUID)
	w.uv(uint64(t.RealIfProfileID))
}

func (w *recWriter) udp(u *wfp.IPsecV4UDPEncapsulation0) {
	if w.flag(u != nil) {
		w.uv(uint64(u.LocalUDPEncapPort))
		w.uv(uint64(u.RemoteUDPEncapPort))
	}
}

func (w *recWriter) bundle(r *bundleRecord) {
	if !w.flag(r != nil) {
		return
	}
	b := &r.Bundle
	w.uv(uint64(b.Flags))
	w.uv(uint64(b.Lifetime.LifetimeSeconds))
	w.uv(uint64(b.Lifetime.LifetimeKilobytes))
	w.uv(uint64(b.Lifetime.LifetimePackets))
	w.uv(uint64(b.IdleTimeoutSeconds))
	w.uv(uint64(b.NDAllowClearTimeoutSeconds))
	if id := b.IPsecID; w.flag(id != nil) {
		w.blob([]byte(id.MMTargetName))
		w.blob([]byte(id.EMTargetName))
		w.uv(uint64(len(id.Tokens)))
		for _, t := range id.Tokens {
			w.uv(uint64(t.Type))
			w.uv(uint64(t.Principal))
			w.uv(uint64(t.Mode))
			w.uv(t.Token)
		}
		w.uv(id.ExplicitCredentials)
		w.uv(id.LogonID)
	}
	w.uv(uint64(b.NAPContext))
	w.uv(uint64(b.QMSAID))
	if k := b.KeyModuleState; w.flag(k != nil) {
		w.b = append(w.b, k.KeyModuleKey[:]...)
		w.blob(k.StateBlob)
	}
	w.uv(uint64(b.IPVersion))
	w.uv(uint64(b.PeerV4PrivateAddress))
	w.uv(b.MMSAID)
	w.uv(uint64(b.PFSGroup))
	w.b = append(w.b, b.SALookupContext[:]...)
	w.uv(b.QMFilterID)
	w.uv(uint64(len(r.SAs)))
	for i := range r.SAs {
		sa := &r.SAs[i]
		w.uv(uint64(sa.SPI))
		w.uv(uint64(sa.Type))
		if w.flag(sa.AuthID != nil) {
			w.uv(uint64(sa.AuthID.AuthType))
			w.uv(uint64(sa.AuthID.AuthConfig))
		}
		if w.flag(sa.CipherID != nil) {
			w.uv(uint64(sa.CipherID.CipherType))
			w.uv(uint64(sa.CipherID.CipherConfig))
		}
		w.blob(sa.AuthKey)
		w.blob(sa.CipherKey)
	}
	w.time(r.Added)
}

// recReader decodes the encodings above. The first problem sticks in err;
// every read after it returns zero values.
type recReader struct {
	b   []byte
	err error
}

func (d *recReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errRecord, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *recReader) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad or missing integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recReader) max(limit uint64) uint64 {
	v := d.uv()
	if v > limit {
		d.fail("%d is out of range (at most %d)", v, limit)
		return 0
	}
	return v
}

func (d *recReader) u32() uint32 { return uint32(d.max(math.MaxUint32)) }
func (d *recReader) u16() uint16 { return uint16(d.max(math.MaxUint16)) }
func (d *recReader) u8() uint8   { return uint8(d.max(math.MaxUint8)) }

func (d *recReader) flag() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("bad or missing flag")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *recReader) fixed16() (v [16]byte) {
	if d.err != nil {
		return v
	}
	if len(d.b) < 16 {
		d.fail("cut short")
		return v
	}
	copy(v[:], d.b)
	d.b = d.b[16:]
	return v
}

// blob returns a copy of a length-prefixed byte string (nil if empty).
func (d *recReader) blob() []byte {
	n := d.uv()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("a %d-byte string in %d bytes", n, len(d.b))
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

// count reads a slice length whose elements take at least size bytes each.
func (d *recReader) count(size int) int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)/size) {
		d.fail("%d elements in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *recReader) time() time.Time {
	if !d.flag() {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad or missing time")
		return time.Time{}
	}
	d.b = d.b[n:]
	return time.Unix(0, v)
}

func (d *recReader) traffic(t *wfp.IPsecTraffic1) {
	t.IPVersion = wfp.IPVersion(d.u32())
	t.LocalV4Address = wfp.V4Addr(d.u32())
	t.LocalV6Address = d.fixed16()
	t.RemoteV4Address = wfp.V4Addr(d.u32())
	t.RemoteV6Address = d.fixed16()
	t.TrafficType = wfp.TrafficType(d.u32())
	t.IPsecFilterID = d.uv()
	t.TunnelPolicyID = d.uv()
	t.RemotePort = d.u16()
	t.LocalPort = d.u16()
	t.IPProtocol = d.u8()
	t.LocalIfLUID = d.uv()
	t.RealIfProfileID = d.u32()
}

func (d *recReader) udp() *wfp.IPsecV4UDPEncapsulation0 {
	if !d.flag() {
		return nil
	}
	return &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: d.u16(), RemoteUDPEncapPort: d.u16()}
}

func (d *recReader) bundle() *bundleRecord {
	if !d.flag() {
		return nil
	}
	r := &bundleRecord{}
	b := &r.Bundle
	b.Flags = d.u32()
	b.Lifetime = wfp.IPsecSALifetime0{LifetimeSeconds: d.u32(), LifetimeKilobytes: d.u32(), LifetimePackets: d.u32()}
	b.IdleTimeoutSeconds = d.u32()
	b.NDAllowClearTimeoutSeconds = d.u32()
	if d.flag() {
		id := &wfp.IPsecID0{MMTargetName: string(d.blob()), EMTargetName: string(d.blob())}
		if n := d.count(minTokenSize); n > 0 {
			id.Tokens = make([]wfp.IPsecToken0, n)
			for i := range id.Tokens {
				id.Tokens[i] = wfp.IPsecToken0{Type: wfp.TokenType(d.u32()), Principal: wfp.TokenPrincipal(d.u32()),
					Mode: wfp.TokenMode(d.u32()), Token: d.uv()}
			}
		}
		id.ExplicitCredentials = d.uv()
		id.LogonID = d.uv()
		b.IPsecID = id
	}
	b.NAPContext = d.u32()
	b.QMSAID = d.u32()
	if d.flag() {
		b.KeyModuleState = &wfp.IPsecKeyModuleState0{KeyModuleKey: d.fixed16(), StateBlob: d.blob()}
	}
	b.IPVersion = wfp.IPVersion(d.u32())
	b.PeerV4PrivateAddress = wfp.V4Addr(d.u32())
	b.MMSAID = d.uv()
	b.PFSGroup = wfp.PFSGroup(d.u32())
	b.SALookupContext = d.fixed16()
	b.QMFilterID = d.uv()
	if n := d.count(minSASize); n > 0 {
		r.SAs = make([]saRecord, n)
		for i := range r.SAs {
			sa := &r.SAs[i]
			sa.SPI = d.u32()
			sa.Type = wfp.TransformType(d.u32())
			if d.flag() {
				sa.AuthID = &wfp.IPsecAuthTransformID0{AuthType: wfp.AuthType(d.u32()), AuthConfig: wfp.AuthConfig(d.u8())}
			}
			if d.flag() {
				sa.CipherID = &wfp.IPsecCipherTransformID0{CipherType: wfp.CipherType(d.u32()), CipherConfig: wfp.CipherConfig(d.u8())}
			}
			sa.AuthKey = d.blob()
			sa.CipherKey = d.blob()
		}
	}
	r.Added = d.time()
	return r
}
