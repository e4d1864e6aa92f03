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
