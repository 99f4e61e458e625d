package conformance

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// plumb runs the whole sequence on api without testing.TB (for goroutines).
func plumb(api wfp.API, fx *fixture, v wfp.IPVersion, seed byte) (id uint64, spi uint32, err error) {
	tr := fx.outboundTraffic(v)
	id, _, err = api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("create: %w", err)
	}
	spi, err = api.IPsecSaContextGetSpi1(id, fx.inboundGetSpi(v))
	if err != nil {
		return id, 0, fmt.Errorf("GetSpi(%d): %w", id, err)
	}
	in := GCMBundle(v, spi, TestKey(20, seed))
	in.QMSAID = uint32(seed)
	if err := api.IPsecSaContextAddInbound1(id, in); err != nil {
		return id, spi, fmt.Errorf("AddInbound(%d): %w", id, err)
	}
	out := GCMBundle(v, 0x1000+uint32(seed), TestKey(20, ^seed))
	out.QMSAID = uint32(seed)
	if err := api.IPsecSaContextAddOutbound1(id, out); err != nil {
		return id, spi, fmt.Errorf("AddOutbound(%d): %w", id, err)
	}
	return id, spi, nil
}

func (s *suite) concurrency(t *testing.T) {
	s.run(t, "ParallelPlumbing", func(t *testing.T) {
		fx := s.fixture(t)
		const workers, per = 8, 12
		type result struct {
			id  uint64
			spi uint32
		}
		results := make([][]result, workers)
		errs := make(chan error, workers*per+16)
		var wg sync.WaitGroup
		var stop atomic.Bool
		// Readers run while the writers plumb.
		var readers sync.WaitGroup
		for range 2 {
			api := open(t, fx.h, fx.h.Admin(), nil)
			readers.Add(1)
			go func() {
				defer readers.Done()
				for !stop.Load() {
					h, err := api.IPsecSaContextCreateEnumHandle0(nil)
					if err != nil {
						errs <- fmt.Errorf("reader: %w", err)
						return
					}
					cs, err := api.IPsecSaContextEnum1(h, 10000)
					if err != nil {
						errs <- fmt.Errorf("reader: %w", err)
						return
					}
					_ = api.IPsecSaContextDestroyEnumHandle0(h)
					for i, c := range cs {
						if i > 0 && c.SAContextID <= cs[i-1].SAContextID {
							errs <- fmt.Errorf("reader: enumeration not in id order")
							return
						}
						if (c.InboundSA != nil) != (c.State >= wfp.SAContextInboundAdded) || (c.OutboundSA != nil) != (c.State == wfp.SAContextOutboundAdded) {
							errs <- fmt.Errorf("reader: context %d in %v with inbound %v outbound %v", c.SAContextID, c.State, c.InboundSA != nil, c.OutboundSA != nil)
							return
						}
					}
				}
			}()
		}
		for w := range workers {
			api := open(t, fx.h, fx.h.Admin(), nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					v := wfp.IPVersion((w + i) % 2)
					useTxn := i%3 == 2
					var id uint64
					var spi uint32
					var err error
					if useTxn {
						// Create cannot run in a transaction; the rest can.
						tr := fx.outboundTraffic(v)
						id, _, err = api.IPsecSaContextCreate1(&tr, nil)
						if err == nil {
							err = api.FwpmTransactionBegin0(0)
						}
						if err == nil {
							spi, err = api.IPsecSaContextGetSpi1(id, fx.inboundGetSpi(v))
						}
						if err == nil {
							in := GCMBundle(v, spi, TestKey(20, byte(i)))
							err = api.IPsecSaContextAddInbound1(id, in)
						}
						if err == nil {
							err = api.IPsecSaContextAddOutbound1(id, GCMBundle(v, 0x2000, TestKey(20, byte(i+1))))
						}
						if err == nil {
							err = api.FwpmTransactionCommit0()
						}
					} else {
						id, spi, err = plumb(api, fx, v, byte(w*per+i))
					}
					if err != nil {
						errs <- fmt.Errorf("worker %d: %w", w, err)
						return
					}
					results[w] = append(results[w], result{id, spi})
				}
			}()
		}
		wg.Wait()
		stop.Store(true)
		readers.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		spis := map[uint32]uint64{}
		var all []uint64
		for _, rs := range results {
			for _, r := range rs {
				if prev, dup := spis[r.spi]; dup {
					t.Errorf("SPI %#x given to contexts %d and %d", r.spi, prev, r.id)
				}
				spis[r.spi] = r.id
				all = append(all, r.id)
			}
		}
		slices.Sort(all)
		cs := enumContexts(t, fx.api, nil)
		if d := diff(all, ids(cs)); d != "" {
			t.Fatalf("enumerated contexts (-created +enumerated):\n%s", d)
		}
		for _, c := range cs {
			if c.State != wfp.SAContextOutboundAdded || spis[c.InboundSPI] != c.SAContextID {
				t.Errorf("context %d: state %v spi %#x", c.SAContextID, c.State, c.InboundSPI)
			}
		}
		if n := len(enumSAs(t, fx.api, nil)); n != 2*len(all) {
			t.Errorf("%d SAs, want %d", n, 2*len(all))
		}

		// Tear down concurrently: delete half, expire the other half.
		var td sync.WaitGroup
		terrs := make(chan error, len(all))
		for w := range workers {
			api := open(t, fx.h, fx.h.Admin(), nil)
			td.Add(1)
			go func() {
				defer td.Done()
				for i, r := range results[w] {
					var err error
					if i%2 == 0 {
						err = api.IPsecSaContextDeleteById0(r.id)
					} else {
						err = api.IPsecSaContextExpire0(r.id)
					}
					if err != nil {
						terrs <- err
					}
				}
			}()
		}
		td.Wait()
		close(terrs)
		for err := range terrs {
			t.Error(err)
		}
		for _, c := range enumContexts(t, fx.api, nil) {
			if c.State != wfp.SAContextExpired {
				t.Errorf("context %d in %v after teardown", c.SAContextID, c.State)
			}
		}
		fx.h.Advance(61 * time.Second)
		if cs := enumContexts(t, fx.api, nil); len(cs) != 0 {
			t.Errorf("%d contexts after the linger", len(cs))
		}
	})

	s.run(t, "ParallelSessionsOpenClose", func(t *testing.T) {
		fx := s.fixture(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					flags := uint32(0)
					if (w+i)%2 == 0 {
						flags = wfp.SessionFlagDynamic
					}
					api, err := fx.h.Open(fx.h.Admin(), &wfp.FwpmSession0{Flags: flags})
					if err != nil {
						errs <- err
						return
					}
					if _, err := api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4(fmt.Sprintf("198.51.100.%d", 10+w))), nil); err != nil {
						errs <- err
					}
					r := &recorder{}
					if _, err := api.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, r.callback); err != nil {
						errs <- err
					}
					if err := api.FwpmEngineClose0(); err != nil {
						errs <- err
					}
				}
			}()
		}
		// Meanwhile the administrator session keeps plumbing.
		for i := range 10 {
			if _, _, err := plumb(fx.api, fx, wfp.IPVersion(i%2), byte(i)); err != nil {
				t.Error(err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		subs, err := fx.api.IPsecSaContextSubscriptionsGet0()
		mustOK(t, err, "IPsecSaContextSubscriptionsGet0")
		if len(subs) != 0 {
			t.Errorf("%d subscriptions left by closed sessions", len(subs))
		}
		// 4 fixture filters, and 20 static ones (the dynamic ones died).
		if n := len(enumFilters(t, fx.api, nil)); n != 4+20 {
			t.Errorf("%d filters, want 24", n)
		}
	})
}
