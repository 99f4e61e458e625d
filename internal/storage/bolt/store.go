package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sadb-dev/sadb/engine"
)

var _ engine.Store = (*Store)(nil)

// Store is an engine.Store kept in one bbolt file. Make one with Open and
// release it with Close. A Store is safe for concurrent use; concurrent
// Commit calls share disk transactions (see doc.go).
type Store struct {
	path string
	db   *bbolt.DB

	// q is the commit queue: Commit appends, the committer takes.
	q struct {
		mu sync.Mutex // guards the fields below
		// pending holds the Commit calls waiting for the committer, in
		// arrival order.
		pending []*request // +checklocks:mu
		// closed is set by Close; no call is queued after it.
		closed bool // +checklocks:mu
		// failed is why a disk commit failed, or nil; once set, no call is
		// queued and the queued ones fail with it.
		failed error // +checklocks:mu
		// want is the queue length at which Commit wakes the committer:
		// 1 while it idles, a linger's target while it lingers, and
		// never (math.MaxInt) while it commits, so that arrivals do not
		// wake it for nothing.
		want int // +checklocks:mu
	}
	wake    chan struct{} // capacity 1: the queue grew or the Store closed
	stopped chan struct{} // closed when the committer has returned

	// Owned by the committer goroutine.
	maxBatch  int           // Options.MaxBatchMutations
	lingerMax time.Duration // Options.Linger
	batch     []*request    // the batch being committed, reused
	arena     []byte        // keys and sealed values of the batch, reused
	prealloc  preallocator

	stats counters

	// testHookBatch, if set, runs in the committer before each disk
	// transaction with the number of calls in it.
	testHookBatch atomic.Pointer[func(calls int)]
}

// request is one Commit call waiting for the committer.
type request struct {
	muts []engine.Mutation
	done chan error // capacity 1: the committer never blocks delivering
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// maxArena is the largest arena the committer keeps between batches.
const maxArena = 4 << 20

// fillPercent is how full bbolt packs the record buckets' pages when it
// splits them. SA context and filter ids only grow, so new records are
// appended at the end of their bucket, where bbolt's default of 50% would
// leave every page half empty and write twice the pages per transaction.
const fillPercent = 0.9

func newStore(db *bbolt.DB, file *os.File, path string, opts Options) *Store {
	s := &Store{
		prealloc:  preallocator{file: file, maxSize: opts.MaxSize, off: opts.NoPreallocate},
		path:      path,
		db:        db,
		wake:      make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		maxBatch:  opts.MaxBatchMutations,
		lingerMax: opts.Linger,
	}
	s.stats.init()
	s.prealloc.seconds = newLatencyHistogram()
	go s.run()
	return s
}

// Path returns the path the Store was opened with.
func (s *Store) Path() string { return s.path }

// Commit applies muts atomically and durably, in one disk transaction that
// may also carry the mutations of concurrent calls: when it returns nil,
// the file holds them and has been fsync'd. Calls are applied in the order
// they reach the queue, so a call that starts after another returned lands
// after it, and within one transaction later mutations of a record win. The
// caller keeps ownership of muts; the Store does not keep it past the call.
//
// Commit fails with ErrInvalidMutation (nothing applied) if a mutation has
// an unknown kind or a value larger than bbolt allows, with ErrClosed after
// Close, and with ErrFailed if the disk transaction failed or an earlier one
// had. A Commit with no mutations returns at once.
func (s *Store) Commit(muts []engine.Mutation) error {
	if err := validate(muts); err != nil {
		s.stats.commitErrors.Add(1)
		return err
	}
	start := time.Now()
	r := requestPool.Get().(*request)
	r.muts = muts
	s.q.mu.Lock()
	err := s.refuseLocked()
	wake := false
	if err == nil && len(muts) > 0 {
		s.q.pending = append(s.q.pending, r)
		wake = len(s.q.pending) >= s.q.want
	}
	s.q.mu.Unlock()
	if err != nil || len(muts) == 0 {
		r.muts = nil
		requestPool.Put(r)
		if err != nil {
			s.stats.commitErrors.Add(1)
		}
		return err
	}
	if wake {
		s.signal()
	}
	err = <-r.done
	r.muts = nil
	requestPool.Put(r)
	s.stats.commitSeconds.observeDuration(time.Since(start))
	if err != nil {
		s.stats.commitErrors.Add(1)
		return err
	}
	s.stats.commits.Add(1)
	s.stats.mutations.Add(uint64(len(muts)))
	return nil
}

// signal wakes the committer if it waits.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // already signalled
	}
}

// validate checks that the store can hold every mutation.
func validate(muts []engine.Mutation) error {
	for i := range muts {
		m := &muts[i]
		if kindIndex(m.Kind) < 0 {
			return fmt.Errorf("%w: mutation %d has unknown record kind %v", ErrInvalidMutation, i, m.Kind)
		}
		if len(m.Value) > maxValueSize {
			return fmt.Errorf("%w: mutation %d (%v %d) has a %d-byte value, more than %d", ErrInvalidMutation, i, m.Kind, m.Key, len(m.Value), maxValueSize)
		}
	}
	return nil
}

// refuseLocked returns why no call may be queued now, or nil.
// The caller must hold s.q.mu.
func (s *Store) refuseLocked() error {
	switch {
	case s.q.closed:
		return ErrClosed
	case s.q.failed != nil:
		return s.q.failed
	}
	return nil
}

// run is the committer: it takes the queued calls, commits them in one disk
// transaction and tells each its outcome, until the Store is closed and the
// queue is empty.
func (s *Store) run() {
	defer close(s.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		batch, closed, failed := s.take()
		switch {
		case len(batch) == 0 && closed:
			return
		case len(batch) == 0:
			<-s.wake // take set want to 1
		case failed != nil:
			for _, r := range batch {
				r.done <- failed
			}
			clear(batch)
		default:
			queued, ok := s.commitBatch(batch)
			released := len(batch)
			clear(batch)
			if ok {
				s.preallocate()
			}
			s.linger(queued, released, timer)
		}
	}
}

// linger waits, after a disk transaction released its callers, until as
// many of them have queued their next call as the transaction carried (on
// top of the queued calls that were waiting when it released them), or
// until s.lingerMax has passed. Without it, callers that commit in a loop
// split into two cohorts that alternate (one waits in the queue while the
// other's transaction runs), halving the calls per fsync. A caller that
// does not come back costs the calls queued meanwhile at most s.lingerMax.
func (s *Store) linger(queued, released int, timer *time.Timer) {
	if s.lingerMax <= 0 {
		return
	}
	s.q.mu.Lock()
	// A full transaction's worth of calls also ends the wait.
	s.q.want = min(queued+released, s.maxBatch)
	done := len(s.q.pending) >= s.q.want || s.q.closed
	s.q.mu.Unlock()
	if done {
		return
	}
	timer.Reset(s.lingerMax)
	select {
	case <-s.wake: // the target was reached, or Close
	case <-timer.C:
	}
	timer.Stop()
}

// take removes the next batch from the queue: the calls in arrival order,
// up to maxBatch mutations (at least one call). It also returns whether the
// Store is closed and why it failed, if it did, and sets when Commit next
// wakes the committer.
func (s *Store) take() (batch []*request, closed bool, failed error) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if len(s.q.pending) == 0 {
		s.q.want = 1 // the committer waits for the next call
	} else {
		s.q.want = math.MaxInt // the committer is busy until it lingers
	}
	n, muts := 0, 0
	for n < len(s.q.pending) {
		m := len(s.q.pending[n].muts)
		if n > 0 && muts+m > s.maxBatch {
			break
		}
		muts += m
		n++
	}
	s.batch = append(s.batch[:0], s.q.pending[:n]...)
	rest := copy(s.q.pending, s.q.pending[n:])
	clear(s.q.pending[rest:])
	s.q.pending = s.q.pending[:rest]
	return s.batch, s.q.closed, s.q.failed
}

// commitBatch commits the mutations of batch in one bbolt read-write
// transaction, in order, and tells every call the outcome. It returns how
// many calls were queued when it did, and whether the transaction
// committed. A failure fails the Store.
func (s *Store) commitBatch(batch []*request) (queued int, ok bool) {
	if h := s.testHookBatch.Load(); h != nil {
		(*h)(len(batch))
	}
	size := 0
	for _, r := range batch {
		for i := range r.muts {
			size += keySize
			if v := r.muts[i].Value; v != nil {
				size += sumSize + len(v)
			}
		}
	}
	if cap(s.arena) < size {
		s.arena = make([]byte, size)
	}
	start := time.Now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var buckets [len(kindBuckets)]*bbolt.Bucket
		for i, kb := range kindBuckets {
			if buckets[i] = tx.Bucket(kb.name); buckets[i] == nil {
				return fmt.Errorf("bucket %q is missing", kb.name)
			}
			buckets[i].FillPercent = fillPercent
		}
		// bbolt keeps the key and value slices until the transaction
		// ends, so each gets its own part of the arena.
		buf := s.arena[:size]
		for _, r := range batch {
			for i := range r.muts {
				m := &r.muts[i]
				b := buckets[kindIndex(m.Kind)]
				key := buf[:keySize:keySize]
				buf = buf[keySize:]
				putKey(key, m.Key)
				if m.Value == nil {
					if err := b.Delete(key); err != nil {
						return err
					}
					continue
				}
				n := sumSize + len(m.Value)
				v := buf[:n:n]
				buf = buf[n:]
				sealRecord(v, m.Kind, key, m.Value)
				if err := b.Put(key, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	s.stats.diskSeconds.observeDuration(time.Since(start))
	if cap(s.arena) > maxArena {
		s.arena = nil
	}
	if err != nil {
		s.stats.batchErrors.Add(1)
		err = fmt.Errorf("%w: committing to %s: %w", ErrFailed, s.path, err)
	} else {
		s.stats.batches.Add(1)
		s.stats.batchCalls.observe(uint64(len(batch)))
	}
	s.q.mu.Lock()
	if err != nil && s.q.failed == nil {
		s.q.failed = err
	}
	queued = len(s.q.pending)
	s.q.mu.Unlock()
	for _, r := range batch {
		r.done <- err
	}
	return queued, err == nil
}

// Load calls fn for every record: kinds in ascending order (meta,
// sa-context, filter), keys ascending within a kind. It reads one consistent
// snapshot while commits go on; value is a copy fn may keep. Load stops at
// the first error from fn and returns it unchanged. A record that fails its
// checksum, or anything in the file that is not a record, stops Load with
// ErrCorrupt (fn has then seen the records before it).
//
// fn runs inside a bbolt read transaction: it must not wait for a Commit on
// the same Store, since a Commit that grows the file waits for open read
// transactions.
func (s *Store) Load(fn func(kind engine.RecordKind, key uint64, value []byte) error) error {
	err := s.db.View(func(tx *bbolt.Tx) error {
		return walk(tx, s.path, func(kind engine.RecordKind, key uint64, value []byte) error {
			return fn(kind, key, bytes.Clone(value))
		})
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Close stops the Store: calls already queued are committed, later ones
// fail with ErrClosed, then the file is closed and its lock released. Close
// waits for running Load calls. Calls after the first return ErrClosed.
func (s *Store) Close() error {
	s.q.mu.Lock()
	if s.q.closed {
		s.q.mu.Unlock()
		return ErrClosed
	}
	s.q.closed = true
	s.q.mu.Unlock()
	s.signal()
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: closing %s: %w", s.path, err)
	}
	return nil
}

// Stats returns a snapshot of the Store's counters. It is cheap enough to
// call on every metrics scrape.
func (s *Store) Stats() Stats {
	s.q.mu.Lock()
	depth := len(s.q.pending)
	s.q.mu.Unlock()
	st := Stats{
		Commits:       s.stats.commits.Load(),
		CommitErrors:  s.stats.commitErrors.Load(),
		Mutations:     s.stats.mutations.Load(),
		Batches:       s.stats.batches.Load(),
		BatchErrors:   s.stats.batchErrors.Load(),
		QueueDepth:    depth,
		BatchCalls:    s.stats.batchCalls.snapshot(),
		CommitSeconds: s.stats.commitSeconds.snapshot(),
		DiskSeconds:   s.stats.diskSeconds.snapshot(),
	}
	st.Preallocated = s.prealloc.bytes.Load()
	st.PreallocSeconds = s.prealloc.seconds.snapshot()
	bs := s.db.Stats()
	st.PagesWritten = uint64(bs.TxStats.GetWrite())
	st.FreePages = bs.FreePageN
	_ = s.db.View(func(tx *bbolt.Tx) error {
		st.Size = tx.Size()
		return nil
	})
	return st
}
