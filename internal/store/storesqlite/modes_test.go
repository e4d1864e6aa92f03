package storesqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// TestFilesAreOwnerOnly: the database and its -wal/-shm files were created
// 0644 (world-readable payloads and audit log). They are created 0600 under
// a permissive umask, and an existing 0644 database is tightened on open.
func TestFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fresh, existing} {
		d, err := storesqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.ProbeWrite(ctx); err != nil { // a write, so -wal and -shm exist
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
			}
		}
		d.Close()
	}
}
