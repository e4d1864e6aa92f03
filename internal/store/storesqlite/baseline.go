package storesqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.BaselineStore = (*executor)(nil)

func (x *executor) SourceBaselineGet(ctx context.Context, source string) (*store.SourceBaseline, error) {
	b := &store.SourceBaseline{Source: source}
	var shape string
	var at int64
	err := x.r.QueryRowContext(ctx, `SELECT learned, shape, updated_at FROM source_baselines WHERE source = ?`, source).Scan(&b.Learned, &shape, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("source baseline get: %w", err)
	}
	b.Shape, b.UpdatedAt = []byte(shape), fromMS(at)
	return b, nil
}

func (x *executor) SourceBaselinePut(ctx context.Context, b *store.SourceBaseline) error {
	_, err := x.w.ExecContext(ctx, `INSERT INTO source_baselines (source, learned, shape, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET learned = excluded.learned, shape = excluded.shape, updated_at = excluded.updated_at
		WHERE excluded.learned >= source_baselines.learned`, b.Source, b.Learned, string(b.Shape), ms(b.UpdatedAt))
	if err != nil {
		return fmt.Errorf("source baseline put: %w", err)
	}
	return nil
}
