package engine

import (
	"sync"
	"sync/atomic"
)

// Reuse of a deleted context's memory.
//
// A plumbing sequence makes about 1.2 KB in four blocks: the room for the
// context's first versions (ctxRoom), its timer slot, its inbound bundle,
// and AddOutbound's version with the outbound bundle (versionWithBundle).
// A keying daemon that replaces SAs all day deletes as many contexts as it
// makes, so every block becomes garbage, and collecting it was most of the
// cost of the sequence and what kept two goroutines from doing twice the
// work of one. The engine therefore gives the blocks of a context back to
// pools once nothing can read them any more, and takes new blocks from
// there.
//
// Who may hold a version (or its bundles, or its slot) outside the table:
//
//   - code that reads the current version of a context does so while it
//     holds the context's shard lock (saTable.view, each), and keeps
//     nothing after: GetById, the store's encoding at commit, Stats,
//     IPsecGetStatistics, key-manager notification, the scheduler;
//   - a transaction's undo log keeps the versions it replaced; a rollback
//     puts one back only if the table still holds the version that
//     transaction installed (restoreCtx), so a version that another
//     transaction replaced or deleted since is never brought back;
//   - a post-commit action that holds a block runs in the transaction that
//     gives the block back, before it does so (zeroing the keys,
//     unscheduling the slot); IPsecSaContextExpire0, which zeroes the
//     outbound keys in its own transaction, first takes the outbound block
//     out of what the context leaves;
//   - an enumeration handle's snapshot holds versions until the handle is
//     destroyed: pins counts the snapshots open (taken before the snapshot
//     is made), and nothing is given back while one is open: those blocks
//     are left to the garbage collector.
//
// Blocks are given back at the commit of the transaction that deleted the
// context (or, for the room, of AddOutbound's), never before: an aborted
// transaction puts the context back as it was. The slot records the blocks
// a context owns (timerSlot.home, .vwb, .inBlk); it is written under the
// context's shard lock while the context lives, and is the deleting
// transaction's alone once the delete has committed. Blocks made by other
// paths (updates, the store's loader) are not recorded, and are collected
// as before. A block is zeroed when it is given back: its keys were zeroed
// already, and nothing of the old context is left in it.

var (
	roomPool  = sync.Pool{New: func() any { return new(ctxRoom) }}
	vwbPool   = sync.Pool{New: func() any { return new(versionWithBundle) }}
	blockPool = sync.Pool{New: func() any { return new(bundleBlock) }}
	slotPool  = sync.Pool{New: func() any { return new(timerSlot) }}
)

// reuse is the engine's side of it: the count of open snapshots.
type reuse struct {
	pins atomic.Int64 // enumeration snapshots open; nothing is given back while nonzero
}

// pin is called before a snapshot of versions is taken; unpin once it is
// dropped.
func (r *reuse) pin()   { r.pins.Add(1) }
func (r *reuse) unpin() { r.pins.Add(-1) }

// open reports whether blocks may be given back now.
func (r *reuse) open() bool { return r.pins.Load() == 0 }

// giveRoom gives back room r (nil: nothing).
func (r *reuse) giveRoom(room *ctxRoom) {
	if room == nil || !r.open() {
		return
	}
	*room = ctxRoom{}
	roomPool.Put(room)
}

// giveCtx gives back everything a deleted context recorded in its slot, and
// the slot. Called at the commit of the delete, after the transaction's
// other actions on the context.
func (r *reuse) giveCtx(ts *timerSlot) {
	if !r.open() {
		return
	}
	if ts.home != nil {
		*ts.home = ctxRoom{}
		roomPool.Put(ts.home)
	}
	if ts.vwb != nil {
		*ts.vwb = versionWithBundle{}
		vwbPool.Put(ts.vwb)
	}
	if ts.inBlk != nil {
		*ts.inBlk = bundleBlock{}
		blockPool.Put(ts.inBlk)
	}
	*ts = timerSlot{}
	slotPool.Put(ts)
}
