package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// session is one open session: it implements wfp.API.
//
// Calls outside an explicit transaction run concurrently. Calls inside one
// are serialized by txnMu, because they share the transaction's undo log.
type session struct {
	e       *Engine
	tok     wfp.Token
	info    wfp.FwpmSession0
	dynamic bool
	wait    time.Duration // transaction-lock wait; negative: forever
	slot    int           // the transaction lock's fast-path slot for this session's calls

	closed atomic.Bool

	txnMu sync.Mutex // held by calls running in the explicit transaction, and by Begin/Commit/Abort

	txn atomic.Pointer[txn] // the explicit transaction, nil outside one; changed under txnMu

	// spareTx is an implicit transaction kept for this session's next call:
	// a session's calls mostly come one after another, and taking it back
	// is cheaper than the shared pool. Calls made at once share the pool.
	spareTx atomic.Pointer[txn]

	gets getCache // reuses IPsecSaContextGetById1 results given back

	mu      sync.Mutex     // guards fields below
	handles map[uint64]any // enumeration handles, subscriptions, key-manager registrations
	// handlesClosed is set when FwpmEngineClose0 has released the handles.
	handlesClosed bool
	dynFilters    map[uint64]struct{} // filters a dynamic session added
}

var _ wfp.API = (*session)(nil)

// opFlags describe a call for the common prologue.
type opFlags uint8

const (
	opWrite     opFlags = 1 << iota // changes state: IX lock, refused in read-only transactions
	opNoTxn                         // refused inside an explicit transaction
	opNoDynamic                     // refused in a dynamic session
)

// run executes fn in the session's explicit transaction, or in an implicit
// one. It applies the checks that come before any argument is looked at:
// session open, transaction rules, dynamic-session rules. fn does the access
// check, validation and changes; if it fails, its changes are undone.
func (s *session) run(f opFlags, fn func(tx *txn) error) error {
	if s.closed.Load() {
		return errClosed
	}
	if tx := s.currentTxn(); tx != nil {
		s.txnMu.Lock()
		defer s.txnMu.Unlock()
		if s.currentTxn() == tx { // not committed or aborted meanwhile
			if tx.aborted.Load() {
				s.clearTxn(tx)
				return wfp.Errorf(wfp.ErrTxnAborted, "the transaction held the lock longer than %v and was aborted", s.e.lockTimeout)
			}
			if f&opNoTxn != 0 {
				return wfp.Errorf(wfp.ErrTxnInProgress, "not allowed inside an explicit transaction")
			}
			if f&opWrite != 0 && tx.readOnly {
				return wfp.Errorf(wfp.ErrIncompatibleTxn, "not allowed inside a read-only transaction")
			}
			if f&opNoDynamic != 0 && s.dynamic {
				return wfp.Errorf(wfp.ErrDynamicSessionInProgress, "not allowed in a dynamic session")
			}
			sp := tx.savepoint()
			if err := fn(tx); err != nil {
				tx.rollbackTo(sp)
				return err
			}
			return nil
		}
	}
	if f&opNoDynamic != 0 && s.dynamic {
		return wfp.Errorf(wfp.ErrDynamicSessionInProgress, "not allowed in a dynamic session")
	}
	return s.e.implicit(s.slot, s, f&opWrite != 0, s.wait, fn)
}

// implicit runs fn in an implicit transaction of its own.
func (e *Engine) implicit(slot int, s *session, write bool, wait time.Duration, fn func(tx *txn) error) error {
	mode := modeIS
	if write {
		if e.storeFailed.Load() {
			return wfp.Errorf(wfp.ErrInternal, "%v", errStoreFailed)
		}
		mode = modeIX
	}
	if !e.gate.acquire(mode, slot, wait) {
		return wfp.Errorf(wfp.ErrTimeout, "waited %v for the transaction lock", wait)
	}
	defer e.gate.release(mode, slot)
	tx := newImplicitTxn(e, s, slot, mode)
	defer tx.recycle()
	if err := fn(tx); err != nil {
		tx.abort()
		return err
	}
	return tx.commit()
}

func (s *session) currentTxn() *txn { return s.txn.Load() }

// clearTxn ends tx as the session's transaction. The caller holds s.txnMu.
func (s *session) clearTxn(tx *txn) { s.txn.CompareAndSwap(tx, nil) }

var errClosed = wfp.Errorf(wfp.ErrorInvalidHandle, "the session is closed")

// Session returns the session's parameters.
func (s *session) Session() wfp.FwpmSession0 { return s.info }

// FwpmTransactionBegin0 begins an explicit transaction.
func (s *session) FwpmTransactionBegin0(flags uint32) error {
	if s.closed.Load() {
		return errClosed
	}
	s.txnMu.Lock()
	defer s.txnMu.Unlock()
	if cur := s.currentTxn(); cur != nil {
		if cur.aborted.Load() {
			s.clearTxn(cur)
			return wfp.Errorf(wfp.ErrTxnAborted, "the previous transaction was forcibly aborted")
		}
		return wfp.Errorf(wfp.ErrTxnInProgress, "a transaction is already in progress in this session")
	}
	right, mode := wfp.ActrlBeginWriteTxn, modeX
	if flags&wfp.TxnReadOnly != 0 {
		right, mode = wfp.ActrlBeginReadTxn, modeS
	}
	if err := s.checkEngine(right); err != nil {
		return err
	}
	if flags&^wfp.TxnReadOnly != 0 {
		return wfp.Errorf(wfp.ErrInvalidFlags, "transaction flags 0x%X include undefined bits", flags&^wfp.TxnReadOnly)
	}
	if mode == modeX && s.e.storeFailed.Load() {
		return wfp.Errorf(wfp.ErrInternal, "%v", errStoreFailed)
	}
	if !s.e.gate.acquire(mode, 0, s.wait) {
		return wfp.Errorf(wfp.ErrTimeout, "waited %v for the transaction lock", s.wait)
	}
	tx := &txn{e: s.e, sess: s, slot: s.slot, explicit: true, readOnly: mode == modeS, mode: mode}
	tx.lockTmr = s.e.clk.AfterFunc(s.e.lockTimeout, func() { s.forceAbort(tx) })
	s.txn.Store(tx)
	return nil
}

// forceAbort ends tx when it has held the lock too long.
func (s *session) forceAbort(tx *txn) {
	s.txnMu.Lock()
	defer s.txnMu.Unlock()
	if s.currentTxn() != tx || tx.finished {
		return
	}
	tx.abort()
	tx.finished = true
	s.e.gate.release(tx.mode, 0)
	tx.aborted.Store(true) // the session keeps it so that the next call reports it
	s.e.log.Warn("transaction forcibly aborted after lock timeout", "session", s.info.SessionKey, "timeout", s.e.lockTimeout)
}

// FwpmTransactionCommit0 commits the explicit transaction.
func (s *session) FwpmTransactionCommit0() error {
	return s.endTxn(true)
}

// FwpmTransactionAbort0 aborts the explicit transaction.
func (s *session) FwpmTransactionAbort0() error {
	return s.endTxn(false)
}

func (s *session) endTxn(commit bool) error {
	if s.closed.Load() {
		return errClosed
	}
	s.txnMu.Lock()
	defer s.txnMu.Unlock()
	tx := s.currentTxn()
	if tx == nil {
		return wfp.Errorf(wfp.ErrNoTxnInProgress, "no transaction is in progress in this session")
	}
	if tx.aborted.Load() {
		s.clearTxn(tx)
		return wfp.Errorf(wfp.ErrTxnAborted, "the transaction held the lock longer than %v and was aborted", s.e.lockTimeout)
	}
	var err error
	if commit {
		err = tx.commit()
	} else {
		tx.abort()
	}
	s.finishTxn(tx)
	return err
}

// finishTxn releases an explicit transaction's lock. The caller holds s.txnMu.
func (s *session) finishTxn(tx *txn) {
	tx.finished = true
	if tx.lockTmr != nil {
		tx.lockTmr.Stop()
	}
	s.e.gate.release(tx.mode, 0)
	s.clearTxn(tx)
}

// FwpmEngineClose0 closes the session.
func (s *session) FwpmEngineClose0() error {
	if !s.closed.CompareAndSwap(false, true) {
		return errClosed
	}
	s.txnMu.Lock()
	if tx := s.currentTxn(); tx != nil {
		if !tx.finished {
			tx.abort()
			s.finishTxn(tx)
		} else {
			s.clearTxn(tx)
		}
	}
	s.txnMu.Unlock()

	s.mu.Lock()
	handles := s.handles
	s.handles = map[uint64]any{}
	s.handlesClosed = true
	dyn := s.dynFilters
	s.dynFilters = nil
	s.mu.Unlock()
	for _, h := range handles {
		s.releaseHandle(h)
	}
	if len(dyn) > 0 {
		s.e.deleteDynamicFilters(s, dyn)
	}
	s.e.sessMu.Lock()
	delete(s.e.sessions, s.info.SessionKey)
	s.e.sessMu.Unlock()
	return nil
}

// newHandle registers h and returns its number. If the session has closed
// meanwhile (a call racing FwpmEngineClose0), h is released at once and the
// number names nothing.
func (s *session) newHandle(h any) uint64 {
	n := s.e.nextHandle.Add(1)
	s.mu.Lock()
	closed := s.handlesClosed
	if !closed {
		s.handles[n] = h
	}
	s.mu.Unlock()
	if closed {
		s.releaseHandle(h)
	}
	return n
}

// releaseHandle undoes what handle object h holds in the engine: the
// subscription, the key-manager registration, the enumeration's snapshot.
func (s *session) releaseHandle(h any) {
	switch h := h.(type) {
	case *subscription:
		s.e.bus.unsubscribe(h)
	case *kmRegistration:
		s.e.kms.remove(h)
	case interface{ release(*Engine) }: // an enumeration's snapshot
		h.release(s.e)
	}
}

func (s *session) handle(n uint64) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handles[n]
}

func (s *session) dropHandle(n uint64) {
	s.mu.Lock()
	delete(s.handles, n)
	s.mu.Unlock()
}
