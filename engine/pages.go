package engine

import (
	"runtime"
	"sync"
	"unsafe"
	"weak"

	"github.com/sadb-dev/sadb/wfp"
)

// pagePool reuses the slabs behind enumeration pages that their callers
// give back with FwpmFreeMemory0. A page of a large enumeration is about a
// KiB per context; a million contexts enumerated without reuse are a
// gigabyte of fresh memory, whose page faults and garbage collection (which
// must also mark the whole database) cost more than the export itself.
// Given back, one slab serves every page.
//
// A page is a slice of pointers of type *E, element i pointing into block i
// of a slab of B (elem says where). A page handed out is known by the
// address of its first element: the array of pointers is allocated for
// each page and never reused, so a page freed twice, or a page the engine
// did not make, is never taken for one it did. The registry holds pages and
// slabs weakly, so that a page dropped without being freed is collected as
// soon as it would be without the registry; a cleanup then removes its
// entry.
type pagePool[E, B any] struct {
	elem     func(*B) *E // where in a block the page's element points
	zeroKeys func(*B)    // zeroes the keys a block holds, from its own storage

	mu   sync.Mutex // guards live
	live map[weak.Pointer[*E]]slabUse[B]

	idle sync.Pool // of *[]B: slabs given back, zeroed
}

// slabUse is a slab handed out as a page.
type slabUse[B any] struct {
	first weak.Pointer[B] // the slab's first block
	n     int             // the page's length
	cap   int             // the slab's
	keys  bool            // the page holds key material
}

// maxPooledSlab is the largest slab kept for reuse (about 15 MB of context
// blocks): larger pages are rare, and an idle slab holds its memory until
// the garbage collector clears the pool.
const maxPooledSlab = 16384

// slab returns n zeroed blocks, reused when a given-back slab fits.
func (pp *pagePool[E, B]) slab(n int) []B {
	if v, ok := pp.idle.Get().(*[]B); ok {
		if s := *v; cap(s) >= n && cap(s) <= 2*n+64 {
			return s[:n]
		}
		pp.idle.Put(v)
	}
	return make([]B, n)
}

// handOut records that page, made in slab (with key material when keys),
// now belongs to a caller.
func (pp *pagePool[E, B]) handOut(page []*E, slab []B, keys bool) {
	if len(page) == 0 || cap(slab) > maxPooledSlab {
		return
	}
	k := weak.Make(&page[0])
	pp.mu.Lock()
	if pp.live == nil {
		pp.live = make(map[weak.Pointer[*E]]slabUse[B])
	}
	pp.live[k] = slabUse[B]{first: weak.Make(&slab[0]), n: len(slab), cap: cap(slab), keys: keys}
	pp.mu.Unlock()
	runtime.AddCleanup(&page[0], pp.forget, k)
}

// forget drops the registry entry of a page collected without being freed.
func (pp *pagePool[E, B]) forget(k weak.Pointer[*E]) {
	pp.mu.Lock()
	delete(pp.live, k)
	pp.mu.Unlock()
}

// give takes a page back: its keys are zeroed and its elements and *p set
// to nil (as wfp.FreeMemory does), and its slab is reused when the engine
// made it.
func (pp *pagePool[E, B]) give(p *[]*E) {
	page := *p
	var slab []B
	var use slabUse[B]
	if len(page) > 0 {
		k := weak.Make(&page[0])
		pp.mu.Lock()
		if u, ok := pp.live[k]; ok && u.n == len(page) {
			use = u
			delete(pp.live, k)
		}
		pp.mu.Unlock()
		// The slab lives while the page points into it; if the caller
		// pointed every element elsewhere it may be gone, and then there
		// is nothing to reuse.
		if b := use.first.Value(); b != nil {
			slab = unsafe.Slice(b, use.cap)[:use.n]
		}
	}
	if slab == nil {
		wfp.FreeMemory(p)
		return
	}
	for i, x := range page {
		if x != pp.elem(&slab[i]) { // the caller put it there: free it too
			wfp.FreeMemory(&x)
		}
	}
	clear(page)
	*p = nil
	if use.keys {
		// Every block, from its own storage: whether or not the page, or
		// the structures in it, still pointed there.
		for i := range slab {
			pp.zeroKeys(&slab[i])
		}
	}
	clear(slab)
	slab = slab[:cap(slab)]
	pp.idle.Put(&slab)
}

// ctxPages and saPages are the pools of IPsecSaContextEnum1 and
// IPsecSaEnum1 pages.
type (
	ctxPages = pagePool[wfp.IPsecSAContext1, exportBlock]
	saPages  = pagePool[wfp.IPsecSADetails1, detailsBlock]
)

func newCtxPages() *ctxPages {
	return &ctxPages{
		elem: func(b *exportBlock) *wfp.IPsecSAContext1 { return &b.sc },
		zeroKeys: func(b *exportBlock) {
			in, out := &b.in, &b.out
			wfp.FreeMemory(&in)
			wfp.FreeMemory(&out)
			b.inSt.zeroKeys()
			b.outSt.zeroKeys()
		},
	}
}

func newSAPages() *saPages {
	return &saPages{
		elem: func(b *detailsBlock) *wfp.IPsecSADetails1 { return &b.d },
		zeroKeys: func(b *detailsBlock) {
			d := &b.d
			wfp.FreeMemory(&d)
			b.st.zeroKeys()
		},
	}
}

// zeroKeys zeroes the keys in st (those of a bundle of one SA; the details
// list the SAs of a bundle of two, which are stored elsewhere).
func (st *exportStorage) zeroKeys() {
	for j := range st.inf {
		st.inf[j].SAAuthInformation.AuthKey.Zero()
		st.inf[j].SACipherInformation.CipherKey.Zero()
	}
}

// getCache reuses a session's IPsecSaContextGetById1 results. A caller
// that gives each result back before asking for the next, as WFP callers
// do, then makes no garbage per call: at a million contexts the garbage
// collector's work on that garbage, not the lookup, made the slow calls.
// Only the last result handed out is known; one given back after a later
// call (or never) is simply left to the garbage collector.
type getCache struct {
	mu    sync.Mutex           // guards the fields below
	out   *wfp.IPsecSAContext1 // the last result handed out; nil once given back
	blk   *exportBlock         // out's storage
	spare *exportBlock         // storage given back, zero
}

// take returns a zero block: the spare one, if any.
func (g *getCache) take() *exportBlock {
	g.mu.Lock()
	blk := g.spare
	g.spare = nil
	g.mu.Unlock()
	if blk == nil {
		blk = new(exportBlock)
	}
	return blk
}

// keep makes blk, zero, the spare block if there is none.
func (g *getCache) keep(blk *exportBlock) {
	g.mu.Lock()
	if g.spare == nil {
		g.spare = blk
	}
	g.mu.Unlock()
}

// handOut records that out, made in blk, now belongs to the caller.
func (g *getCache) handOut(out *wfp.IPsecSAContext1, blk *exportBlock) {
	g.mu.Lock()
	g.out, g.blk = out, blk
	g.mu.Unlock()
}

// give takes *p back if it is the last result handed out: its keys are
// zeroed, its storage cleared for the next call and *p set to nil.
func (g *getCache) give(p **wfp.IPsecSAContext1, zeroKeys func(*exportBlock)) bool {
	g.mu.Lock()
	if *p == nil || *p != g.out {
		g.mu.Unlock()
		return false
	}
	blk := g.blk
	g.out, g.blk = nil, nil
	g.mu.Unlock()
	zeroKeys(blk)
	*blk = exportBlock{}
	*p = nil
	g.keep(blk)
	return true
}

// FwpmFreeMemory0 gives a result back (see wfp.API): enumeration pages the
// engine made are reused for later pages, a GetById1 result for the
// session's next one.
func (s *session) FwpmFreeMemory0(p any) {
	switch v := p.(type) {
	case **wfp.IPsecSAContext1:
		if v != nil && s.gets.give(v, s.e.ctxPages.zeroKeys) {
			return
		}
	case *[]*wfp.IPsecSAContext1:
		if v != nil {
			s.e.ctxPages.give(v)
			return
		}
	case *[]*wfp.IPsecSADetails1:
		if v != nil {
			s.e.saPages.give(v)
			return
		}
	}
	wfp.FreeMemory(p)
}
