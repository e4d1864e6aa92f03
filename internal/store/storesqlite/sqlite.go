// Package storesqlite is the embedded store driver: one SQLite file in WAL
// mode with synchronous=FULL (an acknowledged event survives power loss),
// through the pure-Go modernc.org/sqlite, so the binary needs no cgo.
//
// SQLite allows one writer at a time, so the driver keeps one write
// connection (writes queue in Go instead of spinning on SQLITE_BUSY) and a
// small pool of read connections that see committed data through WAL.
package storesqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"sort"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/sluicehq/sluice/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Driver is the SQLite store.Driver.
type Driver struct {
	w, r *sql.DB

	stmts  map[string]*sql.Stmt // hot statements prepared on the write connection; read-only after Open
	rstmts map[string]*sql.Stmt // the hot reads prepared on the read pool (each connection prepares once)

	ck   *sql.DB       // the checkpointer's connection; nil when read-only
	ckpt *checkpointer // nil when read-only
	wal  *walSyncer    // syncs the committer's commits; nil when read-only or not a plain file
}

// prepareHot prepares the hot-path statements (captures, audit appends)
// once on the write connection, before any transaction can hold it; parsing
// SQL on every call would otherwise dominate a capture's cost.
func (d *Driver) prepareHot(ctx context.Context) error {
	qs := append(hotQueries[:len(hotQueries):len(hotQueries)], eventUpdateQueries()...)
	for _, n := range auditRowsPerInsert {
		if n > 1 {
			qs = append(qs, auditInsertQuery(n))
		}
	}
	for _, q := range qs {
		s, err := d.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		d.stmts[q] = s
		if strings.HasPrefix(q, "SELECT") {
			rs, err := d.r.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
			d.rstmts[q] = rs
		}
	}
	return nil
}

var _ store.Driver = (*Driver)(nil)

// Page cache sizes (KiB) and the read pool size; see Open.
const (
	writerCacheKiB = 64 << 10
	readerCacheKiB = 8 << 10
	readers        = 4
)

// Open opens (creating if needed) the database file at path and applies any
// pending migrations.
func Open(ctx context.Context, path string) (*Driver, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	if err := restrictFiles(path); err != nil {
		return nil, err
	}
	syncData()
	// The page cache is per connection and set deliberately: the single
	// writer gets writerCacheKiB, so the indexes captures and claims touch
	// (recent events, the pending part of the queue, the audit tail) stay
	// in memory; the readers, which serve API pages and pre-send lookups,
	// get readerCacheKiB each. At most writerCacheKiB + readers*readerCacheKiB
	// (64 + 4*8 = 96 MiB) of RSS is page cache, however large the store.
	// The OS page cache holds the rest of the file.
	dsnWith := func(kib int, more ...string) string {
		v := url.Values{"_txlock": q["_txlock"], "_pragma": append(append(slices.Clone(q["_pragma"]), fmt.Sprintf("cache_size(-%d)", kib)), more...)}
		return "file:" + path + "?" + v.Encode()
	}
	dsn := dsnWith(writerCacheKiB, fmt.Sprintf("wal_autocheckpoint(%d)", writerAutoCheckpoint))
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsnWith(readerCacheKiB))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	// The checkpointer copies pages, it needs no cache of its own.
	ck, err := sql.Open("sqlite", dsnWith(1024))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	d := &Driver{w: w, r: r, ck: ck, stmts: map[string]*sql.Stmt{}, rstmts: map[string]*sql.Stmt{}}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.prepareHot(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if plainFile(path) {
		// The pin needs no cache: it only holds the WAL open.
		if d.wal, err = startWALSyncer(ctx, path, dsnWith(64)); err != nil {
			d.Close()
			return nil, err
		}
	}
	d.ckpt = startCheckpointer(ck)
	return d, nil
}

func (d *Driver) migrate(ctx context.Context) error {
	if _, err := d.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var n int
		if err := d.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := d.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return nil
}

// Name implements store.Driver.
func (d *Driver) Name() string { return "sqlite" }

// SupportsSkipLocked implements store.Driver: SQLite has one writer.
func (d *Driver) SupportsSkipLocked() bool { return false }

// Executor implements store.Driver.
func (d *Driver) Executor() store.Executor { return (&executor{r: d.r, w: d.w, d: d}).shared() }

// Begin implements store.Driver.
func (d *Driver) Begin(ctx context.Context) (store.ExecutorTx, error) {
	if err := d.wal.failed(); err != nil {
		return nil, err
	}
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	t := &executorTx{tx: tx}
	t.executor = executor{r: tx, w: tx, head: &t.head, pending: &t.pending, held: &t.held, txStmts: &t.stmts, d: d, tx: tx}
	t.executor.shared()
	return t, nil
}

// Close implements store.Driver.
func (d *Driver) Close() error {
	d.ckpt.close()
	d.wal.close()
	if d.ck != nil {
		d.ck.Close()
	}
	for _, s := range d.stmts {
		s.Close()
	}
	for _, s := range d.rstmts {
		s.Close()
	}
	err1 := d.r.Close()
	err2 := d.w.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type executorTx struct {
	executor
	tx      *sql.Tx
	head    chainHead
	pending []*store.AuditEntry
	held    heldCache
	stmts   map[*sql.Stmt]*sql.Stmt
}

// chainHead caches the audit chain's last entry inside one transaction, so
// a batch of appends reads it once.
type chainHead struct {
	valid bool
	seq   int64
	hash  string
}

var _ store.ExecutorTx = (*executorTx)(nil)

// Commit writes the queued audit entries, then commits.
func (t *executorTx) Commit() error {
	if err := t.flushAudit(context.Background()); err != nil {
		t.tx.Rollback()
		t.d.ckpt.failed()
		return err
	}
	if err := t.tx.Commit(); err != nil {
		t.d.ckpt.failed()
		return err
	}
	t.d.ckpt.committed()
	return nil
}

// Rollback implements store.ExecutorTx. A rollback after the commit (a
// deferred one) is a no-op and does not hold checkpoints back.
func (t *executorTx) Rollback() error {
	err := t.tx.Rollback()
	if !errors.Is(err, sql.ErrTxDone) {
		t.d.ckpt.failed()
	}
	return err
}
