package storepg

import (
	"context"
	"time"
)

func (x *executor) IdentityGetByExternalID(ctx context.Context, destination, externalID string) (string, error) {
	var key string
	err := x.q.QueryRow(ctx, `SELECT record_key FROM identities WHERE destination = $1 AND external_id = $2 ORDER BY updated_at DESC LIMIT 1`,
		destination, externalID).Scan(&key)
	if err != nil {
		return "", fail("identity by external id", err)
	}
	return key, nil
}

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
