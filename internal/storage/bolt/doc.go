// Package bolt is sadb's default engine.Store: the committed state of the
// engine in one bbolt file, written with group commit.
//
// sadbd opens the file at start with Open, hands the Store to the engine
// (engine.Options.Store) and closes it at shutdown. The Store holds the
// file's lock while it is open: a second process (or a second Open in the
// same process) fails with ErrInUse.
//
// # File format
//
// The file is a bbolt database with four top-level buckets and nothing
// else:
//
//   - "format": the key "magic" holds "sadb SA store" and the key
//     "version" the format version, a big-endian uint32 (currently 1).
//     Open refuses a file without this header or with another magic
//     (ErrNotStore), and a newer version (ErrNewerFormat).
//   - "meta", "sa-context", "filter": one bucket per engine.RecordKind. A
//     key is the record's uint64 key, big-endian, so bbolt's byte order is
//     numeric order. A value is a CRC-32C of the kind byte, the key and
//     the engine's bytes (4 bytes, big-endian), followed by those bytes.
//     bbolt checksums only its meta pages; the record checksum catches a
//     damaged or misplaced value before the engine decodes it.
//
// The file uses bbolt's default page size (the OS page size), a synced
// freelist (preflight relies on it, and it costs nothing measurable here),
// the hashmap freelist (constant-time allocation however fragmented the
// file gets; no difference at the sizes measured), and a fill of 90% for
// the record buckets, whose ids
// only grow: bbolt's default of 50% writes twice the pages for appended
// records. Larger pages were measured slower: bbolt rewrites whole pages.
//
// # Opening a file
//
// A missing file is created with mode 0600 (its directory with mode 0700):
// bbolt initializes it and the format header is committed under a
// temporary name in the same directory, then it is linked into place, so
// the path never names a half-made store and a file that appeared
// meanwhile is not replaced.
//
// An existing file is checked before anything uses it, and never written,
// truncated or replaced when a check fails:
//
//  1. Open takes the file's flock (waiting up to Options.LockTimeout). The
//     file handed to bbolt is this already-locked one, so bbolt's own lock
//     succeeds at once and nothing reads the file unlocked.
//  2. An empty file is refused (ErrNotStore): bbolt would initialize it.
//  3. preflight walks bbolt's page structure through a bounds-checked view
//     of the file: bbolt itself follows page ids and offsets without
//     bounds checks, and a damaged page would crash the process in bbolt's
//     own goroutines instead of failing Open.
//  4. bbolt opens the file; the format header, every bucket name, every
//     key and every record checksum are checked; bbolt's Tx.Check runs.
//
// # Commit: group commit
//
// Commit queues its mutations and waits. One committer goroutine takes
// everything queued (up to Options.MaxBatchMutations mutations) and
// applies it in one bbolt read-write transaction, in arrival order, so a
// later mutation of a record wins. bbolt writes the dirty pages, fdatasyncs,
// writes the meta page and fdatasyncs again; then every call in the batch
// gets the outcome. Commit returns only after that, so a call that starts
// after another returned lands in a later transaction.
//
// The cost of a transaction is mostly its two fdatasyncs, so throughput is
// the calls per transaction divided by its duration. Two measures raise the
// calls per transaction; BenchmarkCommitChoices shows what each is worth:
//
//   - Linger: after a transaction, the committer waits (at most
//     Options.Linger) until as many callers have queued again as the
//     transaction released. Callers that commit in a loop otherwise split
//     into two cohorts that alternate, each finding the other in the queue,
//     and every transaction carries half of them.
//   - Preallocation: bbolt grows its file with ftruncate, so new pages land
//     in holes, and the fdatasync of a transaction that writes them also
//     commits the file system's block allocation (an ext4 journal commit).
//     The committer writes zeros ahead of bbolt's high-water mark, in
//     chunks of a quarter of the used size (256 KiB to 8 MiB) with one
//     fsync each, so bbolt's writes are overwrites. Options.NoPreallocate
//     turns this off for copy-on-write file systems.
//
// A disk transaction that fails (an I/O error, a full disk, MaxSize) fails
// every call in it and the Store itself: later calls fail with ErrFailed
// until the file is opened again, because after a failed fsync the kernel
// may have dropped dirty pages it will not write again.
//
// # Durability
//
// Commit returns nil only after bbolt's second fdatasync; the Store never
// sets bbolt's NoSync. bbolt's order of writes (pages, sync, meta, sync)
// keeps the file consistent across a power loss as long as the device
// honours flushes. The package's crash test kills a committing child with
// SIGKILL at random moments and checks that every acknowledged commit is on
// disk whole and no torn record is; it cannot simulate a power loss.
//
// # Platforms
//
// The Store needs flock and mmap: Open fails with errors.ErrUnsupported
// on systems other than unix.
package bolt
