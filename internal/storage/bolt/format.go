package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"go.etcd.io/bbolt"

	"github.com/sadb-dev/sadb/engine"
)

// Format constants. The layout is described in doc.go; change formatVersion
// with any change a previous sadbd could misread.
const (
	// formatMagic is the value of the magic key in the format bucket.
	formatMagic = "sadb SA store"
	// formatVersion is the version this code writes and the newest it reads.
	// Version 2 added the write-ahead log: a version 2 file may depend on
	// its log for acknowledged commits, so a sadbd that knows only version
	// 1 must refuse it. Version 1 files are upgraded when opened.
	formatVersion uint32 = 2
	// logFormatVersion is the first version with a write-ahead log.
	logFormatVersion uint32 = 2

	// keySize is the size of a record key: a uint64, big-endian so that
	// bbolt's byte order is numeric order.
	keySize = 8
	// sumSize is the size of the CRC-32C that precedes every stored value.
	sumSize = 4
	// maxValueSize is the largest value a mutation may carry.
	maxValueSize = bbolt.MaxValueSize - sumSize
)

// Names in the file.
var (
	formatBucket = []byte("format")
	magicKey     = []byte("magic")
	versionKey   = []byte("version")
	// idKey holds the store's identity (storeIDSize random bytes), which
	// its log carries too: a log is never replayed into another store.
	idKey = []byte("id")
	// logKey holds the logState: where replay of the log starts.
	logKey = []byte("log")
)

// storeIDSize is the size of a store's identity.
const storeIDSize = 16

// storeID identifies a store file and the log that belongs to it.
type storeID [storeIDSize]byte

// logState is what the store file records about its log, in the format
// bucket, updated by every checkpoint in the same bbolt transaction as the
// records the checkpoint applies: the log frames before seq are in the
// file, and replay starts with frame seq at offset pos.
type logState struct {
	seq  uint64 // the sequence number of the first frame not yet applied
	pos  int64  // the log offset where that frame is expected
	open bool   // a Store had the file open and did not close it cleanly
}

// logStateSize is the size of an encoded logState: seq and pos, big-endian
// uint64s, a flags byte (bit 0: open), then a CRC-32C of those 17 bytes:
// bbolt does not checksum its data pages, and a damaged state could make
// Open replay stale frames.
const logStateSize = 21

func (st logState) encode() []byte {
	b := make([]byte, logStateSize)
	binary.BigEndian.PutUint64(b, st.seq)
	binary.BigEndian.PutUint64(b[8:], uint64(st.pos))
	if st.open {
		b[16] = 1
	}
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[:17], castagnoli))
	return b
}

func decodeLogState(b []byte) (logState, bool) {
	if len(b) != logStateSize || b[16] > 1 || crc32.Checksum(b[:17], castagnoli) != binary.BigEndian.Uint32(b[17:]) {
		return logState{}, false
	}
	st := logState{seq: binary.BigEndian.Uint64(b), pos: int64(binary.BigEndian.Uint64(b[8:])), open: b[16] == 1}
	return st, st.seq > 0 && st.pos >= 0
}

// header is what the format bucket of an opened file says.
type header struct {
	version uint32
	id      storeID  // zero in a version 1 file
	log     logState // zero in a version 1 file
}

// kindBuckets lists every record kind with its bucket, in Load order.
var kindBuckets = [...]struct {
	kind engine.RecordKind
	name []byte
}{
	{engine.RecordMeta, []byte("meta")},
	{engine.RecordSAContext, []byte("sa-context")},
	{engine.RecordFilter, []byte("filter")},
}

// kindIndex returns the index of k in kindBuckets, or -1 for an unknown kind.
func kindIndex(k engine.RecordKind) int {
	for i := range kindBuckets {
		if kindBuckets[i].kind == k {
			return i
		}
	}
	return -1
}

// putKey writes the stored form of a record key to dst.
func putKey(dst []byte, key uint64) { binary.BigEndian.PutUint64(dst, key) }

// castagnoli is the CRC-32C table (hardware-accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSum is the checksum stored with a record. It covers the kind and key
// as well as the value, so a value that moved to another record is caught.
func recordSum(kind engine.RecordKind, key, value []byte) uint32 {
	var k [1]byte
	k[0] = byte(kind)
	sum := crc32.Update(0, castagnoli, k[:])
	sum = crc32.Update(sum, castagnoli, key)
	return crc32.Update(sum, castagnoli, value)
}

// sealRecord writes the stored form of value (its checksum, then value) to
// dst, which must be sumSize+len(value) bytes long.
func sealRecord(dst []byte, kind engine.RecordKind, key, value []byte) {
	binary.BigEndian.PutUint32(dst, recordSum(kind, key, value))
	copy(dst[sumSize:], value)
}

// openRecord checks a stored record and returns its value, which aliases
// stored.
func openRecord(kind engine.RecordKind, key, stored []byte) ([]byte, bool) {
	if len(stored) < sumSize {
		return nil, false
	}
	value := stored[sumSize:]
	return value, binary.BigEndian.Uint32(stored) == recordSum(kind, key, value)
}

// writeHeader creates the format bucket and the record buckets of a new
// file, with the identity id and a log that is yet to be made.
func writeHeader(tx *bbolt.Tx, id storeID) error {
	b, err := tx.CreateBucket(formatBucket)
	if err != nil {
		return err
	}
	if err := b.Put(magicKey, []byte(formatMagic)); err != nil {
		return err
	}
	if err := putLogHeader(tx, id, logState{seq: 1, pos: logDataStart}); err != nil {
		return err
	}
	for _, kb := range kindBuckets {
		if _, err := tx.CreateBucket(kb.name); err != nil {
			return err
		}
	}
	return nil
}

// putLogHeader writes the current format version, the store's identity
// and the log state to the format bucket of tx.
func putLogHeader(tx *bbolt.Tx, id storeID, st logState) error {
	b := tx.Bucket(formatBucket)
	if b == nil {
		return fmt.Errorf("bucket %q is missing", formatBucket)
	}
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], formatVersion)
	if err := b.Put(versionKey, v[:]); err != nil {
		return err
	}
	if err := b.Put(idKey, bytes.Clone(id[:])); err != nil {
		return err
	}
	return b.Put(logKey, st.encode())
}

// readHeader returns what the format bucket of a checked file says.
func readHeader(tx *bbolt.Tx) header {
	b := tx.Bucket(formatBucket)
	h := header{version: binary.BigEndian.Uint32(b.Get(versionKey))}
	if h.version >= logFormatVersion {
		copy(h.id[:], b.Get(idKey))
		h.log, _ = decodeLogState(b.Get(logKey))
	}
	return h
}

// checkHeader checks the format bucket of an existing file.
func checkHeader(tx *bbolt.Tx, path string) error {
	b := tx.Bucket(formatBucket)
	if b == nil {
		return fmt.Errorf("%w: %s: a bbolt database without sadb's format header", ErrNotStore, path)
	}
	if err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("%w: %s: the format bucket holds a nested bucket %q", ErrCorrupt, path, k)
		}
		return nil
	}); err != nil {
		return err
	}
	if m := b.Get(magicKey); !bytes.Equal(m, []byte(formatMagic)) {
		return fmt.Errorf("%w: %s: magic is %q, want %q", ErrNotStore, path, m, formatMagic)
	}
	v := b.Get(versionKey)
	if len(v) != 4 {
		return fmt.Errorf("%w: %s: malformed format version %x", ErrCorrupt, path, v)
	}
	switch ver := binary.BigEndian.Uint32(v); {
	case ver > formatVersion:
		return fmt.Errorf("%w: %s: format version %d, this sadbd reads up to %d", ErrNewerFormat, path, ver, formatVersion)
	case ver == 0:
		return fmt.Errorf("%w: %s: format version 0", ErrCorrupt, path)
	case ver < logFormatVersion:
		if b.Get(idKey) != nil || b.Get(logKey) != nil {
			return fmt.Errorf("%w: %s: format version %d with a log header", ErrCorrupt, path, ver)
		}
		return nil
	}
	if id := b.Get(idKey); len(id) != storeIDSize || bytes.Equal(id, make([]byte, storeIDSize)) {
		return fmt.Errorf("%w: %s: malformed store identity %x", ErrCorrupt, path, id)
	}
	if st, ok := decodeLogState(b.Get(logKey)); !ok || st.pos < logDataStart || st.pos%logBlock != 0 {
		return fmt.Errorf("%w: %s: malformed log state %x", ErrCorrupt, path, b.Get(logKey))
	}
	return nil
}

// walk calls fn for every record in tx, kinds in kindBuckets order and keys
// ascending, after checking that the file holds nothing else. value aliases
// the memory map and is valid only during the call. An error from fn is
// returned unchanged; a layout or checksum error wraps ErrCorrupt.
func walk(tx *bbolt.Tx, path string, fn func(kind engine.RecordKind, key uint64, value []byte) error) error {
	err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if bytes.Equal(name, formatBucket) {
			return nil
		}
		for _, kb := range kindBuckets {
			if bytes.Equal(name, kb.name) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s: unknown bucket %q", ErrCorrupt, path, name)
	})
	if err != nil {
		return err
	}
	for _, kb := range kindBuckets {
		b := tx.Bucket(kb.name)
		if b == nil {
			return fmt.Errorf("%w: %s: bucket %q is missing", ErrCorrupt, path, kb.name)
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				return fmt.Errorf("%w: %s: bucket %q holds a nested bucket %x", ErrCorrupt, path, kb.name, k)
			}
			if len(k) != keySize {
				return fmt.Errorf("%w: %s: bucket %q holds a %d-byte key %x", ErrCorrupt, path, kb.name, len(k), k)
			}
			key := binary.BigEndian.Uint64(k)
			value, ok := openRecord(kb.kind, k, v)
			if !ok {
				return fmt.Errorf("%w: %s: record %v %d fails its checksum", ErrCorrupt, path, kb.kind, key)
			}
			if err := fn(kb.kind, key, value); err != nil {
				return err
			}
		}
	}
	return nil
}
