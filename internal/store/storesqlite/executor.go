package storesqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// executor runs every query; r serves reads and w writes (both are the
// transaction inside one).
type executor struct {
	r, w    querier
	head    *chainHead               // set inside a transaction
	pending *[]*store.AuditEntry     // audit entries queued in the transaction; see flushAudit
	held    *heldCache               // held keys read in the transaction; see mayBeHeld
	txStmts *map[*sql.Stmt]*sql.Stmt // the transaction's handles of prepared statements; see stmt
	d       *Driver
	tx      *sql.Tx // nil outside a transaction

	// Queries are the queries written once for every SQL store
	// (escalations, reconciliations, identities, destination states, ...),
	// run through sharedDB.
	sqlstore.Queries
}

// stmt is st for use in the transaction (st itself outside one). The
// handle database/sql makes for a transaction (Tx.StmtContext) is kept for
// the transaction's later statements: a batch of captures runs the same
// few statements hundreds of times, and each new handle costs locks and
// allocations (and one more to close at the commit); the driver statement
// underneath is the same either way.
func (x *executor) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	if x.tx == nil {
		return st
	}
	if x.txStmts == nil {
		return x.tx.StmtContext(ctx, st)
	}
	if ts, ok := (*x.txStmts)[st]; ok {
		return ts
	}
	if *x.txStmts == nil {
		*x.txStmts = map[*sql.Stmt]*sql.Stmt{}
	}
	ts := x.tx.StmtContext(ctx, st)
	(*x.txStmts)[st] = ts
	return ts
}

// execHot runs a hot write statement through the driver's prepared
// statement cache.
func (x *executor) execHot(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if x.d == nil { // a transaction of its own (AuditAppend outside one)
		return x.w.ExecContext(ctx, query, args...)
	}
	st, ok := x.d.stmts[query]
	if !ok {
		return x.w.ExecContext(ctx, query, args...)
	}
	return x.stmt(ctx, st).ExecContext(ctx, args...)
}

// rowHot runs a single-row query through the prepared statement cache when
// it runs on the write connection (inside a transaction or on w); reads on
// the read pool are prepared per call.
func (x *executor) rowHot(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	if st, ok := x.d.stmts[query]; ok {
		if x.tx != nil {
			return x.stmt(ctx, st).QueryRowContext(ctx, args...)
		}
		if q == x.w {
			return st.QueryRowContext(ctx, args...)
		}
	}
	if rs, ok := x.d.rstmts[query]; ok && q == x.r {
		return rs.QueryRowContext(ctx, args...)
	}
	return q.QueryRowContext(ctx, query, args...)
}

// rowsHot is rowHot for multi-row queries.
func (x *executor) rowsHot(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	if st, ok := x.d.stmts[query]; ok {
		if x.tx != nil {
			return x.stmt(ctx, st).QueryContext(ctx, args...)
		}
		if q == x.w {
			return st.QueryContext(ctx, args...)
		}
	}
	if rs, ok := x.d.rstmts[query]; ok && q == x.r {
		return rs.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, query, args...)
}

// queryRowHot is execHot for single-row reads on the write side.
func (x *executor) queryRowHot(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	if x.d == nil {
		return x.w.QueryRowContext(ctx, query, args...), nil
	}
	st, ok := x.d.stmts[query]
	if !ok {
		return x.w.QueryRowContext(ctx, query, args...), nil
	}
	return x.stmt(ctx, st).QueryRowContext(ctx, args...), nil
}

var _ store.Executor = (*executor)(nil)

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// Hot queries, prepared once at Open.
const (
	qEventInsert = `INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw,
		canonical, problems, missing, hold_until, received_at, updated_at, config_version, operation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, idem_key) WHERE idem_key IS NOT NULL DO NOTHING`
	qEventByIdem    = `SELECT id FROM events WHERE source = ? AND idem_key = ?`
	qDeliveryInsert = `INSERT INTO deliveries (id, event_id, route, destination, record_key, state, after_routes,
		payload, attempts, next_at, lease_owner, lease_until, ambiguous, external_id, last_status, last_error, created_at, updated_at,
		fallback, fallback_id, fallback_for, operation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qAuditInsertHead = `INSERT INTO audit_log (seq, at, event_id, delivery_id, route, attempt, actor, action, outcome,
		status, message, latency_ms, prev_hash, hash) VALUES `
	qAuditInsert = qAuditInsertHead + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qAuditHead   = `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`
	// INDEXED BY: with events_flow_id (console search; merged into
	// events_state_flow since, ADR 0047) the planner picked (flow, id) for
	// the ORDER BY and scanned every event of the flow on every capture.
	// No ORDER BY: sorting a key's few held events in SQL built a temporary
	// b-tree on every capture; EventListHeldByKey sorts them in Go.
	qHeldByKey = `SELECT ` + eventCols + ` FROM events INDEXED BY events_held_key WHERE state = 'held' AND flow = ? AND record_key = ?`
)

var hotQueries = append([]string{qHeldKeys, qEventStateByID, qEventInsert, qEventByIdem, qDeliveryInsert, qAuditInsert, qAuditHead, qHeldByKey, qEventByID, qEventsHoldExpired, qDeliveryByID, qDeliveriesByEvent, qDeliveriesClaimable, qDeliveriesLease, qDeliveryUpdate, qDeliveriesNeedingFallback, qDeliveryLatestSucceeded, qDeliveriesLeaseExpired, qDeliveryNextReady, qAuditByEvent, qAuditScan}, sqlstore.Prepared()...)

// Static queries, all prepared once at Open on the write connection.
const (
	qEventByID         = `SELECT ` + eventCols + ` FROM events WHERE id = ?`
	qEventStateByID    = `SELECT state FROM events WHERE id = ?`
	qEventsHoldExpired = `SELECT ` + eventCols + ` FROM events INDEXED BY events_hold_until WHERE state = 'held' AND hold_until IS NOT NULL AND hold_until <= ? ORDER BY hold_until LIMIT ?`
	qDeliveryByID      = `SELECT ` + deliveryCols + ` FROM deliveries WHERE id = ?`
	qDeliveriesByEvent = `SELECT ` + deliveryCols + ` FROM deliveries WHERE event_id = ? ORDER BY seq`
	// LIMIT CAST(? AS INTEGER), not LIMIT ?: SQLite's planner reads a bare
	// bound LIMIT and marks the statement to be re-prepared (parsed and
	// planned again) whenever the value changes, and a claim's limit is
	// the worker's free slots, different almost every time: that was two
	// thirds of a claim's cost. An expression is not read by the planner.
	// Each candidate comes with its identity (store.Delivery.Identity),
	// read in the claim's transaction.
	qDeliveriesClaimable = `SELECT ` + deliveryCols + `,
		  COALESCE((SELECT i.external_id FROM identities i WHERE i.destination = d.destination AND i.record_key = d.record_key), '')
		FROM deliveries d
		WHERE d.destination = ? AND d.state = 'pending' AND d.next_at <= ?
		  AND NOT EXISTS (SELECT 1 FROM deliveries p
		                  WHERE p.destination = d.destination AND p.record_key = d.record_key
		                    AND (p.state = 'waiting' OR p.state = 'pending' OR p.state = 'inflight')
		                    AND (p.seq < d.seq OR p.state = 'inflight'))
		ORDER BY d.next_at, d.seq LIMIT CAST(? AS INTEGER)`
	qDeliveriesLease = `UPDATE deliveries SET state = 'inflight', lease_owner = ?, lease_until = ?,
			attempts = attempts + 1, updated_at = ? WHERE seq IN (SELECT value FROM json_each(?))`
	qDeliveryUpdate = `UPDATE deliveries SET state = ?, payload = ?, attempts = ?, next_at = ?, lease_owner = ?,
		lease_until = ?, ambiguous = ?, external_id = ?, last_status = ?, last_error = ?, updated_at = ?, fallback_id = ? WHERE id = ?`
	qDeliveryLatestSucceeded = `SELECT ` + deliveryCols + ` FROM deliveries
		WHERE destination = ? AND record_key = ? AND state = 'succeeded' AND fallback_for = '' ORDER BY seq DESC LIMIT 1`
	qDeliveriesNeedingFallback = `SELECT ` + deliveryCols + ` FROM deliveries
		WHERE destination = ? AND state = 'pending' AND fallback != '' AND fallback_id = '' ORDER BY seq LIMIT ?`
	// INDEXED BY: for ORDER BY seq LIMIT the planner walked the whole table
	// in rowid order (every delivery ever made) once a second.
	qDeliveriesLeaseExpired = `SELECT ` + deliveryCols + ` FROM deliveries INDEXED BY deliveries_lease WHERE state = 'inflight' AND lease_until < ? ORDER BY seq LIMIT ?`
	qDeliveryNextReady      = `SELECT min(next_at) FROM deliveries WHERE destination = ? AND state = 'pending'`
	qAuditByEvent           = `SELECT ` + auditCols + ` FROM audit_log WHERE event_id = ? ORDER BY seq`
	qAuditScan              = `SELECT ` + auditCols + ` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`
)

// ---- events

const eventCols = `id, source, flow, COALESCE(idem_key, ''), record_key, state, content_type, raw,
	COALESCE(canonical, ''), COALESCE(problems, ''), COALESCE(missing, ''), COALESCE(hold_until, 0), received_at, updated_at, config_version, operation`

// eventSummaryCols reads what lists and audit checks need, never the raw
// body or the record, which may be a megabyte each; see store.Executor.EventList.
const eventSummaryCols = `id, source, flow, COALESCE(idem_key, ''), record_key, state, content_type, X'',
	'', COALESCE(problems, ''), COALESCE(missing, ''), COALESCE(hold_until, 0), received_at, updated_at, config_version, operation`

type scanner interface{ Scan(dest ...any) error }

func scanEvent(s scanner) (*store.Event, error) {
	var e store.Event
	var canonical, problems, missing string
	var holdUntil, received, updated int64
	if err := s.Scan(&e.ID, &e.Source, &e.Flow, &e.IdemKey, &e.RecordKey, &e.State, &e.ContentType, &e.Raw,
		&canonical, &problems, &missing, &holdUntil, &received, &updated, &e.ConfigVersion, &e.Operation); err != nil {
		return nil, err
	}
	if canonical != "" {
		e.Canonical = json.RawMessage(canonical)
	}
	if problems != "" {
		e.Problems = json.RawMessage(problems)
	}
	if missing != "" {
		e.Missing = json.RawMessage(missing)
	}
	e.HoldUntil, e.ReceivedAt, e.UpdatedAt = fromMS(holdUntil), fromMS(received), fromMS(updated)
	return &e, nil
}

func (x *executor) EventInsert(ctx context.Context, e *store.Event) (string, bool, error) {
	var holdUntil any
	if !e.HoldUntil.IsZero() {
		holdUntil = ms(e.HoldUntil)
	}
	res, err := x.execHot(ctx, qEventInsert,
		e.ID, e.Source, e.Flow, nullStr(e.IdemKey), e.RecordKey, e.State, e.ContentType, e.Raw,
		nullJSON(e.Canonical), nullJSON(e.Problems), nullJSON(e.Missing), holdUntil, ms(e.ReceivedAt), ms(e.UpdatedAt), e.ConfigVersion, e.Operation)
	if err != nil {
		return "", false, fmt.Errorf("event insert: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		x.heldInserted(e)
		return e.ID, true, nil
	}
	// The idempotency key was seen before: answer with the first event.
	row, err := x.queryRowHot(ctx, qEventByIdem, e.Source, e.IdemKey)
	if err != nil {
		return "", false, fmt.Errorf("event insert: %w", err)
	}
	var id string
	if err := row.Scan(&id); err != nil {
		return "", false, fmt.Errorf("event insert: duplicate lookup: %w", err)
	}
	return id, false, nil
}

func (x *executor) EventStateGet(ctx context.Context, id string) (store.EventState, error) {
	var st string
	if err := x.rowHot(ctx, x.r, qEventStateByID, id).Scan(&st); err != nil {
		return "", notFound(err, "event "+id)
	}
	return store.EventState(st), nil
}

func (x *executor) EventGetByID(ctx context.Context, id string) (*store.Event, error) {
	e, err := scanEvent(x.rowHot(ctx, x.r, qEventByID, id))
	if err != nil {
		return nil, notFound(err, "event "+id)
	}
	return e, nil
}

func (x *executor) queryEvents(ctx context.Context, q string, args ...any) ([]*store.Event, error) {
	rows, err := x.rowsHot(ctx, x.r, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventList implements store.Executor. A state is read one flow's range
// of events_state_flow at a time and merged by id (sqlstore.EventParts,
// ADR 0047).
func (x *executor) EventList(ctx context.Context, p *store.EventListParams) ([]*store.Event, error) {
	var where []string
	var args []any
	if p.Source != "" {
		where = append(where, "source = ?")
		args = append(args, p.Source)
	}
	if p.BeforeID != "" {
		where = append(where, "id < ?")
		args = append(args, p.BeforeID)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	parts := []sqlstore.EventPart{{}}
	if p.State != "" {
		var err error
		if parts, err = x.EventParts(ctx, []string{string(p.State)}, nil); err != nil {
			return nil, fmt.Errorf("event list: %w", err)
		}
	}
	out, err := x.eventsInParts(ctx, eventSummaryCols, where, args, parts, true, limit)
	if err != nil {
		return nil, fmt.Errorf("event list: %w", err)
	}
	return out, nil
}

// eventsInParts reads the events matching where (cols of them), one range
// of events_state_flow per part, each in id order (descending when desc)
// up to limit, and merges them by id (sqlstore.EventParts, ADR 0047). A
// part with no state is a walk of all events in id order.
func (x *executor) eventsInParts(ctx context.Context, cols string, where []string, args []any, parts []sqlstore.EventPart, desc bool, limit int) ([]*store.Event, error) {
	order := " ORDER BY id LIMIT ?"
	if desc {
		order = " ORDER BY id DESC LIMIT ?"
	}
	pages := make([][]*store.Event, 0, len(parts))
	for _, part := range parts {
		w, a := slices.Clone(where), slices.Clone(args)
		if part.State != "" {
			w = append(w, "state = ?", "flow = ?")
			a = append(a, part.State, part.Flow)
		}
		q := `SELECT ` + cols + ` FROM events`
		if len(w) > 0 {
			q += " WHERE " + strings.Join(w, " AND ")
		}
		out, err := x.queryEvents(ctx, q+order, append(a, limit)...)
		if err != nil {
			return nil, err
		}
		pages = append(pages, out)
	}
	return sqlstore.MergeByID(pages, func(e *store.Event) string { return e.ID }, desc, limit), nil
}

// eventUpdateQuery is the UPDATE for one combination of the optional
// columns (canonical, missing, record_key, hold_until set, hold_until
// cleared); all of them are prepared at Open, so settling a delivery does
// not parse SQL.
func eventUpdateQuery(canonical, missing, recordKey, holdSet, holdClear bool) string {
	sets := []string{"state = ?", "updated_at = ?"}
	if canonical {
		sets = append(sets, "canonical = ?")
	}
	if missing {
		sets = append(sets, "missing = ?")
	}
	if recordKey {
		sets = append(sets, "record_key = ?")
	}
	if holdSet {
		sets = append(sets, "hold_until = ?")
	} else if holdClear {
		sets = append(sets, "hold_until = NULL")
	}
	return `UPDATE events SET ` + strings.Join(sets, ", ") + ` WHERE id = ?`
}

// eventUpdateQueries lists every variant of eventUpdateQuery.
func eventUpdateQueries() []string {
	var out []string
	for m := range 16 {
		for _, hold := range []int{0, 1, 2} {
			out = append(out, eventUpdateQuery(m&1 != 0, m&2 != 0, m&4 != 0, hold == 1, hold == 2))
		}
	}
	return out
}

func (x *executor) EventUpdate(ctx context.Context, p *store.EventUpdateParams) error {
	args := []any{p.State, ms(p.Now)}
	if p.Canonical != nil {
		args = append(args, string(p.Canonical))
	}
	if p.Missing != nil {
		args = append(args, string(p.Missing))
	}
	if p.RecordKey != nil {
		args = append(args, *p.RecordKey)
	}
	holdSet := p.HoldUntil != nil && !p.HoldUntil.IsZero()
	holdClear := p.HoldUntil != nil && p.HoldUntil.IsZero()
	if holdSet {
		args = append(args, ms(*p.HoldUntil))
	}
	args = append(args, p.ID)
	if p.State == store.EventHeld || p.RecordKey != nil {
		x.forgetHeld()
	}
	q := eventUpdateQuery(p.Canonical != nil, p.Missing != nil, p.RecordKey != nil, holdSet, holdClear)
	if !p.IfUpdatedAt.IsZero() {
		// An editor's save: the version check is part of the statement.
		q += " AND updated_at = ?"
		args = append(args, ms(p.IfUpdatedAt))
	}
	res, err := x.execHot(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("event update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return x.missedUpdate(ctx, "events", "event update", p.ID, !p.IfUpdatedAt.IsZero())
	}
	return nil
}

// missedUpdate explains an UPDATE that changed no row: the row is gone
// (ErrNotFound) or, for a conditional update, it changed since it was read
// (ErrStale).
func (x *executor) missedUpdate(ctx context.Context, table, what, id string, conditional bool) error {
	if conditional {
		var n int
		if err := x.w.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE id = ?`, id).Scan(&n); err != nil {
			return fmt.Errorf("%s %s: %w", what, id, err)
		}
		if n > 0 {
			return fmt.Errorf("%s %s: %w", what, id, store.ErrStale)
		}
	}
	return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
}

func (x *executor) EventListHeldByKey(ctx context.Context, flow, recordKey string) ([]*store.Event, error) {
	if ok, err := x.mayBeHeld(ctx, flow, recordKey); err != nil || !ok {
		return nil, err
	}
	st, ok := x.d.stmts[qHeldByKey]
	if !ok {
		out, err := x.queryEvents(ctx, qHeldByKey, flow, recordKey)
		slices.SortFunc(out, func(a, b *store.Event) int { return strings.Compare(a.ID, b.ID) })
		return out, err
	}
	rows, err := x.stmt(ctx, st).QueryContext(ctx, flow, recordKey)
	if err != nil {
		return nil, fmt.Errorf("event list held by key: %w", err)
	}
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *store.Event) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (x *executor) EventListHoldExpired(ctx context.Context, now time.Time, limit int) ([]*store.Event, error) {
	out, err := x.queryEvents(ctx, qEventsHoldExpired, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("event list hold expired: %w", err)
	}
	return out, nil
}

func (x *executor) countBy(ctx context.Context, q string) (map[string]int64, error) {
	rows, err := x.r.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

func (x *executor) EventCountByState(ctx context.Context) (map[string]int64, error) {
	return x.countBy(ctx, `SELECT state, count(*) FROM events GROUP BY state`)
}

// ---- deliveries

const deliveryCols = `seq, id, event_id, route, destination, record_key, state, after_routes, payload, attempts,
	next_at, lease_owner, lease_until, ambiguous, external_id, last_status, last_error, created_at, updated_at,
	fallback, fallback_id, fallback_for, operation`

// scanDelivery reads deliveryCols and then, into extra, any columns a
// statement selects after them.
func scanDelivery(s scanner, extra ...any) (*store.Delivery, error) {
	var d store.Delivery
	var after, payload string
	var nextAt, leaseUntil, created, updated int64
	var ambiguous int
	if err := s.Scan(append([]any{&d.Seq, &d.ID, &d.EventID, &d.Route, &d.Destination, &d.RecordKey, &d.State, &after, &payload,
		&d.Attempts, &nextAt, &d.LeaseOwner, &leaseUntil, &ambiguous, &d.ExternalID, &d.LastStatus, &d.LastError,
		&created, &updated, &d.Fallback, &d.FallbackID, &d.FallbackFor, &d.Operation}, extra...)...); err != nil {
		return nil, err
	}
	// Most deliveries wait for no other route: skip the JSON decoder.
	if after == "[]" {
		d.After = []string{} // as the decoder would have it; no allocation
	} else {
		if err := json.Unmarshal([]byte(after), &d.After); err != nil {
			return nil, fmt.Errorf("delivery %s after_routes: %w", d.ID, err)
		}
	}
	d.Payload = json.RawMessage(payload)
	d.Ambiguous = ambiguous != 0
	d.NextAt, d.LeaseUntil, d.CreatedAt, d.UpdatedAt = fromMS(nextAt), fromMS(leaseUntil), fromMS(created), fromMS(updated)
	return &d, nil
}

func (x *executor) queryDeliveries(ctx context.Context, q querier, query string, args ...any) ([]*store.Delivery, error) {
	rows, err := x.rowsHot(ctx, q, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (x *executor) DeliveryInsert(ctx context.Context, d *store.Delivery) error {
	after := d.After
	if after == nil {
		after = []string{}
	}
	afterJSON, err := json.Marshal(after)
	if err != nil {
		return err
	}
	res, err := x.execHot(ctx, qDeliveryInsert,
		d.ID, d.EventID, d.Route, d.Destination, d.RecordKey, d.State, string(afterJSON), string(d.Payload), d.Attempts,
		ms(d.NextAt), d.LeaseOwner, ms(d.LeaseUntil), boolInt(d.Ambiguous), d.ExternalID, d.LastStatus, d.LastError,
		ms(d.CreatedAt), ms(d.UpdatedAt), d.Fallback, d.FallbackID, d.FallbackFor, d.Operation)
	if err != nil {
		return fmt.Errorf("delivery insert: %w", err)
	}
	d.Seq, _ = res.LastInsertId()
	return nil
}

func (x *executor) DeliveryGetByID(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := scanDelivery(x.rowHot(ctx, x.r, qDeliveryByID, id))
	if err != nil {
		return nil, notFound(err, "delivery "+id)
	}
	return d, nil
}

func (x *executor) DeliveryListByEvent(ctx context.Context, eventID string) ([]*store.Delivery, error) {
	out, err := x.queryDeliveries(ctx, x.r, qDeliveriesByEvent, eventID)
	if err != nil {
		return nil, fmt.Errorf("delivery list by event: %w", err)
	}
	return out, nil
}

func (x *executor) DeliveryClaim(ctx context.Context, p *store.DeliveryClaimParams) ([]*store.Delivery, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1
	}
	// The single write connection serialises claims, so select-then-update
	// cannot hand one delivery to two workers.
	ds, err := x.claimable(ctx, p.Destination, ms(p.Now), limit)
	if err != nil {
		return nil, fmt.Errorf("delivery claim: %w", err)
	}
	seen := map[string]bool{}
	out := ds[:0]
	seqs := make([]int64, 0, len(ds))
	for _, d := range ds {
		if seen[d.RecordKey] {
			continue // one in flight per key
		}
		seen[d.RecordKey] = true
		d.State, d.LeaseOwner, d.LeaseUntil, d.UpdatedAt = store.DeliveryInflight, p.Owner, p.LeaseUntil, p.Now
		d.Attempts++
		out = append(out, d)
		seqs = append(seqs, d.Seq)
	}
	if len(seqs) == 0 {
		return out, nil
	}
	// One statement leases the whole claim (the seqs as a JSON array).
	list, _ := json.Marshal(seqs)
	res, err := x.execHot(ctx, qDeliveriesLease, p.Owner, ms(p.LeaseUntil), ms(p.Now), string(list))
	if err != nil {
		return nil, fmt.Errorf("delivery claim: %w", err)
	}
	if n, _ := res.RowsAffected(); n != int64(len(seqs)) {
		return nil, fmt.Errorf("delivery claim: leased %d of %d deliveries", n, len(seqs))
	}
	return out, nil
}

// claimable reads a claim's candidates with their identities.
func (x *executor) claimable(ctx context.Context, destination string, now int64, limit int) ([]*store.Delivery, error) {
	rows, err := x.rowsHot(ctx, x.w, qDeliveriesClaimable, destination, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Delivery
	for rows.Next() {
		var identity string
		d, err := scanDelivery(rows, &identity)
		if err != nil {
			return nil, err
		}
		d.Identity = identity
		out = append(out, d)
	}
	return out, rows.Err()
}

func (x *executor) DeliveryUpdate(ctx context.Context, d *store.Delivery) error {
	res, err := x.execHot(ctx, qDeliveryUpdate,
		d.State, string(d.Payload), d.Attempts, ms(d.NextAt), d.LeaseOwner, ms(d.LeaseUntil), boolInt(d.Ambiguous),
		d.ExternalID, d.LastStatus, d.LastError, ms(d.UpdatedAt), d.FallbackID, d.ID)
	if err != nil {
		return fmt.Errorf("delivery update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delivery update %s: %w", d.ID, store.ErrNotFound)
	}
	return nil
}

func (x *executor) DeliveryListLeaseExpired(ctx context.Context, now time.Time, limit int) ([]*store.Delivery, error) {
	out, err := x.queryDeliveries(ctx, x.w, qDeliveriesLeaseExpired, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("delivery list lease expired: %w", err)
	}
	return out, nil
}

func (x *executor) DeliveryListNeedingFallback(ctx context.Context, destination string, limit int) ([]*store.Delivery, error) {
	out, err := x.queryDeliveries(ctx, x.r, qDeliveriesNeedingFallback, destination, limit)
	if err != nil {
		return nil, fmt.Errorf("delivery list needing fallback: %w", err)
	}
	return out, nil
}

func (x *executor) DeliveryLatestSucceeded(ctx context.Context, destination, recordKey string) (*store.Delivery, error) {
	d, err := scanDelivery(x.rowHot(ctx, x.r, qDeliveryLatestSucceeded, destination, recordKey))
	if err != nil {
		return nil, notFound(err, "delivery for "+recordKey)
	}
	return d, nil
}

func (x *executor) DeliveryCountByState(ctx context.Context) (map[string]int64, error) {
	return x.countBy(ctx, `SELECT state, count(*) FROM deliveries GROUP BY state`)
}

func (x *executor) DeliveryNextReady(ctx context.Context, destination string) (time.Time, error) {
	var v sql.NullInt64
	if err := x.rowHot(ctx, x.r, qDeliveryNextReady, destination).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("delivery next ready: %w", err)
	}
	if !v.Valid {
		return time.Time{}, nil
	}
	return fromMS(v.Int64), nil
}

// ---- audit

// AuditAppend implements store.Executor. Inside a transaction the entry is
// queued and written with the transaction's other entries in multi-row
// INSERTs just before the commit (flushAudit), which saves a statement per
// entry on the commit path; its Seq and Hash are set then.
func (x *executor) AuditAppend(ctx context.Context, e *store.AuditEntry) error {
	if x.pending != nil {
		e.At = e.At.UTC().Truncate(time.Millisecond)
		*x.pending = append(*x.pending, e)
		return nil
	}
	if tx, ok := x.w.(*sql.DB); ok {
		// Outside a transaction: the read of the chain head and the insert
		// must still be atomic.
		t, err := tx.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("audit append: %w", err)
		}
		inner := &executor{r: t, w: t}
		if err := inner.auditInsert(ctx, []*store.AuditEntry{e}); err != nil {
			t.Rollback()
			return err
		}
		return t.Commit()
	}
	return x.auditInsert(ctx, []*store.AuditEntry{e})
}

// flushAudit writes the audit entries queued in this transaction. It runs
// before the commit and before any statement of the transaction that reads
// the audit log.
func (x *executor) flushAudit(ctx context.Context) error {
	if x.pending == nil || len(*x.pending) == 0 {
		return nil
	}
	err := x.auditInsert(ctx, *x.pending)
	*x.pending = (*x.pending)[:0]
	return err
}

// auditRowsPerInsert are the row counts of the prepared multi-row audit
// INSERTs, largest first; a flush uses the largest that fits, repeatedly.
var auditRowsPerInsert = []int{64, 16, 4, 1}

// auditInsertQuery is the INSERT of n audit entries.
func auditInsertQuery(n int) string {
	if n == 1 {
		return qAuditInsert
	}
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return qAuditInsertHead + strings.Repeat(row+", ", n-1) + row
}

// auditInsert chains es onto the head (read once per transaction and then
// cached) and inserts them.
func (x *executor) auditInsert(ctx context.Context, es []*store.AuditEntry) error {
	var lastSeq int64
	var prev string
	if x.head != nil && x.head.valid {
		lastSeq, prev = x.head.seq, x.head.hash
	} else {
		row, err := x.queryRowHot(ctx, qAuditHead)
		if err == nil {
			err = row.Scan(&lastSeq, &prev)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("audit append: %w", err)
		}
	}
	for _, e := range es {
		lastSeq++
		e.Seq = lastSeq
		e.At = e.At.UTC().Truncate(time.Millisecond)
		e.PrevHash = prev
		e.Hash = audit.Hash(prev, e)
		prev = e.Hash
	}
	args := make([]any, 0, 14*min(len(es), auditRowsPerInsert[0]))
	for len(es) > 0 {
		n := 1
		for _, k := range auditRowsPerInsert {
			if len(es) >= k {
				n = k
				break
			}
		}
		args = args[:0]
		for _, e := range es[:n] {
			args = append(args, e.Seq, ms(e.At), e.EventID, e.DeliveryID, e.Route, e.Attempt, e.Actor, e.Action, e.Outcome,
				e.Status, e.Message, e.LatencyMS, e.PrevHash, e.Hash)
		}
		if _, err := x.execHot(ctx, auditInsertQuery(n), args...); err != nil {
			if x.head != nil {
				*x.head = chainHead{}
			}
			return fmt.Errorf("audit append: %w", err)
		}
		es = es[n:]
	}
	if x.head != nil {
		*x.head = chainHead{valid: true, seq: lastSeq, hash: prev}
	}
	return nil
}

const auditCols = `seq, at, event_id, delivery_id, route, attempt, actor, action, outcome, status, message, latency_ms, prev_hash, hash`

func scanAudit(s scanner) (*store.AuditEntry, error) {
	var e store.AuditEntry
	var at int64
	if err := s.Scan(&e.Seq, &at, &e.EventID, &e.DeliveryID, &e.Route, &e.Attempt, &e.Actor, &e.Action, &e.Outcome,
		&e.Status, &e.Message, &e.LatencyMS, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = fromMS(at)
	return &e, nil
}

func (x *executor) AuditListByEvent(ctx context.Context, eventID string) ([]*store.AuditEntry, error) {
	if err := x.flushAudit(ctx); err != nil {
		return nil, err
	}
	rows, err := x.rowsHot(ctx, x.r, qAuditByEvent, eventID)
	if err != nil {
		return nil, fmt.Errorf("audit list: %w", err)
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (x *executor) AuditScan(ctx context.Context, afterSeq int64, fn func(*store.AuditEntry) error) error {
	if err := x.flushAudit(ctx); err != nil {
		return err
	}
	const page = 1000
	for {
		rows, err := x.rowsHot(ctx, x.r, qAuditScan, afterSeq, page)
		if err != nil {
			return fmt.Errorf("audit scan: %w", err)
		}
		n := 0
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return err
			}
			n++
			afterSeq = e.Seq
			if err := fn(e); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("audit scan: %w", err)
		}
		if n < page {
			return nil
		}
	}
}
