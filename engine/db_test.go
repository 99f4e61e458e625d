package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCtxSlots drives a shard's slot table with random stores and removals
// against a map: dense runs, ids far apart, in any order; every page that
// empties must go.
func TestCtxSlots(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var m ctxSlots
		model := map[uint64]*saCtx{}
		// Ids of one shard, from a few clusters.
		var pool []uint64
		for range 1 + r.IntN(4) {
			start := uint64(r.IntN(1 << 20))
			for j := range 1 + r.IntN(300) {
				pool = append(pool, (start+uint64(j))*numShards+7)
			}
		}
		for op := range 3000 {
			id := pool[r.IntN(len(pool))]
			if r.IntN(3) == 0 {
				m.del(id)
				delete(model, id)
			} else {
				c := &saCtx{id: id}
				m.set(id, c)
				model[id] = c
			}
			if op%97 == 0 || op == 2999 {
				var got []uint64
				m.each(func(id uint64, c *saCtx) {
					if model[id] != c {
						t.Fatalf("round %d: each gave %d, not the stored context", round, id)
					}
					got = append(got, id)
				})
				slices.Sort(got)
				if len(got) != len(model) || len(slices.Compact(got)) != len(model) {
					t.Fatalf("round %d: each gave %d ids, want %d", round, len(got), len(model))
				}
				for _, id := range pool {
					if m.get(id) != model[id] {
						t.Fatalf("round %d: get(%d) is wrong", round, id)
					}
				}
				pages := map[uint64]bool{}
				for id := range model {
					p, _ := m.where(id)
					pages[p] = true
				}
				if len(m.pages) != len(pages) {
					t.Fatalf("round %d: %d pages kept for contexts in %d", round, len(m.pages), len(pages))
				}
				for _, pg := range m.pages {
					if pg.n == 0 {
						t.Fatalf("round %d: an empty page is kept", round)
					}
				}
			}
		}
		// Ids never stored, far below and above.
		for _, id := range []uint64{7, 1<<40*numShards + 7} {
			if m.get(id) != nil {
				t.Fatalf("get(%d) found a context", id)
			}
			m.del(id)
		}
	}
}

// TestCtxSlotsLongLived keeps one context while a million later ids of its
// shard come and go, as a keying daemon rekeys around a context it never
// deletes: the table must hold the pages of the live contexts, not of the
// ids between them.
func TestCtxSlotsLongLived(t *testing.T) {
	var m ctxSlots
	first := &saCtx{id: 5 * numShards}
	m.set(first.id, first)
	most := 0
	for local := uint64(1000); local < 1_000_000; local++ {
		id := local * numShards
		m.set(id, &saCtx{id: id})
		if local >= 1500 {
			m.del((local - 500) * numShards) // 500 live at a time
		}
		most = max(most, len(m.pages))
	}
	if limit := 1 + 500/ctxPageSlots + 2; most > limit {
		t.Errorf("%d pages held for 501 contexts (at most %d needed)", most, limit)
	}
	if m.get(first.id) != first {
		t.Fatal("the long-lived context is lost")
	}
}

// TestCtxSlotsReusesEmptiedPage: a shard whose contexts come and go one at
// a time, each a page past the last, allocates no page per context.
func TestCtxSlotsReusesEmptiedPage(t *testing.T) {
	var m ctxSlots
	c := &saCtx{}
	local := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		id := local * ctxPageSlots * numShards
		local++
		m.set(id, c)
		m.del(id)
	})
	if allocs > 0.01 { // the map may grow now and then
		t.Errorf("%.2f allocations per context", allocs)
	}
	if len(m.pages) != 0 {
		t.Errorf("%d pages held, none live", len(m.pages))
	}
}

// TestSPITable drives the SPI index with random reserves, releases (by
// the holder and by others) and lookups against a map, over a range of
// SPIs small enough that probes collide, runs wrap around the end of a
// shard's slots, and shards grow and shrink. It fails if a release loses
// another SPI of the same run (a wrong gap rule), or if a lookup misses.
func TestSPITable(t *testing.T) {
	var tab spiTable
	tab.init()
	want := map[uint32]uint64{}
	r := rand.New(rand.NewPCG(7, 9))
	check := func(step int) {
		for spi, id := range want {
			if got, ok := tab.owner(spi); !ok || got != id {
				t.Fatalf("step %d: SPI %d held by %d, %v; want %d", step, spi, got, ok, id)
			}
		}
		n := 0
		for i := range tab.shards {
			sh := &tab.shards[i]
			n += sh.n
			if 2*sh.n > len(sh.slots) {
				t.Fatalf("step %d: shard %d holds %d in %d slots", step, i, sh.n, len(sh.slots))
			}
		}
		if n != len(want) {
			t.Fatalf("step %d: %d SPIs counted, want %d", step, n, len(want))
		}
	}
	for step := range 300_000 {
		spi := 256 + r.Uint32N(20_000)
		if step > 200_000 {
			spi = 256 + r.Uint32N(2_000) // fewer: shards shrink
		}
		switch r.IntN(3) {
		case 0, 1:
			_, had := want[spi]
			if tab.reserve(spi, uint64(step)) == had {
				t.Fatalf("step %d: reserve(%d) with the SPI held: %v, but it said the opposite", step, spi, had)
			}
			if !had {
				want[spi] = uint64(step)
			}
		case 2:
			id, had := want[spi]
			if had && r.IntN(4) == 0 {
				tab.release(spi, id+1) // not the holder: nothing happens
			} else {
				tab.release(spi, id)
				delete(want, spi)
			}
		}
		if step%50_000 == 0 {
			check(step)
		}
	}
	check(-1)
	for spi, id := range want {
		tab.release(spi, id)
	}
	for i := range tab.shards {
		if sh := &tab.shards[i]; sh.n != 0 || len(sh.slots) > 4*spiMinSlots {
			t.Fatalf("shard %d keeps %d SPIs in %d slots after every release", i, sh.n, len(sh.slots))
		}
	}
	if tab.reserve(0, 1) {
		t.Fatal("SPI 0 was reserved")
	}
}
