package storepg

import (
	"context"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Versioned = (*Driver)(nil)

// SchemaVersion implements store.Versioned.
func (d *Driver) SchemaVersion(ctx context.Context) (string, int, error) {
	var v *string
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT max(version), count(*) FROM schema_migrations`).Scan(&v, &n); err != nil {
		return "", 0, fail("schema version", err)
	}
	if v == nil {
		return "", 0, nil
	}
	return *v, n, nil
}
