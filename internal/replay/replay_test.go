package replay

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func mustNew(tb testing.TB, size int, esn bool) *Window {
	tb.Helper()
	w, err := New(size, esn)
	if err != nil {
		tb.Fatalf("New(%d, %v): %v", size, esn, err)
	}
	return w
}

func TestSizeRounding(t *testing.T) {
	tests := []struct {
		size, want, blocks int
	}{
		{0, 64, 2},
		{1, 64, 2},
		{MinSize, 64, 2},
		{64, 64, 2},
		{65, 128, 4},
		{100, 128, 4},
		{128, 128, 4},
		{1024, 1024, 32},
		{4096, 4096, 128},
		{5000, 5056, 128},
		{MaxSize, MaxSize, MaxSize / 64 * 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			w := mustNew(t, tt.size, false)
			if got := w.Size(); got != tt.want {
				t.Errorf("Size() = %d, want %d", got, tt.want)
			}
			if got := len(w.blocks); got != tt.blocks {
				t.Errorf("len(blocks) = %d, want %d", got, tt.blocks)
			}
		})
	}
	for _, bad := range []int{-1, MaxSize + 1} {
		if _, err := New(bad, true); !errors.Is(err, ErrSize) {
			t.Errorf("New(%d) error = %v, want ErrSize", bad, err)
		}
	}
	var w Window
	if err := w.Init(-5, false); !errors.Is(err, ErrSize) {
		t.Errorf("Init(-5) error = %v, want ErrSize", err)
	}
	if w.blocks != nil || w.size != 0 {
		t.Errorf("failed Init changed the window: %+v", w)
	}
}

// step is one operation of a table test: Check(low) must return
// (wantSeq, wantOK); if accept is set, Accept(wantSeq) must return
// wantAccept.
type step struct {
	low        uint32
	wantSeq    uint64
	wantOK     bool
	accept     bool
	wantAccept bool
}

func ok(low uint32, seq uint64) step {
	return step{low: low, wantSeq: seq, wantOK: true, accept: true, wantAccept: true}
}

func bad(low uint32, seq uint64) step { return step{low: low, wantSeq: seq} }

func TestWindowTable(t *testing.T) {
	const e32 = uint64(1) << 32
	tests := []struct {
		name  string
		size  int
		esn   bool
		start uint64 // accepted before the steps, if nonzero
		steps []step
	}{
		{
			name: "zero is never valid",
			steps: []step{
				bad(0, 0), ok(1, 1), bad(0, 0),
			},
		},
		{
			name: "in order, duplicate, reorder inside window",
			steps: []step{
				ok(1, 1), bad(1, 1), ok(2, 2), ok(5, 5), ok(3, 3), bad(3, 3), ok(4, 4), bad(5, 5),
			},
		},
		{
			name: "out of window old after jump",
			steps: []step{
				ok(1, 1), ok(1000, 1000), ok(937, 937), bad(936, 936), bad(1, 1), ok(999, 999), bad(937, 937),
			},
		},
		{
			name: "window edge 128",
			size: 128,
			steps: []step{
				ok(200, 200), ok(73, 73), bad(72, 72), ok(150, 150), ok(201, 201), bad(73, 73), ok(74, 74),
			},
		},
		{
			name: "big jump clears the whole ring",
			size: 1024,
			steps: []step{
				ok(10, 10), ok(11, 11), ok(10+1<<20, 10+1<<20), ok(10+1<<20-1023, 10+1<<20-1023),
				bad(10+1<<20-1024, 10+1<<20-1024), ok(10+1<<20-64, 10+1<<20-64),
			},
		},
		{
			name:  "32-bit sequence numbers end at 2^32-1",
			start: math.MaxUint32 - 1,
			steps: []step{
				ok(math.MaxUint32, math.MaxUint32), bad(math.MaxUint32, math.MaxUint32), bad(0, 0), ok(math.MaxUint32-2, math.MaxUint32-2),
			},
		},
		{
			name:  "ESN crosses 2^32",
			esn:   true,
			start: e32 - 16,
			steps: []step{
				ok(0, e32), ok(5, e32+5), ok(0xfffffff8, e32-8), bad(0xfffffff8, e32-8), ok(0xffffffff, e32-1), bad(0, e32),
				// Behind the window's bottom (e32+5-63): RFC 4303 A2.2
				// case A puts it in the next epoch, where the ICV will fail.
				step{low: 0xffffffc5, wantSeq: 2*e32 - 59, wantOK: true},
			},
		},
		{
			name:  "ESN case B: top just past the boundary",
			esn:   true,
			start: 3*e32 + 2,
			steps: []step{
				ok(0xfffffff0, 3*e32-16), ok(1, 3*e32+1), ok(40, 3*e32+40), bad(0xfffffff0, 3*e32-16),
				ok(0xffffffe9+40-40, 3*e32-23), // 3*e32+40-63 = 3*e32-23 is the bottom
				step{low: 0xffffffe8, wantSeq: 4*e32 - 24, wantOK: true},
			},
		},
		{
			name: "ESN before the first epoch is refused",
			esn:  true,
			steps: []step{
				ok(5, 5), bad(0xfffffffe, 0), bad(0, 0), ok(70, 70), ok(7, 7), bad(7, 7),
				// Below the bottom (7): case A puts it in epoch 1.
				step{low: 6, wantSeq: e32 + 6, wantOK: true},
			},
		},
		{
			name:  "ESN top epoch: next epoch would overflow",
			esn:   true,
			start: math.MaxUint64 - 3,
			steps: []step{
				ok(math.MaxUint32, math.MaxUint64), bad(math.MaxUint32, math.MaxUint64), bad(0, 0), bad(1, 0), ok(math.MaxUint32-1, math.MaxUint64-1),
			},
		},
		{
			name:  "ESN with a 4096 window at the boundary",
			size:  4096,
			esn:   true,
			start: 0xfffff000,
			steps: []step{
				ok(0xfffff001, 0xfffff001), ok(2, e32+2), ok(0xfffff003, 0xfffff003), ok(0xffffffff, e32-1),
				bad(2, e32+2), bad(0xfffff001+2, 0xfffff003),
				step{low: 0xfffff002, wantSeq: 2*e32 - 0x1000 + 2, wantOK: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustNew(t, tt.size, tt.esn)
			if tt.start != 0 && !w.Accept(tt.start) {
				t.Fatalf("Accept(start %#x) = false", tt.start)
			}
			for i, s := range tt.steps {
				seq, ok := w.Check(s.low)
				if ok != s.wantOK || seq != s.wantSeq {
					t.Fatalf("step %d: Check(%#x) = (%#x, %v), want (%#x, %v); top %#x", i, s.low, seq, ok, s.wantSeq, s.wantOK, w.Top())
				}
				if s.accept {
					if got := w.Accept(s.wantSeq); got != s.wantAccept {
						t.Fatalf("step %d: Accept(%#x) = %v, want %v", i, s.wantSeq, got, s.wantAccept)
					}
				}
			}
		})
	}
}

func TestZeroValue(t *testing.T) {
	var w Window
	if w.Size() != DefaultSize || w.ESN() || w.Top() != 0 {
		t.Fatalf("zero Window: size %d esn %v top %d", w.Size(), w.ESN(), w.Top())
	}
	if _, ok := w.Check(0); ok {
		t.Error("zero Window accepts 0")
	}
	seq, ok := w.Check(7)
	if !ok || seq != 7 {
		t.Fatalf("Check(7) = %d, %v", seq, ok)
	}
	if !w.Accept(7) || w.Accept(7) {
		t.Fatal("Accept(7) twice did not return true, false")
	}
	if _, ok := w.Check(7); ok {
		t.Error("Check(7) after Accept(7) = true")
	}
	if seq, ok := w.Check(100); !ok || seq != 100 || !w.Accept(100) {
		t.Error("zero Window refused 100")
	}
	if _, ok := w.Check(36); ok {
		t.Error("zero Window is wider than 64")
	}
	if _, ok := w.Check(37); !ok {
		t.Error("zero Window is narrower than 64")
	}
}

func TestAcceptWithoutCheck(t *testing.T) {
	w := mustNew(t, 64, false)
	if w.Accept(0) {
		t.Error("Accept(0) = true")
	}
	if w.Accept(math.MaxUint32 + 1) {
		t.Error("32-bit window accepted 2^32")
	}
	if !w.Accept(500) || w.Top() != 500 {
		t.Fatal("Accept(500) failed")
	}
	if w.Accept(436) {
		t.Error("Accept(436) below the window = true")
	}
	if w.Top() != 500 {
		t.Errorf("failed Accept moved the window to %d", w.Top())
	}
}

// TestCheckAcceptRace models two packets with the same sequence number
// whose integrity checks overlap: both pass Check, only the first Accept
// wins.
func TestCheckAcceptRace(t *testing.T) {
	for _, esn := range []bool{false, true} {
		w := mustNew(t, 64, esn)
		w.Accept(10)
		s1, ok1 := w.Check(12)
		s2, ok2 := w.Check(12)
		if !ok1 || !ok2 || s1 != s2 {
			t.Fatalf("esn=%v: Check twice = (%d %v) (%d %v)", esn, s1, ok1, s2, ok2)
		}
		if !w.Accept(s1) || w.Accept(s2) {
			t.Fatalf("esn=%v: second Accept of the same number succeeded", esn)
		}
		// The window moving past a checked number between the steps.
		s3, ok3 := w.Check(11)
		if !ok3 || !w.Accept(1000) || w.Accept(s3) {
			t.Fatalf("esn=%v: Accept of a number the window moved past succeeded", esn)
		}
	}
}

// model is the naive reference: a set of every accepted number, and the
// RFC 4303 Appendix A2.2 inference written out case by case with signed
// 64-bit arithmetic on the 32-bit halves.
type model struct {
	esn  bool
	w    uint64
	top  uint64
	seen map[uint64]bool
}

func (m *model) infer(low uint32) (uint64, bool) {
	if !m.esn {
		return uint64(low), true
	}
	th, tl := int64(m.top>>32), int64(uint32(m.top))
	w := int64(m.w)
	bl := (tl - w + 1) & math.MaxUint32
	var seqh int64
	if tl >= w-1 { // case A
		if int64(low) >= bl {
			seqh = th
		} else {
			seqh = th + 1
		}
	} else { // case B
		if int64(low) >= bl {
			seqh = th - 1
		} else {
			seqh = th
		}
	}
	if seqh < 0 || seqh > math.MaxUint32 {
		return 0, false
	}
	return uint64(seqh)<<32 | uint64(low), true
}

func (m *model) acceptable(seq uint64) bool {
	if seq == 0 || (!m.esn && seq > math.MaxUint32) {
		return false
	}
	if seq > m.top {
		return true
	}
	return m.top-seq < m.w && !m.seen[seq]
}

func (m *model) check(low uint32) (uint64, bool) {
	seq, ok := m.infer(low)
	if !ok {
		return 0, false
	}
	return seq, m.acceptable(seq)
}

func (m *model) accept(seq uint64) bool {
	if !m.acceptable(seq) {
		return false
	}
	m.seen[seq] = true
	if seq > m.top {
		m.top = seq
	}
	if len(m.seen) > 4*int(m.w) {
		for s := range m.seen {
			if m.top-s >= m.w {
				delete(m.seen, s)
			}
		}
	}
	return true
}

// TestAgainstModel drives a Window and the naive model with the same
// seeded random operations: in-order, reordered, duplicate, old, big
// jumps and arbitrary numbers, starting just below 2^32 boundaries for
// ESN wrap-around.
func TestAgainstModel(t *testing.T) {
	const e32 = uint64(1) << 32
	starts := []uint64{0, e32 - 100, 5*e32 - 3000, math.MaxUint32 - 10, math.MaxUint64 - 1<<20}
	for _, size := range []int{64, 100, 128, 1024, 4096} {
		for _, esn := range []bool{false, true} {
			for si, start := range starts {
				if !esn && start > math.MaxUint32 {
					continue
				}
				seed := uint64(size)*1000 + uint64(si)*10
				if esn {
					seed++
				}
				t.Run(fmt.Sprintf("size=%d/esn=%v/start=%#x", size, esn, start), func(t *testing.T) {
					runModel(t, seed, size, esn, start, 20000)
				})
			}
		}
	}
}

func runModel(t *testing.T, seed uint64, size int, esn bool, start uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := mustNew(t, size, esn)
	m := &model{esn: esn, w: uint64(w.Size()), seen: map[uint64]bool{}}
	if start != 0 {
		if w.Accept(start) != m.accept(start) {
			t.Fatalf("seed %d: Accept(start) disagrees", seed)
		}
	}
	var recent []uint64
	W := uint64(w.Size())
	for i := 0; i < ops; i++ {
		var seq uint64
		switch r := rng.IntN(100); {
		case r < 40: // ahead, in order or with small gaps
			seq = m.top + 1 + rng.Uint64N(W/2)
		case r < 70: // behind: reordered, duplicate or just too old
			seq = m.top - rng.Uint64N(2*W)
		case r < 80 && len(recent) > 0: // exact duplicate
			seq = recent[rng.IntN(len(recent))]
		case r < 90: // big jump forward
			seq = m.top + rng.Uint64N(1<<34)
		default: // anything
			seq = rng.Uint64()
		}
		low := uint32(seq)
		gotSeq, gotOK := w.Check(low)
		wantSeq, wantOK := m.check(low)
		if gotOK != wantOK || (wantOK && gotSeq != wantSeq) {
			t.Fatalf("seed %d op %d: Check(%#x) = (%#x, %v), model (%#x, %v); top %#x", seed, i, low, gotSeq, gotOK, wantSeq, wantOK, m.top)
		}
		if !gotOK {
			continue
		}
		if rng.IntN(10) == 0 { // integrity check failed: no Accept
			continue
		}
		if got, want := w.Accept(gotSeq), m.accept(gotSeq); got != want {
			t.Fatalf("seed %d op %d: Accept(%#x) = %v, model %v", seed, i, gotSeq, got, want)
		}
		if w.Top() != m.top {
			t.Fatalf("seed %d op %d: Top() = %#x, model %#x", seed, i, w.Top(), m.top)
		}
		if len(recent) < 64 {
			recent = append(recent, gotSeq)
		} else {
			recent[rng.IntN(len(recent))] = gotSeq
		}
	}
}

func TestNoAllocs(t *testing.T) {
	w := mustNew(t, 4096, true)
	var n uint32
	allocs := testing.AllocsPerRun(1000, func() {
		n += 3
		if seq, ok := w.Check(n); ok {
			w.Accept(seq)
		}
		if seq, ok := w.Check(n - 2); ok {
			w.Accept(seq)
		}
	})
	if allocs != 0 {
		t.Errorf("Check+Accept allocate %v times per run", allocs)
	}
}
