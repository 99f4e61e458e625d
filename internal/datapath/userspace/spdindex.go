package userspace

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/sadb-dev/sadb/internal/rcu"
)

// spdIndex finds the outbound rule of a flow without looking at every
// rule: tuple space search. Each rule is filed under the fields its
// conditions pin down: an address condition that is a few prefixes
// files it under each prefix (masked to its length), a protocol or port
// condition that is a few single values under each value; fields a rule
// leaves open, or constrains with wide ranges, are left out of its key.
// Rules filed with the same fields and prefix lengths form a tuple, one
// hash map from the masked key to the rules, highest priority first. A
// lookup masks the flow once per tuple, takes the rules under that key
// and keeps the first that matches all its conditions, across tuples the
// one WFP evaluates first. Its cost grows with the number of tuples (the
// distinct shapes of filters: typically one to four), not of rules.
//
// Readers (the packet goroutines) call lookup without locks; add and
// remove are serialized by the caller (Backend.mu) and publish with
// atomic stores, so a lookup sees each rule either filed or not.
type spdIndex struct {
	v4     bool
	tuples atomic.Pointer[[]*tuple] // immutable once published

	byMask map[tupleMask]*tuple // the writer's
}

// tupleMask says which fields a tuple's keys hold: the prefix length of
// each address (-1: not in the key) and whether the protocol and ports
// are.
type tupleMask struct {
	localBits, remoteBits                 int16
	hasProto, hasLocalPort, hasRemotePort bool
}

// tupleKey is a flow's fields under a tupleMask.
type tupleKey struct {
	local, remote         u128
	localPort, remotePort uint16
	proto                 uint8
}

func hashTupleKey(k tupleKey) uint64 {
	h := rcu.Mix64(k.local.hi ^ rcu.Mix64(k.local.lo))
	h = rcu.Mix64(h ^ k.remote.hi ^ rcu.Mix64(k.remote.lo))
	return rcu.Mix64(h ^ uint64(k.localPort)<<24 ^ uint64(k.remotePort)<<8 ^ uint64(k.proto))
}

// tuple is the rules of one shape.
type tuple struct {
	mask  tupleMask
	rules *rcu.Map[tupleKey, []*rule]
	refs  int // filings; the writer's
}

// filing is one place a rule is filed, kept on the rule for remove.
type filing struct {
	t *tuple
	k tupleKey
}

// Limits of filing. A field with more alternatives than maxAlternatives
// is left out of the key; a rule is filed at most maxFilings times.
const (
	maxAlternatives = 8
	maxFilings      = 64
)

func newSPDIndex(v4 bool) *spdIndex {
	x := &spdIndex{v4: v4, byMask: map[tupleMask]*tuple{}}
	x.tuples.Store(&[]*tuple{})
	return x
}

// before reports whether WFP evaluates r before o: higher weight first,
// then the older filter.
func (r *rule) before(o *rule) bool {
	return r.weight > o.weight || r.weight == o.weight && r.id < o.id
}

// lookup returns the rule WFP applies to fl, or nil.
func (x *spdIndex) lookup(fl *flow) *rule {
	var best *rule
	l, rm := addrU128(fl.local), addrU128(fl.remote)
	for _, t := range *x.tuples.Load() {
		m := &t.mask
		if fl.opaquePorts && (m.hasLocalPort || m.hasRemotePort) {
			continue // a port condition never matches opaque ports
		}
		var k tupleKey
		if m.localBits >= 0 {
			k.local = maskBits(l, int(m.localBits), x.v4)
		}
		if m.remoteBits >= 0 {
			k.remote = maskBits(rm, int(m.remoteBits), x.v4)
		}
		if m.hasProto {
			k.proto = fl.proto
		}
		if m.hasLocalPort {
			k.localPort = fl.localPort
		}
		if m.hasRemotePort {
			k.remotePort = fl.remotePort
		}
		for _, r := range t.rules.Get(k) {
			if best != nil && !r.before(best) {
				break
			}
			if r.match(fl) {
				best = r
				break
			}
		}
	}
	return best
}

// maskBits keeps the first bits bits of an address of width 32 (v4) or
// 128.
func maskBits(x u128, bits int, v4 bool) u128 {
	if v4 {
		return u128{lo: x.lo & (math.MaxUint32 << (32 - bits)) & math.MaxUint32}
	}
	if bits >= 64 {
		return u128{x.hi, x.lo & (math.MaxUint64 << (128 - bits))}
	}
	return u128{hi: x.hi & (math.MaxUint64 << (64 - bits))}
}

// add files r. The caller serializes writers.
func (x *spdIndex) add(r *rule) {
	if r.unknown && r.verdict == verdictClear {
		return // never matches
	}
	var fresh bool
	for _, f := range x.filings(r) {
		t := x.byMask[f.mask]
		if t == nil {
			t = &tuple{mask: f.mask, rules: rcu.New[tupleKey, []*rule](hashTupleKey)}
			x.byMask[f.mask] = t
			fresh = true
		}
		old := t.rules.Get(f.key)
		nl := make([]*rule, 0, len(old)+1)
		nl = append(nl, old...)
		i, _ := slices.BinarySearchFunc(nl, r, func(a, b *rule) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		nl = slices.Insert(nl, i, r)
		t.rules.Store(f.key, nl)
		t.refs++
		r.filed = append(r.filed, filing{t, f.key})
	}
	if fresh {
		x.publish()
	}
}

// remove unfiles r. The caller serializes writers.
func (x *spdIndex) remove(r *rule) {
	var gone bool
	for _, f := range r.filed {
		old := f.t.rules.Get(f.k)
		nl := make([]*rule, 0, len(old))
		for _, o := range old {
			if o != r {
				nl = append(nl, o)
			}
		}
		if len(nl) == 0 {
			f.t.rules.Remove(f.k)
		} else {
			f.t.rules.Store(f.k, nl)
		}
		if f.t.refs--; f.t.refs == 0 {
			delete(x.byMask, f.t.mask)
			gone = true
		}
	}
	r.filed = nil
	if gone {
		x.publish()
	}
}

// publish makes the tuples in byMask the ones lookups walk.
func (x *spdIndex) publish() {
	ts := make([]*tuple, 0, len(x.byMask))
	for _, t := range x.byMask {
		ts = append(ts, t)
	}
	x.tuples.Store(&ts)
}

// keyedFiling is one (shape, key) a rule goes under.
type keyedFiling struct {
	mask tupleMask
	key  tupleKey
}

// alternative is one value (or prefix) a field may take.
type alternative struct {
	bits int16 // prefix length for addresses
	v    u128
}

// filings returns where r goes: the cross product of the alternatives of
// the fields its conditions pin down.
func (x *spdIndex) filings(r *rule) []keyedFiling {
	const (
		fLocal = iota
		fRemote
		fProto
		fLocalPort
		fRemotePort
		nFields
	)
	fields := [nFields]field{fieldLocalAddr, fieldRemoteAddr, fieldProtocol, fieldLocalPort, fieldRemotePort}
	var alts [nFields][]alternative // nil: not in the key
	for i, f := range fields {
		best := -1
		for _, c := range r.conds {
			if c.f != f {
				continue
			}
			a, ok := x.alternatives(c, i <= fRemote)
			if !ok {
				continue
			}
			if len(a) == 0 {
				return nil // the condition admits nothing: r never matches
			}
			if best < 0 || len(a) < best {
				alts[i], best = a, len(a)
			}
		}
	}
	// Leave out the widest fields until the product is small.
	for {
		n := 1
		widest := -1
		for i := range alts {
			if alts[i] == nil {
				continue
			}
			n *= len(alts[i])
			if widest < 0 || len(alts[i]) > len(alts[widest]) {
				widest = i
			}
		}
		if n <= maxFilings || widest < 0 {
			break
		}
		alts[widest] = nil
	}
	out := []keyedFiling{{mask: tupleMask{localBits: -1, remoteBits: -1}}}
	for i := range alts {
		if alts[i] == nil {
			continue
		}
		next := make([]keyedFiling, 0, len(out)*len(alts[i]))
		for _, kf := range out {
			for _, a := range alts[i] {
				n := kf
				switch i {
				case fLocal:
					n.mask.localBits, n.key.local = a.bits, a.v
				case fRemote:
					n.mask.remoteBits, n.key.remote = a.bits, a.v
				case fProto:
					n.mask.hasProto, n.key.proto = true, uint8(a.v.lo)
				case fLocalPort:
					n.mask.hasLocalPort, n.key.localPort = true, uint16(a.v.lo)
				case fRemotePort:
					n.mask.hasRemotePort, n.key.remotePort = true, uint16(a.v.lo)
				}
				next = append(next, n)
			}
		}
		out = next
	}
	return out
}

// alternatives returns the values (address fields: prefixes) condition c
// admits, when there are at most maxAlternatives of them; ok is false
// when c is too wide to key on. A /0 prefix is as good as no key.
func (x *spdIndex) alternatives(c cond, addr bool) (out []alternative, ok bool) {
	if !addr {
		for _, v := range c.ivs {
			if v.lo != v.hi || v.lo.hi != 0 || v.lo.lo > math.MaxUint16 {
				return nil, false
			}
			out = append(out, alternative{v: v.lo})
		}
		return out, len(out) <= maxAlternatives
	}
	top := fullIval.hi
	if x.v4 {
		top = u128{lo: math.MaxUint32}
	}
	var ps []alternative
	for _, v := range intersect(c.ivs, []ival{{u128{}, top}}) {
		for _, p := range appendRangePrefixes(nil, v, x.v4, maxAlternatives+1) {
			if p.Bits() == 0 {
				return nil, false
			}
			ps = append(ps, alternative{bits: int16(p.Bits()), v: addrU128(p.Addr())})
			if len(ps) > maxAlternatives {
				return nil, false
			}
		}
	}
	return ps, true
}
