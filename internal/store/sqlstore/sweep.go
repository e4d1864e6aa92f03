package sqlstore

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// QueryEventsDelivering is EventListDelivering's statement: a walk of
// events_state (state, id) from the cursor, stopped by the LIMIT, and for
// each event two counts through deliveries_event. Nothing in it grows with
// the history of delivered events. The open states are written as ORs, as
// in deliveries_active_key (migration 0033).
const QueryEventsDelivering = `SELECT e.id, e.updated_at,
	(SELECT count(*) FROM deliveries d WHERE d.event_id = e.id AND d.fallback_for = ''),
	(SELECT count(*) FROM deliveries d WHERE d.event_id = e.id AND d.fallback_for = ''
		AND (d.state = 'waiting' OR d.state = 'pending' OR d.state = 'inflight'))
FROM events e WHERE e.state = 'delivering' AND e.id > ? ORDER BY e.id LIMIT ?`

// EventListDelivering implements store.Executor.
func (q Queries) EventListDelivering(ctx context.Context, p *store.EventListDeliveringParams) ([]*store.DeliveringEvent, error) {
	out, err := list(ctx, q, func(r Row) (*store.DeliveringEvent, error) {
		var e store.DeliveringEvent
		var primaries, open int64
		if err := r.Scan(&e.ID, q.db.ScanTime(&e.UpdatedAt), &primaries, &open); err != nil {
			return nil, err
		}
		e.Primaries, e.Open = int(primaries), int(open)
		return &e, nil
	}, QueryEventsDelivering, p.AfterID, store.PageLimit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("event list delivering: %w", err)
	}
	return out, nil
}
