package daemon_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/internal/daemon/daemontest"
)

// sadbd refuses to start on a damaged store: it exits 1 with a message
// that names the file and what is wrong with it, does not serve, and
// leaves the file exactly as it was (contents and modification time).
func TestCorruptStoreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sadbd")
	}
	bin := sadbdBinary(t)
	page := os.Getpagesize()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, b []byte) []byte
		want   string // in the message
	}{
		{"RecordByte", func(t *testing.T, b []byte) []byte {
			// Every copy of a record (bbolt may keep stale ones in free
			// pages): one of them is live.
			n := 0
			for i := 0; ; {
				j := bytes.Index(b[i:], []byte(`"outTraffic"`))
				if j < 0 {
					break
				}
				b[i+j+2] ^= 0x20 // "OutTraffic": valid JSON, wrong checksum
				i += j + 1
				n++
			}
			if n == 0 {
				t.Fatal("no SA context record in the file")
			}
			return b
		}, "store is corrupt"},
		{"MetaPages", func(_ *testing.T, b []byte) []byte {
			for _, off := range []int{0, page} {
				for i := 40; i < 64; i++ { // the root bucket and freelist page ids
					b[off+i] ^= 0xFF
				}
			}
			return b
		}, "store is corrupt"},
		{"Truncated", func(_ *testing.T, b []byte) []byte {
			// Cut the last page bbolt uses in half (the file goes on past
			// it with preallocated zeros). A meta page holds the high-water
			// mark at offset 56: page header 16, magic, version, page size
			// and flags 16, root bucket 16, freelist page id 8.
			hwm := max(binary.LittleEndian.Uint64(b[56:]), binary.LittleEndian.Uint64(b[page+56:]))
			return b[:(int(hwm)-1)*page+page/2]
		}, "store is corrupt"},
		{"NotAStore", func(_ *testing.T, b []byte) []byte {
			return bytes.Repeat([]byte("not a bbolt file\n"), 1000)
		}, "not created by sadbd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newConfig(t)
			p := daemontest.StartTB(t, bin, cfg)
			admin := openAPI(t, p.Target(), 0)
			pl := addFilters(t, admin)
			for i := range 20 {
				pl.mustPlumb(t, admin, byte(i))
			}
			admin.FwpmEngineClose0()
			if code, err := p.Term(30 * time.Second); err != nil || code != 0 {
				t.Fatalf("sadbd exited with %d, %v", code, err)
			}

			b, err := os.ReadFile(cfg.Store)
			if err != nil {
				t.Fatal(err)
			}
			b = tc.damage(t, b)
			if err := os.WriteFile(cfg.Store, b, 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := os.Chtimes(cfg.Store, old, old); err != nil {
				t.Fatal(err)
			}
			before := sha256.Sum256(b)

			p, err = daemontest.Start(bin, cfg)
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
			if _, err := os.Stat(cfg.Socket); !os.IsNotExist(err) {
				t.Errorf("the socket exists after a refused start: %v", err)
			}

			after, err := os.ReadFile(cfg.Store)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(after) != before {
				t.Error("sadbd changed the damaged store")
			}
			if st, err := os.Stat(cfg.Store); err != nil || !st.ModTime().Equal(old) {
				t.Errorf("the damaged store's modification time: %v, %v; want %v", st.ModTime(), err, old)
			}
		})
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
