package storesqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// dialect is SQLite's side of the shared queries: ? placeholders as
// written, times as Unix milliseconds (0 when unset).
type dialect struct{}

var _ sqlstore.Dialect = dialect{}

func (dialect) Rebind(query string) string { return query }
func (dialect) Time(t time.Time) any       { return ms(t) }
func (dialect) OptTime(t time.Time) any    { return ms(t) }
func (dialect) NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}
func (dialect) TimeIsSet(column string) string { return column + " != 0" }
func (dialect) ScanTime(t *time.Time) any      { return msTime{t} }

// Err keeps SQLite's own errors as they are (WriteFault looks for them
// with errors.As); a missing row becomes store.ErrNotFound.
func (dialect) Err(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// msTime scans a millisecond timestamp column (0 or NULL: the zero time).
type msTime struct{ t *time.Time }

func (m msTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*m.t = time.Time{}
	case int64:
		*m.t = fromMS(v)
	default:
		return fmt.Errorf("timestamp column holds %T, want milliseconds", src)
	}
	return nil
}

// sharedDB runs the shared queries on x: writes on the write connection,
// reads on the read pool (both are the transaction inside one), through
// the statements prepared at Open where there is one.
type sharedDB struct {
	dialect
	x *executor
}

// shared connects x's embedded sqlstore.Queries to x.
func (x *executor) shared() *executor {
	x.Queries = sqlstore.New(sharedDB{x: x})
	return x
}

func (s sharedDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.x.execHot(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sharedDB) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return s.x.rowHot(ctx, s.x.r, query, args...)
}

func (s sharedDB) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := s.x.rowsHot(ctx, s.x.r, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (s sharedDB) QueryRowWrite(ctx context.Context, query string, args ...any) sqlstore.Row {
	row, _ := s.x.queryRowHot(ctx, query, args...)
	return row
}

// sqlRows adapts *sql.Rows to sqlstore.Rows; a Close error would repeat
// what Err reports.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
