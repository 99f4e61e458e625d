package mem_test

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/mem"
	"github.com/sadb-dev/sadb/internal/storage/storagetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storagetest.Run(t,
		func(testing.TB) engine.Store { return mem.New() },
		func(_ testing.TB, s engine.Store) engine.Store { return s.(*mem.Store).Clone() })
}

func TestFault(t *testing.T) {
	s := mem.New()
	put := func(key uint64, v string) []engine.Mutation {
		return []engine.Mutation{{Kind: engine.RecordSAContext, Key: key, Value: []byte(v)}}
	}
	if err := s.Commit(put(1, "a")); err != nil {
		t.Fatal(err)
	}
	full := errors.New("disk full")
	n := 0
	s.SetFault(func([]engine.Mutation) error {
		if n++; n > 1 {
			return full
		}
		return nil
	})
	if err := s.Commit(put(2, "b")); err != nil {
		t.Fatalf("first commit under the fault: %v", err)
	}
	crashed := s.Clone()
	if err := s.Commit(put(3, "c")); !errors.Is(err, full) {
		t.Fatalf("Commit = %v, want the fault's error", err)
	}
	if got := s.Len(); got != 2 {
		t.Fatalf("a failed Commit applied mutations: %d records", got)
	}
	if got := s.Commits(); got != 2 {
		t.Fatalf("Commits() = %d, want 2", got)
	}
	// A clone carries the records, not the fault.
	if err := crashed.Commit(put(4, "d")); err != nil {
		t.Fatalf("Commit on a clone: %v", err)
	}
	s.SetFault(nil)
	if err := s.Commit(put(3, "c")); err != nil {
		t.Fatalf("Commit after SetFault(nil): %v", err)
	}
	want := []storagetest.Record{
		{Kind: engine.RecordSAContext, Key: 1, Value: []byte("a")},
		{Kind: engine.RecordSAContext, Key: 2, Value: []byte("b")},
		{Kind: engine.RecordSAContext, Key: 3, Value: []byte("c")},
	}
	got := storagetest.LoadAll(t, s)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || string(got[i].Value) != string(want[i].Value) {
			t.Fatalf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestInvalidKind(t *testing.T) {
	s := mem.New()
	err := s.Commit([]engine.Mutation{{Kind: engine.RecordMeta, Key: 1, Value: []byte("x")}, {Kind: 9, Key: 1, Value: []byte("x")}})
	if !errors.Is(err, mem.ErrInvalidMutation) {
		t.Fatalf("Commit = %v, want ErrInvalidMutation", err)
	}
	if s.Len() != 0 {
		t.Fatal("a rejected Commit applied mutations")
	}
}
