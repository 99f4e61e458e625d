package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// lockMode is how a call or transaction holds the engine's transaction lock.
//
//	modeIS: an implicit read (one call outside an explicit transaction)
//	modeIX: an implicit write
//	modeS:  an explicit read-only transaction
//	modeX:  an explicit read/write transaction
//
// Compatibility (✓ = may be held together):
//
//	      IS  IX  S   X
//	IS    ✓   ✓   ✓
//	IX    ✓   ✓
//	S     ✓       ✓
//	X
//
// Implicit calls run concurrently with each other (each is atomic on its own
// through finer locks), a read-only transaction sees no writes while it is
// open, and a read/write transaction runs alone: WFP's "one writer at a time".
type lockMode uint8

const (
	modeIS lockMode = iota
	modeIX
	modeS
	modeX
)

// The block bits stop implicit calls from entering.
const (
	blockIX uint32 = 1 << iota // an S or X transaction holds or wants the lock
	blockIS                    // an X transaction holds or wants the lock
)

const lockSlots = 16

// txnLock is the engine-wide transaction lock. Implicit calls (IS, IX) take
// it on a fast path: an atomic counter in one of several slots, so parallel
// calls do not fight over one cache line. Explicit transactions (S, X) queue
// in FIFO order under mu, first raising the block bits so that no new
// implicit call enters, then waiting for the implicit calls in flight to
// drain from the slots.
type txnLock struct {
	slots [lockSlots]lockSlot
	block atomic.Uint32 // blockIX | blockIS

	drainCh chan struct{} // capacity 1: an implicit call left while blocked

	mu      sync.Mutex // guards fields below
	held    [4]int     // explicit holders (only modeS and modeX are used)
	waiters []*lockWaiter
	unblock chan struct{} // closed when block bits are cleared
}

type lockSlot struct {
	n [2]atomic.Int64 // holders in modeIS, modeIX
	_ [48]byte
}

type lockWaiter struct {
	mode     lockMode
	admitted chan struct{} // closed when it reaches the head and fits the explicit holders
	done     bool          // admitted or gave up; guarded by txnLock.mu
}

func (l *txnLock) init() {
	l.drainCh = make(chan struct{}, 1)
	l.unblock = make(chan struct{})
}

func blockBit(m lockMode) uint32 {
	if m == modeIX {
		return blockIX
	}
	return blockIS
}

// acquireShared takes the lock in mode IS or IX on slot, waiting at most
// wait (negative: forever; zero: not at all). It reports false on timeout.
func (l *txnLock) acquireShared(m lockMode, slot int, wait time.Duration) bool {
	bit := blockBit(m)
	n := &l.slots[slot%lockSlots].n[m]
	var timeout <-chan time.Time
	for {
		if l.block.Load()&bit == 0 {
			n.Add(1)
			if l.block.Load()&bit == 0 {
				return true
			}
			n.Add(-1) // an explicit transaction arrived: step back
			l.signalDrain()
		}
		if wait == 0 {
			return false
		}
		l.mu.Lock()
		if l.block.Load()&bit == 0 {
			l.mu.Unlock()
			continue
		}
		ch := l.unblock
		l.mu.Unlock()
		if timeout == nil && wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-timeout:
			return false
		}
	}
}

// releaseShared gives back an IS or IX hold taken on slot.
func (l *txnLock) releaseShared(m lockMode, slot int) {
	l.slots[slot%lockSlots].n[m].Add(-1)
	if l.block.Load() != 0 {
		l.signalDrain()
	}
}

func (l *txnLock) signalDrain() {
	select {
	case l.drainCh <- struct{}{}:
	default:
	}
}

// implicitHolders counts implicit holders in mode m.
func (l *txnLock) implicitHolders(m lockMode) int64 {
	var sum int64
	for i := range l.slots {
		sum += l.slots[i].n[m].Load()
	}
	return sum
}

// acquireExcl takes the lock in mode S or X. It reports false on timeout.
func (l *txnLock) acquireExcl(m lockMode, wait time.Duration) bool {
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	w := &lockWaiter{mode: m, admitted: make(chan struct{})}
	l.mu.Lock()
	l.waiters = append(l.waiters, w)
	l.updateBlockLocked()
	l.admitLocked()
	l.mu.Unlock()

	// Phase 1: wait for our turn among explicit transactions.
	if !w.doneAdmitted() {
		if wait == 0 {
			l.giveUp(w)
			return false
		}
		var timeout <-chan time.Time
		if wait > 0 {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-w.admitted:
		case <-timeout:
			if !l.giveUp(w) { // admitted just as the timer fired
				break
			}
			return false
		}
	}
	// Phase 2: wait for implicit calls in flight to leave.
	for {
		busy := l.implicitHolders(modeIX) > 0
		if m == modeX && !busy {
			busy = l.implicitHolders(modeIS) > 0
		}
		if !busy {
			return true
		}
		if wait >= 0 && (wait == 0 || !time.Now().Before(deadline)) {
			l.releaseExcl(m)
			return false
		}
		select {
		case <-l.drainCh:
		case <-time.After(time.Millisecond):
		}
	}
}

func (w *lockWaiter) doneAdmitted() bool {
	select {
	case <-w.admitted:
		return true
	default:
		return false
	}
}

// giveUp removes a waiter that timed out. It reports false if the waiter had
// been admitted meanwhile (and then holds the lock's explicit part).
func (l *txnLock) giveUp(w *lockWaiter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.done {
		return false
	}
	w.done = true
	for i, x := range l.waiters {
		if x == w {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			break
		}
	}
	l.updateBlockLocked()
	l.admitLocked()
	return true
}

// releaseExcl gives back an S or X hold.
func (l *txnLock) releaseExcl(m lockMode) {
	l.mu.Lock()
	l.held[m]--
	if l.held[m] < 0 {
		l.mu.Unlock()
		panic("engine: txnLock released more than acquired")
	}
	l.admitLocked()
	l.updateBlockLocked()
	l.mu.Unlock()
}

// admitLocked admits waiters from the head of the queue while they fit the
// explicit holders. The caller holds l.mu.
func (l *txnLock) admitLocked() {
	for len(l.waiters) > 0 {
		w := l.waiters[0]
		if l.held[modeX] > 0 || (w.mode == modeX && l.held[modeS] > 0) {
			return
		}
		l.waiters = l.waiters[1:]
		l.held[w.mode]++
		w.done = true
		close(w.admitted)
	}
}

// updateBlockLocked sets the block bits from the explicit holders and
// waiters, and wakes blocked implicit calls when bits are cleared. The
// caller holds l.mu.
func (l *txnLock) updateBlockLocked() {
	var b uint32
	if l.held[modeS] > 0 {
		b |= blockIX
	}
	if l.held[modeX] > 0 {
		b |= blockIX | blockIS
	}
	for _, w := range l.waiters {
		if w.mode == modeX {
			b |= blockIX | blockIS
		} else {
			b |= blockIX
		}
	}
	if old := l.block.Swap(b); old&^b != 0 {
		close(l.unblock)
		l.unblock = make(chan struct{})
	}
}

// acquire takes the lock in any mode; slot matters for IS and IX only.
func (l *txnLock) acquire(m lockMode, slot int, wait time.Duration) bool {
	if m <= modeIX {
		return l.acquireShared(m, slot, wait)
	}
	return l.acquireExcl(m, wait)
}

// release gives back a hold taken by acquire.
func (l *txnLock) release(m lockMode, slot int) {
	if m <= modeIX {
		l.releaseShared(m, slot)
		return
	}
	l.releaseExcl(m)
}
