package sqldest

import (
	"context"
	"database/sql"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// dialect is everything that differs between the databases: how to open a
// pool, number parameters, bind payload values, read the catalog, and read
// the driver's errors. The upsert itself is the same SQL in both.
type dialect interface {
	name() string
	// open builds a pool for dsn without connecting, and returns the
	// strings (beyond the DSN) that must never appear in messages.
	open(dsn string, guard egress.Policy) (db *sql.DB, secrets []string, err error)
	defaultConns() int
	// placeholder is the SQL for the n-th (1-based) parameter.
	placeholder(n int) string
	// maxParams is the most parameters one statement may bind.
	maxParams() int
	// maxIdentBytes is the longest name the database keeps; 0 for no limit.
	maxIdentBytes() int
	// sameName reports whether two column names name the same column.
	sameName(a, b string) bool
	// arg converts a payload value (JSON-compatible) to a bound parameter.
	arg(v any) (any, error)
	// inspect reads what the first-use check needs about t.
	inspect(ctx context.Context, q querier, t tableName) (tableInfo, error)
	// classify translates a driver error. committing is true for the
	// error of a COMMIT, whose outcome may be unknown. ok is false for an
	// error the dialect does not recognize.
	classify(err error, committing bool) (ce *connector.Error, ok bool)
}

// querier is what inspect needs of a pool or transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// tableInfo is what the catalog says about the destination table.
type tableInfo struct {
	exists  bool
	columns []string
	// unique lists the columns that are, on their own, the whole key of a
	// unique constraint or index that ON CONFLICT can use (not partial,
	// not deferrable, not an expression).
	unique []string
}

// queryStrings runs a query whose rows are one string (or NULL, skipped).
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if s.Valid {
			out = append(out, s.String)
		}
	}
	return out, rows.Err()
}
