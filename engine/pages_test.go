package engine

import (
	"bytes"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// keyedSlab returns a slab of n blocks whose contexts hold an inbound SA
// with a key, UDP encapsulation and tunnel information, and the page of
// them.
func keyedSlab(pp *ctxPages, n int) ([]exportBlock, []*wfp.IPsecSAContext1, []wfp.Key) {
	slab := pp.slab(n)
	page := make([]*wfp.IPsecSAContext1, n)
	var ks []wfp.Key
	for i := range slab {
		b := &slab[i]
		k := wfp.Key{1, 2, 3, byte(i + 1)}
		b.inSt.inf[0].SACipherInformation.CipherKey = k
		b.inSt.sas[0] = wfp.IPsecSA0{SPI: 300, SATransformType: wfp.TransformESPAuthAndCipher, ESPAuthAndCipherInformation: &b.inSt.inf[0]}
		b.in.SABundle.SAList = b.inSt.sas[:1]
		b.inUDP.LocalUDPEncapPort = 4500
		b.in.UDPEncapsulation = &b.inUDP
		b.in.VirtualIfTunnelInfo = &wfp.IPsecVirtualIfTunnelInfo0{VirtualIfTunnelID: 7}
		b.sc.SAContextID = uint64(i + 1)
		b.sc.InboundSA = &b.in
		page[i] = &b.sc
		ks = append(ks, k)
	}
	return slab, page, ks
}

func allZero(t *testing.T, ks []wfp.Key) {
	t.Helper()
	for _, k := range ks {
		for _, b := range k {
			if b != 0 {
				t.Fatalf("key %x of a freed page is not zeroed", []byte(k))
			}
		}
	}
}

func TestPagePoolGive(t *testing.T) {
	pp := newCtxPages()
	slab, page, ks := keyedSlab(pp, 3)
	pp.handOut(page, slab, true)
	// The caller put a context of its own in the page: freed too.
	own := &wfp.IPsecSAContext1{OutboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{SAList: []wfp.IPsecSA0{
		{ESPCipherInformation: &wfp.IPsecSACipherInformation0{CipherKey: wfp.Key{9, 9}}}}}}}
	ownKey := own.OutboundSA.SABundle.SAList[0].ESPCipherInformation.CipherKey
	page[1] = own
	header := page
	// And cut block 2's context off its details: its keys are still the
	// slab's to zero.
	slab[2].sc.InboundSA = nil

	// A part of the page is not the page: only freed, not reused.
	part := page[1:]
	pp.give(&part)
	if part != nil || len(pp.live) != 1 {
		t.Fatalf("a sub-slice was taken for the page (part %v, %d live)", part, len(pp.live))
	}
	allZero(t, []wfp.Key{ownKey})

	pp.give(&page)
	if page != nil || header[0] != nil || header[2] != nil {
		t.Fatal("the page or its elements are still set")
	}
	if len(pp.live) != 0 {
		t.Fatalf("%d pages still registered", len(pp.live))
	}
	// Every block's keys, including the one the page no longer pointed to.
	allZero(t, ks)
	for i := range slab {
		if !reflect.ValueOf(slab[i]).IsZero() {
			t.Fatalf("block %d of a given-back slab is not zeroed: %+v", i, slab[i].sc)
		}
	}
	// Freed twice: nothing happens.
	pp.give(&header)
}

func TestPagePoolReuses(t *testing.T) {
	pp := newCtxPages()
	// sync.Pool may drop what it is given (under the race detector it
	// does so on purpose), so reuse is required once in many rounds.
	for range 50 {
		slab, page, _ := keyedSlab(pp, 4)
		pp.handOut(page, slab, true)
		first := &slab[0]
		pp.give(&page)
		next := pp.slab(4)
		if &next[0] == first {
			if !reflect.ValueOf(next[0]).IsZero() {
				t.Fatal("a reused block is not zeroed")
			}
			return
		}
	}
	t.Fatal("a given-back slab was never reused")
}

func TestPagePoolForgetsDroppedPages(t *testing.T) {
	pp := newCtxPages()
	func() {
		slab, page, _ := keyedSlab(pp, 2)
		pp.handOut(page, slab, true)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		pp.mu.Lock()
		n := len(pp.live)
		pp.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a dropped page is still registered after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPagePoolKeepsLargeSlabsOut(t *testing.T) {
	pp := newCtxPages()
	slab := pp.slab(maxPooledSlab + 1)
	page := make([]*wfp.IPsecSAContext1, len(slab))
	for i := range slab {
		page[i] = &slab[i].sc
	}
	pp.handOut(page, slab, false)
	if len(pp.live) != 0 {
		t.Fatal("a slab larger than maxPooledSlab was registered for reuse")
	}
}

// TestConcurrentEnumerationsFreeing runs enumerations that free every page
// on several sessions at once, with small pages and pages large enough to
// be exported on several goroutines: every page must hold exactly its own
// contexts, keys intact, while other pages are freed and reused.
func TestConcurrentEnumerationsFreeing(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	p := newPlumb(t, openAdmin(t, e))
	ids := fill(t, p, 3000)
	want := p.inBundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			api, err := e.FwpmEngineOpen0(wfp.Token{User: wfp.UserSID(0)}, &wfp.FwpmSession0{Flags: wfp.SessionFlagKeyMaterial})
			if err != nil {
				t.Error(err)
				return
			}
			defer api.FwpmEngineClose0()
			for round := range 6 {
				size := []uint32{100, 2500}[(g+round)%2]
				h, err := api.IPsecSaContextCreateEnumHandle0(nil)
				if err != nil {
					t.Error(err)
					return
				}
				next := 0
				for {
					page, err := api.IPsecSaContextEnum1(h, size)
					if err != nil {
						t.Error(err)
						return
					}
					n := len(page)
					for i, sc := range page {
						if sc.SAContextID != ids[next+i] || sc.InboundSA == nil ||
							!bytes.Equal(sc.InboundSA.SABundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey, want) {
							t.Errorf("page entry %d: context %d (want %d) or its key is not its own", next+i, sc.SAContextID, ids[next+i])
							return
						}
					}
					next += n
					api.FwpmFreeMemory0(&page)
					if n < int(size) {
						break
					}
				}
				if next != len(ids) {
					t.Errorf("enumerated %d of %d", next, len(ids))
				}
				api.IPsecSaContextDestroyEnumHandle0(h)
			}
		})
	}
	wg.Wait()
}

// TestConcurrentGetByIdFreeing: goroutines sharing one session read
// contexts, some giving each result back and some not, and some freeing
// late (after another result was handed out): every result is whole and
// its own until freed.
func TestConcurrentGetByIdFreeing(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	p := newPlumb(t, openAdmin(t, e))
	ids := fill(t, p, 200)
	want := p.inBundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey
	api, err := e.FwpmEngineOpen0(wfp.Token{User: wfp.UserSID(0)}, &wfp.FwpmSession0{Flags: wfp.SessionFlagKeyMaterial})
	if err != nil {
		t.Fatal(err)
	}
	defer api.FwpmEngineClose0()
	check := func(sc *wfp.IPsecSAContext1, id uint64) bool {
		return sc != nil && sc.SAContextID == id && sc.InboundSA != nil && sc.OutboundSA != nil &&
			bytes.Equal(sc.InboundSA.SABundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey, want)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var held *wfp.IPsecSAContext1
			var heldID uint64
			for i := range 3000 {
				id := ids[(i*7+g*13)%len(ids)]
				sc, err := api.IPsecSaContextGetById1(id)
				if err != nil {
					t.Error(err)
					return
				}
				if !check(sc, id) {
					t.Errorf("goroutine %d: GetById1(%d) is not whole or not its own", g, id)
					return
				}
				if held != nil && !check(held, heldID) {
					t.Errorf("goroutine %d: a result held across another call changed", g)
					return
				}
				switch {
				case g == 0: // never frees
				case g == 1 && i%2 == 0: // frees the previous one, late
					api.FwpmFreeMemory0(&held)
					held, heldID = sc, id
				default:
					api.FwpmFreeMemory0(&sc)
				}
			}
		})
	}
	wg.Wait()
}

// TestSharedFiltersAreNotRetained enumerates contexts with a filter pair
// each and drops the page: the copies of the filters the details pointed to
// must go with it, not stay with the filters (1.4 KB each).
func TestSharedFiltersAreNotRetained(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	api := openAdmin(t, e)
	const n = 2000
	var ids []uint64
	for i := range n {
		p := newPlumbPeer(t, api, wfp.MustV4("192.0.2.1"), wfp.V4Addr(0x0a000001+i))
		id, err := p.run()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	before := heapInUse()
	page := enumerateAllTB(t, api)
	if len(page) != n {
		t.Fatalf("enumerated %d of %d", len(page), n)
	}
	// While results hold a copy, every result shares it.
	again, err := api.IPsecSaContextGetById1(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if f := page[0].InboundSA.TransportFilter; f == nil || f != again.InboundSA.TransportFilter {
		t.Fatalf("two results of one context do not share its filter copy")
	}
	runtime.KeepAlive(page)
	page, again = nil, nil
	if grown := heapInUse() - before; grown > n*300 {
		t.Errorf("%d B per context stayed after the results were dropped", grown/n)
	}
}

// enumerateAllTB returns every context, in pages of 10,000.
func enumerateAllTB(t *testing.T, api wfp.API) []*wfp.IPsecSAContext1 {
	t.Helper()
	h, err := api.IPsecSaContextCreateEnumHandle0(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer api.IPsecSaContextDestroyEnumHandle0(h)
	var all []*wfp.IPsecSAContext1
	for {
		page, err := api.IPsecSaContextEnum1(h, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 10_000 {
			return all
		}
	}
}
