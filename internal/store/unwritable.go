package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnwritable means the database refused a write because it cannot write
// at all right now: the disk is full or the file system is read-only. It is
// a condition of the machine, not of the request, so callers answer 503
// with Retry-After and readiness checks fail until a write succeeds again.
var ErrUnwritable = errors.New("store cannot write (disk full or read-only)")

// WriteFaults is an optional Driver capability: the driver recognises its
// dialect's "cannot write" errors and probes whether writing works again.
// Found by type assertion; a driver without it never reports ErrUnwritable.
type WriteFaults interface {
	// WriteFault reports whether err means the store cannot write. It may
	// also prepare the driver to recover (SQLite drops connections opened
	// while the file was read-only, which would stay read-only forever).
	WriteFault(err error) bool
	// ProbeWrite makes one small durable write and returns its error.
	ProbeWrite(ctx context.Context) error
}

// classify wraps err with ErrUnwritable when drv recognises it.
func classify(drv Driver, err error) error {
	if err == nil || errors.Is(err, ErrUnwritable) {
		return err
	}
	if wf, ok := drv.(WriteFaults); ok && wf.WriteFault(err) {
		return fmt.Errorf("%w: %w", ErrUnwritable, err)
	}
	return err
}
