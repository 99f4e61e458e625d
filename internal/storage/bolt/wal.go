package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sadb-dev/sadb/engine"
)

// The write-ahead log is a file beside the store, named after it with
// logSuffix, of a fixed size written with zeros when it is made. Its layout
// is described in doc.go.
const (
	logSuffix = "-wal"
	// logBlock is the log's unit of space: the header is one block, and
	// every frame starts on a block boundary and fills whole blocks.
	logBlock = 4096
	// logDataStart is the offset of the first frame slot.
	logDataStart = logBlock
	// logMagic opens the header block.
	logMagic = "sadb SA log\x00\x00\x00\x00\x00"
	// logVersion is the version of the log's layout this code writes and
	// reads.
	logVersion uint32 = 1
	// logHeaderSum is the offset of the header's CRC-32C, which covers the
	// bytes before it.
	logHeaderSum = 48

	// frameMagic opens every frame ("SAWL" in little-endian order).
	frameMagic uint32 = 0x4c574153
	// frameCommits is the only frame kind: a group of Commit calls.
	frameCommits uint16 = 1
	// frameHeaderSize is the size of a frame header: magic u32, kind u16,
	// flags u16, payload length u32, commit count u32, sequence number
	// u64, CRC-32C u32, reserved u32, all little-endian.
	frameHeaderSize = 32
	// frameSumOffset is the offset of the CRC in the frame header; the CRC
	// covers the store's identity, the rest of the header and the payload.
	frameSumOffset = 24

	// deletedLen is the value length of a delete in a frame's payload.
	deletedLen = ^uint32(0)
	// mutationHeaderSize is the size of a mutation's header in a frame's
	// payload: kind u8, key u64, value length u32.
	mutationHeaderSize = 13
	// commitHeaderSize is the size of a commit's header in a frame's
	// payload: the number of its mutations, u32.
	commitHeaderSize = 4
)

// Log sizes: Options.LogSize is rounded up to whole blocks and kept within
// these bounds.
const (
	DefaultLogSize = 64 << 20
	MinLogSize     = 64 * logBlock
	MaxLogSize     = 1 << 30
)

// logPath returns the path of the log of the store at path.
func logPath(path string) string { return path + logSuffix }

// logHeader is the content of a log's header block.
type logHeader struct {
	size int64   // the size of the file
	id   storeID // the store the log belongs to
}

func (h logHeader) encode() []byte {
	b := make([]byte, logBlock)
	copy(b, logMagic)
	binary.LittleEndian.PutUint32(b[16:], logVersion)
	binary.LittleEndian.PutUint32(b[20:], logBlock)
	binary.LittleEndian.PutUint64(b[24:], uint64(h.size))
	copy(b[32:48], h.id[:])
	binary.LittleEndian.PutUint32(b[logHeaderSum:], crc32.Checksum(b[:logHeaderSum], castagnoli))
	return b
}

// decodeLogHeader checks the header block b of the log at path.
func decodeLogHeader(b []byte, path string) (logHeader, error) {
	if len(b) < logBlock || !bytes.Equal(b[:16], []byte(logMagic)) {
		return logHeader{}, fmt.Errorf("%w: %s is not a sadb log (no log header)", ErrNotStore, path)
	}
	if crc32.Checksum(b[:logHeaderSum], castagnoli) != binary.LittleEndian.Uint32(b[logHeaderSum:]) {
		return logHeader{}, fmt.Errorf("%w: %s: the log header fails its checksum", ErrCorrupt, path)
	}
	if v := binary.LittleEndian.Uint32(b[16:]); v != logVersion {
		if v > logVersion {
			return logHeader{}, fmt.Errorf("%w: %s: log version %d, this sadbd reads %d", ErrNewerFormat, path, v, logVersion)
		}
		return logHeader{}, fmt.Errorf("%w: %s: log version %d", ErrCorrupt, path, v)
	}
	var h logHeader
	h.size = int64(binary.LittleEndian.Uint64(b[24:]))
	copy(h.id[:], b[32:48])
	if bs := binary.LittleEndian.Uint32(b[20:]); bs != logBlock || h.size < MinLogSize || h.size > MaxLogSize || h.size%logBlock != 0 {
		return logHeader{}, fmt.Errorf("%w: %s: the log header gives block size %d and size %d", ErrCorrupt, path, bs, h.size)
	}
	return h, nil
}

// logSizeFor returns the log size Options.LogSize asks for.
func logSizeFor(o Options) int64 {
	n := o.LogSize
	if n <= 0 {
		n = DefaultLogSize
	}
	n = (n + logBlock - 1) / logBlock * logBlock
	return min(max(n, MinLogSize), MaxLogSize)
}

// createLog makes a log of size bytes for the store id at path: under a
// temporary name in the same directory, the header and zeros up to size
// written and synced, then renamed into place (replacing the log there, if
// any, which the caller has checked and fully applied) and the directory
// synced. Written zeros rather than a sparse file: overwriting allocated
// blocks is what makes the log's fdatasync cheap.
func createLog(path string, size int64, id storeID) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*") // mode 0600
	if err != nil {
		return fmt.Errorf("bolt: creating the log %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("bolt: creating the log %s: %w", path, err)
	}
	if _, err := tmp.WriteAt(logHeader{size: size, id: id}.encode(), 0); err != nil {
		return fail(err)
	}
	for off := int64(logDataStart); off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := tmp.WriteAt(zeros[:n], off); err != nil {
			return fail(err)
		}
		off += n
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("bolt: creating the log %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("bolt: creating the log %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("bolt: creating the log %s: syncing the directory: %w", path, err)
	}
	return nil
}

// openLog opens the existing log at path for writing and checks its header
// against the store's identity. It never creates, truncates or writes the
// file. It returns fs.ErrNotExist (wrapped) if there is no log.
func openLog(path string, id storeID) (*os.File, logHeader, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, logHeader{}, fmt.Errorf("%w: %s is not a regular file", ErrNotStore, path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0) // never O_CREATE or O_TRUNC
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, logHeader{}, err
		}
		return nil, logHeader{}, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	h, err := checkLogFile(f, path, id)
	if err != nil {
		f.Close()
		return nil, logHeader{}, err
	}
	return f, h, nil
}

// checkLogFile checks that f is a log of the store id.
func checkLogFile(f *os.File, path string, id storeID) (logHeader, error) {
	fi, err := f.Stat()
	switch {
	case err != nil:
		return logHeader{}, fmt.Errorf("bolt: open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return logHeader{}, fmt.Errorf("%w: %s is not a regular file", ErrNotStore, path)
	case fi.Size() < logBlock:
		return logHeader{}, fmt.Errorf("%w: %s is not a sadb log (%d bytes)", ErrNotStore, path, fi.Size())
	}
	b := make([]byte, logBlock)
	if _, err := f.ReadAt(b, 0); err != nil {
		return logHeader{}, fmt.Errorf("bolt: reading %s: %w", path, err)
	}
	h, err := decodeLogHeader(b, path)
	if err != nil {
		return logHeader{}, err
	}
	if h.id != id {
		return logHeader{}, fmt.Errorf("%w: %s belongs to another store (identity %x, the store's is %x)", ErrCorrupt, path, h.id, id)
	}
	if fi.Size() < h.size {
		return logHeader{}, fmt.Errorf("%w: %s is truncated: %d bytes, its header says %d", ErrCorrupt, path, fi.Size(), h.size)
	}
	return h, nil
}

// frameSum is the CRC-32C of a frame: the store's identity (so a frame
// cannot be forged by anyone who does not know it, nor replayed into
// another store), the header but for the sum itself, and the payload.
func frameSum(id *storeID, hdr, payload []byte) uint32 {
	sum := crc32.Update(0, castagnoli, id[:])
	sum = crc32.Update(sum, castagnoli, hdr[:frameSumOffset])
	sum = crc32.Update(sum, castagnoli, hdr[frameSumOffset+4:frameHeaderSize])
	return crc32.Update(sum, castagnoli, payload)
}

// frameSize returns the bytes a frame with a payload of n bytes occupies.
func frameSize(n int) int64 {
	return (int64(frameHeaderSize+n) + logBlock - 1) / logBlock * logBlock
}

// sealFrame fills the header of frame, whose payload follows the header,
// and zeroes its padding. frame must be frameSize(payload) bytes long.
func sealFrame(frame []byte, payload, commits int, seq uint64, id *storeID) {
	h := frame[:frameHeaderSize]
	binary.LittleEndian.PutUint32(h[0:], frameMagic)
	binary.LittleEndian.PutUint16(h[4:], frameCommits)
	binary.LittleEndian.PutUint16(h[6:], 0)
	binary.LittleEndian.PutUint32(h[8:], uint32(payload))
	binary.LittleEndian.PutUint32(h[12:], uint32(commits))
	binary.LittleEndian.PutUint64(h[16:], seq)
	binary.LittleEndian.PutUint32(h[28:], 0)
	body := frame[frameHeaderSize : frameHeaderSize+payload]
	binary.LittleEndian.PutUint32(h[frameSumOffset:], frameSum(id, h, body))
	clear(frame[frameHeaderSize+payload:])
}

// encodeCommit returns the log form of one Commit call: its mutation count,
// then each mutation's kind, key, value length (deletedLen for a delete) and
// value, little-endian. The values of the memtable alias the result.
func encodeCommit(muts []engine.Mutation) []byte {
	n := commitHeaderSize
	for i := range muts {
		n += mutationHeaderSize + len(muts[i].Value)
	}
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b, uint32(len(muts)))
	off := commitHeaderSize
	for i := range muts {
		m := &muts[i]
		b[off] = byte(m.Kind)
		binary.LittleEndian.PutUint64(b[off+1:], m.Key)
		if m.Value == nil {
			binary.LittleEndian.PutUint32(b[off+9:], deletedLen)
			off += mutationHeaderSize
			continue
		}
		binary.LittleEndian.PutUint32(b[off+9:], uint32(len(m.Value)))
		off += mutationHeaderSize
		off += copy(b[off:], m.Value)
	}
	return b
}

// decodeCommits calls fn for every mutation of the commits in payload, in
// order; value aliases payload and is nil for a delete. It fails if the
// payload is not count well-formed commits of known record kinds.
func decodeCommits(payload []byte, count int, fn func(kind engine.RecordKind, key uint64, value []byte)) error {
	for c := 0; c < count; c++ {
		if len(payload) < commitHeaderSize {
			return fmt.Errorf("commit %d of %d is cut short", c, count)
		}
		nm := binary.LittleEndian.Uint32(payload)
		payload = payload[commitHeaderSize:]
		for i := uint32(0); i < nm; i++ {
			if len(payload) < mutationHeaderSize {
				return fmt.Errorf("commit %d: mutation %d is cut short", c, i)
			}
			kind := engine.RecordKind(payload[0])
			key := binary.LittleEndian.Uint64(payload[1:])
			vl := binary.LittleEndian.Uint32(payload[9:])
			payload = payload[mutationHeaderSize:]
			if kindIndex(kind) < 0 {
				return fmt.Errorf("commit %d: mutation %d has unknown record kind %d", c, i, kind)
			}
			if vl == deletedLen {
				fn(kind, key, nil)
				continue
			}
			if uint64(vl) > uint64(len(payload)) || vl > maxValueSize {
				return fmt.Errorf("commit %d: mutation %d has a %d-byte value, more than the frame holds", c, i, vl)
			}
			fn(kind, key, payload[:vl:vl])
			payload = payload[vl:]
		}
	}
	if len(payload) != 0 {
		return fmt.Errorf("%d bytes follow the last commit", len(payload))
	}
	return nil
}

// frame is a frame found in the log.
type frame struct {
	pos     int64  // its offset
	seq     uint64 // its sequence number
	commits int    // the Commit calls it holds
	payload []byte // aliases the log image
}

// end returns the offset just past the frame's padding.
func (f frame) end() int64 { return f.pos + frameSize(len(f.payload)) }

// frameStatus says what parseFrame found at an offset.
type frameStatus int

const (
	frameValid   frameStatus = iota // a whole frame of this store
	frameEmpty                      // zeros: never written
	frameDamaged                    // something else: a torn or damaged frame
)

// parseFrame reads the frame at pos of the log image img.
func parseFrame(img []byte, pos int64, id *storeID) (frame, frameStatus) {
	if pos < logDataStart || pos+frameHeaderSize > int64(len(img)) || pos%logBlock != 0 {
		return frame{}, frameDamaged
	}
	h := img[pos : pos+frameHeaderSize]
	if binary.LittleEndian.Uint32(h) != frameMagic {
		if bytes.Equal(h, make([]byte, frameHeaderSize)) {
			return frame{}, frameEmpty
		}
		return frame{}, frameDamaged
	}
	n := int64(binary.LittleEndian.Uint32(h[8:]))
	if binary.LittleEndian.Uint16(h[4:]) != frameCommits || pos+frameHeaderSize+n > int64(len(img)) {
		return frame{}, frameDamaged
	}
	payload := img[pos+frameHeaderSize : pos+frameHeaderSize+n]
	if frameSum(id, h, payload) != binary.LittleEndian.Uint32(h[frameSumOffset:]) {
		return frame{}, frameDamaged
	}
	return frame{
		pos:     pos,
		seq:     binary.LittleEndian.Uint64(h[16:]),
		commits: int(binary.LittleEndian.Uint32(h[12:])),
		payload: payload,
	}, frameValid
}

// recovery is what Open found in the log.
type recovery struct {
	frames  []frame // the frames to replay, in order
	commits int     // the Commit calls they hold
	next    uint64  // the sequence number of the next frame
	// torn is set if the log ends in the header of the next frame with
	// the rest of it damaged, and nothing intact follows: a write that a
	// crash cut short, never acknowledged.
	torn bool
}

// scanLog finds the frames of the log image img to replay, starting with
// frame st.seq at st.pos, and checks that nothing acknowledged is lost.
//
// Frames follow each other in sequence order; the frame after the one that
// ends at offset e is at e, or at logDataStart when the writer wrapped
// around. The scan stops at the first offset that holds neither. What is
// there says why: zeros or an older frame (a clean end), or a frame that
// fails its checks (a torn write, or damage). Every block of the log is
// then searched for an intact frame numbered at or after the stop: the
// writer writes a frame only after the one before it is synced, so such a
// frame means a damaged frame lies inside the acknowledged part of the
// log, and scanLog fails with ErrCorrupt rather than drop the commits that
// follow the damage. A damaged frame with nothing intact after it is the
// torn tail of an interrupted write and is ignored.
func scanLog(img []byte, st logState, id *storeID, path string) (*recovery, error) {
	size := int64(len(img))
	if st.pos == size {
		st.pos = logDataStart // the frame before ended at the end of the log
	}
	if st.pos < logDataStart || st.pos >= size || st.pos%logBlock != 0 {
		return nil, fmt.Errorf("%w: %s: the store expects log frame %d at offset %d, outside the log's %d bytes", ErrCorrupt, path, st.seq, st.pos, size)
	}
	rec := &recovery{next: st.seq}
	pos, used := st.pos, int64(0)
	var stop frameStatus
	var stopFrame frame
	for {
		f, status := parseFrame(img, pos, id)
		if status != frameValid || f.seq != rec.next {
			if pos != logDataStart {
				if g, gs := parseFrame(img, logDataStart, id); gs == frameValid && g.seq == rec.next {
					used += size - pos
					f, status, pos = g, gs, logDataStart
				}
			}
		}
		if status != frameValid || f.seq != rec.next {
			stop, stopFrame = status, f
			break
		}
		used += f.end() - f.pos
		if used > size-logDataStart {
			return nil, fmt.Errorf("%w: %s: the log's frames from %d on overlap", ErrCorrupt, path, st.seq)
		}
		if err := decodeCommits(f.payload, f.commits, func(engine.RecordKind, uint64, []byte) {}); err != nil {
			return nil, fmt.Errorf("%w: %s: log frame %d at offset %d: %v", ErrCorrupt, path, f.seq, f.pos, err)
		}
		rec.frames = append(rec.frames, f)
		rec.commits += f.commits
		rec.next++
		pos = f.end()
		if pos >= size {
			pos = logDataStart
		}
	}
	if stop == frameValid && stopFrame.seq > rec.next {
		return nil, fmt.Errorf("%w: %s: log frame %d is where frame %d should be: commits between them are missing", ErrCorrupt, path, stopFrame.seq, rec.next)
	}
	// Anything intact numbered from rec.next on was written after the
	// frame the scan stopped at.
	for off := int64(logDataStart); off+frameHeaderSize <= size; off += logBlock {
		if binary.LittleEndian.Uint32(img[off:]) != frameMagic || binary.LittleEndian.Uint64(img[off+16:]) < rec.next {
			continue
		}
		f, status := parseFrame(img, off, id)
		if status != frameValid || f.seq < rec.next {
			continue
		}
		what := "is damaged"
		if stop == frameEmpty {
			what = "is missing (zeros)"
		}
		return nil, fmt.Errorf("%w: %s: log frame %d at offset %d %s, but frame %d at offset %d is intact: commits acknowledged after the damage would be lost, so the store refuses to open",
			ErrCorrupt, path, rec.next, pos, what, f.seq, f.pos)
	}
	// A torn write leaves the frame's header (the first thing written) and
	// not all of the rest; anything else where the scan stopped is what an
	// earlier pass of the writer left, such as the middle of a longer frame.
	rec.torn = stop == frameDamaged && (tornAt(img, pos, rec.next) || tornAt(img, logDataStart, rec.next))
	return rec, nil
}

// tornAt reports whether the log image img holds, at pos, the header of a
// frame numbered seq.
func tornAt(img []byte, pos int64, seq uint64) bool {
	return pos+frameHeaderSize <= int64(len(img)) &&
		binary.LittleEndian.Uint32(img[pos:]) == frameMagic && binary.LittleEndian.Uint64(img[pos+16:]) == seq
}
