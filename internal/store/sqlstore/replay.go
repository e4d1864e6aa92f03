package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// EventListForReplay stays in each driver: it reads whole events, whose
// scan (and the columns' encoding) is shared with the capture and settle
// path there.

// EventRecordPut implements store.ReplayStore.
func (q Queries) EventRecordPut(ctx context.Context, p *store.EventRecordPutParams) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("event record put: %w", err)
	}
	n, err := q.exec(ctx, `UPDATE events SET state = ?, record_key = ?, canonical = ?, problems = ?, missing = ?,
		hold_until = ?, updated_at = ? WHERE id = ?`,
		p.State, p.RecordKey, nullJSON(p.Canonical), nullJSON(p.Problems), nullJSON(p.Missing), q.db.NullTime(p.HoldUntil), q.db.Time(p.Now), p.ID)
	if err != nil {
		return fmt.Errorf("event record put: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("event record put %s: %w", p.ID, store.ErrNotFound)
	}
	return nil
}

// DeliveryPayloadPut implements store.ReplayStore.
func (q Queries) DeliveryPayloadPut(ctx context.Context, p *store.DeliveryPayloadPutParams) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("delivery payload put: %w", err)
	}
	if len(p.States) == 0 {
		return false, nil
	}
	cond, states := in("state", p.States)
	n, err := q.exec(ctx, `UPDATE deliveries SET payload = ?, updated_at = ? WHERE id = ? AND `+cond,
		append([]any{string(p.Payload), q.db.Time(p.Now), p.ID}, states...)...)
	if err != nil {
		return false, fmt.Errorf("delivery payload put: %w", err)
	}
	return n == 1, nil
}

// nullJSON writes empty JSON as NULL.
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
