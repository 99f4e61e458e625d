package engine

import (
	"sync"
	"sync/atomic"

	"github.com/sadb-dev/sadb/wfp"
)

// saCtx is one version of an SA context. A version is immutable once
// published in the table; every change publishes a new version that shares
// the unchanged parts. Readers (enumeration snapshots, GetById) therefore
// need no lock beyond the table shard's to load the pointer.
//
// Pointer fields come first: the garbage collector scans an object only up
// to its last pointer, and a million contexts make that matter.
type saCtx struct {
	in, out *bundle
	tslot   *timerSlot // shared by all versions
	x       *ctxExtras // nil: none set

	id        uint64
	created   int64  // unix nanoseconds
	expiredAt int64  // unix nanoseconds; set in state Expired
	spi       uint32 // inbound SPI, 0 before GetSpi/SetSpi
	state     wfp.SAContextState

	outTraffic wfp.IPsecTraffic1 // from Create; IPsecSaContextUpdate0 may change it

	// The first GetSpi's IPsecFilterID and TunnelPolicyID (see gsTraffic).
	gsFilter, gsTunnel uint64
}

// ctxExtras are the members of a version that most contexts never set,
// kept apart so that a version, copied at every step of the plumbing, is
// smaller and has fewer pointers to copy. Immutable like the version and
// shared by the versions that follow, until a change makes a new one (see
// saCtx.setExtras).
type ctxExtras struct {
	vif       *wfp.IPsecVirtualIfTunnelInfo0
	gsUDP     *wfp.IPsecV4UDPEncapsulation0 // the first GetSpi's UDP encapsulation
	inUDP     *wfp.IPsecV4UDPEncapsulation0
	outUDP    *wfp.IPsecV4UDPEncapsulation0
	inTraffic *wfp.IPsecTraffic1 // set when an update changed the inbound traffic
	gsFull    *wfp.IPsecTraffic1 // the first GetSpi's traffic, when not kept as gsFilter/gsTunnel (see gsTraffic)
}

// ctxRoom is room for the first versions of a context, made in one
// allocation by IPsecSaContextCreate1: its own, GetSpi's (or SetSpi's) and
// AddInbound's. The plumbing makes a version at every step; most of them
// are garbage one step later, and one allocation for three costs the
// garbage collector less than three. AddOutbound's version, which a
// plumbed context keeps for the rest of its life, is not made here
// (versionWithBundle), so a plumbed context does not keep the room.
//
// A slot is used once: used only grows, so a version an aborted
// transaction made is never written again, nor is any version once
// published. used is guarded by the context's shard lock.
type ctxRoom struct {
	v    [3]saCtx
	used uint8
}

// newCtx makes the first version of context id, with its timer slot and
// the room for the next versions.
func newCtx(id uint64) *saCtx {
	r := roomPool.Get().(*ctxRoom) // zero
	r.used = 1
	c := &r.v[0]
	c.id = id
	c.tslot = newTimerSlot(id)
	c.tslot.room, c.tslot.home = r, r
	return c
}

// successor returns a copy of c to make c's next version of: in the
// context's room while there is some, else newly allocated. Called under
// the context's shard lock (from a modifyCtx callback), before the new
// version is published.
func (c *saCtx) successor() *saCtx {
	var n *saCtx
	if ts := c.tslot; ts.room != nil { // every context has a timer slot
		r := ts.room
		n = &r.v[r.used]
		r.used++
		if int(r.used) == len(r.v) {
			ts.room = nil
		}
	} else {
		n = new(saCtx)
	}
	*n = *c
	return n
}

// noExtras stands for the extras of a version that has none. Read only.
var noExtras ctxExtras

// ex returns c's extras, for reading.
func (c *saCtx) ex() *ctxExtras {
	if c.x != nil {
		return c.x
	}
	return &noExtras
}

// setExtras makes a copy of x c's extras: none if x is zero, the ones c
// has (shared with the version it was copied from) if they are equal. c
// must be a version being made, not yet published.
func (c *saCtx) setExtras(x *ctxExtras) {
	switch {
	case *x == (ctxExtras{}):
		c.x = nil
	case c.x == nil || *c.x != *x:
		nx := new(ctxExtras)
		*nx = *x
		c.x = nx
	}
}

// gsTraffic returns the first GetSpi's traffic (valid when spi != 0). A
// GetSpi's inbound traffic is mostly the outbound traffic with the inbound
// filter, so it is kept as that difference, gsFilter and gsTunnel: a
// version is copied at every step of the plumbing, and a million contexts
// keep one each. It is kept whole, in gsFull, when it differs in more, and
// from the update that changes the outbound traffic on.
func (c *saCtx) gsTraffic() wfp.IPsecTraffic1 {
	if t := c.ex().gsFull; t != nil {
		return *t
	}
	t := c.outTraffic
	t.IPsecFilterID, t.TunnelPolicyID = c.gsFilter, c.gsTunnel
	return t
}

// setGSFilters records the filters of t, the first GetSpi's traffic, and
// returns t whole if it differs from the outbound traffic in more (for
// ctxExtras.gsFull), else nil. outTraffic must be set.
func (c *saCtx) setGSFilters(t *wfp.IPsecTraffic1) *wfp.IPsecTraffic1 {
	c.gsFilter, c.gsTunnel = t.IPsecFilterID, t.TunnelPolicyID
	d := c.outTraffic
	d.IPsecFilterID, d.TunnelPolicyID = t.IPsecFilterID, t.TunnelPolicyID
	if d == *t {
		return nil
	}
	full := *t
	return &full
}

// inbound returns the inbound traffic.
func (c *saCtx) inbound() wfp.IPsecTraffic1 {
	if t := c.ex().inTraffic; t != nil {
		return *t
	}
	return c.gsTraffic()
}

// getSPI rebuilds the first IPSEC_GETSPI1.
func (c *saCtx) getSPI() wfp.IPsecGetSPI1 {
	t := c.gsTraffic()
	return wfp.IPsecGetSPI1{InboundIPsecTraffic: t, IPVersion: t.IPVersion, InboundUDPEncapsulation: c.ex().gsUDP}
}

// filterIDs returns the filters this version refers to.
func (c *saCtx) filterIDs() (out, in uint64) {
	out = refFilter(&c.outTraffic)
	if c.spi != 0 {
		t := c.inbound()
		in = refFilter(&t)
	}
	return out, in
}

func refFilter(t *wfp.IPsecTraffic1) uint64 {
	if t.TrafficType == wfp.TrafficTypeTunnel {
		return t.TunnelPolicyID
	}
	return t.IPsecFilterID
}

const numShards = 64

// saTable maps SA context ids to their current version.
type saTable struct {
	shards [numShards]saShard
}

type saShard struct {
	mu sync.RWMutex // guards m
	m  ctxSlots

	// Counters of this shard's contexts; the engine's are the sums.
	count   atomic.Int64  // contexts
	active  atomic.Int64  // SAs in their bundles (committed)
	added   atomic.Uint64 // SAs ever added (committed)
	deleted atomic.Uint64 // SAs ever deleted (committed)
	_       [64]byte      // keep shards on separate cache lines
}

// sum adds up a counter over the shards.
func (t *saTable) sum(f func(sh *saShard) int64) int64 {
	var n int64
	for i := range t.shards {
		n += f(&t.shards[i])
	}
	return n
}

func (t *saTable) len() int64 { return t.sum(func(sh *saShard) int64 { return sh.count.Load() }) }

func (t *saTable) shard(id uint64) *saShard { return &t.shards[id%numShards] }

// replaceLocked makes c (nil: none) context id's version in place of prev,
// the current one (nil: none), and counts the context. The caller holds
// sh.mu.
func (sh *saShard) replaceLocked(id uint64, prev, c *saCtx) {
	if c == nil {
		sh.m.del(id)
	} else {
		sh.m.set(id, c)
	}
	switch {
	case prev == nil && c != nil:
		sh.count.Add(1)
	case prev != nil && c == nil:
		sh.count.Add(-1)
	}
}

// get returns the current version of context id. The caller must not
// read it after a delete of the context may have committed (see reuse.go):
// code that may run concurrently with one reads it with view.
func (t *saTable) get(id uint64) *saCtx {
	sh := t.shard(id)
	sh.mu.RLock()
	c := sh.m.get(id)
	sh.mu.RUnlock()
	return c
}

// view calls fn with the current version of context id, holding the
// context's shard lock, and reports whether the context exists. fn must
// not keep the version, nor take a shard lock.
func (t *saTable) view(id uint64, fn func(c *saCtx)) bool {
	sh := t.shard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	c := sh.m.get(id)
	if c == nil {
		return false
	}
	fn(c)
	return true
}

// each calls fn with every current version, one shard at a time, holding
// the shard's lock. fn must not keep the version, nor take a shard lock.
func (t *saTable) each(fn func(c *saCtx)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		sh.m.each(func(_ uint64, c *saCtx) { fn(c) })
		sh.mu.RUnlock()
	}
}

// ctxSlots holds one shard's contexts by id. Ids are handed out in
// sequence and a context lives for its SAs' lifetime, so the live ids of a
// shard are mostly dense runs: pages of ctxPageSlots consecutive ids find
// each context at a fixed place next to those created just before it (a
// map of a million contexts put each at a random place, a cache miss per
// call), and the map of pages stays small enough to stay in cache. A page
// that empties is dropped, so memory follows the live contexts, however far
// apart their ids are.
type ctxSlots struct {
	pages map[uint64]*ctxPage // by page number (id / numShards / ctxPageSlots)
	last  *ctxPage            // the page last written, and its number
	lastN uint64

	// spare is the page that emptied last, kept for the next new page: a
	// shard whose contexts come and go (create, delete, create …) would
	// otherwise allocate a page per context. At most one per shard.
	spare *ctxPage
}

const ctxPageSlots = 64

type ctxPage struct {
	n     int // contexts in slots
	slots [ctxPageSlots]*saCtx
}

// where returns the page number and slot of id in its shard.
func (*ctxSlots) where(id uint64) (page uint64, slot int) {
	local := id / numShards
	return local / ctxPageSlots, int(local % ctxPageSlots)
}

// page returns page p, nil if it has no context. Readers share the
// shard's read lock, so only writers (set, del) move last.
func (m *ctxSlots) page(p uint64) *ctxPage {
	if m.last != nil && m.lastN == p {
		return m.last
	}
	return m.pages[p]
}

// writePage is page for a writer, which makes p the latest page.
func (m *ctxSlots) writePage(p uint64) *ctxPage {
	pg := m.page(p)
	if pg != nil {
		m.last, m.lastN = pg, p
	}
	return pg
}

func (m *ctxSlots) get(id uint64) *saCtx {
	p, i := m.where(id)
	if pg := m.page(p); pg != nil {
		return pg.slots[i]
	}
	return nil
}

// set stores c (not nil) as id's context.
func (m *ctxSlots) set(id uint64, c *saCtx) {
	p, i := m.where(id)
	pg := m.writePage(p)
	if pg == nil {
		if m.pages == nil {
			m.pages = make(map[uint64]*ctxPage)
		}
		pg = m.spare
		if pg != nil {
			m.spare = nil
		} else {
			pg = new(ctxPage)
		}
		m.pages[p] = pg
		m.last, m.lastN = pg, p
	}
	if pg.slots[i] == nil {
		pg.n++
	}
	pg.slots[i] = c
}

// del removes id's context, if any.
func (m *ctxSlots) del(id uint64) {
	p, i := m.where(id)
	pg := m.writePage(p)
	if pg == nil || pg.slots[i] == nil {
		return
	}
	pg.slots[i] = nil
	if pg.n--; pg.n == 0 {
		delete(m.pages, p)
		if m.last == pg {
			m.last = nil
		}
		m.spare = pg // every slot is nil again
	}
}

// each calls fn for every context, in no particular order.
func (m *ctxSlots) each(fn func(id uint64, c *saCtx)) {
	for _, pg := range m.pages {
		for _, c := range pg.slots {
			if c != nil {
				fn(c.id, c)
			}
		}
	}
}

// spiTable maps inbound SPIs in use to the id of the context holding them.
//
// SPIs are random, so at a million contexts every GetSpi lands in a cold
// part of the index. Each shard is therefore an open-addressing table of
// 16-byte slots, the SPI and its holder side by side, probed linearly and
// kept at most half full: a lookup, hit or miss, mostly touches one cache
// line. (A Go map touches its control word and its slot, two lines.) SPI 0
// marks an empty slot; SPIs below 256 are never held.
type spiTable struct {
	shards [numShards]spiShard
}

type spiShard struct {
	mu    sync.Mutex // guards slots and n
	slots []spiSlot  // a power of two long
	n     int        // slots in use
	_     [24]byte
}

type spiSlot struct {
	spi uint32 // 0: empty
	id  uint64
}

const spiMinSlots = 16

func (t *spiTable) init() {
	for i := range t.shards {
		t.shards[i].slots = make([]spiSlot, spiMinSlots)
	}
}

// spiHash mixes an SPI's bits: its top 6 bits pick the shard, the rest the
// slot. SPIs are random, except when callers set them.
func spiHash(spi uint32) uint32 { return spi * 0x9E3779B1 }

func (t *spiTable) shard(spi uint32) *spiShard { return &t.shards[spiHash(spi)>>26] }

// home is where spi's probe starts.
func (sh *spiShard) home(spi uint32) int {
	return int(spiHash(spi)&(1<<26-1)) & (len(sh.slots) - 1)
}

// find returns spi's slot and true, or the empty slot where it would go
// and false. The caller holds sh.mu.
func (sh *spiShard) find(spi uint32) (int, bool) {
	mask := len(sh.slots) - 1
	for i := sh.home(spi); ; i = (i + 1) & mask {
		switch sh.slots[i].spi {
		case spi:
			return i, true
		case 0:
			return i, false
		}
	}
}

// resize moves the slots in use to a table of n slots. The caller holds
// sh.mu.
func (sh *spiShard) resize(n int) {
	old := sh.slots
	sh.slots = make([]spiSlot, n)
	for _, s := range old {
		if s.spi != 0 {
			i, _ := sh.find(s.spi)
			sh.slots[i] = s
		}
	}
}

// reserve marks spi as held by id. It reports false if spi is taken (or 0).
func (t *spiTable) reserve(spi uint32, id uint64) bool {
	if spi == 0 {
		return false
	}
	sh := t.shard(spi)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, taken := sh.find(spi)
	if taken {
		return false
	}
	if 2*(sh.n+1) > len(sh.slots) {
		sh.resize(2 * len(sh.slots))
		i, _ = sh.find(spi)
	}
	sh.slots[i] = spiSlot{spi: spi, id: id}
	sh.n++
	return true
}

// release frees spi if id holds it.
func (t *spiTable) release(spi uint32, id uint64) {
	if spi == 0 {
		return
	}
	sh := t.shard(spi)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, held := sh.find(spi)
	if !held || sh.slots[i].id != id {
		return
	}
	// Close the gap: a later slot of the same run moves back into it
	// unless its probe starts after the gap (cyclically), where a lookup
	// would no longer pass the gap to reach it.
	mask := len(sh.slots) - 1
	for j := (i + 1) & mask; sh.slots[j].spi != 0; j = (j + 1) & mask {
		k := sh.home(sh.slots[j].spi)
		if (j > i && (k <= i || k > j)) || (j < i && k <= i && k > j) {
			sh.slots[i] = sh.slots[j]
			i = j
		}
	}
	sh.slots[i] = spiSlot{}
	sh.n--
	// Give memory back when a shard empties out (a million contexts
	// deleted), not at every dip.
	if l := len(sh.slots); l > spiMinSlots && 8*sh.n < l {
		sh.resize(l / 2)
	}
}

func (t *spiTable) owner(spi uint32) (uint64, bool) {
	sh := t.shard(spi)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, held := sh.find(spi); held {
		return sh.slots[i].id, true
	}
	return 0, false
}
