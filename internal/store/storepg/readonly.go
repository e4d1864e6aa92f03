package storepg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenReadOnly connects for reading only, for `sluice check --against`:
// every session runs with default_transaction_read_only, so PostgreSQL
// itself refuses any write, and no migration runs. The schema must be
// current; otherwise it says to run `sluice migrate`.
func OpenReadOnly(ctx context.Context, dsn string) (*Driver, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", translate(err))
	}
	if _, err := takeLanes(cfg); err != nil { // no writes, so no lanes
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", translate(err))
	}
	d := &Driver{pool: pool}
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", translate(err))
	}
	if schema == nil {
		pool.Close()
		return nil, errors.New("open postgres: no schema of search_path exists")
	}
	d.schema = *schema
	d.migrateKey = lockKey("sluice/migrate/" + d.schema)
	d.auditKey = lockKey("sluice/audit/" + d.schema)
	d.claimNS = int32(lockKey("sluice/claim/" + d.schema))
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		pool.Close()
		return nil, err
	}
	var missing []string
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres read-only: not a Sluice store: %w", translate(err))
		}
		if n == 0 {
			missing = append(missing, version)
		}
	}
	if len(missing) > 0 {
		pool.Close()
		return nil, fmt.Errorf("open postgres read-only: the store lacks migrations %s; run `sluice migrate` first", strings.Join(missing, ", "))
	}
	return d, nil
}
