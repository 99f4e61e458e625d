package bolt

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sadb-dev/sadb/engine"
)

// Options configure Open. The zero value is the recommended configuration.
type Options struct {
	// LockTimeout is how long Open waits for another process to release
	// the file before it fails with ErrInUse. Zero: DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxBatchMutations caps the mutations one log frame carries, so that
	// a backlog is committed in several frames rather than one unbounded
	// one; a single Commit larger than the cap still goes in one frame.
	// Zero: DefaultMaxBatchMutations.
	MaxBatchMutations int
	// Linger is how long the writer waits, after a log write, for the
	// callers it released to queue their next calls, so that they share
	// the next write (see doc.go). Zero: DefaultLinger; negative: no
	// waiting.
	Linger time.Duration
	// LogSize is the size in bytes of the write-ahead log, rounded up to
	// 4 KiB and kept within [MinLogSize, MaxLogSize]; the log is made this
	// size, and an existing log of another size is remade once Open has
	// applied it. Commit waits for a checkpoint when the log is full, and
	// the records of the log that no checkpoint has applied yet are kept
	// in memory too, so this bounds that memory. A Commit larger than a
	// quarter of it bypasses the log. Zero: DefaultLogSize.
	LogSize int64
	// CheckpointBytes is how much of the log fills before a checkpoint
	// applies it to the file (at most half the log). Zero:
	// DefaultCheckpointBytes.
	CheckpointBytes int64
	// CheckpointInterval is the longest a commit stays only in the log
	// while the Store is idle: a checkpoint runs this often if the log
	// holds anything. Zero: DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// MaxSize caps the size of the store file in bytes; a checkpoint that
	// would grow it further fails, and the Store with it (see ErrFailed).
	// The commits acknowledged before stay in the log, and the next Open
	// applies them, which needs the room. Zero: no limit.
	MaxSize int64
	// NoPreallocate stops the Store from writing zeros ahead of bbolt's
	// pages (see doc.go), for file systems where overwriting a block costs
	// as much as allocating one (copy-on-write file systems, tmpfs).
	NoPreallocate bool
}

// Defaults for Options.
//
// DefaultLinger is long enough for callers that come back over RPC: a
// sadbd client's next call reaches the store 0.3 to 0.5 ms after the reply
// to its last one (unix socket, 16 clients, 2 cores), so a shorter linger
// gave up before they were back and split them into two cohorts, half of
// them per fdatasync. Callers in the same process come back within
// microseconds and end the linger at once.
const (
	DefaultLockTimeout        = time.Second
	DefaultMaxBatchMutations  = 4096
	DefaultLinger             = time.Millisecond
	DefaultCheckpointBytes    = 16 << 20
	DefaultCheckpointInterval = time.Second
)

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.MaxBatchMutations <= 0 {
		o.MaxBatchMutations = DefaultMaxBatchMutations
	}
	o.LogSize = logSizeFor(o)
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = DefaultCheckpointBytes
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	return o
}

// boltOptions are the bbolt settings of every store file. The choices are
// explained in doc.go. NoFreelistSync must stay false: preflight relies on a
// synced freelist, and a writer that opened with it true would make the next
// opener rewrite the file before checking it.
func boltOptions(o Options, openFile func(string, int, os.FileMode) (*os.File, error)) *bbolt.Options {
	return &bbolt.Options{
		Timeout:        o.LockTimeout,
		NoFreelistSync: false,
		FreelistType:   bbolt.FreelistMapType,
		MaxSize:        int(o.MaxSize),
		OpenFile:       openFile,
	}
}

// Open opens the store file at path and its write-ahead log (path followed
// by "-wal"), creating them (and their directory, mode 0700) if the store
// does not exist. New files have mode 0600; a new store file is created
// under a temporary name and linked into place once its format header is
// on disk, so path never names a half-made store, and a new log likewise.
//
// An existing file is checked before it is used: Open takes its lock
// (waiting up to Options.LockTimeout, then failing with ErrInUse), proves
// its page structure sound, checks the format header, runs bbolt's
// consistency check and verifies the checksum of every record. Then it
// checks the log's header (it must belong to this store), reads the log
// and replays every intact frame that no checkpoint applied, in order,
// and applies them to the file in one transaction, so the log starts
// empty. A damaged last frame is a write a crash cut short and is ignored;
// a damaged frame followed by intact ones, a log that is missing although
// the store was not closed cleanly, or a log of another store, is
// corruption. A file that is empty, is not a bbolt file or a sadb log, has
// the wrong magic or a newer format version, or fails a check is reported
// with an error naming the path and wrapping ErrNotStore, ErrNewerFormat
// or ErrCorrupt; such a file is never written, truncated or replaced, and
// neither is the store or its log.
//
// A store written by a sadbd without the log (format version 1) is
// upgraded: it gets an identity and a log, and versions that know only
// format 1 refuse it from then on.
//
// The Store holds the store file's lock until Close; the log is only ever
// opened under it. The caller must Close the Store.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	switch _, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		if err := create(path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	db, file, err := openChecked(path, opts)
	if err != nil {
		return nil, err
	}
	s, err := recoverLog(db, file, path, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// recoverLog opens the log of the checked store db (creating it if the
// store was closed cleanly or never had one), replays it into the file and
// starts the Store. On failure the caller closes db.
func recoverLog(db *bbolt.DB, file *os.File, path string, opts Options) (*Store, error) {
	var h header
	if err := db.View(func(tx *bbolt.Tx) error { h = readHeader(tx); return nil }); err != nil {
		return nil, fmt.Errorf("bolt: reading %s: %w", path, err)
	}
	lpath := logPath(path)
	if h.version < logFormatVersion {
		// Nothing made a log for this file: whatever is at the log's
		// path is not one of ours.
		switch _, err := os.Lstat(lpath); {
		case err == nil:
			return nil, fmt.Errorf("%w: %s is beside a store that has no log (format version %d)", ErrNotStore, lpath, h.version)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("bolt: open %s: %w", lpath, err)
		}
		// Upgrade: an identity and a log state for a log made below,
		// committed before the log exists (a crash in between leaves a
		// cleanly closed version 2 store without a log, which gets one).
		id, err := newStoreID()
		if err != nil {
			return nil, err
		}
		h.id, h.log = id, logState{seq: 1, pos: logDataStart}
		if err := db.Update(func(tx *bbolt.Tx) error { return putLogHeader(tx, h.id, h.log) }); err != nil {
			return nil, fmt.Errorf("bolt: upgrading %s: %w", path, err)
		}
	}
	f, lh, err := openLog(lpath, h.id)
	if errors.Is(err, fs.ErrNotExist) {
		if h.log.open {
			return nil, fmt.Errorf("%w: %s is missing, and the store was not closed cleanly: the commits the log held would be lost", ErrCorrupt, lpath)
		}
		if err := createLog(lpath, opts.LogSize, h.id); err != nil {
			return nil, err
		}
		f, lh, err = openLog(lpath, h.id)
	}
	if err != nil {
		return nil, err
	}
	closeLog := true
	defer func() {
		if closeLog {
			f.Close()
		}
	}()
	if err := lockLog(f, lpath); err != nil {
		return nil, err
	}
	// The log is mapped, not read: a read would put its whole size on the
	// heap (64 MiB by default), which the process would keep long after.
	img, unmap, err := mapFile(f, lh.size)
	if err != nil {
		return nil, fmt.Errorf("bolt: mapping %s: %w", lpath, err)
	}
	rec, err := scanLog(img, h.log, &h.id, lpath)
	if err != nil {
		unmap()
		return nil, err
	}
	s := newStore(db, file, path, h.id, opts)
	mt := newMemtable(0)
	for _, fr := range rec.frames {
		mt.apply(fr.payload, fr.commits)
	}
	// The log starts over at its first slot, empty: every frame on disk
	// is numbered before rec.next (scanLog proved it).
	err = s.writeCheckpoint(mt.sorted(), logState{seq: rec.next, pos: logDataStart, open: true})
	unmap() // the memtable's values alias the log; the checkpoint copied them
	if err != nil {
		return nil, err
	}
	s.stats.recoveredCommits, s.stats.recoveredTorn = rec.commits, rec.torn
	if lh.size != opts.LogSize {
		f.Close()
		closeLog = false
		if err := createLog(lpath, opts.LogSize, h.id); err != nil {
			return nil, err
		}
		if f, lh, err = openLog(lpath, h.id); err != nil {
			return nil, err
		}
		closeLog = true
		if err := lockLog(f, lpath); err != nil {
			return nil, err
		}
	}
	s.ckptMu.Lock()
	s.preallocate()
	s.ckptMu.Unlock()
	closeLog = false
	s.start(f, lh.size, rec.next)
	return s, nil
}

// lockLog takes the lock of the log f at once: the Store holds the store
// file's lock, so no sadbd holds the log's.
func lockLog(f *os.File, path string) error {
	if err := lockFile(f, 0); err != nil {
		if errors.Is(err, errLockTimeout) {
			return fmt.Errorf("%w: %s is locked", ErrInUse, path)
		}
		return fmt.Errorf("bolt: locking %s: %w", path, err)
	}
	return nil
}

// newStoreID returns a random store identity.
func newStoreID() (storeID, error) {
	var id storeID
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("bolt: making a store identity: %w", err)
	}
	return id, nil
}

// create makes a new store file at path. If another process creates path
// first, create leaves that file alone and returns nil: Open then checks it
// like any existing file.
func create(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*") // mode 0600
	if err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // once linked, the file lives on under path
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	id, err := newStoreID()
	if err != nil {
		return err
	}
	db, err := bbolt.Open(name, 0o600, boltOptions(Options{}.withDefaults(), nil))
	if err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error { return writeHeader(tx, id) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("bolt: creating %s: syncing the directory: %w", path, err)
	}
	return nil
}

// openChecked opens the existing store file at path for writing and checks
// it as Open describes. It writes nothing to the file. It also returns the
// file bbolt writes (bbolt closes it).
func openChecked(path string, opts Options) (*bbolt.DB, *os.File, error) {
	// bbolt locks the file only after opening it, and reads meta pages
	// through its memory map right after. The file it gets is therefore
	// opened, locked and preflighted here; bbolt's own flock on the same
	// open file then succeeds at once.
	var file *os.File
	openFile := func(name string, _ int, _ os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, os.O_RDWR, 0) // never O_CREATE or O_TRUNC
		if err != nil {
			return nil, fmt.Errorf("bolt: open %s: %w", path, err)
		}
		if err := checkFile(f, path, opts.LockTimeout); err != nil {
			f.Close()
			return nil, err
		}
		file = f
		return f, nil
	}
	db, err := openBolt(path, boltOptions(opts, openFile), &file)
	if err != nil {
		return nil, nil, err
	}
	err = db.View(func(tx *bbolt.Tx) error {
		return guard(path, func() error { return verify(tx, path) })
	})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, file, nil
}

// checkFile locks f and checks that it can be handed to bbolt.
func checkFile(f *os.File, path string, timeout time.Duration) error {
	if err := lockFile(f, timeout); err != nil {
		if errors.Is(err, errLockTimeout) {
			return fmt.Errorf("%w: %s is locked (waited %v)", ErrInUse, path, timeout)
		}
		return fmt.Errorf("bolt: locking %s: %w", path, err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		return fmt.Errorf("bolt: open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file", ErrNotStore, path)
	case fi.Size() == 0:
		return fmt.Errorf("%w: %s is empty", ErrNotStore, path)
	}
	data, unmap, err := mapFile(f, fi.Size())
	if err != nil {
		return fmt.Errorf("bolt: reading %s: %w", path, err)
	}
	defer unmap()
	return preflight(data, path)
}

// openBolt runs bbolt.Open, turning a panic or a memory fault inside it (or
// inside preflight, which runs in the OpenFile hook and reads the file
// through a memory map that a process truncating the file could cut short)
// into ErrCorrupt. preflight should leave bbolt none; this is the last line
// of defence.
// *file is the file the OpenFile hook handed bbolt, closed here if bbolt
// panicked holding it.
func openBolt(path string, o *bbolt.Options, file **os.File) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if *file != nil {
				(*file).Close()
			}
			db, err = nil, fmt.Errorf("%w: %s: bbolt failed reading it: %v", ErrCorrupt, path, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, o)
	switch {
	case err == nil:
	case errors.Is(err, ErrInUse), errors.Is(err, ErrNotStore), errors.Is(err, ErrCorrupt):
	case errors.Is(err, berrors.ErrTimeout):
		err = fmt.Errorf("%w: %s is locked", ErrInUse, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		err = fmt.Errorf("%w: %s: %v", ErrNotStore, path, err)
	case errors.Is(err, berrors.ErrChecksum):
		err = fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	default:
		err = fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return db, err
}

// guard runs fn, which reads the file through bbolt, turning a panic or a
// memory fault into ErrCorrupt.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: bbolt failed reading it: %v", ErrCorrupt, path, r)
		}
	}()
	return fn()
}

// verify checks an opened file: the format header, the layout and record
// checksums, and bbolt's consistency check.
func verify(tx *bbolt.Tx, path string) error {
	if err := checkHeader(tx, path); err != nil {
		return err
	}
	if err := walk(tx, path, func(engine.RecordKind, uint64, []byte) error { return nil }); err != nil {
		return err
	}
	var first error
	n := 0
	for err := range tx.Check() {
		if first == nil {
			first = err
		}
		n++
	}
	if n > 0 {
		return fmt.Errorf("%w: %s: bbolt's consistency check found %d problems, the first: %v", ErrCorrupt, path, n, first)
	}
	return nil
}
