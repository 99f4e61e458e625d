package bolt

import (
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
	// MaxBatchMutations caps the mutations one disk transaction carries, so
	// that a backlog is committed in several transactions rather than one
	// unbounded one; a single Commit larger than the cap still goes in one
	// transaction. Zero: DefaultMaxBatchMutations.
	MaxBatchMutations int
	// Linger is how long the committer waits, after a disk transaction,
	// for the callers it released to queue their next calls, so that they
	// share the next transaction (see doc.go). Zero: DefaultLinger;
	// negative: no waiting.
	Linger time.Duration
	// MaxSize caps the size of the file in bytes; a disk commit that would
	// grow it further fails (and the Store with it, see ErrFailed). Zero:
	// no limit.
	MaxSize int64
	// NoPreallocate stops the Store from writing zeros ahead of bbolt's
	// pages (see doc.go), for file systems where overwriting a block costs
	// as much as allocating one (copy-on-write file systems, tmpfs).
	NoPreallocate bool
}

// Defaults for Options.
const (
	DefaultLockTimeout       = time.Second
	DefaultMaxBatchMutations = 4096
	DefaultLinger            = 200 * time.Microsecond
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

// Open opens the store file at path, creating it (and its directory, mode
// 0700) if it does not exist. A new file has mode 0600 and is created under
// a temporary name and linked into place once its format header is on disk,
// so path never names a half-made store.
//
// An existing file is checked before it is used: Open takes its lock
// (waiting up to Options.LockTimeout, then failing with ErrInUse), proves
// its page structure sound, checks the format header, runs bbolt's
// consistency check and verifies the checksum of every record. A file that
// is empty, is not a bbolt file, has the wrong magic or a newer format
// version, or fails a check is reported with an error naming the path and
// wrapping ErrNotStore, ErrNewerFormat or ErrCorrupt; such a file is never
// written, truncated or replaced.
//
// The Store holds the file's lock until Close. The caller must Close it.
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
	return newStore(db, file, path, opts), nil
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
	db, err := bbolt.Open(name, 0o600, boltOptions(Options{}.withDefaults(), nil))
	if err != nil {
		return fmt.Errorf("bolt: creating %s: %w", path, err)
	}
	err = db.Update(writeHeader)
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
