package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

const noticeCols = `id, source, platform, notice_key, type, object, record_id, occurred_at, state, attempts, next_at,
	last_error, escalated_at, created_at, updated_at`

const (
	qNoticeAdd = `INSERT INTO hook_notices (` + noticeCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, notice_key) DO NOTHING`
	qNoticeByKey   = `SELECT id FROM hook_notices WHERE source = ? AND notice_key = ?`
	qNoticeByID    = `SELECT ` + noticeCols + ` FROM hook_notices WHERE id = ?`
	qNoticesDue    = `SELECT ` + noticeCols + ` FROM hook_notices WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?`
	qNoticeNextDue = `SELECT next_at FROM hook_notices WHERE state = 'pending' ORDER BY next_at LIMIT 1`
	qNoticeUpdate  = `UPDATE hook_notices SET state = ?, attempts = ?, next_at = ?, last_error = ?, escalated_at = ?, updated_at = ?
		WHERE id = ?`
	qNoticePrune = `DELETE FROM hook_notices WHERE id IN (
		SELECT id FROM hook_notices WHERE state = 'done' AND updated_at < ? ORDER BY updated_at LIMIT ?)`
)

func (q Queries) scanNotice(r Row) (*store.HookNotice, error) {
	var n store.HookNotice
	if err := r.Scan(&n.ID, &n.Source, &n.Platform, &n.Key, &n.Type, &n.Object, &n.RecordID, q.db.ScanTime(&n.OccurredAt), &n.State,
		&n.Attempts, q.db.ScanTime(&n.NextAt), &n.LastError, q.db.ScanTime(&n.EscalatedAt), q.db.ScanTime(&n.CreatedAt),
		q.db.ScanTime(&n.UpdatedAt)); err != nil {
		return nil, err
	}
	return &n, nil
}

// HookNoticeAdd implements store.NoticeStore.
func (q Queries) HookNoticeAdd(ctx context.Context, n *store.HookNotice) (string, bool, error) {
	k, err := q.exec(ctx, qNoticeAdd, n.ID, n.Source, n.Platform, n.Key, n.Type, n.Object, n.RecordID, q.db.Time(n.OccurredAt), n.State,
		n.Attempts, q.db.Time(n.NextAt), n.LastError, q.db.OptTime(n.EscalatedAt), q.db.Time(n.CreatedAt), q.db.Time(n.UpdatedAt))
	if err != nil {
		return "", false, fmt.Errorf("hook notice add: %w", err)
	}
	if k == 1 {
		return "", true, nil
	}
	var id string
	if err := q.row(ctx, qNoticeByKey, n.Source, n.Key).Scan(&id); err != nil {
		return "", false, fmt.Errorf("hook notice add: %w", err)
	}
	return id, false, nil
}

// HookNoticeGet implements store.NoticeStore.
func (q Queries) HookNoticeGet(ctx context.Context, id string) (*store.HookNotice, error) {
	n, err := q.scanNotice(q.row(ctx, qNoticeByID, id))
	if err != nil {
		return nil, fmt.Errorf("hook notice get: %w", err)
	}
	return n, nil
}

// HookNoticeListDue implements store.NoticeStore.
func (q Queries) HookNoticeListDue(ctx context.Context, now time.Time, limit int) ([]*store.HookNotice, error) {
	if limit <= 0 {
		limit = 100
	}
	out, err := list(ctx, q, q.scanNotice, qNoticesDue, q.db.Time(now), limit)
	if err != nil {
		return nil, fmt.Errorf("hook notice list due: %w", err)
	}
	return out, nil
}

// HookNoticeNextDue implements store.NoticeStore.
func (q Queries) HookNoticeNextDue(ctx context.Context) (time.Time, error) {
	var next time.Time
	err := q.row(ctx, qNoticeNextDue).Scan(q.db.ScanTime(&next))
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("hook notice next due: %w", err)
	}
	return next, nil
}

// HookNoticeUpdate implements store.NoticeStore.
func (q Queries) HookNoticeUpdate(ctx context.Context, n *store.HookNotice) error {
	k, err := q.exec(ctx, qNoticeUpdate, n.State, n.Attempts, q.db.Time(n.NextAt), n.LastError, q.db.OptTime(n.EscalatedAt),
		q.db.Time(n.UpdatedAt), n.ID)
	if err != nil {
		return fmt.Errorf("hook notice update: %w", err)
	}
	if k == 0 {
		return fmt.Errorf("hook notice update %s: %w", n.ID, store.ErrNotFound)
	}
	return nil
}

// HookNoticeList implements store.NoticeStore.
func (q Queries) HookNoticeList(ctx context.Context, p *store.HookNoticeListParams) ([]*store.HookNotice, error) {
	var f filter
	f.add("source = ?", p.Source)
	if p.State != "" {
		f.add("state = ?", p.State)
	}
	limit := p.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	out, err := list(ctx, q, q.scanNotice, `SELECT `+noticeCols+` FROM hook_notices`+f.where()+` ORDER BY created_at DESC, id DESC LIMIT ?`,
		append(f.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("hook notice list: %w", err)
	}
	return out, nil
}

// HookNoticeBacklog implements store.NoticeStore.
func (q Queries) HookNoticeBacklog(ctx context.Context) (*store.NoticeBacklog, error) {
	var b store.NoticeBacklog
	err := q.row(ctx, `SELECT count(*), COALESCE(sum(CASE WHEN `+q.db.TimeIsSet("escalated_at")+` THEN 1 ELSE 0 END), 0), min(created_at)
		FROM hook_notices WHERE state = 'pending'`).Scan(&b.Pending, &b.Escalated, q.db.ScanTime(&b.Oldest))
	if err != nil {
		return nil, fmt.Errorf("hook notice backlog: %w", err)
	}
	return &b, nil
}

// HookNoticePrune implements store.NoticeStore.
func (q Queries) HookNoticePrune(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	k, err := q.exec(ctx, qNoticePrune, q.db.Time(before), limit)
	if err != nil {
		return 0, fmt.Errorf("hook notice prune: %w", err)
	}
	return int(k), nil
}
