package storesqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	sqlite "modernc.org/sqlite"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.WriteFaults = (*Driver)(nil)

// SQLite result codes (primary, the low byte of an extended code) that mean
// the file cannot be written at all; see https://www.sqlite.org/rescode.html.
const (
	codeReadOnly = 8
	codeIOErr    = 10
	codeFull     = 13
	codeCantOpen = 14
)

// WriteFault implements store.WriteFaults. A connection that met a
// read-only file keeps failing after the file becomes writable again, so
// on such an error the idle write connection is dropped and the next write
// opens a fresh one.
func (d *Driver) WriteFault(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case codeReadOnly, codeIOErr, codeCantOpen:
		d.w.SetMaxIdleConns(0)
		d.w.SetMaxIdleConns(1)
		return true
	case codeFull:
		return true
	}
	return false
}

// ProbeWrite implements store.WriteFaults: it rewrites one row of
// write_probe in its own transaction on the write connection.
func (d *Driver) ProbeWrite(ctx context.Context) error {
	if err := d.wal.failed(); err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	_, err := d.w.ExecContext(ctx, `INSERT INTO write_probe (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = write_probe.n + 1`)
	if err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	return nil
}

// plainFile reports whether path names a database file (not an in-memory
// database or a URI the caller manages), whose -wal file is path+"-wal".
func plainFile(path string) bool {
	return path != "" && !strings.HasPrefix(path, ":") && !strings.HasPrefix(path, "file:")
}

// restrictFiles creates the database file readable by its owner only, and
// takes group and world access away from an existing database and its
// -wal and -shm files: the store holds every payload and the audit log.
// SQLite creates -wal and -shm with the database file's mode.
func restrictFiles(path string) error {
	if !plainFile(path) {
		return nil // in-memory or a URI the caller manages
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create sqlite %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("restrict %s: %w", p, err)
			}
		}
	}
	return nil
}
