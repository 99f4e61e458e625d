// Package storage is the home of sadb's persistent stores: the
// implementations of engine.Store, the interface the engine defines for what
// it needs (house rule: the consumer owns the interface).
//
// # What the tree owns
//
//   - bolt: the default store, one bbolt file with a write-ahead log
//     beside it: a commit is one group-committed log write and fdatasync,
//     and checkpoints apply the log to the file. This is what sadbd opens
//     at start and closes at shutdown.
//   - mem: an in-memory store with the same semantics and no disk, for
//     tests of the engine's persistence and restart logic; it can be told
//     to fail commits.
//   - storagetest: the conformance suite every store must pass (atomicity,
//     deletes, last-write-wins, concurrent durable commits, reopen).
//
// # The contract every store keeps
//
// A store keeps opaque bytes under (engine.RecordKind, uint64 key); the
// engine encodes and decodes records. Commit applies a list of mutations
// atomically and durably: when it returns nil the mutations survive a crash.
// A Commit rejected before it reached the disk (a closed store, an invalid
// mutation) applied nothing; a disk commit that failed may or may not have
// reached the disk, which is why the engine stops writing until restart. A
// Commit that starts after another returned is ordered after it, and within
// one Commit later mutations of the same record win. Load calls its function for every
// record, kinds in ascending order and keys ascending within a kind, with a
// value the function may keep. Stores are safe for concurrent use.
package storage
