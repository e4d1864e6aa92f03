package control

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Rollups folds the audit log into the per-minute rollups the console's
// overview reads (failure rate, retry success, latency, completeness per
// flow and destination). Rollups are derived data, like metrics: the audit
// log stays the record, and the fold is incremental past a watermark kept
// in the store, so the charts survive restarts and every instance may run
// the job (the watermark row is locked while folding).
type Rollups struct {
	Driver store.Driver
	Log    *slog.Logger
	// Batch is how many audit entries one transaction folds (default 5000).
	Batch int
}

// Fold folds until caught up and returns how many entries it scanned.
func (r *Rollups) Fold(ctx context.Context) (int, error) {
	batch := r.Batch
	if batch <= 0 {
		batch = 5000
	}
	total := 0
	for {
		tx, err := r.Driver.Begin(ctx)
		if err != nil {
			return total, err
		}
		cs, ok := tx.(store.ConsoleStore)
		if !ok {
			tx.Rollback()
			return total, fmt.Errorf("store driver %T does not keep console rollups", tx)
		}
		n, err := cs.RollupFold(ctx, batch)
		if err != nil {
			tx.Rollback()
			return total, err
		}
		if err := tx.Commit(); err != nil {
			return total, err
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// Consistency adds a consistency check's counts to the rollups.
func (r *Rollups) Consistency(ctx context.Context, at time.Time, destination string, checked, inconsistent int) error {
	tx, err := r.Driver.Begin(ctx)
	if err != nil {
		return err
	}
	cs, ok := tx.(store.ConsoleStore)
	if !ok {
		tx.Rollback()
		return fmt.Errorf("store driver %T does not keep console rollups", tx)
	}
	if err := cs.RollupConsistencyAdd(ctx, at, destination, checked, inconsistent); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Run folds every interval until ctx ends (the first fold after one
// interval, so a start is not slowed by catching up).
func (r *Rollups) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.Fold(ctx); err != nil && ctx.Err() == nil && r.Log != nil {
			r.Log.Error("console rollups", "err", err)
		}
	}
}
