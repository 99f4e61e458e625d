package replay

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// ErrSize is returned by New and Init for a window size outside
// [0, MaxSize].
var ErrSize = errors.New("replay: window size out of range")

// Window is the anti-replay window of one inbound SA (RFC 4303 §3.4.3,
// Appendix A).
//
// The window covers the W sequence numbers [T-W+1, T], where T is the
// highest sequence number accepted so far. W is the requested size
// rounded up to a multiple of 64 (so 64, 128, 1024 and 4096 are exact,
// 32 and 100 become 64 and 128). The bitmap is a ring of 64-bit blocks
// (RFC 6479) whose length is the smallest power of two holding W+64
// bits, so moving the window clears whole blocks and never shifts bits.
//
// With extended sequence numbers (ESN) the window tracks 64-bit numbers
// and Check infers the high 32 bits from the low 32 bits in the packet.
// Without ESN, numbers are 32 bits wide. In both modes the number 0 is
// never valid: the first packet of an SA carries 1 (RFC 4303 §3.3.3).
//
// The zero value is a 64-packet window for 32-bit sequence numbers that
// allocates its bitmap on the first Accept. A Window is not safe for
// concurrent use: the caller serializes Check and Accept, typically with
// the SA's replay lock, and may run the integrity check between the two
// without holding it. A Window must not be copied after first use.
type Window struct {
	top    uint64   // T: highest accepted sequence number; 0 before the first
	size   uint64   // W: window size in sequence numbers, a multiple of 64; 0 means DefaultSize
	mask   uint64   // len(blocks)-1; len(blocks) is a power of two
	blocks []uint64 // ring bitmap; bit s%64 of blocks[(s/64)&mask] is sequence number s
	esn    bool
}

// New returns a Window of the given size (0 means DefaultSize; see Window
// for the rounding) for extended sequence numbers if esn is true, for
// 32-bit sequence numbers otherwise.
func New(size int, esn bool) (*Window, error) {
	w := new(Window)
	if err := w.Init(size, esn); err != nil {
		return nil, err
	}
	return w, nil
}

// Init resets w to an empty window of the given size (0 means
// DefaultSize) and sequence-number width, allocating its bitmap. It
// returns ErrSize, and leaves w unchanged, if size is negative or above
// MaxSize.
func (w *Window) Init(size int, esn bool) error {
	if size < 0 || size > MaxSize {
		return fmt.Errorf("%w: %d not in [0, %d]", ErrSize, size, MaxSize)
	}
	if size == 0 {
		size = DefaultSize
	}
	rounded := (uint64(size) + blockBits - 1) &^ (blockBits - 1)
	nblocks := uint64(1) << bits.Len64(rounded/blockBits) // smallest power of two > W/64
	*w = Window{
		size:   rounded,
		mask:   nblocks - 1,
		blocks: make([]uint64, nblocks),
		esn:    esn,
	}
	return nil
}

// Size returns the window size W in sequence numbers, after rounding.
func (w *Window) Size() int {
	if w.size == 0 {
		return DefaultSize
	}
	return int(w.size)
}

// ESN reports whether w tracks extended (64-bit) sequence numbers.
func (w *Window) ESN() bool { return w.esn }

// Top returns T, the highest sequence number accepted so far, or 0 if
// none has been.
func (w *Window) Top() uint64 { return w.top }

// Check infers the full sequence number of a packet that carries seqLow
// in its Sequence Number field, and reports whether that number may still
// be accepted: it is not 0, not older than the window, and not marked as
// seen. Check does not change w.
//
// Without ESN, seq is seqLow. With ESN, seq has the high 32 bits chosen by
// RFC 4303 Appendix A2.2 relative to T and W; when that choice would fall
// before the first packet of the SA or past 2^64-1, Check returns false.
// The caller verifies the ICV with seq (ESN: the high bits take part in
// it) and then calls Accept(seq). When ok is false, seq is still the
// inferred number, or 0 if none could be inferred.
func (w *Window) Check(seqLow uint32) (seq uint64, ok bool) {
	if !w.esn {
		seq = uint64(seqLow)
	} else if seq, ok = w.infer(seqLow); !ok {
		return 0, false
	}
	return seq, w.acceptable(seq)
}

// infer implements RFC 4303 Appendix A2.2. The cases A and B there come
// down to one statement: seq is the unique number congruent to seqLow
// modulo 2^32 in [B, B+2^32), where B = T-W+1 is the bottom of the window.
// When T < W-1, B is "negative" (case B with Th = 0): numbers below 1
// belong to no packet and are refused.
func (w *Window) infer(seqLow uint32) (uint64, bool) {
	wm1 := w.windowSize() - 1
	delta := uint64(seqLow - (uint32(w.top) - uint32(wm1))) // (Seql - Bl) mod 2^32
	if w.top < wm1 {
		below := wm1 - w.top // 1 - B
		if delta <= below {
			return 0, false
		}
		return delta - below, true
	}
	bottom := w.top - wm1
	seq := bottom + delta
	if seq < bottom { // Seqh would be Th+1 with Th = 2^32-1
		return 0, false
	}
	return seq, true
}

// acceptable reports whether seq is not 0, not older than the window and
// not yet marked.
func (w *Window) acceptable(seq uint64) bool {
	switch {
	case seq == 0:
		return false
	case seq > w.top:
		return w.esn || seq <= math.MaxUint32
	case w.top-seq >= w.windowSize():
		return false
	}
	return w.blocks[(seq>>blockLog)&w.mask]&(1<<(seq&(blockBits-1))) == 0
}

// Accept records seq, a sequence number returned by Check whose packet
// passed its integrity check, moving the window forward if seq > T. It
// returns false, and changes nothing, if seq is no longer acceptable:
// another packet with the same number was accepted since Check, or the
// window moved past it.
func (w *Window) Accept(seq uint64) bool {
	if w.blocks == nil {
		// The zero Window; cannot fail for DefaultSize.
		_ = w.Init(DefaultSize, w.esn)
	}
	if !w.acceptable(seq) {
		return false
	}
	index := seq >> blockLog
	if seq > w.top {
		top := w.top >> blockLog
		n := min(index-top, w.mask+1)
		for i := uint64(1); i <= n; i++ {
			w.blocks[(top+i)&w.mask] = 0
		}
		w.top = seq
	}
	w.blocks[index&w.mask] |= 1 << (seq & (blockBits - 1))
	return true
}

func (w *Window) windowSize() uint64 {
	if w.size == 0 {
		return DefaultSize
	}
	return w.size
}
