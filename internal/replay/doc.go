// Package replay implements the IPsec anti-replay window of RFC 4303
// §3.4.3 and Appendix A, with extended (64-bit) sequence numbers, as a
// ring of 64-bit blocks in the style of RFC 6479 so that the window size
// is configurable without shifting a bitmap.
//
// # What it owns
//
// The package owns the receive-side sequence-number state of one inbound
// SA: the highest authenticated sequence number T, the bitmap of which
// numbers in [T-W+1, T] have been seen, and the inference of the
// high-order 32 bits (Seqh) of an extended sequence number from the
// low-order 32 bits carried in the packet (RFC 4303 Appendix A2.2).
// It knows nothing about packets, keys or ICVs.
//
// # Two steps
//
// RFC 4303 §3.4.3 requires the replay check before the integrity check
// (to drop replays cheaply) and the window update only after it (so a
// forged packet cannot move the window). A [Window] therefore offers
// [Window.Check], which infers the full sequence number and rejects
// too-old or duplicate numbers without changing anything, and
// [Window.Accept], which records a number whose ICV has been verified.
// Accept re-checks, because another packet with the same number may have
// been accepted between the two steps.
//
// # Not implemented
//
// The resynchronization of RFC 4303 Appendix A3 (recovering Seqh after
// 2^32 or more consecutive lost packets) is not implemented: it needs
// trial ICV computations, which belong to the caller.
package replay
