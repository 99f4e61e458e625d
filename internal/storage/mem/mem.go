// Package mem is an in-memory engine.Store with the semantics of the bolt
// store and no disk, for tests of the engine's persistence and restart
// logic. A restart is a new engine on the same Store (or on a Clone of it,
// taken where the test wants the "crash"); SetFault makes commits fail, as a
// full or failing disk would.
package mem

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/sadb-dev/sadb/engine"
)

var _ engine.Store = (*Store)(nil)

// ErrInvalidMutation means a Commit carried a mutation with an unknown
// record kind. Nothing in that Commit was applied.
var ErrInvalidMutation = errors.New("mem: invalid mutation")

// Store is an in-memory engine.Store. The zero value is not usable; call
// New. A Store is safe for concurrent use and needs no closing.
type Store struct {
	mu sync.Mutex // guards the fields below
	// records holds the committed values. A stored slice is never
	// modified: Commit replaces it.
	records map[recordID][]byte // +checklocks:mu
	// fault, if set, decides whether a Commit fails.
	fault func(muts []engine.Mutation) error // +checklocks:mu
	// commits counts the Commit calls that applied mutations.
	commits uint64 // +checklocks:mu
}

type recordID struct {
	kind engine.RecordKind
	key  uint64
}

// New returns an empty Store.
func New() *Store {
	return &Store{records: make(map[recordID][]byte)}
}

// validKind reports whether k is a kind the stores hold.
func validKind(k engine.RecordKind) bool {
	switch k {
	case engine.RecordMeta, engine.RecordSAContext, engine.RecordFilter:
		return true
	}
	return false
}

// Commit applies muts atomically, in order (a later mutation of a record
// wins), and keeps copies of the values. It fails with ErrInvalidMutation if
// a mutation has an unknown kind, and with the fault's error if SetFault
// installed one that returns non-nil; either way nothing is applied.
func (s *Store) Commit(muts []engine.Mutation) error {
	for i := range muts {
		if !validKind(muts[i].Kind) {
			return fmt.Errorf("%w: mutation %d has unknown record kind %v", ErrInvalidMutation, i, muts[i].Kind)
		}
	}
	if len(muts) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault != nil {
		if err := s.fault(muts); err != nil {
			return err
		}
	}
	for _, m := range muts {
		id := recordID{m.Kind, m.Key}
		if m.Value == nil {
			delete(s.records, id)
		} else {
			s.records[id] = bytes.Clone(m.Value)
		}
	}
	s.commits++
	return nil
}

// Load calls fn for every record, kinds ascending and keys ascending within
// a kind, from a snapshot taken when Load starts; value is a copy fn may
// keep. fn may call Commit. Load stops at the first error from fn and
// returns it unchanged.
func (s *Store) Load(fn func(kind engine.RecordKind, key uint64, value []byte) error) error {
	type record struct {
		id    recordID
		value []byte
	}
	s.mu.Lock()
	snap := make([]record, 0, len(s.records))
	for id, v := range s.records {
		snap = append(snap, record{id, v})
	}
	s.mu.Unlock()
	slices.SortFunc(snap, func(a, b record) int {
		return cmp.Or(cmp.Compare(a.id.kind, b.id.kind), cmp.Compare(a.id.key, b.id.key))
	})
	for _, r := range snap {
		if err := fn(r.id.kind, r.id.key, bytes.Clone(r.value)); err != nil {
			return err
		}
	}
	return nil
}

// SetFault installs f, which every later Commit calls (with the Store
// locked, so f must not call the Store) before applying anything: a non-nil
// result fails that Commit with it and applies nothing. SetFault(nil) makes
// commits succeed again. For example, to fail every commit after the next
// two:
//
//	n := 0
//	s.SetFault(func([]engine.Mutation) error {
//		if n++; n > 2 {
//			return errors.New("disk full")
//		}
//		return nil
//	})
func (s *Store) SetFault(f func(muts []engine.Mutation) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Clone returns a new Store holding the records s holds now, without its
// fault: what a restarted process would find if the process crashed at this
// point.
func (s *Store) Clone() *Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := New()
	for id, v := range s.records {
		c.records[id] = v // never modified in place, so safe to share
	}
	return c
}

// Len returns the number of records.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Commits returns the number of Commit calls that applied mutations.
func (s *Store) Commits() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}
