// Package bolt is sadb's default engine.Store: the committed state of the
// engine in one bbolt file, with a write-ahead log beside it that makes a
// durable commit cost one small write and one fdatasync.
//
// sadbd opens the store at start with Open, hands the Store to the engine
// (engine.Options.Store) and closes it at shutdown. The Store holds the
// store file's lock while it is open: a second process (or a second Open
// in the same process) fails with ErrInUse. The log is only opened by a
// Store that holds that lock (and the Store locks the log as well).
//
// # Why a log
//
// The engine replies to a client only once its transaction's Commit has
// returned, and a client waits for each reply, so the clients in flight
// bound the commits in flight, and throughput is their number divided by
// the latency of one durable commit. A bbolt transaction costs two
// fdatasyncs and about twenty pages (0.5 to 0.85 ms on the virtio disk
// measured); 16 clients then top out near 27,000 commits/s, whatever group
// commit does. An append to a preallocated log costs one write of a few
// blocks and one fdatasync (about 150 µs there), and the bbolt work moves
// off the commit path, into checkpoints that carry thousands of commits
// each and write a record changed by several of them once.
//
// # Commit path and checkpoints
//
//	Commit ─┐ encode the mutations (caller's goroutine)
//	Commit ─┼─► queue ─► writer goroutine (group commit, linger)
//	Commit ─┘             │ one frame: header, every queued call, padding
//	                      │ pwrite at the log's head ─► fdatasync(log)
//	                      │ add the records to the active memtable
//	                      ▼ release every caller in the frame
//	                 log file (circular, preallocated with zeros)
//	        ┌──────────────────────────────────────────────────────┐
//	        │hdr│ applied ... │ frames not yet applied │ free ...   │
//	        └──────────────────────────────────────────────────────┘
//	                           ▲ tail                  ▲ head
//	checkpointer goroutine: when the log holds CheckpointBytes, when it
//	is full (the writer waits), or every CheckpointInterval:
//	  freeze the active memtable (a new one takes the writer's records)
//	  one bbolt transaction: its records, in key order, and the log state
//	  (the first frame not applied, and where) ─► bbolt's two fdatasyncs
//	  move the tail to the cut; wake a writer that waits for space
//
// Commit encodes its mutations and queues them. One writer goroutine takes
// everything queued (up to Options.MaxBatchMutations mutations, and a
// quarter of the log) and writes it as one frame at the log's head, then
// fdatasyncs the log, adds the records to the active memtable, and tells
// every call in the frame the outcome. Commit returns only after that, so
// a call that starts after another returned lands in a later frame, and a
// Commit that returned nil survives a crash. After a write, the writer
// lingers (at most Options.Linger) until as many callers have queued again
// as the frame released: callers that commit in a loop otherwise split into
// two cohorts that alternate, each finding the other in the queue, and
// every frame carries half of them.
//
// A memtable maps each record to its latest value (or deletion) among the
// synced frames not yet applied to the file; Load lays it over the file.
// The checkpointer applies the whole memtable in one bbolt transaction,
// with FillPercent 0.9 and keys in order, and writes in the same
// transaction the log state: the sequence number and offset of the first
// frame it did not apply. Once bbolt has committed, that space of the log
// is free again. The checkpoint's transaction and its fdatasyncs compete
// with the log for the disk, so frame latency rises while one runs, but no
// caller waits for it unless the log is full: then the writer waits for
// the checkpoint (back-pressure, counted in Stats.LogWaits), and never
// drops or overwrites a frame that is not applied. A call too large for
// the log (more than a quarter of it) waits until the log is empty and is
// committed to the file in a bbolt transaction of its own.
//
// Load read-locks the checkpoints' lock while it copies the memtables and
// begins its bbolt read transaction, so the file and the memtables it
// merges are one point in time.
//
// # The log file
//
// The log is the store's path followed by "-wal", of Options.LogSize bytes
// (64 MiB by default), written with zeros when it is made: overwriting
// allocated blocks, the fdatasync of a frame writes the frame and flushes
// the device cache, without a file system journal commit for an
// allocation. Block 0 is the header: "sadb SA log" padded to 16 bytes, the
// log version (1), the block size (4096) and the file size, the store's
// identity (16 random bytes that the store file also holds), and a CRC-32C
// of those. The rest is a ring of 4 KiB blocks. A frame starts on a block
// boundary and fills whole blocks:
//
//	offset size  field
//	0      4     magic "SAWL"
//	4      2     kind (1: commits)
//	6      2     flags (0)
//	8      4     payload length
//	12     4     number of Commit calls
//	16     8     sequence number
//	24     4     CRC-32C of the store identity, the rest of the header
//	             and the payload
//	28     4     reserved (0)
//	32     ...   payload: per call, its mutation count (4 bytes), then per
//	             mutation its kind (1), key (8), value length (4, or
//	             0xffffffff for a delete) and value; then zeros to the
//	             block boundary
//
// All integers are little-endian. Frames are numbered without gaps across
// the store's life. The frame after the one ending at offset e starts at e,
// or at the first slot when the writer wrapped around (it does when the
// frame does not fit before the end). A frame is written only after the one
// before it is synced, and a frame is only acknowledged whole, so a frame's
// CRC makes every call in it all or nothing.
//
// # Recovery
//
// Open reads the log state from the store file and scans the log from
// there: a frame is replayed if it is intact and has the next sequence
// number, found at the expected offset or at the first slot. The scan stops
// at the first offset that holds neither: zeros or an older frame (a clean
// end), or a frame that fails its checks. Then every block of the log is
// searched for an intact frame numbered at or after the stop. There is none
// after a crash, since nothing is written past a frame that is not synced:
// a damaged last frame is a torn write, never acknowledged, and is ignored
// (Stats.RecoveredTornTail). If there is one, the damage lies inside the
// acknowledged part of the log, and Open fails with ErrCorrupt rather than
// silently drop the calls that follow it; damage to the very last frame
// cannot be told from a torn write, as in any log. Open then applies what
// it replayed in one checkpoint and restarts the log, empty, at its first
// slot. A log that is missing while the store was not closed cleanly (the
// log state carries that flag), a log of another store, or a log with a
// damaged header is refused too, and neither file is touched.
//
// Close commits the calls queued, then checkpoints everything and marks
// the store closed cleanly: the log is left empty (it still holds stale
// frames, numbered before the state's, until they are overwritten).
//
// # The store file
//
// The store file is a bbolt database with four top-level buckets and
// nothing else:
//
//   - "format": the key "magic" holds "sadb SA store", the key "version"
//     the format version, a big-endian uint32 (currently 2), the key "id"
//     the store's 16-byte identity, and the key "log" the log state: the
//     sequence number and offset of the first frame not yet applied
//     (big-endian uint64s), a flags byte (1: open, not closed cleanly) and
//     a CRC-32C of those 17 bytes. Open refuses a file without this header
//     or with another magic (ErrNotStore), and a newer version
//     (ErrNewerFormat). A version 1 file (before the log) is upgraded when
//     opened; a sadbd that reads only version 1 then refuses it, as it
//     must, since the log may hold commits it would not see.
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
// the record buckets, whose ids only grow: bbolt's default of 50% writes
// twice the pages for appended records. Larger pages were measured slower:
// bbolt rewrites whole pages.
//
// # Opening a store
//
// A missing store file is created with mode 0600 (its directory with mode
// 0700): bbolt initializes it and the format header is committed under a
// temporary name in the same directory, then it is linked into place, so
// the path never names a half-made store and a file that appeared
// meanwhile is not replaced. A log is made the same way (mode 0600, under a
// temporary name, then renamed into place).
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
//  5. The log is opened, locked and checked, and scanned as described
//     above; only then is anything written.
//
// # Preallocation of the store file
//
// bbolt grows its file with ftruncate, so new pages land in holes, and the
// fdatasync of a transaction that writes them also commits the file
// system's block allocation (an ext4 journal commit). After each
// checkpoint, the Store writes zeros ahead of bbolt's high-water mark, in
// chunks of a quarter of the used size (256 KiB to 8 MiB) with one fsync
// each, so bbolt's writes are overwrites. Options.NoPreallocate turns this
// off for copy-on-write file systems.
//
// # Failures
//
// A log write or fdatasync that fails fails every call in its frame and the
// Store itself: later calls fail with ErrFailed until the store is opened
// again, because after a failed fsync the kernel may have dropped dirty
// pages it will not write again. A checkpoint that fails (an I/O error, a
// full disk, Options.MaxSize) fails the Store the same way; the calls
// acknowledged before are in the log, Load still sees them, and the next
// Open replays them (Close then skips its checkpoint).
//
// # Durability
//
// Commit returns nil only after the log's fdatasync; bbolt's NoSync is
// never set, so a checkpoint is durable before it frees log space. bbolt's
// order of writes (pages, sync, meta, sync) keeps the file consistent
// across a power loss as long as the device honours flushes. The package's
// crash test kills a committing child with SIGKILL in the middle of a
// frame's write, after a frame's fdatasync, inside a checkpoint's
// transaction, after a checkpoint's commit and at random moments, and
// checks that every acknowledged commit is on disk whole, no commit is
// half applied and no record goes backwards; it cannot simulate a power
// loss.
//
// # Platforms
//
// The Store needs flock and mmap: Open fails with errors.ErrUnsupported
// on systems other than unix. It uses fdatasync on Linux and fsync
// elsewhere.
package bolt
