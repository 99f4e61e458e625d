//go:build linux

package bolt

import (
	"errors"
	"os"
	"syscall"
)

// fdatasync makes the data written to f durable, and the metadata needed to
// read it back (not its modification time). The log relies on it: its
// blocks are written once with zeros when it is made, so a frame's
// fdatasync writes the frame and flushes the device's cache, without a
// file system journal commit.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
