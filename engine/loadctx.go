package engine

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ctxBatchSize is how many SA context records a load worker decodes at a
// time.
const ctxBatchSize = 128

// ctxDecoder decodes the SA context records of a store on several
// goroutines while the store is read: decoding (JSON) is most of the time
// a large store takes to load. Records are added in key order and come
// back in that order. A ctxDecoder is used by one goroutine (the Load
// callback); its workers are internal.
type ctxDecoder struct {
	batch ctxBatch      // being filled
	seq   int           // batches handed out
	work  chan ctxBatch // nil: decode inline (one worker)
	wg    sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	done   []ctxBatch // +checklocks:mu
	failed bool       // +checklocks:mu; a batch failed: stop reading
}

// ctxBatch is a run of consecutive records and, once decoded, their
// contexts or the first error.
type ctxBatch struct {
	seq  int
	keys []uint64
	vals [][]byte
	ctxs []*saCtx
	err  error
}

// errLoadStopped ends Load early once a record failed to decode; the error
// reported is the decoder's.
var errLoadStopped = errors.New("engine: a record failed to decode")

// newCtxDecoder starts workers decoding goroutines (inline for one).
func newCtxDecoder(workers int) *ctxDecoder {
	d := &ctxDecoder{}
	if workers > 1 {
		d.work = make(chan ctxBatch, workers)
		for range workers {
			d.wg.Go(func() {
				for b := range d.work {
					d.decoded(decodeBatch(b))
				}
			})
		}
	}
	return d
}

// add queues the record of SA context key. It returns errLoadStopped once
// a record has failed to decode.
func (d *ctxDecoder) add(key uint64, value []byte) error {
	d.batch.keys = append(d.batch.keys, key)
	d.batch.vals = append(d.batch.vals, value)
	if len(d.batch.keys) == ctxBatchSize {
		d.flush()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed {
		return errLoadStopped
	}
	return nil
}

// flush hands the batch being filled to a worker (or decodes it).
func (d *ctxDecoder) flush() {
	if len(d.batch.keys) == 0 {
		return
	}
	b := d.batch
	b.seq = d.seq
	d.seq++
	d.batch = ctxBatch{}
	if d.work == nil {
		d.decoded(decodeBatch(b))
		return
	}
	d.work <- b
}

func (d *ctxDecoder) decoded(b ctxBatch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = append(d.done, b)
	if b.err != nil {
		d.failed = true
	}
}

// finish waits for the workers and returns every context in key order, or
// the error of the first record (in key order) that failed.
func (d *ctxDecoder) finish() ([]*saCtx, error) {
	d.flush()
	if d.work != nil {
		close(d.work)
		d.wg.Wait()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	slices.SortFunc(d.done, func(a, b ctxBatch) int { return a.seq - b.seq })
	n := 0
	for _, b := range d.done {
		if b.err != nil {
			return nil, b.err
		}
		n += len(b.ctxs)
	}
	out := make([]*saCtx, 0, n)
	for _, b := range d.done {
		out = append(out, b.ctxs...)
	}
	return out, nil
}

// decodeBatch decodes b's records, stopping at the first that fails.
func decodeBatch(b ctxBatch) ctxBatch {
	b.ctxs = make([]*saCtx, 0, len(b.keys))
	for i, v := range b.vals {
		c, err := decodeCtx(v)
		if err != nil {
			b.err = fmt.Errorf("SA context %d: %w", b.keys[i], err)
			break
		}
		b.ctxs = append(b.ctxs, c)
	}
	b.vals = nil
	return b
}
