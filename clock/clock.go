// Package clock is the time source of the engine: lifetimes, idle timeouts,
// the inbound linger after IPsecSaContextExpire0 and transaction timeouts all
// read it, so tests can move time instead of sleeping.
package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock tells the time and runs functions later. Implementations are safe for
// concurrent use.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (System) or in the goroutine
	// that advances the clock (Fake) once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started, and reports whether it did.
	Stop() bool
}

// System is the real clock.
func System() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time                            { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Fake is a manual clock for tests. Time moves only when Advance or Set is
// called; due timers then run, in deadline order, in the caller's goroutine
// before Advance returns. The zero value is not usable; call NewFake.
type Fake struct {
	mu  sync.Mutex // guards fields below
	now time.Time
	seq uint64
	q   timerQueue
}

// NewFake returns a fake clock reading t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d. A d <= 0 runs at the next Advance.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	heap.Push(&c.q, t)
	return t
}

// Advance moves the clock forward by d and runs every timer that falls due,
// including timers that those timers schedule within the window.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.runUntil(target)
}

// Set moves the clock to t (never backwards) and runs due timers.
func (c *Fake) Set(t time.Time) {
	c.runUntil(t)
}

// Pending returns the number of timers not yet run or stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.Len()
}

func (c *Fake) runUntil(target time.Time) {
	for {
		c.mu.Lock()
		if c.q.Len() == 0 || c.q[0].when.After(target) {
			if target.After(c.now) {
				c.now = target
			}
			c.mu.Unlock()
			return
		}
		t := heap.Pop(&c.q).(*fakeTimer)
		if t.when.After(c.now) {
			c.now = t.when
		}
		t.fired = true
		c.mu.Unlock()
		t.f()
	}
}

type fakeTimer struct {
	c     *Fake
	when  time.Time
	seq   uint64
	f     func()
	index int  // in c.q; guarded by c.mu
	fired bool // guarded by c.mu
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.fired || t.index < 0 {
		return false
	}
	heap.Remove(&t.c.q, t.index)
	return true
}

type timerQueue []*fakeTimer

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].when.Equal(q[j].when) {
		return q[i].seq < q[j].seq
	}
	return q[i].when.Before(q[j].when)
}
func (q timerQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *timerQueue) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *timerQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*q = old[:len(old)-1]
	return t
}
