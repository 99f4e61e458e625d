package engine_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/mem"
	"github.com/sadb-dev/sadb/wfp"
)

// A context whose lifetime ran out while the engine was down is gone when
// it comes back, and its deletion is stored.
func TestLifetimeSpentWhileDown(t *testing.T) {
	st := mem.New()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	admin := wfp.Token{User: wfp.UserSID(0)}
	e, err := engine.New(engine.Options{Clock: clk, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	api, err := e.FwpmEngineOpen0(admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	local, remote := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	out, in, err := conformance.TransportFilters(api, local, remote)
	if err != nil {
		t.Fatal(err)
	}
	plumb := func(lifetime uint32) uint64 {
		tr := conformance.TransportTraffic(local, remote, out)
		id, _, err := api.IPsecSaContextCreate1(&tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		spi, err := api.IPsecSaContextGetSpi1(id, conformance.GetSPI(conformance.TransportTraffic(local, remote, in)))
		if err != nil {
			t.Fatal(err)
		}
		b := conformance.GCMBundle(wfp.IPVersionV4, spi, conformance.TestKey(20, 1))
		b.Lifetime.LifetimeSeconds = lifetime
		if err := api.IPsecSaContextAddInbound1(id, b); err != nil {
			t.Fatal(err)
		}
		return id
	}
	short, long := plumb(10), plumb(3600)
	e.Close()

	clk.Advance(20 * time.Second)
	e, err = engine.New(engine.Options{Clock: clk, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	api, err = e.FwpmEngineOpen0(admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.IPsecSaContextGetById1(short); !errors.Is(err, wfp.ErrNotFound) {
		t.Fatalf("expired context after restart: %v", err)
	}
	if _, err := api.IPsecSaContextGetById1(long); err != nil {
		t.Fatalf("live context after restart: %v", err)
	}
	found := false
	st.Load(func(kind engine.RecordKind, key uint64, _ []byte) error {
		found = found || (kind == engine.RecordSAContext && key == short)
		return nil
	})
	if found {
		t.Fatal("the deletion of the expired context was not stored")
	}
}
