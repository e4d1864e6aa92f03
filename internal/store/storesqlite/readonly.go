package storesqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// OpenReadOnly opens an existing database file for reading only, for
// `sluice check --against`: SQLite opens it with mode=ro and query_only, so
// any write fails in SQLite itself, no migration runs, and the file is not
// created if missing. The schema must be current (every migration this
// build knows applied); otherwise it says to run `sluice migrate`.
func OpenReadOnly(ctx context.Context, path string) (*Driver, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	v := url.Values{"mode": {"ro"}, "_pragma": {"busy_timeout(10000)", "query_only(1)"}}
	db, err := sql.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	d := &Driver{w: db, r: db, stmts: map[string]*sql.Stmt{}, rstmts: map[string]*sql.Stmt{}}
	if err := checkSchema(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s read-only: %w", path, err)
	}
	return d, nil
}

// checkSchema reports migrations this build knows that the file lacks.
func checkSchema(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	var missing []string
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("not a Sluice store: %w", err)
		}
		if n == 0 {
			missing = append(missing, version)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the store lacks migrations %s; run `sluice migrate` first", strings.Join(missing, ", "))
	}
	return nil
}
