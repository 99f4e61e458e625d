//go:build !unix

package bolt

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// errLockTimeout is returned by lockFile when the lock stayed taken.
var errLockTimeout = errors.New("lock timeout")

// lockFile is implemented on unix only: bbolt's own lock on other systems
// does not combine with a lock taken before it on the same file.
func lockFile(*os.File, time.Duration) error {
	return fmt.Errorf("bolt: file locking: %w", errors.ErrUnsupported)
}

// mapFile is not needed where lockFile fails first.
func mapFile(*os.File, int64) ([]byte, func(), error) { return nil, nil, errors.ErrUnsupported }

// syncDir is not needed where lockFile fails first.
func syncDir(string) error { return errors.ErrUnsupported }
