package storesqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/store"
)

// The group committer's transactions commit with synchronous=NORMAL: the
// COMMIT writes the WAL frames and returns without syncing, and walSyncer,
// a goroutine of its own, fdatasyncs the WAL. A transaction is reported
// durable (store.DurableTx.Durable) only once a sync that started after
// its COMMIT returned has completed, so an acknowledgement still means
// what it meant with synchronous=FULL; meanwhile the writer runs the next
// batch, and one sync covers every commit made before it started. Every
// other write (migrations, the readiness probe, writes outside the
// committer) keeps synchronous=FULL: the write connection is switched to
// NORMAL around the committer's transaction only. Why this is as durable
// as FULL: docs/adr/0046-sync-behind-the-writer.md.

var (
	_ store.SyncBehind  = (*Driver)(nil)
	_ store.DurableTx   = (*behindTx)(nil)
	_ store.SyncCounter = (*Driver)(nil)
)

// walSyncer syncs the WAL file behind the writer. Commits are numbered
// (note); synced is the highest number a completed sync covers.
type walSyncer struct {
	path string // the database's -wal file
	db   string // the database file

	// pin is a connection held open for the store's life. SQLite deletes
	// the WAL when its last connection closes (sqlite3WalClose, after a
	// checkpoint); the pool's connections may all close (idle ones are
	// dropped after a write fault), and a WAL created anew would leave f
	// pointing at a deleted file. An open connection in WAL mode keeps a
	// shared lock on the database file, so no other connection's close
	// gets the exclusive lock that deleting the WAL needs.
	pin *sql.Conn
	pdb *sql.DB

	mu     sync.Mutex
	cond   sync.Cond
	f      *os.File      // the WAL, opened by us: one inode, any descriptor syncs it; the loop's alone
	noted  uint64        // commits noted so far
	synced uint64        // commits covered by a completed sync
	err    error         // the failed sync; sticky (fail-stop)
	closed bool          // close was called
	ended  bool          // the loop returned: no sync will come
	cycle  chan struct{} // closed when a sync completes, then replaced; closed for good when the loop ends

	kick chan struct{}
	done chan struct{}

	// syncFile is fdatasync (fsync where there is none); tests replace it
	// (under mu) to block or fail a sync.
	syncFile func(*os.File) error

	syncs atomic.Uint64 // completed syncs, for Syncs
}

// startWALSyncer opens the WAL of the database at path (after at least
// one connection read it in WAL mode, so the file exists) and starts the
// sync loop.
func startWALSyncer(ctx context.Context, path, pinDSN string) (*walSyncer, error) {
	s := &walSyncer{path: path + "-wal", db: path, kick: make(chan struct{}, 1), done: make(chan struct{}), syncFile: syncFile, cycle: make(chan struct{})}
	s.cond.L = &s.mu
	pdb, err := sql.Open("sqlite", pinDSN)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	pdb.SetMaxOpenConns(1)
	pin, err := pdb.Conn(ctx)
	if err == nil {
		// A read puts the connection in WAL mode and takes the shared
		// lock it then keeps (pager_unlock leaves a WAL-mode pager's
		// database lock alone).
		var n int
		err = pin.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n)
	}
	if err != nil {
		if pin != nil {
			pin.Close()
		}
		pdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.pin, s.pdb = pin, pdb
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("open wal: %w", err)
	}
	s.f = f
	// SQLite syncs the directory after creating the WAL only from the
	// connection that created it, and only at that connection's first
	// sync; a WAL created by a reader would miss it. Once is enough.
	if err := syncDir(filepath.Dir(path)); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.loop()
	return s, nil
}

// note records one commit that returned and wakes the sync loop; the
// number it returns is what wait takes.
func (s *walSyncer) note() uint64 {
	s.mu.Lock()
	s.noted++
	n := s.noted
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // a sync is due anyway; it will see this commit
	}
	return n
}

// wait blocks until commit n is covered by a completed sync, or a sync
// failed.
func (s *walSyncer) wait(n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.synced < n && s.err == nil && !s.ended {
		s.cond.Wait()
	}
	switch {
	case s.synced >= n:
		return nil
	case s.err != nil:
		return s.err
	}
	// Committed after the store closed (a misuse): the last
	// connection's close checkpoints it, but no answer says so.
	return fmt.Errorf("sync: %w", store.ErrClosed)
}

// syncing is store.SyncBehind's Syncing: a channel closed when the next
// sync completes (covering every commit noted so far, unless that sync had
// started before the last of them), nil if all are synced or no sync will
// come.
func (s *walSyncer) syncing() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.synced == s.noted || s.err != nil || s.ended {
		return nil
	}
	return s.cycle
}

// failed is the error of a failed sync, after which the store refuses
// writes (fail-stop), or nil.
func (s *walSyncer) failed() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *walSyncer) loop() {
	defer close(s.done)
	defer func() {
		s.mu.Lock()
		s.ended = true
		close(s.cycle)
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	for range s.kick {
		s.mu.Lock()
		target, synced, closed, sync := s.noted, s.synced, s.closed, s.syncFile
		s.mu.Unlock()
		if target > synced {
			// Every commit counted in target returned before this
			// sync starts, so the sync covers its frames.
			err := s.syncWAL(sync)
			s.mu.Lock()
			if err != nil {
				s.err = fmt.Errorf("%w: %w: sync %s: %w", store.ErrUnwritable, store.ErrNotDurable, s.path, err)
			} else {
				s.synced = target
				close(s.cycle)
				s.cycle = make(chan struct{})
			}
			s.cond.Broadcast()
			s.mu.Unlock()
			if err != nil {
				return
			}
			s.syncs.Add(1)
		}
		if closed {
			return
		}
	}
}

// syncWAL syncs the WAL file. The pin makes a new WAL impossible while
// the store is open; should the path ever name another file anyway, the
// file there now is opened and synced, and so are the database file and
// the directory: SQLite deletes a WAL only after checkpointing all of it
// into the database file and syncing that, so what this commit wrote is
// in one of the two.
func (s *walSyncer) syncWAL(syncFile func(*os.File) error) error {
	if fi, err := os.Stat(s.path); err == nil {
		if cur, err := s.f.Stat(); err == nil && os.SameFile(fi, cur) {
			return syncFile(s.f)
		}
	}
	if f, err := os.OpenFile(s.path, os.O_RDWR, 0); err == nil {
		s.f.Close()
		s.f = f
		if err := syncFile(f); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	db, err := os.OpenFile(s.db, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := syncFile(db); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.db))
}

// close syncs what is left, stops the loop and releases the pin. Waiters
// of a failed sync have had their answer.
func (s *walSyncer) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	<-s.done
	s.closeFiles()
}

func (s *walSyncer) closeFiles() {
	if s.f != nil {
		s.f.Close()
	}
	if s.pin != nil {
		s.pin.Close()
	}
	if s.pdb != nil {
		s.pdb.Close()
	}
}

// syncDir syncs a directory, so a file created in it stays there after a
// crash. Windows has no such sync (and needs none).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Syncs implements store.SyncCounter: the WAL syncs completed behind the
// writer.
func (d *Driver) Syncs() uint64 {
	if d.wal == nil {
		return 0
	}
	return d.wal.syncs.Load()
}

// BeginSyncBehind implements store.SyncBehind: a transaction on the write
// connection switched to synchronous=NORMAL for its length (the pragma
// cannot change inside a transaction), whose Durable waits for the WAL
// sync. A read-only or in-memory store has no syncer and gets an ordinary
// transaction that is durable at its commit.
func (d *Driver) BeginSyncBehind(ctx context.Context) (store.DurableTx, error) {
	if d.wal == nil {
		tx, err := d.Begin(ctx)
		if err != nil {
			return nil, err
		}
		return durableAtCommit{tx.(*executorTx)}, nil
	}
	if err := d.wal.failed(); err != nil {
		return nil, err
	}
	conn, err := d.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous=NORMAL`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		restoreFull(conn)
		return nil, fmt.Errorf("begin: %w", err)
	}
	t := &behindTx{conn: conn}
	t.executorTx.tx = tx
	t.executor = executor{r: tx, w: tx, head: &t.head, pending: &t.pending, held: &t.held, txStmts: &t.stmts, d: d, tx: tx}
	t.executor.shared()
	return t, nil
}

// Syncing implements store.SyncBehind.
func (d *Driver) Syncing() <-chan struct{} {
	if d.wal == nil {
		return nil
	}
	return d.wal.syncing()
}

// behindTx is a committer transaction whose commit is synced behind.
type behindTx struct {
	executorTx
	conn     *sql.Conn
	released bool
	n        uint64 // its commit's number with the syncer; 0 before
}

// Commit commits without syncing and notes the commit with the syncer.
func (t *behindTx) Commit() error {
	err := t.executorTx.Commit()
	if err == nil {
		t.n = t.d.wal.note()
	}
	t.release()
	return err
}

// Rollback implements store.ExecutorTx.
func (t *behindTx) Rollback() error {
	err := t.executorTx.Rollback()
	t.release()
	return err
}

// Durable implements store.DurableTx.
func (t *behindTx) Durable() error {
	if t.n == 0 {
		return fmt.Errorf("durable: %w", store.ErrNotCommitted)
	}
	return t.d.wal.wait(t.n)
}

// release puts the connection back with synchronous=FULL, so that a write
// outside the committer is durable at its commit as before.
func (t *behindTx) release() {
	if t.released {
		return
	}
	t.released = true
	restoreFull(t.conn)
}

// restoreFull sets conn back to synchronous=FULL and returns it to the
// pool; if that fails the connection is discarded rather than left
// syncing less than the DSN says (the pool opens a fresh one).
func restoreFull(conn *sql.Conn) {
	if _, err := conn.ExecContext(context.Background(), `PRAGMA synchronous=FULL`); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	conn.Close()
}

// durableAtCommit is an ordinary transaction as a store.DurableTx: its
// commit was synchronous=FULL.
type durableAtCommit struct{ *executorTx }

func (durableAtCommit) Durable() error { return nil }
