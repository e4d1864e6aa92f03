package storepg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.SLAStore = (*executor)(nil)

func (x *executor) queueAges(ctx context.Context, what, q string, args ...any) ([]*store.QueueAge, error) {
	rows, err := x.q.Query(ctx, q, args...)
	if err != nil {
		return nil, fail(what, err)
	}
	defer rows.Close()
	var out []*store.QueueAge
	for rows.Next() {
		var a store.QueueAge
		var oldest, next pgtype.Timestamptz
		if err := rows.Scan(&a.Name, &a.Count, &oldest, &next); err != nil {
			return nil, fail(what, err)
		}
		a.Oldest, a.NextAt = fromTS(oldest), fromTS(next)
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(what, err)
	}
	return out, nil
}

func (x *executor) EventAgeByFlow(ctx context.Context, state string) ([]*store.QueueAge, error) {
	return x.queueAges(ctx, "event age by flow",
		`SELECT flow, count(*), min(received_at), NULL::timestamptz FROM events WHERE state = $1 GROUP BY flow ORDER BY flow`, state)
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
	tag, err := x.q.Exec(ctx, `INSERT INTO sla_breaches (id, key, kind, subject, details, opened_at, updated_at, resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6, NULL)
		ON CONFLICT (key) WHERE resolved_at IS NULL DO NOTHING`,
		b.ID, b.Key, b.Kind, b.Subject, details, ts(b.OpenedAt))
	if err != nil {
		return false, fail("sla breach open", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (x *executor) SLABreachUpdate(ctx context.Context, key string, details json.RawMessage, now time.Time) error {
	tag, err := x.q.Exec(ctx, `UPDATE sla_breaches SET details = $1, updated_at = $2 WHERE key = $3 AND resolved_at IS NULL`,
		string(details), ts(now), key)
	if err != nil {
		return fail("sla breach update", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sla breach update %s: %w", key, store.ErrNotFound)
	}
	return nil
}

func (x *executor) SLABreachResolve(ctx context.Context, key string, now time.Time) (bool, error) {
	tag, err := x.q.Exec(ctx, `UPDATE sla_breaches SET resolved_at = $1, updated_at = $1 WHERE key = $2 AND resolved_at IS NULL`,
		ts(now), key)
	if err != nil {
		return false, fail("sla breach resolve", err)
	}
	return tag.RowsAffected() == 1, nil
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
	rows, err := x.q.Query(ctx, q+` ORDER BY opened_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fail("sla breach list", err)
	}
	defer rows.Close()
	var out []*store.SLABreach
	for rows.Next() {
		var b store.SLABreach
		var details string
		var resolved pgtype.Timestamptz
		if err := rows.Scan(&b.ID, &b.Key, &b.Kind, &b.Subject, &details, &b.OpenedAt, &b.UpdatedAt, &resolved); err != nil {
			return nil, fail("sla breach list", err)
		}
		b.Details = json.RawMessage(details)
		b.OpenedAt, b.UpdatedAt, b.ResolvedAt = b.OpenedAt.UTC(), b.UpdatedAt.UTC(), fromTS(resolved)
		out = append(out, &b)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("sla breach list", err)
	}
	return out, nil
}

func (x *executor) AlertCursorGet(ctx context.Context, name string) (string, error) {
	var v string
	if err := x.q.QueryRow(ctx, `SELECT value FROM alert_cursors WHERE name = $1`, name).Scan(&v); err != nil {
		return "", fail("alert cursor "+name, err)
	}
	return v, nil
}

func (x *executor) AlertCursorAdvance(ctx context.Context, name, from, to string, now time.Time) (bool, error) {
	var q string
	args := []any{name, to, ts(now)}
	if from == "" {
		q = `INSERT INTO alert_cursors (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
	} else {
		q = `UPDATE alert_cursors SET value = $2, updated_at = $3 WHERE name = $1 AND value = $4`
		args = append(args, from)
	}
	tag, err := x.q.Exec(ctx, q, args...)
	if err != nil {
		return false, fail("alert cursor advance", err)
	}
	return tag.RowsAffected() == 1, nil
}
