package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/sadb-dev/sadb/wfp"
)

// maxKeyFile bounds what is read from a key file or standard input.
const maxKeyFile = 64 << 10

// keySet is the key material read from a key file: NAME=HEX lines, blank
// lines and # comments. Names are "cipher" and "auth" for a one-SA
// transform, "esp.cipher", "esp.auth" and "ah.auth" for an ESP+AH bundle.
// Key bytes never appear in its errors.
type keySet struct {
	source string             // where the keys came from, for errors
	keys   map[string]wfp.Key // by name
	used   map[string]bool    // names taken by transform.build
}

// readKeys reads the key file at path, or standard input when path is "-".
func (a *app) readKeys(path string) (*keySet, error) {
	var data []byte
	var err error
	source := path
	if path == "-" {
		source = "standard input"
		data, err = io.ReadAll(io.LimitReader(a.stdin, maxKeyFile+1))
	} else {
		var fi os.FileInfo
		if fi, err = os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(a.stderr, "sadb: warning: key file %s is readable by other users (mode %v)\n", path, fi.Mode().Perm())
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	defer clear(data)
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("key file %s: longer than %d bytes", source, maxKeyFile)
	}
	return parseKeys(data, source)
}

// parseKeys parses key-file text.
func parseKeys(data []byte, source string) (*keySet, error) {
	ks := &keySet{source: source, keys: map[string]wfp.Key{}, used: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFile)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		rawName, val, ok := bytes.Cut(line, []byte("="))
		if !ok {
			ks.zero()
			return nil, fmt.Errorf("key file %s: line %d: want NAME=HEX", source, n)
		}
		name := strings.ToLower(string(bytes.TrimSpace(rawName)))
		if _, dup := ks.keys[name]; dup {
			ks.zero()
			return nil, fmt.Errorf("key file %s: line %d: %s is given twice", source, n, name)
		}
		k, err := decodeKeyHex(val)
		if err != nil {
			ks.zero()
			return nil, fmt.Errorf("key file %s: line %d: %s is not an even number of hex digits", source, n, name)
		}
		if len(k) == 0 {
			ks.zero()
			return nil, fmt.Errorf("key file %s: line %d: %s is empty", source, n, name)
		}
		ks.keys[name] = k
	}
	if err := sc.Err(); err != nil {
		ks.zero()
		return nil, fmt.Errorf("key file %s: %w", source, err)
	}
	return ks, nil
}

// take returns key name, which must be n bytes long for the transform
// named tname (note says what the bytes are).
func (ks *keySet) take(name string, n int, note, tname string) (wfp.Key, error) {
	k, ok := ks.keys[name]
	if !ok {
		return nil, fmt.Errorf("key file %s: %s needs %s= (%d bytes, %d hex digits: %s)", ks.source, tname, name, n, 2*n, note)
	}
	if len(k) != n {
		return nil, fmt.Errorf("key file %s: %s key for %s must be %d bytes (%d hex digits: %s), got %d bytes", ks.source, name, tname, n, 2*n, note, len(k))
	}
	ks.used[name] = true
	return k, nil
}

// leftover reports keys in the file that t does not take.
func (ks *keySet) leftover(t *transform) error {
	var extra []string
	for name := range ks.keys {
		if !ks.used[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	want := t.keyNames()
	return fmt.Errorf("key file %s: %s takes %s, not %s", ks.source, t.name, orNone(want), strings.Join(extra, ", "))
}

// orNone joins names, or says "no keys".
func orNone(names []string) string {
	if len(names) == 0 {
		return "no keys"
	}
	return strings.Join(names, ", ")
}

// zero overwrites every key of ks.
func (ks *keySet) zero() {
	if ks == nil {
		return
	}
	for _, k := range ks.keys {
		k.Zero()
	}
}

// decodeHex decodes hex digits, allowing a 0x prefix and ':' or space
// separators.
func decodeHex(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = strings.NewReplacer(" ", "", ":", "", "\t", "").Replace(s)
	return hex.DecodeString(s)
}

// decodeKeyHex decodes key hex digits like decodeHex, without copying the
// digits into strings that could not be zeroed.
func decodeKeyHex(val []byte) (wfp.Key, error) {
	val = bytes.TrimSpace(val)
	if len(val) >= 2 && val[0] == '0' && (val[1] == 'x' || val[1] == 'X') {
		val = val[2:]
	}
	digits := make([]byte, 0, len(val))
	defer func() { clear(digits[:cap(digits)]) }()
	for _, c := range val {
		if c != ' ' && c != ':' && c != '\t' {
			digits = append(digits, c)
		}
	}
	k := make(wfp.Key, hex.DecodedLen(len(digits)))
	if _, err := hex.Decode(k, digits); err != nil || len(digits)%2 != 0 {
		k.Zero()
		return nil, errors.New("not hexadecimal")
	}
	return k, nil
}
