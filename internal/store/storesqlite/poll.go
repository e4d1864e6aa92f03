package storesqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

func (x *executor) IdentityGetByExternalID(ctx context.Context, destination, externalID string) (string, error) {
	var key string
	err := x.r.QueryRowContext(ctx, `SELECT record_key FROM identities WHERE destination = ? AND external_id = ? ORDER BY updated_at DESC LIMIT 1`,
		destination, externalID).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("identity by external id: %w", err)
	}
	return key, nil
}

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

func (x *executor) SyncBaselineGet(ctx context.Context, destination, recordKey string) (*store.SyncBaseline, error) {
	b := store.SyncBaseline{Destination: destination, RecordKey: recordKey}
	var fields string
	var at int64
	err := x.r.QueryRowContext(ctx, `SELECT external_id, fields, synced_at FROM sync_baselines WHERE destination = ? AND record_key = ?`,
		destination, recordKey).Scan(&b.ExternalID, &fields, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sync baseline get: %w", err)
	}
	b.Fields, b.SyncedAt = []byte(fields), fromMS(at)
	return &b, nil
}

func (x *executor) SyncBaselinePut(ctx context.Context, b *store.SyncBaseline) error {
	_, err := x.w.ExecContext(ctx, `INSERT INTO sync_baselines (destination, record_key, external_id, fields, synced_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (destination, record_key) DO UPDATE SET external_id = excluded.external_id, fields = excluded.fields, synced_at = excluded.synced_at`,
		b.Destination, b.RecordKey, b.ExternalID, string(b.Fields), ms(b.SyncedAt))
	if err != nil {
		return fmt.Errorf("sync baseline put: %w", err)
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
