package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

const (
	qDestinationStateGet = `SELECT name, paused, reason, updated_at FROM destination_states WHERE name = ?`
	qDestinationStatePut = `INSERT INTO destination_states (name, paused, reason, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, reason = excluded.reason, updated_at = excluded.updated_at`
)

// DestinationStateGet implements store.Executor: a destination never
// switched reads as running.
func (q Queries) DestinationStateGet(ctx context.Context, name string) (*store.DestinationState, error) {
	var s store.DestinationState
	err := q.row(ctx, qDestinationStateGet, name).Scan(&s.Name, &s.Paused, &s.Reason, q.db.ScanTime(&s.UpdatedAt))
	if errors.Is(err, store.ErrNotFound) {
		return &store.DestinationState{Name: name}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("destination state get: %w", err)
	}
	return &s, nil
}

// DestinationStatePut implements store.Executor.
func (q Queries) DestinationStatePut(ctx context.Context, s *store.DestinationState) error {
	if _, err := q.exec(ctx, qDestinationStatePut, s.Name, s.Paused, s.Reason, q.db.Time(s.UpdatedAt)); err != nil {
		return fmt.Errorf("destination state put: %w", err)
	}
	return nil
}
