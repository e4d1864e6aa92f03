package storesqlite

import (
	"database/sql"
	"os"
)

// SetSyncFile replaces how d's WAL syncer syncs a file.
func SetSyncFile(d *Driver, sync func(*os.File) error) {
	d.wal.mu.Lock()
	d.wal.syncFile = sync
	d.wal.mu.Unlock()
}

// RealSyncFile is the sync SetSyncFile replaces.
var RealSyncFile = syncFile

// WriteDB is d's write connection pool.
func WriteDB(d *Driver) *sql.DB { return d.w }

// DropIdle closes every idle connection of d's pools (the write pool, the
// readers, the checkpointer), as a write fault does to the writer's.
func DropIdle(d *Driver) {
	for _, db := range []*sql.DB{d.w, d.r, d.ck} {
		db.SetMaxIdleConns(0)
	}
	d.w.SetMaxIdleConns(1)
	d.r.SetMaxIdleConns(readers)
	d.ck.SetMaxIdleConns(1)
}

// SwapWALFile makes d's syncer hold f instead of the WAL, as if the WAL
// had been created anew since it was opened; it returns the file held.
func SwapWALFile(d *Driver, f *os.File) *os.File {
	d.wal.mu.Lock() // the loop is idle between syncs in the tests that call it
	defer d.wal.mu.Unlock()
	old := d.wal.f
	d.wal.f = f
	return old
}

// WALFile is the file d's syncer syncs now.
func WALFile(d *Driver) *os.File {
	d.wal.mu.Lock()
	defer d.wal.mu.Unlock()
	return d.wal.f
}
