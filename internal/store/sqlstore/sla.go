package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// The SLA queries run a few times a minute (and the delivery ones on every
// metrics scrape), so none is prepared at Open. Each reads one flow or
// destination by index seeks: the oldest item is the first entry of an
// index range, the count walks the same range and stops at the caller's
// limit. None sorts, and the counts read no row, so their cost does not
// grow with the backlog (ADR 0039). The events' index is
// events_state_flow (state, flow, id) (ADR 0047); an event's id begins
// with the time it was received (the same clock reading as received_at),
// so the first id of a range is its oldest event.

// The event state is written into the text, not bound, so the planner of
// either database sees the state the statement reads (a plan made for
// 'delivering' is not reused for 'held').
func eventStateLiteral(st store.EventState) (string, error) {
	switch st {
	case store.EventDelivering, store.EventHeld:
		return "'" + string(st) + "'", nil
	}
	return "", fmt.Errorf("event age by flow: state %q: must be %s or %s", st, store.EventDelivering, store.EventHeld)
}

// QueryEventOldest is the received_at of a flow's first event (by id) in
// a state: one seek on events_state_flow and one row.
func QueryEventOldest(st store.EventState) string {
	lit, _ := eventStateLiteral(st)
	return `SELECT received_at FROM events WHERE state = ` + lit + ` AND flow = ? ORDER BY id LIMIT 1`
}

// QueryEventCount counts a flow's events in a state, stopping at the
// bound limit (from events_state_flow, index only). The ORDER BY is the
// index's: it steers PostgreSQL to the index walk that stops at the
// limit, not a bitmap scan (which reads every match before the LIMIT) or
// another partial index of held events without the flow.
func QueryEventCount(st store.EventState) string {
	lit, _ := eventStateLiteral(st)
	return `SELECT count(*) FROM (SELECT 1 FROM events WHERE state = ` + lit + ` AND flow = ? ORDER BY id LIMIT ?) c`
}

// The delivery queries: the oldest pending delivery of a destination
// (deliveries_pending_age, whose predicate only these queries imply: see
// migration 0039), its earliest next_at
// (deliveries_ready, the claim's index) and its count
// (deliveries_pending_age, index only, in its order for the reason given
// at QueryEventCount).
const (
	QueryDeliveryOldest = `SELECT created_at FROM deliveries WHERE (state || '') = 'pending' AND destination = ? ORDER BY created_at LIMIT 1`
	QueryDeliveryNextAt = `SELECT next_at FROM deliveries WHERE state = 'pending' AND destination = ? ORDER BY next_at LIMIT 1`
	QueryDeliveryCount  = `SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE (state || '') = 'pending' AND destination = ? ORDER BY created_at LIMIT ?) c`
)

// QueryEventCountAll and QueryDeliveryCountAll count without a limit (and
// so without the ORDER BY, which would make PostgreSQL sort every match).
func QueryEventCountAll(st store.EventState) string {
	lit, _ := eventStateLiteral(st)
	return `SELECT count(*) FROM events WHERE state = ` + lit + ` AND flow = ?`
}

const QueryDeliveryCountAll = `SELECT count(*) FROM deliveries WHERE state = 'pending' AND destination = ?`

// queueAge reads one name: its count, then (when something waits) its
// oldest time and, for deliveries, its earliest next_at.
func (q Queries) queueAge(ctx context.Context, name string, limit int64, count, oldest, next string) (*store.QueueAge, error) {
	a := &store.QueueAge{Name: name}
	args := []any{name}
	if limit > 0 {
		args = append(args, limit)
	}
	if err := q.row(ctx, count, args...).Scan(&a.Count); err != nil {
		return nil, err
	}
	if a.Count == 0 {
		return nil, nil
	}
	a.Capped = limit > 0 && a.Count >= limit
	// The count and the oldest are two statements: an item settled in
	// between leaves no row, which reads as nothing waiting any more.
	if err := q.row(ctx, oldest, name).Scan(q.db.ScanTime(&a.Oldest)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	if next != "" {
		if err := q.row(ctx, next, name).Scan(q.db.ScanTime(&a.NextAt)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return nil, err
		}
	}
	return a, nil
}

// EventAgeByFlow implements store.SLAStore.
func (q Queries) EventAgeByFlow(ctx context.Context, p *store.QueueAgeParams) ([]*store.QueueAge, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("event age by flow: %w", err)
	}
	if _, err := eventStateLiteral(p.State); err != nil {
		return nil, err
	}
	count, oldest := QueryEventCount(p.State), QueryEventOldest(p.State)
	if p.CountLimit == 0 {
		count = QueryEventCountAll(p.State)
	}
	var out []*store.QueueAge
	for _, name := range sortedUnique(p.Names) {
		a, err := q.queueAge(ctx, name, p.CountLimit, count, oldest, "")
		if err != nil {
			return nil, fmt.Errorf("event age by flow %s: %w", name, err)
		}
		if a != nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// DeliveryAgeByDestination implements store.SLAStore.
func (q Queries) DeliveryAgeByDestination(ctx context.Context, p *store.QueueAgeParams) ([]*store.QueueAge, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("delivery age by destination: %w", err)
	}
	if p.State != "" {
		return nil, fmt.Errorf("delivery age by destination: state %q: deliveries are always read pending; leave it empty", p.State)
	}
	count := QueryDeliveryCount
	if p.CountLimit == 0 {
		count = QueryDeliveryCountAll
	}
	var out []*store.QueueAge
	for _, name := range sortedUnique(p.Names) {
		a, err := q.queueAge(ctx, name, p.CountLimit, count, QueryDeliveryOldest, QueryDeliveryNextAt)
		if err != nil {
			return nil, fmt.Errorf("delivery age by destination %s: %w", name, err)
		}
		if a != nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// sortedUnique returns names sorted, without repeats.
func sortedUnique(names []string) []string {
	out := append([]string(nil), names...)
	sort.Strings(out)
	return slices.Compact(out)
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

// The console's queue statements (QueueStats). Deliveries in flight are
// few (at most the workers' concurrency across instances), so they are
// read in one statement through deliveries_lease. The others are one
// destination at a time: the count walks the destination's entries of
// deliveries_active_key (its WHERE is the index's), index only, in the
// index's order for the reason given at QueryEventCount, and stops at the
// limit; the oldest is a seek on deliveries_pending_age (ADR 0034).
const (
	QueryQueueInflight   = `SELECT destination, created_at FROM deliveries WHERE state = 'inflight'`
	QueryQueueUnfinished = `SELECT count(*) FROM (SELECT 1 FROM deliveries
		WHERE (state = 'waiting' OR state = 'pending' OR state = 'inflight') AND destination = ? ORDER BY record_key, seq LIMIT ?) c`
	QueryQueueUnfinishedAll = `SELECT count(*) FROM deliveries
		WHERE (state = 'waiting' OR state = 'pending' OR state = 'inflight') AND destination = ?`
)

// QueueStats implements store.ConsoleStore. The oldest unfinished
// delivery is the older of the oldest pending and the oldest in flight:
// a waiting delivery waits behind an unfinished one of the same record
// key, created before it, so it is never the oldest (the capture of the
// later one on another instance's clock could be earlier by that clock's
// skew).
func (q Queries) QueueStats(ctx context.Context, p *store.QueueStatsParams) ([]*store.QueueStat, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	// Grouped here, not in the statement: with GROUP BY destination
	// SQLite walks deliveries_active_key in destination order, every
	// unfinished delivery, rather than the few in flight.
	type flight struct {
		n      int64
		oldest time.Time
	}
	inflight := map[string]flight{}
	rows, err := list(ctx, q, func(r Row) (*store.QueueStat, error) {
		var s store.QueueStat
		if err := r.Scan(&s.Destination, q.db.ScanTime(&s.Oldest)); err != nil {
			return nil, err
		}
		return &s, nil
	}, QueryQueueInflight)
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	for _, s := range rows {
		f := inflight[s.Destination]
		f.n++
		if f.oldest.IsZero() || s.Oldest.Before(f.oldest) {
			f.oldest = s.Oldest
		}
		inflight[s.Destination] = f
	}
	var out []*store.QueueStat
	for _, name := range sortedUnique(p.Destinations) {
		f := inflight[name]
		s := &store.QueueStat{Destination: name, Inflight: f.n, Oldest: f.oldest}
		// Count the in-flight ones as well (the index holds them) and
		// take them off after: the limit applies to the others. One past
		// the limit, so that a count of exactly the limit is exact.
		var n int64
		var err error
		if p.CountLimit > 0 {
			err = q.row(ctx, QueryQueueUnfinished, name, p.CountLimit+1+f.n).Scan(&n)
		} else {
			err = q.row(ctx, QueryQueueUnfinishedAll, name).Scan(&n)
		}
		if err != nil {
			return nil, fmt.Errorf("queue stats %s: %w", name, err)
		}
		// A delivery claimed or settled between the two reads can make
		// the difference negative.
		s.Pending = max(n-f.n, 0)
		if p.CountLimit > 0 && s.Pending > p.CountLimit {
			s.Pending, s.Capped = p.CountLimit, true
		}
		var oldest time.Time
		if err := q.row(ctx, QueryDeliveryOldest, name).Scan(q.db.ScanTime(&oldest)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("queue stats %s: %w", name, err)
		}
		if !oldest.IsZero() && (s.Oldest.IsZero() || oldest.Before(s.Oldest)) {
			s.Oldest = oldest
		}
		if s.Pending == 0 && s.Inflight == 0 {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}
