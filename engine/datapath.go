package engine

import (
	"errors"
	"time"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/wfp"
)

// The engine programs its data path as part of each commit: calls queue
// operations in their transaction, and commit applies them in order before
// the store is written. If the backend refuses one, the operations already
// applied are undone, the transaction rolls back, and the call (or the
// explicit commit) fails.

type dpKind uint8

const (
	dpAddFilter dpKind = iota + 1
	dpDelFilter
	dpAddSA
	dpUpdateSA
	dpDelSA
)

type dpOp struct {
	kind   dpKind
	filter *wfp.FwpmFilter0
	sa     *datapath.SA // the SA to add or the new description
	old    *datapath.SA // what an update or delete replaces, to undo it
}

// dpSA describes one direction of context c for the backend.
func (e *Engine) dpSA(c *saCtx, dir wfp.Direction) *datapath.SA {
	sa := &datapath.SA{ID: datapath.SAID{Context: c.id, Direction: dir}}
	b := c.out
	sa.Traffic, sa.UDPEncapsulation = c.outTraffic, c.ex().outUDP
	if dir == wfp.DirectionInbound {
		b = c.in
		sa.Traffic, sa.UDPEncapsulation = c.inbound(), c.ex().inUDP
	}
	if b == nil {
		return nil
	}
	sa.Bundle, sa.Added = b.toWFP(true), b.addedTime()
	if f := e.filters.get(refFilter(&sa.Traffic)); f != nil {
		sa.Filter = f.f
	}
	return sa
}

// queueSAs queues what the data path needs for a context going from prev to
// next.
func (tx *txn) queueSAs(prev, next *saCtx) error {
	if tx.e.dp == nil {
		return nil
	}
	if err := tx.queueSA(prev, next, wfp.DirectionInbound); err != nil {
		return err
	}
	return tx.queueSA(prev, next, wfp.DirectionOutbound)
}

// sameDir reports whether direction dir of two versions programs the same
// thing in the data path.
func sameDir(p, n *saCtx, dir wfp.Direction) bool {
	if dir == wfp.DirectionInbound {
		return p.in == n.in && p.inbound() == n.inbound() && sameUDP(p.ex().inUDP, n.ex().inUDP)
	}
	return p.out == n.out && p.outTraffic == n.outTraffic && sameUDP(p.ex().outUDP, n.ex().outUDP)
}

func sameUDP(a, b *wfp.IPsecV4UDPEncapsulation0) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// queueSA queues the backend operation that brings direction dir of a
// context from prev to next (either may be nil).
func (tx *txn) queueSA(prev, next *saCtx, dir wfp.Direction) error {
	e := tx.e
	if e.dp == nil {
		return nil
	}
	if prev != nil && next != nil && sameDir(prev, next, dir) {
		return nil
	}
	var old, cur *datapath.SA
	if prev != nil {
		old = e.dpSA(prev, dir)
	}
	if next != nil {
		cur = e.dpSA(next, dir)
	}
	switch {
	case old == nil && cur == nil:
		return nil
	case old == nil:
		if err := e.dp.CheckSA(cur); err != nil {
			return dpError(err)
		}
		tx.dp = append(tx.dp, dpOp{kind: dpAddSA, sa: cur})
	case cur == nil:
		tx.dp = append(tx.dp, dpOp{kind: dpDelSA, old: old})
	default:
		tx.dp = append(tx.dp, dpOp{kind: dpUpdateSA, sa: cur, old: old})
	}
	return nil
}

func (tx *txn) queueFilter(kind dpKind, f *wfp.FwpmFilter0) {
	if tx.e.dp != nil {
		tx.dp = append(tx.dp, dpOp{kind: kind, filter: f})
	}
}

// wipeDP zeroes the key copies the queued operations hold: the backend has
// copied what it keeps.
func (tx *txn) wipeDP() {
	for i := range tx.dp {
		for _, sa := range []*datapath.SA{tx.dp[i].sa, tx.dp[i].old} {
			if sa != nil && sa.Bundle != nil {
				for j := range sa.Bundle.SAList {
					sa.Bundle.SAList[j].ZeroKeys()
				}
			}
		}
	}
}

// applyDatapath applies tx's queued operations, undoing them all if one
// fails.
func (tx *txn) applyDatapath() error {
	e := tx.e
	for i := range tx.dp {
		if err := e.applyDP(&tx.dp[i], false); err != nil {
			for j := i - 1; j >= 0; j-- {
				if uerr := e.applyDP(&tx.dp[j], true); uerr != nil {
					e.log.Error("undoing a data path change failed", "err", uerr)
				}
			}
			return dpError(err)
		}
	}
	return nil
}

// applyDP applies op, or its inverse.
func (e *Engine) applyDP(op *dpOp, undo bool) error {
	switch {
	case op.kind == dpAddFilter && !undo, op.kind == dpDelFilter && undo:
		return e.dp.AddFilter(op.filter)
	case op.kind == dpDelFilter, op.kind == dpAddFilter:
		return e.dp.DeleteFilter(op.filter.FilterID)
	case op.kind == dpAddSA && !undo:
		return e.dp.AddSA(op.sa)
	case op.kind == dpAddSA:
		return e.dp.DeleteSA(op.sa.ID)
	case op.kind == dpDelSA && !undo:
		return e.dp.DeleteSA(op.old.ID)
	case op.kind == dpDelSA:
		return e.dp.AddSA(op.old)
	case op.kind == dpUpdateSA && !undo:
		return e.dp.UpdateSA(op.sa)
	default:
		return e.dp.UpdateSA(op.old)
	}
}

// dpError gives a backend's refusal a WFP status: its own, if it has one,
// else FWP_E_CALLOUT_NOTIFICATION_FAILED (the data path is the callout that
// said no).
func dpError(err error) error {
	var we wfp.Error
	var de *wfp.DetailedError
	if errors.As(err, &de) || errors.As(err, &we) {
		return err
	}
	return wfp.Errorf(wfp.ErrCalloutNotificationFailed, "the data path refused: %v", err)
}

// onDatapathEvent handles a backend's report.
func (e *Engine) onDatapathEvent(ev datapath.Event) {
	switch ev.Kind {
	case datapath.HardLifetime, datapath.SequenceExhausted:
		e.log.Info("data path ended an SA", "id", ev.SA.Context, "direction", ev.SA.Direction, "event", ev.Kind)
		go e.deleteContext(ev.SA.Context, ev.Kind.String())
	case datapath.SoftLifetime:
		e.log.Info("SA lifetime nearly spent: time to rekey", "id", ev.SA.Context, "direction", ev.SA.Direction)
	default:
		e.log.Warn("inbound packets dropped", "id", ev.SA.Context, "event", ev.Kind, "count", ev.Count)
	}
}

// deleteContext deletes context id on the engine's own account (a data path
// event), as a hard lifetime does.
func (e *Engine) deleteContext(id uint64, reason string) {
	err := e.implicit(int(id), nil, true, -1, func(tx *txn) error {
		return tx.modifyCtx(id, func(c *saCtx) (*saCtx, error) {
			tx.deleteLocked(c)
			return nil, nil
		})
	})
	switch {
	case err == nil:
		e.log.Info("SA context deleted", "id", id, "reason", reason)
	case wfp.Code(err) != wfp.ErrNotFound:
		e.log.Error("deleting SA context failed", "id", id, "reason", reason, "err", err)
	}
}

// programAll installs everything loaded from the store into the data path.
func (e *Engine) programAll() {
	if e.dp == nil {
		return
	}
	for _, f := range e.filters.all() {
		if err := e.dp.AddFilter(f.f); err != nil {
			e.log.Error("data path refused a stored filter", "id", f.f.FilterID, "err", err)
		}
	}
	e.reuse.pin()
	defer e.reuse.unpin()
	for _, c := range e.snapshotCtxs() {
		for _, dir := range []wfp.Direction{wfp.DirectionInbound, wfp.DirectionOutbound} {
			if sa := e.dpSA(c, dir); sa != nil {
				if err := e.dp.AddSA(sa); err != nil {
					e.log.Error("data path refused a stored SA", "id", c.id, "direction", dir, "err", err)
				}
			}
		}
	}
}

// counters returns the data path's counters for one direction, if any.
func (e *Engine) counters(id uint64, dir wfp.Direction) *wfp.SACounters {
	if e.dp == nil {
		return nil
	}
	c, ok := e.dp.Counters(datapath.SAID{Context: id, Direction: dir})
	if !ok {
		return nil
	}
	return &c
}

// lastUseFromDP is the last time the data path saw traffic on direction dir
// of context id, or the zero time.
func (e *Engine) lastUseFromDP(id uint64, dir wfp.Direction) time.Time {
	if c := e.counters(id, dir); c != nil && c.LastUseUnixSec > 0 {
		return time.Unix(c.LastUseUnixSec, 0)
	}
	return time.Time{}
}
