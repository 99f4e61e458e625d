package engine

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/datapath/datapathtest"
	"github.com/sadb-dev/sadb/wfp"
)

func TestDatapathProgramming(t *testing.T) {
	dp := datapathtest.New()
	e, clk := newTestEngine(t, Options{Datapath: dp})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	if dp.Filters() != 2 {
		t.Fatalf("filters programmed: %d", dp.Filters())
	}
	id, err := p.run()
	if err != nil {
		t.Fatal(err)
	}
	in, out := datapath.SAID{Context: id, Direction: wfp.DirectionInbound}, datapath.SAID{Context: id, Direction: wfp.DirectionOutbound}
	if dp.SA(in) == nil || dp.SA(out) == nil {
		t.Fatalf("SAs not programmed: %v", dp.Log())
	}
	if k := dp.SA(in).Bundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey; len(k) != 20 || k[0] != 1 {
		t.Fatalf("the backend did not get the key")
	}
	if dp.SA(in).Filter == nil || dp.SA(in).Filter.FilterID != p.getSpi.InboundIPsecTraffic.IPsecFilterID {
		t.Fatalf("inbound SA lacks its filter")
	}

	// Counters show through GetById1, and traffic keeps an idle SA alive.
	dp.SetCounters(in, wfp.SACounters{Packets: 5, Bytes: 500, LastUseUnixSec: clk.Now().Add(50 * time.Second).Unix()})
	sc, err := api.IPsecSaContextGetById1(id)
	if err != nil || sc.InboundSA.Counters == nil || sc.InboundSA.Counters.Packets != 5 {
		t.Fatalf("counters not exported: %+v %v", sc.InboundSA.Counters, err)
	}

	// Expire: the outbound SA leaves the data path at once, the inbound
	// after the linger.
	if err := api.IPsecSaContextExpire0(id); err != nil {
		t.Fatal(err)
	}
	if dp.SA(out) != nil || dp.SA(in) == nil {
		t.Fatalf("after Expire0: %v", dp.Log())
	}
	clk.Advance(61 * time.Second)
	if dp.SA(in) != nil {
		t.Fatalf("inbound SA survived the linger: %v", dp.Log())
	}
}

func TestDatapathRefusalChangesNothing(t *testing.T) {
	dp := datapathtest.New()
	e, _ := newTestEngine(t, Options{Datapath: dp})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	id, _, err := api.IPsecSaContextCreate1(&p.outTraffic, nil)
	if err != nil {
		t.Fatal(err)
	}
	spi, err := api.IPsecSaContextGetSpi1(id, &p.getSpi)
	if err != nil {
		t.Fatal(err)
	}
	dp.Refuse(func(op string, sa *datapath.SA) error {
		if op == "check" {
			return errors.New("no such transform here")
		}
		return nil
	})
	in := gcmBundle(spi, 3600)
	err = api.IPsecSaContextAddInbound1(id, in)
	if !errors.Is(err, wfp.ErrCalloutNotificationFailed) {
		t.Fatalf("refused AddInbound: %v", err)
	}
	if sc, _ := api.IPsecSaContextGetById1(id); sc.State != wfp.SAContextSPISet || dp.SAs() != 0 {
		t.Fatalf("a refused AddInbound changed something: %v %v", sc.State, dp.Log())
	}

	// A refusal at apply time (after the check) undoes everything too, in
	// an explicit transaction: commit fails and nothing remains.
	dp.Refuse(func(op string, sa *datapath.SA) error {
		if op == "add" && sa.ID.Direction == wfp.DirectionOutbound {
			return errors.New("out of table space")
		}
		return nil
	})
	if err := api.FwpmTransactionBegin0(0); err != nil {
		t.Fatal(err)
	}
	if err := api.IPsecSaContextAddInbound1(id, in); err != nil {
		t.Fatal(err)
	}
	if err := api.IPsecSaContextAddOutbound1(id, gcmBundle(0x2000, 3600)); err != nil {
		t.Fatal(err)
	}
	if err := api.FwpmTransactionCommit0(); !errors.Is(err, wfp.ErrCalloutNotificationFailed) {
		t.Fatalf("commit: %v", err)
	}
	sc, _ := api.IPsecSaContextGetById1(id)
	if sc.State != wfp.SAContextSPISet || dp.SAs() != 0 {
		t.Fatalf("a failed commit left state %v, data path %v", sc.State, dp.Log())
	}
	log := dp.Log()
	if !slices.Contains(log, "add-sa 1/inbound") || !slices.Contains(log, "delete-sa 1/inbound") {
		t.Fatalf("the applied inbound SA was not undone: %v", log)
	}
}

func TestDatapathHardLifetimeDeletes(t *testing.T) {
	dp := datapathtest.New()
	e, _ := newTestEngine(t, Options{Datapath: dp})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	id, err := p.run()
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan wfp.IPsecSAContextChange0, 4)
	h, err := api.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(c *wfp.IPsecSAContextChange0) { events <- *c })
	if err != nil {
		t.Fatal(err)
	}
	defer api.IPsecSaContextUnsubscribe0(h)
	dp.Emit(datapath.Event{Kind: datapath.HardLifetime, SA: datapath.SAID{Context: id, Direction: wfp.DirectionOutbound}})
	select {
	case ev := <-events:
		if ev.ChangeType != wfp.SAContextEventDelete || ev.SAContextID != id {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DELETE after the data path's hard lifetime")
	}
	if dp.SAs() != 0 {
		t.Fatalf("SAs left in the data path: %v", dp.Log())
	}
}
