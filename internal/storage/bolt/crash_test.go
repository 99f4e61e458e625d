package bolt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/storagetest"
)

// The crash test runs this test binary again as a child that commits
// records until it is killed. The environment selects the child's mode.
const (
	crashHelperEnv  = "SADB_BOLT_CRASH_HELPER"  // the store file
	crashBaseEnv    = "SADB_BOLT_CRASH_BASE"    // the first record number
	crashStageEnv   = "SADB_BOLT_CRASH_STAGE"   // where the child asks to be killed
	crashAfterEnv   = "SADB_BOLT_CRASH_AFTER"   // after how many passes there
	crashLogSizeEnv = "SADB_BOLT_CRASH_LOGSIZE" // Options.LogSize
	crashWorkers    = 8
)

// Kill stages. With a stage other than crashAnywhere, the child's hooks
// print "kill STAGE" and stall when the Store passes that point for the
// crashAfterEnv-th time, and the parent kills it at once; with
// crashAnywhere the parent kills it after a random delay.
const (
	crashAnywhere = "anywhere"
	crashTorn     = "torn"      // between the two halves of a frame's write
	crashSynced   = "synced"    // a frame synced, its callers not yet told
	crashApplied  = "applied"   // inside a checkpoint's transaction, before it commits
	crashCommited = "committed" // a checkpoint committed, its log space not yet released
)

var crashStages = []string{crashAnywhere, crashTorn, crashSynced, crashApplied, crashCommited}

// crashOptions are the Store options of the child and of the checks: a
// small log, so that it wraps around and checkpoints run all the time.
func crashOptions(logSize int64) Options {
	return Options{LogSize: logSize, CheckpointBytes: logSize / 4, CheckpointInterval: 20 * time.Millisecond}
}

var (
	crashSeed   = flag.Uint64("crash.seed", 1, "seed of TestCrash's kill times")
	crashRounds = flag.Int("crash.rounds", 20, "kill -9 rounds of TestCrash")
)

// crashValue is the value of record n of the given kind: a deterministic
// body whose size varies with n (some values span several pages), then the
// SHA-256 of the body, so a torn or mixed-up value is caught even without
// regenerating it.
func crashValue(kind engine.RecordKind, n uint64) []byte {
	size := 40 + int(n*7919%3000)
	if kind == engine.RecordFilter {
		size = 40 + int(n%200)
	}
	if n%97 == 0 {
		size = 20000
	}
	body := storagetest.Value(kind, n, 0, size)
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// metaValue is the value each worker keeps in its meta record: the number
// of its latest committed record.
func metaValue(n uint64) []byte {
	body := binary.BigEndian.AppendUint64(nil, n)
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// checkSummed reports whether v ends with the SHA-256 of the rest.
func checkSummed(v []byte) bool {
	if len(v) < sha256.Size {
		return false
	}
	body := v[:len(v)-sha256.Size]
	sum := sha256.Sum256(body)
	return bytes.Equal(sum[:], v[len(body):])
}

// crashHelper is the child of TestCrash: it opens the store and commits
// from several workers, each commit holding an sa-context record, the
// filter record of the same number and the worker's meta record. It prints
// "worker number" after each Commit returned, and runs until killed.
func crashHelper() {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash helper: "+format+"\n", args...)
		os.Exit(2)
	}
	base, err := strconv.ParseUint(os.Getenv(crashBaseEnv), 10, 64)
	if err != nil {
		fail("bad %s: %v", crashBaseEnv, err)
	}
	logSize, err := strconv.ParseInt(os.Getenv(crashLogSizeEnv), 10, 64)
	if err != nil {
		fail("bad %s: %v", crashLogSizeEnv, err)
	}
	after, err := strconv.Atoi(os.Getenv(crashAfterEnv))
	if err != nil {
		fail("bad %s: %v", crashAfterEnv, err)
	}
	s, err := Open(os.Getenv(crashHelperEnv), crashOptions(logSize))
	if err != nil {
		fail("%v", err)
	}
	var (
		next atomic.Uint64
		mu   sync.Mutex // guards stdout writes
	)
	next.Store(base)
	stage := os.Getenv(crashStageEnv)
	var passes atomic.Int64
	hook := func(at string) {
		if at == stage && passes.Add(1) == int64(after) {
			mu.Lock()
			os.Stdout.WriteString("kill " + at + "\n")
			mu.Unlock()
			time.Sleep(time.Minute) // the parent kills the child now
		}
	}
	switch stage {
	case crashTorn, crashSynced:
		s.testHookFrame.Store(&hook)
	case crashApplied, crashCommited:
		s.testHookCheckpoint.Store(&hook)
	}
	os.Stdout.WriteString("ready\n")
	for w := range uint64(crashWorkers) {
		go func() {
			for {
				n := next.Add(1)
				err := s.Commit([]engine.Mutation{
					{Kind: engine.RecordSAContext, Key: n, Value: crashValue(engine.RecordSAContext, n)},
					{Kind: engine.RecordFilter, Key: n, Value: crashValue(engine.RecordFilter, n)},
					{Kind: engine.RecordMeta, Key: w, Value: metaValue(n)},
				})
				if err != nil {
					fail("commit %d: %v", n, err)
				}
				mu.Lock()
				os.Stdout.WriteString(strconv.FormatUint(w, 10) + " " + strconv.FormatUint(n, 10) + "\n")
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestCrash kills a committing child with SIGKILL, reusing one file across
// rounds, and checks that every acknowledged commit is on disk whole, that
// every record on disk is whole and came with the rest of its commit, and
// that no worker's meta record went backwards, within a round or across
// rounds. Each round kills the child at one of the kill stages: in the
// middle of a log write (a torn frame), right after a frame's fdatasync,
// inside a checkpoint's transaction, right after a checkpoint committed, or
// at a random moment (often inside bbolt's own writes, since checkpoints run
// all the time with the child's small log). Some rounds leave the crashed
// store to the next child, which recovers it under load and may itself be
// killed soon after; the check then covers both rounds. The log size
// alternates between rounds, so Open also remakes the log after replaying
// it.
//
// SIGKILL tests what a process crash leaves: the kernel keeps the writes the
// process made. It does not test power loss, which needs the fsyncs; see
// doc.go.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(*crashSeed, 0x5adb))
	t.Logf("seed %d (-crash.seed), %d rounds (-crash.rounds)", *crashSeed, *crashRounds)
	acked := map[uint64][]uint64{}
	lastMeta := map[uint64]uint64{}
	for round := range *crashRounds {
		base := uint64(round+1) * 1_000_000_000
		stage := crashStages[round%len(crashStages)]
		if round >= len(crashStages) {
			stage = crashStages[rng.IntN(len(crashStages))]
		}
		logSize := int64(1+round%2) << 20
		after := 1 + rng.IntN(150)
		delay := time.Duration(20+rng.IntN(400)) * time.Millisecond
		got := runCrashChild(t, path, base, stage, after, logSize, delay)
		for w, ns := range got {
			acked[w] = append(acked[w], ns...)
		}
		if round < *crashRounds-1 && rng.IntN(3) == 0 {
			t.Logf("round %d: killed at %s; the next child recovers", round, stage)
			continue
		}
		checkCrashedStore(t, path, round, stage, base, logSize, acked, lastMeta)
		clear(acked)
	}
}

// runCrashChild runs the child until it asks to be killed at stage (or,
// for crashAnywhere, until delay after it is ready), kills it and returns
// the commits it acknowledged, by worker.
func runCrashChild(t *testing.T, path string, base uint64, stage string, after int, logSize int64, delay time.Duration) map[uint64][]uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		crashHelperEnv+"="+path, crashBaseEnv+"="+strconv.FormatUint(base, 10),
		crashStageEnv+"="+stage, crashAfterEnv+"="+strconv.Itoa(after),
		crashLogSizeEnv+"="+strconv.FormatInt(logSize, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	killNow := make(chan struct{})
	acked := map[uint64][]uint64{}
	readDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "ready":
				close(ready)
				continue
			case strings.HasPrefix(line, "kill "):
				close(killNow)
				continue
			}
			w, n, ok := strings.Cut(line, " ")
			if !ok {
				continue // a line cut short by the kill was never acknowledged
			}
			wn, err1 := strconv.ParseUint(w, 10, 64)
			nn, err2 := strconv.ParseUint(n, 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			acked[wn] = append(acked[wn], nn)
		}
		readDone <- sc.Err()
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child never became ready: %s", stderr.String())
	}
	if stage == crashAnywhere {
		time.Sleep(delay)
	} else {
		select {
		case <-killNow:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child never reached stage %s: %s", stage, stderr.String())
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-readDone
	cmd.Wait() // killed: the error only says so
	if stderr.Len() > 0 {
		t.Fatalf("child: %s", stderr.String())
	}
	return acked
}

// checkCrashedStore opens the store a child left and checks it against the
// commits acknowledged since the last check, and the meta records against
// those the last check saw (updated here). It leaves the store as a crash
// would, with nothing checkpointed after Open.
func checkCrashedStore(t *testing.T, path string, round int, stage string, base uint64, logSize int64, acked map[uint64][]uint64, lastMeta map[uint64]uint64) {
	t.Helper()
	s, err := Open(path, crashOptions(logSize))
	if err != nil {
		t.Fatalf("round %d (killed at %s): reopening after the kill: %v", round, stage, err)
	}
	defer crash(t, s)
	st := s.Stats()
	present := map[engine.RecordKind]map[uint64][]byte{}
	for _, k := range storagetest.Kinds {
		present[k] = map[uint64][]byte{}
	}
	for _, r := range storagetest.LoadAll(t, s) {
		present[r.Kind][r.Key] = r.Value
	}
	// Every record on disk is whole and has the rest of its commit.
	for _, kind := range []engine.RecordKind{engine.RecordSAContext, engine.RecordFilter} {
		for n, v := range present[kind] {
			if !checkSummed(v) || !bytes.Equal(v, crashValue(kind, n)) {
				t.Fatalf("round %d: %v record %d is damaged", round, kind, n)
			}
			other := engine.RecordFilter
			if kind == engine.RecordFilter {
				other = engine.RecordSAContext
			}
			if _, ok := present[other][n]; !ok {
				t.Fatalf("round %d: %v record %d is on disk without its %v record", round, kind, n, other)
			}
		}
	}
	// Every acknowledged commit is on disk, and no worker's meta record is
	// older than its last acknowledged commit.
	total, inRound := 0, 0
	for w, ns := range acked {
		last := uint64(0)
		for _, n := range ns {
			if _, ok := present[engine.RecordSAContext][n]; !ok {
				t.Fatalf("round %d: commit %d (worker %d) was acknowledged but is missing", round, n, w)
			}
			last = max(last, n)
			total++
		}
		mv, ok := present[engine.RecordMeta][w]
		if !ok || !checkSummed(mv) || len(mv) != 8+sha256.Size {
			t.Fatalf("round %d: worker %d's meta record is missing or damaged", round, w)
		}
		got := binary.BigEndian.Uint64(mv)
		if got < last {
			t.Fatalf("round %d: worker %d's meta record says %d, older than its acknowledged %d", round, w, got, last)
		}
		if got < lastMeta[w] {
			t.Fatalf("round %d: worker %d's meta record says %d, older than the %d an earlier round left", round, w, got, lastMeta[w])
		}
		lastMeta[w] = got
		if _, ok := present[engine.RecordSAContext][got]; !ok {
			t.Fatalf("round %d: worker %d's meta record names commit %d, which is missing", round, w, got)
		}
	}
	for n := range present[engine.RecordSAContext] {
		if n > base {
			inRound++
		}
	}
	t.Logf("round %d (killed at %s, %d MiB log): %d commits acknowledged, %d on disk; Open replayed %d calls (torn tail: %v); %d records in all",
		round, stage, logSize>>20, total, inRound, st.RecoveredCommits, st.RecoveredTornTail, len(present[engine.RecordSAContext]))
	if total == 0 {
		t.Errorf("round %d: the child acknowledged no commit before the kill", round)
	}
	if stage == crashTorn && !st.RecoveredTornTail {
		t.Errorf("round %d: killed in the middle of a frame's write, but Open found no torn tail", round)
	}
}
