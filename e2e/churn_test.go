package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/wfp"
)

// Control-plane churn must not hurt traffic: the data path's lookup
// tables are published without a lock the packet goroutines wait on, and
// programming's system calls (routes) happen outside the packet path.

const (
	churnContexts = 10000
	churnBatch    = 100
	// churnRate is well below what the tunnel carries on a loaded 2-CPU
	// machine, so that losses would come from the data path stalling.
	churnRate = "20M"
)

// TestChurn runs a UDP stream of 1380-byte datagrams through one SA
// context while 10,000 other SA contexts are added and deleted on both
// sadbd's through their sockets, as keying daemons would, and checks that
// it loses no packet that the same run without churn does not lose, and
// that sadbd counted no packet without an SA.
func TestChurn(t *testing.T) {
	requireRig(t, "iperf3")
	if testing.Short() {
		t.Skip("a minute of traffic")
	}
	a, b := newRig(t)
	m := emode{name: "tunnel-v4-udp-esp-gcm-128", tunnel: true, udp: true, transform: "esp-gcm-128"}
	l := plumb(t, a, b, m)
	_, dst := m.targets(a, b)

	// How long 10,000 contexts take here decides how long the stream
	// runs: time a few hundred first.
	var took [2]time.Duration
	churnBoth := func(n int, spiBase uint32) {
		t.Helper()
		var wg sync.WaitGroup
		var errs [2]error
		for i, h := range []*node{a, b} {
			wg.Go(func() {
				t0 := time.Now()
				errs[i] = churn(h, n, churnBatch, spiBase)
				took[i] = time.Since(t0)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("churn on %s: %v", []string{"A", "B"}[i], err)
			}
		}
	}
	churnBoth(300, 0x10000000)
	est := max(took[0], took[1]) * churnContexts / 300
	secs := min(max(int(est.Seconds()*1.5)+5, 20), 300)
	t.Logf("300 contexts took %v; the stream runs %d s", max(took[0], took[1]).Round(time.Millisecond), secs)
	// A 4 MiB socket buffer, so that the iperf3 server losing its CPU
	// for a moment (the machine's other work, the churning sadbd's) does
	// not lose datagrams: losses then come from the tunnel.
	args := []string{"-u", "-l", "1380", "-b", churnRate, "-w", "4M", "-t", fmt.Sprint(secs)}

	before := [2]statistics{a.churnStats(), b.churnStats()}
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		time.Sleep(time.Second) // into the run
		churnBoth(churnContexts, 0x20000000)
	}()
	t0 := time.Now()
	with := iperfRun(t, a, b, dst, args...)
	window := time.Since(t0)
	<-churned
	t.Logf("with %d contexts added and deleted on each side (A in %v, B in %v): %d of %d datagrams lost within the stream, %d at its end",
		churnContexts, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), with.Gaps, with.Sent, with.Lost-with.Gaps)
	if d := max(took[0], took[1]) + time.Second; d > window {
		t.Fatalf("the churn took %v, longer than the measurement (%v)", d, window)
	}
	after := [2]statistics{a.churnStats(), b.churnStats()}

	base := iperfRun(t, a, b, dst, args...)
	t.Logf("without churn: %d of %d datagrams lost within the stream, %d at its end", base.Gaps, base.Sent, base.Lost-base.Gaps)
	// Losses within the stream: the churn runs inside it. At its end
	// iperf3 can stop counting while its last datagrams are still on their
	// way (on a loaded machine, by milliseconds); drops by the data path
	// itself, there too, are its counters', checked below.
	if with.Gaps > base.Gaps {
		t.Errorf("churn cost %d datagrams: %d lost with it, %d without", with.Gaps-base.Gaps, with.Gaps, base.Gaps)
	}
	for i, h := range []*node{a, b} {
		if n := after[i].Drops.Total - before[i].Drops.Total; n != 0 {
			t.Errorf("%s: %d inbound packets dropped during the churn: %+v", h.ns, n, after[i].Drops)
		}
		if after[i].noSALogs != before[i].noSALogs {
			t.Errorf("%s: outbound packets found no SA during the churn:\n%s", h.ns, tail(h.logText(), 20))
		}
	}
	// The stream's SA context is still whole.
	for _, h := range []*node{a, b} {
		var list []json.RawMessage
		h.sadb(&list, "ctx", "list")
		if len(list) != 1 {
			t.Errorf("%s: %d SA contexts left, want 1", h.ns, len(list))
		}
	}
	_ = l
}

// churn adds and deletes n SA contexts on h through its socket, batch at
// a time, as a keying daemon would: each with its own outbound and
// inbound transport filter (UDP to one port of an address in
// 192.0.2.128/25, where nothing sends), an inbound SPI and AES-GCM
// bundles; then deletes the batch.
func churn(h *node, n, batch int, spiBase uint32) error {
	api, err := client.Open(context.Background(), "unix://"+h.sock, &wfp.FwpmSession0{TxnWaitTimeoutInMSec: 0xFFFFFFFF},
		client.WithCallTimeout(time.Minute))
	if err != nil {
		return err
	}
	defer api.FwpmEngineClose0()
	type ctx struct{ out, in, id uint64 }
	ids := make([]ctx, batch)
	key := make(wfp.Key, 20)
	rand.Read(key)
	inTxn := func(fn func() error) error {
		if err := api.FwpmTransactionBegin0(0); err != nil {
			return err
		}
		if err := fn(); err != nil {
			api.FwpmTransactionAbort0()
			return err
		}
		return api.FwpmTransactionCommit0()
	}
	for lo := 0; lo < n; lo += batch {
		cnt := min(batch, n-lo)
		remote := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(128 + (lo+i)%120)}) }
		err := inTxn(func() error {
			for i := range cnt {
				out := conformance.TransportFilter(wfp.DirectionOutbound, h.v4, remote(i))
				in := conformance.TransportFilter(wfp.DirectionInbound, h.v4, remote(i))
				port := uint16(1 + (lo+i)%65535)
				for _, f := range []*wfp.FwpmFilter0{out, in} {
					f.FilterCondition = append(f.FilterCondition,
						wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(17)),
						wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(port)))
				}
				var err error
				if ids[i].out, err = api.FwpmFilterAdd0(out, nil); err != nil {
					return fmt.Errorf("FwpmFilterAdd0: %w", err)
				}
				if ids[i].in, err = api.FwpmFilterAdd0(in, nil); err != nil {
					return fmt.Errorf("FwpmFilterAdd0: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range cnt {
			tr := conformance.TransportTraffic(h.v4, remote(i), ids[i].out)
			if ids[i].id, _, err = api.IPsecSaContextCreate1(&tr, nil); err != nil {
				return fmt.Errorf("IPsecSaContextCreate1: %w", err)
			}
		}
		err = inTxn(func() error {
			for i := range cnt {
				spi := spiBase + uint32(lo+i)
				in := conformance.TransportTraffic(h.v4, remote(i), ids[i].in)
				if err := api.IPsecSaContextSetSpi0(ids[i].id, conformance.GetSPI(in), spi); err != nil {
					return fmt.Errorf("IPsecSaContextSetSpi0: %w", err)
				}
				if err := api.IPsecSaContextAddInbound1(ids[i].id, conformance.GCMBundle(wfp.IPVersionV4, spi, key)); err != nil {
					return fmt.Errorf("IPsecSaContextAddInbound1: %w", err)
				}
				if err := api.IPsecSaContextAddOutbound1(ids[i].id, conformance.GCMBundle(wfp.IPVersionV4, spi^0x0f000000, key)); err != nil {
					return fmt.Errorf("IPsecSaContextAddOutbound1: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range cnt { // WFP forbids this one in a transaction
			if err := api.IPsecSaContextDeleteById0(ids[i].id); err != nil {
				return fmt.Errorf("IPsecSaContextDeleteById0: %w", err)
			}
		}
		err = inTxn(func() error {
			for i := range cnt {
				if err := api.FwpmFilterDeleteById0(ids[i].out); err != nil {
					return fmt.Errorf("FwpmFilterDeleteById0: %w", err)
				}
				if err := api.FwpmFilterDeleteById0(ids[i].in); err != nil {
					return fmt.Errorf("FwpmFilterDeleteById0: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// statistics are h's drop counters, and how many times its log reported
// outbound packets without an SA.
type statistics struct {
	statsView
	noSALogs int
}

func (h *node) churnStats() statistics {
	h.tb.Helper()
	return statistics{statsView: h.stats(), noSALogs: strings.Count(h.logText(), "match an IPsec filter but no SA")}
}
