package daemon_test

import (
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/daemon"
	"github.com/sadb-dev/sadb/internal/daemon/daemontest"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

// SIGTERM while one session holds an explicit transaction and another's
// call waits for it: new sessions are refused at once, on a new connection
// and on an existing one; after the grace period the sessions end, which
// aborts the transaction and lets the waiting call complete (it is durable
// though its reply cannot be delivered); the store is closed cleanly (the
// next Open replays nothing from its log) and sadbd exits 0. After a
// restart nothing of the transaction is there.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sadbd")
	}
	bin := sadbdBinary(t)
	const grace = 1500 * time.Millisecond
	cfg := newConfig(t)
	cfg.ShutdownGrace = daemon.Duration(grace)
	p := daemontest.StartTB(t, bin, cfg)

	// Session A: a context at SPI_SET, then a transaction that adds its
	// inbound bundle and a filter, left open.
	a, err := client.Open(context.Background(), p.Target(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pl := addFilters(t, a)
	tr := pl.outbound()
	x, _, err := a.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	spi, err := a.IPsecSaContextGetSpi1(x, pl.getSPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.FwpmTransactionBegin0(0); err != nil {
		t.Fatal(err)
	}
	if err := a.IPsecSaContextAddInbound1(x, conformance.GCMBundle(wfp.IPVersionV4, spi, conformance.TestKey(20, 9))); err != nil {
		t.Fatal(err)
	}
	f := conformance.TransportFilter(wfp.DirectionOutbound, conformance.PeerA4, netip.MustParseAddr("192.0.2.77"))
	f.DisplayData.Name = "added in a transaction open at shutdown"
	if _, err := a.FwpmFilterAdd0(f, nil); err != nil {
		t.Fatal(err)
	}

	// Session B: a Create that waits for A's transaction.
	b, err := client.Open(context.Background(), p.Target(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type created struct {
		id  uint64
		err error
	}
	bDone := make(chan created, 1)
	go func() {
		tr := pl.outbound()
		id, _, err := b.IPsecSaContextCreate1(&tr, nil)
		bDone <- created{id, err}
	}()

	// A connection made before SIGTERM, with no session on it.
	conn, err := client.Dial(p.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	probe, err := client.Open(context.Background(), "", nil, client.WithConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	probe.FwpmEngineClose0()

	time.Sleep(100 * time.Millisecond) // B's call has reached sadbd (it would wait there anyway)
	select {
	case r := <-bDone:
		t.Fatalf("B's call returned while A's transaction was open: %v", r.err)
	default:
	}
	termAt := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New sessions are refused during the grace period.
	refused := func(what string, open func() error) {
		t.Helper()
		deadline := termAt.Add(grace / 2)
		for {
			err := open()
			if err != nil && isRPC(err) {
				t.Logf("%s refused %v after SIGTERM: %v", what, time.Since(termAt).Round(time.Millisecond), err)
				return
			}
			if err != nil {
				t.Fatalf("%s: %v, want an RPC status code", what, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still accepted %v after SIGTERM", what, time.Since(termAt))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	tryOpen := func(opts ...client.Option) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			api, err := client.Open(ctx, p.Target(), nil, opts...)
			if err == nil {
				api.FwpmEngineClose0()
			}
			return err
		}
	}
	refused("a new connection", tryOpen(client.WithDialTimeout(time.Second)))
	refused("a new session on an existing connection", tryOpen(client.WithConn(conn)))
	select {
	case <-p.Exited():
		t.Fatalf("sadbd exited %v after SIGTERM, before the grace period ended", time.Since(termAt))
	default:
	}

	code, err := p.Wait(grace + 20*time.Second)
	took := time.Since(termAt)
	if err != nil || code != 0 {
		t.Fatalf("sadbd exited with %d, %v", code, err)
	}
	if took < grace {
		t.Errorf("sadbd exited %v after SIGTERM, within the grace period of %v, with a session open", took, grace)
	}
	var bRes created
	select {
	case bRes = <-bDone:
	case <-time.After(10 * time.Second):
		t.Fatal("B's call did not return after sadbd exited")
	}
	if bRes.err != nil && !isRPC(bRes.err) {
		t.Errorf("B's call failed with %v, want success or an RPC status code", bRes.err)
	}
	t.Logf("sadbd exited 0 %v after SIGTERM; B's call returned %d, %v", took.Round(time.Millisecond), bRes.id, bRes.err)
	a.FwpmEngineClose0()
	b.FwpmEngineClose0()
	for _, want := range []string{"ending the remaining sessions", "store closed"} {
		if !strings.Contains(p.Log(), want) {
			t.Errorf("sadbd's log does not say %q", want)
		}
	}

	// The store is closed cleanly and unlocked: it opens at once, passes
	// every check of Open, and its log holds nothing to replay.
	st, err := bolt.Open(cfg.Store, bolt.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the store after a clean shutdown: %v", err)
	}
	if s := st.Stats(); s.RecoveredCommits != 0 || s.RecoveredTornTail {
		t.Errorf("opening the store after a clean shutdown replayed %d commits from the log (torn tail: %v)", s.RecoveredCommits, s.RecoveredTornTail)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	p = daemontest.StartTB(t, bin, cfg)
	admin := openAPI(t, p.Target(), wfp.SessionFlagKeyMaterial)
	all := enumContexts(t, admin)
	if len(all) != 2 {
		t.Fatalf("%d SA contexts after the restart, want A's and the one B's waiting call created", len(all))
	}
	for _, sc := range all {
		switch {
		case sc.SAContextID == x:
			if sc.State != wfp.SAContextSPISet || sc.InboundSA != nil || sc.InboundSPI != spi {
				t.Errorf("A's context after the restart: %v, inbound SPI %#x, inbound bundle %v; want SPI_SET as before the transaction", sc.State, sc.InboundSPI, sc.InboundSA != nil)
			}
		case bRes.err == nil && sc.SAContextID != bRes.id:
			t.Errorf("context %d after the restart; B created %d", sc.SAContextID, bRes.id)
		case sc.State != wfp.SAContextCreated:
			t.Errorf("B's context is %v, want CREATED", sc.State)
		}
	}
	h, err := admin.FwpmFilterCreateEnumHandle0(nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := admin.FwpmFilterEnum0(h, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range fs {
		if g.DisplayData.Name == f.DisplayData.Name {
			t.Errorf("filter %d, added in the aborted transaction, is back", g.FilterID)
		}
	}
	if len(fs) != 2 {
		t.Errorf("%d filters after the restart, want the two transport filters", len(fs))
	}
	admin.FwpmEngineClose0()
	if code, err := p.Term(30 * time.Second); err != nil || code != 0 {
		t.Errorf("sadbd exited with %d, %v", code, err)
	}
}
