//go:build !linux

package bolt

import "os"

// fdatasync makes the data written to f durable; where fdatasync(2) is not
// available, with fsync.
func fdatasync(f *os.File) error { return f.Sync() }
