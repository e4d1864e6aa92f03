package storesqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Poll cursors, DeliveryInFlight and DeliveryListWritesSince stay in each driver, not in sqlstore:
// a cursor moves inside a poll's capture transaction and DeliveryInFlight
// reads the deliveries table, both on the capture path, whose statements
// each driver tunes (prepared statements, plans) on its own.

func (x *executor) PollCursorGet(ctx context.Context, source string) (string, error) {
	var c string
	err := x.r.QueryRowContext(ctx, `SELECT cursor FROM poll_cursors WHERE source = ?`, source).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("poll cursor get: %w", err)
	}
	return c, nil
}

func (x *executor) PollCursorPut(ctx context.Context, source, cursor string, now time.Time) error {
	_, err := x.w.ExecContext(ctx, `INSERT INTO poll_cursors (source, cursor, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`, source, cursor, ms(now))
	if err != nil {
		return fmt.Errorf("poll cursor put: %w", err)
	}
	return nil
}

func (x *executor) DeliveryInFlight(ctx context.Context, destination, recordKey string) (bool, error) {
	var n int
	err := x.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE destination = ? AND record_key = ?
		AND state IN ('waiting', 'pending', 'inflight') AND state = 'inflight' LIMIT 1)`, destination, recordKey).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("delivery in flight: %w", err)
	}
	return n > 0, nil
}

func (x *executor) DeliveryListWritesSince(ctx context.Context, destination, recordKey string, since time.Time) ([]*store.Delivery, error) {
	// One key's writes to one destination run one at a time, in seq order,
	// so the last confirmed before since has the highest seq of those.
	out, err := x.queryDeliveries(ctx, x.r, `SELECT `+deliveryCols+` FROM deliveries
		WHERE destination = ? AND record_key = ? AND state IN ('waiting', 'pending', 'inflight') AND fallback_for = ''
		UNION ALL SELECT `+deliveryCols+` FROM deliveries
		WHERE destination = ? AND record_key = ? AND state = 'succeeded' AND fallback_for = ''
		AND seq >= coalesce((SELECT max(seq) FROM deliveries WHERE destination = ? AND record_key = ? AND state = 'succeeded'
			AND fallback_for = '' AND updated_at < ?), 0)
		ORDER BY seq LIMIT 100`, destination, recordKey, destination, recordKey, destination, recordKey, ms(since))
	if err != nil {
		return nil, fmt.Errorf("delivery writes since: %w", err)
	}
	return out, nil
}
