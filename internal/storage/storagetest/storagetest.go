// Package storagetest is the conformance suite for engine.Store
// implementations. Every store runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, openStore, reopenStore)
//	}
//
// The suite checks what the engine relies on: a Commit is atomic, deletes
// delete, the last write of a record wins, commits from many goroutines are
// all durable and readable after a reopen, Load returns every record in
// order from a consistent snapshot, and what was committed survives reopening.
package storagetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sadb-dev/sadb/engine"
)

// OpenFunc returns a new, empty store and registers its cleanup with t.
type OpenFunc func(t testing.TB) engine.Store

// ReopenFunc returns a store over the data of s as a restarted process
// would find it, after releasing s as a clean shutdown would (it may close
// s; s is not used again).
type ReopenFunc func(t testing.TB, s engine.Store) engine.Store

// Record is one stored record, as Load reports it.
type Record struct {
	Kind  engine.RecordKind
	Key   uint64
	Value []byte
}

// Kinds are the record kinds every store must hold.
var Kinds = []engine.RecordKind{engine.RecordMeta, engine.RecordSAContext, engine.RecordFilter}

// Run runs the conformance suite against the stores open makes.
func Run(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open OpenFunc, reopen ReopenFunc)
	}{
		{"Empty", testEmpty},
		{"CommitAndLoad", testCommitAndLoad},
		{"AtomicRejection", testAtomicRejection},
		{"Delete", testDelete},
		{"LastWriteWins", testLastWriteWins},
		{"EmptyValue", testEmptyValue},
		{"EmptyCommit", testEmptyCommit},
		{"KeyOrder", testKeyOrder},
		{"Isolation", testIsolation},
		{"LoadError", testLoadError},
		{"LargeValue", testLargeValue},
		{"SequentialOverwrites", testSequentialOverwrites},
		{"Concurrent", testConcurrent},
		{"ConsistentSnapshots", testConsistentSnapshots},
		{"ManyRecords", testManyRecords},
		{"Reopen", testReopen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open, reopen) })
	}
}

// Value returns a deterministic value of n bytes for (kind, key, version):
// its first 17 bytes name them, the rest is derived from them.
func Value(kind engine.RecordKind, key, version uint64, n int) []byte {
	n = max(n, 17)
	v := make([]byte, n)
	v[0] = byte(kind)
	binary.BigEndian.PutUint64(v[1:], key)
	binary.BigEndian.PutUint64(v[9:], version)
	r := rand.NewPCG(key^uint64(kind)<<56, version)
	for i := 17; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(v[i:], w[:])
	}
	return v
}

// LoadAll returns every record of s, in the order Load reported them.
func LoadAll(t testing.TB, s engine.Store) []Record {
	t.Helper()
	var recs []Record
	err := s.Load(func(kind engine.RecordKind, key uint64, value []byte) error {
		recs = append(recs, Record{kind, key, value})
		return nil
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return recs
}

// mustCommit commits muts or fails the test.
func mustCommit(t testing.TB, s engine.Store, muts ...engine.Mutation) {
	t.Helper()
	if err := s.Commit(muts); err != nil {
		t.Fatalf("Commit(%d mutations): %v", len(muts), err)
	}
}

// CheckRecords fails t unless s holds exactly want, in Load order.
func CheckRecords(t testing.TB, s engine.Store, want []Record) {
	t.Helper()
	got := LoadAll(t, s)
	if want == nil {
		want = []Record{}
	}
	if got == nil {
		got = []Record{}
	}
	if diff := cmp.Diff(want, got, bytesEqual); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
}

// bytesEqual compares values with bytes.Equal: cmp's element-wise
// comparison of large byte slices is slow.
var bytesEqual = cmp.Comparer(bytes.Equal)

func put(kind engine.RecordKind, key uint64, value []byte) engine.Mutation {
	return engine.Mutation{Kind: kind, Key: key, Value: value}
}

func del(kind engine.RecordKind, key uint64) engine.Mutation {
	return engine.Mutation{Kind: kind, Key: key}
}

func testEmpty(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	CheckRecords(t, s, nil)
	CheckRecords(t, reopen(t, s), nil)
}

func testCommitAndLoad(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	var want []Record
	var muts []engine.Mutation
	for _, k := range Kinds {
		for key := uint64(1); key <= 5; key++ {
			v := Value(k, key, 1, 100*int(key))
			want = append(want, Record{k, key, v})
			muts = append(muts, put(k, key, v))
		}
	}
	// Commit in reverse so that Load's order is the store's doing.
	for i := len(muts) - 1; i >= 0; i-- {
		mustCommit(t, s, muts[i])
	}
	CheckRecords(t, s, want)
	CheckRecords(t, reopen(t, s), want)
}

func testAtomicRejection(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	base := Value(engine.RecordSAContext, 1, 1, 64)
	mustCommit(t, s, put(engine.RecordSAContext, 1, base))
	for _, bad := range []engine.RecordKind{0, 4, 255} {
		err := s.Commit([]engine.Mutation{
			put(engine.RecordSAContext, 1, Value(engine.RecordSAContext, 1, 2, 64)),
			put(engine.RecordFilter, 2, Value(engine.RecordFilter, 2, 2, 64)),
			del(engine.RecordSAContext, 1),
			put(bad, 3, []byte("x")),
		})
		if err == nil {
			t.Fatalf("Commit with record kind %d succeeded", bad)
		}
	}
	want := []Record{{engine.RecordSAContext, 1, base}}
	CheckRecords(t, s, want)
	// The store stays usable.
	mustCommit(t, s, put(engine.RecordMeta, 9, []byte("ok")))
	want = append([]Record{{engine.RecordMeta, 9, []byte("ok")}}, want...)
	CheckRecords(t, reopen(t, s), want)
}

func testDelete(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	for _, k := range Kinds {
		mustCommit(t, s, put(k, 1, []byte("one")), put(k, 2, []byte("two")))
	}
	for _, k := range Kinds {
		mustCommit(t, s, del(k, 1))
		mustCommit(t, s, del(k, 77)) // deleting a missing record is not an error
	}
	var want []Record
	for _, k := range Kinds {
		want = append(want, Record{k, 2, []byte("two")})
	}
	CheckRecords(t, s, want)
	s = reopen(t, s)
	CheckRecords(t, s, want)
	for _, k := range Kinds {
		mustCommit(t, s, del(k, 2))
	}
	CheckRecords(t, reopen(t, s), nil)
}

func testLastWriteWins(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	sa, f := engine.RecordSAContext, engine.RecordFilter
	mustCommit(t, s,
		put(sa, 1, []byte("a")), put(sa, 1, []byte("b")), put(sa, 1, []byte("c")), // c wins
		put(sa, 2, []byte("a")), del(sa, 2), // deleted
		del(sa, 3), put(sa, 3, []byte("d")), // d
		put(f, 1, []byte("other kind")), // same key, other kind: independent
		put(sa, 4, []byte("x")),
	)
	mustCommit(t, s, del(sa, 4), put(sa, 4, []byte("y")), put(sa, 4, []byte("z")), del(sa, 4))
	want := []Record{{sa, 1, []byte("c")}, {sa, 3, []byte("d")}, {f, 1, []byte("other kind")}}
	CheckRecords(t, s, want)
	CheckRecords(t, reopen(t, s), want)
}

func testEmptyValue(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	mustCommit(t, s, put(engine.RecordMeta, 1, []byte{}))
	check := func(s engine.Store) {
		t.Helper()
		got := LoadAll(t, s)
		if len(got) != 1 || got[0].Key != 1 || len(got[0].Value) != 0 {
			t.Fatalf("an empty value is a value, not a delete: got %+v", got)
		}
	}
	check(s)
	check(reopen(t, s))
}

func testEmptyCommit(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	mustCommit(t, s)
	mustCommit(t, s, []engine.Mutation{}...)
	CheckRecords(t, s, nil)
	mustCommit(t, s, put(engine.RecordFilter, 5, []byte("v")))
	mustCommit(t, s)
	CheckRecords(t, reopen(t, s), []Record{{engine.RecordFilter, 5, []byte("v")}})
}

func testKeyOrder(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	keys := []uint64{math.MaxUint64, 1 << 63, 256, 255, 1, 0, 1<<32 + 1, 1 << 32}
	var muts []engine.Mutation
	for _, k := range keys {
		muts = append(muts, put(engine.RecordFilter, k, Value(engine.RecordFilter, k, 0, 20)))
		muts = append(muts, put(engine.RecordMeta, k, Value(engine.RecordMeta, k, 0, 20)))
	}
	mustCommit(t, s, muts...)
	var want []Record
	for _, kind := range []engine.RecordKind{engine.RecordMeta, engine.RecordFilter} {
		for _, k := range []uint64{0, 1, 255, 256, 1 << 32, 1<<32 + 1, 1 << 63, math.MaxUint64} {
			want = append(want, Record{kind, k, Value(kind, k, 0, 20)})
		}
	}
	CheckRecords(t, s, want)
	CheckRecords(t, reopen(t, s), want)
}

func testIsolation(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	v := []byte("original")
	mustCommit(t, s, put(engine.RecordSAContext, 7, v))
	copy(v, "CHANGED!") // the caller may reuse its buffer after Commit
	err := s.Load(func(_ engine.RecordKind, _ uint64, value []byte) error {
		copy(value, "SCRIBBLE") // and may modify what Load hands it
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{engine.RecordSAContext, 7, []byte("original")}}
	CheckRecords(t, s, want)
	// Values kept from one Load do not change when the record does.
	kept := LoadAll(t, s)
	mustCommit(t, s, put(engine.RecordSAContext, 7, []byte("replaced")))
	if diff := cmp.Diff(want, kept, bytesEqual); diff != "" {
		t.Fatalf("a value kept from Load changed (-want +got):\n%s", diff)
	}
	CheckRecords(t, reopen(t, s), []Record{{engine.RecordSAContext, 7, []byte("replaced")}})
}

func testLoadError(t *testing.T, open OpenFunc, _ ReopenFunc) {
	s := open(t)
	for k := range uint64(10) {
		mustCommit(t, s, put(engine.RecordSAContext, k, []byte("v")))
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Load(func(engine.RecordKind, uint64, []byte) error {
		if calls++; calls == 3 {
			return fmt.Errorf("wrapped: %w", stop)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Load returned %v, want fn's error", err)
	}
	if calls != 3 {
		t.Fatalf("fn called %d times after failing on the 3rd", calls)
	}
}

func testLargeValue(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	big := Value(engine.RecordSAContext, 1, 1, 1<<20)
	mustCommit(t, s, put(engine.RecordSAContext, 1, big), put(engine.RecordSAContext, 2, []byte("small")))
	want := []Record{{engine.RecordSAContext, 1, big}, {engine.RecordSAContext, 2, []byte("small")}}
	CheckRecords(t, reopen(t, s), want)
}

func testSequentialOverwrites(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	for ver := range uint64(200) {
		mustCommit(t, s, put(engine.RecordMeta, 3, Value(engine.RecordMeta, 3, ver, 40)))
	}
	CheckRecords(t, reopen(t, s), []Record{{engine.RecordMeta, 3, Value(engine.RecordMeta, 3, 199, 40)}})
}

// testConcurrent commits from 64 goroutines at once. Every goroutine
// inserts its own records and overwrites one record of its own with its
// latest version; all must be there, and the latest, after a reopen.
func testConcurrent(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	const goroutines, perG = 64, 40
	s := open(t)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range uint64(goroutines) {
		wg.Go(func() {
			for i := range uint64(perG) {
				key := g<<32 | i
				err := s.Commit([]engine.Mutation{
					put(engine.RecordSAContext, key, Value(engine.RecordSAContext, key, 0, 600)),
					put(engine.RecordMeta, g, Value(engine.RecordMeta, g, i, 32)),
				})
				if err != nil {
					errs <- fmt.Errorf("goroutine %d commit %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var want []Record
	for g := range uint64(goroutines) {
		want = append(want, Record{engine.RecordMeta, g, Value(engine.RecordMeta, g, perG-1, 32)})
	}
	for g := range uint64(goroutines) {
		for i := range uint64(perG) {
			key := g<<32 | i
			want = append(want, Record{engine.RecordSAContext, key, Value(engine.RecordSAContext, key, 0, 600)})
		}
	}
	CheckRecords(t, s, want)
	CheckRecords(t, reopen(t, s), want)
}

// testConsistentSnapshots runs Load while writers commit pairs of records
// that always carry the same version: a Load must see both halves of a
// pair from the same Commit.
func testConsistentSnapshots(t *testing.T, open OpenFunc, _ ReopenFunc) {
	const writers, pairs, rounds = 8, 16, 30
	s := open(t)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range uint64(writers) {
		wg.Go(func() {
			for ver := range uint64(rounds) {
				var muts []engine.Mutation
				for p := range uint64(pairs) {
					key := w*pairs + p
					muts = append(muts,
						put(engine.RecordSAContext, key, Value(engine.RecordSAContext, key, ver, 200)),
						put(engine.RecordFilter, key, Value(engine.RecordFilter, key, ver, 100)))
				}
				if err := s.Commit(muts); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for loads := 0; ; loads++ {
		versions := map[[2]uint64]uint64{} // (kind, key) -> version
		for _, r := range LoadAll(t, s) {
			ver := binary.BigEndian.Uint64(r.Value[9:])
			if !bytes.Equal(r.Value, Value(r.Kind, r.Key, ver, len(r.Value))) {
				t.Fatalf("record %v %d holds a damaged value", r.Kind, r.Key)
			}
			versions[[2]uint64{uint64(r.Kind), r.Key}] = ver
		}
		for k, ver := range versions {
			if k[0] != uint64(engine.RecordSAContext) {
				continue
			}
			fv, ok := versions[[2]uint64{uint64(engine.RecordFilter), k[1]}]
			if !ok || fv != ver {
				t.Fatalf("Load %d saw sa-context %d at version %d but its filter at %d (present %v): not one snapshot", loads, k[1], ver, fv, ok)
			}
		}
		select {
		case <-done:
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			return
		default:
		}
	}
}

func testManyRecords(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	const n, per = 20000, 500
	s := open(t)
	for base := uint64(0); base < n; base += per {
		muts := make([]engine.Mutation, 0, per)
		for k := base; k < base+per; k++ {
			muts = append(muts, put(engine.RecordSAContext, k, Value(engine.RecordSAContext, k, 0, 200+int(k%700))))
		}
		mustCommit(t, s, muts...)
	}
	check := func(s engine.Store, keep func(uint64) bool) {
		t.Helper()
		next := uint64(0)
		err := s.Load(func(kind engine.RecordKind, key uint64, value []byte) error {
			for next < n && !keep(next) {
				next++
			}
			if kind != engine.RecordSAContext || key != next {
				return fmt.Errorf("got %v %d, want sa-context %d", kind, key, next)
			}
			if !bytes.Equal(value, Value(kind, key, 0, 200+int(key%700))) {
				return fmt.Errorf("record %d: wrong value", key)
			}
			next++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for next < n && !keep(next) {
			next++
		}
		if next != n {
			t.Fatalf("Load stopped before record %d", next)
		}
	}
	all := func(uint64) bool { return true }
	check(s, all)
	s = reopen(t, s)
	check(s, all)
	for base := uint64(0); base < n; base += per {
		muts := make([]engine.Mutation, 0, per/2)
		for k := base; k < base+per; k += 2 {
			muts = append(muts, del(engine.RecordSAContext, k))
		}
		mustCommit(t, s, muts...)
	}
	odd := func(k uint64) bool { return k%2 == 1 }
	check(s, odd)
	check(reopen(t, s), odd)
}

func testReopen(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := open(t)
	mustCommit(t, s, put(engine.RecordMeta, 1, []byte("first")), put(engine.RecordFilter, 1, []byte("f1")))
	s = reopen(t, s)
	mustCommit(t, s, put(engine.RecordMeta, 1, []byte("second")), put(engine.RecordSAContext, 1, []byte("c1")))
	s = reopen(t, s)
	mustCommit(t, s, del(engine.RecordFilter, 1))
	s = reopen(t, s)
	CheckRecords(t, s, []Record{{engine.RecordMeta, 1, []byte("second")}, {engine.RecordSAContext, 1, []byte("c1")}})
}
