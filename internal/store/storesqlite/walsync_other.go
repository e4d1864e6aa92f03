//go:build !linux

package storesqlite

import "os"

// syncFile is fsync(2) where fdatasync does not exist, as SQLite's own
// commit sync there.
func syncFile(f *os.File) error { return f.Sync() }
