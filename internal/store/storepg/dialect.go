package storepg

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// dialect is PostgreSQL's side of the shared queries: numbered
// placeholders, timestamptz columns (NULL when unset), pgx errors
// translated so none leaks above the store.
type dialect struct{}

var _ sqlstore.Dialect = dialect{}

// rebound caches each shared statement's numbered form.
var rebound sync.Map // string -> string

func (dialect) Rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	r := sqlstore.Rebind(query)
	rebound.Store(query, r)
	return r
}

func (dialect) Time(t time.Time) any           { return ts(t) }
func (dialect) OptTime(t time.Time) any        { return nullTS(t) }
func (dialect) NullTime(t time.Time) any       { return nullTS(t) }
func (dialect) TimeIsSet(column string) string { return column + " IS NOT NULL" }
func (dialect) ScanTime(t *time.Time) any      { return tsDest{t} }
func (dialect) Err(err error) error            { return translate(err) }

// tsDest scans a timestamptz column into a time.Time in UTC (NULL: the
// zero time); pgx calls ScanTimestamptz directly, with no reflection.
type tsDest struct{ t *time.Time }

func (d tsDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	*d.t = fromTS(v)
	return nil
}

// sharedDB runs the shared queries on x's pool or transaction.
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
	tag, err := s.x.q.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (s sharedDB) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return s.x.q.QueryRow(ctx, query, args...)
}

func (s sharedDB) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return s.x.q.Query(ctx, query, args...)
}

func (s sharedDB) QueryRowWrite(ctx context.Context, query string, args ...any) sqlstore.Row {
	return s.x.q.QueryRow(ctx, query, args...)
}
