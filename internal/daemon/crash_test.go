package daemon_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/daemon/daemontest"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

// step is how far the plumbing of an SA context has got.
type step uint8

const (
	stepNone step = iota
	stepCreated
	stepSPISet
	stepInbound
	stepOutbound
)

func (s step) String() string {
	return [...]string{"none", "created", "spi-set", "inbound-added", "outbound-added"}[s]
}

// stepOf maps a context's state to the step that leads to it.
func stepOf(st wfp.SAContextState) step {
	switch st {
	case wfp.SAContextCreated:
		return stepCreated
	case wfp.SAContextSPISet:
		return stepSPISet
	case wfp.SAContextInboundAdded:
		return stepInbound
	case wfp.SAContextOutboundAdded:
		return stepOutbound
	}
	return stepNone
}

// ctxRec is what the clients know of one SA context: the steps sadbd
// acknowledged, the one in flight when it was killed, and the values they
// sent.
type ctxRec struct {
	id      uint64
	acked   step // the last step sadbd acknowledged
	pending step // the step in flight at the crash, if any
	spi     uint32
	inKey   wfp.Key // sent with AddInbound (set before the call)
	outKey  wfp.Key // sent with AddOutbound
	outSPI  uint32
	deleted bool // DeleteById0 was acknowledged
	// deletePending: DeleteById0 was in flight at the crash.
	deletePending bool
	// inTxn: a transaction that never committed took it further; none of
	// that may survive.
	inTxn bool
}

// crashModel is every SA context the test knows of, across rounds.
type crashModel struct {
	ctxs map[uint64]*ctxRec
}

// crashClient is one session plumbing contexts until sadbd dies.
type crashClient struct {
	api     wfp.API
	pl      plumbing
	rng     *rand.Rand
	keys    *atomic.Uint64 // source of unique key material
	recs    []*ctxRec
	created bool  // a Create was in flight at the crash
	calls   int   // calls acknowledged
	err     error // the error that ended the run (the crash)
}

// key returns 20 bytes of key material no other call uses.
func uniqueKey(keys *atomic.Uint64) wfp.Key {
	k := conformance.TestKey(20, 0x5A)
	binary.BigEndian.PutUint64(k, keys.Add(1))
	return k
}

// run plumbs contexts (deleting about one in five, at various steps) until
// a call fails, and records every acknowledged step.
func (c *crashClient) run() {
	for {
		tr := c.pl.outbound()
		c.created = true
		id, _, err := c.api.IPsecSaContextCreate1(&tr, nil)
		if err != nil {
			c.err = err
			return
		}
		c.created = false
		r := &ctxRec{id: id, acked: stepCreated}
		c.recs = append(c.recs, r)
		c.calls++
		last := stepOutbound
		if c.rng.IntN(5) == 0 {
			last = step(1 + c.rng.IntN(4)) // delete after this step
		}
		if c.err = c.advance(r, last); c.err != nil {
			return
		}
		if last != stepOutbound || c.rng.IntN(5) == 0 {
			r.deletePending = true
			if c.err = c.api.IPsecSaContextDeleteById0(id); c.err != nil {
				return
			}
			r.deletePending, r.deleted = false, true
			c.calls++
		}
	}
}

// advance takes r from its acknowledged step up to last.
func (c *crashClient) advance(r *ctxRec, last step) error {
	for r.acked < last {
		r.pending = r.acked + 1
		var err error
		switch r.pending {
		case stepSPISet:
			r.spi, err = c.api.IPsecSaContextGetSpi1(r.id, c.pl.getSPI())
		case stepInbound:
			r.inKey = uniqueKey(c.keys)
			err = c.api.IPsecSaContextAddInbound1(r.id, conformance.GCMBundle(wfp.IPVersionV4, r.spi, r.inKey))
		case stepOutbound:
			r.outKey, r.outSPI = uniqueKey(c.keys), 0x100+c.rng.Uint32N(1<<20)
			err = c.api.IPsecSaContextAddOutbound1(r.id, conformance.GCMBundle(wfp.IPVersionV4, r.outSPI, r.outKey))
		}
		if err != nil {
			return err
		}
		r.acked, r.pending = r.pending, stepNone
		c.calls++
	}
	return nil
}

// crashSeed is the test's seed: SADB_CRASH_SEED if set, else the time.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("SADB_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SADB_CRASH_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// sadbd is killed with SIGKILL at a random moment while several sessions
// plumb SA contexts, then restarted on the same store, eight times. After
// each restart every acknowledged step is there with the values sent
// (SPIs and keys, read back with key material), every acknowledged delete
// is gone, a step in flight at the crash is either wholly there or wholly
// absent, no context's state contradicts its bundles, inbound SPIs are
// unique, and nothing of a transaction open at the crash survives.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sadbd and runs it eight times")
	}
	bin := sadbdBinary(t)
	seed := crashSeed(t)
	t.Logf("seed %d (set SADB_CRASH_SEED to repeat the random choices)", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5ad8))
	cfg := newConfig(t)
	m := &crashModel{ctxs: map[uint64]*ctxRec{}}
	var keys atomic.Uint64
	var pl plumbing
	const (
		rounds  = 8
		clients = 6
	)
	unknown := 0 // contexts whose Create may have committed unacknowledged
	txnFilter := ""
	total := 0
	for round := 1; round <= rounds; round++ {
		p := daemontest.StartTB(t, bin, cfg)
		admin, err := client.Open(context.Background(), p.Target(), &wfp.FwpmSession0{Flags: wfp.SessionFlagKeyMaterial})
		if err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			pl = addFilters(t, admin)
		} else {
			verifyCrash(t, admin, m, unknown, txnFilter)
			if t.Failed() {
				t.Fatalf("round %d: the store after the crash is wrong", round-1)
			}
		}

		// In every other round a transaction is open when the kill comes.
		var txn *txnAtCrash
		if round%2 == 0 {
			txn = startTxnSession(t, p.Target(), pl, m, &keys, round)
			txnFilter = txn.filterName
		}
		cs := make([]*crashClient, clients)
		for i := range cs {
			api, err := client.Open(context.Background(), p.Target(), nil)
			if err != nil {
				t.Fatal(err)
			}
			cs[i] = &crashClient{api: api, pl: pl, keys: &keys, rng: rand.New(rand.NewPCG(seed, uint64(round*100+i)))}
		}
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(c.run)
		}
		delay := time.Duration(30+rng.IntN(370)) * time.Millisecond
		time.Sleep(delay)
		if txn != nil {
			// The other sessions' calls wait for the transaction's lock
			// from here on: they are in flight at the kill.
			if err := txn.run(); err != nil {
				t.Fatalf("round %d: the transaction: %v", round, err)
			}
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()

		unknown = 0
		calls := 0
		for _, c := range cs {
			c.api.FwpmEngineClose0()
			if !isRPC(c.err) {
				t.Errorf("round %d: a client's call failed with %v before the crash", round, c.err)
			}
			for _, r := range c.recs {
				m.ctxs[r.id] = r
			}
			if c.created {
				unknown++
			}
			calls += c.calls
		}
		if txn != nil {
			txn.api.FwpmEngineClose0()
		}
		admin.FwpmEngineClose0()
		total += calls
		t.Logf("round %d: killed %v after the clients started, %d calls acknowledged, a transaction open: %v", round, delay, calls, txn != nil)
	}

	// The last crash left commits in the write-ahead log for Open to
	// replay (sadbd replayed the earlier rounds' itself).
	st, err := bolt.Open(cfg.Store, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Stats(); s.RecoveredCommits == 0 {
		t.Error("the store's log held no commits after a kill: the crashes did not exercise recovery")
	} else {
		t.Logf("after the last kill the log held %d commits (torn tail: %v)", s.RecoveredCommits, s.RecoveredTornTail)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	p := daemontest.StartTB(t, bin, cfg)
	admin := openAPI(t, p.Target(), wfp.SessionFlagKeyMaterial)
	verifyCrash(t, admin, m, unknown, txnFilter)
	admin.FwpmEngineClose0()
	if code, err := p.Term(30 * time.Second); err != nil || code != 0 {
		t.Errorf("sadbd exited with %d, %v", code, err)
	}
	if total < rounds*clients {
		t.Errorf("only %d calls were acknowledged in %d rounds: the workload did not run", total, rounds)
	}
	t.Logf("%d SA contexts checked, %d calls acknowledged", len(m.ctxs), total)
}

// txnAtCrash is a session with an explicit transaction open when sadbd is
// killed: it takes a context of its own one step further and adds a
// filter, and never commits.
type txnAtCrash struct {
	api        wfp.API
	rec        *ctxRec
	keys       *atomic.Uint64
	filterName string
}

// startTxnSession opens the session and plumbs its context up to SPI_SET
// (acknowledged, outside the transaction).
func startTxnSession(t *testing.T, target string, pl plumbing, m *crashModel, keys *atomic.Uint64, round int) *txnAtCrash {
	t.Helper()
	api, err := client.Open(context.Background(), target, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := pl.outbound()
	id, _, err := api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	spi, err := api.IPsecSaContextGetSpi1(id, pl.getSPI())
	if err != nil {
		t.Fatal(err)
	}
	rec := &ctxRec{id: id, acked: stepSPISet, spi: spi, inTxn: true}
	m.ctxs[id] = rec
	return &txnAtCrash{api: api, rec: rec, keys: keys, filterName: fmt.Sprintf("uncommitted at the crash of round %d", round)}
}

// run begins the transaction and makes its changes, all acknowledged,
// leaving it open.
func (x *txnAtCrash) run() error {
	if err := x.api.FwpmTransactionBegin0(0); err != nil {
		return err
	}
	if err := x.api.IPsecSaContextAddInbound1(x.rec.id, conformance.GCMBundle(wfp.IPVersionV4, x.rec.spi, uniqueKey(x.keys))); err != nil {
		return err
	}
	f := conformance.TransportFilter(wfp.DirectionOutbound, conformance.PeerA4, netip.MustParseAddr("192.0.2.99"))
	f.DisplayData.Name = x.filterName
	_, err := x.api.FwpmFilterAdd0(f, nil)
	return err
}

// verifyCrash checks the restarted daemon's SA contexts against the model
// and then brings the model up to what it found (which is durable now):
// steps in flight at the crash become acknowledged or are dropped, and
// contexts whose Create committed unacknowledged (at most unknown) are
// adopted.
func verifyCrash(t *testing.T, admin wfp.API, m *crashModel, unknown int, txnFilter string) {
	t.Helper()
	found := map[uint64]*wfp.IPsecSAContext1{}
	spis := map[uint32]uint64{}
	for _, sc := range enumContexts(t, admin) {
		if err := consistent(sc); err != nil {
			t.Errorf("context %d: %v", sc.SAContextID, err)
		}
		if sc.InboundSPI != 0 {
			if other, dup := spis[sc.InboundSPI]; dup {
				t.Errorf("inbound SPI %#x is held by contexts %d and %d", sc.InboundSPI, other, sc.SAContextID)
			}
			spis[sc.InboundSPI] = sc.SAContextID
		}
		found[sc.SAContextID] = sc
	}
	for id, r := range m.ctxs {
		sc := found[id]
		delete(found, id)
		switch {
		case r.deleted && sc != nil:
			t.Errorf("context %d: deleted (acknowledged) but back after the crash", id)
			continue
		case r.deleted:
			continue
		case sc == nil && r.deletePending:
			r.deleted, r.deletePending = true, false
			continue
		case sc == nil:
			t.Errorf("context %d: acknowledged up to %v, lost in the crash", id, r.acked)
			continue
		}
		got := stepOf(sc.State)
		ok := got == r.acked || (!r.inTxn && r.pending != stepNone && got == r.pending)
		if !ok {
			t.Errorf("context %d: %v after the crash; acknowledged %v, in flight %v, in an uncommitted transaction: %v",
				id, got, r.acked, r.pending, r.inTxn)
			continue
		}
		spiKnown := r.acked >= stepSPISet
		if got >= stepSPISet && spiKnown && sc.InboundSPI != r.spi {
			t.Errorf("context %d: inbound SPI %#x, acknowledged %#x", id, sc.InboundSPI, r.spi)
		}
		if got >= stepInbound && bundleKey(sc.InboundSA) != string(r.inKey) {
			t.Errorf("context %d: the inbound key is not the one sent", id)
		}
		if got >= stepOutbound && (bundleKey(sc.OutboundSA) != string(r.outKey) || bundleSPI(sc.OutboundSA) != r.outSPI) {
			t.Errorf("context %d: the outbound bundle (SPI %#x) is not the one sent (SPI %#x)", id, bundleSPI(sc.OutboundSA), r.outSPI)
		}
		r.acked, r.pending, r.deletePending, r.inTxn, r.spi = got, stepNone, false, false, sc.InboundSPI
	}
	if len(found) > unknown {
		t.Errorf("%d contexts nobody created (at most %d Create calls were in flight at the crash)", len(found), unknown)
	}
	for id, sc := range found {
		m.ctxs[id] = &ctxRec{id: id, acked: stepOf(sc.State), spi: sc.InboundSPI,
			inKey: wfp.Key(bundleKey(sc.InboundSA)), outKey: wfp.Key(bundleKey(sc.OutboundSA)), outSPI: bundleSPI(sc.OutboundSA)}
	}
	if txnFilter != "" {
		h, err := admin.FwpmFilterCreateEnumHandle0(nil)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := admin.FwpmFilterEnum0(h, 1000)
		if err != nil {
			t.Fatal(err)
		}
		admin.FwpmFilterDestroyEnumHandle0(h)
		for _, f := range fs {
			if f.DisplayData.Name == txnFilter {
				t.Errorf("filter %d %q, added in a transaction that never committed, survived the crash", f.FilterID, txnFilter)
			}
		}
	}
}

// consistent checks that a context's state agrees with its SPI and
// bundles.
func consistent(sc *wfp.IPsecSAContext1) error {
	in, out := sc.InboundSA != nil, sc.OutboundSA != nil
	switch sc.State {
	case wfp.SAContextCreated:
		if sc.InboundSPI != 0 || in || out {
			return fmt.Errorf("CREATED with SPI %#x, inbound %v, outbound %v", sc.InboundSPI, in, out)
		}
	case wfp.SAContextSPISet:
		if sc.InboundSPI == 0 || in || out {
			return fmt.Errorf("SPI_SET with SPI %#x, inbound %v, outbound %v", sc.InboundSPI, in, out)
		}
	case wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded:
		if !in || bundleSPI(sc.InboundSA) != sc.InboundSPI || len(bundleKey(sc.InboundSA)) != 20 {
			return fmt.Errorf("%v with SPI %#x and inbound bundle SPI %#x, %d-byte key", sc.State, sc.InboundSPI, bundleSPI(sc.InboundSA), len(bundleKey(sc.InboundSA)))
		}
		if want := sc.State == wfp.SAContextOutboundAdded; out != want || (out && len(bundleKey(sc.OutboundSA)) != 20) {
			return fmt.Errorf("%v with outbound bundle %v", sc.State, out)
		}
	default:
		return fmt.Errorf("state %v: nothing here expires contexts", sc.State)
	}
	return nil
}
