// Package sqlstore holds the store queries that read and write alike on
// every SQL database Sluice runs on (escalations, reconciliations,
// identities, destination states, tickets, failure groups, platform
// notices, ...), written
// once over a small Dialect: placeholders, time encoding and error
// translation. storesqlite and storepg embed Queries in their executors;
// what truly differs between the databases (claims, locking, the audit
// chain, notify, leadership, retention, the capture path with its prepared
// statements and plans) stays hand-written in each driver. The shape is
// connector/sqldest's dialect.go: one query, a dialect for the differences.
// See docs/adr/0011-one-sql-over-a-dialect.md.
package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Dialect is what the shared queries need to know about a database.
type Dialect interface {
	// Rebind turns a statement written with ? placeholders into the
	// database's own (SQLite keeps ?, PostgreSQL numbers them $1, $2, ...).
	Rebind(query string) string
	// Time encodes t for a timestamp column that is always set (SQLite:
	// Unix milliseconds; PostgreSQL: timestamptz).
	Time(t time.Time) any
	// OptTime encodes t for a timestamp column that may be unset: the zero
	// time is stored as the database's "unset" (SQLite: 0, PostgreSQL: NULL).
	OptTime(t time.Time) any
	// NullTime encodes t for a nullable timestamp column whose unset
	// value is NULL on every database (events.hold_until): the zero time
	// is NULL.
	NullTime(t time.Time) any
	// TimeIsSet is the condition that a timestamp column written with
	// OptTime holds a time.
	TimeIsSet(column string) string
	// ScanTime is a Scan destination that decodes a timestamp column into
	// *t, in UTC; an unset column leaves the zero time.
	ScanTime(t *time.Time) any
	// Err translates a driver error for callers above the store: no row
	// becomes store.ErrNotFound; no driver type may leak (STYLE.md habit 4).
	Err(err error) error
}

// Row is one result row: *sql.Row and pgx.Row both are.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set (pgx.Rows; storesqlite adapts *sql.Rows, whose
// Close returns an error).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// DB runs statements for the shared queries: a driver's executor, on its
// pool or inside its transaction. Statements arrive already rebound.
// Reads may go to a read pool (SQLite) as long as, inside a transaction,
// they see the transaction's writes.
type DB interface {
	Dialect
	// Exec runs a write and says how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRowWrite runs a write that returns a row (INSERT ... RETURNING)
	// where writes go.
	QueryRowWrite(ctx context.Context, query string, args ...any) Row
}

// Queries is the shared half of a driver's executor: every method runs the
// same SQL on each database through db. A driver's executor embeds it, so
// its methods are the executor's own.
type Queries struct {
	db DB
}

// New returns the shared queries running on db.
func New(db DB) Queries { return Queries{db: db} }

// exec runs a write statement written with ? placeholders.
func (q Queries) exec(ctx context.Context, query string, args ...any) (int64, error) {
	n, err := q.db.Exec(ctx, q.db.Rebind(query), args...)
	return n, q.db.Err(err)
}

// row runs a single-row query; its Scan translates errors (no row:
// store.ErrNotFound).
func (q Queries) row(ctx context.Context, query string, args ...any) Row {
	return errRow{q.db.QueryRow(ctx, q.db.Rebind(query), args...), q.db}
}

// rowWrite runs a write that returns one row (INSERT ... RETURNING; both
// databases have it).
func (q Queries) rowWrite(ctx context.Context, query string, args ...any) Row {
	return errRow{q.db.QueryRowWrite(ctx, q.db.Rebind(query), args...), q.db}
}

type errRow struct {
	r Row
	d Dialect
}

func (r errRow) Scan(dest ...any) error { return r.d.Err(r.r.Scan(dest...)) }

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, q Queries, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.db.Query(ctx, q.db.Rebind(query), args...)
	if err != nil {
		return nil, q.db.Err(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, q.db.Err(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, q.db.Err(err)
	}
	return out, nil
}

// missedUpdate explains an UPDATE that changed no row: the row is gone
// (ErrNotFound) or, for a conditional update, it changed since it was read
// (ErrStale).
func (q Queries) missedUpdate(ctx context.Context, table, what, id string, conditional bool) error {
	if conditional {
		var n int
		if err := q.row(ctx, `SELECT count(*) FROM `+table+` WHERE id = ?`, id).Scan(&n); err != nil {
			return fmt.Errorf("%s %s: %w", what, id, err)
		}
		if n > 0 {
			return fmt.Errorf("%s %s: %w", what, id, store.ErrStale)
		}
	}
	return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
}

// filter builds a WHERE clause from optional conditions, each with one ?.
type filter struct {
	conds []string
	args  []any
}

func (f *filter) add(cond string, v any) {
	f.conds = append(f.conds, cond)
	f.args = append(f.args, v)
}

// where is " WHERE a AND b", or "" when nothing filters.
func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// in is "column IN (?, ?, ...)" with one placeholder per value, and the
// values as arguments; both databases take an IN list.
func in[T any](column string, vals []T) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return column + " IN (?" + strings.Repeat(", ?", len(vals)-1) + ")", args
}

// setter builds the SET list of an UPDATE from optional columns.
type setter struct {
	sets []string
	args []any
}

func (s *setter) set(column string, v any) {
	s.sets = append(s.sets, column+" = ?")
	s.args = append(s.args, v)
}

func (s *setter) String() string { return strings.Join(s.sets, ", ") }

// Rebind numbers ? placeholders as $1, $2, ... (PostgreSQL's form),
// leaving any ? inside a quoted string or identifier alone. Drivers whose
// database takes ? use the statement as it is.
func Rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Prepared lists the static statements of the shared queries that run
// often enough to be worth preparing once (storesqlite prepares them at
// Open; pgx caches every statement per connection anyway). They are
// written with ? placeholders, as Rebind receives them.
func Prepared() []string {
	return []string{
		qEscalationInsert, qEscalationByID, qEscalationUpdate,
		qReconciliationInsert, qReconciliationByID, qReconciliationUpdate,
		QueryIdentityGet, qIdentityPut, qIdentityList,
		qDestinationStateGet, qDestinationStatePut,
	}
}
