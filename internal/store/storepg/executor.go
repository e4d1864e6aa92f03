package storepg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// querier is what a pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// executor runs every query on q: the pool, or the transaction inside one.
type executor struct {
	d       *Driver
	q       querier
	tx      *pgTx                // nil outside a transaction
	head    *chainHead           // set inside a transaction
	pending *[]*store.AuditEntry // audit entries queued in this transaction; see sealAudit
	wb      *behind              // writes queued in this transaction; see behind.go

	// Queries are the queries written once for every SQL store
	// (escalations, reconciliations, identities, destination states, ...),
	// run through sharedDB.
	sqlstore.Queries
}

var _ store.Executor = (*executor)(nil)

// inOwnTx runs fn in a transaction of its own, for the operations that need
// one (a claim's key locks, an audit append's chain lock) when called
// outside a transaction.
func (x *executor) inOwnTx(ctx context.Context, fn func(x *executor) error) error {
	t, err := x.d.begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(&t.executor); err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

// ts is how times are written: UTC, millisecond precision, like storesqlite.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// nullTS writes a zero time as NULL, for the columns that may be unset.
func nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

func fromTS(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
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

// fail wraps a translated error with what was being done; a missing row
// becomes store.ErrNotFound.
func fail(what string, err error) error {
	return fmt.Errorf("%s: %w", what, translate(err))
}

// params numbers positional parameters for dynamically built statements.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// Hot statements, named so that TestHotPathPlans can check their plans
// (see docs/adr/0031-hot-path-plans.md).
const (
	qEventInsert = `INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw,
		canonical, problems, missing, hold_until, received_at, updated_at, config_version, operation)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (source, idem_key) WHERE idem_key IS NOT NULL DO NOTHING`
	qEventByIdem    = `SELECT id FROM events WHERE source = $1 AND idem_key = $2`
	qEventByID      = `SELECT ` + eventCols + ` FROM events WHERE id = $1`
	qEventStateByID = `SELECT state FROM events WHERE id = $1`
	// qEventStateLock is the settle's event state, read with the row's lock
	// (see deliveriesByEventAhead). NO KEY UPDATE is what an UPDATE of the
	// event takes: it serializes settles but, unlike FOR UPDATE, does not
	// block another transaction inserting a delivery of the event (the
	// foreign key's KEY SHARE lock).
	qEventStateLock = qEventStateByID + ` FOR NO KEY UPDATE`
	// qHeldByKey has no ORDER BY (the few rows are sorted in Go): ordered
	// by id, a plan cached while the table was small walks an index of the
	// flow's events in id order (events_flow_id then, events_state_flow's
	// held range now) instead of the partial events_held_key.
	qHeldByKey         = `SELECT ` + eventCols + ` FROM events WHERE state = 'held' AND flow = $1 AND record_key = $2`
	qEventsHoldExpired = `SELECT ` + eventCols + ` FROM events
		WHERE state = 'held' AND hold_until IS NOT NULL AND hold_until <= $1 ORDER BY hold_until LIMIT $2`
	qDeliveryInsert = `INSERT INTO deliveries (id, event_id, route, destination, record_key, state, after_routes,
		payload, attempts, next_at, lease_owner, lease_until, ambiguous, external_id, last_status, last_error, created_at, updated_at,
		fallback, fallback_id, fallback_for, operation)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
		RETURNING seq`
	qDeliveryByID      = `SELECT ` + deliveryCols + ` FROM deliveries WHERE id = $1`
	qDeliveriesByEvent = `SELECT ` + deliveryCols + ` FROM deliveries WHERE event_id = $1 ORDER BY seq`
	qDeliveryUpdate    = `UPDATE deliveries SET state = $1, payload = $2, attempts = $3, next_at = $4, lease_owner = $5,
		lease_until = $6, ambiguous = $7, external_id = $8, last_status = $9, last_error = $10, updated_at = $11, fallback_id = $12
		WHERE id = $13`
	qDeliveriesLeaseExpired = `SELECT ` + deliveryCols + ` FROM deliveries
		WHERE state = 'inflight' AND (lease_until IS NULL OR lease_until < $1) ORDER BY seq LIMIT $2`
	qDeliveriesNeedingFallback = `SELECT ` + deliveryCols + ` FROM deliveries
		WHERE destination = $1 AND state = 'pending' AND fallback != '' AND fallback_id = '' ORDER BY seq LIMIT $2`
	qDeliveryNextReady       = `SELECT min(next_at) FROM deliveries WHERE destination = $1 AND state = 'pending'`
	qDeliveryLatestSucceeded = `SELECT ` + deliveryCols + ` FROM deliveries
		WHERE destination = $1 AND record_key = $2 AND state = 'succeeded' AND fallback_for = '' ORDER BY seq DESC LIMIT 1`
	qAuditHead = `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`
	// qAuditInsertMany inserts a transaction's sealed entries, one array per column.
	qAuditInsertMany = `INSERT INTO audit_log (seq, at, event_id, delivery_id, route, attempt, actor, action, outcome,
		status, message, latency_ms, prev_hash, hash)
		SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
			$8::text[], $9::text[], $10::int[], $11::text[], $12::bigint[], $13::text[], $14::text[])`
)

// ---- events

const eventCols = `id, source, flow, COALESCE(idem_key, ''), record_key, state, content_type, raw,
	COALESCE(canonical, ''), COALESCE(problems, ''), COALESCE(missing, ''), hold_until, received_at, updated_at, config_version, operation`

// eventSummaryCols reads what lists and audit checks need, never the raw
// body or the record, which may be a megabyte each; see store.Executor.EventList.
const eventSummaryCols = `id, source, flow, COALESCE(idem_key, ''), record_key, state, content_type, ''::bytea,
	'', COALESCE(problems, ''), COALESCE(missing, ''), hold_until, received_at, updated_at, config_version, operation`

func scanEvent(row pgx.Row) (*store.Event, error) {
	var e store.Event
	var canonical, problems, missing string
	var holdUntil pgtype.Timestamptz
	if err := row.Scan(&e.ID, &e.Source, &e.Flow, &e.IdemKey, &e.RecordKey, &e.State, &e.ContentType, &e.Raw,
		&canonical, &problems, &missing, &holdUntil, &e.ReceivedAt, &e.UpdatedAt, &e.ConfigVersion, &e.Operation); err != nil {
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
	e.HoldUntil, e.ReceivedAt, e.UpdatedAt = fromTS(holdUntil), e.ReceivedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

func (x *executor) queryEvents(ctx context.Context, q string, args ...any) ([]*store.Event, error) {
	rows, err := x.q.Query(ctx, q, args...)
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

func (x *executor) EventInsert(ctx context.Context, e *store.Event) (string, bool, error) {
	if x.wb != nil && x.queueEventInsert(ctx, e) {
		return e.ID, true, nil // answered now, checked when the queue goes out (capture.go)
	}
	raw := e.Raw
	if raw == nil {
		raw = []byte{}
	}
	args := []any{e.ID, e.Source, e.Flow, nullStr(e.IdemKey), e.RecordKey, e.State, e.ContentType, raw,
		nullJSON(e.Canonical), nullJSON(e.Problems), nullJSON(e.Missing), nullTS(e.HoldUntil), ts(e.ReceivedAt), ts(e.UpdatedAt), e.ConfigVersion, e.Operation}
	var tag pgconn.CommandTag
	var err error
	if x.wb != nil {
		tag, err = x.eventInsertAhead(ctx, e, args)
	} else {
		tag, err = x.q.Exec(ctx, qEventInsert, args...)
	}
	if err != nil {
		return "", false, fail("event insert", err)
	}
	if tag.RowsAffected() == 1 {
		return e.ID, true, nil
	}
	// The idempotency key was seen before: answer with the first event. At
	// READ COMMITTED this new statement sees the conflicting row, which the
	// insert waited for if it was not yet committed.
	var id string
	if err := x.q.QueryRow(ctx, qEventByIdem, e.Source, e.IdemKey).Scan(&id); err != nil {
		return "", false, fail("event insert: duplicate lookup", err)
	}
	return id, false, nil
}

func (x *executor) EventStateGet(ctx context.Context, id string) (store.EventState, error) {
	if x.wb != nil && x.wb.state != nil && x.wb.state.id == id {
		a := x.wb.state
		x.wb.state = nil
		if !a.found {
			return "", fmt.Errorf("event %s: %w", id, store.ErrNotFound)
		}
		return store.EventState(a.state), nil
	}
	var st string
	if err := x.q.QueryRow(ctx, qEventStateByID, id).Scan(&st); err != nil {
		return "", fail("event "+id, err)
	}
	return store.EventState(st), nil
}

func (x *executor) EventGetByID(ctx context.Context, id string) (*store.Event, error) {
	e, err := scanEvent(x.q.QueryRow(ctx, qEventByID, id))
	if err != nil {
		return nil, fail("event "+id, err)
	}
	return e, nil
}

// EventList implements store.Executor. A state is read one flow's range
// of events_state_flow at a time and merged by id (sqlstore.EventParts,
// ADR 0047).
func (x *executor) EventList(ctx context.Context, p *store.EventListParams) ([]*store.Event, error) {
	var where []string
	var args params
	if p.Source != "" {
		where = append(where, "source = "+args.add(p.Source))
	}
	if p.BeforeID != "" {
		where = append(where, "id < "+args.add(p.BeforeID))
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	parts := []sqlstore.EventPart{{}}
	if p.State != "" {
		var err error
		if parts, err = x.EventParts(ctx, []string{string(p.State)}, nil); err != nil {
			return nil, fail("event list", err)
		}
	}
	out, err := x.eventsInParts(ctx, eventSummaryCols, where, args, parts, true, limit)
	if err != nil {
		return nil, fail("event list", err)
	}
	return out, nil
}

// eventsInParts reads the events matching where (cols of them), one range
// of events_state_flow per part, each in id order (descending when desc)
// up to limit, and merges them by id (sqlstore.EventParts, ADR 0047). A
// part with no state is a walk of all events in id order.
func (x *executor) eventsInParts(ctx context.Context, cols string, where []string, args params, parts []sqlstore.EventPart, desc bool, limit int) ([]*store.Event, error) {
	order := " ORDER BY id LIMIT "
	if desc {
		order = " ORDER BY id DESC LIMIT "
	}
	pages := make([][]*store.Event, 0, len(parts))
	for _, part := range parts {
		w, a := slices.Clone(where), slices.Clone(args)
		if part.State != "" {
			w = append(w, "state = "+a.add(part.State), "flow = "+a.add(part.Flow))
		}
		q := `SELECT ` + cols + ` FROM events`
		if len(w) > 0 {
			q += " WHERE " + strings.Join(w, " AND ")
		}
		out, err := x.queryEvents(ctx, q+order+a.add(limit), a...)
		if err != nil {
			return nil, err
		}
		pages = append(pages, out)
	}
	return sqlstore.MergeByID(pages, func(e *store.Event) string { return e.ID }, desc, limit), nil
}

func (x *executor) EventUpdate(ctx context.Context, p *store.EventUpdateParams) error {
	if x.wb != nil && p.Canonical == nil && p.Missing == nil && p.RecordKey == nil && p.HoldUntil == nil && p.IfUpdatedAt.IsZero() {
		x.wb.eventState(p.ID, string(p.State), p.Now) // a state change alone: queued (behind.go)
		return nil
	}
	var args params
	sets := []string{"state = " + args.add(p.State), "updated_at = " + args.add(ts(p.Now))}
	if p.Canonical != nil {
		sets = append(sets, "canonical = "+args.add(string(p.Canonical)))
	}
	if p.Missing != nil {
		sets = append(sets, "missing = "+args.add(string(p.Missing)))
	}
	if p.RecordKey != nil {
		sets = append(sets, "record_key = "+args.add(*p.RecordKey))
	}
	if p.HoldUntil != nil {
		sets = append(sets, "hold_until = "+args.add(nullTS(*p.HoldUntil)))
	}
	q := `UPDATE events SET ` + strings.Join(sets, ", ") + ` WHERE id = ` + args.add(p.ID)
	if !p.IfUpdatedAt.IsZero() {
		// An editor's save: the version check is part of the statement,
		// which PostgreSQL re-checks on the latest row version after any
		// concurrent writer commits.
		q += " AND updated_at = " + args.add(ts(p.IfUpdatedAt))
	}
	tag, err := x.q.Exec(ctx, q, args...)
	if err != nil {
		return fail("event update", err)
	}
	if tag.RowsAffected() == 0 {
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
		if err := x.q.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE id = $1`, id).Scan(&n); err != nil {
			return fail(what, err)
		}
		if n > 0 {
			return fmt.Errorf("%s %s: %w", what, id, store.ErrStale)
		}
	}
	return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
}

func (x *executor) EventListHeldByKey(ctx context.Context, flow, recordKey string) ([]*store.Event, error) {
	if x.wb != nil && x.wb.held != nil && x.wb.held.flow == flow && x.wb.held.key == recordKey {
		out := x.wb.held.events
		x.wb.held = nil
		return out, nil
	}
	out, err := x.queryEvents(ctx, qHeldByKey, flow, recordKey)
	if err != nil {
		return nil, fail("event list held by key", err)
	}
	sortByID(out)
	return out, nil
}

// sortByID puts events in ID (arrival) order.
func sortByID(es []*store.Event) {
	sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
}

func (x *executor) EventListHoldExpired(ctx context.Context, now time.Time, limit int) ([]*store.Event, error) {
	out, err := x.queryEvents(ctx, qEventsHoldExpired, ts(now), limit)
	if err != nil {
		return nil, fail("event list hold expired", err)
	}
	return out, nil
}

func (x *executor) countBy(ctx context.Context, what, q string) (map[string]int64, error) {
	rows, err := x.q.Query(ctx, q)
	if err != nil {
		return nil, fail(what, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fail(what, err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fail(what, err)
	}
	return out, nil
}

func (x *executor) EventCountByState(ctx context.Context) (map[string]int64, error) {
	return x.countBy(ctx, "event count by state", `SELECT state, count(*) FROM events GROUP BY state`)
}

// ---- deliveries

const deliveryCols = `seq, id, event_id, route, destination, record_key, state, after_routes, payload, attempts,
	next_at, lease_owner, lease_until, ambiguous, external_id, last_status, last_error, created_at, updated_at,
	fallback, fallback_id, fallback_for, operation`

// scanDelivery reads deliveryCols and then, into extra, any columns a
// statement selects after them.
func scanDelivery(row pgx.Row, extra ...any) (*store.Delivery, error) {
	var d store.Delivery
	var payload string
	var leaseUntil pgtype.Timestamptz
	if err := row.Scan(append([]any{&d.Seq, &d.ID, &d.EventID, &d.Route, &d.Destination, &d.RecordKey, &d.State, &d.After, &payload,
		&d.Attempts, &d.NextAt, &d.LeaseOwner, &leaseUntil, &d.Ambiguous, &d.ExternalID, &d.LastStatus, &d.LastError,
		&d.CreatedAt, &d.UpdatedAt, &d.Fallback, &d.FallbackID, &d.FallbackFor, &d.Operation}, extra...)...); err != nil {
		return nil, err
	}
	if d.After == nil {
		d.After = []string{}
	}
	d.Payload = json.RawMessage(payload)
	d.LeaseUntil = fromTS(leaseUntil)
	d.NextAt, d.CreatedAt, d.UpdatedAt = d.NextAt.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

func (x *executor) queryDeliveries(ctx context.Context, q string, args ...any) ([]*store.Delivery, error) {
	rows, err := x.q.Query(ctx, q, args...)
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

func (x *executor) DeliveryInsert(ctx context.Context, d *store.Delivery) error {
	if x.wb != nil {
		x.wb.dIns = append(x.wb.dIns, d) // queued; Seq is set when it is sent (behind.go)
		return nil
	}
	after := d.After
	if after == nil {
		after = []string{}
	}
	err := x.q.QueryRow(ctx, qDeliveryInsert,
		d.ID, d.EventID, d.Route, d.Destination, d.RecordKey, d.State, after, string(d.Payload), d.Attempts,
		ts(d.NextAt), d.LeaseOwner, nullTS(d.LeaseUntil), d.Ambiguous, d.ExternalID, d.LastStatus, d.LastError,
		ts(d.CreatedAt), ts(d.UpdatedAt), d.Fallback, d.FallbackID, d.FallbackFor, d.Operation).Scan(&d.Seq)
	if err != nil {
		return fail("delivery insert", err)
	}
	return nil
}

func (x *executor) DeliveryGetByID(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := scanDelivery(x.q.QueryRow(ctx, qDeliveryByID, id))
	if err != nil {
		return nil, fail("delivery "+id, err)
	}
	return d, nil
}

func (x *executor) DeliveryListByEvent(ctx context.Context, eventID string) ([]*store.Delivery, error) {
	if x.wb != nil {
		if out, ok := x.settleFromClaim(ctx, eventID); ok {
			return out, nil // checked when the queue goes out (settle.go)
		}
		return x.deliveriesByEventAhead(ctx, eventID)
	}
	out, err := x.queryDeliveries(ctx, qDeliveriesByEvent, eventID)
	if err != nil {
		return nil, fail("delivery list by event", err)
	}
	return out, nil
}

// claimable is the condition on a delivery d of the claim statements: ready,
// and the head of its key (no earlier unfinished delivery of the key), and
// its key has nothing in flight. The last part is stricter than storesqlite
// (which only looks at earlier deliveries) because here sequence numbers are
// not commit order: a delivery inserted by a transaction that commits late
// can have a lower seq than one already in flight, and an operator may put a
// finished earlier delivery back to pending.
//
// OFFSET 0 keeps the NOT EXISTS a per-row subplan (an index lookup of the
// row's key) instead of letting the planner turn it into an anti-join: on
// a table without statistics yet (the first minute after a migration, a
// fresh schema) it otherwise chose a nested loop over the whole active
// index, quadratic in the backlog (630ms for 1,500 pending deliveries,
// 4ms with the subplan).
const claimable = `d.destination = $1 AND d.state = 'pending' AND d.next_at <= $2
	AND NOT EXISTS (SELECT 1 FROM deliveries p
	                WHERE p.destination = d.destination AND p.record_key = d.record_key
	                  AND p.state IN ('waiting', 'pending', 'inflight')
	                  AND (p.seq < d.seq OR p.state = 'inflight') OFFSET 0)`

// Claim step 1 (see the package doc): read candidate heads oldest first and
// try-lock each one's key as it is read; stop after $5 locked keys. The
// subquery's LIMIT keeps the volatile lock call out of it, so locks are
// only taken on rows the outer LIMIT actually pulls.
const qClaimLock = `SELECT c.seq FROM (
		SELECT d.seq, d.record_key FROM deliveries d
		WHERE ` + claimable + `
		ORDER BY d.next_at, d.seq
		LIMIT $3
	) c
	WHERE pg_try_advisory_xact_lock($4::int4, hashtext($1 || chr(31) || c.record_key))
	LIMIT $5`

// Claim step 2: with a snapshot taken after the key locks, re-check and
// lease. Each row comes back with its identity (store.Delivery.Identity),
// read with the statement's snapshot, the one in which the key's earlier
// deliveries were seen finished: the engine's pre-send look-up was one more
// round trip per delivery.
const qClaimTake = `UPDATE deliveries SET state = 'inflight', lease_owner = $4, lease_until = $5,
		attempts = attempts + 1, updated_at = $2
	WHERE seq IN (SELECT d.seq FROM deliveries d
	              WHERE d.seq = ANY($3) AND ` + claimable + `
	              FOR UPDATE SKIP LOCKED)
	RETURNING ` + deliveryCols + `,
		COALESCE((SELECT i.external_id FROM identities i
		          WHERE i.destination = deliveries.destination AND i.record_key = deliveries.record_key), ''),
		(SELECT count(*) FROM deliveries s WHERE s.event_id = deliveries.event_id),
		COALESCE((SELECT e.state FROM events e WHERE e.id = deliveries.event_id), '')`

func (x *executor) DeliveryClaim(ctx context.Context, p *store.DeliveryClaimParams) ([]*store.Delivery, error) {
	if x.tx == nil {
		var out []*store.Delivery
		err := x.inOwnTx(ctx, func(t *executor) error {
			var err error
			out, err = t.DeliveryClaim(ctx, p)
			return err
		})
		return out, err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 1
	}
	// How far past keys locked by other claimers to look.
	scan := max(4*limit, 32)
	now := ts(p.Now)
	rows, err := x.q.Query(ctx, qClaimLock, p.Destination, now, scan, x.d.claimNS, limit)
	if err != nil {
		return nil, fail("delivery claim", err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fail("delivery claim", err)
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	rows, err = x.q.Query(ctx, qClaimTake, p.Destination, now, seqs, p.Owner, nullTS(p.LeaseUntil))
	if err != nil {
		return nil, fail("delivery claim", err)
	}
	var kept []claimed
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Delivery, error) {
		var identity, state string
		var siblings int64
		d, err := scanDelivery(r, &identity, &siblings, &state)
		if d != nil {
			d.Identity = identity
			if siblings == 1 && state != "" {
				kept = append(kept, claimed{d: *d, state: state})
			}
		}
		return d, err
	})
	if err != nil {
		return nil, fail("delivery claim", err)
	}
	// What the claim saw of one-delivery events answers their settles
	// (settle.go). Kept even if this transaction does not commit: a settle
	// of a delivery that was never claimed finds no row as answered, and
	// its check fails.
	for i := range kept {
		x.d.settle.put(&kept[i].d, kept[i].state)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAt.Equal(out[j].NextAt) {
			return out[i].NextAt.Before(out[j].NextAt)
		}
		return out[i].Seq < out[j].Seq
	})
	return out, nil
}

func (x *executor) DeliveryUpdate(ctx context.Context, d *store.Delivery) error {
	if x.wb != nil {
		x.wb.deliveryUpdate(d) // queued (behind.go)
		return nil
	}
	tag, err := x.q.Exec(ctx, qDeliveryUpdate,
		d.State, string(d.Payload), d.Attempts, ts(d.NextAt), d.LeaseOwner, nullTS(d.LeaseUntil), d.Ambiguous,
		d.ExternalID, d.LastStatus, d.LastError, ts(d.UpdatedAt), d.FallbackID, d.ID)
	if err != nil {
		return fail("delivery update", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delivery update %s: %w", d.ID, store.ErrNotFound)
	}
	return nil
}

func (x *executor) DeliveryListLeaseExpired(ctx context.Context, now time.Time, limit int) ([]*store.Delivery, error) {
	// A lease that was never set counts as expired, as storesqlite's 0 does.
	out, err := x.queryDeliveries(ctx, qDeliveriesLeaseExpired, ts(now), limit)
	if err != nil {
		return nil, fail("delivery list lease expired", err)
	}
	return out, nil
}

func (x *executor) DeliveryListNeedingFallback(ctx context.Context, destination string, limit int) ([]*store.Delivery, error) {
	out, err := x.queryDeliveries(ctx, qDeliveriesNeedingFallback, destination, limit)
	if err != nil {
		return nil, fail("delivery list needing fallback", err)
	}
	return out, nil
}

func (x *executor) DeliveryCountByState(ctx context.Context) (map[string]int64, error) {
	return x.countBy(ctx, "delivery count by state", `SELECT state, count(*) FROM deliveries GROUP BY state`)
}

func (x *executor) DeliveryNextReady(ctx context.Context, destination string) (time.Time, error) {
	var v pgtype.Timestamptz
	if err := x.q.QueryRow(ctx, qDeliveryNextReady, destination).Scan(&v); err != nil {
		return time.Time{}, fail("delivery next ready", err)
	}
	return fromTS(v), nil
}

func (x *executor) DeliveryLatestSucceeded(ctx context.Context, destination, recordKey string) (*store.Delivery, error) {
	d, err := scanDelivery(x.q.QueryRow(ctx, qDeliveryLatestSucceeded,
		destination, recordKey))
	if err != nil {
		return nil, fail("delivery for "+recordKey, err)
	}
	return d, nil
}

// IdentityPut implements store.Executor: queued inside a transaction
// (behind.go), the shared query outside one.
func (x *executor) IdentityPut(ctx context.Context, p *store.IdentityPutParams) error {
	if x.wb == nil {
		return x.Queries.IdentityPut(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("identity put: %w", err)
	}
	x.wb.identityPut(p)
	return nil
}

// ---- audit

// AuditAppend implements store.Executor. Inside a transaction the entry is
// only queued: its chain position (Seq, PrevHash, Hash) is assigned when the
// transaction seals its entries, just before it commits (sealAudit), so the
// chain lock is the last lock a transaction takes and is held only for the
// head read, one insert and the commit. See the package doc and
// docs/adr/0032-audit-chain-sealed-at-commit.md.
func (x *executor) AuditAppend(ctx context.Context, e *store.AuditEntry) error {
	if x.tx == nil {
		return x.inOwnTx(ctx, func(t *executor) error { return t.AuditAppend(ctx, e) })
	}
	e.At = ts(e.At)
	*x.pending = append(*x.pending, e)
	return nil
}

// sealAudit writes the transaction's queued audit entries: it takes the
// chain lock, reads the head (in the same round trip, as a statement that
// starts after the lock is granted, so it sees the previous holder's
// commit), hashes the entries onto it and inserts them in one statement.
// The lock is held until the transaction ends. It runs before Commit and
// before any statement of the transaction that reads the audit log.
func (x *executor) sealAudit(ctx context.Context) error {
	b := &pgx.Batch{}
	read, err := x.sealAuditInto(ctx, b)
	if err != nil || read == nil {
		return err
	}
	br := x.tx.SendBatch(ctx, b)
	err = read(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fail("audit append", cerr)
	}
	return err
}

// sealAuditInto takes the chain lock and reads the head if this
// transaction does not hold them yet (in one round trip, after the queued
// writes), hashes the queued entries onto the head and adds their insert
// (after any writes queued since) to b. The caller sends b and gives its
// results to read. Both are nil when no entry is queued.
func (x *executor) sealAuditInto(ctx context.Context, b *pgx.Batch) (read func(pgx.BatchResults) error, err error) {
	if x.pending == nil || len(*x.pending) == 0 {
		return nil, nil
	}
	if !x.head.valid {
		// The queued writes go first, in the same round trip: the chain
		// lock stays the last lock the transaction takes.
		br, err := x.send(ctx, flushAll, func(b *pgx.Batch) {
			b.Queue(`SELECT pg_advisory_xact_lock($1)`, x.d.auditKey)
			b.Queue(qAuditHead)
		})
		if err != nil {
			return nil, err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, fail("audit append: lock chain", err)
		}
		var seq int64
		var hash string
		err = br.QueryRow().Scan(&seq, &hash)
		if cerr := br.Close(); err == nil || errors.Is(err, pgx.ErrNoRows) {
			err = cerr
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fail("audit append: read head", err)
		}
		*x.head = chainHead{valid: true, seq: seq, hash: hash}
	}
	es := *x.pending
	n := len(es)
	seqs, ats := make([]int64, n), make([]time.Time, n)
	eventIDs, deliveryIDs, routes, actors, actions, outcomes, messages, prevs, hashes :=
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	attempts, statuses, latencies := make([]int32, n), make([]int32, n), make([]int64, n)
	seq, prev := x.head.seq, x.head.hash
	for i, e := range es {
		seq++
		e.Seq, e.PrevHash = seq, prev
		e.Hash = audit.Hash(prev, e)
		prev = e.Hash
		seqs[i], ats[i], eventIDs[i], deliveryIDs[i], routes[i] = e.Seq, e.At, e.EventID, e.DeliveryID, e.Route
		attempts[i], actors[i], actions[i], outcomes[i], statuses[i] = int32(e.Attempt), e.Actor, string(e.Action), e.Outcome, int32(e.Status)
		messages[i], latencies[i], prevs[i], hashes[i] = e.Message, e.LatencyMS, e.PrevHash, e.Hash
	}
	qs := x.wb.queue(b, flushAll) // written since the lock was taken
	b.Queue(qAuditInsertMany, seqs, ats, eventIDs, deliveryIDs, routes, attempts, actors, actions,
		outcomes, statuses, messages, latencies, prevs, hashes)
	return func(br pgx.BatchResults) error {
		if err := x.wb.read(br, qs, flushAll); err != nil {
			*x.head = chainHead{} // the transaction is aborted
			return err
		}
		if _, err := br.Exec(); err != nil {
			*x.head = chainHead{}
			return fail("audit append", err)
		}
		x.head.seq, x.head.hash = seq, prev
		*x.pending = (*x.pending)[:0]
		return nil
	}, nil
}

const auditCols = `seq, at, event_id, delivery_id, route, attempt, actor, action, outcome, status, message, latency_ms, prev_hash, hash`

func scanAudit(row pgx.Row) (*store.AuditEntry, error) {
	var e store.AuditEntry
	if err := row.Scan(&e.Seq, &e.At, &e.EventID, &e.DeliveryID, &e.Route, &e.Attempt, &e.Actor, &e.Action, &e.Outcome,
		&e.Status, &e.Message, &e.LatencyMS, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = e.At.UTC()
	return &e, nil
}

func (x *executor) AuditListByEvent(ctx context.Context, eventID string) ([]*store.AuditEntry, error) {
	if err := x.sealAudit(ctx); err != nil {
		return nil, err
	}
	rows, err := x.q.Query(ctx, `SELECT `+auditCols+` FROM audit_log WHERE event_id = $1 ORDER BY seq`, eventID)
	if err != nil {
		return nil, fail("audit list", err)
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fail("audit list", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("audit list", err)
	}
	return out, nil
}

func (x *executor) AuditScan(ctx context.Context, afterSeq int64, fn func(*store.AuditEntry) error) error {
	if err := x.sealAudit(ctx); err != nil {
		return err
	}
	const page = 1000
	for {
		rows, err := x.q.Query(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, page)
		if err != nil {
			return fail("audit scan", err)
		}
		// Collect the page before calling fn, so that fn may use the
		// executor (one connection serves one query at a time).
		es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.AuditEntry, error) { return scanAudit(r) })
		if err != nil {
			return fail("audit scan", err)
		}
		for _, e := range es {
			afterSeq = e.Seq
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(es) < page {
			return nil
		}
	}
}
