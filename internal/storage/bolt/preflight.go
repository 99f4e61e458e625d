package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
)

// The bbolt page format (format version 2, bbolt's internal/common package),
// as far as preflight needs it. bbolt lays its structs out in native byte
// order.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elemSize       = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	inBucketSize   = 16 // root pgid u64, sequence u64
	metaSize       = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	metaSumOffset  = 56 // the checksum covers the meta up to here

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01

	noFreelist  = ^uint64(0) // the freelist pgid of a file written with NoFreelistSync
	maxDepth    = 64         // deeper than any real B+tree of a file that fits in memory
	minPageSize = 1024
	maxPageSize = 1 << 24
)

var ne = binary.NativeEndian

// boltMeta is a decoded bbolt meta page.
type boltMeta struct {
	magic, version, pageSize  uint32
	root, freelist, hwm, txid uint64
	sumOK                     bool
}

func parseMeta(page []byte) boltMeta {
	if len(page) < pageHeaderSize+metaSize {
		return boltMeta{}
	}
	m := page[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(m[:metaSumOffset])
	return boltMeta{
		magic:    ne.Uint32(m[0:]),
		version:  ne.Uint32(m[4:]),
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
		sumOK:    ne.Uint64(m[metaSumOffset:]) == h.Sum64(),
	}
}

func (m boltMeta) valid() bool {
	return m.magic == boltMagic && m.version == boltVersion && m.sumOK
}

// preflight proves that the page structure of the bbolt file whose bytes
// are data is sound enough for bbolt to open and walk it. bbolt trusts its
// file: it follows page ids and element offsets through its memory map
// without bounds checks, so a damaged page can fault (SIGBUS, SIGSEGV) or
// recurse forever, which kills the process instead of failing Open.
// preflight checks, with bounds-checked slicing, what bbolt would otherwise
// trust: the meta page bbolt will choose, that the file is as long as that
// meta says, that every page reachable from the root bucket and the
// freelist lies inside the file, is referenced once and has the expected
// type, that every element lies inside its page, and that the freelist
// names each page once and no page in use. Key order and unreachable pages
// are left to bbolt's own Tx.Check, which is safe to run once preflight has
// passed.
func preflight(data []byte, path string) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	size := uint64(len(data))
	at := func(off uint64) []byte { // the bytes from off, or none
		if off >= size {
			return nil
		}
		return data[off:]
	}

	// Find the page size as bbolt does: from the first meta page, else from
	// a valid second meta page at one of the possible offsets.
	m0 := parseMeta(data)
	pageSize := uint64(0)
	if m0.valid() {
		pageSize = uint64(m0.pageSize)
	} else {
		for i := 0; i <= 14; i++ {
			pos := uint64(1024) << i
			if pos+1024 >= size {
				break
			}
			if m := parseMeta(at(pos)); m.valid() {
				pageSize = uint64(m.pageSize)
				break
			}
		}
	}
	if pageSize == 0 {
		switch {
		case m0.magic != boltMagic && parseMeta(at(4096)).magic != boltMagic:
			return fmt.Errorf("%w: %s: not a bbolt database", ErrNotStore, path)
		case m0.magic == boltMagic && m0.version != boltVersion:
			return fmt.Errorf("%w: %s: bbolt file format %d, want %d", ErrNotStore, path, m0.version, boltVersion)
		}
		return corrupt("both bbolt meta pages are damaged")
	}
	if pageSize < minPageSize || pageSize > maxPageSize || bits.OnesCount64(pageSize) != 1 {
		return corrupt("bbolt page size %d", pageSize)
	}
	if size < 2*pageSize {
		return corrupt("truncated: %d bytes, shorter than two %d-byte meta pages", size, pageSize)
	}

	// Choose the meta page as bbolt does: the one with the higher
	// transaction id if it is valid, else the other.
	m1 := parseMeta(at(pageSize))
	a, b := m0, m1
	if m1.txid > m0.txid {
		a, b = m1, m0
	}
	meta := a
	if !a.valid() {
		meta = b
	}
	if !meta.valid() {
		return corrupt("both bbolt meta pages are damaged")
	}
	if uint64(meta.pageSize) != pageSize {
		return corrupt("the meta pages disagree on the page size (%d, %d)", pageSize, meta.pageSize)
	}
	if meta.freelist == noFreelist {
		return fmt.Errorf("%w: %s: a bbolt database written without a freelist", ErrNotStore, path)
	}
	if meta.hwm < 4 || meta.hwm > size/pageSize {
		return corrupt("truncated: %d bytes, but the meta page counts %d pages of %d bytes", size, meta.hwm, pageSize)
	}
	if meta.root < 2 || meta.root >= meta.hwm || meta.freelist < 2 || meta.freelist >= meta.hwm {
		return corrupt("meta page points outside the file (root %d, freelist %d, %d pages)", meta.root, meta.freelist, meta.hwm)
	}

	c := &pageChecker{data: data, pageSize: pageSize, hwm: meta.hwm, used: make([]uint64, (meta.hwm+63)/64)}
	if err := c.checkPage(meta.root, 0); err != nil {
		return corrupt("%v", err)
	}
	if err := c.checkFreelist(meta.freelist); err != nil {
		return corrupt("%v", err)
	}
	return nil
}

// pageChecker walks the pages of a bbolt file held in memory. It is used
// by one goroutine.
type pageChecker struct {
	data     []byte // the file, at least hwm pages long
	pageSize uint64
	hwm      uint64   // pages below hwm are in the file
	used     []uint64 // bitset of the pages reached so far
}

func (c *pageChecker) isUsed(id uint64) bool { return c.used[id/64]&(1<<(id%64)) != 0 }
func (c *pageChecker) setUsed(id uint64)     { c.used[id/64] |= 1 << (id % 64) }

// readPage returns page id with its overflow pages and marks them used.
func (c *pageChecker) readPage(id uint64) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page id %d outside [2, %d)", id, c.hwm)
	}
	p := c.data[id*c.pageSize : (id+1)*c.pageSize]
	if got := ne.Uint64(p[0:]); got != id {
		return nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	overflow := uint64(ne.Uint32(p[12:]))
	if overflow >= c.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the end of the file", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if c.isUsed(i) {
			return nil, fmt.Errorf("page %d: referenced twice", i)
		}
		c.setUsed(i)
	}
	return c.data[id*c.pageSize : (id+overflow+1)*c.pageSize], nil
}

// checkPage checks the branch or leaf page id and everything below it.
func (c *pageChecker) checkPage(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxDepth)
	}
	p, err := c.readPage(id)
	if err != nil {
		return err
	}
	switch flags := ne.Uint16(p[8:]); flags {
	case branchPageFlag:
		n := uint64(ne.Uint16(p[10:]))
		if n == 0 || pageHeaderSize+n*elemSize > uint64(len(p)) {
			return fmt.Errorf("branch page %d: %d elements do not fit", id, n)
		}
		for i := range n {
			e := pageHeaderSize + i*elemSize
			pos, ksize := uint64(ne.Uint32(p[e:])), uint64(ne.Uint32(p[e+4:]))
			if e+pos+ksize > uint64(len(p)) {
				return fmt.Errorf("branch page %d: element %d lies outside the page", id, i)
			}
			if err := c.checkPage(ne.Uint64(p[e+8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	case leafPageFlag:
		return c.checkLeaf(p, id, depth)
	default:
		return fmt.Errorf("page %d: type %#x where a branch or leaf page belongs", id, flags)
	}
}

// checkLeaf checks the leaf page p (page id, or an inline bucket's page when
// id is 0) and the buckets it holds.
func (c *pageChecker) checkLeaf(p []byte, id uint64, depth int) error {
	n := uint64(ne.Uint16(p[10:]))
	if pageHeaderSize+n*elemSize > uint64(len(p)) {
		return fmt.Errorf("leaf page %d: %d elements do not fit", id, n)
	}
	for i := range n {
		e := pageHeaderSize + i*elemSize
		flags := ne.Uint32(p[e:])
		pos, ksize, vsize := uint64(ne.Uint32(p[e+4:])), uint64(ne.Uint32(p[e+8:])), uint64(ne.Uint32(p[e+12:]))
		end := e + pos + ksize + vsize
		if end > uint64(len(p)) {
			return fmt.Errorf("leaf page %d: element %d lies outside the page", id, i)
		}
		if flags&bucketLeafFlag == 0 {
			continue
		}
		v := p[end-vsize : end]
		if len(v) < inBucketSize {
			return fmt.Errorf("leaf page %d: bucket element %d is %d bytes", id, i, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if err := c.checkPage(root, depth+1); err != nil {
				return err
			}
			continue
		}
		// An inline bucket: a leaf page inside the value.
		inline := v[inBucketSize:]
		if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != leafPageFlag {
			return fmt.Errorf("leaf page %d: inline bucket %d is not a leaf page", id, i)
		}
		if depth+1 > maxDepth {
			return errors.New("buckets nested too deep")
		}
		if err := c.checkLeaf(inline, id, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkFreelist checks the freelist page id, after the tree walk: every page
// it names must be in the file, named once and not in use.
func (c *pageChecker) checkFreelist(id uint64) error {
	p, err := c.readPage(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := ne.Uint16(p[8:]); flags != freelistPageFlag {
		return fmt.Errorf("freelist page %d: type %#x", id, flags)
	}
	start, n := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if n == 0xFFFF { // the count overflowed into the first element
		if len(p) < pageHeaderSize+8 {
			return fmt.Errorf("freelist page %d: no room for its count", id)
		}
		n, start = ne.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(p))-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids do not fit", id, n)
	}
	for i := range n {
		free := ne.Uint64(p[start+8*i:])
		if free < 2 || free >= c.hwm {
			return fmt.Errorf("freelist page %d: free page %d outside [2, %d)", id, free, c.hwm)
		}
		if c.isUsed(free) {
			return fmt.Errorf("freelist page %d: page %d is free and in use, or free twice", id, free)
		}
		c.setUsed(free)
	}
	return nil
}
