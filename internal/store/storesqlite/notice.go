package storesqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

const noticeCols = `id, source, platform, notice_key, type, object, record_id, occurred_at, state, attempts, next_at,
	last_error, escalated_at, created_at, updated_at`

func scanNotice(sc interface{ Scan(...any) error }) (*store.HookNotice, error) {
	var n store.HookNotice
	var occurred, next, escalated, created, updated int64
	if err := sc.Scan(&n.ID, &n.Source, &n.Platform, &n.Key, &n.Type, &n.Object, &n.RecordID, &occurred, &n.State, &n.Attempts, &next,
		&n.LastError, &escalated, &created, &updated); err != nil {
		return nil, err
	}
	n.OccurredAt, n.NextAt, n.EscalatedAt, n.CreatedAt, n.UpdatedAt = fromMS(occurred), fromMS(next), fromMS(escalated), fromMS(created), fromMS(updated)
	return &n, nil
}

func (x *executor) HookNoticeAdd(ctx context.Context, n *store.HookNotice) (string, bool, error) {
	res, err := x.w.ExecContext(ctx, `INSERT INTO hook_notices (`+noticeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, notice_key) DO NOTHING`,
		n.ID, n.Source, n.Platform, n.Key, n.Type, n.Object, n.RecordID, ms(n.OccurredAt), n.State, n.Attempts, ms(n.NextAt),
		n.LastError, ms(n.EscalatedAt), ms(n.CreatedAt), ms(n.UpdatedAt))
	if err != nil {
		return "", false, fmt.Errorf("hook notice add: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 1 {
		return "", true, nil
	}
	var id string
	if err := x.w.QueryRowContext(ctx, `SELECT id FROM hook_notices WHERE source = ? AND notice_key = ?`, n.Source, n.Key).Scan(&id); err != nil {
		return "", false, fmt.Errorf("hook notice add: %w", err)
	}
	return id, false, nil
}

func (x *executor) HookNoticeGet(ctx context.Context, id string) (*store.HookNotice, error) {
	// On the write connection: inside a transaction it must see the
	// transaction's own changes.
	n, err := scanNotice(x.w.QueryRowContext(ctx, `SELECT `+noticeCols+` FROM hook_notices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("hook notice get: %w", err)
	}
	return n, nil
}

func (x *executor) HookNoticeListDue(ctx context.Context, now time.Time, limit int) ([]*store.HookNotice, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := x.r.QueryContext(ctx, `SELECT `+noticeCols+` FROM hook_notices WHERE state = 'pending' AND next_at <= ?
		ORDER BY next_at, id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("hook notice list due: %w", err)
	}
	defer rows.Close()
	var out []*store.HookNotice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("hook notice list due: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hook notice list due: %w", err)
	}
	return out, nil
}

func (x *executor) HookNoticeNextDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	if err := x.r.QueryRowContext(ctx, `SELECT min(next_at) FROM hook_notices WHERE state = 'pending'`).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("hook notice next due: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return fromMS(next.Int64), nil
}

func (x *executor) HookNoticeUpdate(ctx context.Context, n *store.HookNotice) error {
	res, err := x.w.ExecContext(ctx, `UPDATE hook_notices SET state = ?, attempts = ?, next_at = ?, last_error = ?, escalated_at = ?, updated_at = ?
		WHERE id = ?`, n.State, n.Attempts, ms(n.NextAt), n.LastError, ms(n.EscalatedAt), ms(n.UpdatedAt), n.ID)
	if err != nil {
		return fmt.Errorf("hook notice update: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("hook notice update %s: %w", n.ID, store.ErrNotFound)
	}
	return nil
}

func (x *executor) HookNoticePrune(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	res, err := x.w.ExecContext(ctx, `DELETE FROM hook_notices WHERE id IN (
		SELECT id FROM hook_notices WHERE state = 'done' AND updated_at < ? ORDER BY updated_at LIMIT ?)`, ms(before), limit)
	if err != nil {
		return 0, fmt.Errorf("hook notice prune: %w", err)
	}
	k, _ := res.RowsAffected()
	return int(k), nil
}
