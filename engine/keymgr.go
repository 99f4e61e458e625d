package engine

import (
	"sync"
	"sync/atomic"

	"github.com/sadb-dev/sadb/internal/delivery"
	"github.com/sadb-dev/sadb/wfp"
)

// keyManagers holds the registered key managers (trusted intermediary
// agents). Registrations belong to sessions and are not persisted.
type keyManagers struct {
	n    atomic.Int32 // len(regs), read without the lock on the hot path
	mu   sync.Mutex   // guards regs
	regs []*kmRegistration
}

type kmRegistration struct {
	s   *session
	km  wfp.IPsecKeyManager0
	cbs wfp.IPsecKeyManagerCallbacks0
	// q calls KeyNotify, in order, one at a time.
	q *delivery.Queue[*wfp.IPsecSAContext1]
}

// start launches the registration's notification queue.
func (r *kmRegistration) start(e *Engine) {
	r.q = delivery.New(func(sc *wfp.IPsecSAContext1) { r.cbs.KeyNotify(sc.InboundSA, sc.OutboundSA) },
		func(p any) { e.log.Error("key manager callback panicked", "panic", p) })
}

func (k *keyManagers) remove(r *kmRegistration) {
	k.mu.Lock()
	for i, x := range k.regs {
		if x == r {
			k.regs = append(k.regs[:i], k.regs[i+1:]...)
			k.n.Add(-1)
			break
		}
	}
	k.mu.Unlock()
	r.q.Stop() // a running callback finishes first
	r.q.Wait()
}

// notify queues KeyNotify for context id, whose outbound bundle was just
// added, to every registered manager.
func (k *keyManagers) notify(e *Engine, id uint64) {
	if k.n.Load() == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.regs) == 0 {
		return
	}
	e.ctxs.view(id, func(c *saCtx) {
		if c.in == nil || c.out == nil {
			return
		}
		for _, r := range k.regs {
			r.q.Push(e.export(c, r.s.mayReadKeys()))
		}
	})
}

// IPsecKeyManagerAddAndRegister0 registers a key manager.
func (s *session) IPsecKeyManagerAddAndRegister0(km *wfp.IPsecKeyManager0, cbs *wfp.IPsecKeyManagerCallbacks0) (wfp.KeyManagerHandle, error) {
	var h uint64
	err := s.run(opWrite|opNoTxn, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlAdd); err != nil {
			return err
		}
		if km == nil || cbs == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "keyManager and keyManagerCallbacks are required")
		}
		if km.Flags&^wfp.KeyManagerFlagDictateKey != 0 {
			return wfp.Errorf(wfp.ErrInvalidFlags, "key manager flags 0x%X have undefined bits", km.Flags&^wfp.KeyManagerFlagDictateKey)
		}
		if km.KeyDictationTimeoutHint > wfp.KeyDictationTimeoutMax {
			return wfp.Errorf(wfp.ErrInvalidInterval, "keyDictationTimeoutHint %d s exceeds %d s", km.KeyDictationTimeoutHint, wfp.KeyDictationTimeoutMax)
		}
		dictates := km.Flags&wfp.KeyManagerFlagDictateKey != 0
		if cbs.KeyNotify == nil {
			return wfp.Errorf(wfp.ErrNullPointer, "keyNotify is required")
		}
		if dictates && (cbs.KeyDictationCheck == nil || cbs.KeyDictation == nil) {
			return wfp.Errorf(wfp.ErrNullPointer, "a dictating key manager needs all three callbacks")
		}
		if !dictates && (cbs.KeyDictationCheck != nil || cbs.KeyDictation != nil) {
			return wfp.Errorf(wfp.ErrInvalidParameter, "only keyNotify may be given without IPSEC_KEY_MANAGER_FLAG_DICTATE_KEY")
		}
		if len(km.DisplayData.Name) > maxNameLen || len(km.DisplayData.Description) > 4*maxNameLen {
			return wfp.Errorf(wfp.ErrOutOfBounds, "display data is too long")
		}
		r := &kmRegistration{s: s, km: *km, cbs: *cbs}
		if r.km.KeyManagerKey.IsZero() {
			r.km.KeyManagerKey = wfp.NewGUID()
		}
		if r.km.KeyDictationTimeoutHint == 0 {
			r.km.KeyDictationTimeoutHint = wfp.KeyDictationTimeoutDefault
		}
		k := &s.e.kms
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, x := range k.regs {
			if x.km.KeyManagerKey == r.km.KeyManagerKey {
				return wfp.Errorf(wfp.ErrAlreadyExists, "key manager %s is already registered", r.km.KeyManagerKey)
			}
			if dictates && x.km.Flags&wfp.KeyManagerFlagDictateKey != 0 {
				return wfp.Errorf(wfp.ErrAlreadyExists, "another key manager (%s) already dictates keys", x.km.KeyManagerKey)
			}
		}
		r.start(s.e)
		k.regs = append(k.regs, r)
		k.n.Add(1)
		h = s.newHandle(r)
		return nil
	})
	return wfp.KeyManagerHandle(h), err
}

// IPsecKeyManagerUnregisterAndDelete0 unregisters a key manager.
func (s *session) IPsecKeyManagerUnregisterAndDelete0(h wfp.KeyManagerHandle) error {
	return s.run(opWrite|opNoTxn, func(tx *txn) error {
		r, ok := s.handle(uint64(h)).(*kmRegistration)
		if !ok {
			return wfp.Errorf(wfp.ErrorInvalidHandle, "%d is not a key manager registration of this session", h)
		}
		s.dropHandle(uint64(h))
		s.e.kms.remove(r)
		return nil
	})
}

// IPsecKeyManagersGet0 lists the registered key managers.
func (s *session) IPsecKeyManagersGet0() ([]*wfp.IPsecKeyManager0, error) {
	var out []*wfp.IPsecKeyManager0
	err := s.run(0, func(tx *txn) error {
		if err := s.checkSADB(wfp.ActrlRead); err != nil {
			return err
		}
		k := &s.e.kms
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, r := range k.regs {
			km := r.km
			out = append(out, &km)
		}
		return nil
	})
	return out, err
}
