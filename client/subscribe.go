package client

import (
	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/internal/delivery"
	"github.com/sadb-dev/sadb/internal/wire"
	"github.com/sadb-dev/sadb/wfp"
)

// subscription delivers one subscription's changes to its callback, in
// order, one at a time, on a goroutine of its own.
type subscription = delivery.Queue[wfp.IPsecSAContextChange0]

func newSubscription(cb wfp.IPsecSAContextCallback0) *subscription {
	return delivery.New(func(ch wfp.IPsecSAContextChange0) { cb(&ch) }, nil)
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
			sub.Stop()
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
		sub.Stop()
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

// keyManager delivers KeyNotify calls, in order, on a goroutine of its own.
type keyManager = delivery.Queue[[2]*wfp.IPsecSADetails1]

func newKeyManager(notify func(in, out *wfp.IPsecSADetails1)) *keyManager {
	return delivery.New(func(p [2]*wfp.IPsecSADetails1) { notify(p[0], p[1]) }, nil)
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
			km.Stop()
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
		km.Stop()
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
