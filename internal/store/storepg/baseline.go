package storepg

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.BaselineStore = (*executor)(nil)

func (x *executor) SourceBaselineGet(ctx context.Context, source string) (*store.SourceBaseline, error) {
	b := &store.SourceBaseline{Source: source}
	var shape string
	var at time.Time
	err := x.q.QueryRow(ctx, `SELECT learned, shape, updated_at FROM source_baselines WHERE source = $1`, source).Scan(&b.Learned, &shape, &at)
	if err != nil {
		return nil, fail("source baseline get", err)
	}
	b.Shape, b.UpdatedAt = []byte(shape), at.UTC()
	return b, nil
}

func (x *executor) SourceBaselinePut(ctx context.Context, b *store.SourceBaseline) error {
	_, err := x.q.Exec(ctx, `INSERT INTO source_baselines (source, learned, shape, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (source) DO UPDATE SET learned = excluded.learned, shape = excluded.shape, updated_at = excluded.updated_at
		WHERE excluded.learned >= source_baselines.learned`, b.Source, b.Learned, string(b.Shape), ts(b.UpdatedAt))
	if err != nil {
		return fail("source baseline put", err)
	}
	return nil
}
