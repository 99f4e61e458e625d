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
	// Batches counts disk transactions that committed; Commits/Batches is
	// the average number of calls one fsync'd transaction carried.
	Batches uint64
	// BatchErrors counts disk transactions that failed.
	BatchErrors uint64
	// QueueDepth is the number of Commit calls waiting for the committer at
	// the time of the snapshot.
	QueueDepth int
	// BatchCalls is the distribution of Commit calls per disk transaction.
	BatchCalls Histogram
	// CommitSeconds is the distribution of Commit latency as callers see it
	// (waiting in the queue, then the disk transaction), in seconds.
	CommitSeconds Histogram
	// DiskSeconds is the distribution of the duration of one disk
	// transaction, its writes and fsyncs included, in seconds.
	DiskSeconds Histogram
	// Preallocated counts the bytes of zeros written ahead of bbolt's
	// pages, and PreallocSeconds is the distribution of the time each chunk
	// took, its fsync included (see doc.go).
	Preallocated    int64
	PreallocSeconds Histogram
	// PagesWritten counts the pages bbolt wrote, meta pages included.
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
	uint64(50 * time.Microsecond), uint64(100 * time.Microsecond), uint64(250 * time.Microsecond),
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

// counters are a Store's statistics, updated by Commit callers and the
// committer.
type counters struct {
	commits, commitErrors, mutations, batches, batchErrors atomic.Uint64

	batchCalls    *histogram
	commitSeconds *histogram
	diskSeconds   *histogram
}

func (c *counters) init() {
	c.batchCalls = newSizeHistogram()
	c.commitSeconds = newLatencyHistogram()
	c.diskSeconds = newLatencyHistogram()
}
