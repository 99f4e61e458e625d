package bolt

import (
	"fmt"
	"path/filepath"
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
// at once. It reports commits/s, the average number of calls per disk
// transaction, the average disk transaction time and pages written per
// transaction.
func BenchmarkCommit(b *testing.B) {
	for _, committers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("committers=%d", committers), func(b *testing.B) {
			benchCommit(b, committers, Options{}, insert)
		})
	}
}

// BenchmarkCommitChoices runs the 64-committer case of BenchmarkCommit
// without each of the Store's throughput measures, to show what each is
// worth on the machine at hand.
func BenchmarkCommitChoices(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"no-linger", Options{Linger: -1}},
		{"no-preallocate", Options{NoPreallocate: true}},
		{"neither", Options{Linger: -1, NoPreallocate: true}},
	} {
		b.Run(c.name, func(b *testing.B) { benchCommit(b, 64, c.opts, insert) })
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
	before := s.Stats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range committers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > uint64(b.N) {
					return
				}
				if err := s.Commit(muts(n)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	after := s.Stats()
	calls := after.Commits - before.Commits
	batches := max(after.Batches-before.Batches, 1)
	b.ReportMetric(float64(calls)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(calls)/float64(batches), "calls/batch")
	b.ReportMetric((after.DiskSeconds.Sum-before.DiskSeconds.Sum)/float64(batches)*1e6, "µs/batch")
	b.ReportMetric(float64(after.PagesWritten-before.PagesWritten)/float64(batches), "pages/batch")
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

// BenchmarkLoad100k measures Load of 100,000 records of 800 bytes.
func BenchmarkLoad100k(b *testing.B) {
	s := openPath(b, filepath.Join(b.TempDir(), "bench.db"), Options{})
	benchFill(b, s, 100_000, 800)
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
}

// BenchmarkOpen100k measures Open, with its checks, of a file holding
// 100,000 records of 800 bytes.
func BenchmarkOpen100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	s := openPath(b, path, Options{})
	benchFill(b, s, 100_000, 800)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
}
