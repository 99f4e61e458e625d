package engine

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sadb-dev/sadb/wfp"
)

// mapStore is a Store in a map, with no durability, for load tests.
type mapStore struct {
	mu   sync.Mutex                       // guards recs
	recs map[RecordKind]map[uint64][]byte // +checklocks:mu
}

var _ Store = (*mapStore)(nil)

func newMapStore() *mapStore { return &mapStore{recs: map[RecordKind]map[uint64][]byte{}} }

func (s *mapStore) Commit(muts []Mutation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range muts {
		if s.recs[m.Kind] == nil {
			s.recs[m.Kind] = map[uint64][]byte{}
		}
		if m.Value == nil {
			delete(s.recs[m.Kind], m.Key)
		} else {
			s.recs[m.Kind][m.Key] = slices.Clone(m.Value)
		}
	}
	return nil
}

func (s *mapStore) Load(fn func(RecordKind, uint64, []byte) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kind := range slices.Sorted(maps.Keys(s.recs)) {
		for _, key := range slices.Sorted(maps.Keys(s.recs[kind])) {
			if err := fn(kind, key, slices.Clone(s.recs[kind][key])); err != nil {
				return err
			}
		}
	}
	return nil
}

// contexts returns every SA context, by id.
func contexts(tb testing.TB, api wfp.API) map[uint64]*wfp.IPsecSAContext1 {
	tb.Helper()
	h, err := api.IPsecSaContextCreateEnumHandle0(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer api.IPsecSaContextDestroyEnumHandle0(h)
	out := map[uint64]*wfp.IPsecSAContext1{}
	for {
		page, err := api.IPsecSaContextEnum1(h, 1000)
		if err != nil {
			tb.Fatal(err)
		}
		for _, sc := range page {
			out[sc.SAContextID] = sc
		}
		if len(page) < 1000 {
			return out
		}
	}
}

// An engine loaded from a store holds the contexts that were stored, in
// several decoder batches, whatever the number of decoding goroutines.
func TestLoadManyContexts(t *testing.T) {
	st := newMapStore()
	e, _ := newTestEngine(t, Options{Store: st})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	n := 3*ctxBatchSize + 7
	ids := fill(t, p, n)
	// Contexts at every step, not just fully plumbed ones.
	tr := p.outTraffic
	created, _, err := api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.IPsecSaContextDeleteById0(ids[5]); err != nil {
		t.Fatal(err)
	}
	want := contexts(t, api)
	if len(want) != n {
		t.Fatalf("%d contexts before the reload, want %d", len(want), n)
	}
	if want[created].State != wfp.SAContextCreated {
		t.Fatalf("context %d is %v", created, want[created].State)
	}
	e.Close()

	e2, _ := newTestEngine(t, Options{Store: st})
	got := contexts(t, openAdmin(t, e2))
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("contexts after the reload (-before +after):\n%s", diff)
	}
}

// The decoder returns the contexts in key order with one goroutine or
// several, and reports the first record (in key order) that fails.
func TestCtxDecoder(t *testing.T) {
	st := newMapStore()
	e, _ := newTestEngine(t, Options{Store: st})
	p := newPlumb(t, openAdmin(t, e))
	fill(t, p, 2*ctxBatchSize+50)
	e.Close()
	type rec struct {
		key uint64
		val []byte
	}
	var recs []rec
	st.Load(func(kind RecordKind, key uint64, v []byte) error {
		if kind == RecordSAContext {
			recs = append(recs, rec{key, v})
		}
		return nil
	})

	decode := func(workers int, rs []rec) ([]*saCtx, error) {
		d := newCtxDecoder(workers)
		for _, r := range rs {
			if err := d.add(r.key, r.val); err != nil {
				break
			}
		}
		return d.finish()
	}
	for _, workers := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("Workers%d", workers), func(t *testing.T) {
			cs, err := decode(workers, recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != len(recs) {
				t.Fatalf("%d contexts from %d records", len(cs), len(recs))
			}
			for i, c := range cs {
				if c.id != recs[i].key {
					t.Fatalf("context %d is %d, record %d", i, c.id, recs[i].key)
				}
			}
			if !slices.IsSortedFunc(cs, func(a, b *saCtx) int { return cmp.Compare(a.id, b.id) }) {
				t.Error("contexts out of order")
			}

			bad := slices.Clone(recs)
			for _, i := range []int{len(bad) - 3, ctxBatchSize + 9} {
				bad[i].val = []byte(`{"id":`)
			}
			_, err = decode(workers, bad)
			if want := fmt.Sprintf("SA context %d: ", bad[ctxBatchSize+9].key); err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("decoding with two damaged records: %v, want the first, %q...", err, want)
			}
		})
	}
}

// A context's first GetSpi is kept as it was given, through a reload:
// traffic that differs from the outbound traffic in more than its filter
// (kept whole) and traffic that does not (kept as the difference), also
// once an update changed the outbound traffic it is kept relative to. A
// repeated GetSpi with it returns the same SPI; with other traffic it is
// FWP_E_TRAFFIC_MISMATCH.
func TestGetSpiTrafficReloaded(t *testing.T) {
	st := newMapStore()
	e, _ := newTestEngine(t, Options{Store: st})
	api := openAdmin(t, e)
	p := newPlumb(t, api)

	type kept struct {
		id  uint64
		spi uint32
		g   wfp.IPsecGetSPI1
	}
	var ks []kept
	getSpi := func(g wfp.IPsecGetSPI1) kept {
		tr := p.outTraffic
		id, _, err := api.IPsecSaContextCreate1(&tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		spi, err := api.IPsecSaContextGetSpi1(id, &g)
		if err != nil {
			t.Fatal(err)
		}
		k := kept{id, spi, g}
		ks = append(ks, k)
		return k
	}
	getSpi(p.getSpi) // the difference: the inbound filter
	ports := p.getSpi
	ports.InboundIPsecTraffic.LocalPort, ports.InboundIPsecTraffic.RemotePort = 500, 4500
	getSpi(ports) // whole
	// The outbound traffic updated after GetSpi.
	k := getSpi(p.getSpi)
	in := *p.inBundle
	in.SAList = []wfp.IPsecSA0{in.SAList[0]}
	in.SAList[0].SPI = k.spi
	if err := api.IPsecSaContextAddInbound1(k.id, &in); err != nil {
		t.Fatal(err)
	}
	if err := api.IPsecSaContextAddOutbound1(k.id, p.outBundle); err != nil {
		t.Fatal(err)
	}
	nt := p.outTraffic
	nt.LocalPort, nt.RemotePort = 1701, 1701
	if err := api.IPsecSaContextUpdate0(wfp.SADetailsUpdateTraffic, &wfp.IPsecSAContext1{SAContextID: k.id, OutboundSA: &wfp.IPsecSADetails1{Traffic: nt}}); err != nil {
		t.Fatal(err)
	}
	want := contexts(t, api)
	e.Close()

	e2, _ := newTestEngine(t, Options{Store: st})
	api2 := openAdmin(t, e2)
	if diff := gocmp.Diff(want, contexts(t, api2)); diff != "" {
		t.Errorf("contexts after the reload (-before +after):\n%s", diff)
	}
	for i, k := range ks {
		spi, err := api2.IPsecSaContextGetSpi1(k.id, &k.g)
		if err != nil || spi != k.spi {
			t.Errorf("context %d: GetSpi again after the reload: %d, %v; want %d", i, spi, err, k.spi)
		}
		other := k.g
		other.InboundIPsecTraffic.LocalPort++
		if _, err := api2.IPsecSaContextGetSpi1(k.id, &other); !errors.Is(err, wfp.ErrTrafficMismatch) {
			t.Errorf("context %d: GetSpi with other traffic after the reload: %v, want FWP_E_TRAFFIC_MISMATCH", i, err)
		}
	}
}
