package bolt

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/storagetest"
)

// BenchmarkCommit measures the engine's typical call, one mutation of a
// 600-byte value inserting a new SA context (ids come from one counter, as
// the engine allocates them), with 1, 16, 64 and 256 goroutines committing
// at once. It reports commits/s; the latency of Commit (p50, p99); the
// average number of calls per log frame and the time of a frame's write and
// fdatasync; the fdatasyncs per commit, the log's and bbolt's (two per
// checkpoint, one per preallocated chunk) together; and the checkpoints'
// average duration and bbolt pages written per checkpoint.
func BenchmarkCommit(b *testing.B) {
	for _, committers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("committers=%d", committers), func(b *testing.B) {
			benchCommit(b, committers, Options{}, insert)
		})
	}
}

// BenchmarkCommitChoices runs the 16-committer case of BenchmarkCommit
// with each of the Store's throughput measures off, to show what each is
// worth on the machine at hand, and with a log large enough that no
// checkpoint runs during the benchmark, to show what checkpoints cost the
// commit path.
func BenchmarkCommitChoices(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"no-linger", Options{Linger: -1}},
		{"linger-200us", Options{Linger: 200 * time.Microsecond}},
		{"no-preallocate", Options{NoPreallocate: true}},
		{"no-checkpoints", Options{LogSize: MaxLogSize, CheckpointBytes: MaxLogSize, CheckpointInterval: time.Hour}},
	} {
		b.Run(c.name, func(b *testing.B) { benchCommit(b, 16, c.opts, insert) })
	}
}

// BenchmarkCommitLifecycle is the engine's load for SA contexts created and
// then updated four times each (SPI, inbound SA, outbound SA, expiry), the
// record growing as SAs are added, from 64 goroutines at once.
func BenchmarkCommitLifecycle(b *testing.B) {
	benchCommit(b, 64, Options{}, func(n uint64) []engine.Mutation {
		size := [...]int{600, 700, 1400, 2100, 2100}[n%5]
		return []engine.Mutation{{Kind: engine.RecordSAContext, Key: n / 5, Value: lifecycleValue[:size]}}
	})
}

func insert(n uint64) []engine.Mutation {
	return []engine.Mutation{{Kind: engine.RecordSAContext, Key: n, Value: benchValue}}
}

var lifecycleValue = storagetest.Value(engine.RecordSAContext, 1, 1, 2100)

var benchValue = storagetest.Value(engine.RecordSAContext, 1, 1, 600)

func benchCommit(b *testing.B, committers int, opts Options, muts func(n uint64) []engine.Mutation) {
	s := openPath(b, filepath.Join(b.TempDir(), "bench.db"), opts)
	var next atomic.Uint64
	lats := make([][]time.Duration, committers)
	before := s.Stats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range committers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > uint64(b.N) {
					return
				}
				t0 := time.Now()
				if err := s.Commit(muts(n)); err != nil {
					b.Error(err)
					return
				}
				lats[g] = append(lats[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	after := s.Stats()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	calls := after.Commits - before.Commits
	batches := max(after.Batches-before.Batches, 1)
	ckpts := after.Checkpoints - before.Checkpoints
	syncs := after.LogSyncs - before.LogSyncs + 2*ckpts + after.PreallocSeconds.Count - before.PreallocSeconds.Count
	b.ReportMetric(float64(calls)/elapsed.Seconds(), "commits/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
	b.ReportMetric(float64(calls)/float64(batches), "calls/frame")
	b.ReportMetric((after.DiskSeconds.Sum-before.DiskSeconds.Sum)/float64(batches)*1e6, "µs/frame")
	b.ReportMetric(float64(syncs)/float64(max(calls, 1)), "fdatasyncs/commit")
	if ckpts > 0 {
		b.ReportMetric((after.CheckpointSeconds.Sum-before.CheckpointSeconds.Sum)/float64(ckpts)*1e3, "ms/checkpoint")
		b.ReportMetric(float64(after.PagesWritten-before.PagesWritten)/float64(ckpts), "pages/checkpoint")
	}
}

// benchFill writes n records of size bytes to s, 1000 per commit.
func benchFill(b *testing.B, s *Store, n, size int) {
	b.Helper()
	v := storagetest.Value(engine.RecordSAContext, 1, 1, size)
	for base := 0; base < n; base += 1000 {
		muts := make([]engine.Mutation, 0, 1000)
		for k := base; k < min(base+1000, n); k++ {
			muts = append(muts, engine.Mutation{Kind: engine.RecordSAContext, Key: uint64(k), Value: v})
		}
		if err := s.Commit(muts); err != nil {
			b.Fatal(err)
		}
	}
}

// loadBenchOptions keep up to 64 MiB in the log, with no timed checkpoint,
// so that the benchmarks below control what the log holds.
var loadBenchOptions = Options{LogSize: 128 << 20, CheckpointBytes: 64 << 20, CheckpointInterval: time.Hour}

// fillHalfInLog writes 100,000 records of 800 bytes to s: with inLog, the
// first half is checkpointed into the file and the second half stays only
// in the log.
func fillHalfInLog(b *testing.B, s *Store, inLog bool) {
	b.Helper()
	if !inLog {
		benchFill(b, s, 100_000, 800)
		if err := s.checkpoint(false); err != nil {
			b.Fatal(err)
		}
		return
	}
	benchFill(b, s, 50_000, 800)
	if err := s.checkpoint(false); err != nil {
		b.Fatal(err)
	}
	v := storagetest.Value(engine.RecordSAContext, 1, 1, 800)
	for base := 50_000; base < 100_000; base += 1000 {
		muts := make([]engine.Mutation, 0, 1000)
		for k := base; k < base+1000; k++ {
			muts = append(muts, engine.Mutation{Kind: engine.RecordSAContext, Key: uint64(k), Value: v})
		}
		if err := s.Commit(muts); err != nil {
			b.Fatal(err)
		}
	}
	if st := s.Stats(); st.LogRecords != 50_000 {
		b.Fatalf("the log holds %d records, want 50000", st.LogRecords)
	}
}

// BenchmarkLoad100k measures Load of 100,000 records of 800 bytes, all in
// the file, and half in the file and half only in the log.
func BenchmarkLoad100k(b *testing.B) {
	for _, inLog := range []bool{false, true} {
		b.Run(fmt.Sprintf("half-in-log=%v", inLog), func(b *testing.B) {
			s := openPath(b, filepath.Join(b.TempDir(), "bench.db"), loadBenchOptions)
			fillHalfInLog(b, s, inLog)
			b.ResetTimer()
			for b.Loop() {
				n := 0
				err := s.Load(func(engine.RecordKind, uint64, []byte) error {
					n++
					return nil
				})
				if err != nil || n != 100_000 {
					b.Fatalf("Load: %d records, %v", n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
		})
	}
}

// BenchmarkOpen100k measures Open, with its checks, of a store holding
// 100,000 records of 800 bytes: closed cleanly (all in the file), and
// crashed with half of them only in the log, which Open replays and
// checkpoints.
func BenchmarkOpen100k(b *testing.B) {
	for _, inLog := range []bool{false, true} {
		b.Run(fmt.Sprintf("half-in-log=%v", inLog), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.db")
			s := openPath(b, path, loadBenchOptions)
			fillHalfInLog(b, s, inLog)
			if inLog {
				crash(b, s)
			} else if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			store, log := readFile(b, path), readFile(b, logPath(path))
			b.ResetTimer()
			for b.Loop() {
				s, err := Open(path, loadBenchOptions)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if st := s.Stats(); inLog && st.RecoveredCommits != 50 {
					b.Fatalf("Open replayed %d calls, want 50", st.RecoveredCommits)
				}
				crash(b, s)
				writeFile(b, path, store)
				writeFile(b, logPath(path), log)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
		})
	}
}
