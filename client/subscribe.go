package client

import (
	"sync"

	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/internal/wire"
	"github.com/sadb-dev/sadb/wfp"
)

// subscription delivers one subscription's changes to its callback, in
// order, one at a time, on a goroutine of its own.
type subscription struct {
	cb wfp.IPsecSAContextCallback0

	mu      sync.Mutex // guards q and stopped
	q       []wfp.IPsecSAContextChange0
	stopped bool

	wake chan struct{} // capacity 1
	done chan struct{} // closed by stop
	cbMu sync.Mutex    // held while the callback runs
	exit chan struct{} // closed when the goroutine has returned
}

func newSubscription(cb wfp.IPsecSAContextCallback0) *subscription {
	sub := &subscription{cb: cb, wake: make(chan struct{}, 1), done: make(chan struct{}), exit: make(chan struct{})}
	go sub.run()
	return sub
}

func (sub *subscription) push(ch wfp.IPsecSAContextChange0) {
	sub.mu.Lock()
	if !sub.stopped {
		sub.q = append(sub.q, ch)
	}
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

func (sub *subscription) run() {
	defer close(sub.exit)
	for {
		select {
		case <-sub.done:
			return
		case <-sub.wake:
		}
		for {
			sub.mu.Lock()
			if sub.stopped || len(sub.q) == 0 {
				sub.mu.Unlock()
				break
			}
			ch := sub.q[0]
			sub.q = sub.q[1:]
			sub.mu.Unlock()
			sub.cbMu.Lock()
			if !sub.isStopped() {
				sub.cb(&ch)
			}
			sub.cbMu.Unlock()
		}
	}
}

func (sub *subscription) isStopped() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.stopped
}

// stop ends delivery and waits for a running callback.
func (sub *subscription) stop() {
	sub.mu.Lock()
	if sub.stopped {
		sub.mu.Unlock()
		return
	}
	sub.stopped = true
	sub.q = nil
	sub.mu.Unlock()
	close(sub.done)
	sub.cbMu.Lock()
	sub.cbMu.Unlock()
}

func (s *session) IPsecSaContextSubscribe0(in *wfp.IPsecSAContextSubscription0, cb wfp.IPsecSAContextCallback0) (wfp.SubscriptionHandle, error) {
	if in != nil && cb == nil {
		return 0, wfp.Errorf(wfp.ErrNullPointer, "callback is nil")
	}
	var sub *subscription
	if in != nil {
		sub = newSubscription(cb)
	}
	r, err := s.callHook(&pb.Call{Op: &pb.Call_SaContextSubscribe{SaContextSubscribe: wire.SubscriptionPB(in)}}, func(r *pb.Reply) {
		if r.GetStatus() == 0 && sub != nil {
			s.mu.Lock()
			s.subs[r.GetHandle().GetHandle()] = sub
			s.mu.Unlock()
		}
	})
	if err != nil {
		if sub != nil {
			sub.stop()
		}
		return 0, err
	}
	return wfp.SubscriptionHandle(r.GetHandle().GetHandle()), nil
}

func (s *session) IPsecSaContextUnsubscribe0(h wfp.SubscriptionHandle) error {
	err := s.simple(&pb.Call{Op: &pb.Call_SaContextUnsubscribe{SaContextUnsubscribe: &pb.Handle{Handle: uint64(h)}}})
	if err != nil || h == 0 {
		return err
	}
	s.mu.Lock()
	sub := s.subs[uint64(h)]
	delete(s.subs, uint64(h))
	s.mu.Unlock()
	if sub != nil {
		sub.stop()
	}
	return nil
}

func (s *session) IPsecSaContextSubscriptionsGet0() ([]*wfp.IPsecSAContextSubscription0, error) {
	r, err := s.call(&pb.Call{Op: &pb.Call_SaContextSubscriptionsGet{SaContextSubscriptionsGet: &pb.Empty{}}})
	if err != nil {
		return nil, err
	}
	ms := r.GetSubscriptions().GetSubscriptions()
	out := make([]*wfp.IPsecSAContextSubscription0, len(ms))
	for i, m := range ms {
		if out[i], err = wire.SubscriptionFromPB(m); err != nil || out[i] == nil {
			return nil, badReply("subscription", err)
		}
	}
	return out, nil
}

// keyManager delivers KeyNotify calls in order on a goroutine of its own.
type keyManager struct {
	notify func(in, out *wfp.IPsecSADetails1)

	mu      sync.Mutex // guards q and stopped
	q       [][2]*wfp.IPsecSADetails1
	stopped bool
	wake    chan struct{}
	done    chan struct{}
	cbMu    sync.Mutex
}

func newKeyManager(notify func(in, out *wfp.IPsecSADetails1)) *keyManager {
	km := &keyManager{notify: notify, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go km.run()
	return km
}

func (km *keyManager) push(in, out *wfp.IPsecSADetails1) {
	km.mu.Lock()
	if !km.stopped {
		km.q = append(km.q, [2]*wfp.IPsecSADetails1{in, out})
	}
	km.mu.Unlock()
	select {
	case km.wake <- struct{}{}:
	default:
	}
}

func (km *keyManager) run() {
	for {
		select {
		case <-km.done:
			return
		case <-km.wake:
		}
		for {
			km.mu.Lock()
			if km.stopped || len(km.q) == 0 {
				km.mu.Unlock()
				break
			}
			it := km.q[0]
			km.q = km.q[1:]
			km.mu.Unlock()
			km.cbMu.Lock()
			if km.notify != nil {
				km.notify(it[0], it[1])
			}
			km.cbMu.Unlock()
		}
	}
}

func (km *keyManager) stop() {
	km.mu.Lock()
	if km.stopped {
		km.mu.Unlock()
		return
	}
	km.stopped = true
	km.q = nil
	km.mu.Unlock()
	close(km.done)
	km.cbMu.Lock()
	km.cbMu.Unlock()
}

func (s *session) IPsecKeyManagerAddAndRegister0(k *wfp.IPsecKeyManager0, cbs *wfp.IPsecKeyManagerCallbacks0) (wfp.KeyManagerHandle, error) {
	m := &pb.KeyManagerRegister{KeyManager: wire.KeyManagerPB(k), HasKeyManager: k != nil, HasCallbacks: cbs != nil}
	var km *keyManager
	if cbs != nil {
		m.KeyDictationCheck, m.KeyDictation, m.KeyNotify = cbs.KeyDictationCheck != nil, cbs.KeyDictation != nil, cbs.KeyNotify != nil
		if cbs.KeyNotify != nil {
			km = newKeyManager(cbs.KeyNotify)
		}
	}
	r, err := s.callHook(&pb.Call{Op: &pb.Call_KeyManagerAddAndRegister{KeyManagerAddAndRegister: m}}, func(r *pb.Reply) {
		if r.GetStatus() == 0 && km != nil {
			s.mu.Lock()
			s.kms[r.GetHandle().GetHandle()] = km
			s.mu.Unlock()
		}
	})
	if err != nil {
		if km != nil {
			km.stop()
		}
		return 0, err
	}
	return wfp.KeyManagerHandle(r.GetHandle().GetHandle()), nil
}

func (s *session) IPsecKeyManagerUnregisterAndDelete0(h wfp.KeyManagerHandle) error {
	if err := s.simple(&pb.Call{Op: &pb.Call_KeyManagerUnregisterAndDelete{KeyManagerUnregisterAndDelete: &pb.Handle{Handle: uint64(h)}}}); err != nil {
		return err
	}
	s.mu.Lock()
	km := s.kms[uint64(h)]
	delete(s.kms, uint64(h))
	s.mu.Unlock()
	if km != nil {
		km.stop()
	}
	return nil
}

func (s *session) IPsecKeyManagersGet0() ([]*wfp.IPsecKeyManager0, error) {
	r, err := s.call(&pb.Call{Op: &pb.Call_KeyManagersGet{KeyManagersGet: &pb.Empty{}}})
	if err != nil {
		return nil, err
	}
	ms := r.GetKeyManagers().GetKeyManagers()
	out := make([]*wfp.IPsecKeyManager0, len(ms))
	for i, m := range ms {
		if out[i], err = wire.KeyManagerFromPB(m); err != nil || out[i] == nil {
			return nil, badReply("key manager", err)
		}
	}
	return out, nil
}
