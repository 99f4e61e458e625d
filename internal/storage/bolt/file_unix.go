//go:build unix

package bolt

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// errLockTimeout is returned by lockFile when the lock stayed taken.
var errLockTimeout = errors.New("lock timeout")

// lockPoll is how often lockFile retries a taken lock.
const lockPoll = 10 * time.Millisecond

// lockFile takes an exclusive flock on f, retrying until timeout. The lock
// belongs to f's open file description: bbolt's own flock on the same file
// succeeds at once, and closing f releases it.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return errLockTimeout
		}
		time.Sleep(min(left, lockPoll))
	}
}

// mapFile maps the first size bytes of f read-only. The caller must call
// unmap when done with the bytes.
func mapFile(f *os.File, size int64) (data []byte, unmap func(), err error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("cannot map %d bytes", size)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { syscall.Munmap(data) }, nil
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
