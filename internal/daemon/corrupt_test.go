package daemon_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/daemon/daemontest"
)

// sadbd refuses to start on a damaged store (the bbolt file, or its
// write-ahead log): it exits 1 with a message that names the file and what
// is wrong with it, does not serve, and leaves both files exactly as they
// were (contents and modification times).
func TestCorruptStoreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sadbd")
	}
	bin := sadbdBinary(t)
	page := os.Getpagesize()
	for _, tc := range []struct {
		name   string
		crash  bool // kill sadbd instead of stopping it, so the log is not empty
		file   string
		damage func(t *testing.T, b []byte) []byte // nil: remove the file
		want   string                              // in the message
	}{
		{"RecordByte", false, "", func(t *testing.T, b []byte) []byte {
			// A byte of a context's inbound key, in every copy of its
			// record (bbolt may keep stale ones in free pages): one of
			// them is live.
			key := conformance.TestKey(20, 3)
			n := 0
			for i := 0; ; {
				j := bytes.Index(b[i:], key)
				if j < 0 {
					break
				}
				b[i+j+5] ^= 0x01
				i += j + 1
				n++
			}
			if n == 0 {
				t.Fatal("no SA context record in the file")
			}
			return b
		}, "store is corrupt"},
		{"MetaPages", false, "", func(_ *testing.T, b []byte) []byte {
			for _, off := range []int{0, page} {
				for i := 40; i < 64; i++ { // the root bucket and freelist page ids
					b[off+i] ^= 0xFF
				}
			}
			return b
		}, "store is corrupt"},
		{"Truncated", false, "", func(_ *testing.T, b []byte) []byte {
			// Cut the last page bbolt uses in half (the file goes on past
			// it with preallocated zeros). A meta page holds the high-water
			// mark at offset 56: page header 16, magic, version, page size
			// and flags 16, root bucket 16, freelist page id 8.
			hwm := max(binary.LittleEndian.Uint64(b[56:]), binary.LittleEndian.Uint64(b[page+56:]))
			return b[:(int(hwm)-1)*page+page/2]
		}, "store is corrupt"},
		{"NotAStore", false, "", func(_ *testing.T, b []byte) []byte {
			return bytes.Repeat([]byte("not a bbolt file\n"), 1000)
		}, "not created by sadbd"},
		{"LogHeader", false, "-wal", func(_ *testing.T, b []byte) []byte {
			b[40] ^= 0xFF // in the store's identity
			return b
		}, "store is corrupt"},
		{"LogMissingAfterCrash", true, "-wal", nil, "store is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newConfig(t)
			srv := daemontest.StartTB(t, bin, cfg)
			admin := openAPI(t, srv.Target(), 0)
			pl := addFilters(t, admin)
			for i := range 20 {
				pl.mustPlumb(t, admin, byte(i))
			}
			admin.FwpmEngineClose0()
			if tc.crash {
				if err := srv.Kill(); err != nil {
					t.Fatal(err)
				}
			} else if code, err := srv.Term(30 * time.Second); err != nil || code != 0 {
				t.Fatalf("sadbd exited with %d, %v", code, err)
			}

			damaged := cfg.Store + tc.file
			if tc.damage == nil {
				if err := os.Remove(damaged); err != nil {
					t.Fatal(err)
				}
			} else {
				b, err := os.ReadFile(damaged)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(damaged, tc.damage(t, b), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			before := map[string][32]byte{}
			for _, f := range []string{cfg.Store, cfg.Store + "-wal"} {
				b, err := os.ReadFile(f)
				if os.IsNotExist(err) && f == damaged {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				before[f] = sha256.Sum256(b)
				if err := os.Chtimes(f, old, old); err != nil {
					t.Fatal(err)
				}
			}

			p, err := daemontest.Start(bin, cfg)
			if err != nil {
				t.Fatal(err)
			}
			code, err := p.Wait(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			log := p.Log()
			if code != 1 {
				t.Errorf("sadbd exited with %d on a damaged store, want 1:\n%s", code, log)
			}
			if !strings.Contains(log, "sadbd failed") || !strings.Contains(log, cfg.Store) || !strings.Contains(log, tc.want) {
				t.Errorf("sadbd's message does not name the file and say %q:\n%s", tc.want, log)
			}
			t.Logf("sadbd said: %s", lastLine(log))
			if strings.Contains(log, "listening") {
				t.Errorf("sadbd listened on a damaged store:\n%s", log)
			}
			// (A killed sadbd leaves its socket file behind.)
			if c, err := net.Dial("unix", cfg.Socket); err == nil {
				c.Close()
				t.Error("something accepts on the socket after a refused start")
			}

			for f, sum := range before {
				after, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if sha256.Sum256(after) != sum {
					t.Errorf("sadbd changed %s", f)
				}
				if st, err := os.Stat(f); err != nil || !st.ModTime().Equal(old) {
					t.Errorf("%s modified at %v, %v; want %v", f, st.ModTime(), err, old)
				}
			}
			if _, err := os.Stat(damaged); tc.damage == nil && !os.IsNotExist(err) {
				t.Errorf("sadbd made a new %s: %v", damaged, err)
			}
		})
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
