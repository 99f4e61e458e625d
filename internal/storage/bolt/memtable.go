package bolt

import (
	"cmp"
	"slices"

	"github.com/sadb-dev/sadb/engine"
)

// recordID names a record.
type recordID struct {
	kind engine.RecordKind
	key  uint64
}

// compareIDs orders records as Load reports them: kinds in kindBuckets
// order (ascending), keys ascending.
func compareIDs(a, b recordID) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.key, b.key))
}

// entry is the latest state of a record in a memtable.
type entry struct {
	value   []byte // aliases a commit's log encoding; never modified
	deleted bool
}

// memtable holds the latest state of every record written by log frames
// that no checkpoint has applied to the store file yet. It is not safe for
// concurrent use: the Store guards it.
type memtable struct {
	m     map[recordID]entry
	bytes int64 // the values' bytes, for Stats
}

func newMemtable(hint int) *memtable {
	return &memtable{m: make(map[recordID]entry, hint)}
}

// apply records the mutations of one commit in its log encoding rec, which
// the memtable then aliases. rec has been checked by decodeCommits (Commit
// encodes it; recovery checks it).
func (mt *memtable) apply(payload []byte, commits int) {
	_ = decodeCommits(payload, commits, func(kind engine.RecordKind, key uint64, value []byte) {
		id := recordID{kind, key}
		if old, ok := mt.m[id]; ok {
			mt.bytes -= int64(len(old.value))
		}
		mt.m[id] = entry{value: value, deleted: value == nil}
		mt.bytes += int64(len(value))
	})
}

// len returns the number of records the memtable holds.
func (mt *memtable) len() int {
	if mt == nil {
		return 0
	}
	return len(mt.m)
}

// sorted returns the memtable's records in Load order.
func (mt *memtable) sorted() []overlayRecord {
	recs := make([]overlayRecord, 0, len(mt.m))
	for id, e := range mt.m {
		recs = append(recs, overlayRecord{id, e})
	}
	slices.SortFunc(recs, func(a, b overlayRecord) int { return compareIDs(a.id, b.id) })
	return recs
}

// overlayRecord is one record of a memtable, in a sorted list.
type overlayRecord struct {
	id recordID
	entry
}

// overlay is a snapshot of the records the log holds over the store file:
// the frozen memtable of a running checkpoint, then the active one.
type overlay struct {
	m map[recordID]entry
}

// snapshotOverlay copies the union of frozen and active (active wins) for
// a Load. The values are shared, never modified. The caller holds the lock
// that guards both.
func snapshotOverlay(frozen, active *memtable) overlay {
	m := make(map[recordID]entry, frozen.len()+active.len())
	for _, mt := range []*memtable{frozen, active} {
		if mt == nil {
			continue
		}
		for id, e := range mt.m {
			m[id] = e
		}
	}
	return overlay{m: m}
}

// merge calls fn for every record of the store file, as walk reports them,
// with the overlay's records put over them: an overlay record replaces or
// deletes the file's record of the same id and is reported in its place in
// the order. walkFile walks the file.
func (o overlay) merge(walkFile func(fn func(engine.RecordKind, uint64, []byte) error) error, fn func(engine.RecordKind, uint64, []byte) error) error {
	recs := (&memtable{m: o.m}).sorted()
	i := 0
	// flush reports the overlay records ordered before id (all of them if
	// id is nil).
	flush := func(id *recordID) error {
		for ; i < len(recs) && (id == nil || compareIDs(recs[i].id, *id) < 0); i++ {
			if recs[i].deleted {
				continue
			}
			if err := fn(recs[i].id.kind, recs[i].id.key, recs[i].value); err != nil {
				return err
			}
		}
		return nil
	}
	err := walkFile(func(kind engine.RecordKind, key uint64, value []byte) error {
		id := recordID{kind, key}
		if err := flush(&id); err != nil {
			return err
		}
		if i < len(recs) && recs[i].id == id {
			r := recs[i]
			i++
			if r.deleted {
				return nil
			}
			return fn(kind, key, r.value)
		}
		return fn(kind, key, value)
	})
	if err != nil {
		return err
	}
	return flush(nil)
}
