package userspace

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/wfp"
)

// bundle is one direction of an SA context as the packet path uses it: an
// immutable description (addresses, mode, selectors, encapsulation) and a
// pointer to the state that UpdateSA carries over to the new description
// (transforms with their sequence numbers and replay windows, counters).
type bundle struct {
	id      datapath.SAID
	inbound bool
	tunnel  bool
	// local and remote are the outer addresses: the tunnel endpoints, or
	// the transport-mode addresses.
	local, remote netip.Addr
	// udp is the ESP-in-UDP encapsulation (RFC 3948); nil for plain ESP.
	udp *udpEncap
	// usock is the UDP socket of udp.localPort, on which the installed SA
	// holds a reference (set when it is installed).
	usock *sock
	// filterID is the IPsec filter (transport) or tunnel policy the
	// traffic refers to.
	filterID uint64
	// sel are the SA's selectors: the filter's conditions (in tunnel mode
	// the inner selectors) and the traffic's protocol and port overrides.
	sel conds
	// proto, localPort and remotePort are the traffic's overrides (0:
	// none); outbound SAs are filed by them (outKey).
	proto                 uint8
	localPort, remotePort uint16
	// innerV4 is the IP version of the protected packets: in tunnel mode
	// the tunnel filter's layer, in transport mode the traffic's.
	innerV4 bool
	// order is when the backend installed the SA; outbound traffic takes
	// the newest SA that fits.
	order uint64
	// pmtu is the MTU of the route to remote, for outer fragmentation.
	pmtu int
	// st is shared with the bundles that replace this one (UpdateSA).
	st *saState
	// encrypts and espAuth say what the statistics count the SA's ESP
	// traffic as: encrypted, and authenticated by ESP (set by setState).
	encrypts, espAuth bool
}

// setState attaches st to d.
func (d *bundle) setState(st *saState) {
	d.st = st
	d.encrypts, d.espAuth = false, false
	if st.esp != nil {
		c := st.esp.Config()
		d.encrypts = c.Encryption != esp.EncryptionNull
		d.espAuth = c.Integrity != esp.IntegrityNone || c.Encryption != esp.EncryptionNull
	}
}

// udpEncap is an SA's ESP-in-UDP ports.
type udpEncap struct {
	localPort, remotePort uint16
}

// saState is the part of an SA that outlives UpdateSA. Everything in it is
// safe for concurrent use by the packet goroutines.
type saState struct {
	esp *esp.SA // nil for an AH-only bundle
	ah  *esp.SA // nil without AH; in a bundle AH is outermost

	// Lifetime limits; 0 means none. soft* are 90 % of the hard limits.
	limitBytes, limitPackets uint64
	softBytes, softPackets   uint64
	// seqLimit is the last outbound sequence number the SA may use.
	seqLimit uint64

	bytes, packets atomic.Uint64
	replayDrops    atomic.Uint64
	icvFailures    atomic.Uint64
	otherDrops     atomic.Uint64
	lastUse        atomic.Int64 // Unix seconds

	// dead is set once the SA may carry no more packets: hard lifetime
	// reached or sequence numbers exhausted.
	dead atomic.Bool
	// pending holds the events to report (evSoft, evHard, evSeq); sent
	// holds those already reported, so each is reported once.
	pending, sent atomic.Uint32
	// replayPending and authPending count failures since the last report.
	replayPending, authPending atomic.Uint64
	// lastSend is when the SA last sent a packet (Unix nanoseconds), for
	// NAT keepalives.
	lastSend atomic.Int64

	// id is the SA's; q is where it queues itself when it has something
	// to report (events or failures), queued is set while it is there.
	id     datapath.SAID
	q      *notices
	queued atomic.Bool
}

// notices is the queue of SAs with something to report: an event raised
// or failures counted since the last report. A packet goroutine queues an
// SA once (saState.queued) and the housekeeping goroutine drains the
// queue, so that a report costs the SAs that have something to say, not
// every installed SA.
type notices struct {
	mu  sync.Mutex // guards sts
	sts []*saState
}

// add queues s unless it is queued already. A nil queue (tests) takes
// nothing.
func (q *notices) add(s *saState) {
	if q == nil || !s.queued.CompareAndSwap(false, true) {
		return
	}
	q.mu.Lock()
	q.sts = append(q.sts, s)
	q.mu.Unlock()
}

// take returns the queued SAs and puts spare, emptied, in their place.
// The caller must clear each SA's queued flag before it reads what the SA
// has to report, so that anything raised after the read queues it again.
func (q *notices) take(spare []*saState) []*saState {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.sts
	q.sts = spare[:0]
	return out
}

// replayFailed counts a packet refused by the replay window.
func (s *saState) replayFailed() {
	s.replayDrops.Add(1)
	if s.replayPending.Add(1) == 1 {
		s.q.add(s)
	}
}

// authFailed counts a packet that failed its integrity check.
func (s *saState) authFailed() {
	s.icvFailures.Add(1)
	if s.authPending.Add(1) == 1 {
		s.q.add(s)
	}
}

// Event bits of saState.pending and sent.
const (
	evSoft uint32 = 1 << iota
	evHard
	evSeq
)

// raise marks ev as pending unless it was already raised, and reports
// whether it did.
func (s *saState) raise(ev uint32) bool {
	for {
		old := s.sent.Load()
		if old&ev != 0 {
			return false
		}
		if s.sent.CompareAndSwap(old, old|ev) {
			s.pending.Or(ev)
			s.q.add(s)
			return true
		}
	}
}

// account counts one packet of n bytes and reports whether the SA may
// carry it: a packet that starts after the hard limit was reached is
// refused. It raises the soft and hard lifetime events as the counts
// cross 90 % and 100 %.
func (s *saState) account(n int, now int64) (ok, raised bool) {
	if s.dead.Load() {
		return false, false
	}
	p := s.packets.Add(1)
	b := s.bytes.Add(uint64(n))
	if s.limitPackets != 0 && p > s.limitPackets || s.limitBytes != 0 && b-uint64(n) >= s.limitBytes {
		s.packets.Add(^uint64(0))
		s.bytes.Add(^uint64(n - 1))
		s.dead.Store(true)
		return false, s.raise(evHard)
	}
	if s.lastUse.Load() != now {
		s.lastUse.Store(now)
	}
	if s.limitPackets != 0 && p >= s.softPackets || s.limitBytes != 0 && b >= s.softBytes {
		raised = s.raise(evSoft)
	}
	if s.limitPackets != 0 && p >= s.limitPackets || s.limitBytes != 0 && b >= s.limitBytes {
		s.dead.Store(true)
		raised = s.raise(evHard) || raised
	}
	return true, raised
}

// counters returns the SA's counters in the engine's form.
func (s *saState) counters() wfp.SACounters {
	return wfp.SACounters{
		Bytes:          s.bytes.Load(),
		Packets:        s.packets.Load(),
		ReplayDrops:    s.replayDrops.Load(),
		ICVFailures:    s.icvFailures.Load(),
		OtherDrops:     s.otherDrops.Load(),
		LastUseUnixSec: s.lastUse.Load(),
	}
}

// wipe zeroes the keys of the SA's transforms.
func (s *saState) wipe() {
	if s.esp != nil {
		s.esp.Wipe()
	}
	if s.ah != nil {
		s.ah.Wipe()
	}
}

// Errors of the SA conversion that are not WFP transform errors.
var (
	// errNoBundle: the SA description has no bundle or an empty one.
	errNoBundle = errors.New("userspace: the SA has no bundle")
	// errAddress: the traffic's addresses are not usable.
	errAddress = errors.New("userspace: bad traffic addresses")
)

// espConfigs converts a bundle's SAs to esp.Configs: the ESP one (if any)
// and the AH one (if any). Refusals are WFP errors naming the transform.
func espConfigs(b *wfp.IPsecSABundle1, dir esp.Direction, window int) (espCfg, ahCfg *esp.Config, err error) {
	if b == nil || len(b.SAList) == 0 {
		return nil, nil, errNoBundle
	}
	for i := range b.SAList {
		sa := &b.SAList[i]
		c, err := espConfig(sa, dir, window)
		if err != nil {
			return nil, nil, err
		}
		if c.Protocol == esp.ProtocolAH {
			if ahCfg != nil {
				return nil, nil, wfp.Errorf(wfp.ErrInvalidParameter, "the bundle has two AH SAs")
			}
			ahCfg = c
		} else {
			if espCfg != nil {
				return nil, nil, wfp.Errorf(wfp.ErrInvalidParameter, "the bundle has two ESP SAs")
			}
			espCfg = c
		}
	}
	return espCfg, ahCfg, nil
}

// espConfig converts one IPSEC_SA0.
func espConfig(sa *wfp.IPsecSA0, dir esp.Direction, window int) (*esp.Config, error) {
	c := &esp.Config{Protocol: esp.ProtocolESP, Direction: dir, SPI: esp.SPI(sa.SPI)}
	if dir == esp.Inbound {
		c.ReplayWindow = window
	}
	var err error
	switch sa.SATransformType {
	case wfp.TransformAH:
		if sa.AHInformation == nil {
			return nil, wfp.Errorf(wfp.ErrNullPointer, "AH SA without its information")
		}
		c.Protocol = esp.ProtocolAH
		c.Integrity, err = integrity(sa.AHInformation.AuthTransform.AuthTransformID, true)
		c.IntegrityKey = esp.Key(sa.AHInformation.AuthKey)
	case wfp.TransformESPAuth, wfp.TransformESPAuthFW:
		info := sa.ESPAuthInformation
		if sa.SATransformType == wfp.TransformESPAuthFW {
			info = sa.ESPAuthFWInformation
		}
		if info == nil {
			return nil, wfp.Errorf(wfp.ErrNullPointer, "%v SA without its information", sa.SATransformType)
		}
		c.Integrity, err = integrity(info.AuthTransform.AuthTransformID, true)
		c.IntegrityKey = esp.Key(info.AuthKey)
	case wfp.TransformESPCipher:
		if sa.ESPCipherInformation == nil {
			return nil, wfp.Errorf(wfp.ErrNullPointer, "ESP_CIPHER SA without its information")
		}
		if _, err := cipher(sa.ESPCipherInformation.CipherTransform.CipherTransformID); err != nil {
			return nil, err
		}
		return nil, wfp.Errorf(wfp.ErrInvalidAuthTransform,
			"ESP encryption without integrity (IPSEC_TRANSFORM_ESP_CIPHER) is not supported: ESP encryption must be authenticated (RFC 8221 §4)")
	case wfp.TransformESPAuthAndCipher:
		ac := sa.ESPAuthAndCipherInformation
		if ac == nil {
			return nil, wfp.Errorf(wfp.ErrNullPointer, "ESP_AUTH_AND_CIPHER SA without its information")
		}
		if c.Encryption, err = cipher(ac.SACipherInformation.CipherTransform.CipherTransformID); err != nil {
			return nil, err
		}
		c.EncryptionKey = esp.Key(ac.SACipherInformation.CipherKey)
		switch c.Encryption {
		case esp.EncryptionAESGCM128, esp.EncryptionAESGCM192, esp.EncryptionAESGCM256:
			// The GCM authentication transform names the combined mode;
			// the key (with its salt) is the cipher key.
			if _, err := integrity(ac.SAAuthInformation.AuthTransform.AuthTransformID, false); err != nil {
				return nil, err
			}
		default:
			c.Integrity, err = integrity(ac.SAAuthInformation.AuthTransform.AuthTransformID, false)
			c.IntegrityKey = esp.Key(ac.SAAuthInformation.AuthKey)
		}
	default:
		return nil, wfp.Errorf(wfp.ErrInvalidEnumerator, "SA transform type %v is not supported", sa.SATransformType)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// cipher maps a WFP cipher transform; DES and 3DES are refused (RFC 8221
// §5).
func cipher(id wfp.IPsecCipherTransformID0) (esp.Encryption, error) {
	switch id {
	case wfp.CipherTransformIDAES128:
		return esp.EncryptionAESCBC128, nil
	case wfp.CipherTransformIDAES192:
		return esp.EncryptionAESCBC192, nil
	case wfp.CipherTransformIDAES256:
		return esp.EncryptionAESCBC256, nil
	case wfp.CipherTransformIDGCMAES128:
		return esp.EncryptionAESGCM128, nil
	case wfp.CipherTransformIDGCMAES192:
		return esp.EncryptionAESGCM192, nil
	case wfp.CipherTransformIDGCMAES256:
		return esp.EncryptionAESGCM256, nil
	case wfp.CipherTransformIDCBCDES:
		return 0, wfp.Errorf(wfp.ErrInvalidCipherTransform, "DES-CBC is not supported by the userspace data path: it is insecure (RFC 8221 §5: MUST NOT)")
	case wfp.CipherTransformIDCBC3DES:
		return 0, wfp.Errorf(wfp.ErrInvalidCipherTransform, "3DES-CBC is not supported by the userspace data path: its 64-bit block is insecure (RFC 8221 §5: SHOULD NOT)")
	}
	return 0, wfp.Errorf(wfp.ErrInvalidCipherTransform, "cipher transform %v is not supported by the userspace data path", id)
}

// integrity maps a WFP authentication transform. gmac says whether the GCM
// ids mean AES-GMAC (AH, ESP_AUTH) rather than naming the combined AES-GCM
// mode. HMAC-MD5 is refused (RFC 8221 §6).
func integrity(id wfp.IPsecAuthTransformID0, gmac bool) (esp.Integrity, error) {
	switch id {
	case wfp.AuthTransformIDHMACSHA196:
		return esp.IntegrityHMACSHA1, nil
	case wfp.AuthTransformIDHMACSHA256128:
		return esp.IntegrityHMACSHA256, nil
	case wfp.AuthTransformIDHMACMD596:
		return 0, wfp.Errorf(wfp.ErrInvalidAuthTransform, "HMAC-MD5-96 is not supported by the userspace data path: it is insecure (RFC 8221 §6: MUST NOT)")
	case wfp.AuthTransformIDGCMAES128, wfp.AuthTransformIDGCMAES192, wfp.AuthTransformIDGCMAES256:
		if !gmac {
			return esp.IntegrityNone, nil
		}
		return esp.IntegrityAESGMAC128 + esp.Integrity(id.AuthType-wfp.AuthAES128), nil
	}
	return 0, wfp.Errorf(wfp.ErrInvalidAuthTransform, "authentication transform %v is not supported by the userspace data path", id)
}

// transformError turns an esp.NewSA refusal into a WFP error.
func transformError(err error) error {
	switch {
	case errors.Is(err, esp.ErrDES), errors.Is(err, esp.Err3DES):
		return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%v", err)
	case errors.Is(err, esp.ErrMD5):
		return wfp.Errorf(wfp.ErrInvalidAuthTransform, "%v", err)
	case errors.Is(err, esp.ErrKeyLength), errors.Is(err, esp.ErrTransform):
		return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%v", err)
	case errors.Is(err, esp.ErrReservedSPI):
		return wfp.Errorf(wfp.ErrInvalidParameter, "%v", err)
	}
	return err
}

// newBundle validates sa and builds the bundle that carries it, with
// fresh transforms. The caller wipes them if it does not install the
// bundle.
func (b *Backend) newBundle(sa *datapath.SA) (*bundle, error) {
	d, err := b.describe(sa)
	if err != nil {
		return nil, err
	}
	dir := esp.Outbound
	if d.inbound {
		dir = esp.Inbound
	}
	espCfg, ahCfg, err := espConfigs(sa.Bundle, dir, b.cfg.ReplayWindow)
	if err != nil {
		return nil, err
	}
	if ahCfg != nil && d.udp != nil {
		return nil, wfp.Errorf(wfp.ErrInvalidParameter, "AH cannot be carried in UDP (RFC 3948 encapsulates ESP only)")
	}
	st := &saState{seqLimit: b.cfg.seqLimit, id: d.id, q: &b.notices}
	if espCfg != nil {
		if st.esp, err = esp.NewSA(*espCfg); err != nil {
			return nil, transformError(err)
		}
	}
	if ahCfg != nil {
		if st.ah, err = esp.NewSA(*ahCfg); err != nil {
			st.wipe()
			return nil, transformError(err)
		}
	}
	lt := sa.Bundle.Lifetime
	st.limitBytes = uint64(lt.LifetimeKilobytes) * 1024
	st.limitPackets = uint64(lt.LifetimePackets)
	st.softBytes = st.limitBytes * 9 / 10
	st.softPackets = st.limitPackets * 9 / 10
	if st.limitPackets != 0 && st.softPackets == 0 {
		st.softPackets = 1
	}
	d.setState(st)
	return d, nil
}

// describe builds the immutable part of a bundle from sa.
func (b *Backend) describe(sa *datapath.SA) (*bundle, error) {
	if sa.Bundle == nil || len(sa.Bundle.SAList) == 0 {
		return nil, errNoBundle
	}
	t := &sa.Traffic
	d := &bundle{id: sa.ID, inbound: sa.ID.Direction == wfp.DirectionInbound}
	switch t.TrafficType {
	case wfp.TrafficTypeTransport:
		d.filterID = t.IPsecFilterID
	case wfp.TrafficTypeTunnel:
		d.tunnel, d.filterID = true, t.TunnelPolicyID
	default:
		return nil, fmt.Errorf("%w: traffic type %v", datapath.ErrNotSupported, t.TrafficType)
	}
	switch t.IPVersion {
	case wfp.IPVersionV4, wfp.IPVersionV6:
	default:
		return nil, fmt.Errorf("%w: IP version %v", errAddress, t.IPVersion)
	}
	d.local, d.remote = t.LocalAddr(), t.RemoteAddr()
	if !d.local.IsValid() || !d.remote.IsValid() || d.local.IsUnspecified() || d.remote.IsUnspecified() ||
		d.remote.IsMulticast() {
		return nil, fmt.Errorf("%w: %v to %v", errAddress, d.local, d.remote)
	}
	d.innerV4 = t.IPVersion == wfp.IPVersionV4
	if f := sa.Filter; f != nil {
		if sa.Filter.FilterID != 0 {
			d.filterID = sa.Filter.FilterID
		}
		sel, v4 := b.compiled(f)
		d.sel = sel
		if d.tunnel {
			d.innerV4 = v4
		}
	} else if d.tunnel {
		return nil, fmt.Errorf("%w: a tunnel-mode SA needs its tunnel filter", datapath.ErrNotSupported)
	}
	d.proto, d.localPort, d.remotePort = t.IPProtocol, t.LocalPort, t.RemotePort
	d.sel = slices.Clip(d.sel) // shared with the filter: appending copies
	if t.IPProtocol != 0 {
		d.sel = append(d.sel, cond{f: fieldProtocol, ivs: []ival{{u128{lo: uint64(t.IPProtocol)}, u128{lo: uint64(t.IPProtocol)}}}})
	}
	if t.LocalPort != 0 {
		d.sel = append(d.sel, cond{f: fieldLocalPort, ivs: []ival{{u128{lo: uint64(t.LocalPort)}, u128{lo: uint64(t.LocalPort)}}}})
	}
	if t.RemotePort != 0 {
		d.sel = append(d.sel, cond{f: fieldRemotePort, ivs: []ival{{u128{lo: uint64(t.RemotePort)}, u128{lo: uint64(t.RemotePort)}}}})
	}
	if u := sa.UDPEncapsulation; u != nil {
		if !d.local.Is4() {
			return nil, fmt.Errorf("%w: UDP encapsulation is IPv4 only", datapath.ErrNotSupported)
		}
		if u.LocalUDPEncapPort == 0 || u.RemoteUDPEncapPort == 0 {
			return nil, wfp.Errorf(wfp.ErrInvalidParameter, "UDP encapsulation ports must not be 0")
		}
		d.udp = &udpEncap{localPort: u.LocalUDPEncapPort, remotePort: u.RemoteUDPEncapPort}
	}
	return d, nil
}

// compiled returns the compiled conditions of f and its layer's IP
// version: shared with the installed filter of that id (filters do not
// change; one added again has the same content), compiled afresh when it
// is not installed. The result is read-only.
func (b *Backend) compiled(f *wfp.FwpmFilter0) (conds, bool) {
	if f.FilterID != 0 {
		b.mu.Lock()
		e := b.filters[f.FilterID]
		b.mu.Unlock()
		if e != nil && e.info.layer == f.LayerKey {
			return e.info.conds, e.info.v4
		}
	}
	fi := compileFilter(f)
	return fi.conds, fi.v4
}

// overhead returns the most protection adds to a packet of d: the outer
// IP header (tunnel mode), UDP, the ESP header, IV, padding, trailer and
// ICV, and AH.
func (d *bundle) overhead() int {
	n := 0
	if d.tunnel {
		n += esp.IPv4MinimumSize
		if d.remote.Is6() {
			n += esp.IPv6FixedHeaderSize - esp.IPv4MinimumSize
		}
	}
	if d.udp != nil {
		n += esp.UDPHeaderSize
	}
	if d.st.esp != nil {
		n += d.st.esp.HeaderLen() + d.st.esp.MaxTrailerLen()
	}
	if d.st.ah != nil {
		v := 4
		if d.remote.Is6() {
			v = 6
		}
		n += d.st.ah.AHLen(v)
	}
	return n
}

// matchesOutbound reports whether the outbound bundle d may carry the
// packet flow fl, which matched d's filter.
func (d *bundle) matchesOutbound(fl *flow) bool {
	if !d.tunnel && (fl.local != d.local || fl.remote != d.remote) {
		return false
	}
	return d.sel.match(fl)
}

// matchesInbound reports whether the decrypted packet flow fl is one the
// inbound bundle d protects (RFC 4301 §5.2 step 4).
func (d *bundle) matchesInbound(fl *flow) bool {
	if !d.tunnel && (fl.local != d.local || fl.remote != d.remote) {
		return false
	}
	return d.sel.match(fl)
}

// nowUnix is the clock of the counters.
func nowUnix() int64 { return time.Now().Unix() }
