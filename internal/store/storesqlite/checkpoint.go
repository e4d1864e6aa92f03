package storesqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// WAL checkpoints run beside the writer, not on it.
//
// With SQLite's automatic checkpoint the connection whose commit pushes the
// WAL past 1,000 pages copies every page back into the database file and
// fsyncs it before that commit returns. On Sluice's single write connection
// that stalled the group committer, and so every capture and settle queued
// behind it, for tens of milliseconds several times a second: the tail of
// acknowledgement latency. So the writer's automatic checkpoint is off
// (wal_autocheckpoint(0)) and a background goroutine on its own connection
// runs PASSIVE checkpoints, which copy committed frames while the writer
// keeps committing.
//
// A checkpoint that runs while the writer appends never catches up with the
// end of the WAL, and SQLite only starts the WAL over from its beginning
// when every frame has been copied; left alone the file would grow without
// bound. So when the WAL passes walRestartFrames, the writer itself runs a
// PASSIVE checkpoint before its next transaction: by then the background
// has copied almost everything, so this costs the few frames since and one
// fsync of the database file, and the next write restarts the WAL.
//
// Durability is unchanged: a commit is durable once its WAL frames are
// fsynced (synchronous=FULL); checkpoints only move committed pages.
const (
	checkpointEvery  = 100 * time.Millisecond
	walRestartFrames = 1000
)

type checkpointer struct {
	db      *sql.DB
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	restart atomic.Bool // the writer should checkpoint before its next transaction
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer that the WAL grew.
func (c *checkpointer) committed() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	idle := time.NewTicker(5 * time.Second) // writes outside the committer do not wake us
	defer idle.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-idle.C:
		}
		log, err := c.checkpoint(context.Background())
		if err == nil && log >= walRestartFrames {
			c.restart.Store(true)
		}
		// Batch what the next interval commits into one checkpoint.
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// checkpoint runs a PASSIVE checkpoint and returns the WAL's size in frames.
// An error (a busy lock, a full disk) is left for the next round: the WAL
// keeps every committed frame until a checkpoint succeeds.
func (c *checkpointer) checkpoint(ctx context.Context) (int, error) {
	var busy, log, copied int
	err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied)
	return log, err
}

// beforeWrite runs on the write connection before a transaction: the
// writer's own catch-up checkpoint when the WAL has grown past
// walRestartFrames (see above).
func (c *checkpointer) beforeWrite(ctx context.Context, w *sql.DB) {
	if c == nil || !c.restart.Load() {
		return
	}
	c.restart.Store(false)
	// A failure here (a busy reader, a full disk) only postpones the
	// restart; the transaction that follows reports its own errors.
	var busy, log, copied int
	if err := w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err != nil {
		c.restart.Store(true)
	}
}

func (c *checkpointer) close() {
	if c == nil {
		return
	}
	close(c.stop)
	<-c.done
	c.db.Close()
}
