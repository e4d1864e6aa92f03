package storepg

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Poll cursors, DeliveryInFlight and DeliveryListWritesSince stay in each driver, not in sqlstore:
// a cursor moves inside a poll's capture transaction and DeliveryInFlight
// reads the deliveries table, both on the capture path, whose statements
// each driver tunes (prepared statements, plans) on its own.

func (x *executor) PollCursorGet(ctx context.Context, source string) (string, error) {
	var c string
	err := x.q.QueryRow(ctx, `SELECT cursor FROM poll_cursors WHERE source = $1`, source).Scan(&c)
	if err != nil {
		return "", fail("poll cursor get", err)
	}
	return c, nil
}

func (x *executor) PollCursorPut(ctx context.Context, source, cursor string, now time.Time) error {
	_, err := x.q.Exec(ctx, `INSERT INTO poll_cursors (source, cursor, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`, source, cursor, ts(now))
	if err != nil {
		return fail("poll cursor put", err)
	}
	return nil
}

func (x *executor) DeliveryInFlight(ctx context.Context, destination, recordKey string) (bool, error) {
	var ok bool
	err := x.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE destination = $1 AND record_key = $2
		AND state IN ('waiting', 'pending', 'inflight') AND state = 'inflight')`, destination, recordKey).Scan(&ok)
	if err != nil {
		return false, fail("delivery in flight", err)
	}
	return ok, nil
}

func (x *executor) DeliveryListWritesSince(ctx context.Context, destination, recordKey string, since time.Time) ([]*store.Delivery, error) {
	// One key's writes to one destination run one at a time, in seq order,
	// so the last confirmed before since has the highest seq of those.
	out, err := x.queryDeliveries(ctx, `SELECT `+deliveryCols+` FROM deliveries
		WHERE destination = $1 AND record_key = $2 AND fallback_for = ''
		AND (state IN ('waiting', 'pending', 'inflight') OR (state = 'succeeded' AND seq >= coalesce((SELECT max(seq) FROM deliveries
			WHERE destination = $1 AND record_key = $2 AND state = 'succeeded' AND fallback_for = '' AND updated_at < $3), 0)))
		ORDER BY seq LIMIT 100`, destination, recordKey, ts(since))
	if err != nil {
		return nil, fail("delivery writes since", err)
	}
	return out, nil
}
