package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/storagetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashHelperEnv) != "" {
		crashHelper() // the child of TestCrash; never returns
	}
	goleak.VerifyTestMain(m)
}

// openPath opens the store at path and closes it when the test ends.
func openPath(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openTemp opens a new store in a temporary directory.
func openTemp(t testing.TB) *Store {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "sadb.db"), Options{})
}

// reopen closes s and opens its file again.
func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openPath(t, s.Path(), Options{})
}

func mustCommit(t testing.TB, s *Store, muts ...engine.Mutation) {
	t.Helper()
	if err := s.Commit(muts); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t,
		func(t testing.TB) engine.Store { return openTemp(t) },
		func(t testing.TB, s engine.Store) engine.Store { return reopen(t, s.(*Store)) })
}

// TestConformanceSmallLog runs the conformance suite with the smallest log
// and frequent checkpoints, so that checkpoints run during most tests, the
// log wraps around and fills (Commit waits), calls larger than a quarter of
// it go to the file directly, and Load merges the file with the log.
func TestConformanceSmallLog(t *testing.T) {
	o := Options{LogSize: MinLogSize, CheckpointBytes: 32 << 10, CheckpointInterval: 5 * time.Millisecond}
	storagetest.Run(t,
		func(t testing.TB) engine.Store { return openPath(t, filepath.Join(t.TempDir(), "sadb.db"), o) },
		func(t testing.TB, s engine.Store) engine.Store { return reopenWith(t, s.(*Store), o) })
}

// TestConformanceCrash runs the conformance suite with every reopen a
// crash: nothing is checkpointed by Close, all comes from the log.
func TestConformanceCrash(t *testing.T) {
	storagetest.Run(t,
		func(t testing.TB) engine.Store {
			return openPath(t, filepath.Join(t.TempDir(), "sadb.db"), noCheckpoints)
		},
		func(t testing.TB, s engine.Store) engine.Store {
			st := s.(*Store)
			crash(t, st)
			return openPath(t, st.Path(), noCheckpoints)
		})
}

func TestCreateModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "sadb")
	path := filepath.Join(dir, "sadb.db")
	s := openPath(t, path, Options{})
	mustCommit(t, s, engine.Mutation{Kind: engine.RecordMeta, Key: 1, Value: []byte("x")})
	for p, want := range map[string]os.FileMode{path: 0o600, logPath(path): 0o600, dir: 0o700, filepath.Dir(dir): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", p, got, want)
		}
	}
	// Only the store and its log are left in the directory: the temporary
	// files they were made under are gone.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != "sadb.db" || names[1] != "sadb.db-wal" {
		t.Errorf("directory holds %v, want only sadb.db and sadb.db-wal", names)
	}
}

func TestInUse(t *testing.T) {
	s := openTemp(t)
	before := readFile(t, s.Path())
	start := time.Now()
	_, err := Open(s.Path(), Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open = %v, want ErrInUse", err)
	}
	if waited := time.Since(start); waited < 90*time.Millisecond {
		t.Errorf("second Open gave up after %v, before its lock timeout", waited)
	}
	if msg := err.Error(); !strings.Contains(msg, "in use by another process") || !strings.Contains(msg, s.Path()) {
		t.Errorf("error %q should say the store is in use and name the file", msg)
	}
	if !bytes.Equal(before, readFile(t, s.Path())) {
		t.Error("a failed Open changed the file")
	}
	// Once the holder closes, Open succeeds.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openPath(t, s.Path(), Options{LockTimeout: 100 * time.Millisecond})
}

func TestClose(t *testing.T) {
	s := openTemp(t)
	mustCommit(t, s, engine.Mutation{Kind: engine.RecordMeta, Key: 1, Value: []byte("x")})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit([]engine.Mutation{{Kind: engine.RecordMeta, Key: 2, Value: []byte("y")}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if err := s.Commit(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("empty Commit after Close = %v, want ErrClosed", err)
	}
	if err := s.Load(func(engine.RecordKind, uint64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	_ = s.Stats() // still safe
}

// TestCloseDuringCommits closes the store while 16 goroutines commit: every
// Commit either returned nil, and its record is on disk, or ErrClosed.
func TestCloseDuringCommits(t *testing.T) {
	s := openTemp(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []uint64
	)
	errs := make(chan error, 16)
	for g := range uint64(16) {
		wg.Go(func() {
			for i := uint64(0); ; i++ {
				key := g<<32 | i
				err := s.Commit([]engine.Mutation{{Kind: engine.RecordSAContext, Key: key, Value: storagetest.Value(engine.RecordSAContext, key, 0, 100)}})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s = openPath(t, s.Path(), Options{})
	have := map[uint64]bool{}
	for _, r := range storagetest.LoadAll(t, s) {
		have[r.Key] = true
	}
	for _, k := range acked {
		if !have[k] {
			t.Fatalf("record %#x was acknowledged before Close but is missing", k)
		}
	}
	t.Logf("%d commits acknowledged before Close", len(acked))
}

// TestBatchOrder queues three calls behind a disk transaction in a known
// order: they share the next transaction, and the last one's mutations win.
func TestBatchOrder(t *testing.T) {
	s := openTemp(t)
	gate := make(chan struct{})
	batches := make(chan int, 16)
	hook := func(calls int) {
		batches <- calls
		<-gate
	}
	s.testHookBatch.Store(&hook)

	sa := engine.RecordSAContext
	var wg sync.WaitGroup
	commit := func(muts ...engine.Mutation) {
		wg.Go(func() {
			if err := s.Commit(muts); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); s.Stats().QueueDepth != n; {
			if time.Now().After(deadline) {
				t.Fatalf("queue never reached %d calls", n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	commit(engine.Mutation{Kind: sa, Key: 9, Value: []byte("first")})
	if n := <-batches; n != 1 {
		t.Fatalf("first transaction carries %d calls, want 1", n)
	}
	commit(engine.Mutation{Kind: sa, Key: 1, Value: []byte("a")}, engine.Mutation{Kind: sa, Key: 2, Value: []byte("keep?")})
	waitQueued(1)
	commit(engine.Mutation{Kind: sa, Key: 1, Value: []byte("b")}, engine.Mutation{Kind: sa, Key: 2})
	waitQueued(2)
	commit(engine.Mutation{Kind: sa, Key: 1, Value: []byte("c")}, engine.Mutation{Kind: sa, Key: 9})
	waitQueued(3)
	close(gate)
	wg.Wait()
	if n := <-batches; n != 3 {
		t.Fatalf("second transaction carries %d calls, want 3", n)
	}
	s.testHookBatch.Store(nil)
	got := storagetest.LoadAll(t, reopen(t, s))
	if len(got) != 1 || got[0].Key != 1 || string(got[0].Value) != "c" {
		t.Fatalf("records = %+v, want only sa-context 1 = c", got)
	}
}

// TestFailureIsSticky fills the file up to MaxSize: once a checkpoint does
// not fit, Commit fails with ErrFailed, and so does every later call; what
// was acknowledged before is in the log, which the next Open (with room)
// applies.
func TestFailureIsSticky(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sadb.db")
	s := openPath(t, path, Options{MaxSize: 1 << 20, LogSize: 4 << 20, CheckpointBytes: 128 << 10})
	var acked []uint64
	var err error
	for key := uint64(0); key < 200; key++ {
		v := storagetest.Value(engine.RecordSAContext, key, 0, 64<<10)
		if err = s.Commit([]engine.Mutation{{Kind: engine.RecordSAContext, Key: key, Value: v}}); err != nil {
			break
		}
		acked = append(acked, key)
	}
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("filling a 1 MiB store: %v, want ErrFailed", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if err := s.Commit([]engine.Mutation{{Kind: engine.RecordMeta, Key: 1, Value: []byte("tiny")}}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Commit after a failure = %v, want ErrFailed", err)
	}
	if st := s.Stats(); st.CheckpointErrors != 1 || st.Commits != uint64(len(acked)) {
		t.Errorf("stats after the failure: %+v", st)
	}
	// Load still reads everything acknowledged.
	if n := len(storagetest.LoadAll(t, s)); n != len(acked) {
		t.Errorf("Load after the failure: %d records, want %d", n, len(acked))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The same limit cannot take the log's records.
	if _, err := Open(path, Options{MaxSize: 1 << 20}); !errors.Is(err, ErrFailed) {
		t.Fatalf("reopening with the same MaxSize: %v, want ErrFailed", err)
	}
	s = openPath(t, path, Options{})
	if st := s.Stats(); st.RecoveredCommits == 0 {
		t.Errorf("Open replayed no commits from the log: %+v", st)
	}
	got := storagetest.LoadAll(t, s)
	if len(got) != len(acked) {
		t.Fatalf("after reopening: %d records, want the %d acknowledged", len(got), len(acked))
	}
	mustCommit(t, s, engine.Mutation{Kind: engine.RecordMeta, Key: 1, Value: []byte("works again")})
}

func TestInvalidMutation(t *testing.T) {
	s := openTemp(t)
	for _, m := range []engine.Mutation{
		{Kind: 0, Key: 1, Value: []byte("x")},
		{Kind: 7, Key: 1},
		{Kind: engine.RecordFilter, Key: 1, Value: make([]byte, maxValueSize+1)},
	} {
		err := s.Commit([]engine.Mutation{{Kind: engine.RecordMeta, Key: 1, Value: []byte("ok")}, m})
		if !errors.Is(err, ErrInvalidMutation) {
			t.Errorf("Commit(%v %d, %d bytes) = %v, want ErrInvalidMutation", m.Kind, m.Key, len(m.Value), err)
		}
	}
	if n := len(storagetest.LoadAll(t, s)); n != 0 {
		t.Fatalf("rejected commits applied %d records", n)
	}
	mustCommit(t, s, engine.Mutation{Kind: engine.RecordMeta, Key: 1, Value: []byte("ok")})
}

func TestStats(t *testing.T) {
	s := openTemp(t)
	for i := range uint64(10) {
		mustCommit(t, s, engine.Mutation{Kind: engine.RecordSAContext, Key: i, Value: make([]byte, 600)},
			engine.Mutation{Kind: engine.RecordFilter, Key: i, Value: make([]byte, 60)})
	}
	st := s.Stats()
	if st.Commits != 10 || st.Mutations != 20 || st.Batches != 10 || st.CommitErrors != 0 || st.BatchErrors != 0 {
		t.Errorf("counters: %+v", st)
	}
	if st.BatchCalls.Count != 10 || st.BatchCalls.Sum != 10 || st.BatchCalls.Buckets[0] != (Bucket{UpperBound: 1, Count: 10}) {
		t.Errorf("batch sizes: %+v", st.BatchCalls)
	}
	if st.CommitSeconds.Count != 10 || st.CommitSeconds.Sum <= 0 || st.DiskSeconds.Count != 10 {
		t.Errorf("latencies: commit %+v, disk %+v", st.CommitSeconds, st.DiskSeconds)
	}
	last := st.CommitSeconds.Buckets[len(st.CommitSeconds.Buckets)-1]
	if last.UpperBound != 10 || last.Count > 10 {
		t.Errorf("last latency bucket %+v", last)
	}
	// One 4 KiB frame per commit, each synced once; nothing checkpointed
	// yet (a second has not passed, the log is far from full).
	if st.LogSyncs != 10 || st.LogBytes != 10*logBlock || st.LogUsed != 10*logBlock || st.LogSize != DefaultLogSize-logBlock {
		t.Errorf("log figures: %+v", st)
	}
	if st.LogRecords != 20 || st.Checkpoints != 0 {
		t.Errorf("%d records in memory, %d checkpoints; want 20, 0", st.LogRecords, st.Checkpoints)
	}
	pages := st.PagesWritten
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if st.Checkpoints != 1 || st.CheckpointRecords != 20 || st.CheckpointSeconds.Count != 1 || st.LogUsed != 0 || st.LogRecords != 0 {
		t.Errorf("after a checkpoint: %+v", st)
	}
	if st.PagesWritten < pages+4 || st.Size < 4*4096 {
		t.Errorf("bbolt figures: %d pages written (%d before the checkpoint), size %d", st.PagesWritten, pages, st.Size)
	}
}

// TestPreallocate checks that the Store keeps written zeros ahead of
// bbolt's pages, and that the file stays sound for bbolt and for Open.
func TestPreallocate(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoPreallocate=%v", off), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sadb.db")
			s := openPath(t, path, Options{NoPreallocate: off})
			for i := range uint64(200) {
				mustCommit(t, s, engine.Mutation{Kind: engine.RecordSAContext, Key: i, Value: make([]byte, 2000)})
			}
			st := s.Stats()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if off {
				if st.Preallocated != 0 || st.PreallocSeconds.Count != 0 {
					t.Errorf("preallocated %d bytes with NoPreallocate", st.Preallocated)
				}
			} else {
				if st.Preallocated < minPrealloc || st.PreallocSeconds.Count == 0 {
					t.Errorf("preallocated %d bytes in %d chunks", st.Preallocated, st.PreallocSeconds.Count)
				}
				if ahead := fi.Size() - st.Size; ahead < minPrealloc/2 {
					t.Errorf("file is %d bytes, only %d ahead of the %d in use", fi.Size(), ahead, st.Size)
				}
			}
			s = reopen(t, s)
			if n := len(storagetest.LoadAll(t, s)); n != 200 {
				t.Fatalf("%d records after reopening, want 200", n)
			}
		})
	}
}

// TestNoGoroutinesAfterClose checks that Close stops the committer.
func TestNoGoroutinesAfterClose(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	path := filepath.Join(t.TempDir(), "sadb.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, engine.Mutation{Kind: engine.RecordMeta, Key: 1, Value: []byte("x")})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Example of the messages an operator sees.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sadb.db")
	os.WriteFile(path, nil, 0o600)
	_, err := Open(path, Options{})
	fmt.Println(strings.ReplaceAll(err.Error(), dir, "DIR"))
	// Output: bolt: file was not created by sadbd: DIR/sadb.db is empty
}
