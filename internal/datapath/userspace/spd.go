package userspace

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"

	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/wfp"
)

// The security policy database: the engine's filters compiled into rules
// over the fields of a packet (RFC 4301 §4.4.1 selectors as WFP names
// them), and the selectors of each SA.

// u128 is an unsigned 128-bit number: every condition value maps onto it,
// IPv4 addresses in the low 32 bits, IPv6 addresses whole.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) inc() u128 {
	if a.lo == math.MaxUint64 {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func (a u128) dec() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, math.MaxUint64}
	}
	return u128{a.hi, a.lo - 1}
}

func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// ival is a closed interval of values.
type ival struct{ lo, hi u128 }

var fullIval = ival{u128{}, u128{math.MaxUint64, math.MaxUint64}}

func (v ival) contains(x u128) bool { return v.lo.cmp(x) <= 0 && x.cmp(v.hi) <= 0 }

// field is a packet field a condition tests.
type field uint8

const (
	fieldUnknown    field = iota // a field the data path cannot see
	fieldLocalAddr               // IP_LOCAL_ADDRESS
	fieldRemoteAddr              // IP_REMOTE_ADDRESS
	fieldProtocol                // IP_PROTOCOL
	fieldLocalPort               // IP_LOCAL_PORT (ICMP type)
	fieldRemotePort              // IP_REMOTE_PORT (ICMP code)
	fieldLocalType               // IP_LOCAL_ADDRESS_TYPE
	fieldDestType                // IP_DESTINATION_ADDRESS_TYPE
)

func fieldOf(id wfp.FieldID) field {
	switch id {
	case wfp.ConditionIPLocalAddress:
		return fieldLocalAddr
	case wfp.ConditionIPRemoteAddress:
		return fieldRemoteAddr
	case wfp.ConditionIPProtocol:
		return fieldProtocol
	case wfp.ConditionIPLocalPort:
		return fieldLocalPort
	case wfp.ConditionIPRemotePort:
		return fieldRemotePort
	case wfp.ConditionIPLocalAddressType:
		return fieldLocalType
	case wfp.ConditionIPDestinationAddressType:
		return fieldDestType
	}
	return fieldUnknown
}

// cond is one field's test: the value must lie in one of ivs (consecutive
// WFP conditions on one field are ORed into one cond).
type cond struct {
	f   field
	ivs []ival
}

// conds is a conjunction of conds.
type conds []cond

// compileConds turns WFP filter conditions into conds. unknown reports
// whether some condition tests a field the data path cannot evaluate
// (interface, profile, flags, ...); such a condition is left out.
func compileConds(cs []wfp.FwpmFilterCondition0) (out conds, unknown bool) {
	for i := 0; i < len(cs); {
		j := i
		var union []ival
		for ; j < len(cs) && cs[j].FieldKey == cs[i].FieldKey; j++ {
			union = append(union, condIvals(&cs[j])...)
		}
		f := fieldOf(cs[i].FieldKey)
		if f == fieldUnknown {
			unknown = true
		} else {
			out = append(out, cond{f: f, ivs: union})
		}
		i = j
	}
	return out.compact(), unknown
}

// compact copies cs into two allocations of exactly its size: compiled
// conditions live as long as their filter or SA, 100,000s of them, and
// should not keep what building them left spare.
func (cs conds) compact() conds {
	if len(cs) == 0 {
		return nil
	}
	n := 0
	for _, c := range cs {
		n += len(c.ivs)
	}
	out := make(conds, len(cs))
	ivs := make([]ival, n)
	for i, c := range cs {
		k := copy(ivs, c.ivs)
		out[i] = cond{f: c.f, ivs: ivs[:k:k]}
		ivs = ivs[k:]
	}
	return out
}

// scalar returns the number a single FWP value stands for.
func scalar(v *wfp.FwpValue0) u128 {
	hi, lo := v.Scalar()
	return u128{hi, lo}
}

// condIvals returns the values one condition admits.
func condIvals(c *wfp.FwpmFilterCondition0) []ival {
	v := &c.ConditionValue
	var lo, hi u128
	switch {
	case v.Type == wfp.DataTypeRange && v.RangeValue != nil:
		lo, hi = scalar(&v.RangeValue.ValueLow), scalar(&v.RangeValue.ValueHigh)
		if c.MatchType == wfp.MatchRange || c.MatchType == wfp.MatchEqual {
			return []ival{{lo, hi}}
		}
	case v.Type == wfp.DataTypeV4AddrMask && v.V4AddrMask != nil:
		a := uint64(uint32(v.V4AddrMask.Addr) & v.V4AddrMask.Mask)
		lo, hi = u128{lo: a}, u128{lo: a | uint64(^v.V4AddrMask.Mask)}
	case v.Type == wfp.DataTypeV6AddrMask && v.V6AddrMask != nil:
		p := netip.PrefixFrom(v.V6AddrMask.Addr.Addr(), int(min(v.V6AddrMask.PrefixLength, 128))).Masked()
		lo, hi = prefixBounds(p)
	default:
		x := scalar(&v.FwpValue0)
		lo, hi = x, x
	}
	switch c.MatchType {
	case wfp.MatchEqual, wfp.MatchRange:
		return []ival{{lo, hi}}
	case wfp.MatchNotEqual:
		var out []ival
		if lo.cmp(fullIval.lo) > 0 {
			out = append(out, ival{fullIval.lo, lo.dec()})
		}
		if hi.cmp(fullIval.hi) < 0 {
			out = append(out, ival{hi.inc(), fullIval.hi})
		}
		return out
	case wfp.MatchGreater:
		if hi == fullIval.hi {
			return nil
		}
		return []ival{{hi.inc(), fullIval.hi}}
	case wfp.MatchGreaterOrEqual:
		return []ival{{lo, fullIval.hi}}
	case wfp.MatchLess:
		if lo == fullIval.lo {
			return nil
		}
		return []ival{{fullIval.lo, lo.dec()}}
	case wfp.MatchLessOrEqual:
		return []ival{{fullIval.lo, hi}}
	}
	return []ival{fullIval} // FLAGS_*: not on these fields; admit all
}

// prefixBounds returns the first and last address of p as numbers.
func prefixBounds(p netip.Prefix) (u128, u128) {
	lo := addrU128(p.Addr())
	bits := 128
	if p.Addr().Is4() {
		bits = 32
	}
	host := bits - p.Bits()
	hi := lo
	switch {
	case host >= 128:
		hi = fullIval.hi
	case host >= 64:
		hi.lo = math.MaxUint64
		hi.hi |= (1 << (host - 64)) - 1
	case host > 0:
		hi.lo |= (1 << host) - 1
	}
	return lo, hi
}

// flow is what the selectors see of a packet, from the local host's point
// of view: for an outbound packet local is the source, for an inbound one
// the destination.
type flow struct {
	local, remote         netip.Addr
	proto                 uint8
	localPort, remotePort uint16 // ICMP: type and code
	// opaquePorts is set for a non-initial fragment, whose ports are not
	// in the packet (RFC 4301 §4.4.1 OPAQUE).
	opaquePorts bool
}

// addrType returns the NL_ADDRESS_TYPE of a.
func addrType(a netip.Addr) uint64 {
	switch {
	case a.IsUnspecified():
		return uint64(wfp.NlatUnspecified)
	case a.IsMulticast():
		return uint64(wfp.NlatMulticast)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return uint64(wfp.NlatBroadcast)
	}
	return uint64(wfp.NlatUnicast)
}

// value returns the flow's value of f, and false when the flow does not
// have it (ports of a non-initial fragment).
func (fl *flow) value(f field) (u128, bool) {
	switch f {
	case fieldLocalAddr:
		return addrU128(fl.local), true
	case fieldRemoteAddr:
		return addrU128(fl.remote), true
	case fieldProtocol:
		return u128{lo: uint64(fl.proto)}, true
	case fieldLocalPort:
		return u128{lo: uint64(fl.localPort)}, !fl.opaquePorts
	case fieldRemotePort:
		return u128{lo: uint64(fl.remotePort)}, !fl.opaquePorts
	case fieldLocalType:
		return u128{lo: addrType(fl.local)}, true
	case fieldDestType:
		return u128{lo: addrType(fl.remote)}, true
	}
	return u128{}, false
}

// match reports whether fl satisfies every cond. A port condition never
// matches opaque ports.
func (cs conds) match(fl *flow) bool {
	for i := range cs {
		c := &cs[i]
		x, ok := fl.value(c.f)
		if !ok {
			return false
		}
		in := false
		for _, v := range c.ivs {
			if v.contains(x) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

// prefixes returns the addresses conds admit for field f as prefixes of
// the given IP version, at most limit of them; all is true when f is not
// constrained (every address).
func (cs conds) prefixes(f field, v4 bool, limit int) (out []netip.Prefix, all bool) {
	top := fullIval.hi
	if v4 {
		top = u128{lo: math.MaxUint32}
	}
	ivs := []ival{{u128{}, top}}
	constrained := false
	for _, c := range cs {
		if c.f != f {
			continue
		}
		constrained = true
		ivs = intersect(ivs, c.ivs)
	}
	if !constrained {
		return nil, true
	}
	for _, v := range ivs {
		out = appendRangePrefixes(out, v, v4, limit)
		if len(out) >= limit {
			return out[:limit], false
		}
	}
	return out, false
}

func intersect(a, b []ival) []ival {
	var out []ival
	for _, x := range a {
		for _, y := range b {
			lo, hi := x.lo, x.hi
			if y.lo.cmp(lo) > 0 {
				lo = y.lo
			}
			if y.hi.cmp(hi) < 0 {
				hi = y.hi
			}
			if lo.cmp(hi) <= 0 {
				out = append(out, ival{lo, hi})
			}
		}
	}
	return out
}

// appendRangePrefixes appends the smallest set of prefixes covering v.
func appendRangePrefixes(out []netip.Prefix, v ival, v4 bool, limit int) []netip.Prefix {
	bits := 128
	if v4 {
		bits = 32
	}
	lo := v.lo
	for lo.cmp(v.hi) <= 0 && len(out) < limit {
		// The largest block starting at lo that stays within v.
		host := 0
		for host < bits {
			n := host + 1
			// lo must be aligned to 2^n and lo + 2^n - 1 <= hi.
			if !aligned(lo, n) {
				break
			}
			end := addLowOnes(lo, n)
			if end.cmp(v.hi) > 0 {
				break
			}
			host = n
		}
		out = append(out, netip.PrefixFrom(u128Addr(lo, v4), bits-host))
		end := addLowOnes(lo, host)
		if end == fullIval.hi || (v4 && end.lo == math.MaxUint32) {
			break
		}
		lo = end.inc()
	}
	return out
}

// aligned reports whether the low n bits of x are zero.
func aligned(x u128, n int) bool {
	switch {
	case n >= 128:
		return x == u128{}
	case n >= 64:
		return x.lo == 0 && x.hi&((1<<(n-64))-1) == 0
	}
	return x.lo&((1<<n)-1) == 0
}

// addLowOnes returns x with its low n bits set.
func addLowOnes(x u128, n int) u128 {
	switch {
	case n >= 128:
		return fullIval.hi
	case n >= 64:
		return u128{x.hi | (1<<(n-64) - 1), math.MaxUint64}
	case n > 0:
		return u128{x.hi, x.lo | (1<<n - 1)}
	}
	return x
}

func u128Addr(x u128, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

// verdict is what the SPD decides for an outbound packet.
type verdict uint8

const (
	verdictClear   verdict = iota + 1 // PERMIT, or no filter matched: send in clear
	verdictBlock                      // BLOCK: drop
	verdictProtect                    // an IPsec callout: needs an SA
)

// rule is one outbound filter of the SPD.
type rule struct {
	id      uint64
	weight  uint64
	verdict verdict
	tunnel  bool // IPsec tunnel callout
	conds   conds
	// unknown is set when the filter tests fields the data path cannot
	// see. Such a filter is taken to match when its action protects or
	// blocks, and never when it permits, so that an unknown condition
	// never lets a packet out in clear.
	unknown bool
	// filed is where the SPD index filed the rule; the index's writer
	// owns it.
	filed []filing
}

func (r *rule) match(fl *flow) bool {
	if r.unknown && r.verdict == verdictClear {
		return false
	}
	return r.conds.match(fl)
}

// filterInfo is what the backend keeps of one filter.
type filterInfo struct {
	id        uint64
	layer     wfp.LayerID
	v4        bool // the layer's IP version
	outbound  bool // an outbound transport layer
	rule      *rule
	callout   wfp.CalloutID
	isIPsec   bool // an IPsec transport or tunnel callout
	tunnel    bool
	conds     conds
	unknown   bool
	localIval []ival // IP_LOCAL_ADDRESS, for route sources
}

// compileFilter classifies f.
func compileFilter(f *wfp.FwpmFilter0) *filterInfo {
	fi := &filterInfo{id: f.FilterID, layer: f.LayerKey}
	fi.conds, fi.unknown = compileConds(f.FilterCondition)
	switch f.LayerKey {
	case wfp.LayerOutboundTransportV4:
		fi.v4, fi.outbound = true, true
	case wfp.LayerOutboundTransportV6:
		fi.outbound = true
	case wfp.LayerInboundTransportV4, wfp.LayerInboundIPPacketV4, wfp.LayerOutboundIPPacketV4, wfp.LayerIPForwardV4,
		wfp.LayerIPsecV4, wfp.LayerIKEEXTV4, wfp.LayerIPsecKMDemuxV4:
		fi.v4 = true
	}
	if f.Action.Type.IsCallout() {
		fi.callout = f.Action.CalloutKey
		switch f.Action.CalloutKey {
		case wfp.CalloutIPsecOutboundTransportV4, wfp.CalloutIPsecOutboundTransportV6,
			wfp.CalloutIPsecInboundTransportV4, wfp.CalloutIPsecInboundTransportV6:
			fi.isIPsec = true
		case wfp.CalloutIPsecOutboundTunnelV4, wfp.CalloutIPsecOutboundTunnelV6,
			wfp.CalloutIPsecInboundTunnelV4, wfp.CalloutIPsecInboundTunnelV6:
			fi.isIPsec, fi.tunnel = true, true
		}
	}
	if !fi.outbound {
		return fi
	}
	r := &rule{id: f.FilterID, weight: f.EffectiveWeight.Uint64, conds: fi.conds, unknown: fi.unknown, tunnel: fi.tunnel}
	switch {
	case f.Action.Type == wfp.ActionPermit:
		r.verdict = verdictClear
	case f.Action.Type == wfp.ActionBlock:
		r.verdict = verdictBlock
	case fi.isIPsec:
		r.verdict = verdictProtect
	case f.Action.Type.IsCallout() && f.Action.Type&wfp.ActionFlagTerminating != 0:
		// Another terminating callout: the data path cannot run it, and
		// WFP blocks when a terminating callout is unavailable.
		r.verdict = verdictBlock
	default:
		return fi // inspection callouts, CONTINUE, NONE: no decision
	}
	fi.rule = r
	return fi
}

// sortRules orders rules as WFP evaluates them: highest weight first, then
// the older filter.
func sortRules(rs []*rule) {
	slices.SortFunc(rs, func(a, b *rule) int {
		if c := cmp.Compare(b.weight, a.weight); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
}

// lookup returns the first rule that matches fl, or nil.
func lookup(rs []*rule, fl *flow) *rule {
	for _, r := range rs {
		if r.match(fl) {
			return r
		}
	}
	return nil
}

// parseFlow fills fl from the IP packet pkt. outbound says whether the
// packet leaves (its source is local) or arrives (its destination is
// local). It returns false for a packet too malformed to classify.
func parseFlow(pkt []byte, outbound bool, fl *flow) (esp.IPHeaders, bool) {
	h, err := esp.ParseIPHeaders(pkt)
	if err != nil || h.PacketLen > len(pkt) {
		return h, false
	}
	var src, dst netip.Addr
	if h.Version == 4 {
		src, dst = esp.IPv4(pkt).Source(), esp.IPv4(pkt).Destination()
	} else {
		src, dst = esp.IPv6(pkt).Source(), esp.IPv6(pkt).Destination()
	}
	*fl = flow{proto: h.Protocol}
	if outbound {
		fl.local, fl.remote = src, dst
	} else {
		fl.local, fl.remote = dst, src
	}
	firstFragment := !h.Fragment || isFirstFragment(pkt, h)
	if !firstFragment {
		fl.opaquePorts = true
		return h, true
	}
	l4 := pkt[h.Len:h.PacketLen]
	switch h.Protocol {
	case protoTCP, protoUDP, protoSCTP:
		if len(l4) < 4 {
			fl.opaquePorts = true
			return h, true
		}
		sport, dport := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		if outbound {
			fl.localPort, fl.remotePort = sport, dport
		} else {
			fl.localPort, fl.remotePort = dport, sport
		}
	case protoICMP, protoICMPv6:
		if len(l4) < 2 {
			fl.opaquePorts = true
			return h, true
		}
		fl.localPort, fl.remotePort = uint16(l4[0]), uint16(l4[1])
	}
	return h, true
}

// isFirstFragment reports whether the fragment pkt starts at offset 0 (and
// so holds the upper-layer header).
func isFirstFragment(pkt []byte, h esp.IPHeaders) bool {
	if h.Version == 4 {
		return binary.BigEndian.Uint16(pkt[6:])&0x1fff == 0
	}
	// IPv6: find the Fragment header in the chain.
	nh, off := pkt[6], esp.IPv6FixedHeaderSize
	for off+8 <= h.Len {
		if nh == esp.ProtoFragment {
			return binary.BigEndian.Uint16(pkt[off+2:])&0xfff8 == 0
		}
		nh = pkt[off]
		off += (int(pkt[off+1]) + 1) * 8
	}
	return true
}
