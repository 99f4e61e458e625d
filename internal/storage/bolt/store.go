package bolt

import (
	"bytes"
	"encoding/binary"
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

// Store is an engine.Store kept in one bbolt file with a write-ahead log
// beside it. Make one with Open and release it with Close. A Store is safe
// for concurrent use; concurrent Commit calls share log writes (see
// doc.go).
type Store struct {
	path string
	db   *bbolt.DB
	id   storeID // the store's identity, which its log carries

	// q is the commit queue: Commit appends, the writer takes.
	q struct {
		mu sync.Mutex // guards the fields below
		// pending holds the Commit calls waiting for the writer, in
		// arrival order.
		pending []*request // +checklocks:mu
		// closed is set by Close; no call is queued after it.
		closed bool // +checklocks:mu
		// failed is why a log write or a checkpoint failed, or nil; once
		// set, no call is queued and the queued ones fail with it.
		failed error // +checklocks:mu
		// want is the queue length at which Commit wakes the writer: 1
		// while it idles, a linger's target while it lingers, and never
		// (math.MaxInt) while it writes, so that arrivals do not wake it
		// for nothing.
		want int // +checklocks:mu
	}
	wake    chan struct{} // capacity 1: the queue grew or the Store closed
	stopped chan struct{} // closed when the writer has returned

	// Owned by the writer goroutine.
	maxBatch  int           // Options.MaxBatchMutations
	maxFrame  int64         // the largest frame; a larger call goes to the file directly
	lingerMax time.Duration // Options.Linger
	batch     []*request    // the batch being written, reused
	frame     []byte        // the frame being written, reused
	logFile   *os.File      // the log, locked; closed by Close
	logSize   int64         // the size of the log file
	seq       uint64        // the sequence number of the next frame

	// log is the state of the log that the writer, the checkpointer and
	// Load share.
	log struct {
		mu sync.Mutex // guards the fields below
		// space is signalled (on mu) when a checkpoint ends or fails.
		space sync.Cond
		// active holds the records of the synced frames since the last
		// checkpoint began; frozen those of the running checkpoint, or
		// nil. Load lays frozen, then active, over the file.
		active *memtable // +checklocks:mu
		frozen *memtable // +checklocks:mu
		// head is the offset just past the last synced frame, and next
		// the sequence number of the frame after it.
		head int64  // +checklocks:mu
		next uint64 // +checklocks:mu
		// used is the bytes from the oldest frame not yet applied to the
		// file to head, the unused ends the writer skipped when it wrapped
		// around included.
		used int64 // +checklocks:mu
		// failed is why a checkpoint failed, or nil.
		failed error // +checklocks:mu
	}

	// ckptMu orders checkpoints with Load's snapshots: a checkpoint (and a
	// commit too large for the log) holds it from freezing the memtable
	// until its bbolt transaction has ended, Load read-holds it while it
	// copies the memtables and begins its bbolt transaction, so the two
	// always describe the same point. It also guards the fields below.
	ckptMu sync.RWMutex
	// arena holds the keys and sealed values of a checkpoint, reused.
	arena    []byte       // +checklocks:ckptMu
	prealloc preallocator // +checklocks:ckptMu

	ckptWake     chan struct{} // capacity 1: checkpoint now
	ckptStop     chan struct{} // closed by Close once the writer has returned
	ckptDone     chan struct{} // closed when the checkpointer has returned
	ckptBytes    int64         // Options.CheckpointBytes
	ckptInterval time.Duration // Options.CheckpointInterval

	stats counters

	// testHookBatch, if set, runs in the writer before each frame with the
	// number of calls in it.
	testHookBatch atomic.Pointer[func(calls int)]
	// testHookFrame, if set, runs in the writer with "torn" between the
	// two halves of each frame's write (the writer then writes a frame in
	// two parts) and with "synced" after its fdatasync.
	testHookFrame atomic.Pointer[func(stage string)]
	// testHookCheckpoint, if set, runs in a checkpoint with "applied"
	// inside its bbolt transaction once the records are in it, and with
	// "committed" after the transaction committed, before the log space
	// is released.
	testHookCheckpoint atomic.Pointer[func(stage string)]
}

// request is one Commit call waiting for the writer.
type request struct {
	muts []engine.Mutation
	// rec is the call's log encoding (encodeCommit); the memtable keeps
	// it, so it is never reused.
	rec  []byte
	done chan error // capacity 1: the writer never blocks delivering
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// maxArena is the largest arena a checkpoint keeps for the next one.
const maxArena = 4 << 20

// fillPercent is how full bbolt packs the record buckets' pages when it
// splits them. SA context and filter ids only grow, so new records are
// appended at the end of their bucket, where bbolt's default of 50% would
// leave every page half empty and write twice the pages per transaction.
const fillPercent = 0.9

func newStore(db *bbolt.DB, file *os.File, path string, id storeID, opts Options) *Store {
	s := &Store{
		path:         path,
		db:           db,
		id:           id,
		wake:         make(chan struct{}, 1),
		stopped:      make(chan struct{}),
		maxBatch:     opts.MaxBatchMutations,
		lingerMax:    opts.Linger,
		ckptWake:     make(chan struct{}, 1),
		ckptStop:     make(chan struct{}),
		ckptDone:     make(chan struct{}),
		ckptBytes:    opts.CheckpointBytes,
		ckptInterval: opts.CheckpointInterval,
	}
	s.prealloc = preallocator{file: file, maxSize: opts.MaxSize, off: opts.NoPreallocate}
	s.log.space.L = &s.log.mu
	s.log.active = newMemtable(0)
	s.stats.init()
	s.prealloc.seconds = newLatencyHistogram()
	return s
}

// start starts the writer and the checkpointer of a Store whose log is
// open and empty: its next frame is seq, at the first slot.
func (s *Store) start(logFile *os.File, logSize int64, seq uint64) {
	s.logFile, s.logSize, s.seq = logFile, logSize, seq
	s.maxFrame = (logSize - logDataStart) / 4
	s.ckptBytes = min(s.ckptBytes, (logSize-logDataStart)/2)
	s.log.mu.Lock()
	s.log.head, s.log.next, s.log.used = logDataStart, seq, 0
	s.log.mu.Unlock()
	go s.run()
	go s.checkpointer()
}

// Path returns the path the Store was opened with. The log is at that path
// followed by "-wal".
func (s *Store) Path() string { return s.path }

// Commit applies muts atomically and durably: when it returns nil, they are
// in the log and the log has been fdatasync'd, in one write that may also
// carry the mutations of concurrent calls. Calls are applied in the order
// they reach the queue, so a call that starts after another returned lands
// after it, and within one call later mutations of a record win. Load sees
// a call's mutations once it has returned. The caller keeps ownership of
// muts; the Store does not keep it past the call.
//
// Commit waits while the log is full until a checkpoint frees space in it.
// It fails with ErrInvalidMutation (nothing applied) if a mutation has an
// unknown kind or a value larger than bbolt allows, with ErrClosed after
// Close, and with ErrFailed if the log write or a checkpoint failed, now or
// before. A Commit with no mutations returns at once.
func (s *Store) Commit(muts []engine.Mutation) error {
	if err := validate(muts); err != nil {
		s.stats.commitErrors.Add(1)
		return err
	}
	start := time.Now()
	r := requestPool.Get().(*request)
	r.muts = muts
	if len(muts) > 0 {
		r.rec = encodeCommit(muts)
	}
	s.q.mu.Lock()
	err := s.refuseLocked()
	wake := false
	if err == nil && len(muts) > 0 {
		s.q.pending = append(s.q.pending, r)
		wake = len(s.q.pending) >= s.q.want
	}
	s.q.mu.Unlock()
	if err != nil || len(muts) == 0 {
		r.muts, r.rec = nil, nil
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
	r.muts, r.rec = nil, nil
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

// signal wakes the writer if it waits.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // already signalled
	}
}

// signalCheckpoint asks the checkpointer for a checkpoint.
func (s *Store) signalCheckpoint() {
	select {
	case s.ckptWake <- struct{}{}:
	default: // already asked
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

// fail records err as the reason the Store failed, unless one is recorded.
func (s *Store) fail(err error) {
	s.q.mu.Lock()
	if s.q.failed == nil {
		s.q.failed = err
	}
	s.q.mu.Unlock()
}

// run is the writer: it takes the queued calls, writes them to the log in
// one frame and tells each its outcome, until the Store is closed and the
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
			queued := s.commitBatch(batch)
			released := len(batch)
			clear(batch)
			s.linger(queued, released, timer)
		}
	}
}

// linger waits, after a log write released its callers, until as many of
// them have queued their next call as the write carried (on top of the
// queued calls that were waiting when it released them), or until
// s.lingerMax has passed. Without it, callers that commit in a loop split
// into two cohorts that alternate (one waits in the queue while the
// other's write runs), halving the calls per fdatasync. A caller that does
// not come back costs the calls queued meanwhile at most s.lingerMax.
func (s *Store) linger(queued, released int, timer *time.Timer) {
	if s.lingerMax <= 0 {
		return
	}
	s.q.mu.Lock()
	// A full frame's worth of calls also ends the wait.
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
// up to maxBatch mutations and a frame of maxFrame bytes (at least one
// call). It also returns whether the Store is closed and why it failed, if
// it did, and sets when Commit next wakes the writer.
func (s *Store) take() (batch []*request, closed bool, failed error) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if len(s.q.pending) == 0 {
		s.q.want = 1 // the writer waits for the next call
	} else {
		s.q.want = math.MaxInt // the writer is busy until it lingers
	}
	n, muts, payload := 0, 0, 0
	for n < len(s.q.pending) {
		r := s.q.pending[n]
		m, b := len(r.muts), len(r.rec)
		if n > 0 && (muts+m > s.maxBatch || frameSize(payload+b) > s.maxFrame) {
			break
		}
		muts += m
		payload += b
		n++
	}
	s.batch = append(s.batch[:0], s.q.pending[:n]...)
	rest := copy(s.q.pending, s.q.pending[n:])
	clear(s.q.pending[rest:])
	s.q.pending = s.q.pending[:rest]
	return s.batch, s.q.closed, s.q.failed
}

// commitBatch makes the calls of batch durable, in one log frame (or, for
// a single call too large for the log, in one bbolt transaction), and
// tells every call the outcome. It returns how many calls were queued when
// it did. A failure fails the Store.
func (s *Store) commitBatch(batch []*request) (queued int) {
	if h := s.testHookBatch.Load(); h != nil {
		(*h)(len(batch))
	}
	payload := 0
	for _, r := range batch {
		payload += len(r.rec)
	}
	var err error
	if len(batch) == 1 && frameSize(payload) > s.maxFrame { // take leaves larger calls alone
		err = s.commitDirect(batch[0])
	} else {
		err = s.writeFrame(batch, payload)
	}
	if err != nil {
		s.stats.batchErrors.Add(1)
		s.fail(err)
	} else {
		s.stats.batches.Add(1)
		s.stats.batchCalls.observe(uint64(len(batch)))
	}
	s.q.mu.Lock()
	queued = len(s.q.pending)
	s.q.mu.Unlock()
	for _, r := range batch {
		r.done <- err
	}
	return queued
}

// writeFrame writes the calls of batch to the log as frame s.seq, syncs
// it, and adds their records to the active memtable. The frame's payload
// is payload bytes.
func (s *Store) writeFrame(batch []*request, payload int) error {
	n := frameSize(payload)
	if int64(cap(s.frame)) < n {
		s.frame = make([]byte, n)
	}
	buf := s.frame[:n]
	off := frameHeaderSize
	for _, r := range batch {
		off += copy(buf[off:], r.rec)
	}
	sealFrame(buf, payload, len(batch), s.seq, &s.id)
	pos, claim, err := s.reserve(n)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := s.writeLog(buf, pos); err != nil {
		return fmt.Errorf("%w: writing the log %s: %w", ErrFailed, logPath(s.path), err)
	}
	if err := fdatasync(s.logFile); err != nil {
		return fmt.Errorf("%w: syncing the log %s: %w", ErrFailed, logPath(s.path), err)
	}
	s.stats.diskSeconds.observeDuration(time.Since(start))
	s.stats.logSyncs.Add(1)
	s.stats.logBytes.Add(uint64(n))
	if h := s.testHookFrame.Load(); h != nil {
		(*h)("synced")
	}
	s.seq++
	l := &s.log
	l.mu.Lock()
	for _, r := range batch {
		l.active.apply(r.rec, 1)
	}
	l.head, l.next = pos+n, s.seq
	if l.head == s.logSize {
		// The next frame goes to the first slot; the log state that a
		// checkpoint records says so.
		l.head = logDataStart
	}
	l.used += claim
	used := l.used
	l.mu.Unlock()
	if used >= s.ckptBytes {
		s.signalCheckpoint()
	}
	return nil
}

// writeLog writes frame b at offset pos of the log, in two parts around
// the test hook if one is set: the header and the first half of the
// payload, then the rest.
func (s *Store) writeLog(b []byte, pos int64) error {
	if h := s.testHookFrame.Load(); h != nil {
		half := frameHeaderSize + int(binary.LittleEndian.Uint32(b[8:]))/2
		if _, err := s.logFile.WriteAt(b[:half], pos); err != nil {
			return err
		}
		(*h)("torn")
		_, err := s.logFile.WriteAt(b[half:], pos+int64(half))
		return err
	}
	_, err := s.logFile.WriteAt(b, pos)
	return err
}

// reserve returns where the next frame, of n bytes, goes, and the log space
// it takes (n, plus the end of the log it skips if it wraps around),
// waiting for checkpoints while the log has no room for it. n is at most
// s.maxFrame.
func (s *Store) reserve(n int64) (pos, claim int64, err error) {
	l := &s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	var waitStart time.Time
	for {
		if l.failed != nil {
			return 0, 0, l.failed
		}
		free := s.logSize - logDataStart - l.used
		switch {
		case l.head+n <= s.logSize && n <= free:
			pos, claim = l.head, n
		case l.head+n > s.logSize && s.logSize-l.head+n <= free:
			pos, claim = logDataStart, s.logSize-l.head+n
		case l.used == 0:
			// Everything is applied: the frame may start over at the
			// first slot whatever the head, where replay looks for it
			// when it does not find it at the head.
			pos, claim = logDataStart, n
		default:
			if waitStart.IsZero() {
				waitStart = time.Now()
				s.stats.logWaits.Add(1)
			}
			s.signalCheckpoint()
			l.space.Wait()
			continue
		}
		if !waitStart.IsZero() {
			s.stats.logWaitSeconds.observeDuration(time.Since(waitStart))
		}
		return pos, claim, nil
	}
}

// commitDirect commits the call r, too large for the log, in a bbolt
// transaction of its own, once checkpoints have applied everything the log
// holds, so that it lands after every earlier call.
func (s *Store) commitDirect(r *request) error {
	l := &s.log
	l.mu.Lock()
	for l.used > 0 && l.failed == nil {
		s.signalCheckpoint()
		l.space.Wait()
	}
	err := l.failed
	l.mu.Unlock()
	if err != nil {
		return err
	}
	mt := newMemtable(len(r.muts))
	mt.apply(r.rec, 1)
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	start := time.Now()
	err = s.db.Update(func(tx *bbolt.Tx) error { return s.applyToFile(tx, mt.sorted()) })
	s.stats.diskSeconds.observeDuration(time.Since(start))
	if err != nil {
		return fmt.Errorf("%w: committing to %s: %w", ErrFailed, s.path, err)
	}
	s.stats.directCommits.Add(1)
	s.preallocate()
	return nil
}

// checkpointer applies the log to the file when the writer asks (the log
// holds Options.CheckpointBytes, or has no room for a frame) and every
// Options.CheckpointInterval, until Close stops it.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	timer := time.NewTimer(s.ckptInterval)
	defer timer.Stop()
	for {
		select {
		case <-s.ckptWake:
		case <-timer.C:
		case <-s.ckptStop:
			return
		}
		_ = s.checkpoint(false) // a failure fails the Store
		timer.Reset(s.ckptInterval)
	}
}

// checkpoint applies the records of the active memtable to the file in one
// bbolt transaction, with the log state that says where replay resumes, and
// then releases the log space of the frames they came from. A final
// checkpoint (Close's) runs even if there is nothing to apply, and marks
// the file closed cleanly. A failure fails the Store; the records stay in
// the log and in the memtables.
func (s *Store) checkpoint(final bool) error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	l := &s.log
	l.mu.Lock()
	if l.failed != nil {
		err := l.failed
		l.mu.Unlock()
		return err
	}
	mt := l.active
	if mt.len() == 0 && !final {
		l.mu.Unlock()
		return nil
	}
	cut := logState{seq: l.next, pos: l.head, open: !final}
	cutUsed := l.used
	l.frozen, l.active = mt, newMemtable(mt.len())
	l.mu.Unlock()

	start := time.Now()
	recs := mt.sorted()
	err := s.writeCheckpoint(recs, cut)
	if err == nil {
		if h := s.testHookCheckpoint.Load(); h != nil {
			(*h)("committed")
		}
	}
	l.mu.Lock()
	if err == nil {
		l.frozen = nil
		l.used -= cutUsed
	} else {
		// The frozen records stay in Load's view; nothing checkpoints
		// again.
		l.failed = err
	}
	l.space.Broadcast()
	l.mu.Unlock()
	if err != nil {
		s.stats.checkpointErrors.Add(1)
		s.fail(err)
		return err
	}
	s.stats.checkpoints.Add(1)
	s.stats.checkpointRecords.Add(uint64(len(recs)))
	s.stats.checkpointSeconds.observeDuration(time.Since(start))
	s.preallocate()
	return nil
}

// writeCheckpoint applies recs to the file, with the log state st, in one
// bbolt transaction. The caller holds s.ckptMu (or owns the Store alone).
func (s *Store) writeCheckpoint(recs []overlayRecord, st logState) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := s.applyToFile(tx, recs); err != nil {
			return err
		}
		if err := putLogHeader(tx, s.id, st); err != nil {
			return err
		}
		if h := s.testHookCheckpoint.Load(); h != nil {
			(*h)("applied")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: checkpointing the log into %s: %w", ErrFailed, s.path, err)
	}
	return nil
}

// applyToFile writes recs, in Load order, to the record buckets of tx.
// The caller holds s.ckptMu (or owns the Store alone).
func (s *Store) applyToFile(tx *bbolt.Tx, recs []overlayRecord) error {
	var buckets [len(kindBuckets)]*bbolt.Bucket
	for i, kb := range kindBuckets {
		if buckets[i] = tx.Bucket(kb.name); buckets[i] == nil {
			return fmt.Errorf("bucket %q is missing", kb.name)
		}
		buckets[i].FillPercent = fillPercent
	}
	size := 0
	for i := range recs {
		size += keySize
		if !recs[i].deleted {
			size += sumSize + len(recs[i].value)
		}
	}
	if cap(s.arena) < size {
		s.arena = make([]byte, size)
	}
	defer func() {
		if cap(s.arena) > maxArena {
			s.arena = nil
		}
	}()
	// bbolt keeps the key and value slices until the transaction ends, so
	// each gets its own part of the arena.
	buf := s.arena[:size]
	for i := range recs {
		r := &recs[i]
		b := buckets[kindIndex(r.id.kind)]
		key := buf[:keySize:keySize]
		buf = buf[keySize:]
		putKey(key, r.id.key)
		if r.deleted {
			if err := b.Delete(key); err != nil {
				return err
			}
			continue
		}
		n := sumSize + len(r.value)
		v := buf[:n:n]
		buf = buf[n:]
		sealRecord(v, r.id.kind, key, r.value)
		if err := b.Put(key, v); err != nil {
			return err
		}
	}
	return nil
}

// Load calls fn for every record: kinds in ascending order (meta,
// sa-context, filter), keys ascending within a kind. It reads one consistent
// snapshot (the file, with the records of the log that no checkpoint has
// applied yet laid over it) while commits go on; value is a copy fn may
// keep. Load stops at the first error from fn and returns it unchanged. A
// record that fails its checksum, or anything in the file that is not a
// record, stops Load with ErrCorrupt (fn has then seen the records before
// it).
//
// fn runs inside a bbolt read transaction: it must not wait for a Commit on
// the same Store, since a Commit may wait for a checkpoint, and a
// checkpoint that grows the file waits for open read transactions.
func (s *Store) Load(fn func(kind engine.RecordKind, key uint64, value []byte) error) error {
	s.ckptMu.RLock()
	s.log.mu.Lock()
	ov := snapshotOverlay(s.log.frozen, s.log.active)
	s.log.mu.Unlock()
	tx, err := s.db.Begin(false)
	s.ckptMu.RUnlock()
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return ov.merge(
		func(f func(engine.RecordKind, uint64, []byte) error) error { return walk(tx, s.path, f) },
		func(kind engine.RecordKind, key uint64, value []byte) error {
			return fn(kind, key, bytes.Clone(value))
		})
}

// Close stops the Store: calls already queued are committed, later ones
// fail with ErrClosed; then a last checkpoint applies the whole log to the
// file and marks it closed cleanly, and the files are closed and the lock
// released. Close waits for running Load calls. If the Store had failed,
// Close skips the checkpoint: the next Open replays the log. Calls after
// the first return ErrClosed.
func (s *Store) Close() error {
	s.q.mu.Lock()
	if s.q.closed {
		s.q.mu.Unlock()
		return ErrClosed
	}
	s.q.closed = true
	failed := s.q.failed
	s.q.mu.Unlock()
	s.signal()
	<-s.stopped
	close(s.ckptStop)
	<-s.ckptDone
	var err error
	if failed == nil {
		err = s.checkpoint(true)
	}
	if cerr := s.logFile.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("bolt: closing %s: %w", logPath(s.path), cerr)
	}
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("bolt: closing %s: %w", s.path, cerr)
	}
	return err
}

// Stats returns a snapshot of the Store's counters. It is cheap enough to
// call on every metrics scrape.
func (s *Store) Stats() Stats {
	s.q.mu.Lock()
	depth := len(s.q.pending)
	s.q.mu.Unlock()
	s.log.mu.Lock()
	used := s.log.used
	records := s.log.active.len() + s.log.frozen.len()
	s.log.mu.Unlock()
	st := Stats{
		Commits:           s.stats.commits.Load(),
		CommitErrors:      s.stats.commitErrors.Load(),
		Mutations:         s.stats.mutations.Load(),
		Batches:           s.stats.batches.Load(),
		BatchErrors:       s.stats.batchErrors.Load(),
		QueueDepth:        depth,
		BatchCalls:        s.stats.batchCalls.snapshot(),
		CommitSeconds:     s.stats.commitSeconds.snapshot(),
		DiskSeconds:       s.stats.diskSeconds.snapshot(),
		LogSyncs:          s.stats.logSyncs.Load(),
		LogBytes:          s.stats.logBytes.Load(),
		LogSize:           s.logSize - logDataStart,
		LogUsed:           used,
		LogRecords:        records,
		LogWaits:          s.stats.logWaits.Load(),
		LogWaitSeconds:    s.stats.logWaitSeconds.snapshot(),
		Checkpoints:       s.stats.checkpoints.Load(),
		CheckpointErrors:  s.stats.checkpointErrors.Load(),
		CheckpointRecords: s.stats.checkpointRecords.Load(),
		CheckpointSeconds: s.stats.checkpointSeconds.snapshot(),
		DirectCommits:     s.stats.directCommits.Load(),
		RecoveredCommits:  s.stats.recoveredCommits,
		RecoveredTornTail: s.stats.recoveredTorn,
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
