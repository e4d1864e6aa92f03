package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// The SLA queries run a few times a minute, so none is prepared at Open.

// queueAges scans rows of (name, count, oldest[, next]); withNext says
// whether the query has the fourth column.
func (q Queries) queueAges(ctx context.Context, what string, withNext bool, query string, args ...any) ([]*store.QueueAge, error) {
	out, err := list(ctx, q, func(r Row) (*store.QueueAge, error) {
		var a store.QueueAge
		dest := []any{&a.Name, &a.Count, q.db.ScanTime(&a.Oldest)}
		if withNext {
			dest = append(dest, q.db.ScanTime(&a.NextAt))
		}
		if err := r.Scan(dest...); err != nil {
			return nil, err
		}
		return &a, nil
	}, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// EventAgeByFlow implements store.SLAStore.
func (q Queries) EventAgeByFlow(ctx context.Context, state store.EventState) ([]*store.QueueAge, error) {
	return q.queueAges(ctx, "event age by flow", false,
		`SELECT flow, count(*), min(received_at) FROM events WHERE state = ? GROUP BY flow ORDER BY flow`, string(state))
}

// DeliveryAgeByDestination implements store.SLAStore.
func (q Queries) DeliveryAgeByDestination(ctx context.Context) ([]*store.QueueAge, error) {
	return q.queueAges(ctx, "delivery age by destination", true,
		`SELECT destination, count(*), min(created_at), min(next_at) FROM deliveries WHERE state = 'pending'
		 GROUP BY destination ORDER BY destination`)
}

// SLABreachOpen implements store.SLAStore. The unique partial index on
// open breaches' keys makes "fire once" hold across instances.
func (q Queries) SLABreachOpen(ctx context.Context, b *store.SLABreach) (bool, error) {
	details := string(b.Details)
	if details == "" {
		details = "{}"
	}
	n, err := q.exec(ctx, `INSERT INTO sla_breaches (id, key, kind, subject, details, opened_at, updated_at, resolved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
		ON CONFLICT (key) WHERE resolved_at IS NULL DO NOTHING`,
		b.ID, b.Key, b.Kind, b.Subject, details, q.db.Time(b.OpenedAt), q.db.Time(b.OpenedAt))
	if err != nil {
		return false, fmt.Errorf("sla breach open: %w", err)
	}
	return n == 1, nil
}

// SLABreachUpdate implements store.SLAStore.
func (q Queries) SLABreachUpdate(ctx context.Context, p *store.SLABreachUpdateParams) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("sla breach update: %w", err)
	}
	n, err := q.exec(ctx, `UPDATE sla_breaches SET details = ?, updated_at = ? WHERE key = ? AND resolved_at IS NULL`,
		string(p.Details), q.db.Time(p.Now), p.Key)
	if err != nil {
		return fmt.Errorf("sla breach update: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sla breach update %s: %w", p.Key, store.ErrNotFound)
	}
	return nil
}

// SLABreachResolve implements store.SLAStore.
func (q Queries) SLABreachResolve(ctx context.Context, p *store.SLABreachResolveParams) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("sla breach resolve: %w", err)
	}
	n, err := q.exec(ctx, `UPDATE sla_breaches SET resolved_at = ?, updated_at = ? WHERE key = ? AND resolved_at IS NULL`,
		q.db.Time(p.Now), q.db.Time(p.Now), p.Key)
	if err != nil {
		return false, fmt.Errorf("sla breach resolve: %w", err)
	}
	return n == 1, nil
}

// SLABreachList implements store.SLAStore.
func (q Queries) SLABreachList(ctx context.Context, p *store.SLABreachListParams) ([]*store.SLABreach, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("sla breach list: %w", err)
	}
	query := `SELECT id, key, kind, subject, details, opened_at, updated_at, resolved_at FROM sla_breaches`
	switch p.Status {
	case "", "open":
		query += ` WHERE resolved_at IS NULL`
	case "resolved":
		query += ` WHERE resolved_at IS NOT NULL`
	}
	out, err := list(ctx, q, func(r Row) (*store.SLABreach, error) {
		var b store.SLABreach
		var details string
		if err := r.Scan(&b.ID, &b.Key, &b.Kind, &b.Subject, &details,
			q.db.ScanTime(&b.OpenedAt), q.db.ScanTime(&b.UpdatedAt), q.db.ScanTime(&b.ResolvedAt)); err != nil {
			return nil, err
		}
		b.Details = json.RawMessage(details)
		return &b, nil
	}, query+` ORDER BY opened_at DESC, id DESC LIMIT ?`, store.PageLimit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("sla breach list: %w", err)
	}
	return out, nil
}

// AlertCursorGet implements store.SLAStore.
func (q Queries) AlertCursorGet(ctx context.Context, name string) (string, error) {
	var v string
	if err := q.row(ctx, `SELECT value FROM alert_cursors WHERE name = ?`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("alert cursor %s: %w", name, err)
	}
	return v, nil
}

// AlertCursorAdvance implements store.SLAStore: a compare-and-set, so of
// several instances only one moves the cursor past a given value.
func (q Queries) AlertCursorAdvance(ctx context.Context, p *store.AlertCursorAdvanceParams) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("alert cursor advance: %w", err)
	}
	var n int64
	var err error
	if p.From == "" {
		n, err = q.exec(ctx, `INSERT INTO alert_cursors (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, p.Name, p.To, q.db.Time(p.Now))
	} else {
		n, err = q.exec(ctx, `UPDATE alert_cursors SET value = ?, updated_at = ? WHERE name = ? AND value = ?`,
			p.To, q.db.Time(p.Now), p.Name, p.From)
	}
	if err != nil {
		return false, fmt.Errorf("alert cursor advance: %w", err)
	}
	return n == 1, nil
}
