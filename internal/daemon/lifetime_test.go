package daemon_test

import (
	"testing"
	"time"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

// storedContexts reads the SA context ids in a store file that no daemon
// has open.
func storedContexts(t testing.TB, path string) map[uint64]bool {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[uint64]bool{}
	err = st.Load(func(kind engine.RecordKind, key uint64, _ []byte) error {
		if kind == engine.RecordSAContext {
			ids[key] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Lifetimes count on the wall clock while sadbd is down: a context whose
// 2 s lifetime ran out while the daemon was stopped for 3 s is gone when
// the restarted daemon first serves, and its deletion is in the store.
func TestLifetimeRunsOutWhileStopped(t *testing.T) {
	cfg := newConfig(t)
	d := startInProc(t, cfg, discard())
	target := "unix://" + cfg.Socket
	admin := openAPI(t, target, 0)
	pl := addFilters(t, admin)
	short, err := pl.plumb(admin, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	added := time.Now()
	long, err := pl.plumb(admin, 2, 3600)
	if err != nil {
		t.Fatal(err)
	}
	admin.FwpmEngineClose0()
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if got := storedContexts(t, cfg.Store); !got[short.id] || !got[long.id] {
		t.Fatalf("stored contexts %v, want %d and %d", got, short.id, long.id)
	}
	time.Sleep(3*time.Second - time.Since(added))

	d = startInProc(t, cfg, discard())
	admin = openAPI(t, target, 0)
	// The engine schedules the deletion as it loads the context and runs
	// it on its timer goroutine, which can lag behind the first session by
	// a commit; the deletion must come at once all the same.
	serving := time.Now()
	for {
		_, err := admin.IPsecSaContextGetById1(short.id)
		if wfp.Code(err) == wfp.ErrNotFound {
			t.Logf("the expired context was gone %v after the restarted daemon served", time.Since(serving).Round(time.Microsecond))
			break
		}
		if err != nil {
			t.Fatalf("the context whose lifetime ran out while sadbd was down: %v, want FWP_E_NOT_FOUND", err)
		}
		if time.Since(serving) > 5*time.Second {
			t.Fatal("the context whose lifetime ran out while sadbd was down is still there 5 s after the restart")
		}
		time.Sleep(time.Millisecond)
	}
	if sc, err := admin.IPsecSaContextGetById1(long.id); err != nil || sc.State != wfp.SAContextOutboundAdded {
		t.Errorf("the context with an hour to live: %v, %v", sc, err)
	}
	admin.FwpmEngineClose0()
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if got := storedContexts(t, cfg.Store); got[short.id] || !got[long.id] {
		t.Errorf("stored contexts after the restart %v: want %d deleted, %d kept", got, short.id, long.id)
	}
}
