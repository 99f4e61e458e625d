// Package delivery runs callbacks in order on a goroutine of their own: the
// shape of WFP's notification callbacks (SA-context changes, key-manager
// notifications), which must not run on the caller's goroutine, must keep
// their order, and whose cancellation waits for a callback that is running.
package delivery

import "sync"

// Queue delivers values to one callback, in the order pushed, one at a
// time. The queue is unbounded: a slow callback holds up only its own
// queue. The zero value is not usable; call New.
type Queue[T any] struct {
	fn func(T)

	mu      sync.Mutex // guards q and stopped
	q       []T
	stopped bool

	wake    chan struct{} // capacity 1: values were pushed
	done    chan struct{} // closed by Stop
	running sync.Mutex    // held while fn runs
	exit    chan struct{} // closed when the goroutine has returned
}

// New starts a queue calling fn. If panicked is not nil, a panic in fn is
// recovered and passed to it, and delivery goes on.
func New[T any](fn func(T), panicked func(any)) *Queue[T] {
	q := &Queue[T]{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{}), exit: make(chan struct{})}
	go q.loop(panicked)
	return q
}

// Push queues v. After Stop it does nothing.
func (q *Queue[T]) Push(v T) {
	q.mu.Lock()
	if !q.stopped {
		q.q = append(q.q, v)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue[T]) loop(panicked func(any)) {
	defer close(q.exit)
	for {
		select {
		case <-q.done:
			return
		case <-q.wake:
		}
		for {
			q.mu.Lock()
			if q.stopped || len(q.q) == 0 {
				q.mu.Unlock()
				break
			}
			v := q.q[0]
			var zero T
			q.q[0] = zero
			q.q = q.q[1:]
			q.mu.Unlock()
			q.running.Lock()
			if !q.Stopped() {
				q.call(v, panicked)
			}
			q.running.Unlock()
		}
	}
}

func (q *Queue[T]) call(v T, panicked func(any)) {
	if panicked != nil {
		defer func() {
			if r := recover(); r != nil {
				panicked(r)
			}
		}()
	}
	q.fn(v)
}

// Stopped reports whether Stop was called.
func (q *Queue[T]) Stopped() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stopped
}

// Stop ends delivery: values not yet delivered are dropped, a callback that
// is running is waited for, and no callback starts afterwards. It must not
// be called from the callback itself. Stopping twice is harmless.
func (q *Queue[T]) Stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	q.q = nil
	q.mu.Unlock()
	close(q.done)
	q.running.Lock() // wait for a running callback
	q.running.Unlock()
}

// Wait blocks until the queue's goroutine has returned (after Stop).
func (q *Queue[T]) Wait() { <-q.exit }
