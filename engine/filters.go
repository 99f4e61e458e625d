package engine

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/sadb-dev/sadb/internal/rcu"
	"github.com/sadb-dev/sadb/wfp"
)

// filter is an engine-held filter. f is immutable once inserted.
type filter struct {
	f       *wfp.FwpmFilter0 // FilterID and EffectiveWeight set
	sd      *wfp.SecurityDescriptor
	dynSess *session // the dynamic session that added it, nil otherwise
	kind    ipsecKind
	ipv     wfp.IPVersion // of the layer
	pairKey string        // IPsec filters: inbound-index key of this filter (inbound) or of its inbound pair (outbound)

	// refs counts the SA contexts referring to the filter. Once a second
	// context refers to it, the filter is shared and may be referenced
	// from many goroutines at once, so the count spreads over striped
	// slots that parallel calls do not share a cache line on; a filter of
	// one context (a keying daemon's pair per peer, 100,000 of them)
	// keeps one word. Only the sum of refs and the slots means anything
	// (each part may go negative). deleting is raised by
	// FwpmFilterDeleteById0 before it sums them; a new reference backs
	// off when it sees it (refIPsec).
	refs     atomic.Int64
	striped  atomic.Pointer[[refSlots]refSlot]
	deleting atomic.Bool

	exported atomic.Pointer[weak.Pointer[wfp.FwpmFilter0]] // see shared
}

// shared returns the copy of the filter that SA details point to, shared
// by every result, because every SA details structure carries its transport
// filter and copying it for each would cost more than the rest of the
// result. It is not the engine's own copy. The filter holds it weakly:
// once no result points to it, the garbage collector takes it, so that an
// enumeration of contexts with a filter pair each does not leave a copy of
// every filter behind (1.4 KB each); the next result makes a new one.
//
// Two results made at once may each make a copy, and the later one stays:
// both are the filter, so sharing is only a saving, never a promise.
func (f *filter) shared() *wfp.FwpmFilter0 {
	if w := f.exported.Load(); w != nil {
		if x := w.Value(); x != nil {
			return x
		}
	}
	x := f.f.Clone()
	w := weak.Make(x)
	f.exported.Store(&w)
	return x
}

const refSlots = 8

type refSlot struct {
	n atomic.Int64
	_ [56]byte
}

func (f *filter) addRef(slot int, d int64) {
	if st := f.striped.Load(); st != nil {
		st[slot%refSlots].n.Add(d)
		return
	}
	if f.refs.Add(d) > 1 {
		f.striped.CompareAndSwap(nil, new([refSlots]refSlot))
	}
}

// refCount sums the references. The caller raises deleting first: a
// reference taken after that sees it and backs off, wherever it counted.
func (f *filter) refCount() int64 {
	n := f.refs.Load()
	if st := f.striped.Load(); st != nil {
		for i := range st {
			n += st[i].n.Load()
		}
	}
	return n
}

// filterTable holds the filters. Every SA context call looks its filter
// up, often the same filter from many goroutines, so reads take no lock
// and write nothing shared: the indexes are read-copy-update maps
// (rcu.Map). Writers (a keying daemon may install a filter pair per peer,
// 100,000 in a row) copy one bucket per change, not the table.
type filterTable struct {
	// mu serializes writers, so that byID, byKey, inbound and n change
	// together: a reader may see a filter in one index a moment before
	// another, never a filter that is half inserted.
	mu   sync.Mutex
	byID *rcu.Map[uint64, *filter]
	// byKey maps filter keys to ids, for FwpmFilterAdd0's duplicate check.
	byKey *rcu.Map[wfp.GUID, uint64]
	// inbound indexes inbound IPsec filters by kind, version and
	// conditions, for IPsecSaContextCreate1's cached inbound filter id.
	// Its slices are immutable: a writer stores a new one.
	inbound *rcu.Map[string, []uint64]
	n       atomic.Int64 // filters in byID
	next    atomic.Uint64
}

func (t *filterTable) init() {
	t.byID = rcu.New[uint64, *filter](rcu.Mix64)
	t.byKey = rcu.New[wfp.GUID, uint64](func(k wfp.GUID) uint64 {
		return rcu.Mix64(binary.LittleEndian.Uint64(k[:8]) ^ rcu.Mix64(binary.LittleEndian.Uint64(k[8:])))
	})
	seed := maphash.MakeSeed()
	t.inbound = rcu.New[string, []uint64](func(k string) uint64 { return maphash.String(seed, k) })
}

func (t *filterTable) insert(f *filter) {
	f.deleting.Store(false)
	t.mu.Lock()
	defer t.mu.Unlock()
	id := f.f.FilterID
	if _, ok := t.byID.Load(id); !ok {
		t.n.Add(1)
	}
	t.byID.Store(id, f)
	t.byKey.Store(f.f.FilterKey, id)
	if f.kind == kindTransportIn || f.kind == kindTunnelIn {
		ids := t.inbound.Get(f.pairKey)
		t.inbound.Store(f.pairKey, append(slices.Clip(ids), id))
	}
}

func (t *filterTable) remove(id uint64) *filter {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.byID.Load(id)
	if !ok {
		return nil
	}
	t.byID.Remove(id)
	t.n.Add(-1)
	t.byKey.Remove(f.f.FilterKey)
	if f.kind == kindTransportIn || f.kind == kindTunnelIn {
		ids := slices.DeleteFunc(slices.Clone(t.inbound.Get(f.pairKey)), func(x uint64) bool { return x == id })
		if len(ids) == 0 {
			t.inbound.Remove(f.pairKey)
		} else {
			t.inbound.Store(f.pairKey, ids)
		}
	}
	return f
}

func (t *filterTable) get(id uint64) *filter { return t.byID.Get(id) }

// hasKey reports whether a filter with key k exists.
func (t *filterTable) hasKey(k wfp.GUID) bool {
	_, ok := t.byKey.Load(k)
	return ok
}

// count returns the number of filters.
func (t *filterTable) count() int { return int(t.n.Load()) }

// all returns the filters in id order.
func (t *filterTable) all() []*filter {
	out := make([]*filter, 0, t.count())
	t.byID.Range(func(_ uint64, f *filter) bool {
		out = append(out, f)
		return true
	})
	slices.SortFunc(out, func(a, b *filter) int { return cmp.Compare(a.f.FilterID, b.f.FilterID) })
	return out
}

// cachedInbound returns the inbound filter matching outbound filter out.
func (t *filterTable) cachedInbound(out *filter) uint64 {
	ids := t.inbound.Get(out.pairKey)
	if len(ids) == 0 {
		return 0
	}
	return slices.Min(ids)
}

// lookupIPsec checks that traffic t refers to an IPsec filter of the kind
// it needs (outbound for Create, inbound for GetSpi/SetSpi) and returns it.
func (e *Engine) lookupIPsec(t *wfp.IPsecTraffic1, outbound bool) (*filter, error) {
	var want ipsecKind
	switch {
	case outbound && t.TrafficType == wfp.TrafficTypeTunnel:
		want = kindTunnelOut
	case outbound:
		want = kindTransportOut
	case t.TrafficType == wfp.TrafficTypeTunnel:
		want = kindTunnelIn
	default:
		want = kindTransportIn
	}
	id, field := t.IPsecFilterID, "ipsecFilterId"
	if t.TrafficType == wfp.TrafficTypeTunnel {
		id, field = t.TunnelPolicyID, "tunnelPolicyId"
	}
	f := e.filters.get(id)
	if f == nil {
		return nil, wfp.Errorf(wfp.ErrFilterNotFound, "%s %d names no filter", field, id)
	}
	if f.kind != want {
		return nil, wfp.Errorf(wfp.ErrInvalidParameter, "%s %d is not an %s filter (it is %s)", field, id, kindName(want), kindName(f.kind))
	}
	if t.TrafficType == wfp.TrafficTypeTransport && f.ipv != t.IPVersion {
		return nil, wfp.Errorf(wfp.ErrInvalidParameter, "%s %d is an %v filter but the traffic is %v", field, id, f.ipv, t.IPVersion)
	}
	if f.dynSess != nil {
		return nil, wfp.Errorf(wfp.ErrLifetimeMismatch, "%s %d is a dynamic session's filter; an SA context cannot refer to it", field, id)
	}
	return f, nil
}

// refIPsec looks the filter up like lookupIPsec and takes a reference on
// it (undone if the transaction aborts).
func (tx *txn) refIPsec(t *wfp.IPsecTraffic1, outbound bool) (*filter, error) {
	for {
		f, err := tx.e.lookupIPsec(t, outbound)
		if err != nil {
			return nil, err
		}
		f.addRef(tx.slot, 1)
		if !f.deleting.Load() {
			tx.undo = append(tx.undo, undoEntry{kind: undoFilterRef, id: f.f.FilterID, delta: 1})
			return f, nil
		}
		// FwpmFilterDeleteById0 is deciding about this filter; see what
		// it decides.
		f.addRef(tx.slot, -1)
		runtime.Gosched()
	}
}

func kindName(k ipsecKind) string {
	switch k {
	case kindTransportOut:
		return "outbound IPsec transport"
	case kindTransportIn:
		return "inbound IPsec transport"
	case kindTunnelOut:
		return "outbound IPsec tunnel"
	case kindTunnelIn:
		return "inbound IPsec tunnel"
	}
	return "non-IPsec"
}

// FwpmFilterAdd0 adds a filter.
func (s *session) FwpmFilterAdd0(in *wfp.FwpmFilter0, sd *wfp.SecurityDescriptor) (uint64, error) {
	var id uint64
	err := s.run(opWrite, func(tx *txn) error {
		if err := s.checkEngine(wfp.ActrlAdd | wfp.ActrlAddLink); err != nil {
			return err
		}
		if in == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "filter is nil")
		}
		if sd != nil {
			if err := validateSD(sd); err != nil {
				return wfp.Errorf(wfp.ErrorInvalidSecurityDescrHRESULT, "%v", err)
			}
		}
		f, err := prepareFilter(in)
		if err != nil {
			return err
		}
		if sd != nil {
			f.sd = normalizeSD(sd)
		}
		e := s.e
		if e.filters.hasKey(f.f.FilterKey) {
			return wfp.Errorf(wfp.ErrAlreadyExists, "a filter with key %s exists", f.f.FilterKey)
		}
		id = e.filters.next.Add(1)
		f.f.FilterID = id
		if s.dynamic {
			f.dynSess = s
			s.mu.Lock()
			if s.dynFilters == nil {
				s.dynFilters = map[uint64]struct{}{}
			}
			s.dynFilters[id] = struct{}{}
			s.mu.Unlock()
		}
		e.filters.insert(f)
		tx.undo = append(tx.undo, undoEntry{kind: undoFilterAdd, id: id})
		tx.queueFilter(dpAddFilter, f.f)
		if e.store != nil && f.dynSess == nil {
			tx.dirty.filter(id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// prepareFilter validates a filter and returns the engine's copy.
func prepareFilter(in *wfp.FwpmFilter0) (*filter, error) {
	if in.DisplayData.Name == "" {
		return nil, wfp.Errorf(wfp.ErrNullDisplayName, "displayData.name is required")
	}
	if len(in.DisplayData.Name) > maxNameLen || len(in.DisplayData.Description) > 4*maxNameLen {
		return nil, wfp.Errorf(wfp.ErrOutOfBounds, "display data is too long")
	}
	if in.Reserved != nil {
		return nil, wfp.Errorf(wfp.ErrReserved, "reserved must be nil")
	}
	li, ok := layers[in.LayerKey]
	if !ok {
		return nil, wfp.Errorf(wfp.ErrLayerNotFound, "layer %v does not exist", in.LayerKey)
	}
	if !li.supported {
		return nil, wfp.Errorf(wfp.ErrIncompatibleLayer, "sadb does not filter at %v", in.LayerKey)
	}
	if !in.SubLayerKey.IsZero() && !knownSublayers[in.SubLayerKey] {
		return nil, wfp.Errorf(wfp.ErrSublayerNotFound, "sublayer %v does not exist", in.SubLayerKey)
	}
	if in.ProviderKey != nil && !knownProviders[*in.ProviderKey] {
		return nil, wfp.Errorf(wfp.ErrProviderNotFound, "provider %v does not exist", *in.ProviderKey)
	}
	if len(in.ProviderData) > 64<<10 {
		return nil, wfp.Errorf(wfp.ErrOutOfBounds, "providerData is %d bytes; at most 64 KiB", len(in.ProviderData))
	}
	const addFlags = wfp.FilterFlagPersistent | wfp.FilterFlagBoottime | wfp.FilterFlagHasProviderContext |
		wfp.FilterFlagClearActionRight | wfp.FilterFlagPermitIfCalloutUnregistered | wfp.FilterFlagIndexed |
		wfp.FilterFlagIPsecNoAcquireInitiate
	if in.Flags&^addFlags != 0 {
		return nil, wfp.Errorf(wfp.ErrInvalidFlags, "filter flags 0x%X include bits that cannot be set when adding", in.Flags&^addFlags)
	}
	if in.Flags&wfp.FilterFlagPersistent != 0 && in.Flags&wfp.FilterFlagBoottime != 0 {
		return nil, wfp.Errorf(wfp.ErrInvalidFlags, "PERSISTENT and BOOTTIME cannot be set together")
	}
	if in.Flags&wfp.FilterFlagPermitIfCalloutUnregistered != 0 &&
		in.Action.Type != wfp.ActionCalloutTerminating && in.Action.Type != wfp.ActionCalloutUnknown {
		return nil, wfp.Errorf(wfp.ErrInvalidFlags, "PERMIT_IF_CALLOUT_UNREGISTERED needs a terminating or unknown callout action")
	}
	if in.Flags&wfp.FilterFlagHasProviderContext != 0 {
		return nil, wfp.Errorf(wfp.ErrProviderContextNotFound, "provider context %v does not exist", in.ProviderContextKey)
	}
	if len(in.FilterCondition) > maxConditions {
		return nil, wfp.Errorf(wfp.ErrOutOfBounds, "%d conditions; at most %d", len(in.FilterCondition), maxConditions)
	}
	for i := range in.FilterCondition {
		if err := validateCondition(&in.FilterCondition[i], li, i); err != nil {
			return nil, err
		}
	}
	kind := kindNone
	switch in.Action.Type {
	case wfp.ActionBlock, wfp.ActionPermit:
	case wfp.ActionCalloutTerminating, wfp.ActionCalloutInspection, wfp.ActionCalloutUnknown:
		if li.userMode {
			return nil, wfp.Errorf(wfp.ErrActionIncompatibleWithLayer, "callout actions are not allowed at %v", in.LayerKey)
		}
		ci, ok := callouts[in.Action.CalloutKey]
		if !ok {
			return nil, wfp.Errorf(wfp.ErrCalloutNotFound, "callout %v does not exist", in.Action.CalloutKey)
		}
		if !slices.Contains(ci.layers, in.LayerKey) {
			return nil, wfp.Errorf(wfp.ErrIncompatibleLayer, "callout %v cannot be used at %v", in.Action.CalloutKey, in.LayerKey)
		}
		kind = ci.kind
	default:
		return nil, wfp.Errorf(wfp.ErrInvalidActionType, "action type %v is not allowed for a filter", in.Action.Type)
	}
	w, err := effectiveWeight(in)
	if err != nil {
		return nil, err
	}
	c := in.Clone()
	if c.FilterKey.IsZero() {
		c.FilterKey = wfp.NewGUID()
	}
	c.EffectiveWeight = wfp.Uint64Value(w)
	c.FilterID = 0
	return &filter{f: c, kind: kind, ipv: li.ipv, pairKey: pairKey(kind, li.ipv, c.FilterCondition)}, nil
}

const maxConditions = 64

func validateCondition(c *wfp.FwpmFilterCondition0, li layerInfo, i int) error {
	class, ok := li.fields[c.FieldKey]
	if !ok {
		return wfp.Errorf(wfp.ErrConditionNotFound, "filterCondition[%d]: field %v is not available at this layer", i, c.FieldKey)
	}
	m := c.MatchType
	if m >= wfp.MatchTypeMax {
		return wfp.Errorf(wfp.ErrInvalidEnumerator, "filterCondition[%d]: match type %d is out of range", i, uint32(m))
	}
	v := &c.ConditionValue
	switch m {
	case wfp.MatchPrefix, wfp.MatchNotPrefix, wfp.MatchEqualCaseInsensitive:
		return wfp.Errorf(wfp.ErrMatchTypeMismatch, "filterCondition[%d]: %v does not apply to %v", i, m, c.FieldKey)
	case wfp.MatchFlagsAllSet, wfp.MatchFlagsAnySet, wfp.MatchFlagsNoneSet:
		if class != classFlags {
			return wfp.Errorf(wfp.ErrMatchTypeMismatch, "filterCondition[%d]: %v applies to the flags field only", i, m)
		}
	}
	if (m == wfp.MatchRange) != (v.Type == wfp.DataTypeRange) {
		return wfp.Errorf(wfp.ErrMatchTypeMismatch, "filterCondition[%d]: FWP_MATCH_RANGE goes with an FWP_RANGE_TYPE value and only with it", i)
	}
	if v.Type == wfp.DataTypeRange {
		r := v.RangeValue
		if r == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "filterCondition[%d]: rangeValue is nil", i)
		}
		if r.ValueLow.Type != r.ValueHigh.Type {
			return wfp.Errorf(wfp.ErrInvalidRange, "filterCondition[%d]: range ends have types %v and %v", i, r.ValueLow.Type, r.ValueHigh.Type)
		}
		for _, end := range []*wfp.FwpValue0{&r.ValueLow, &r.ValueHigh} {
			if err := checkScalar(end, class, li.ipv, i); err != nil {
				return err
			}
		}
		if cmp128(scalarValue(&r.ValueLow), scalarValue(&r.ValueHigh)) > 0 {
			return wfp.Errorf(wfp.ErrInvalidRange, "filterCondition[%d]: range low end exceeds high end", i)
		}
		return nil
	}
	switch v.Type {
	case wfp.DataTypeV4AddrMask, wfp.DataTypeV6AddrMask:
		if class != classAddr || (v.Type == wfp.DataTypeV4AddrMask) != (li.ipv == wfp.IPVersionV4) {
			return wfp.Errorf(wfp.ErrTypeMismatch, "filterCondition[%d]: %v does not fit field %v at this layer", i, v.Type, c.FieldKey)
		}
		if m != wfp.MatchEqual && m != wfp.MatchNotEqual {
			return wfp.Errorf(wfp.ErrMatchTypeMismatch, "filterCondition[%d]: an address mask takes EQUAL or NOT_EQUAL, not %v", i, m)
		}
		if v.Type == wfp.DataTypeV4AddrMask {
			if v.V4AddrMask == nil {
				return wfp.Errorf(wfp.ErrNullPointer, "filterCondition[%d]: v4AddrMask is nil", i)
			}
			if _, ok := maskBits(v.V4AddrMask.Mask); !ok {
				return wfp.Errorf(wfp.ErrInvalidNetMask, "filterCondition[%d]: mask 0x%08X is not contiguous", i, v.V4AddrMask.Mask)
			}
		} else {
			if v.V6AddrMask == nil {
				return wfp.Errorf(wfp.ErrNullPointer, "filterCondition[%d]: v6AddrMask is nil", i)
			}
			if v.V6AddrMask.PrefixLength > 128 {
				return wfp.Errorf(wfp.ErrInvalidNetMask, "filterCondition[%d]: prefix length %d exceeds 128", i, v.V6AddrMask.PrefixLength)
			}
		}
		return nil
	}
	return checkScalar(&v.FwpValue0, class, li.ipv, i)
}

// checkScalar checks that v has the type field class takes.
func checkScalar(v *wfp.FwpValue0, class fieldClass, ipv wfp.IPVersion, i int) error {
	want := map[fieldClass]wfp.DataType{
		classUint8: wfp.DataTypeUint8, classUint16: wfp.DataTypeUint16, classUint32: wfp.DataTypeUint32,
		classUint64: wfp.DataTypeUint64, classFlags: wfp.DataTypeUint32,
	}[class]
	if class == classAddr {
		want = wfp.DataTypeUint32
		if ipv == wfp.IPVersionV6 {
			want = wfp.DataTypeByteArray16
		}
	}
	if v.Type != want {
		return wfp.Errorf(wfp.ErrTypeMismatch, "filterCondition[%d]: value has type %v; the field takes %v", i, v.Type, want)
	}
	if want == wfp.DataTypeByteArray16 && v.ByteArray16 == nil {
		return wfp.Errorf(wfp.ErrNullPointer, "filterCondition[%d]: byteArray16 is nil", i)
	}
	return nil
}

// u128 is a 128-bit unsigned number: condition values of every class map
// onto it (addresses as IPv6 or IPv4 numbers).
type u128 struct{ hi, lo uint64 }

func cmp128(a, b u128) int {
	switch {
	case a.hi != b.hi:
		if a.hi < b.hi {
			return -1
		}
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func scalarValue(v *wfp.FwpValue0) u128 {
	hi, lo := v.Scalar()
	return u128{hi, lo}
}

// pairKey returns the inbound-index key of an IPsec filter of kind k at IP
// version v with conditions cs, "" for other filters. An outbound filter
// gets the key of the inbound filter with its conditions, its pair: the
// inbound kind, the version and the conditions in a canonical binary form
// (each value's length follows from its type), equal for equal condition
// lists.
func pairKey(k ipsecKind, v wfp.IPVersion, cs []wfp.FwpmFilterCondition0) string {
	switch k {
	case kindTransportIn, kindTransportOut:
		k = kindTransportIn
	case kindTunnelIn, kindTunnelOut:
		k = kindTunnelIn
	default:
		return ""
	}
	b := make([]byte, 0, 2+len(cs)*(16+8+32))
	b = append(b, byte(k), byte(v))
	for i := range cs {
		c := &cs[i]
		b = append(b, c.FieldKey[:]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(c.MatchType))
		b = appendCondValue(b, &c.ConditionValue)
	}
	return string(b)
}

func appendCondValue(b []byte, v *wfp.FwpConditionValue0) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(v.Type))
	switch v.Type {
	case wfp.DataTypeV4AddrMask:
		b = binary.LittleEndian.AppendUint32(b, uint32(v.V4AddrMask.Addr))
		return binary.LittleEndian.AppendUint32(b, v.V4AddrMask.Mask)
	case wfp.DataTypeV6AddrMask:
		b = append(b, v.V6AddrMask.Addr[:]...)
		return append(b, v.V6AddrMask.PrefixLength)
	case wfp.DataTypeRange:
		b = appendU128(b, scalarValue(&v.RangeValue.ValueLow))
		return appendU128(b, scalarValue(&v.RangeValue.ValueHigh))
	default:
		return appendU128(b, scalarValue(&v.FwpValue0))
	}
}

func appendU128(b []byte, x u128) []byte {
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(b, x.hi), x.lo)
}

// effectiveWeight computes a filter's weight (docs/semantics.md, section 5).
func effectiveWeight(f *wfp.FwpmFilter0) (uint64, error) {
	switch f.Weight.Type {
	case wfp.DataTypeUint64:
		return f.Weight.Uint64, nil
	case wfp.DataTypeEmpty:
		return autoWeight(f.FilterCondition), nil
	case wfp.DataTypeUint8:
		if f.Weight.Uint8 > wfp.WeightRangeMax {
			return 0, wfp.Errorf(wfp.ErrInvalidWeight, "weight range %d exceeds %d", f.Weight.Uint8, wfp.WeightRangeMax)
		}
		return uint64(f.Weight.Uint8)<<wfp.AutoWeightBits | autoWeight(f.FilterCondition), nil
	}
	return 0, wfp.Errorf(wfp.ErrInvalidWeight, "weight has type %v; FWP_EMPTY, FWP_UINT8 or FWP_UINT64 is required", f.Weight.Type)
}

func autoWeight(cs []wfp.FwpmFilterCondition0) uint64 {
	spec := 0
	for i := range cs {
		c := &cs[i]
		v := &c.ConditionValue
		switch v.Type {
		case wfp.DataTypeV4AddrMask:
			n, _ := maskBits(v.V4AddrMask.Mask)
			spec += 4 * n
		case wfp.DataTypeV6AddrMask:
			spec += int(v.V6AddrMask.PrefixLength)
		case wfp.DataTypeUint32:
			if c.FieldKey == wfp.ConditionIPLocalAddress || c.FieldKey == wfp.ConditionIPRemoteAddress ||
				c.FieldKey == wfp.ConditionIPSourceAddress || c.FieldKey == wfp.ConditionIPDestinationAddress {
				spec += 128
			}
		case wfp.DataTypeByteArray16:
			spec += 128
		case wfp.DataTypeUint16, wfp.DataTypeUint8:
			if c.MatchType == wfp.MatchEqual && (c.FieldKey == wfp.ConditionIPLocalPort ||
				c.FieldKey == wfp.ConditionIPRemotePort || c.FieldKey == wfp.ConditionIPProtocol) {
				spec += 16
			}
		}
	}
	n := min(len(cs), 255)
	spec = min(spec, 4095)
	return uint64(n)<<52 | uint64(spec)<<40
}

// FwpmFilterDeleteById0 deletes a filter.
func (s *session) FwpmFilterDeleteById0(id uint64) error {
	return s.run(opWrite, func(tx *txn) error {
		e := s.e
		f := e.filters.get(id)
		if f != nil {
			if err := s.checkFilter(f, wfp.Delete); err != nil {
				return err
			}
		}
		if f == nil {
			return wfp.Errorf(wfp.ErrFilterNotFound, "filter %d does not exist", id)
		}
		switch {
		case s.dynamic && f.dynSess == nil:
			return wfp.Errorf(wfp.ErrDynamicSessionInProgress, "filter %d was not added by a dynamic session", id)
		case s.dynamic && f.dynSess != s:
			return wfp.Errorf(wfp.ErrWrongSession, "filter %d belongs to another dynamic session", id)
		}
		f.deleting.Store(true)
		if n := f.refCount(); n > 0 {
			f.deleting.Store(false)
			return wfp.Errorf(wfp.ErrInUse, "filter %d is referenced by %d SA contexts", id, n)
		}
		e.filters.remove(id)
		tx.undo = append(tx.undo, undoEntry{kind: undoFilterDel, filter: f})
		tx.queueFilter(dpDelFilter, f.f)
		if e.store != nil && f.dynSess == nil {
			tx.dirty.filter(id)
		}
		return nil
	})
}

// checkFilter checks rights on one filter.
func (s *session) checkFilter(f *filter, desired wfp.AccessMask) error {
	sd := f.sd
	if sd == nil {
		sd = s.e.engineSD.Load()
	}
	if accessCheck(sd, &s.tok, desired) {
		return nil
	}
	return denied(fmt.Sprintf("filter %d", f.f.FilterID), &s.tok, desired)
}

// FwpmFilterGetById0 returns a filter.
func (s *session) FwpmFilterGetById0(id uint64) (*wfp.FwpmFilter0, error) {
	var out *wfp.FwpmFilter0
	err := s.run(0, func(tx *txn) error {
		f := s.e.filters.get(id)
		if f == nil {
			return wfp.Errorf(wfp.ErrFilterNotFound, "filter %d does not exist", id)
		}
		if err := s.checkFilter(f, wfp.ActrlRead); err != nil {
			return err
		}
		out = f.f.Clone()
		return nil
	})
	return out, err
}

// deleteDynamicFilters removes the filters a closing dynamic session added.
func (e *Engine) deleteDynamicFilters(s *session, ids map[uint64]struct{}) {
	_ = e.implicit(0, nil, true, -1, func(tx *txn) error {
		for id := range ids {
			if f := e.filters.get(id); f != nil && f.dynSess == s {
				e.filters.remove(id)
				tx.queueFilter(dpDelFilter, f.f)
			}
		}
		return nil
	})
}

// filterEnum is an open filter enumeration.
type filterEnum struct {
	items []*wfp.FwpmFilter0
	pos   int
}

// FwpmFilterCreateEnumHandle0 snapshots the filters matching a template.
func (s *session) FwpmFilterCreateEnumHandle0(tmpl *wfp.FwpmFilterEnumTemplate0) (wfp.EnumHandle, error) {
	var h uint64
	err := s.run(0, func(tx *txn) error {
		if err := s.checkEngine(wfp.ActrlEnum); err != nil {
			return err
		}
		match, err := filterMatcher(tmpl)
		if err != nil {
			return err
		}
		e := s.e
		en := &filterEnum{}
		for _, f := range e.filters.all() {
			if match(f) && s.checkFilter(f, wfp.ActrlRead) == nil {
				en.items = append(en.items, f.f)
			}
		}
		h = s.newHandle(en)
		return nil
	})
	return wfp.EnumHandle(h), err
}

// FwpmFilterEnum0 returns the next page of a filter enumeration.
func (s *session) FwpmFilterEnum0(h wfp.EnumHandle, n uint32) ([]*wfp.FwpmFilter0, error) {
	var out []*wfp.FwpmFilter0
	err := s.run(0, func(tx *txn) error {
		en, ok := s.handle(uint64(h)).(*filterEnum)
		if !ok {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not a filter enumeration handle of this session", h)
		}
		k := min(len(en.items)-en.pos, int(min(uint64(n), math.MaxInt32)))
		out = make([]*wfp.FwpmFilter0, k)
		for i := range k {
			out[i] = en.items[en.pos+i].Clone()
		}
		en.pos += k
		return nil
	})
	return out, err
}

// FwpmFilterDestroyEnumHandle0 frees a filter enumeration.
func (s *session) FwpmFilterDestroyEnumHandle0(h wfp.EnumHandle) error {
	return s.run(0, func(tx *txn) error {
		if _, ok := s.handle(uint64(h)).(*filterEnum); !ok {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not a filter enumeration handle of this session", h)
		}
		s.dropHandle(uint64(h))
		return nil
	})
}

// filterMatcher compiles an enumeration template.
func filterMatcher(t *wfp.FwpmFilterEnumTemplate0) (func(*filter) bool, error) {
	if t == nil {
		return func(*filter) bool { return true }, nil
	}
	if t.Flags != 0 {
		return nil, wfp.Errorf(wfp.ErrInvalidFlags, "template flags 0x%X are not supported", t.Flags)
	}
	if t.EnumType >= wfp.FilterEnumTypeMax {
		return nil, wfp.Errorf(wfp.ErrInvalidEnumerator, "enumType %d is out of range", uint32(t.EnumType))
	}
	var li layerInfo
	if !t.LayerKey.IsZero() {
		var ok bool
		if li, ok = layers[t.LayerKey]; !ok {
			return nil, wfp.Errorf(wfp.ErrLayerNotFound, "layer %v does not exist", t.LayerKey)
		}
	} else if len(t.FilterCondition) > 0 {
		return nil, wfp.Errorf(wfp.ErrInvalidParameter, "template conditions need a layerKey")
	}
	for i := range t.FilterCondition {
		if err := validateCondition(&t.FilterCondition[i], li, i); err != nil {
			return nil, err
		}
	}
	tspace := newSpace(t.FilterCondition)
	return func(f *filter) bool {
		if !t.LayerKey.IsZero() && f.f.LayerKey != t.LayerKey {
			return false
		}
		if t.ProviderKey != nil && (f.f.ProviderKey == nil || *f.f.ProviderKey != *t.ProviderKey) {
			return false
		}
		if uint32(f.f.Action.Type)&t.ActionMask == 0 {
			return false
		}
		if t.CalloutKey != nil && (!f.f.Action.Type.IsCallout() || f.f.Action.CalloutKey != *t.CalloutKey) {
			return false
		}
		if len(t.FilterCondition) == 0 {
			return true
		}
		fs := newSpace(f.f.FilterCondition)
		if t.EnumType == wfp.FilterEnumOverlapping {
			return fs.overlaps(tspace)
		}
		return fs.within(tspace)
	}, nil
}

// space is the set of values a list of conditions admits, per field: a union
// of closed intervals. A field that is not mentioned admits everything.
type space map[wfp.FieldID][]interval

type interval struct{ lo, hi u128 }

var full = interval{u128{}, u128{math.MaxUint64, math.MaxUint64}}

func newSpace(cs []wfp.FwpmFilterCondition0) space {
	sp := space{}
	for i := 0; i < len(cs); {
		// Consecutive conditions on one field are ORed.
		j := i
		var union []interval
		for ; j < len(cs) && cs[j].FieldKey == cs[i].FieldKey; j++ {
			union = append(union, condIntervals(&cs[j])...)
		}
		f := cs[i].FieldKey
		if prev, ok := sp[f]; ok {
			sp[f] = intersect(prev, union)
		} else {
			sp[f] = union
		}
		i = j
	}
	return sp
}

func condIntervals(c *wfp.FwpmFilterCondition0) []interval {
	v := &c.ConditionValue
	var lo, hi u128
	switch v.Type {
	case wfp.DataTypeRange:
		return []interval{{scalarValue(&v.RangeValue.ValueLow), scalarValue(&v.RangeValue.ValueHigh)}}
	case wfp.DataTypeV4AddrMask:
		a := uint64(uint32(v.V4AddrMask.Addr) & v.V4AddrMask.Mask)
		lo, hi = u128{lo: a}, u128{lo: a | uint64(^v.V4AddrMask.Mask)}
	case wfp.DataTypeV6AddrMask:
		a := v.V6AddrMask.Addr
		var l, h [16]byte
		bits := int(v.V6AddrMask.PrefixLength)
		for k := range 16 {
			keep := min(max(bits-8*k, 0), 8)
			m := byte(0xFF << (8 - keep))
			if keep == 0 {
				m = 0
			}
			l[k] = a[k] & m
			h[k] = a[k] | ^m
		}
		lo, hi = u128{binary.BigEndian.Uint64(l[:8]), binary.BigEndian.Uint64(l[8:])}, u128{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}
	default:
		x := scalarValue(&v.FwpValue0)
		lo, hi = x, x
	}
	switch c.MatchType {
	case wfp.MatchEqual:
		return []interval{{lo, hi}}
	case wfp.MatchNotEqual:
		var out []interval
		if cmp128(lo, full.lo) > 0 {
			out = append(out, interval{full.lo, dec(lo)})
		}
		if cmp128(hi, full.hi) < 0 {
			out = append(out, interval{inc(hi), full.hi})
		}
		return out
	case wfp.MatchGreater:
		if cmp128(hi, full.hi) == 0 {
			return nil
		}
		return []interval{{inc(hi), full.hi}}
	case wfp.MatchGreaterOrEqual:
		return []interval{{lo, full.hi}}
	case wfp.MatchLess:
		if cmp128(lo, full.lo) == 0 {
			return nil
		}
		return []interval{{full.lo, dec(lo)}}
	case wfp.MatchLessOrEqual:
		return []interval{{full.lo, hi}}
	}
	return []interval{full} // FLAGS_*: not expressible as intervals; admit all
}

func inc(a u128) u128 {
	if a.lo == math.MaxUint64 {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func dec(a u128) u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, math.MaxUint64}
	}
	return u128{a.hi, a.lo - 1}
}

func intersect(a, b []interval) []interval {
	var out []interval
	for _, x := range a {
		for _, y := range b {
			lo, hi := x.lo, x.hi
			if cmp128(y.lo, lo) > 0 {
				lo = y.lo
			}
			if cmp128(y.hi, hi) < 0 {
				hi = y.hi
			}
			if cmp128(lo, hi) <= 0 {
				out = append(out, interval{lo, hi})
			}
		}
	}
	return out
}

func (sp space) get(f wfp.FieldID) []interval {
	if iv, ok := sp[f]; ok {
		return iv
	}
	return []interval{full}
}

// overlaps reports whether some value satisfies both spaces.
func (sp space) overlaps(o space) bool {
	for f := range unionKeys(sp, o) {
		if len(intersect(sp.get(f), o.get(f))) == 0 {
			return false
		}
	}
	return true
}

// within reports whether every value sp admits, o admits too.
func (sp space) within(o space) bool {
	for f := range unionKeys(sp, o) {
		for _, x := range sp.get(f) {
			if !covered(x, o.get(f)) {
				return false
			}
		}
	}
	return true
}

// covered reports whether x lies inside the union of ys.
func covered(x interval, ys []interval) bool {
	ys = slices.Clone(ys)
	slices.SortFunc(ys, func(a, b interval) int { return cmp128(a.lo, b.lo) })
	cur := x.lo
	for _, y := range ys {
		if cmp128(y.lo, cur) > 0 {
			return false
		}
		if cmp128(y.hi, cur) >= 0 {
			if cmp128(y.hi, x.hi) >= 0 {
				return true
			}
			cur = inc(y.hi)
		}
	}
	return false
}

func unionKeys(a, b space) map[wfp.FieldID]struct{} {
	out := make(map[wfp.FieldID]struct{}, len(a)+len(b))
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}
