package storesqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
)

// Checkpoints (copying committed pages from the WAL back into the database
// file so the WAL can start over) run on a connection of their own, not on
// the writer. SQLite's default checkpoints from the committing connection
// once the WAL passes 1,000 pages, inside that commit: the group committer
// then waits for the copy and two more fsyncs (WAL, then database file)
// while every capture queued behind it waits too. A PASSIVE checkpoint on
// another connection runs beside the writer (it never blocks it; the
// writer restarts the WAL at its next commit once all of it is copied).
// See docs/adr/0038-sqlite-commit-path.md.
const (
	// checkpointEvery is how many commits the checkpointer lets pass
	// before copying them back (about 50 pages each under load, so close
	// to SQLite's own 1,000-page threshold).
	checkpointEvery = 16
	// checkpointIdle copies back what fewer commits left after a quiet
	// while, so an idle store's WAL is not left holding them.
	checkpointIdle = time.Second
	// writerAutoCheckpoint is the writer's own threshold (pages), kept as
	// a backstop: if the checkpointer falls far behind (a long reader
	// pinning the WAL, say), the writer checkpoints as SQLite always did.
	writerAutoCheckpoint = 10000
)

// checkpointer runs PASSIVE checkpoints on db after every
// checkpointEvery commits, or after checkpointIdle with any.
type checkpointer struct {
	db      *sql.DB
	commits chan struct{}
	stop    chan struct{}
	stopped sync.Once
	done    sync.WaitGroup
	// held is set by a transaction that failed or rolled back and
	// cleared by the next commit. A checkpoint that copied the whole WAL
	// back would let the writer start the WAL over in space the file
	// already has, so after a failure for want of space (a full disk) a
	// small write (the readiness probe) could succeed while captures
	// still fail; the writer alone would never do that, since it only
	// checkpoints after a commit. ADR 0033 rejected background
	// checkpoints for exactly that flap (TestStoreUnwritableAnswers503AndRecovers).
	held atomic.Bool
}

func startCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, commits: make(chan struct{}, checkpointEvery), stop: make(chan struct{})}
	c.done.Add(1)
	go c.loop()
	return c
}

// committed tells the checkpointer of one commit; it never blocks.
func (c *checkpointer) committed() {
	if c == nil {
		return
	}
	c.held.Store(false)
	select {
	case c.commits <- struct{}{}:
	default: // full: a checkpoint is due anyway
	}
}

// failed holds checkpoints back until the next commit (see held).
func (c *checkpointer) failed() {
	if c != nil {
		c.held.Store(true)
	}
}

func (c *checkpointer) loop() {
	defer c.done.Done()
	idle := time.NewTimer(checkpointIdle)
	defer idle.Stop()
	n := 0
	for {
		select {
		case <-c.stop:
			return
		case <-c.commits:
			n++
			if n < checkpointEvery {
				if n == 1 {
					idle.Reset(checkpointIdle)
				}
				continue
			}
		case <-idle.C:
			if n == 0 {
				continue
			}
		}
		if c.held.Load() {
			continue // the next commit clears it and counts on from n
		}
		n = 0
		// An error (SQLITE_BUSY while another checkpoint runs, an I/O
		// error the writer will meet and report itself) leaves the pages
		// in the WAL, where readers find them; the next round, or the
		// writer's backstop, copies them.
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

// close stops the loop; the last connection to close checkpoints the rest.
func (c *checkpointer) close() {
	if c == nil {
		return
	}
	c.stopped.Do(func() { close(c.stop) })
	c.done.Wait()
}

// syncData makes SQLite commit with fdatasync(2) instead of fsync(2), as
// SQLite's own builds for Linux do (modernc.org/sqlite keeps the source's
// fsync unless told). fdatasync flushes the data and the metadata needed
// to read it back (the file's size among them), so an acknowledged commit
// is as durable; it skips the timestamps, whose journal commit on ext4 is
// most of what an fsync of the reused WAL waits for (1.9 ms -> 1.2 ms per
// commit measured on this machine). The switch is process-wide and a
// no-op where fdatasync does not exist (macOS, Windows: they keep fsync).
func syncData() { _, _ = sqlite.Fdatasync(true) }
