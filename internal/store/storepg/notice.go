package storepg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store"
)

const noticeCols = `id, source, platform, notice_key, type, object, record_id, occurred_at, state, attempts, next_at,
	last_error, escalated_at, created_at, updated_at`

func scanNotice(sc interface{ Scan(...any) error }) (*store.HookNotice, error) {
	var n store.HookNotice
	var occurred, next, created, updated time.Time
	var escalated pgtype.Timestamptz
	if err := sc.Scan(&n.ID, &n.Source, &n.Platform, &n.Key, &n.Type, &n.Object, &n.RecordID, &occurred, &n.State, &n.Attempts, &next,
		&n.LastError, &escalated, &created, &updated); err != nil {
		return nil, err
	}
	n.OccurredAt, n.NextAt, n.EscalatedAt, n.CreatedAt, n.UpdatedAt = occurred.UTC(), next.UTC(), fromTS(escalated), created.UTC(), updated.UTC()
	return &n, nil
}

func (x *executor) HookNoticeAdd(ctx context.Context, n *store.HookNotice) (string, bool, error) {
	var id string
	err := x.q.QueryRow(ctx, `INSERT INTO hook_notices (`+noticeCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (source, notice_key) DO NOTHING
		RETURNING id`,
		n.ID, n.Source, n.Platform, n.Key, n.Type, n.Object, n.RecordID, ts(n.OccurredAt), n.State, n.Attempts, ts(n.NextAt),
		n.LastError, nullTS(n.EscalatedAt), ts(n.CreatedAt), ts(n.UpdatedAt)).Scan(&id)
	if err == nil {
		return "", true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", false, fail("hook notice add", err)
	}
	if err := x.q.QueryRow(ctx, `SELECT id FROM hook_notices WHERE source = $1 AND notice_key = $2`, n.Source, n.Key).Scan(&id); err != nil {
		return "", false, fail("hook notice add", err)
	}
	return id, false, nil
}

func (x *executor) HookNoticeGet(ctx context.Context, id string) (*store.HookNotice, error) {
	n, err := scanNotice(x.q.QueryRow(ctx, `SELECT `+noticeCols+` FROM hook_notices WHERE id = $1`, id))
	if err != nil {
		return nil, fail("hook notice get", err)
	}
	return n, nil
}

func (x *executor) HookNoticeListDue(ctx context.Context, now time.Time, limit int) ([]*store.HookNotice, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := x.q.Query(ctx, `SELECT `+noticeCols+` FROM hook_notices WHERE state = 'pending' AND next_at <= $1
		ORDER BY next_at, id LIMIT $2`, ts(now), limit)
	if err != nil {
		return nil, fail("hook notice list due", err)
	}
	defer rows.Close()
	var out []*store.HookNotice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fail("hook notice list due", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("hook notice list due", err)
	}
	return out, nil
}

func (x *executor) HookNoticeNextDue(ctx context.Context) (time.Time, error) {
	var next pgtype.Timestamptz
	if err := x.q.QueryRow(ctx, `SELECT min(next_at) FROM hook_notices WHERE state = 'pending'`).Scan(&next); err != nil {
		return time.Time{}, fail("hook notice next due", err)
	}
	return fromTS(next), nil
}

func (x *executor) HookNoticeUpdate(ctx context.Context, n *store.HookNotice) error {
	tag, err := x.q.Exec(ctx, `UPDATE hook_notices SET state = $1, attempts = $2, next_at = $3, last_error = $4, escalated_at = $5, updated_at = $6
		WHERE id = $7`, n.State, n.Attempts, ts(n.NextAt), n.LastError, nullTS(n.EscalatedAt), ts(n.UpdatedAt), n.ID)
	if err != nil {
		return fail("hook notice update", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("hook notice update %s: %w", n.ID, store.ErrNotFound)
	}
	return nil
}

func (x *executor) HookNoticePrune(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	tag, err := x.q.Exec(ctx, `DELETE FROM hook_notices WHERE id IN (
		SELECT id FROM hook_notices WHERE state = 'done' AND updated_at < $1 ORDER BY updated_at LIMIT $2)`, ts(before), limit)
	if err != nil {
		return 0, fail("hook notice prune", err)
	}
	return int(tag.RowsAffected()), nil
}
