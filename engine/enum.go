package engine

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/sadb-dev/sadb/wfp"
)

// IPsecSaContextGetById0 returns an SA context (Vista version).
func (s *session) IPsecSaContextGetById0(id uint64) (*wfp.IPsecSAContext0, error) {
	sc, err := s.IPsecSaContextGetById1(id)
	if err != nil {
		return nil, err
	}
	return sc.ToContext0(), nil
}

// IPsecSaContextGetById1 returns an SA context.
func (s *session) IPsecSaContextGetById1(id uint64) (*wfp.IPsecSAContext1, error) {
	var out *wfp.IPsecSAContext1
	blk := s.gets.take()
	err := s.run(0, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlRead); err != nil {
			return err
		}
		keys := s.mayReadKeys()
		if !s.e.ctxs.view(id, func(c *saCtx) { out = s.e.exportInto(blk, c, keys) }) {
			return wfp.Errorf(wfp.ErrNotFound, "SA context %d does not exist", id)
		}
		return nil
	})
	if out == nil {
		s.gets.keep(blk) // untouched: no result was made in it
		return nil, err
	}
	s.gets.handOut(out, blk)
	return out, err
}

// snapshotEnum is an open enumeration of a snapshot of versions. While it
// is open, the engine gives no deleted context's memory back (see
// reuse.go); release ends that.
type snapshotEnum[T any] struct {
	keys bool

	mu       sync.Mutex // guards the fields below
	items    []T
	pos      int
	released bool
}

// release drops the snapshot, once.
func (en *snapshotEnum[T]) release(e *Engine) {
	en.mu.Lock()
	defer en.mu.Unlock()
	if !en.released {
		en.released, en.items = true, nil
		e.reuse.unpin()
	}
}

// lockedEnum returns the session's enumeration handle h if it is a
// snapshotEnum[T] still open, locked: the caller unlocks it.
func lockedEnum[T any](s *session, h uint64) (*snapshotEnum[T], bool) {
	en, ok := s.handle(h).(*snapshotEnum[T])
	if !ok {
		return nil, false
	}
	en.mu.Lock()
	if en.released {
		en.mu.Unlock()
		return nil, false
	}
	return en, true
}

// destroyEnum removes the session's enumeration handle h if it is a
// snapshotEnum[T], and releases it.
func destroyEnum[T any](s *session, h uint64) bool {
	s.mu.Lock()
	en, ok := s.handles[h].(*snapshotEnum[T])
	if ok {
		delete(s.handles, h)
	}
	s.mu.Unlock()
	if ok {
		en.release(s.e)
	}
	return ok
}

// ctxEnum is an open SA-context enumeration; saEnum an open SA
// enumeration (of the bundles of the versions).
type (
	ctxEnum = snapshotEnum[*saCtx]
	saEnum  = snapshotEnum[saItem]
)

type saItem struct {
	c   *saCtx
	dir wfp.Direction
}

// snapshotCtxs returns the current versions in id order.
func (e *Engine) snapshotCtxs() []*saCtx {
	// Sort (id, version) pairs: comparing ids in place is far faster than
	// following a million pointers.
	type pair struct {
		id uint64
		c  *saCtx
	}
	t := &e.ctxs
	pairs := make([]pair, 0, t.len()+16)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		sh.m.each(func(id uint64, c *saCtx) { pairs = append(pairs, pair{id, c}) })
		sh.mu.RUnlock()
	}
	if len(pairs) == 0 {
		return nil
	}
	// Ids are handed out in sequence, so they are usually dense: then
	// placing each context at its id's offset orders them in linear time.
	lo, hi := pairs[0].id, pairs[0].id
	for _, p := range pairs {
		lo, hi = min(lo, p.id), max(hi, p.id)
	}
	if span := hi - lo; span < 4*uint64(len(pairs)) {
		slots := make([]*saCtx, span+1)
		for _, p := range pairs {
			slots[p.id-lo] = p.c
		}
		return slices.DeleteFunc(slots, func(c *saCtx) bool { return c == nil })
	}
	slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.id, b.id) })
	out := make([]*saCtx, len(pairs))
	for i := range pairs {
		out[i] = pairs[i].c
	}
	return out
}

// exportPage exports a page of contexts into one slab (a given-back one
// when it can; see pagePool), spreading the work over the cores when the
// page is large.
func (e *Engine) exportPage(items []*saCtx, keys bool) []*wfp.IPsecSAContext1 {
	out := make([]*wfp.IPsecSAContext1, len(items))
	slab := e.ctxPages.slab(len(items))
	defer e.ctxPages.handOut(out, slab, keys)
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = e.exportInto(&slab[i], items[i], keys)
		}
	}
	const chunk = 1024
	if len(items) < 2*chunk {
		work(0, len(items))
		return out
	}
	var wg sync.WaitGroup
	n := min(runtime.GOMAXPROCS(0), (len(items)+chunk-1)/chunk)
	per := (len(items) + n - 1) / n
	for lo := 0; lo < len(items); lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			work(lo, hi)
		}(lo, min(lo+per, len(items)))
	}
	wg.Wait()
	return out
}

// IPsecSaContextCreateEnumHandle0 snapshots the SA contexts matching tmpl.
func (s *session) IPsecSaContextCreateEnumHandle0(tmpl *wfp.IPsecSAContextEnumTemplate0) (wfp.EnumHandle, error) {
	var h uint64
	err := s.run(0, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlEnum | wfp.ActrlRead); err != nil {
			return err
		}
		local, remote := subnet{any: true}, subnet{any: true}
		if tmpl != nil {
			var err error
			if local, err = parseSubnet(&tmpl.LocalSubNet, "enumTemplate.localSubNet"); err != nil {
				return err
			}
			if remote, err = parseSubnet(&tmpl.RemoteSubNet, "enumTemplate.remoteSubNet"); err != nil {
				return err
			}
		}
		s.e.reuse.pin() // before the snapshot: see reuse.go
		all := s.e.snapshotCtxs()
		if !local.any || !remote.any {
			all = slices.DeleteFunc(all, func(c *saCtx) bool {
				return !local.contains(c.outTraffic.LocalAddr()) || !remote.contains(c.outTraffic.RemoteAddr())
			})
		}
		h = s.newHandle(&ctxEnum{items: all, keys: s.mayReadKeys()})
		return nil
	})
	return wfp.EnumHandle(h), err
}

func pageSize(n uint32, left int) int {
	return min(left, int(min(uint64(n), math.MaxInt32)))
}

// IPsecSaContextEnum1 returns the next page of an SA-context enumeration.
func (s *session) IPsecSaContextEnum1(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSAContext1, error) {
	var out []*wfp.IPsecSAContext1
	err := s.run(0, func(tx *txn) error {
		en, ok := lockedEnum[*saCtx](s, uint64(h))
		if !ok {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not an SA context enumeration handle of this session", h)
		}
		defer en.mu.Unlock()
		k := pageSize(n, len(en.items)-en.pos)
		out = s.e.exportPage(en.items[en.pos:en.pos+k], en.keys)
		clear(en.items[en.pos : en.pos+k]) // let the versions go
		en.pos += k
		return nil
	})
	return out, err
}

// IPsecSaContextEnum0 is the Vista version of IPsecSaContextEnum1.
func (s *session) IPsecSaContextEnum0(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSAContext0, error) {
	page, err := s.IPsecSaContextEnum1(h, n)
	if err != nil {
		return nil, err
	}
	return wfp.ToContexts0(page), nil
}

// IPsecSaContextDestroyEnumHandle0 frees an SA-context enumeration.
func (s *session) IPsecSaContextDestroyEnumHandle0(h wfp.EnumHandle) error {
	return s.run(0, func(tx *txn) error {
		if !destroyEnum[*saCtx](s, uint64(h)) {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not an SA context enumeration handle of this session", h)
		}
		return nil
	})
}

// IPsecSaCreateEnumHandle0 snapshots the SA bundles.
func (s *session) IPsecSaCreateEnumHandle0(tmpl *wfp.IPsecSAEnumTemplate0) (wfp.EnumHandle, error) {
	var h uint64
	err := s.run(0, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlEnum | wfp.ActrlRead); err != nil {
			return err
		}
		in, out := true, true
		if tmpl != nil {
			switch tmpl.SADirection {
			case wfp.DirectionInbound:
				out = false
			case wfp.DirectionOutbound:
				in = false
			default:
				return wfp.Errorf(wfp.ErrInvalidEnumerator, "saDirection %d is out of range", uint32(tmpl.SADirection))
			}
		}
		en := &saEnum{keys: s.mayReadKeys()}
		s.e.reuse.pin() // before the snapshot: see reuse.go
		for _, c := range s.e.snapshotCtxs() {
			if in && c.in != nil {
				en.items = append(en.items, saItem{c, wfp.DirectionInbound})
			}
			if out && c.out != nil {
				en.items = append(en.items, saItem{c, wfp.DirectionOutbound})
			}
		}
		h = s.newHandle(en)
		return nil
	})
	return wfp.EnumHandle(h), err
}

// IPsecSaEnum1 returns the next page of an SA enumeration.
func (s *session) IPsecSaEnum1(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSADetails1, error) {
	var out []*wfp.IPsecSADetails1
	err := s.run(0, func(tx *txn) error {
		en, ok := lockedEnum[saItem](s, uint64(h))
		if !ok {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not an SA enumeration handle of this session", h)
		}
		defer en.mu.Unlock()
		k := pageSize(n, len(en.items)-en.pos)
		out = make([]*wfp.IPsecSADetails1, k)
		slab := s.e.saPages.slab(k)
		for i := range k {
			it := en.items[en.pos+i]
			b := &slab[i]
			s.e.exportDetails(&b.d, it.c, it.dir, en.keys, &b.st, &b.udp)
			out[i] = &b.d
			en.items[en.pos+i] = saItem{}
		}
		s.e.saPages.handOut(out, slab, en.keys)
		en.pos += k
		return nil
	})
	return out, err
}

// IPsecSaEnum0 is the Vista version of IPsecSaEnum1.
func (s *session) IPsecSaEnum0(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSADetails0, error) {
	page, err := s.IPsecSaEnum1(h, n)
	if err != nil {
		return nil, err
	}
	return wfp.ToDetails0(page), nil
}

// IPsecSaDestroyEnumHandle0 frees an SA enumeration.
func (s *session) IPsecSaDestroyEnumHandle0(h wfp.EnumHandle) error {
	return s.run(0, func(tx *txn) error {
		if !destroyEnum[saItem](s, uint64(h)) {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not an SA enumeration handle of this session", h)
		}
		return nil
	})
}

// IPsecGetStatistics1 returns IPsec statistics.
func (s *session) IPsecGetStatistics1() (*wfp.IPsecStatistics1, error) {
	var out *wfp.IPsecStatistics1
	err := s.run(opNoTxn, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlReadStats); err != nil {
			return err
		}
		st := &wfp.IPsecStatistics1{}
		a := &st.AggregateSAStatistics
		t := &s.e.ctxs
		a.ActiveSAs = clamp32(t.sum(func(sh *saShard) int64 { return sh.active.Load() }))
		a.TotalSAsAdded = uint32(t.sum(func(sh *saShard) int64 { return int64(sh.added.Load()) }))
		a.TotalSAsDeleted = uint32(t.sum(func(sh *saShard) int64 { return int64(sh.deleted.Load()) }))
		var pending, tunnels int64
		s.e.ctxs.each(func(c *saCtx) {
			if c.state < wfp.SAContextOutboundAdded {
				pending++
			}
			if c.outTraffic.TrafficType == wfp.TrafficTypeTunnel && c.in != nil && c.out != nil {
				tunnels++
			}
		})
		a.PendingSANegotiations = clamp32(pending)
		a.ActiveTunnels = clamp32(tunnels)
		if s.e.dp != nil {
			s.e.dp.Statistics(st)
		}
		out = st
		return nil
	})
	return out, err
}

// IPsecGetStatistics0 is the Vista version of IPsecGetStatistics1.
func (s *session) IPsecGetStatistics0() (*wfp.IPsecStatistics0, error) {
	st, err := s.IPsecGetStatistics1()
	if err != nil {
		return nil, err
	}
	return st.ToStatistics0(), nil
}

func clamp32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}
