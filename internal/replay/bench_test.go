package replay

import (
	"fmt"
	"testing"
)

// BenchmarkInOrder is the common case: every packet one past the top.
func BenchmarkInOrder(b *testing.B) {
	for _, size := range []int{64, 1024, 4096} {
		for _, esn := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/esn=%v", size, esn), func(b *testing.B) {
				w := mustNew(b, size, esn)
				var low uint32
				b.ReportAllocs()
				for b.Loop() {
					low++
					if low == 0 {
						low = 1 // 32-bit windows end at 2^32-1; keep going for ESN
					}
					if seq, ok := w.Check(low); ok {
						w.Accept(seq)
					}
				}
			})
		}
	}
}

// BenchmarkReordered interleaves jumps ahead with late packets inside the
// window, and duplicates.
func BenchmarkReordered(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			w := mustNew(b, size, true)
			var base uint32 = 1
			b.ReportAllocs()
			for b.Loop() {
				for _, d := range [...]uint32{8, 3, 5, 1, 8, 2, 7, 4, 6} {
					if seq, ok := w.Check(base + d); ok {
						w.Accept(seq)
					}
				}
				base += 8
			}
		})
	}
}
