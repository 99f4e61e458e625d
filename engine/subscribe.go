package engine

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sadb-dev/sadb/internal/delivery"
	"github.com/sadb-dev/sadb/wfp"
)

// event is one SA-context change on its way to subscribers. It is queued
// when the change is made (so events keep the order of the changes) and
// released when its transaction commits, or dropped if it aborts.
type event struct {
	kind          wfp.SAContextEventType
	id            uint64
	local, remote netip.Addr
	state         eventState      // guarded by eventBus.mu
	to            []*subscription // decided at commit; guarded by eventBus.mu
}

type eventState uint8

const (
	eventPending eventState = iota
	eventReady
	eventCancelled
)

// eventBus orders events and fans them out to subscriptions.
//
//	tx.event ──▶ queue (pending) ──commit──▶ ready ──dispatcher──▶ subscription queues ──▶ callbacks
type eventBus struct {
	e     *Engine
	nsubs atomic.Int32 // subscriptions open; 0 means events are not even queued

	mu     sync.Mutex // guards fields below
	queue  []*event
	subs   map[*subscription]struct{}
	closed bool

	kickCh chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
}

func (b *eventBus) init(e *Engine) {
	b.e = e
	b.subs = make(map[*subscription]struct{})
	b.kickCh = make(chan struct{}, 1)
	b.done = make(chan struct{})
	b.wg.Add(1)
	go b.dispatch()
}

// event queues an SA-context event for tx. Call it with the context's shard
// locked.
func (tx *txn) event(kind wfp.SAContextEventType, c *saCtx) {
	b := &tx.e.bus
	if b.nsubs.Load() == 0 {
		return
	}
	ev := &event{kind: kind, id: c.id, local: c.outTraffic.LocalAddr(), remote: c.outTraffic.RemoteAddr()}
	b.mu.Lock()
	b.queue = append(b.queue, ev)
	b.mu.Unlock()
	tx.events = append(tx.events, ev)
}

// ready releases ev at commit. Its recipients are decided now, so a
// subscriber's templates and rights are those in force when the change
// committed.
func (b *eventBus) ready(ev *event) {
	b.mu.Lock()
	ev.state = eventReady
	for sub := range b.subs {
		if sub.matches(ev) {
			ev.to = append(ev.to, sub)
		}
	}
	b.mu.Unlock()
}

func (b *eventBus) cancel(ev *event) {
	b.mu.Lock()
	ev.state = eventCancelled
	b.mu.Unlock()
	b.kick()
}

func (b *eventBus) kick() {
	select {
	case b.kickCh <- struct{}{}:
	default:
	}
}

func (b *eventBus) dispatch() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case <-b.kickCh:
		}
		b.mu.Lock()
		n := 0
		for ; n < len(b.queue) && b.queue[n].state != eventPending; n++ {
			ev := b.queue[n]
			if ev.state != eventReady {
				continue
			}
			for _, sub := range ev.to {
				sub.push(wfp.IPsecSAContextChange0{ChangeType: ev.kind, SAContextID: ev.id})
			}
		}
		clear(b.queue[:n])
		b.queue = b.queue[n:]
		b.mu.Unlock()
	}
}

func (b *eventBus) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		b.unsubscribe(s)
	}
	close(b.done)
	b.wg.Wait()
}

// subscription is one IPsecSaContextSubscribe0 registration. Its changes
// reach the callback through a delivery queue: in order, one at a time, on
// a goroutine of the engine.
type subscription struct {
	s             *session
	info          wfp.IPsecSAContextSubscription0
	local, remote subnet
	q             *delivery.Queue[wfp.IPsecSAContextChange0]
}

func (sub *subscription) matches(ev *event) bool {
	if !sub.local.contains(ev.local) || !sub.remote.contains(ev.remote) {
		return false
	}
	return accessCheck(sub.s.e.sadbSD.Load(), &sub.s.tok, wfp.ActrlRead)
}

func (sub *subscription) push(ch wfp.IPsecSAContextChange0) { sub.q.Push(ch) }

func (b *eventBus) unsubscribe(sub *subscription) {
	if sub.q.Stopped() {
		return
	}
	sub.q.Stop() // waits for a running callback
	b.mu.Lock()
	if _, ok := b.subs[sub]; ok {
		delete(b.subs, sub)
		b.nsubs.Add(-1)
	}
	b.mu.Unlock()
	sub.q.Wait()
}

// IPsecSaContextSubscribe0 subscribes to SA context changes.
func (s *session) IPsecSaContextSubscribe0(in *wfp.IPsecSAContextSubscription0, cb wfp.IPsecSAContextCallback0) (wfp.SubscriptionHandle, error) {
	var h uint64
	err := s.run(opNoTxn, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlSubscribe); err != nil {
			return err
		}
		if in == nil || cb == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "subscription and callback are required")
		}
		if in.Flags != 0 {
			return wfp.Errorf(wfp.ErrInvalidFlags, "subscription flags are reserved and must be 0")
		}
		sub := &subscription{s: s, local: subnet{any: true}, remote: subnet{any: true}}
		if t := in.EnumTemplate; t != nil {
			var err error
			if sub.local, err = parseSubnet(&t.LocalSubNet, "enumTemplate.localSubNet"); err != nil {
				return err
			}
			if sub.remote, err = parseSubnet(&t.RemoteSubNet, "enumTemplate.remoteSubNet"); err != nil {
				return err
			}
		}
		sub.info = wfp.IPsecSAContextSubscription0{EnumTemplate: in.EnumTemplate.Clone(), SessionKey: s.info.SessionKey}
		b := &s.e.bus
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return wfp.Errorf(wfp.ErrorServiceNotActive, "the engine is shut down")
		}
		sub.q = delivery.New(func(ch wfp.IPsecSAContextChange0) { cb(&ch) }, func(r any) {
			s.e.log.Error("SA context subscription callback panicked", "panic", r, "session", s.info.SessionKey)
		})
		b.subs[sub] = struct{}{}
		b.nsubs.Add(1)
		b.mu.Unlock()
		h = s.newHandle(sub)
		return nil
	})
	return wfp.SubscriptionHandle(h), err
}

// IPsecSaContextUnsubscribe0 ends a subscription, waiting for a running
// callback to return.
func (s *session) IPsecSaContextUnsubscribe0(h wfp.SubscriptionHandle) error {
	return s.run(opNoTxn, func(tx *txn) error {
		if h == 0 {
			return nil
		}
		sub, ok := s.handle(uint64(h)).(*subscription)
		if !ok {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not a subscription of this session", h)
		}
		s.dropHandle(uint64(h))
		s.e.bus.unsubscribe(sub)
		return nil
	})
}

// IPsecSaContextSubscriptionsGet0 lists every session's subscriptions.
func (s *session) IPsecSaContextSubscriptionsGet0() ([]*wfp.IPsecSAContextSubscription0, error) {
	var out []*wfp.IPsecSAContextSubscription0
	err := s.run(0, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlRead); err != nil {
			return err
		}
		b := &s.e.bus
		b.mu.Lock()
		for sub := range b.subs {
			c := sub.info
			c.EnumTemplate = sub.info.EnumTemplate.Clone()
			out = append(out, &c)
		}
		b.mu.Unlock()
		return nil
	})
	return out, err
}
