package bolt

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Store's counters, for the daemon's metrics. The
// counters only grow while the Store is open; a snapshot taken while commits
// run may be off by the calls in flight.
type Stats struct {
	// Commits counts Commit calls that returned nil, not counting calls
	// with no mutations.
	Commits uint64
	// CommitErrors counts Commit calls that returned an error.
	CommitErrors uint64
	// Mutations counts the mutations of the Commit calls that returned nil.
	Mutations uint64
	// Batches counts the group commits that succeeded: log frames written
	// and synced (and the rare call too large for the log, committed to
	// the file directly). Commits/Batches is the average number of calls
	// one fdatasync carried.
	Batches uint64
	// BatchErrors counts group commits that failed.
	BatchErrors uint64
	// QueueDepth is the number of Commit calls waiting for the writer at
	// the time of the snapshot.
	QueueDepth int
	// BatchCalls is the distribution of Commit calls per group commit.
	BatchCalls Histogram
	// CommitSeconds is the distribution of Commit latency as callers see it
	// (waiting in the queue, waiting for log space if the log is full, then
	// the log write and its fdatasync), in seconds.
	CommitSeconds Histogram
	// DiskSeconds is the distribution of the duration of one group commit:
	// a log frame's write and fdatasync, in seconds.
	DiskSeconds Histogram

	// LogSyncs counts the fdatasyncs of the log: one per frame.
	// (LogSyncs + 2*Checkpoints)/Commits is what a commit costs in
	// fdatasyncs, bbolt's included.
	LogSyncs uint64
	// LogBytes counts the bytes written to the log, frame padding included.
	LogBytes uint64
	// LogSize is the capacity of the log in bytes (its file less the header
	// block), and LogUsed the part of it that frames no checkpoint has
	// applied yet hold.
	LogSize, LogUsed int64
	// LogRecords is the number of records held in memory because the log
	// has them and the file does not yet.
	LogRecords int
	// LogWaits counts frames that waited for a checkpoint because the log
	// was full (back-pressure on Commit), and LogWaitSeconds is the
	// distribution of those waits.
	LogWaits       uint64
	LogWaitSeconds Histogram
	// Checkpoints counts checkpoints that committed to the file, and
	// CheckpointErrors those that failed (which fails the Store).
	Checkpoints, CheckpointErrors uint64
	// CheckpointRecords counts the records checkpoints wrote to the file: a
	// record changed by several commits between two checkpoints is
	// written once.
	CheckpointRecords uint64
	// CheckpointSeconds is the distribution of the duration of one
	// checkpoint (its bbolt transaction with bbolt's two fdatasyncs).
	CheckpointSeconds Histogram
	// DirectCommits counts Commit calls too large for the log (more than
	// a quarter of it), committed in a bbolt transaction of their own.
	DirectCommits uint64
	// RecoveredCommits is the number of Commit calls Open replayed from
	// the log (a crash left them there), and RecoveredTornTail says
	// whether Open ignored a damaged last frame: a log write that the
	// crash cut short, so never acknowledged.
	RecoveredCommits  int
	RecoveredTornTail bool

	// Preallocated counts the bytes of zeros written ahead of bbolt's
	// pages, and PreallocSeconds is the distribution of the time each chunk
	// took, its fsync included (see doc.go).
	Preallocated    int64
	PreallocSeconds Histogram
	// PagesWritten counts the pages bbolt wrote (checkpoints), meta pages
	// included.
	PagesWritten uint64
	// FreePages is the number of free pages in the file (bbolt reuses them
	// before it grows the file).
	FreePages int
	// Size is the size in bytes of the part of the file in use (bbolt's
	// high-water mark); zero after Close.
	Size int64
}

// Histogram is a snapshot of a distribution, shaped like a Prometheus
// histogram: Buckets have ascending upper bounds and cumulative counts, and
// the +Inf bucket is implicit (its count is Count).
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets []Bucket
}

// Bucket is one bucket of a Histogram: the number of observations that were
// at most UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// histogram is a fixed-bucket histogram of non-negative integer
// observations, safe for concurrent use.
type histogram struct {
	bounds []uint64        // ascending inclusive upper bounds, in observation units
	scale  float64         // observation units per reported unit
	counts []atomic.Uint64 // per bucket; the last one is +Inf
	sum    atomic.Uint64   // in observation units
}

func newHistogram(scale float64, bounds ...uint64) *histogram {
	return &histogram{bounds: bounds, scale: scale, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// latencyBounds span 50 µs to 10 s.
var latencyBounds = []uint64{
	uint64(50 * time.Microsecond), uint64(100 * time.Microsecond), uint64(150 * time.Microsecond),
	uint64(200 * time.Microsecond), uint64(250 * time.Microsecond),
	uint64(500 * time.Microsecond), uint64(time.Millisecond), uint64(2500 * time.Microsecond),
	uint64(5 * time.Millisecond), uint64(10 * time.Millisecond), uint64(25 * time.Millisecond),
	uint64(50 * time.Millisecond), uint64(100 * time.Millisecond), uint64(250 * time.Millisecond),
	uint64(500 * time.Millisecond), uint64(time.Second), uint64(10 * time.Second),
}

func newLatencyHistogram() *histogram { return newHistogram(float64(time.Second), latencyBounds...) }

func newSizeHistogram() *histogram {
	return newHistogram(1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
}

func (h *histogram) observe(v uint64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

func (h *histogram) observeDuration(d time.Duration) { h.observe(uint64(max(d, 0))) }

func (h *histogram) snapshot() Histogram {
	s := Histogram{Buckets: make([]Bucket, len(h.bounds))}
	for i, b := range h.bounds {
		s.Count += h.counts[i].Load()
		s.Buckets[i] = Bucket{UpperBound: float64(b) / h.scale, Count: s.Count}
	}
	s.Count += h.counts[len(h.bounds)].Load()
	s.Sum = float64(h.sum.Load()) / h.scale
	return s
}

// counters are a Store's statistics, updated by Commit callers, the writer
// and the checkpointer.
type counters struct {
	commits, commitErrors, mutations, batches, batchErrors atomic.Uint64
	logSyncs, logBytes, logWaits                           atomic.Uint64
	checkpoints, checkpointErrors, checkpointRecords       atomic.Uint64
	directCommits                                          atomic.Uint64

	batchCalls        *histogram
	commitSeconds     *histogram
	diskSeconds       *histogram
	logWaitSeconds    *histogram
	checkpointSeconds *histogram

	// Set by Open before the Store is shared.
	recoveredCommits int
	recoveredTorn    bool
}

func (c *counters) init() {
	c.batchCalls = newSizeHistogram()
	c.commitSeconds = newLatencyHistogram()
	c.diskSeconds = newLatencyHistogram()
	c.logWaitSeconds = newLatencyHistogram()
	c.checkpointSeconds = newLatencyHistogram()
}
