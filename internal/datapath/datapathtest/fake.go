// Package datapathtest provides a fake data path that records what the
// engine programs, can be told to refuse, and can inject events and
// counters, for tests of the engine's data-path plumbing.
package datapathtest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/wfp"
)

// Fake is a datapath.Backend that keeps what it is given in memory.
type Fake struct {
	mu       sync.Mutex // guards fields below
	handler  datapath.Handler
	filters  map[uint64]*wfp.FwpmFilter0
	sas      map[datapath.SAID]*datapath.SA
	counters map[datapath.SAID]wfp.SACounters
	log      []string
	refuse   func(op string, sa *datapath.SA) error
}

var _ datapath.Backend = (*Fake)(nil)

// New returns an empty fake.
func New() *Fake {
	return &Fake{filters: map[uint64]*wfp.FwpmFilter0{}, sas: map[datapath.SAID]*datapath.SA{}, counters: map[datapath.SAID]wfp.SACounters{}}
}

// Refuse makes the fake fail operations for which f returns an error ("check",
// "add", "update", "delete"; sa is nil for filters). Nil accepts all.
func (f *Fake) Refuse(fn func(op string, sa *datapath.SA) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse = fn
}

func (f *Fake) check(op string, sa *datapath.SA) error {
	if f.refuse != nil {
		return f.refuse(op, sa)
	}
	return nil
}

// Log returns the operations performed, as "add-sa 3/inbound" etc.
func (f *Fake) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// SA returns the installed SA, or nil.
func (f *Fake) SA(id datapath.SAID) *datapath.SA {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sas[id]
}

// SAs returns how many SAs are installed.
func (f *Fake) SAs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sas)
}

// Filters returns how many filters are installed.
func (f *Fake) Filters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.filters)
}

// SetCounters sets what Counters reports for an SA.
func (f *Fake) SetCounters(id datapath.SAID, c wfp.SACounters) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counters[id] = c
}

// Emit sends an event to the engine, as a real backend's goroutine would.
func (f *Fake) Emit(ev datapath.Event) {
	f.mu.Lock()
	h := f.handler
	f.mu.Unlock()
	if h != nil {
		h(ev)
	}
}

func name(id datapath.SAID) string {
	if id.Direction == wfp.DirectionInbound {
		return fmt.Sprintf("%d/inbound", id.Context)
	}
	return fmt.Sprintf("%d/outbound", id.Context)
}

func (f *Fake) Features() datapath.Features {
	return datapath.Features{Packets: true, Tunnel: true, Transport: true, AH: true, ESN: true, UDPEncapsulation: true, ReplayWindow: 64}
}

func (f *Fake) SetHandler(h datapath.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
}

func (f *Fake) AddFilter(flt *wfp.FwpmFilter0) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("add-filter", nil); err != nil {
		return err
	}
	f.filters[flt.FilterID] = flt.Clone()
	f.log = append(f.log, fmt.Sprintf("add-filter %d", flt.FilterID))
	return nil
}

func (f *Fake) DeleteFilter(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("delete-filter", nil); err != nil {
		return err
	}
	delete(f.filters, id)
	f.log = append(f.log, fmt.Sprintf("delete-filter %d", id))
	return nil
}

func (f *Fake) CheckSA(sa *datapath.SA) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.check("check", sa)
}

func copySA(sa *datapath.SA) *datapath.SA {
	c := *sa
	c.Bundle = sa.Bundle.Clone()
	c.Filter = sa.Filter.Clone()
	if sa.UDPEncapsulation != nil {
		u := *sa.UDPEncapsulation
		c.UDPEncapsulation = &u
	}
	return &c
}

func (f *Fake) AddSA(sa *datapath.SA) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("add", sa); err != nil {
		return err
	}
	if _, dup := f.sas[sa.ID]; dup {
		return errors.New("datapathtest: SA already installed")
	}
	f.sas[sa.ID] = copySA(sa)
	f.log = append(f.log, "add-sa "+name(sa.ID))
	return nil
}

func (f *Fake) UpdateSA(sa *datapath.SA) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("update", sa); err != nil {
		return err
	}
	if _, ok := f.sas[sa.ID]; !ok {
		return errors.New("datapathtest: updating an SA that is not installed")
	}
	f.sas[sa.ID] = copySA(sa)
	f.log = append(f.log, "update-sa "+name(sa.ID))
	return nil
}

func (f *Fake) DeleteSA(id datapath.SAID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("delete", &datapath.SA{ID: id}); err != nil {
		return err
	}
	if sa, ok := f.sas[id]; ok {
		for i := range sa.Bundle.SAList {
			sa.Bundle.SAList[i].ZeroKeys()
		}
		delete(f.sas, id)
	}
	f.log = append(f.log, "delete-sa "+name(id))
	return nil
}

func (f *Fake) Counters(id datapath.SAID) (wfp.SACounters, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.counters[id]
	return c, ok
}

func (f *Fake) Statistics(st *wfp.IPsecStatistics1) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.counters {
		st.InboundTrafficStatistics.TotalSuccessfulPackets += c.Packets
	}
}

func (f *Fake) Close() error { return nil }
