package engine

import (
	"runtime"
	"sync"
	"unsafe"
	"weak"

	"github.com/sadb-dev/sadb/wfp"
)

// pagePool reuses the slabs behind SA-context enumeration pages that their
// callers give back with FwpmFreeMemory0. A page of a large enumeration is
// about a KiB per context; a million contexts enumerated without reuse are
// a gigabyte of fresh memory, whose page faults and garbage collection
// (which must also mark the whole database) cost more than the export
// itself. Given back, one slab serves every page.
//
// A page handed out is known by the address of its first element: the
// array of pointers is allocated for each page and never reused, so a page
// freed twice, or a page the engine did not make, is never taken for one
// it did. The registry holds pages and slabs weakly, so that a page dropped
// without being freed is collected as soon as it would be without the
// registry; a cleanup then removes its entry.
type pagePool struct {
	mu   sync.Mutex // guards live
	live map[weak.Pointer[*wfp.IPsecSAContext1]]slabUse

	idle sync.Pool // of *[]exportBlock: slabs given back, zeroed
}

// slabUse is a slab handed out as a page.
type slabUse struct {
	first weak.Pointer[exportBlock] // the slab's first block
	n     int                       // the page's length
	cap   int                       // the slab's
	keys  bool                      // the page holds key material
}

// maxPooledSlab is the largest slab kept for reuse (about 15 MB): larger
// pages are rare, and an idle slab holds its memory until the garbage
// collector clears the pool.
const maxPooledSlab = 16384

// slab returns n zeroed blocks, reused when a given-back slab fits.
func (pp *pagePool) slab(n int) []exportBlock {
	if v, ok := pp.idle.Get().(*[]exportBlock); ok {
		if s := *v; cap(s) >= n && cap(s) <= 2*n+64 {
			return s[:n]
		}
		pp.idle.Put(v)
	}
	return make([]exportBlock, n)
}

// handOut records that page, made in slab (with key material when keys),
// now belongs to a caller.
func (pp *pagePool) handOut(page []*wfp.IPsecSAContext1, slab []exportBlock, keys bool) {
	if len(page) == 0 || cap(slab) > maxPooledSlab {
		return
	}
	k := weak.Make(&page[0])
	pp.mu.Lock()
	if pp.live == nil {
		pp.live = make(map[weak.Pointer[*wfp.IPsecSAContext1]]slabUse)
	}
	pp.live[k] = slabUse{first: weak.Make(&slab[0]), n: len(slab), cap: cap(slab), keys: keys}
	pp.mu.Unlock()
	runtime.AddCleanup(&page[0], pp.forget, k)
}

// forget drops the registry entry of a page collected without being freed.
func (pp *pagePool) forget(k weak.Pointer[*wfp.IPsecSAContext1]) {
	pp.mu.Lock()
	delete(pp.live, k)
	pp.mu.Unlock()
}

// give takes a page back: its keys are zeroed and its elements and *p set
// to nil (as wfp.FreeMemory does), and its slab is reused when the engine
// made it.
func (pp *pagePool) give(p *[]*wfp.IPsecSAContext1) {
	page := *p
	var slab []exportBlock
	var use slabUse
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
	for i, sc := range page {
		if sc != &slab[i].sc { // the caller put it there: free it too
			wfp.FreeMemory(&sc)
		}
	}
	clear(page)
	*p = nil
	if use.keys {
		// Every block, from its own storage: whether or not the page, or
		// the contexts in it, still pointed there.
		for i := range slab {
			slab[i].zeroKeys()
		}
	}
	clear(slab)
	slab = slab[:cap(slab)]
	pp.idle.Put(&slab)
}

// zeroKeys zeroes the keys a block holds: in its details (which may list
// SAs stored elsewhere, for bundles of two) and in its own storage.
func (b *exportBlock) zeroKeys() {
	in, out := &b.in, &b.out
	wfp.FreeMemory(&in)
	wfp.FreeMemory(&out)
	for _, st := range [...]*exportStorage{&b.inSt, &b.outSt} {
		for j := range st.inf {
			st.inf[j].SAAuthInformation.AuthKey.Zero()
			st.inf[j].SACipherInformation.CipherKey.Zero()
		}
	}
}

// FwpmFreeMemory0 gives a result back (see wfp.API): SA-context pages the
// engine made are reused for later pages.
func (s *session) FwpmFreeMemory0(p any) {
	if pp, ok := p.(*[]*wfp.IPsecSAContext1); ok && pp != nil {
		s.e.pages.give(pp)
		return
	}
	wfp.FreeMemory(p)
}
