package storesqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// TestWALStaysBounded: checkpoints run beside the writer (checkpoint.go).
// A background checkpoint never catches up with a writer that commits
// without pause, and SQLite starts the WAL over only once every frame is
// copied, so without the writer's own catch-up checkpoint the WAL grows
// with every commit. 2,000 commits of a 4 KiB event write about 8,000
// frames (32 MiB); the WAL must have been restarted on the way.
func TestWALStaysBounded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	d, err := storesqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	raw := bytes.Repeat([]byte("x"), 4096)
	now := time.Now()
	for i := range 2000 {
		tx, err := d.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e := &store.Event{ID: fmt.Sprintf("evt_%06d", i), Source: "s", State: store.EventRejected, Raw: raw, ReceivedAt: now, UpdatedAt: now}
		if _, _, err := tx.EventInsert(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// The high-water mark is the restart threshold (1,000 frames) plus
	// what the writer commits in one checkpoint interval: 8-9 MiB here.
	if fi.Size() > 16<<20 {
		t.Errorf("WAL is %d KiB after 2,000 commits of 4 KiB; it is not being restarted", fi.Size()>>10)
	}
}
