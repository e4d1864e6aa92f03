// Package storepg is the PostgreSQL store driver, for teams that run several
// `sluice serve` instances against one database. It speaks pgx v5 through a
// pgxpool; nothing of pgx leaves the package (errors are translated at the
// seam, see translate).
//
// # Connections and statements
//
// Open takes a libpq-style DSN (URL or key=value). Pool settings come from the
// DSN's pool_* parameters (pool_max_conns defaults to the larger of 4 and the CPU count, plus
// one per write lane past the first: lanes.go), and
// any unknown parameter is sent as a run-time setting, so
// `?search_path=sluice` selects the schema the tables live in. pgx prepares
// every statement on first use and caches it per connection (512 per
// connection), which gives the hot paths (captures, audit appends) what
// storesqlite gets from its hand-prepared statements. Behind a PgBouncer in
// transaction mode, add default_query_exec_mode=exec to the DSN.
//
// Transactions run at READ COMMITTED; each statement sees what was committed
// before it started, which the lock-then-read patterns below rely on. Unlike
// SQLite, a failed statement aborts the whole PostgreSQL transaction: a unit
// of work that gets an error from the store must return it (the Committer
// then re-runs the batch one unit per transaction), never carry on.
//
// # Migrations
//
// migrations/*.sql are embedded and applied in name order, each in its own
// transaction that first takes a transaction-scoped advisory lock and then
// re-reads schema_migrations, so instances starting at once apply each
// version exactly once and the others wait for it. The store itself uses
// only transaction-scoped locks, so it also works through a
// transaction-mode pooler. The optional capabilities for several
// instances (store.Elector's session-level advisory lock, store.Notifier's
// LISTEN) need a session of their own: each opens a dedicated connection
// (session.go), which must reach PostgreSQL or a session-mode pooler.
//
// # Claiming work: per-key ordering across processes
//
// DeliveryClaim must never hand one delivery to two workers, nor have two
// deliveries of one (destination, record_key) in flight at once. FOR UPDATE
// SKIP LOCKED alone only gives the first: row locks protect rows, not keys.
// The head of a key can change between a claimer's snapshot and its lock
// (an earlier-sequence delivery committed late by another instance, or a
// claim by another instance committed in between), and two claimers would
// then each lease a different delivery of the same key. So a claim is two
// statements in the caller's transaction:
//
//  1. Candidates: the ready heads of their keys (pending, due, no earlier
//     unfinished delivery and no delivery in flight for the key), oldest
//     first. As each is read, pg_try_advisory_xact_lock takes a
//     transaction-scoped lock on the hash of its (destination, record_key);
//     a key another transaction holds is skipped, not waited for, and
//     reading stops once Limit keys are locked.
//  2. Claim: with a fresh snapshot (taken after the key locks were granted)
//     the same conditions are checked again and the rows that still qualify
//     are locked FOR UPDATE SKIP LOCKED and set in flight, in one UPDATE.
//
// Every transition to in flight therefore happens while its transaction
// holds its key's lock, and sees every earlier claim of that key: a claim is
// only visible to others once committed, and the key lock is released only
// after the commit. Claims of one key are serialized; claims of different
// keys do not wait for each other. A hash collision between two keys only
// makes one of them skip a round. Locks are held until the claiming
// transaction ends, so claim transactions (or group-commit batches) should
// stay short.
//
// # The audit chain
//
// The audit chain is global: each entry hashes its predecessor, so two
// transactions must never append after the same head. AuditAppend inside a
// transaction only queues the entry; just before the transaction commits
// (or before one of its statements reads the audit log) sealAudit takes
// pg_advisory_xact_lock on a fixed key and, in the same round trip, reads
// the head with a statement that starts after the lock is granted (so it
// sees the previous holder's committed entries), hashes the queued entries
// onto it and inserts them with one statement. The lock is released by the
// commit, so chain order is commit order and a reader never sees a gap
// that later fills. Because the chain lock is the last lock a transaction
// takes, a holder never waits for a row lock, which removes the deadlock
// the earlier design had (a transaction that appended first and then
// waited for a row held by one that wanted the chain lock), and the lock
// is held for the head read, the insert and the commit only, instead of
// from a batch's first append to its commit. The commit's own latency
// still bounds how many transactions per second the whole cluster
// appends; docs/adr/0032-audit-chain-sealed-at-commit.md weighs the
// alternatives.
//
// # Round trips
//
// Inside a transaction the writes no caller reads before the commit are
// queued and sent, pipelined, with the next statement that may depend on
// them or with the commit, and the hot paths' follow-up reads go in the
// same pipeline as the statement before them (behind.go,
// docs/adr/0036-postgres-round-trips.md): a capture or a settle costs
// about one round trip in a group-commit batch.
//
// Advisory lock keys are derived from the schema the driver runs in, so
// several deployments (or parallel tests) in one database do not contend.
package storepg

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Driver is the PostgreSQL store.Driver.
type Driver struct {
	pool   *pgxpool.Pool
	schema string
	count  *counter
	lanes  int // write transactions the committer may run at once (lanes.go)

	careful careful     // queued captures answered wrongly (capture.go)
	settle  settleAhead // what claims saw, for the settles (settle.go)

	// Advisory lock keys, namespaced by schema (see the package doc).
	migrateKey int64 // pg_advisory_xact_lock(bigint) while migrating
	auditKey   int64 // pg_advisory_xact_lock(bigint) for the audit chain
	claimNS    int32 // classid of pg_try_advisory_xact_lock(int, int) per record key
}

var _ store.Driver = (*Driver)(nil)

// Open connects to the database named by dsn, applies any pending
// migrations and returns the driver. The tables live in the first schema of
// the connection's search_path, which must exist.
func Open(ctx context.Context, dsn string) (*Driver, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", translate(err)) // pgx redacts the password
	}
	d := &Driver{count: &counter{}}
	if d.lanes, err = takeLanes(cfg); err != nil {
		return nil, err
	}
	// Each lane holds a connection for its whole transaction; the reads
	// outside the committer keep as many as with one lane, and a pool set
	// in the DSN keeps at least one for them.
	if !explicitMaxConns(dsn) {
		cfg.MaxConns += int32(d.lanes) - 1
	} else {
		d.lanes = max(1, min(d.lanes, int(cfg.MaxConns)-1))
	}
	cfg.ConnConfig.Tracer = d.count
	cfg.AfterConnect = d.count.connected
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", translate(err))
	}
	d.pool = pool
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", translate(err))
	}
	if schema == nil {
		pool.Close()
		return nil, errors.New("open postgres: no schema of search_path exists; create it or set search_path in the DSN")
	}
	d.schema = *schema
	d.migrateKey = lockKey("sluice/migrate/" + d.schema)
	d.auditKey = lockKey("sluice/audit/" + d.schema)
	d.claimNS = int32(lockKey("sluice/claim/" + d.schema))
	if err := d.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return d, nil
}

func lockKey(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}

func (d *Driver) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := d.migrateOne(ctx, version, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return nil
}

// migrateOne applies one version unless it is recorded, under the migration
// lock so that concurrent instances apply it once.
func (d *Driver) migrateOne(ctx context.Context, version, body string) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, d.migrateKey); err != nil {
		return translate(err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return translate(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
		return translate(err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, body); err != nil {
		return translate(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
		return translate(err)
	}
	return translate(tx.Commit(ctx))
}

// Name implements store.Driver.
func (d *Driver) Name() string { return "postgres" }

// SupportsSkipLocked implements store.Driver: several instances may claim
// work from one database at once.
func (d *Driver) SupportsSkipLocked() bool { return true }

// Executor implements store.Driver. Statements run on any pooled connection;
// DeliveryClaim and AuditAppend, which need a transaction, open their own.
func (d *Driver) Executor() store.Executor { return (&executor{d: d, q: d.pool}).shared() }

// Begin implements store.Driver.
func (d *Driver) Begin(ctx context.Context) (store.ExecutorTx, error) {
	t, err := d.begin(ctx)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (d *Driver) begin(ctx context.Context) (*executorTx, error) {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", translate(err))
	}
	tx := &pgTx{c: c} // BEGIN goes with the first statement
	t := &executorTx{tx: tx}
	t.wb.careful = &d.careful
	t.executor = executor{d: d, tx: tx, head: &t.head, pending: &t.pending, wb: &t.wb}
	t.executor.q = txQuerier{x: &t.executor}
	t.executor.shared()
	return t, nil
}

// Close implements store.Driver. It waits for borrowed connections to be
// returned.
func (d *Driver) Close() error {
	d.pool.Close()
	return nil
}

type executorTx struct {
	executor
	tx      *pgTx
	head    chainHead
	pending []*store.AuditEntry
	wb      behind
}

var _ store.ExecutorTx = (*executorTx)(nil)

// chainHead caches the audit chain's last entry inside one transaction,
// which holds the audit lock once valid is set.
type chainHead struct {
	valid bool
	seq   int64
	hash  string
}

// Commit implements store.ExecutorTx. It is not cancellable: the caller
// must learn whether the transaction committed.
func (t *executorTx) Commit() error {
	ctx := context.Background()
	// The last round trip carries the audit insert (after the chain lock
	// and head, which sealAudit takes with the queued writes) or the
	// queued writes, then COMMIT.
	// A queued UPDATE that finds no row is an error only to us, not to
	// PostgreSQL, which would go on to the COMMIT in the same pipeline:
	// queued updates are sent and checked first, here or with the chain
	// lock.
	var err error
	if t.wb.hasUpdates() && (len(t.pending) == 0 || t.head.valid) {
		err = t.flush(ctx)
	}
	last := &pgx.Batch{}
	var read func(pgx.BatchResults) error
	if err == nil {
		read, err = t.sealAuditInto(ctx, last)
	}
	if err != nil {
		t.tx.rollback(ctx)
		if !errors.Is(err, store.ErrNotCommitted) {
			err = fmt.Errorf("%w (%w)", err, store.ErrNotCommitted)
		}
		return fmt.Errorf("commit: %w", err)
	}
	if read == nil {
		qs := t.wb.queue(last, flushAll)
		read = func(br pgx.BatchResults) error { return t.wb.read(br, qs, flushAll) }
	}
	if err := t.tx.commit(ctx, last, read); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rollback implements store.ExecutorTx.
func (t *executorTx) Rollback() error {
	if err := t.tx.rollback(context.Background()); err != nil {
		return fmt.Errorf("rollback: %w", translate(err))
	}
	return nil
}

// dbError is a PostgreSQL error with the pgx types stripped. Code is the
// SQLSTATE.
type dbError struct {
	Code string
	Msg  string
}

func (e *dbError) Error() string { return e.Msg }

// translate maps pgx errors to the seam: no rows becomes store.ErrNotFound,
// context errors stay matchable with errors.Is, server errors keep their
// message and SQLSTATE, and nothing unwraps to a pgx type.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotCommitted) {
		// Already translated (a queued write's failure, found by a later
		// statement): keep the chain, errRerun included, which tells the
		// committer to run the batch again (capture.go).
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &dbError{Code: pgErr.Code, Msg: pgErr.Error()}
	}
	for _, ce := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, ce) {
			if err.Error() == ce.Error() {
				return ce
			}
			return fmt.Errorf("%s: %w", err.Error(), ce)
		}
	}
	return errors.New(err.Error())
}
