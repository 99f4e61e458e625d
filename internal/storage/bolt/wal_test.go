package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/storagetest"
)

// noCheckpoints keeps commits in the log: a small log that never fills in
// these tests, and no timed checkpoint.
var noCheckpoints = Options{LogSize: 4 << 20, CheckpointInterval: time.Hour}

// crash stops s as a crash right after its last fdatasync would: no
// checkpoint, nothing more written; the files are closed and unlocked.
func crash(t testing.TB, s *Store) {
	t.Helper()
	s.q.mu.Lock()
	s.q.closed = true
	s.q.mu.Unlock()
	s.signal()
	<-s.stopped
	close(s.ckptStop)
	<-s.ckptDone
	s.logFile.Close()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

// commitSeries commits n calls, one at a time (one frame each): call i
// writes sa-context i and overwrites meta 1 with i.
func commitSeries(t testing.TB, s *Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		k := uint64(i)
		mustCommit(t, s,
			engine.Mutation{Kind: engine.RecordSAContext, Key: k, Value: storagetest.Value(engine.RecordSAContext, k, 0, 300+i%900)},
			engine.Mutation{Kind: engine.RecordMeta, Key: 1, Value: storagetest.Value(engine.RecordMeta, 1, k, 40)})
	}
}

// seriesRecords returns what a store holds after calls [0, n) of
// commitSeries.
func seriesRecords(n int) []storagetest.Record {
	if n == 0 {
		return nil
	}
	recs := []storagetest.Record{{Kind: engine.RecordMeta, Key: 1, Value: storagetest.Value(engine.RecordMeta, 1, uint64(n-1), 40)}}
	for i := range n {
		k := uint64(i)
		recs = append(recs, storagetest.Record{Kind: engine.RecordSAContext, Key: k, Value: storagetest.Value(engine.RecordSAContext, k, 0, 300+i%900)})
	}
	return recs
}

func checkSeries(t testing.TB, s *Store, n int) {
	t.Helper()
	got := storagetest.LoadAll(t, s)
	if diff := cmp.Diff(seriesRecords(n), got, cmp.Comparer(bytes.Equal)); diff != "" {
		t.Fatalf("records after %d calls (-want +got):\n%s", n, diff)
	}
}

// logFrames returns the frames of the log at path, in order, as Open would
// replay them.
func logFrames(t testing.TB, storePath string) []frame {
	t.Helper()
	db, err := bbolt.Open(storePath, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var h header
	db.View(func(tx *bbolt.Tx) error { h = readHeader(tx); return nil })
	db.Close()
	img := readFile(t, logPath(storePath))
	rec, err := scanLog(img, h.log, &h.id, logPath(storePath))
	if err != nil {
		t.Fatal(err)
	}
	return rec.frames
}

// TestLogReplay commits without checkpoints, crashes, and checks that Open
// replays every call from the log, applies it to the file and starts with
// an empty log; a second crash right after loses nothing either.
func TestLogReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sadb.db")
	s := openPath(t, path, noCheckpoints)
	commitSeries(t, s, 0, 50)
	checkSeries(t, s, 50)
	if st := s.Stats(); st.Checkpoints != 0 || st.LogRecords != 51 {
		t.Fatalf("before the crash: %d checkpoints, %d records in memory", st.Checkpoints, st.LogRecords)
	}
	crash(t, s)
	if n := len(logFrames(t, path)); n != 50 {
		t.Fatalf("the log holds %d frames to replay, want 50", n)
	}
	s = openPath(t, path, noCheckpoints)
	if st := s.Stats(); st.RecoveredCommits != 50 || st.RecoveredTornTail || st.LogUsed != 0 || st.LogRecords != 0 {
		t.Errorf("after recovery: %+v", st)
	}
	checkSeries(t, s, 50)
	// Open applied the log to the file: replay starts after it.
	commitSeries(t, s, 50, 10)
	crash(t, s)
	if n := len(logFrames(t, path)); n != 10 {
		t.Fatalf("after the second crash the log holds %d frames to replay, want 10", n)
	}
	s = openPath(t, path, noCheckpoints)
	checkSeries(t, s, 60)
	if st := s.Stats(); st.RecoveredCommits != 10 {
		t.Errorf("the second recovery replayed %d calls, want 10", st.RecoveredCommits)
	}
	// A clean Close leaves nothing to replay.
	s = reopenWith(t, s, noCheckpoints)
	if st := s.Stats(); st.RecoveredCommits != 0 {
		t.Errorf("after a clean Close Open replayed %d calls", st.RecoveredCommits)
	}
	checkSeries(t, s, 60)
}

func reopenWith(t testing.TB, s *Store, o Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openPath(t, s.Path(), o)
}

// crashedImage makes a store that crashed with n calls in its log (one
// frame each) and returns its path, the store file's and the log's bytes,
// and the frames.
func crashedImage(t *testing.T, n int) (path string, store, log []byte, frames []frame) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "sadb.db")
	s := openPath(t, path, noCheckpoints)
	commitSeries(t, s, 0, n)
	crash(t, s)
	return path, readFile(t, path), readFile(t, logPath(path)), logFrames(t, path)
}

// TestLogTornTail damages the last frame in the ways an interrupted write
// leaves it: Open ignores it (it was never acknowledged) and keeps the
// calls before it.
func TestLogTornTail(t *testing.T) {
	path, store, log, frames := crashedImage(t, 20)
	last := frames[len(frames)-1]
	for _, tc := range []struct {
		name string
		edit func(b []byte)
	}{
		{"PayloadByte", func(b []byte) { b[last.pos+frameHeaderSize+100] ^= 0x40 }},
		{"SecondHalfOld", func(b []byte) {
			// The second half of the frame was never written.
			clear(b[last.pos+frameHeaderSize+int64(len(last.payload))/2 : last.end()])
		}},
		{"HeaderOnly", func(b []byte) { clear(b[last.pos+frameHeaderSize : last.end()]) }},
		{"LengthPastTheEnd", func(b []byte) { binary.LittleEndian.PutUint32(b[last.pos+8:], 1<<30) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, path, store)
			b := bytes.Clone(log)
			tc.edit(b)
			writeFile(t, logPath(path), b)
			s := openPath(t, path, noCheckpoints)
			st := s.Stats()
			if st.RecoveredCommits != 19 || !st.RecoveredTornTail {
				t.Errorf("recovered %d calls, torn tail %v; want 19, true", st.RecoveredCommits, st.RecoveredTornTail)
			}
			checkSeries(t, s, 19)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// openBothMustFail checks that Open of the store at path fails with want
// and a message naming the file and saying text, leaving the store and the
// log exactly as they were.
func openBothMustFail(t *testing.T, path string, want error, text string) {
	t.Helper()
	before, beforeLog := readFile(t, path), readFileOrNil(t, logPath(path))
	s, err := Open(path, noCheckpoints)
	if err == nil {
		s.Close()
		t.Fatalf("Open succeeded, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Open = %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), text) {
		t.Errorf("error %q should name the file and say %q", err, text)
	}
	if !bytes.Equal(before, readFile(t, path)) || !bytes.Equal(beforeLog, readFileOrNil(t, logPath(path))) {
		t.Fatal("a failed Open changed the store or its log")
	}
}

func readFileOrNil(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLogCorruptMiddle damages a frame that intact frames follow: the
// calls after it were acknowledged, so Open refuses to start rather than
// drop them, and says so.
func TestLogCorruptMiddle(t *testing.T) {
	path, store, log, frames := crashedImage(t, 20)
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		text string
	}{
		{"PayloadByte", func(b []byte) { b[frames[7].pos+frameHeaderSize+10] ^= 1 }, "log frame 8 at offset"},
		{"Magic", func(b []byte) { b[frames[7].pos] ^= 0xff }, "would be lost"},
		{"Sequence", func(b []byte) { b[frames[7].pos+16] ^= 4 }, "would be lost"},
		{"Zeroed", func(b []byte) { clear(b[frames[7].pos:frames[7].end()]) }, "is missing (zeros)"},
		{"FirstFrame", func(b []byte) { b[frames[0].pos+frameHeaderSize+3] ^= 0x80 }, "would be lost"},
		{"SecondToLast", func(b []byte) { b[frames[18].pos+frameSumOffset] ^= 2 }, "would be lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, path, store)
			b := bytes.Clone(log)
			tc.edit(b)
			writeFile(t, logPath(path), b)
			openBothMustFail(t, path, ErrCorrupt, tc.text)
		})
	}
	// Undamaged, the same files open with every call.
	writeFile(t, path, store)
	writeFile(t, logPath(path), log)
	checkSeries(t, openPath(t, path, noCheckpoints), 20)
}

// TestLogHeader checks what Open does with a log it does not recognize:
// it refuses, names the log and leaves both files alone.
func TestLogHeader(t *testing.T) {
	path, store, log, _ := crashedImage(t, 5)
	_, _, otherLog, _ := crashedImage(t, 5)
	for _, tc := range []struct {
		name string
		log  []byte
		want error
		text string
	}{
		{"Text", bytes.Repeat([]byte("not a log\n"), 1000), ErrNotStore, "is not a sadb log"},
		{"Empty", []byte{}, ErrNotStore, "is not a sadb log"},
		{"HeaderSum", func() []byte { b := bytes.Clone(log); b[30] ^= 1; return b }(), ErrCorrupt, "log header fails its checksum"},
		{"NewerVersion", func() []byte {
			b := bytes.Clone(log)
			binary.LittleEndian.PutUint32(b[16:], logVersion+1)
			binary.LittleEndian.PutUint32(b[logHeaderSum:], crc32c(b[:logHeaderSum]))
			return b
		}(), ErrNewerFormat, "log version 2"},
		{"Truncated", log[:len(log)/2], ErrCorrupt, "is truncated"},
		{"AnotherStore", otherLog, ErrCorrupt, "belongs to another store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, path, store)
			writeFile(t, logPath(path), tc.log)
			openBothMustFail(t, path, tc.want, tc.text)
		})
	}
	t.Run("Directory", func(t *testing.T) {
		writeFile(t, path, store)
		os.Remove(logPath(path))
		if err := os.Mkdir(logPath(path), 0o700); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(logPath(path))
		_, err := Open(path, noCheckpoints)
		if !errors.Is(err, ErrNotStore) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Open with a directory for a log = %v", err)
		}
	})
}

// TestLogMissing: a store that crashed needs its log; one closed cleanly
// gets a new one.
func TestLogMissing(t *testing.T) {
	path, _, _, _ := crashedImage(t, 5)
	if err := os.Remove(logPath(path)); err != nil {
		t.Fatal(err)
	}
	openBothMustFail(t, path, ErrCorrupt, "is missing, and the store was not closed cleanly")

	path = filepath.Join(t.TempDir(), "sadb.db")
	s := openPath(t, path, noCheckpoints)
	commitSeries(t, s, 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(logPath(path)); err != nil {
		t.Fatal(err)
	}
	s = openPath(t, path, noCheckpoints)
	checkSeries(t, s, 5)
	commitSeries(t, s, 5, 5)
	crash(t, s)
	checkSeries(t, openPath(t, path, noCheckpoints), 10)
}

// TestUpgradeVersion1 opens a store written before the log existed: it is
// upgraded and keeps its records; a file at the log's path beside such a
// store is not one of ours, and Open refuses it.
func TestUpgradeVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sadb.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(formatBucket)
		if err != nil {
			return err
		}
		b.Put(magicKey, []byte(formatMagic))
		b.Put(versionKey, binary.BigEndian.AppendUint32(nil, 1))
		for _, kb := range kindBuckets {
			if _, err := tx.CreateBucket(kb.name); err != nil {
				return err
			}
		}
		key := binary.BigEndian.AppendUint64(nil, 7)
		v := make([]byte, sumSize+5)
		sealRecord(v, engine.RecordFilter, key, []byte("seven"))
		return tx.Bucket([]byte("filter")).Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	want := []storagetest.Record{{Kind: engine.RecordFilter, Key: 7, Value: []byte("seven")}}

	writeFile(t, logPath(path), []byte("someone else's file"))
	openBothMustFail(t, path, ErrNotStore, "beside a store that has no log")
	os.Remove(logPath(path))

	s := openPath(t, path, noCheckpoints)
	storagetest.CheckRecords(t, s, want)
	mustCommit(t, s, engine.Mutation{Kind: engine.RecordMeta, Key: 1, Value: []byte("new")})
	crash(t, s)
	s = openPath(t, path, noCheckpoints)
	if n := len(storagetest.LoadAll(t, s)); n != 2 {
		t.Fatalf("%d records after a crash of the upgraded store, want 2", n)
	}
	var h header
	s.db.View(func(tx *bbolt.Tx) error { h = readHeader(tx); return nil })
	if h.version != formatVersion || h.id == (storeID{}) {
		t.Errorf("upgraded header: %+v", h)
	}
}

// TestLogWrapAndBackPressure runs a small log around many times from
// several goroutines while checkpoints are held back at times: Commit waits
// for log space, never fails, and everything acknowledged survives a
// crash.
func TestLogWrapAndBackPressure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sadb.db")
	o := Options{LogSize: MinLogSize, CheckpointBytes: 64 << 10, CheckpointInterval: time.Hour}
	s := openPath(t, path, o)
	// Hold every fourth checkpoint for 20 ms, inside its transaction.
	var mu sync.Mutex
	n := 0
	hook := func(stage string) {
		if stage != "applied" {
			return
		}
		mu.Lock()
		n++
		hold := n%4 == 0
		mu.Unlock()
		if hold {
			time.Sleep(20 * time.Millisecond)
		}
	}
	s.testHookCheckpoint.Store(&hook)
	const goroutines, perG = 8, 150
	var wg sync.WaitGroup
	for g := range uint64(goroutines) {
		wg.Go(func() {
			for i := range uint64(perG) {
				key := g<<32 | i
				err := s.Commit([]engine.Mutation{
					{Kind: engine.RecordSAContext, Key: key, Value: storagetest.Value(engine.RecordSAContext, key, 0, 700+int(i%5)*1000)},
					{Kind: engine.RecordMeta, Key: g, Value: storagetest.Value(engine.RecordMeta, g, i, 32)},
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("%d frames, %d bytes logged through a %d-byte log, %d checkpoints, %d waits for space", st.Batches, st.LogBytes, st.LogSize, st.Checkpoints, st.LogWaits)
	if st.LogBytes < 4*uint64(st.LogSize) || st.LogWaits == 0 || st.Checkpoints < 4 {
		t.Errorf("the log did not wrap around several times with waits: %+v", st)
	}
	s.testHookCheckpoint.Store(nil)
	var want []storagetest.Record
	for g := range uint64(goroutines) {
		want = append(want, storagetest.Record{Kind: engine.RecordMeta, Key: g, Value: storagetest.Value(engine.RecordMeta, g, perG-1, 32)})
	}
	for g := range uint64(goroutines) {
		for i := range uint64(perG) {
			key := g<<32 | i
			want = append(want, storagetest.Record{Kind: engine.RecordSAContext, Key: key, Value: storagetest.Value(engine.RecordSAContext, key, 0, 700+int(i%5)*1000)})
		}
	}
	storagetest.CheckRecords(t, s, want)
	crash(t, s)
	storagetest.CheckRecords(t, openPath(t, path, o), want)
}

// TestDirectCommit commits calls too large for the log: they go to the file
// directly, in order with the calls before and after them.
func TestDirectCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sadb.db")
	o := Options{LogSize: MinLogSize, CheckpointInterval: time.Hour}
	s := openPath(t, path, o)
	sa := engine.RecordSAContext
	big := storagetest.Value(sa, 1, 2, MinLogSize/2)
	mustCommit(t, s, engine.Mutation{Kind: sa, Key: 1, Value: []byte("small, before")}, engine.Mutation{Kind: sa, Key: 2, Value: []byte("two")})
	mustCommit(t, s, engine.Mutation{Kind: sa, Key: 1, Value: big}, engine.Mutation{Kind: sa, Key: 3, Value: []byte("three")})
	mustCommit(t, s, engine.Mutation{Kind: sa, Key: 2, Value: []byte("two, after")})
	if st := s.Stats(); st.DirectCommits != 1 || st.Checkpoints != 1 {
		t.Errorf("%d direct commits, %d checkpoints; want 1, 1", st.DirectCommits, st.Checkpoints)
	}
	want := []storagetest.Record{{Kind: sa, Key: 1, Value: big}, {Kind: sa, Key: 2, Value: []byte("two, after")}, {Kind: sa, Key: 3, Value: []byte("three")}}
	storagetest.CheckRecords(t, s, want)
	crash(t, s)
	storagetest.CheckRecords(t, openPath(t, path, o), want)
}

// TestLogResize reopens a crashed store with another log size: the old log
// is replayed, then remade at the new size.
func TestLogResize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sadb.db")
	s := openPath(t, path, Options{LogSize: 2 << 20, CheckpointInterval: time.Hour})
	commitSeries(t, s, 0, 30)
	crash(t, s)
	for _, size := range []int64{MinLogSize, 3<<20 + 5} {
		s = openPath(t, path, Options{LogSize: size, CheckpointInterval: time.Hour})
		checkSeries(t, s, 30)
		fi, err := os.Stat(logPath(path))
		if err != nil {
			t.Fatal(err)
		}
		if want := logSizeFor(Options{LogSize: size}); fi.Size() != want || s.Stats().LogSize != want-logBlock {
			t.Errorf("log is %d bytes, want %d", fi.Size(), want)
		}
		crash(t, s)
	}
}

// TestRandomLogFlips flips one random bit of a crashed store's log at a
// time. Open either fails with a store error, leaving both files as they
// were, or succeeds with every call, or with all but the last if the bit
// was in the last frame (a torn tail). A flip in any other frame must fail:
// acknowledged calls follow it.
func TestRandomLogFlips(t *testing.T) {
	const calls = 40
	path, store, log, frames := crashedImage(t, calls)
	end := frames[len(frames)-1].end()
	rng := rand.New(rand.NewPCG(*crashSeed, 0x10f))
	outcomes := map[string]int{}
	for i := range *flips / 3 {
		// Mostly in the frames' bytes, some anywhere up to a few blocks
		// past the last frame.
		off := rng.Int64N(end + 4*logBlock)
		if rng.IntN(4) != 0 {
			f := frames[rng.IntN(len(frames))]
			off = f.pos + rng.Int64N(frameHeaderSize+int64(len(f.payload)))
		}
		bit := byte(1) << rng.IntN(8)
		b := bytes.Clone(log)
		b[off] ^= bit
		writeFile(t, path, store)
		writeFile(t, logPath(path), b)
		inFrame := -1
		for j, f := range frames {
			if off >= f.pos && off < f.pos+frameHeaderSize+int64(len(f.payload)) {
				inFrame = j
			}
		}
		where := fmt.Sprintf("flip %d (offset %d, bit %#x, frame %d)", i, off, bit, inFrame)
		// The header up to its checksum, and every frame but the last,
		// hold what Open must not do without.
		vital := off < logHeaderSum+4 || (inFrame >= 0 && inFrame < len(frames)-1)
		s, err := Open(path, noCheckpoints)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotStore) && !errors.Is(err, ErrNewerFormat) {
				t.Fatalf("%s: Open = %v, want a store error", where, err)
			}
			if !vital {
				t.Fatalf("%s: Open = %v; the bit was in the torn tail or unused space", where, err)
			}
			if !bytes.Equal(b, readFile(t, logPath(path))) || !bytes.Equal(store, readFile(t, path)) {
				t.Fatalf("%s: a failed Open changed the files", where)
			}
			outcomes["refused"]++
			continue
		}
		got := storagetest.LoadAll(t, s)
		torn := s.Stats().RecoveredTornTail
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		n := calls
		if vital {
			t.Fatalf("%s: Open succeeded with a damaged header or acknowledged frame", where)
		}
		if inFrame == len(frames)-1 {
			n--
		}
		if diff := cmp.Diff(seriesRecords(n), got, cmp.Comparer(bytes.Equal)); diff != "" {
			t.Fatalf("%s: records (-want +got):\n%s", where, diff)
		}
		if n < calls {
			if !torn {
				t.Fatalf("%s: the torn tail was not reported", where)
			}
			outcomes["torn tail ignored"]++
		} else {
			outcomes["all calls"]++
		}
	}
	t.Logf("%d flips: %v", *flips/3, outcomes)
}

// TestOpenFailureReleases checks that an Open refused for its log leaves no
// lock and no goroutine behind.
func TestOpenFailureReleases(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	path, store, log, frames := crashedImage(t, 5)
	b := bytes.Clone(log)
	b[frames[1].pos+frameHeaderSize] ^= 1
	writeFile(t, logPath(path), b)
	if _, err := Open(path, noCheckpoints); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	goleak.VerifyNone(t, ignore)
	writeFile(t, path, store)
	writeFile(t, logPath(path), log)
	s, err := Open(path, Options{LockTimeout: 10 * time.Millisecond, LogSize: noCheckpoints.LogSize})
	if err != nil {
		t.Fatalf("Open after a refused Open: %v", err)
	}
	checkSeries(t, s, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

// TestSyncsPerCommit checks the cost of a commit in fdatasyncs: one log
// fdatasync per frame, and the frames of concurrent callers shared.
func TestSyncsPerCommit(t *testing.T) {
	s := openPath(t, filepath.Join(t.TempDir(), "sadb.db"), noCheckpoints)
	commitSeries(t, s, 0, 20)
	var wg sync.WaitGroup
	for g := range uint64(16) {
		wg.Go(func() {
			for i := range uint64(50) {
				key := 1<<40 | g<<20 | i
				if err := s.Commit([]engine.Mutation{{Kind: engine.RecordSAContext, Key: key, Value: benchValue}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.LogSyncs != st.Batches || st.Commits != 20+16*50 {
		t.Fatalf("%d log syncs for %d frames and %d commits", st.LogSyncs, st.Batches, st.Commits)
	}
	if st.Batches >= st.Commits {
		t.Errorf("16 concurrent committers shared no frame: %d frames for %d commits", st.Batches, st.Commits)
	}
	t.Logf("%d commits, %d frames, %d log fdatasyncs, %d checkpoints", st.Commits, st.Batches, st.LogSyncs, st.Checkpoints)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// TestLogFrameEndsAtEnd fills the log to its last block exactly, so that
// the head is the end of the file when a checkpoint records where replay
// resumes: replay must find the next frame at the first slot.
func TestLogFrameEndsAtEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sadb.db")
	o := Options{LogSize: MinLogSize, CheckpointInterval: time.Hour}
	s := openPath(t, path, o)
	blocks := int((MinLogSize - logDataStart) / logBlock)
	commitSeries(t, s, 0, blocks) // one block each
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	s = openPath(t, path, o)
	checkSeries(t, s, blocks)
	// And once more with frames after the wrap left in the log.
	commitSeries(t, s, blocks, blocks)
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	commitSeries(t, s, 2*blocks, 5)
	crash(t, s)
	s = openPath(t, path, o)
	if st := s.Stats(); st.RecoveredCommits != 5 {
		t.Errorf("Open replayed %d calls, want 5", st.RecoveredCommits)
	}
	checkSeries(t, s, 2*blocks+5)
}
