package bolt

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// Preallocation sizes: the zeros kept ahead of bbolt's high-water mark are
// a quarter of the used size, within these bounds.
const (
	minPrealloc = 256 << 10
	maxPrealloc = 8 << 20
)

// zeros is the source of preallocation writes.
var zeros = make([]byte, 256<<10)

// preallocator keeps written zeros ahead of bbolt's pages. It is used by
// checkpoints (and the rare commit too large for the log), which the
// Store's ckptMu serializes; its counters are safe to read concurrently.
type preallocator struct {
	file    *os.File // the file bbolt writes
	maxSize int64    // Options.MaxSize
	off     bool     // Options.NoPreallocate, or a write failed
	zeroed  int64    // the file holds written blocks below this offset
	// Counters for Stats, read by other goroutines.
	bytes   atomic.Int64
	seconds *histogram
}

// preallocate keeps written zeros ahead of bbolt's high-water mark.
//
// bbolt grows its file with ftruncate, so the pages it then allocates land
// in holes, and the fsync of every transaction that writes them must also
// commit the file system's block allocation (an ext4 journal commit).
// Measured here, that nearly doubles the fsync cost of a small transaction.
// Writing zeros ahead of bbolt, in chunks with one fsync each, takes the
// allocations off the commit path: bbolt's later writes there overwrite
// allocated blocks, and bbolt does not grow the file while it is longer
// than it needs.
//
// The zeros go above the high-water mark, where no meta page, reader or
// freelist refers; preallocate runs after a checkpoint, holding s.ckptMu,
// when no other bbolt write transaction can move the mark. A crash leaves only zeros past the mark, which bbolt and
// preflight ignore.
func (s *Store) preallocate() {
	p := &s.prealloc
	if p.off {
		return
	}
	var used int64
	if err := s.db.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		return
	}
	chunk := min(max(used/4, minPrealloc), maxPrealloc)
	if p.zeroed-used >= chunk/2 {
		return
	}
	from, to := max(p.zeroed, used), used+chunk
	if p.maxSize > 0 {
		to = min(to, p.maxSize)
	}
	if to <= from {
		return
	}
	start := time.Now()
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := p.file.WriteAt(zeros[:n], off); err != nil {
			// Most likely a full disk. bbolt grows the file itself and
			// reports that on the commit that needs the space.
			p.off = true
			return
		}
		off += n
	}
	if err := p.file.Sync(); err != nil {
		// The device failed a flush: fail the Store as a failed commit
		// would, rather than trust the next one.
		p.off = true
		err = fmt.Errorf("%w: syncing %s: %w", ErrFailed, s.path, err)
		s.log.mu.Lock()
		if s.log.failed == nil {
			s.log.failed = err
		}
		s.log.space.Broadcast()
		s.log.mu.Unlock()
		s.fail(err)
		return
	}
	p.zeroed = to
	p.bytes.Add(to - from)
	p.seconds.observeDuration(time.Since(start))
}
