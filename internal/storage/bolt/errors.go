package bolt

import "errors"

// Errors returned by Open. Each is wrapped with the path of the file and
// what was found, so the message alone tells an operator what to do; test
// for them with errors.Is.
var (
	// ErrInUse means another process (or another Store in this process)
	// holds the file's lock and did not release it within
	// Options.LockTimeout.
	ErrInUse = errors.New("bolt: store is in use by another process")
	// ErrNotStore means the file exists but was not created by sadbd: it is
	// empty, is not a bbolt database, is a bbolt database without sadb's
	// format header, or carries the wrong magic string; or the file at the
	// log's path is not a sadb log (or is there although the store never
	// had a log). The files are left untouched.
	ErrNotStore = errors.New("bolt: file was not created by sadbd")
	// ErrNewerFormat means the file was written by a newer sadbd whose
	// format this one cannot read. The file is left untouched.
	ErrNewerFormat = errors.New("bolt: store format is newer than this sadbd supports")
	// ErrCorrupt means the file is a sadb store that failed a consistency
	// check: a damaged page, a record whose checksum does not match, a
	// truncated file, an unknown bucket; or its log is: a damaged header, a
	// log of another store, a missing log although the store was not
	// closed cleanly, or a damaged frame that intact frames follow (the
	// commits acknowledged after it would be lost). Open and Load return
	// it; the files are left untouched.
	ErrCorrupt = errors.New("bolt: store is corrupt")
)

// Errors returned by Commit and Load.
var (
	// ErrClosed means the Store was closed before the call.
	ErrClosed = errors.New("bolt: store is closed")
	// ErrInvalidMutation means a Commit carried a mutation the store cannot
	// hold (an unknown record kind, a value too large). Nothing in that
	// Commit was applied and the store stays usable.
	ErrInvalidMutation = errors.New("bolt: invalid mutation")
	// ErrFailed means a log write or a checkpoint failed (an I/O error, a
	// full disk, the MaxSize limit). The mutations of the Commit calls in a
	// failed log write may or may not be on disk, and after a failed fsync
	// the kernel may have dropped other dirty pages, so the Store accepts
	// no further commits: every later Commit returns ErrFailed too. Close
	// it and open the store again; Open replays what the log holds.
	ErrFailed = errors.New("bolt: store failed")
)
