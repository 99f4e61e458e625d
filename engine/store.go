package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// Store persists the engine's committed state: SA contexts with their SAs
// and keys, non-dynamic filters, the security descriptors and the id
// counters. The engine encodes records; a store only keeps bytes under
// (kind, key). Implementations must be safe for concurrent use.
type Store interface {
	// Load calls fn for every stored record.
	Load(fn func(kind RecordKind, key uint64, value []byte) error) error
	// Commit applies the mutations atomically and durably: when it returns
	// nil they survive a crash. Concurrent calls may share one disk commit.
	Commit(muts []Mutation) error
}

// RecordKind says what a stored record is.
type RecordKind uint8

const (
	RecordMeta      RecordKind = 1 // key: one of the meta keys below
	RecordSAContext RecordKind = 2 // key: SA context id
	RecordFilter    RecordKind = 3 // key: filter id
)

func (k RecordKind) String() string {
	switch k {
	case RecordMeta:
		return "meta"
	case RecordSAContext:
		return "sa-context"
	case RecordFilter:
		return "filter"
	}
	return fmt.Sprintf("RecordKind(%d)", uint8(k))
}

// Meta record keys.
const (
	metaEngineSD = 1
	metaSADBSD   = 2
	metaCounters = 3
)

// Mutation writes Value under (Kind, Key); a nil Value deletes the record.
type Mutation struct {
	Kind  RecordKind
	Key   uint64
	Value []byte
}

// ctxRecord is the stored form of an SA context. Keys are stored in the
// clear (the store file is private to its owner); wfp.Key would redact them.
type ctxRecord struct {
	ID         uint64                         `json:"id"`
	State      wfp.SAContextState             `json:"state"`
	Created    time.Time                      `json:"created"`
	OutTraffic wfp.IPsecTraffic1              `json:"outTraffic"`
	VIF        *wfp.IPsecVirtualIfTunnelInfo0 `json:"vif,omitempty"`
	GetSpi     *wfp.IPsecGetSPI1              `json:"getSpi,omitempty"`
	SPI        uint32                         `json:"spi,omitempty"`
	InTraffic  wfp.IPsecTraffic1              `json:"inTraffic"`
	InUDP      *wfp.IPsecV4UDPEncapsulation0  `json:"inUdp,omitempty"`
	OutUDP     *wfp.IPsecV4UDPEncapsulation0  `json:"outUdp,omitempty"`
	In         *bundleRecord                  `json:"in,omitempty"`
	Out        *bundleRecord                  `json:"out,omitempty"`
	ExpiredAt  time.Time                      `json:"expiredAt,omitzero"`
}

type bundleRecord struct {
	Bundle wfp.IPsecSABundle1 `json:"bundle"` // SAList cleared; see SAs
	SAs    []saRecord         `json:"sas"`
	Added  time.Time          `json:"added"`
}

type saRecord struct {
	SPI       uint32                       `json:"spi"`
	Type      wfp.TransformType            `json:"type"`
	AuthID    *wfp.IPsecAuthTransformID0   `json:"auth,omitempty"`
	CipherID  *wfp.IPsecCipherTransformID0 `json:"cipher,omitempty"`
	AuthKey   []byte                       `json:"authKey,omitempty"`
	CipherKey []byte                       `json:"cipherKey,omitempty"`
}

type filterRecord struct {
	Filter *wfp.FwpmFilter0        `json:"filter"`
	SD     *wfp.SecurityDescriptor `json:"sd,omitempty"`
}

type countersRecord struct {
	NextCtx    uint64 `json:"nextCtx"`
	NextFilter uint64 `json:"nextFilter"`
}

func encodeBundle(b *bundle) *bundleRecord {
	if b == nil {
		return nil
	}
	w := b.toWFP(true)
	defer func() {
		for i := range w.SAList {
			w.SAList[i].ZeroKeys()
		}
	}()
	r := &bundleRecord{Bundle: *w, Added: b.addedTime()}
	r.Bundle.SAList = nil
	for i := range w.SAList {
		sa := &w.SAList[i]
		sr := saRecord{SPI: sa.SPI, Type: sa.SATransformType}
		auth, cipher := saTransformIDs(sa)
		ak, ck := saKeyBlobs(sa)
		if len(ak) > 0 || sa.SATransformType != wfp.TransformESPCipher {
			sr.AuthID, sr.AuthKey = &auth, append([]byte(nil), ak...)
		}
		if sa.SATransformType == wfp.TransformESPCipher || sa.SATransformType == wfp.TransformESPAuthAndCipher {
			sr.CipherID, sr.CipherKey = &cipher, append([]byte(nil), ck...)
		}
		r.SAs = append(r.SAs, sr)
	}
	return r
}

func decodeBundle(r *bundleRecord) (*bundle, error) {
	if r == nil {
		return nil, nil
	}
	wb := r.Bundle
	wb.SAList = nil
	for i, sr := range r.SAs {
		sa := wfp.IPsecSA0{SPI: sr.SPI, SATransformType: sr.Type}
		auth := func() (*wfp.IPsecSAAuthInformation0, error) {
			if sr.AuthID == nil {
				return nil, fmt.Errorf("SA %d has no auth transform", i)
			}
			return &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: *sr.AuthID}, AuthKey: wfp.Key(sr.AuthKey)}, nil
		}
		cipher := func() (*wfp.IPsecSACipherInformation0, error) {
			if sr.CipherID == nil {
				return nil, fmt.Errorf("SA %d has no cipher transform", i)
			}
			return &wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: *sr.CipherID}, CipherKey: wfp.Key(sr.CipherKey)}, nil
		}
		var err error
		switch sr.Type {
		case wfp.TransformAH:
			sa.AHInformation, err = auth()
		case wfp.TransformESPAuth:
			sa.ESPAuthInformation, err = auth()
		case wfp.TransformESPAuthFW:
			sa.ESPAuthFWInformation, err = auth()
		case wfp.TransformESPCipher:
			sa.ESPCipherInformation, err = cipher()
		case wfp.TransformESPAuthAndCipher:
			var a *wfp.IPsecSAAuthInformation0
			var c *wfp.IPsecSACipherInformation0
			if a, err = auth(); err == nil {
				if c, err = cipher(); err == nil {
					sa.ESPAuthAndCipherInformation = &wfp.IPsecSAAuthAndCipherInformation0{SAAuthInformation: *a, SACipherInformation: *c}
				}
			}
		default:
			err = fmt.Errorf("SA %d has transform type %d", i, sr.Type)
		}
		if err != nil {
			return nil, err
		}
		wb.SAList = append(wb.SAList, sa)
	}
	if err := validateBundle(&wb, "stored bundle"); err != nil {
		return nil, err
	}
	b := newBundle(&wb, r.Added)
	for i := range wb.SAList {
		wb.SAList[i].ZeroKeys()
	}
	return b, nil
}

func encodeCtx(c *saCtx) ([]byte, error) {
	var gs *wfp.IPsecGetSPI1
	if c.spi != 0 {
		g := c.getSPI()
		gs = &g
	}
	r := ctxRecord{
		GetSpi: gs,
		ID:     c.id, State: c.state, Created: time.Unix(0, c.created), OutTraffic: c.outTraffic, VIF: c.ex().vif,
		SPI: c.spi, InTraffic: c.inbound(), InUDP: c.ex().inUDP, OutUDP: c.ex().outUDP,
		In: encodeBundle(c.in), Out: encodeBundle(c.out),
	}
	if c.expiredAt != 0 {
		r.ExpiredAt = time.Unix(0, c.expiredAt)
	}
	return appendCtxRecord(nil, &r), nil
}

// decodeCtx decodes an SA context record: binary (see record.go), or JSON
// as stores written before it hold.
func decodeCtx(b []byte) (*saCtx, error) {
	var r ctxRecord
	if len(b) > 0 && b[0] == recordBinaryV1 {
		if err := decodeCtxRecord(b, &r); err != nil {
			return nil, err
		}
	} else if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	c := &saCtx{id: r.ID, state: r.State, created: r.Created.UnixNano(), outTraffic: r.OutTraffic, spi: r.SPI}
	x := ctxExtras{vif: r.VIF, inUDP: r.InUDP, outUDP: r.OutUDP}
	if !r.ExpiredAt.IsZero() {
		c.expiredAt = r.ExpiredAt.UnixNano()
	}
	c.tslot = newTimerSlot(c.id)
	if r.GetSpi != nil {
		x.gsFull = c.setGSFilters(&r.GetSpi.InboundIPsecTraffic)
		x.gsUDP = r.GetSpi.InboundUDPEncapsulation
		if r.InTraffic != r.GetSpi.InboundIPsecTraffic {
			t := r.InTraffic
			x.inTraffic = &t
		}
	}
	c.setExtras(&x)
	var err error
	if c.in, err = decodeBundle(r.In); err != nil {
		return nil, err
	}
	if c.out, err = decodeBundle(r.Out); err != nil {
		return nil, err
	}
	if c.id == 0 || c.state < wfp.SAContextCreated || c.state > wfp.SAContextExpired {
		return nil, fmt.Errorf("bad id or state")
	}
	if err := checkCtxShape(c, r.GetSpi != nil); err != nil {
		return nil, err
	}
	if err := validateTraffic(&c.outTraffic, "stored traffic"); err != nil {
		return nil, err
	}
	return c, nil
}

// ctxShape says whether a state needs an SPI, an inbound and an outbound
// bundle; an expired context may have lost its outbound one (anyOut).
type ctxShape struct{ spi, in, out, anyOut bool }

var ctxShapes = map[wfp.SAContextState]ctxShape{
	wfp.SAContextCreated:       {},
	wfp.SAContextSPISet:        {spi: true},
	wfp.SAContextInboundAdded:  {spi: true, in: true},
	wfp.SAContextOutboundAdded: {spi: true, in: true, out: true},
	wfp.SAContextExpired:       {spi: true, in: true, anyOut: true},
}

// checkCtxShape checks that a decoded context is in a state the engine
// can be in: an SPI exactly when GetSpi or SetSpi was called (the record
// then holds its IPSEC_GETSPI1), and the bundles its state says. A record
// that is not is damaged; left in, it would not even read back the same
// once written again.
func checkCtxShape(c *saCtx, hasGetSpi bool) error {
	if (c.spi != 0) != hasGetSpi {
		return fmt.Errorf("SPI %d without its GetSpi, or the reverse", c.spi)
	}
	want := ctxShapes[c.state]
	if (c.spi != 0) != want.spi || (c.in != nil) != want.in || (!want.anyOut && (c.out != nil) != want.out) {
		return fmt.Errorf("state %v with SPI %d, inbound bundle %t, outbound bundle %t", c.state, c.spi, c.in != nil, c.out != nil)
	}
	return nil
}

// persist writes the objects d names to the store.
func (e *Engine) persist(d *dirtySet) error {
	muts := make([]Mutation, 0, len(d.ctxs)+len(d.filters)+3)
	for id := range d.ctxs {
		m := Mutation{Kind: RecordSAContext, Key: id}
		var err error
		e.ctxs.view(id, func(c *saCtx) { m.Value, err = encodeCtx(c) })
		if err != nil {
			return wfp.Errorf(wfp.ErrInternal, "encoding SA context %d: %v", id, err)
		}
		muts = append(muts, m)
	}
	for id := range d.filters {
		m := Mutation{Kind: RecordFilter, Key: id}
		if f := e.filters.get(id); f != nil && f.dynSess == nil {
			v, err := json.Marshal(&filterRecord{Filter: f.f, SD: f.sd})
			if err != nil {
				return wfp.Errorf(wfp.ErrInternal, "encoding filter %d: %v", id, err)
			}
			m.Value = v
		}
		muts = append(muts, m)
	}
	if d.sds {
		eng, _ := json.Marshal(e.engineSD.Load())
		sadb, _ := json.Marshal(e.sadbSD.Load())
		muts = append(muts,
			Mutation{Kind: RecordMeta, Key: metaEngineSD, Value: eng},
			Mutation{Kind: RecordMeta, Key: metaSADBSD, Value: sadb})
	}
	if d.ids || len(d.filters) > 0 {
		// Created contexts and filters move the id counters, which a
		// restart must not hand out again.
		ctr, _ := json.Marshal(&countersRecord{NextCtx: e.nextCtx.Load(), NextFilter: e.filters.next.Load()})
		muts = append(muts, Mutation{Kind: RecordMeta, Key: metaCounters, Value: ctr})
	}
	if err := e.store.Commit(muts); err != nil {
		e.storeFailed.Store(true)
		e.log.Error("store commit failed; refusing further writes", "err", err)
		return wfp.Errorf(wfp.ErrInternal, "the store failed to commit: %v", err)
	}
	return nil
}

// load rebuilds the engine from the store.
func (e *Engine) load() error {
	dec := newCtxDecoder(runtime.GOMAXPROCS(0))
	sds := 0 // security descriptors stored
	err := e.store.Load(func(kind RecordKind, key uint64, value []byte) error {
		switch kind {
		case RecordMeta:
			switch key {
			case metaEngineSD, metaSADBSD:
				sds++
				var sd wfp.SecurityDescriptor
				if err := json.Unmarshal(value, &sd); err != nil {
					return fmt.Errorf("meta %d: %w", key, err)
				}
				if err := validateSD(&sd); err != nil {
					return fmt.Errorf("meta %d: %w", key, err)
				}
				if key == metaEngineSD {
					e.engineSD.Store(normalizeSD(&sd))
				} else {
					e.sadbSD.Store(normalizeSD(&sd))
				}
			case metaCounters:
				var c countersRecord
				if err := json.Unmarshal(value, &c); err != nil {
					return fmt.Errorf("counters: %w", err)
				}
				e.nextCtx.Store(max(e.nextCtx.Load(), c.NextCtx))
				e.filters.next.Store(max(e.filters.next.Load(), c.NextFilter))
			}
		case RecordSAContext:
			return dec.add(key, value)
		case RecordFilter:
			var r filterRecord
			if err := json.Unmarshal(value, &r); err != nil || r.Filter == nil {
				return fmt.Errorf("filter %d: malformed record", key)
			}
			f, err := prepareFilter(r.Filter)
			if err != nil {
				return fmt.Errorf("filter %d: %w", key, err)
			}
			f.f.FilterID = key
			f.sd = r.SD
			e.filters.insert(f)
			e.filters.next.Store(max(e.filters.next.Load(), key))
		default:
			return fmt.Errorf("unknown record kind %v", kind)
		}
		return nil
	})
	ctxs, derr := dec.finish()
	if derr != nil && (err == nil || errors.Is(err, errLoadStopped)) {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("engine: loading the store: %w", err)
	}
	if sds < 2 {
		// A new store: the security descriptors the engine was opened
		// with become the store's, and later openings find them there.
		// (Commits write them only when they change.)
		if err := e.persist(&dirtySet{sds: true}); err != nil {
			return fmt.Errorf("engine: initializing the store: %w", err)
		}
	}
	for _, c := range ctxs {
		if c.spi != 0 && !e.spis.reserve(c.spi, c.id) {
			return fmt.Errorf("engine: loading the store: SPI %d is held by two SA contexts", c.spi)
		}
		out, in := c.filterIDs()
		for _, fid := range []uint64{out, in} {
			if fid == 0 {
				continue
			}
			f := e.filters.get(fid)
			if f == nil {
				return fmt.Errorf("engine: loading the store: SA context %d refers to missing filter %d", c.id, fid)
			}
			f.addRef(0, 1)
		}
		e.putCtxRaw(c.id, c)
		e.nextCtx.Store(max(e.nextCtx.Load(), c.id))
		n := 0
		for _, b := range []*bundle{c.in, c.out} {
			if b != nil {
				n += int(b.nSA)
			}
		}
		e.ctxs.shard(c.id).active.Add(int64(n))
	}
	// Contexts whose time ran out while the engine was down go now, before
	// anyone can see them (and their deletion is persisted); the others
	// get their timers.
	now := e.clk.Now()
	var due []uint64
	for _, c := range ctxs {
		if e.expireReason(c, now) != "" {
			due = append(due, c.id)
		} else {
			e.timers.schedule(c.id)
		}
	}
	if len(due) > 0 {
		e.gate.acquire(modeIX, 0, -1)
		e.expireLocked(due)
		e.gate.release(modeIX, 0)
		if e.storeFailed.Load() {
			return fmt.Errorf("engine: persisting the deletion of %d expired SA contexts failed", len(due))
		}
	}
	e.log.Info("loaded the store", "saContexts", len(ctxs)-len(due), "expiredWhileDown", len(due), "filters", e.filters.count())
	return nil
}
