package engine

import (
	"container/heap"
	"sync"
	"time"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/wfp"
)

// timerShards spreads the deadline heaps so parallel plumbing does not queue
// on one mutex.
const timerShards = 8

// timers is the engine's deadline keeper: one scheduler per shard of
// context ids.
type timers struct {
	shards [timerShards]scheduler
}

func (t *timers) init(e *Engine) {
	for i := range t.shards {
		t.shards[i].e = e
	}
}

func (t *timers) schedule(id uint64)         { t.shards[id%timerShards].schedule(id) }
func (t *timers) unschedule(slot *timerSlot) { t.shards[slot.id%timerShards].unschedule(slot) }

func (t *timers) stop() {
	for i := range t.shards {
		t.shards[i].stop()
	}
}

// scheduler runs the deadlines of a shard of contexts: SA lifetimes, idle
// timeouts and the end of an expired context's linger. It keeps one clock
// timer, armed for the earliest deadline. Entries may be stale (the context
// changed); expireLocked re-reads the context and decides.
type scheduler struct {
	e *Engine

	mu      sync.Mutex // guards fields below
	h       deadlineHeap
	tmr     clock.Timer
	armed   time.Time // when tmr fires; zero when not armed
	stopped bool
}

// timerSlot is a context's place in the deadline heap. Every version of a
// context shares its slot, so a context is in the heap at most once and
// leaves it when deleted.
type timerSlot struct {
	id    uint64
	at    time.Time // guarded by scheduler.mu
	index int       // position in scheduler.h, -1 when absent; guarded by scheduler.mu

	// room is where the context's next versions go while it has room
	// left (see ctxRoom); nil after that. Guarded by the context's shard
	// lock, like every change of the context. The slot, shared by all
	// versions, carries it so that a version does not grow by a pointer.
	room *ctxRoom

	// The blocks the context owns, given back when it is deleted (see
	// reuse.go): its room, AddOutbound's version with the outbound bundle,
	// and the first inbound bundle. Nil when there is none, or it is not
	// to be given back. Guarded by the context's shard lock.
	home  *ctxRoom
	vwb   *versionWithBundle
	inBlk *bundleBlock
}

// newTimerSlot makes the slot of context id, in a given-back block when
// there is one.
func newTimerSlot(id uint64) *timerSlot {
	t := slotPool.Get().(*timerSlot)
	t.id, t.index = id, -1
	return t
}

// schedule records context id's next deadline, if it has one. It holds the
// context's shard lock while it reads the context and places its slot, so
// a delete (whose commit takes the slot out of the heap and may give it
// back) comes entirely before or after.
func (s *scheduler) schedule(id uint64) {
	s.e.ctxs.view(id, func(c *saCtx) {
		at, ok := s.e.nextDeadline(c)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stopped {
			return
		}
		slot := c.tslot
		slot.at = at
		if slot.index >= 0 {
			heap.Fix(&s.h, slot.index)
		} else {
			heap.Push(&s.h, slot)
		}
		s.armLocked()
	})
}

// unschedule removes a deleted context's slot from the heap.
func (s *scheduler) unschedule(slot *timerSlot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot.index >= 0 {
		heap.Remove(&s.h, slot.index)
	}
}

// armLocked points the timer at the earliest deadline. The caller holds s.mu.
func (s *scheduler) armLocked() {
	if len(s.h) == 0 {
		return
	}
	first := s.h[0].at
	if !s.armed.IsZero() && !first.Before(s.armed) {
		return
	}
	if s.tmr != nil {
		s.tmr.Stop()
	}
	s.armed = first
	s.tmr = s.e.clk.AfterFunc(first.Sub(s.e.clk.Now()), s.fire)
}

// fire handles every deadline that has come.
func (s *scheduler) fire() {
	now := s.e.clk.Now()
	s.mu.Lock()
	s.armed = time.Time{}
	s.tmr = nil
	var due []uint64
	for len(s.h) > 0 && !s.h[0].at.After(now) {
		due = append(due, heap.Pop(&s.h).(*timerSlot).id)
	}
	s.armLocked()
	s.mu.Unlock()
	if len(due) > 0 {
		s.e.expireDue(due)
	}
}

func (s *scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.tmr != nil {
		s.tmr.Stop()
	}
	s.h = nil
}

// nextDeadline is the earliest moment something happens to c by itself.
func (e *Engine) nextDeadline(c *saCtx) (time.Time, bool) {
	var best time.Time
	consider := func(t time.Time) {
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	if c.state == wfp.SAContextExpired {
		consider(time.Unix(0, c.expiredAt).Add(e.linger))
	}
	for _, b := range []*bundle{c.in, c.out} {
		if b == nil {
			continue
		}
		if s := b.lifetime.LifetimeSeconds; s != 0 {
			consider(b.addedTime().Add(time.Duration(s) * time.Second))
		}
		if s := b.idle; s != 0 {
			consider(e.lastUse(c, b, dirOf(c, b)).Add(time.Duration(s) * time.Second))
		}
	}
	return best, !best.IsZero()
}

// lastUse is when bundle b (direction dir of c) last carried traffic, or
// when it was added.
func (e *Engine) lastUse(c *saCtx, b *bundle, dir wfp.Direction) time.Time {
	if t := e.lastUseFromDP(c.id, dir); t.After(b.addedTime()) {
		return t
	}
	return b.addedTime()
}

func dirOf(c *saCtx, b *bundle) wfp.Direction {
	if b == c.in {
		return wfp.DirectionInbound
	}
	return wfp.DirectionOutbound
}

// expireReason says why c must go now, or "" if nothing is due.
func (e *Engine) expireReason(c *saCtx, now time.Time) string {
	if c.state == wfp.SAContextExpired && !now.Before(time.Unix(0, c.expiredAt).Add(e.linger)) {
		return "linger ended"
	}
	for _, b := range []*bundle{c.in, c.out} {
		if b == nil {
			continue
		}
		if s := b.lifetime.LifetimeSeconds; s != 0 && !now.Before(b.addedTime().Add(time.Duration(s)*time.Second)) {
			return "lifetime ended"
		}
		if s := b.idle; s != 0 && !now.Before(e.lastUse(c, b, dirOf(c, b)).Add(time.Duration(s)*time.Second)) {
			return "idle timeout"
		}
	}
	return ""
}

// expireDue deletes the contexts whose deadline has come. If an explicit
// transaction holds the lock, the work waits for it on another goroutine.
func (e *Engine) expireDue(ids []uint64) {
	slot := int(ids[0])
	if !e.gate.acquire(modeIX, slot, 0) {
		go func() {
			if e.gate.acquire(modeIX, slot, -1) {
				e.expireLocked(ids)
				e.gate.release(modeIX, slot)
			}
		}()
		return
	}
	e.expireLocked(ids)
	e.gate.release(modeIX, slot)
}

// expireLocked does expireDue's work. The caller holds the gate in IX mode.
func (e *Engine) expireLocked(ids []uint64) {
	now := e.clk.Now()
	for _, id := range ids {
		var reason string
		tx := newImplicitTxn(e, nil, int(id), modeIX)
		err := tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			if reason = e.expireReason(c, now); reason == "" {
				return c, nil
			}
			tx.deleteLocked(c)
			return nil, nil
		})
		if err == nil {
			err = tx.commit()
		} else {
			tx.abort()
		}
		tx.recycle()
		switch {
		case err != nil && wfp.Code(err) != wfp.ErrNotFound:
			e.log.Error("expiring SA context failed", "id", id, "err", err)
		case reason != "":
			e.log.Info("SA context deleted", "id", id, "reason", reason)
		default:
			e.timers.schedule(id) // a stale entry: look again later
		}
	}
}

type deadlineHeap []*timerSlot

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *deadlineHeap) Push(x any) {
	e := x.(*timerSlot)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	x.index = -1
	*h = old[:len(old)-1]
	return x
}
