package storesqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// The SLA queries run a few times a minute, so they are plain statements,
// not hot ones prepared at Open.

var _ store.SLAStore = (*executor)(nil)

func (x *executor) queueAges(ctx context.Context, what, q string, args ...any) ([]*store.QueueAge, error) {
	rows, err := x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []*store.QueueAge
	for rows.Next() {
		var a store.QueueAge
		var oldest, next sql.NullInt64
		if err := rows.Scan(&a.Name, &a.Count, &oldest, &next); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		a.Oldest, a.NextAt = fromMS(oldest.Int64), fromMS(next.Int64)
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (x *executor) EventAgeByFlow(ctx context.Context, state string) ([]*store.QueueAge, error) {
	return x.queueAges(ctx, "event age by flow",
		`SELECT flow, count(*), min(received_at), NULL FROM events WHERE state = ? GROUP BY flow ORDER BY flow`, state)
}

func (x *executor) DeliveryAgeByDestination(ctx context.Context) ([]*store.QueueAge, error) {
	return x.queueAges(ctx, "delivery age by destination",
		`SELECT destination, count(*), min(created_at), min(next_at) FROM deliveries WHERE state = 'pending'
		 GROUP BY destination ORDER BY destination`)
}

func (x *executor) SLABreachOpen(ctx context.Context, b *store.SLABreach) (bool, error) {
	details := string(b.Details)
	if details == "" {
		details = "{}"
	}
	res, err := x.w.ExecContext(ctx, `INSERT INTO sla_breaches (id, key, kind, subject, details, opened_at, updated_at, resolved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
		ON CONFLICT (key) WHERE resolved_at IS NULL DO NOTHING`,
		b.ID, b.Key, b.Kind, b.Subject, details, ms(b.OpenedAt), ms(b.OpenedAt))
	if err != nil {
		return false, fmt.Errorf("sla breach open: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (x *executor) SLABreachUpdate(ctx context.Context, key string, details json.RawMessage, now time.Time) error {
	res, err := x.w.ExecContext(ctx, `UPDATE sla_breaches SET details = ?, updated_at = ? WHERE key = ? AND resolved_at IS NULL`,
		string(details), ms(now), key)
	if err != nil {
		return fmt.Errorf("sla breach update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sla breach update %s: %w", key, store.ErrNotFound)
	}
	return nil
}

func (x *executor) SLABreachResolve(ctx context.Context, key string, now time.Time) (bool, error) {
	res, err := x.w.ExecContext(ctx, `UPDATE sla_breaches SET resolved_at = ?, updated_at = ? WHERE key = ? AND resolved_at IS NULL`,
		ms(now), ms(now), key)
	if err != nil {
		return false, fmt.Errorf("sla breach resolve: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (x *executor) SLABreachList(ctx context.Context, p *store.SLABreachListParams) ([]*store.SLABreach, error) {
	q := `SELECT id, key, kind, subject, details, opened_at, updated_at, resolved_at FROM sla_breaches`
	switch p.Status {
	case "", "open":
		q += ` WHERE resolved_at IS NULL`
	case "resolved":
		q += ` WHERE resolved_at IS NOT NULL`
	case "all":
	default:
		return nil, fmt.Errorf("sla breach list: unknown status %q", p.Status)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := x.r.QueryContext(ctx, q+` ORDER BY opened_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sla breach list: %w", err)
	}
	defer rows.Close()
	var out []*store.SLABreach
	for rows.Next() {
		var b store.SLABreach
		var details string
		var opened, updated int64
		var resolved sql.NullInt64
		if err := rows.Scan(&b.ID, &b.Key, &b.Kind, &b.Subject, &details, &opened, &updated, &resolved); err != nil {
			return nil, fmt.Errorf("sla breach list: %w", err)
		}
		b.Details = json.RawMessage(details)
		b.OpenedAt, b.UpdatedAt, b.ResolvedAt = fromMS(opened), fromMS(updated), fromMS(resolved.Int64)
		out = append(out, &b)
	}
	return out, rows.Err()
}

func (x *executor) AlertCursorGet(ctx context.Context, name string) (string, error) {
	var v string
	err := x.r.QueryRowContext(ctx, `SELECT value FROM alert_cursors WHERE name = ?`, name).Scan(&v)
	if err != nil {
		return "", notFound(err, "alert cursor "+name)
	}
	return v, nil
}

func (x *executor) AlertCursorAdvance(ctx context.Context, name, from, to string, now time.Time) (bool, error) {
	var res sql.Result
	var err error
	if from == "" {
		res, err = x.w.ExecContext(ctx, `INSERT INTO alert_cursors (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, name, to, ms(now))
	} else {
		res, err = x.w.ExecContext(ctx, `UPDATE alert_cursors SET value = ?, updated_at = ? WHERE name = ? AND value = ?`,
			to, ms(now), name, from)
	}
	if err != nil {
		return false, fmt.Errorf("alert cursor advance: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
