package storesqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Versioned = (*Driver)(nil)

// SchemaVersion implements store.Versioned.
func (d *Driver) SchemaVersion(ctx context.Context) (string, int, error) {
	var v sql.NullString
	var n int
	if err := d.r.QueryRowContext(ctx, `SELECT max(version), count(*) FROM schema_migrations`).Scan(&v, &n); err != nil {
		return "", 0, fmt.Errorf("schema version: %w", err)
	}
	return v.String, n, nil
}
