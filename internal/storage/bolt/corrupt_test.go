package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/storagetest"
)

var flips = flag.Int("flips", 300, "random bit flips TestRandomFlips tries")

// fixture makes a closed store file with records of every kind (some
// spanning several pages) and free pages. Its two meta pages describe the
// same records, so that bbolt falling back to the older one (when a flip
// damages the newer) still finds them all.
func fixture(t *testing.T) (path string, recs []storagetest.Record) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "sadb.db")
	s := openPath(t, path, Options{})
	for i := range uint64(300) {
		size := 100 + int(i*37%2400)
		if i%50 == 0 {
			size = 9000
		}
		mustCommit(t, s,
			engine.Mutation{Kind: engine.RecordSAContext, Key: i, Value: storagetest.Value(engine.RecordSAContext, i, 0, size)},
			engine.Mutation{Kind: engine.RecordFilter, Key: i, Value: storagetest.Value(engine.RecordFilter, i, 0, 80)},
			engine.Mutation{Kind: engine.RecordMeta, Key: i % 3, Value: storagetest.Value(engine.RecordMeta, i%3, i, 50)})
	}
	for i := uint64(0); i < 300; i += 7 {
		mustCommit(t, s, engine.Mutation{Kind: engine.RecordFilter, Key: i})
	}
	recs = storagetest.LoadAll(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(*bbolt.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, recs
}

// currentMeta returns the meta page bbolt would use for the file image b.
func currentMeta(t *testing.T, b []byte) boltMeta {
	t.Helper()
	m0, m1 := parseMeta(b), parseMeta(b[4096:])
	if !m0.valid() || !m1.valid() {
		t.Fatal("fixture meta pages are not valid")
	}
	if m1.txid > m0.txid {
		return m1
	}
	return m0
}

// pageTypes returns the type bbolt gives each page of the file at path
// ("meta", "leaf", "branch", "freelist", "free").
func pageTypes(t *testing.T, path string) []string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var types []string
	err = db.View(func(tx *bbolt.Tx) error {
		for id := 0; ; id++ {
			p, err := tx.Page(id)
			if err != nil {
				return err
			}
			if p == nil {
				return nil
			}
			types = append(types, p.Type)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return types
}

// openMustFail opens the file image b and checks that Open fails with want,
// names the file, and leaves its bytes alone.
func openMustFail(t *testing.T, path string, b []byte, want error, wantText string) {
	t.Helper()
	writeFile(t, path, b)
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatalf("Open succeeded, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Open = %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), wantText) {
		t.Errorf("error %q should name the file and say %q", err, wantText)
	}
	if !bytes.Equal(b, readFile(t, path)) {
		t.Fatal("a failed Open changed the file")
	}
}

func TestCorruptFile(t *testing.T) {
	path, _ := fixture(t)
	orig := readFile(t, path)
	meta := currentMeta(t, orig)
	types := pageTypes(t, path)
	page := func(typ string) int {
		for id, ty := range types {
			if ty == typ {
				return id
			}
		}
		t.Fatalf("the fixture has no %s page", typ)
		return 0
	}
	leaf, branch := page("leaf"), page("branch")
	clone := func(edit func(b []byte) []byte) []byte { return edit(bytes.Clone(orig)) }
	// A record value that occurs once in the file (not also in a free page).
	valueAt := -1
	for _, k := range []uint64{150, 151, 152, 153, 154} {
		v := storagetest.Value(engine.RecordSAContext, k, 0, 100+int(k*37%2400))
		if bytes.Count(orig, v) == 1 {
			valueAt = bytes.Index(orig, v)
			break
		}
	}
	if valueAt < 0 {
		t.Fatal("no record value occurs exactly once in the fixture")
	}

	tests := []struct {
		name  string
		image []byte
		want  error
		text  string
	}{
		{"Empty", nil, ErrNotStore, "is empty"},
		{"Text", bytes.Repeat([]byte("not a database\n"), 1000), ErrNotStore, "not a bbolt database"},
		{"Zeros", make([]byte, 1<<16), ErrNotStore, "not a bbolt database"},
		{"OnePage", orig[:4096], ErrCorrupt, "truncated"},
		{"ThreePages", orig[:3*4096], ErrCorrupt, "truncated"},
		{"Half", orig[:len(orig)/2], ErrCorrupt, "truncated"},
		{"LastPageShort", orig[:meta.hwm*4096-1], ErrCorrupt, "truncated"},
		{"BothMetaChecksums", clone(func(b []byte) []byte {
			b[pageHeaderSize+metaSumOffset] ^= 1
			b[4096+pageHeaderSize+metaSumOffset] ^= 1
			return b
		}), ErrCorrupt, "meta pages are damaged"},
		{"BothMetaMagics", clone(func(b []byte) []byte {
			b[pageHeaderSize] ^= 0xff
			b[4096+pageHeaderSize] ^= 0xff
			return b
		}), ErrNotStore, "not a bbolt database"},
		{"RecordValue", clone(func(b []byte) []byte { b[valueAt+40] ^= 0x10; return b }), ErrCorrupt, "fails its checksum"},
		{"LeafPageType", clone(func(b []byte) []byte { b[leaf*4096+8] = freelistPageFlag; return b }), ErrCorrupt, "type 0x10"},
		{"LeafPageID", clone(func(b []byte) []byte { b[leaf*4096] ^= 0x40; return b }), ErrCorrupt, "header says page"},
		{"LeafElementOffset", clone(func(b []byte) []byte {
			ne.PutUint32(b[leaf*4096+pageHeaderSize+4:], 0x00ffffff)
			return b
		}), ErrCorrupt, "outside the page"},
		{"BranchChild", clone(func(b []byte) []byte {
			ne.PutUint64(b[branch*4096+pageHeaderSize+8:], meta.hwm+5)
			return b
		}), ErrCorrupt, "outside [2,"},
		{"BranchChildTwice", clone(func(b []byte) []byte {
			first := b[branch*4096+pageHeaderSize+8 : branch*4096+pageHeaderSize+16]
			copy(b[branch*4096+pageHeaderSize+elemSize+8:], first)
			return b
		}), ErrCorrupt, "referenced twice"},
		{"FreelistNamesUsedPage", clone(func(b []byte) []byte {
			fl := int(meta.freelist) * 4096
			if ne.Uint16(b[fl+10:]) == 0 {
				t.Fatal("the fixture has no free pages")
			}
			ne.PutUint64(b[fl+pageHeaderSize:], meta.root)
			return b
		}), ErrCorrupt, "free and in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			openMustFail(t, filepath.Join(t.TempDir(), "sadb.db"), tt.image, tt.want, tt.text)
		})
	}
}

// TestCorruptContent edits the fixture through bbolt, so that the file is a
// sound bbolt database whose content is wrong.
func TestCorruptContent(t *testing.T) {
	path, _ := fixture(t)
	orig := readFile(t, path)
	tests := []struct {
		name string
		edit func(tx *bbolt.Tx) error
		want error
		text string
	}{
		{"NoHeader", func(tx *bbolt.Tx) error { return tx.DeleteBucket(formatBucket) }, ErrNotStore, "without sadb's format header"},
		{"WrongMagic", func(tx *bbolt.Tx) error {
			return tx.Bucket(formatBucket).Put(magicKey, []byte("etcd"))
		}, ErrNotStore, `magic is "etcd"`},
		{"NewerVersion", func(tx *bbolt.Tx) error {
			return tx.Bucket(formatBucket).Put(versionKey, binary.BigEndian.AppendUint32(nil, formatVersion+1))
		}, ErrNewerFormat, fmt.Sprintf("format version %d", formatVersion+1)},
		{"VersionZero", func(tx *bbolt.Tx) error {
			return tx.Bucket(formatBucket).Put(versionKey, make([]byte, 4))
		}, ErrCorrupt, "format version 0"},
		{"UnknownBucket", func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("policies"))
			return err
		}, ErrCorrupt, `unknown bucket "policies"`},
		{"MissingBucket", func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("filter")) }, ErrCorrupt, `bucket "filter" is missing`},
		{"NestedBucket", func(tx *bbolt.Tx) error {
			_, err := tx.Bucket([]byte("meta")).CreateBucket([]byte("nested"))
			return err
		}, ErrCorrupt, "nested bucket"},
		{"ShortKey", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("sa-context")).Put([]byte{1, 2, 3}, []byte("value"))
		}, ErrCorrupt, "3-byte key"},
		{"BadChecksum", func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte("filter"))
			k, v := b.Cursor().First()
			v = bytes.Clone(v)
			v[len(v)-1] ^= 1
			return b.Put(bytes.Clone(k), v)
		}, ErrCorrupt, "fails its checksum"},
		{"MovedValue", func(tx *bbolt.Tx) error {
			// A whole stored record copied under another key: its checksum
			// covers the key, so it does not match there.
			b := tx.Bucket([]byte("sa-context"))
			return b.Put(binary.BigEndian.AppendUint64(nil, 1<<40), bytes.Clone(b.Get(binary.BigEndian.AppendUint64(nil, 3))))
		}, ErrCorrupt, "fails its checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "sadb.db")
			writeFile(t, p, orig)
			db, err := bbolt.Open(p, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tt.edit); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			openMustFail(t, p, readFile(t, p), tt.want, tt.text)
		})
	}
	t.Run("ForeignBolt", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "other.db")
		db, err := bbolt.Open(p, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket([]byte("key"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		openMustFail(t, p, readFile(t, p), ErrNotStore, "without sadb's format header")
	})
	t.Run("NoSyncedFreelist", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "sadb.db")
		writeFile(t, p, orig)
		db, err := bbolt.Open(p, 0o600, &bbolt.Options{NoFreelistSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(*bbolt.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		openMustFail(t, p, readFile(t, p), ErrNotStore, "without a freelist")
	})
}

// TestRandomFlips flips one random bit of the fixture at a time. Open must
// either fail with one of its errors, leaving the file unchanged, or
// succeed and Load exactly the fixture's records (the bit was in an unused
// part of the file, or in the newer meta page, whose loss makes bbolt use
// the older one). Nothing crashes.
func TestRandomFlips(t *testing.T) {
	path, want := fixture(t)
	orig := readFile(t, path)
	meta := currentMeta(t, orig)
	used := int(meta.hwm) * 4096 // flips past the high-water mark are trivially harmless
	rng := rand.New(rand.NewPCG(uint64(*crashSeed), 0xf11b))
	outcomes := map[string]int{}
	for i := range *flips {
		off := rng.IntN(used)
		bit := byte(1) << rng.IntN(8)
		b := bytes.Clone(orig)
		b[off] ^= bit
		writeFile(t, path, b)
		s, err := Open(path, Options{})
		switch {
		case err == nil:
			got := storagetest.LoadAll(t, s)
			if cerr := s.Close(); cerr != nil {
				t.Fatal(cerr)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Fatalf("flip %d (byte %d, page %d, bit %#x): Open succeeded but the records differ:\n%s", i, off, off/4096, bit, diff)
			}
			outcomes["opened, records intact"]++
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNotStore), errors.Is(err, ErrNewerFormat):
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("flip %d: error %q does not name the file", i, err)
			}
			for _, e := range []error{ErrCorrupt, ErrNotStore, ErrNewerFormat} {
				if errors.Is(err, e) {
					outcomes[e.Error()]++
				}
			}
		default:
			t.Fatalf("flip %d (byte %d, page %d, bit %#x): Open = %v, want a store error", i, off, off/4096, bit, err)
		}
		if err != nil && !bytes.Equal(b, readFile(t, path)) {
			t.Fatalf("flip %d (byte %d): a failed Open changed the file", i, off)
		}
	}
	t.Logf("%d flips: %v", *flips, outcomes)
}
