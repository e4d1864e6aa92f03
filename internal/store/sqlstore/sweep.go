package sqlstore

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// QueryEventsDelivering is EventListDelivering's statement: a walk of the
// delivering events in events_state_flow (state, flow, id) from the cursor,
// stopped by the LIMIT, and for each event two counts through
// deliveries_event. Nothing in it grows with the history of delivered
// events. The walk is in (flow, id) order, the index's (ADR 0047): the
// cursor is the last event returned, and its flow is read back by its id
// (an event's flow never changes); a cursor event that no longer exists
// starts the walk over. The open states are written as ORs, as in
// deliveries_active_key (migration 0033).
const QueryEventsDelivering = `SELECT e.id, e.updated_at,
	(SELECT count(*) FROM deliveries d WHERE d.event_id = e.id AND d.fallback_for = ''),
	(SELECT count(*) FROM deliveries d WHERE d.event_id = e.id AND d.fallback_for = ''
		AND (d.state = 'waiting' OR d.state = 'pending' OR d.state = 'inflight'))
FROM events e WHERE e.state = 'delivering'
	AND (e.flow, e.id) > (COALESCE((SELECT c.flow FROM events c WHERE c.id = ?), ''), ?)
ORDER BY e.flow, e.id LIMIT ?`

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
	}, QueryEventsDelivering, p.AfterID, p.AfterID, store.PageLimit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("event list delivering: %w", err)
	}
	return out, nil
}
