package engine

import (
	"sync"
	"sync/atomic"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/wfp"
)

// txn is one engine transaction: implicit (one call) or explicit
// (FwpmTransactionBegin0 .. Commit0/Abort0). Changes are applied to the live
// tables as the calls run, with an undo entry each; Abort replays the undo
// log backwards. What must wait for commit (events, key zeroing, key-manager
// notifications, persistence) is queued and run by commit.
//
// A txn is used by one goroutine at a time: an implicit one by its call, an
// explicit one under its session's txnMu.
type txn struct {
	e        *Engine
	explicit bool
	readOnly bool
	mode     lockMode
	slot     int // the calling session's lock slot, also used for reference counts
	sess     *session

	undo   []undoEntry
	post   []postAction
	events []*event
	dp     []dpOp // data path changes, applied at commit
	dirty  dirtySet

	// aborted is set when the lock timeout forcibly aborts an explicit
	// transaction; the next call in it fails with FWP_E_TXN_ABORTED.
	aborted  atomic.Bool
	lockTmr  clock.Timer
	finished bool // committed or aborted; guarded by the session's txnMu
}

// savepoint marks a position to roll a failed call back to.
type savepoint struct{ undo, post, events, dp int }

func (tx *txn) savepoint() savepoint {
	return savepoint{len(tx.undo), len(tx.post), len(tx.events), len(tx.dp)}
}

// rollbackTo undoes everything after sp, newest first.
func (tx *txn) rollbackTo(sp savepoint) {
	for i := len(tx.undo) - 1; i >= sp.undo; i-- {
		tx.undo[i].apply(tx.e)
		tx.undo[i] = undoEntry{}
	}
	tx.undo = tx.undo[:sp.undo]
	for i := range tx.dp[sp.dp:] {
		for _, sa := range []*datapath.SA{tx.dp[sp.dp+i].sa, tx.dp[sp.dp+i].old} {
			if sa != nil && sa.Bundle != nil {
				for j := range sa.Bundle.SAList {
					sa.Bundle.SAList[j].ZeroKeys()
				}
			}
		}
	}
	for i := sp.post; i < len(tx.post); i++ {
		tx.post[i] = postAction{}
	}
	tx.post = tx.post[:sp.post]
	for _, ev := range tx.events[sp.events:] {
		tx.e.bus.cancel(ev)
	}
	clear(tx.events[sp.events:])
	tx.events = tx.events[:sp.events]
	clear(tx.dp[sp.dp:])
	tx.dp = tx.dp[:sp.dp]
}

type undoKind uint8

const (
	undoCtx       undoKind = iota + 1 // restore table entry id to ctx (nil: remove)
	undoSPI                           // release spi held by id
	undoFilterAdd                     // remove filter id
	undoFilterDel                     // put filter back
	undoFilterRef                     // add delta back to filter id's reference count
	undoEngineSD                      // restore the engine descriptor
	undoSADBSD                        // restore the SA DB descriptor
)

type undoEntry struct {
	kind   undoKind
	id     uint64
	spi    uint32
	delta  int32
	ctx    *saCtx // undoCtx: the version to put back (nil: none)
	filter *filter
	sd     *wfp.SecurityDescriptor

	// installed is, for undoCtx, the version the transaction put in the
	// table (nil: it deleted the context): the entry is put back only if
	// the table still holds it (see restoreCtx).
	installed *saCtx
}

func (u *undoEntry) apply(e *Engine) {
	switch u.kind {
	case undoCtx:
		e.restoreCtx(u.id, u.installed, u.ctx)
	case undoSPI:
		e.spis.release(u.spi, u.id)
	case undoFilterAdd:
		e.filters.remove(u.id)
	case undoFilterDel:
		e.filters.insert(u.filter)
	case undoFilterRef:
		if f := e.filters.get(u.id); f != nil {
			f.addRef(0, -int64(u.delta))
		}
	case undoEngineSD:
		e.engineSD.Store(u.sd)
	case undoSADBSD:
		e.sadbSD.Store(u.sd)
	}
}

type postKind uint8

const (
	postZeroKeys    postKind = iota + 1 // zero the keys of bundle b
	postKeyNotify                       // tell key managers about context id
	postSchedule                        // schedule the timers of context id
	postSAsAdded                        // count n SAs added
	postSAsDeleted                      // count n SAs deleted
	postReleaseSPI                      // free spi held by context id
	postUnrefFilter                     // drop a reference on filter id
	postUnschedule                      // take timer slot ts out of the deadline heap
	postGiveRoom                        // give room back (see reuse.go)
	postGiveBack                        // give back what deleted context with slot ts owned
)

type postAction struct {
	kind postKind
	id   uint64
	n    int
	spi  uint32
	b    *bundle
	ts   *timerSlot
	room *ctxRoom
}

// dirtySet records which persisted objects a transaction changed.
type dirtySet struct {
	ctxs    map[uint64]struct{}
	filters map[uint64]struct{}
	sds     bool // a security descriptor
	ids     bool // an id counter (a context was created); filters imply it
}

func (d *dirtySet) ctx(id uint64) {
	if d.ctxs == nil {
		d.ctxs = make(map[uint64]struct{})
	}
	d.ctxs[id] = struct{}{}
}

func (d *dirtySet) filter(id uint64) {
	if d.filters == nil {
		d.filters = make(map[uint64]struct{})
	}
	d.filters[id] = struct{}{}
}

func (d *dirtySet) empty() bool {
	return len(d.ctxs) == 0 && len(d.filters) == 0 && !d.sds && !d.ids
}

func (d *dirtySet) reset() {
	clear(d.ctxs)
	clear(d.filters)
	d.sds, d.ids = false, false
}

func (tx *txn) reservedSPI(spi uint32, id uint64) {
	tx.undo = append(tx.undo, undoEntry{kind: undoSPI, spi: spi, id: id})
}

func (tx *txn) postAction(a postAction) { tx.post = append(tx.post, a) }

var txnPool = sync.Pool{New: func() any { return new(txn) }}

func newImplicitTxn(e *Engine, s *session, slot int, m lockMode) *txn {
	var tx *txn
	if s != nil {
		tx = s.spareTx.Swap(nil)
	}
	if tx == nil {
		tx = txnPool.Get().(*txn)
	}
	tx.e, tx.sess, tx.slot, tx.mode = e, s, slot, m
	return tx
}

func (tx *txn) recycle() {
	if tx.explicit {
		return
	}
	// Truncate without clearing (clearing costs more than the rest of the
	// call's bookkeeping): the stale entries are overwritten by the next
	// transaction and meanwhile keep at most a few old versions alive (their
	// keys are zeroed all the same when their context goes), also while a
	// session that keeps this transaction as its spare is idle.
	tx.undo, tx.post, tx.events = tx.undo[:0], tx.post[:0], tx.events[:0]
	clear(tx.dp) // holds SA descriptions with key material
	tx.dp = tx.dp[:0]
	if !tx.dirty.empty() {
		tx.dirty.reset()
	}
	s := tx.sess
	tx.e, tx.sess, tx.slot, tx.mode = nil, nil, 0, 0
	if s != nil && s.spareTx.CompareAndSwap(nil, tx) {
		return
	}
	txnPool.Put(tx)
}

// commit makes the transaction's changes final: it persists them, then runs
// the post-commit actions and releases the events. On a store failure the
// changes are rolled back and the error returned.
func (tx *txn) commit() error {
	e := tx.e
	if len(tx.dp) > 0 {
		defer tx.wipeDP()
		if err := tx.applyDatapath(); err != nil {
			tx.wipeDP()
			tx.rollbackTo(savepoint{})
			return err
		}
	}
	if e.store != nil && !tx.dirty.empty() {
		if err := e.persist(&tx.dirty); err != nil {
			for j := len(tx.dp) - 1; j >= 0; j-- {
				if uerr := e.applyDP(&tx.dp[j], true); uerr != nil {
					e.log.Error("undoing a data path change failed", "err", uerr)
				}
			}
			tx.rollbackTo(savepoint{})
			return err
		}
	}
	for i := range tx.post {
		e.runPost(&tx.post[i])
	}
	for _, ev := range tx.events {
		e.bus.ready(ev)
	}
	if len(tx.events) > 0 {
		e.bus.kick()
	}
	return nil
}

// abort undoes everything.
func (tx *txn) abort() { tx.rollbackTo(savepoint{}) }
