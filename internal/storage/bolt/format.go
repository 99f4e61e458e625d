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
	formatVersion uint32 = 1

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
)

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
// file.
func writeHeader(tx *bbolt.Tx) error {
	b, err := tx.CreateBucket(formatBucket)
	if err != nil {
		return err
	}
	if err := b.Put(magicKey, []byte(formatMagic)); err != nil {
		return err
	}
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], formatVersion)
	if err := b.Put(versionKey, v[:]); err != nil {
		return err
	}
	for _, kb := range kindBuckets {
		if _, err := tx.CreateBucket(kb.name); err != nil {
			return err
		}
	}
	return nil
}

// checkHeader checks the format bucket of an existing file.
func checkHeader(tx *bbolt.Tx, path string) error {
	b := tx.Bucket(formatBucket)
	if b == nil {
		return fmt.Errorf("%w: %s: a bbolt database without sadb's format header", ErrNotStore, path)
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
