package storesqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// gatedSync replaces the WAL syncer's sync: each sync announces itself on
// started and waits for a value on release (nil: sync for real).
type gatedSync struct {
	started chan struct{}
	release chan error
}

// gate gates d's syncs until the test ends; call it after registering the
// cleanups that close the committer and d.
func gate(t *testing.T, d *storesqlite.Driver) *gatedSync {
	t.Helper()
	g := &gatedSync{started: make(chan struct{}, 16), release: make(chan error)}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) }) // a failed test must not hang in Close
	storesqlite.SetSyncFile(d, func(f *os.File) error {
		g.started <- struct{}{}
		select {
		case err := <-g.release:
			if err != nil {
				return err
			}
		case <-stop:
		}
		return storesqlite.RealSyncFile(f)
	})
	return g
}

func openFile(t *testing.T) (*storesqlite.Driver, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sync.db")
	d, err := storesqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

// putState is a unit that writes destination state name.
func putState(name string) store.TxFunc {
	return func(ctx context.Context, tx store.ExecutorTx) error {
		return tx.DestinationStatePut(ctx, &store.DestinationState{Name: name, Paused: true, Reason: "r", UpdatedAt: time.Unix(1, 0)})
	}
}

func doAsync(c *store.Committer, fn store.TxFunc) chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.Do(context.Background(), fn) }()
	return ch
}

// visible waits until another connection (the read pool) sees name's
// state: its transaction committed.
func visible(t *testing.T, d *storesqlite.Driver, name string) {
	t.Helper()
	for {
		st, err := d.Executor().DestinationStateGet(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Paused {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func answered(ch chan error) bool {
	select {
	case err := <-ch:
		ch <- err
		return true
	default:
		return false
	}
}

// TestSyncBehindAnswersAfterItsSync: a committer unit on SQLite is answered
// only after a sync of the WAL that started after its commit has completed,
// though other connections see its rows as soon as it committed.
func TestSyncBehindAnswersAfterItsSync(t *testing.T) {
	d, path := openFile(t)
	c := store.NewCommitter(d, 64)
	t.Cleanup(c.Close)
	g := gate(t, d) // its cleanup runs first

	a := doAsync(c, putState("a"))
	<-g.started // the first sync started: a committed before it
	visible(t, d, "a")
	if answered(a) {
		t.Fatal("unit answered while the sync covering its commit still runs")
	}
	g.release <- nil
	if err := <-a; err != nil {
		t.Fatalf("a: %v", err)
	}

	// Many units at once: each sync notes, as it starts, the rows
	// committed by then (read through a connection of its own); a unit
	// must not be answered before a completed sync noted its row.
	spy, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	var mu sync.Mutex
	durable := map[string]bool{}
	storesqlite.SetSyncFile(d, func(f *os.File) error {
		rows, err := spy.Query(`SELECT name FROM destination_states`)
		if err != nil {
			return err
		}
		var seen []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			seen = append(seen, n)
		}
		rows.Close()
		if err := storesqlite.RealSyncFile(f); err != nil {
			return err
		}
		mu.Lock()
		for _, n := range seen {
			durable[n] = true
		}
		mu.Unlock()
		return nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				name := fmt.Sprintf("u%d-%d", w, i)
				if err := c.Do(context.Background(), putState(name)); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ok := durable[name]
				mu.Unlock()
				if !ok {
					errs <- fmt.Errorf("%s answered before a sync that started after its commit completed", name)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := c.Stats()
	if st.Commits == 0 || st.Units < 401 || st.Syncs == 0 || st.Syncs > st.Commits {
		t.Errorf("stats %+v: want commits, at least 401 units, and no more syncs than commits", st)
	}
	t.Logf("%+v", st)

	// Outside the committer the write connection is synchronous=FULL.
	var level int
	if err := storesqlite.WriteDB(d).QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != 2 {
		t.Fatalf("write connection synchronous=%d after a committer transaction, want 2 (FULL)", level)
	}
}

// TestSyncFailureStopsWrites: a failed WAL sync answers the units it was
// to cover with ErrNotDurable (they committed: ErrNotCommitted would be a
// lie) and the store refuses every write after it, the readiness probe
// included: a failed fsync is not retried.
func TestSyncFailureStopsWrites(t *testing.T) {
	d, _ := openFile(t)
	c := store.NewCommitter(d, 64)
	t.Cleanup(c.Close)
	g := gate(t, d) // its cleanup runs first

	a := doAsync(c, putState("a"))
	<-g.started
	visible(t, d, "a")
	g.release <- syscall.EIO
	err := <-a
	if !errors.Is(err, store.ErrNotDurable) || !errors.Is(err, store.ErrUnwritable) {
		t.Fatalf("unit after a failed sync: %v, want ErrNotDurable and ErrUnwritable", err)
	}
	if errors.Is(err, store.ErrNotCommitted) {
		t.Fatalf("unit after a failed sync: %v says not committed", err)
	}
	if err := c.Do(context.Background(), putState("b")); !errors.Is(err, store.ErrNotDurable) {
		t.Fatalf("write after a failed sync: %v, want ErrNotDurable", err)
	}
	if st, err := d.Executor().DestinationStateGet(context.Background(), "b"); err != nil || st.Paused {
		t.Fatalf("write after a failed sync reached the store: %+v %v", st, err)
	}
	if _, err := d.Begin(context.Background()); !errors.Is(err, store.ErrNotDurable) {
		t.Fatalf("Begin after a failed sync: %v, want ErrNotDurable", err)
	}
	if err := c.Writable(context.Background()); !errors.Is(err, store.ErrUnwritable) {
		t.Fatalf("readiness after a failed sync: %v, want ErrUnwritable", err)
	}
	select {
	case <-g.started:
		t.Fatal("synced again after a failed sync")
	default:
	}
}

// TestWALFileStaysTheSQLiteOne: the syncer's descriptor is the WAL's
// inode even after every pooled connection closed (a write fault drops
// the writer's): the pinned connection keeps SQLite from deleting the
// WAL. And should the file at the path ever be another, the next sync
// opens and syncs that one.
func TestWALFileStaysTheSQLiteOne(t *testing.T) {
	d, path := openFile(t)
	c := store.NewCommitter(d, 64)
	defer c.Close()
	same := func() bool {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		cur, err := storesqlite.WALFile(d).Stat()
		if err != nil {
			t.Fatal(err)
		}
		return os.SameFile(fi, cur)
	}
	if err := c.Do(context.Background(), putState("a")); err != nil {
		t.Fatal(err)
	}
	storesqlite.DropIdle(d)
	if !same() {
		t.Fatal("the WAL was created anew after the pools closed their connections")
	}
	if err := c.Do(context.Background(), putState("b")); err != nil {
		t.Fatal(err)
	}
	if !same() {
		t.Fatal("the WAL was created anew after the pools closed their connections")
	}

	other, err := os.CreateTemp(t.TempDir(), "stale")
	if err != nil {
		t.Fatal(err)
	}
	storesqlite.SwapWALFile(d, other).Close()
	if same() {
		t.Fatal("swap did not take")
	}
	if err := c.Do(context.Background(), putState("c")); err != nil {
		t.Fatal(err)
	}
	if !same() {
		t.Fatal("the sync did not reopen the WAL at its path")
	}
}
