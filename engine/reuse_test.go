package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// worker is one party of the reuse tests: a plumb of its own, whose
// contexts carry its own remote address, outbound SPI and key bytes, so a
// context read back shows whose it is.
type worker struct {
	*plumb
	n      int
	remote wfp.V4Addr
	outSPI uint32
	key0   byte
}

func newWorker(tb testing.TB, api wfp.API, n int) *worker {
	remote := wfp.MustV4(fmt.Sprintf("198.51.100.%d", n+1))
	w := &worker{plumb: newPlumbPeer(tb, api, wfp.MustV4("192.0.2.1"), remote), n: n, remote: remote,
		outSPI: 0x10000 + uint32(n), key0: byte(0x40 + n)}
	w.outBundle = gcmBundle(w.outSPI, 3600)
	w.outBundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey[0] = w.key0
	w.inBundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey[0] = w.key0
	return w
}

// openKeys opens an administrator's session that reads key material.
func openKeys(tb testing.TB, e *Engine) wfp.API {
	tb.Helper()
	api, err := e.FwpmEngineOpen0(wfp.Token{User: wfp.UserSID(0)}, &wfp.FwpmSession0{Flags: wfp.SessionFlagKeyMaterial})
	if err != nil {
		tb.Fatal(err)
	}
	return api
}

// check reports what is wrong with sc as a context of w (nil: nothing).
// A deleted context read from a snapshot has no keys any more; zeroed says
// that is allowed.
func (w *worker) check(sc *wfp.IPsecSAContext1, zeroed bool) error {
	if sc.InboundSA == nil || sc.OutboundSA == nil {
		return fmt.Errorf("context %d is %v with inbound %v, outbound %v", sc.SAContextID, sc.State, sc.InboundSA != nil, sc.OutboundSA != nil)
	}
	if got := sc.OutboundSA.Traffic.RemoteV4Address; got != w.remote {
		return fmt.Errorf("context %d's outbound traffic goes to %v, want worker %d's %v", sc.SAContextID, got, w.n, w.remote)
	}
	if got := sc.OutboundSA.SABundle.SAList[0].SPI; got != w.outSPI {
		return fmt.Errorf("context %d's outbound SPI is %#x, want worker %d's %#x", sc.SAContextID, got, w.n, w.outSPI)
	}
	for _, d := range []*wfp.IPsecSADetails1{sc.InboundSA, sc.OutboundSA} {
		k := d.SABundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey
		if zeroed && len(k) == 0 {
			continue // a deleted context's keys are gone
		}
		if len(k) != 20 || k[0] != w.key0 {
			return fmt.Errorf("context %d's key starts %x, want worker %d's %x", sc.SAContextID, k[:min(len(k), 1)], w.n, w.key0)
		}
	}
	return nil
}

// TestReuseSnapshotKeepsDeleted deletes contexts while enumeration handles
// hold them and makes new contexts in their place: the handles still show
// the deleted contexts as they were (but for their keys), not the new ones. Then,
// with the handles destroyed, or their session closed, the blocks are
// reused again. It fails if a block is given back while a snapshot is open.
func TestReuseSnapshotKeepsDeleted(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	api := openKeys(t, e)
	old, young := newWorker(t, api, 1), newWorker(t, api, 2)
	const n = 40
	var ids []uint64
	for range n {
		id, err := old.run()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	ctxEnum, err := api.IPsecSaContextCreateEnumHandle0(nil)
	if err != nil {
		t.Fatal(err)
	}
	saEnum, err := api.IPsecSaCreateEnumHandle0(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := api.IPsecSaContextDeleteById0(id); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 * n {
		id, err := young.run()
		if err != nil {
			t.Fatal(err)
		}
		if err := api.IPsecSaContextDeleteById0(id); err != nil {
			t.Fatal(err)
		}
	}
	page, err := api.IPsecSaContextEnum1(ctxEnum, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != n {
		t.Fatalf("the snapshot enumerates %d contexts, want %d", len(page), n)
	}
	for i, sc := range page {
		if sc.SAContextID != ids[i] {
			t.Fatalf("snapshot item %d is context %d, want %d", i, sc.SAContextID, ids[i])
		}
		if err := old.check(sc, true); err != nil {
			t.Fatal(err)
		}
	}
	sas, err := api.IPsecSaEnum1(saEnum, 4*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 2*n {
		t.Fatalf("the SA snapshot enumerates %d SAs, want %d", len(sas), 2*n)
	}
	for _, d := range sas {
		if d.Traffic.RemoteV4Address != old.remote && d.Traffic.LocalV4Address != old.remote {
			t.Fatalf("the SA snapshot shows traffic %v -> %v, not worker %d's", d.Traffic.LocalV4Address, d.Traffic.RemoteV4Address, old.n)
		}
	}
	if got := e.reuse.pins.Load(); got != 2 {
		t.Fatalf("%d snapshots pinned, want 2", got)
	}
	if err := api.IPsecSaContextDestroyEnumHandle0(ctxEnum); err != nil {
		t.Fatal(err)
	}
	if err := api.IPsecSaContextDestroyEnumHandle0(ctxEnum); !errors.Is(err, wfp.ErrorInvalidHandle) {
		t.Fatalf("destroying a handle twice: %v", err)
	}
	if err := api.IPsecSaDestroyEnumHandle0(saEnum); err != nil {
		t.Fatal(err)
	}
	if got := e.reuse.pins.Load(); got != 0 {
		t.Fatalf("%d snapshots pinned after both handles were destroyed", got)
	}

	// A session closed with handles open unpins them.
	other := openAdmin(t, e)
	for range 2 {
		if _, err := other.IPsecSaContextCreateEnumHandle0(nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.IPsecSaCreateEnumHandle0(nil); err != nil {
		t.Fatal(err)
	}
	if err := other.FwpmEngineClose0(); err != nil {
		t.Fatal(err)
	}
	if got := e.reuse.pins.Load(); got != 0 {
		t.Fatalf("%d snapshots pinned after their session closed", got)
	}
}

// TestReuseRollbackKeepsLaterDelete makes a call's commit fail (the store
// refuses it) after another session deleted the same context and its
// commit gave the context's blocks back. The rollback must leave the
// context deleted: putting the version it replaced back would bring back a
// context whose memory is reused. It fails if a rollback restores a
// version over a later change.
func TestReuseRollbackKeepsLaterDelete(t *testing.T) {
	e, st, a, b := newHookEngine(t)
	w := newWorker(t, a, 3)
	id, _, err := a.IPsecSaContextCreate1(&w.outTraffic, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.inbound(id); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	st.setHook(func() error {
		// AddOutbound's version is in the table; another session deletes
		// the context and commits before AddOutbound's commit fails.
		st.setHook(nil)
		go func() { deleted <- b.IPsecSaContextDeleteById0(id) }()
		if err := <-deleted; err != nil {
			return fmt.Errorf("the concurrent delete: %w", err)
		}
		return errors.New("disk on fire")
	})
	err = a.IPsecSaContextAddOutbound1(id, w.outBundle)
	if err == nil || err.Error() == "" {
		t.Fatalf("AddOutbound with a failing store: %v", err)
	}
	if errors.Is(err, wfp.ErrNotFound) {
		t.Fatalf("AddOutbound did not reach its commit: %v", err)
	}
	if sc, err := a.IPsecSaContextGetById1(id); !errors.Is(err, wfp.ErrNotFound) {
		t.Fatalf("after the rollback the deleted context is back: %+v, %v", sc, err)
	}
	if n := e.ctxs.len(); n != 0 {
		t.Fatalf("%d contexts counted after the rollback, want 0", n)
	}
}

// newHookEngine makes an engine on a hookStore, with two sessions that
// read key material.
func newHookEngine(t *testing.T) (*Engine, *hookStore, wfp.API, wfp.API) {
	st := &hookStore{mapStore: newMapStore()}
	e, _ := newTestEngine(t, Options{Store: st})
	return e, st, openKeys(t, e), openKeys(t, e)
}

// hookStore is a mapStore whose Commit can be made to run a hook first and
// fail with its error.
type hookStore struct {
	*mapStore
	mu   sync.Mutex   // guards hook
	hook func() error // +checklocks:mu
}

func (s *hookStore) setHook(h func() error) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

func (s *hookStore) Commit(muts []Mutation) error {
	s.mu.Lock()
	h := s.hook
	s.mu.Unlock()
	if h != nil {
		if err := h(); err != nil {
			return err
		}
	}
	return s.mapStore.Commit(muts)
}

// TestReuseConcurrent runs workers that plumb and delete contexts, each
// with contexts of its own kind, while readers look contexts up by id,
// enumerate them and read the statistics, all at once. Every context read
// must be whole and its creator's: a block given back while something
// could still read it shows up as another worker's traffic, SPI or keys
// (and, under the race detector, as a race).
func TestReuseConcurrent(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	admin := openAdmin(t, e)
	const workers = 4
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = newWorker(t, admin, 10+i)
		ws[i].api = openKeys(t, e)
	}
	var owner sync.Map // context id -> *worker, before any reader can find it
	var last atomic.Uint64
	var stop atomic.Bool
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for !stop.Load() {
				id, _, err := w.api.IPsecSaContextCreate1(&w.outTraffic, nil)
				if err != nil {
					fail(err)
					return
				}
				owner.Store(id, w)
				last.Store(id)
				err = w.finish(id)
				if err == nil {
					var sc *wfp.IPsecSAContext1
					if sc, err = w.api.IPsecSaContextGetById1(id); err == nil {
						err = w.check(sc, false)
					}
				}
				if err == nil {
					err = w.api.IPsecSaContextDeleteById0(id)
				}
				if err != nil {
					fail(fmt.Errorf("worker %d, context %d: %w", w.n, id, err))
					return
				}
			}
		})
	}
	reader := openKeys(t, e)
	wg.Go(func() { // lookups of contexts others are changing and deleting
		for !stop.Load() {
			id := last.Load()
			sc, err := reader.IPsecSaContextGetById1(id)
			if errors.Is(err, wfp.ErrNotFound) || id == 0 {
				continue
			}
			if err != nil {
				fail(err)
				return
			}
			w, _ := owner.Load(id)
			if sc.SAContextID != id || sc.OutboundSA != nil && w.(*worker).check(sc, true) != nil {
				fail(fmt.Errorf("GetById(%d) read %+v", id, sc))
				return
			}
			reader.FwpmFreeMemory0(&sc)
		}
	})
	enumerator := openKeys(t, e)
	wg.Go(func() { // snapshots taken and read while contexts come and go
		for !stop.Load() {
			h, err := enumerator.IPsecSaContextCreateEnumHandle0(nil)
			if err != nil {
				fail(err)
				return
			}
			time.Sleep(time.Millisecond) // let the workers delete what it holds
			page, err := enumerator.IPsecSaContextEnum1(h, 1000)
			if err != nil {
				fail(err)
				return
			}
			for _, sc := range page {
				w, ok := owner.Load(sc.SAContextID)
				if !ok {
					continue // created and listed before its creator recorded it
				}
				if sc.OutboundSA != nil {
					if err := w.(*worker).check(sc, true); err != nil {
						fail(fmt.Errorf("enumeration: %w", err))
						break
					}
				}
			}
			if err := enumerator.IPsecSaContextDestroyEnumHandle0(h); err != nil {
				fail(err)
				return
			}
			if _, err := enumerator.IPsecGetStatistics1(); err != nil {
				fail(err)
				return
			}
			_ = e.Stats()
		}
	})
	run := 2 * time.Second
	if testing.Short() {
		run = 300 * time.Millisecond
	}
	time.Sleep(run)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.reuse.pins.Load(); got != 0 {
		t.Errorf("%d snapshots pinned at the end", got)
	}
}

// TestReuseExpireKeepsItsBlock lets another session delete a context, and
// plumb a new one, while IPsecSaContextExpire0 of the first is committing:
// the expiry zeroes the outbound keys it removed only after its commit, so
// the block they are in must not have gone to the new context. It fails if
// the new context's outbound keys are zeroed.
func TestReuseExpireKeepsItsBlock(t *testing.T) {
	_, st, a, b := newHookEngine(t)
	w := newWorker(t, a, 4)
	x, err := w.run()
	if err != nil {
		t.Fatal(err)
	}
	wb := *w
	wb.plumb = &plumb{}
	*wb.plumb = *w.plumb
	wb.api = b
	var y uint64
	st.setHook(func() error {
		st.setHook(nil)
		done := make(chan error, 1)
		go func() {
			err := b.IPsecSaContextDeleteById0(x)
			if err == nil {
				y, err = wb.run()
			}
			done <- err
		}()
		return <-done
	})
	if err := a.IPsecSaContextExpire0(x); err != nil {
		t.Fatal(err)
	}
	if y == 0 {
		t.Fatal("the concurrent delete and plumbing did not run")
	}
	sc, err := b.IPsecSaContextGetById1(y)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.check(sc, false); err != nil {
		t.Fatalf("the context plumbed during the expiry: %v", err)
	}
}
