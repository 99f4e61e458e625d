package replay

// Specification constants.
const (
	// MinSize is the smallest window RFC 4303 §3.4.3 allows ("a minimum
	// window size of 32 packets MUST be supported"). Smaller requested
	// sizes are rounded up like any other size, so every Window is at
	// least 64 packets wide.
	MinSize = 32

	// DefaultSize is the window size RFC 4303 §3.4.3 makes the default
	// ("a window size of 64 SHOULD be employed as the default").
	DefaultSize = 64
)

// Implementation constants.
const (
	// MaxSize is the largest window New and Init accept: 2^24 packets, a
	// 2 MiB bitmap. RFC 4303 Appendix A2.1 bounds W by 2^32-1; a window
	// this far below that bound keeps the Seqh inference of Appendix A2.2
	// meaningful.
	MaxSize = 1 << 24

	// blockBits is the number of sequence numbers one bitmap block holds
	// (RFC 6479 §2: a block is a machine word; we use uint64 everywhere).
	blockBits = 64
	blockLog  = 6 // log2(blockBits)
)
