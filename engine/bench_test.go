package engine

import (
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/wfp"
)

// BenchmarkPlumbing is the full sequence a keying daemon runs per SA pair:
// Create, GetSpi, AddInbound, AddOutbound, DeleteById. One op is one sequence.
func BenchmarkPlumbing(b *testing.B) {
	e, _ := newTestEngine(b, Options{Clock: clock.System()})
	p := newPlumb(b, openAdmin(b, e))
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	for b.Loop() {
		id, err := p.run()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.api.IPsecSaContextDeleteById0(id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "seq/s")
}

// BenchmarkPlumbingParallel runs the sequence on GOMAXPROCS goroutines, each
// with its own session.
func BenchmarkPlumbingParallel(b *testing.B) {
	e, _ := newTestEngine(b, Options{Clock: clock.System()})
	setup := newPlumb(b, openAdmin(b, e))
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := *setup
		p.api = openAdmin(b, e)
		for pb.Next() {
			id, err := p.run()
			if err != nil {
				b.Error(err)
				return
			}
			if err := p.api.IPsecSaContextDeleteById0(id); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "seq/s")
}

// BenchmarkPlumbingScaling measures the plumbing rate on one goroutine and
// on GOMAXPROCS goroutines (each with its own session) in alternating
// rounds of 100 ms, so that both see the same machine: a shared machine's
// speed drifts over seconds, more than the effect measured. One op is one
// pair of rounds; it reports both rates and their ratio.
//
//	go test ./engine -run '^$' -bench PlumbingScaling -cpu 2 -benchtime 30x
func BenchmarkPlumbingScaling(b *testing.B) {
	e, _ := newTestEngine(b, Options{Clock: clock.System()})
	setup := newPlumb(b, openAdmin(b, e))
	procs := runtime.GOMAXPROCS(0)
	plumbs := make([]*plumb, procs)
	for i := range plumbs {
		p := *setup
		p.api = openAdmin(b, e)
		plumbs[i] = &p
	}
	round := func(n int) (seqs int64, took time.Duration) {
		var total atomic.Int64
		start := time.Now()
		stop := start.Add(100 * time.Millisecond)
		var wg sync.WaitGroup
		for _, p := range plumbs[:n] {
			wg.Go(func() {
				var k int64
				for time.Now().Before(stop) {
					for range 64 {
						id, err := p.run()
						if err == nil {
							err = p.api.IPsecSaContextDeleteById0(id)
						}
						if err != nil {
							b.Error(err)
							return
						}
						k++
					}
				}
				total.Add(k)
			})
		}
		wg.Wait()
		return total.Load(), time.Since(start)
	}
	var one, all int64
	var oneT, allT time.Duration
	for b.Loop() {
		n, d := round(1)
		one, oneT = one+n, oneT+d
		n, d = round(procs)
		all, allT = all+n, allT+d
	}
	r1, rN := float64(one)/oneT.Seconds(), float64(all)/allT.Seconds()
	b.ReportMetric(r1, "seq/s-1g")
	b.ReportMetric(rN, "seq/s-Ng")
	b.ReportMetric(rN/r1, "ratio")
}

// reportCPU reports the process CPU time per op: on a busy machine it is a
// steadier figure than wall time. Call the result when the loop is done.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fill creates n fully plumbed contexts and returns their ids.
func fill(tb testing.TB, p *plumb, n int) []uint64 {
	ids := make([]uint64, n)
	for i := range n {
		id, err := p.run()
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// BenchmarkScale measures, at several database sizes: heap per live SA
// context, the create rate (full plumbing without delete) at that size and,
// in alternating rounds, at 1000 contexts (create-n/1k is their ratio), a
// full enumeration, and GetById latency percentiles.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(itoa(n), func(b *testing.B) {
			if testing.Short() && n > 100_000 {
				b.Skip("short")
			}
			for b.Loop() {
				scaleOnce(b, n)
			}
		})
	}
}

func itoa(n int) string {
	switch {
	case n >= 1_000_000:
		return string(rune('0'+n/1_000_000)) + "M"
	case n >= 1000:
		s := ""
		for k := n / 1000; k > 0; k /= 10 {
			s = string(rune('0'+k%10)) + s
		}
		return s + "k"
	}
	return "n"
}

func scaleOnce(b *testing.B, n int) {
	e, _ := newTestEngine(b, Options{Clock: clock.System()})
	api := openAdmin(b, e)
	p := newPlumb(b, api)
	// Realistic SAs: one-hour lifetimes, so every context has a timer.

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	ids := fill(b, p, n)
	fillDur := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(n), "heap-B/ctx")

	// The create rate at this size: rounds of 1000 more sequences on top
	// of n, deleted again after each round (untimed), so that the size
	// stays n while enough creations are timed to include their share of
	// garbage collection, which one short round would catch or miss. The
	// rounds alternate with the same rounds on an engine of 1000 contexts,
	// so that the two rates the target compares are taken at the same
	// moments of a machine whose speed drifts.
	ref, _ := newTestEngine(b, Options{Clock: clock.System()})
	refAPI := openAdmin(b, ref)
	refP := newPlumb(b, refAPI)
	fill(b, refP, 1000)
	const extra, rounds = 1000, 40
	round := func(p *plumb, api wfp.API) time.Duration {
		start := time.Now()
		more := fill(b, p, extra)
		took := time.Since(start)
		for _, id := range more {
			if err := api.IPsecSaContextDeleteById0(id); err != nil {
				b.Fatal(err)
			}
		}
		return took
	}
	var creating, refCreating time.Duration
	for range rounds {
		creating += round(p, api)
		refCreating += round(refP, refAPI)
	}
	b.ReportMetric(extra*rounds/creating.Seconds(), "create/s@n")
	b.ReportMetric(extra*rounds/refCreating.Seconds(), "create/s@1k")
	b.ReportMetric(refCreating.Seconds()/creating.Seconds(), "create-n/1k")
	b.ReportMetric(float64(n)/fillDur.Seconds(), "create/s-fill")

	// Full enumeration, each page given back as WFP callers do.
	start = time.Now()
	if total := enumerateAll(b, api, true); total != n {
		b.Fatalf("enumerated %d of %d", total, n)
	}
	b.ReportMetric(time.Since(start).Seconds()*1000, "enum-ms")

	// GetById latency: first right after the enumeration, then at rest.
	p50, p99 := getLatency(b, api, ids)
	b.ReportMetric(float64(p50.Nanoseconds()), "get-p50-after-enum-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), "get-p99-after-enum-ns")
	runtime.GC()
	p50, p99 = getLatency(b, api, ids)
	b.ReportMetric(float64(p50.Nanoseconds()), "get-p50-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), "get-p99-ns")
	runtime.KeepAlive(ids)
}

// getLatency times 100,000 IPsecSaContextGetById1 calls spread over ids
// and returns the median and the 99th percentile. Each result is given
// back with FwpmFreeMemory0 once read, as WFP callers do.
func getLatency(b *testing.B, api wfp.API, ids []uint64) (p50, p99 time.Duration) {
	const samples = 100_000
	lat := make([]time.Duration, samples)
	var sink atomic.Uint64
	for i := range samples {
		id := ids[(i*7919)%len(ids)]
		t := time.Now()
		sc, err := api.IPsecSaContextGetById1(id)
		lat[i] = time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		sink.Store(uint64(sc.InboundSPI))
		api.FwpmFreeMemory0(&sc)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[samples/2], lat[samples*99/100]
}

// BenchmarkGetById reads one context of 1000: each result given back
// with FwpmFreeMemory0 (free), as WFP callers do, or left to the garbage
// collector (gc).
func BenchmarkGetById(b *testing.B) {
	for _, free := range []bool{true, false} {
		b.Run(freeName(free), func(b *testing.B) {
			e, _ := newTestEngine(b, Options{Clock: clock.System()})
			api := openAdmin(b, e)
			p := newPlumb(b, api)
			ids := fill(b, p, 1000)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sc, err := api.IPsecSaContextGetById1(ids[i%len(ids)])
				if err != nil {
					b.Fatal(err)
				}
				if free {
					api.FwpmFreeMemory0(&sc)
				}
				i++
			}
		})
	}
}

// BenchmarkEnumerate1M enumerates a million contexts, 10,000 a page: as WFP
// callers do, giving each page back with FwpmFreeMemory0 (free), and
// without (gc), leaving every page to the garbage collector.
func BenchmarkEnumerate1M(b *testing.B) {
	if testing.Short() {
		b.Skip("short")
	}
	e, _ := newTestEngine(b, Options{Clock: clock.System()})
	api := openAdmin(b, e)
	p := newPlumb(b, api)
	fill(b, p, 1_000_000)
	freeOrGC(b, func(b *testing.B, free bool) {
		if n := enumerateAll(b, api, free); n != 1_000_000 {
			b.Fatalf("enumerated %d", n)
		}
	})
}

// freeOrGC runs an enumeration benchmark twice: giving each page back with
// FwpmFreeMemory0 (free), and leaving the pages to the garbage collector
// (gc).
func freeOrGC(b *testing.B, enumerate func(b *testing.B, free bool)) {
	for _, free := range []bool{true, false} {
		b.Run(freeName(free), func(b *testing.B) {
			runtime.GC()
			b.ResetTimer()
			for b.Loop() {
				enumerate(b, free)
			}
		})
	}
}

func freeName(free bool) string {
	if free {
		return "free"
	}
	return "gc"
}

// enumerateAll enumerates every context, 10,000 a page, and returns how
// many it saw; free gives each page back when done with it.
func enumerateAll(b *testing.B, api wfp.API, free bool) int {
	h, err := api.IPsecSaContextCreateEnumHandle0(nil)
	return enumPages(b, api, free, h, err, api.IPsecSaContextEnum1, api.IPsecSaContextDestroyEnumHandle0)
}

// enumPages pages through the enumeration h (opened with err) in pages of
// 10,000 and returns how many entries it saw.
func enumPages[T any](b *testing.B, api wfp.API, free bool, h wfp.EnumHandle, err error,
	next func(wfp.EnumHandle, uint32) ([]T, error), destroy func(wfp.EnumHandle) error) int {
	if err != nil {
		b.Fatal(err)
	}
	defer destroy(h)
	total := 0
	for {
		page, err := next(h, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		n := len(page)
		total += n
		if free {
			api.FwpmFreeMemory0(&page)
		}
		if n < 10_000 {
			return total
		}
	}
}

// BenchmarkFilterAdd adds and deletes one transport filter pair with n
// other pairs installed: a keying daemon installing a pair per peer must
// not pay for the peers before it.
func BenchmarkFilterAdd(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(itoa(n), func(b *testing.B) {
			e, _ := newTestEngine(b, Options{Clock: clock.System()})
			api := openAdmin(b, e)
			local := netip.MustParseAddr("192.0.2.1")
			remote := func(i int) netip.Addr {
				return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			}
			before := heapInUse()
			for i := range n {
				if _, _, err := conformance.TransportFilters(api, local, remote(i)); err != nil {
					b.Fatal(err)
				}
			}
			perFilter := float64(heapInUse()-before) / float64(2*n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				out, in, err := conformance.TransportFilters(api, local, remote(n+i%1000))
				if err != nil {
					b.Fatal(err)
				}
				if err := api.FwpmFilterDeleteById0(out); err != nil {
					b.Fatal(err)
				}
				if err := api.FwpmFilterDeleteById0(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
			b.ReportMetric(perFilter, "heap-B/filter")
		})
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkSAEnumerate1M enumerates the SAs of a million contexts (two
// million SA details), 10,000 a page, each page given back (free) or left
// to the garbage collector (gc).
func BenchmarkSAEnumerate1M(b *testing.B) {
	if testing.Short() {
		b.Skip("short")
	}
	e, _ := newTestEngine(b, Options{Clock: clock.System()})
	api := openAdmin(b, e)
	fill(b, newPlumb(b, api), 1_000_000)
	freeOrGC(b, func(b *testing.B, free bool) {
		h, err := api.IPsecSaCreateEnumHandle0(nil)
		if n := enumPages(b, api, free, h, err, api.IPsecSaEnum1, api.IPsecSaDestroyEnumHandle0); n != 2_000_000 {
			b.Fatalf("enumerated %d SAs", n)
		}
	})
}
