package storepg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store"
)

// Write-behind: inside a transaction, the writes whose outcome no caller
// reads before the commit (delivery inserts and updates, identity upserts,
// event state changes) are queued instead of sent. They go out pipelined
// ahead of the next statement that may depend on them (any statement but
// the hot reads, which name what they depend on), or with the commit:
// inserts as one multi-row statement per kind, updates one statement per
// row (see the statements below for why). A capture or a settle in a
// group-commit batch therefore costs about one round trip (its one read)
// instead of one per statement. See docs/adr/0036-postgres-round-trips.md.
//
// What callers can observe does not change: what a transaction reads
// includes its own writes, as if each had been sent when called; statements
// that touch the same rows run in call order; and nothing is acknowledged
// before the commit. Two things move: a queued write's failure (a delivery
// or event that no longer exists) is reported by the call that flushes it,
// a later read or the commit, wrapped in store.ErrNotCommitted so that the
// committer re-runs the batch one unit at a time and the failing unit alone
// gets it; and an inserted delivery's Seq is set when the queue is flushed,
// not when DeliveryInsert returns.
//
// Read-ahead: the two reads the hot paths make right after another
// statement are sent with it: a capture's held-by-key lookup with its
// event insert, and a settle's event state with the event's deliveries.
// A read-ahead answer is used only by the very next statement of the
// transaction if it asks exactly that; any other statement discards it.
type behind struct {
	evIns  []evInsert // queued captures (capture.go)
	checks []claimed  // settles answered from their claims (settle.go)
	dIns   []*store.Delivery
	dUpd   []store.Delivery // copies as they were passed; the last per ID wins
	dUpdAt map[string]int
	idPut  []store.IdentityPutParams
	idAt   map[[2]string]int
	evUpd  []evState
	evAt   map[string]int

	held  *heldAhead
	state *stateAhead

	careful *careful // the driver's, for queued captures answered wrongly
}

type evState struct {
	id, state string
	at        time.Time
}

type heldAhead struct {
	flow, key string
	events    []*store.Event
}

type stateAhead struct {
	id, state string
	found     bool
}

// hasUpdates reports queued UPDATEs, whose missing rows only a check of
// their row counts finds.
// Queued event inserts count too: their answers are checked the same way.
func (b *behind) hasUpdates() bool { return len(b.evIns)+len(b.checks)+len(b.dUpd)+len(b.evUpd) > 0 }

func (b *behind) empty() bool {
	return len(b.evIns)+len(b.checks)+len(b.dIns)+len(b.dUpd)+len(b.idPut)+len(b.evUpd) == 0
}

func (b *behind) deliveryUpdate(d *store.Delivery) {
	if b.dUpdAt == nil {
		b.dUpdAt = map[string]int{}
	}
	// A later full-row update of the same delivery supersedes an earlier
	// one: qDeliveryUpdate sets every column it touches from the struct.
	if i, ok := b.dUpdAt[d.ID]; ok {
		b.dUpd[i] = *d
		return
	}
	b.dUpdAt[d.ID] = len(b.dUpd)
	b.dUpd = append(b.dUpd, *d)
}

func (b *behind) identityPut(p *store.IdentityPutParams) {
	if b.idAt == nil {
		b.idAt = map[[2]string]int{}
	}
	k := [2]string{p.Destination, p.RecordKey}
	if i, ok := b.idAt[k]; ok {
		b.idPut[i] = *p
		return
	}
	b.idAt[k] = len(b.idPut)
	b.idPut = append(b.idPut, *p)
}

func (b *behind) eventState(id, state string, at time.Time) {
	if b.evAt == nil {
		b.evAt = map[string]int{}
	}
	if b.state != nil && b.state.id == id {
		b.state = nil
	}
	if i, ok := b.evAt[id]; ok {
		b.evUpd[i] = evState{id, state, at}
		return
	}
	b.evAt[id] = len(b.evUpd)
	b.evUpd = append(b.evUpd, evState{id, state, at})
}

// How queued writes go out: one statement per kind, whatever the number of
// rows (a lone update uses the single-row statement, shared with the
// writes outside a transaction). Inserts have no plan to get wrong.
// Deliveries are inserted in queue order (WITH ORDINALITY), so the
// deliveries of one key get ascending seq in the order they were inserted.
//
// A multi-row UPDATE joined to unnest(...) is planned once per connection
// and, on a schema whose tables were small when that happened (a new
// deployment, a benchmark), PostgreSQL keeps a generic plan that hashes the
// rows and scans the whole table, until an ANALYZE; the planner guesses 10
// rows for an unnest of a parameter, and ten index look-ups cost more than
// a small table's scan. The rows therefore come through a LIMIT of their own
// count: a LIMIT that is not a constant is guessed to keep a tenth of its
// input, one row, for which a nested loop over the table's unique index is
// cheapest at any table size (TestHotPathGenericPlans). The LIMIT removes
// nothing. The queue holds one update per row (the last), so no row is
// joined twice, and each statement returns the IDs it updated: a missing
// one is a row that is gone.
const (
	qDeliveryInsertMany = `INSERT INTO deliveries (id, event_id, route, destination, record_key, state, after_routes,
		payload, attempts, next_at, lease_owner, lease_until, ambiguous, external_id, last_status, last_error, created_at, updated_at,
		fallback, fallback_id, fallback_for, operation)
		SELECT id, event_id, route, destination, record_key, state,
			CASE WHEN after_routes = '' THEN '{}'::text[] ELSE ARRAY(SELECT json_array_elements_text(after_routes::json)) END,
			payload, attempts, next_at, lease_owner, lease_until, ambiguous, external_id, last_status, last_error, created_at, updated_at,
			fallback, fallback_id, fallback_for, operation
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[],
			$10::timestamptz[], $11::text[], $12::timestamptz[], $13::bool[], $14::text[], $15::int[], $16::text[],
			$17::timestamptz[], $18::timestamptz[], $19::text[], $20::text[], $21::text[], $22::text[]) WITH ORDINALITY
			AS u(id, event_id, route, destination, record_key, state, after_routes, payload, attempts, next_at, lease_owner,
			lease_until, ambiguous, external_id, last_status, last_error, created_at, updated_at, fallback, fallback_id,
			fallback_for, operation, ord)
		ORDER BY ord
		RETURNING id, seq`
	qIdentityPutMany = `INSERT INTO identities (destination, record_key, external_id, updated_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
		ON CONFLICT (destination, record_key) DO UPDATE SET external_id = excluded.external_id, updated_at = excluded.updated_at`
	// qEventStateUpdate is the text EventUpdate builds for a state change
	// alone, so both share one prepared statement.
	qEventStateUpdate     = `UPDATE events SET state = $1, updated_at = $2 WHERE id = $3`
	qEventStateUpdateMany = `UPDATE events e SET state = u.state, updated_at = u.at
		FROM (SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS u(state, at, id)
		      LIMIT cardinality($3::text[])) u
		WHERE e.id = u.id
		RETURNING e.id`
	qDeliveryUpdateMany = `UPDATE deliveries d SET state = u.state, payload = u.payload, attempts = u.attempts,
		next_at = u.next_at, lease_owner = u.lease_owner, lease_until = u.lease_until, ambiguous = u.ambiguous,
		external_id = u.external_id, last_status = u.last_status, last_error = u.last_error, updated_at = u.updated_at,
		fallback_id = u.fallback_id
		FROM (SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::timestamptz[],
		          $7::bool[], $8::text[], $9::int[], $10::text[], $11::timestamptz[], $12::text[], $13::text[])
		          AS u(state, payload, attempts, next_at, lease_owner, lease_until, ambiguous, external_id, last_status,
		          last_error, updated_at, fallback_id, id)
		      LIMIT cardinality($13::text[])) u
		WHERE d.id = u.id
		RETURNING d.id`
)

// What a flush sends: the writes a statement about to run may depend on.
type flushSet struct{ deliveries, identities, events bool }

var flushAll = flushSet{true, true, true}

// queued is one queued statement in a batch, for reading its result.
type queued struct {
	kind int      // 0 delivery insert, 1 delivery update, 2 identity put, 3 event state, or kindEventInsert, kindHeldCheck
	ids  []string // the rows an update or an event insert names
}

const (
	kindEventInsert = 4 + iota // qEventInsertMany (capture.go)
	kindHeldCheck              // qHeldOfKeys
	kindSettleLock             // qSettleLock (settle.go)
	kindSettleCheck            // qSettleCheck
)

// queue adds the queued writes of set to batch b and returns what each
// added statement is, in order. Rows whose writes go out are dropped from
// the queue by read.
func (b *behind) queue(batch *pgx.Batch, set flushSet) []queued {
	var out []queued
	if set.events {
		// Settle checks first (they read rows as the settles were told
		// they are, before this queue changes them); then events: queued
		// deliveries and state changes may name them.
		out = append(b.queueSettleChecks(batch), b.queueEventInserts(batch)...)
	}
	if set.deliveries && len(b.dIns) > 0 {
		batch.Queue(qDeliveryInsertMany, deliveryInsertArrays(b.dIns)...)
		out = append(out, queued{kind: 0})
	}
	if n := len(b.dUpd); set.deliveries && n == 1 {
		d := &b.dUpd[0]
		batch.Queue(qDeliveryUpdate, string(d.State), string(d.Payload), d.Attempts, ts(d.NextAt), d.LeaseOwner, nullTS(d.LeaseUntil),
			d.Ambiguous, d.ExternalID, d.LastStatus, d.LastError, ts(d.UpdatedAt), d.FallbackID, d.ID)
		out = append(out, queued{kind: 1, ids: []string{d.ID}})
	} else if set.deliveries && n > 1 {
		args, ids := deliveryUpdateArrays(b.dUpd)
		batch.Queue(qDeliveryUpdateMany, args...)
		out = append(out, queued{kind: 1, ids: ids})
	}
	if n := len(b.idPut); set.identities && n > 0 {
		dests, keys, exts, ats := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, p := range b.idPut {
			dests[i], keys[i], exts[i], ats[i] = p.Destination, p.RecordKey, p.ExternalID, ts(p.Now)
		}
		batch.Queue(qIdentityPutMany, dests, keys, exts, ats)
		out = append(out, queued{kind: 2})
	}
	if n := len(b.evUpd); set.events && n == 1 {
		u := b.evUpd[0]
		batch.Queue(qEventStateUpdate, u.state, ts(u.at), u.id)
		out = append(out, queued{kind: 3, ids: []string{u.id}})
	} else if set.events && n > 1 {
		states, ats, ids := make([]string, n), make([]time.Time, n), make([]string, n)
		for i, u := range b.evUpd {
			states[i], ats[i], ids[i] = u.state, ts(u.at), u.id
		}
		batch.Queue(qEventStateUpdateMany, states, ats, ids)
		out = append(out, queued{kind: 3, ids: ids})
	}
	return out
}

// deliveryUpdateArrays is qDeliveryUpdateMany's arguments for ds, and
// their IDs.
func deliveryUpdateArrays(ds []store.Delivery) (args []any, ids []string) {
	n := len(ds)
	states, payloads, owners, extIDs, lerrs, fbIDs := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	ids = make([]string, n)
	attempts, statuses := make([]int32, n), make([]int32, n)
	nexts, updated := make([]time.Time, n), make([]time.Time, n)
	leases := make([]pgtype.Timestamptz, n)
	ambiguous := make([]bool, n)
	for i := range ds {
		d := &ds[i]
		states[i], payloads[i], attempts[i], nexts[i], owners[i], leases[i] = string(d.State), string(d.Payload), int32(d.Attempts),
			ts(d.NextAt), d.LeaseOwner, pgTS(d.LeaseUntil)
		ambiguous[i], extIDs[i], statuses[i], lerrs[i], updated[i], fbIDs[i], ids[i] = d.Ambiguous, d.ExternalID, int32(d.LastStatus),
			d.LastError, ts(d.UpdatedAt), d.FallbackID, d.ID
	}
	return []any{states, payloads, attempts, nexts, owners, leases, ambiguous, extIDs, statuses, lerrs, updated, fbIDs, ids}, ids
}

func deliveryInsertArrays(ds []*store.Delivery) []any {
	n := len(ds)
	ids, events, routes, dests, keys, states, afters, payloads, lowners, extIDs, lerrs, fbs, fbIDs, fbFors, ops :=
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	attempts, statuses := make([]int32, n), make([]int32, n)
	nexts, created, updated := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	leases := make([]pgtype.Timestamptz, n)
	ambiguous := make([]bool, n)
	for i, d := range ds {
		ids[i], events[i], routes[i], dests[i], keys[i], states[i] = d.ID, d.EventID, d.Route, d.Destination, d.RecordKey, string(d.State)
		if len(d.After) > 0 {
			b, _ := json.Marshal(d.After)
			afters[i] = string(b)
		}
		payloads[i], attempts[i], nexts[i], lowners[i], leases[i] = string(d.Payload), int32(d.Attempts), ts(d.NextAt), d.LeaseOwner, pgTS(d.LeaseUntil)
		ambiguous[i], extIDs[i], statuses[i], lerrs[i] = d.Ambiguous, d.ExternalID, int32(d.LastStatus), d.LastError
		created[i], updated[i], fbs[i], fbIDs[i], fbFors[i], ops[i] = ts(d.CreatedAt), ts(d.UpdatedAt), d.Fallback, d.FallbackID, d.FallbackFor, d.Operation
	}
	return []any{ids, events, routes, dests, keys, states, afters, payloads, attempts, nexts, lowners, leases, ambiguous,
		extIDs, statuses, lerrs, created, updated, fbs, fbIDs, fbFors, ops}
}

func pgTS(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: ts(t), Valid: true}
}

// read takes the results of the statements queue added, in order, and
// drops what they wrote from the queue. A failure is wrapped in
// store.ErrNotCommitted: the transaction is aborted, nothing of it will
// commit, and the failure may be any unit's.
func (b *behind) read(br pgx.BatchResults, qs []queued, set flushSet) error {
	defer b.drop(set)
	for _, q := range qs {
		switch q.kind {
		case kindEventInsert, kindHeldCheck:
			if err := b.readEventInserts(br, q, b.careful); err != nil {
				return err
			}
		case kindSettleLock, kindSettleCheck:
			if err := b.readSettleChecks(br, q); err != nil {
				return err
			}
		case 0:
			rows, err := br.Query()
			if err != nil {
				return queuedFail("delivery insert", err)
			}
			seqs := make(map[string]int64, len(b.dIns))
			for rows.Next() {
				var id string
				var seq int64
				if err := rows.Scan(&id, &seq); err != nil {
					rows.Close()
					return queuedFail("delivery insert", err)
				}
				seqs[id] = seq
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return queuedFail("delivery insert", err)
			}
			for _, d := range b.dIns {
				d.Seq = seqs[d.ID]
			}
		case 1, 3:
			what := "delivery update"
			if q.kind == 3 {
				what = "event update"
			}
			if len(q.ids) == 1 {
				tag, err := br.Exec()
				if err != nil {
					return queuedFail(what, err)
				}
				if tag.RowsAffected() == 0 {
					return fmt.Errorf("%s %s: %w (%w)", what, q.ids[0], store.ErrNotFound, store.ErrNotCommitted)
				}
				continue
			}
			rows, err := br.Query()
			if err != nil {
				return queuedFail(what, err)
			}
			done, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return queuedFail(what, err)
			}
			if len(done) < len(q.ids) {
				return fmt.Errorf("%s %s: %w (%w)", what, missing(q.ids, done), store.ErrNotFound, store.ErrNotCommitted)
			}
		case 2:
			if _, err := br.Exec(); err != nil {
				return queuedFail("identity put", err)
			}
		}
	}
	return nil
}

// missing is the first of ids not in done.
func missing(ids, done []string) string {
	seen := make(map[string]bool, len(done))
	for _, id := range done {
		seen[id] = true
	}
	for _, id := range ids {
		if !seen[id] {
			return id
		}
	}
	return ""
}

// drop empties the parts of the queue in set.
func (b *behind) drop(set flushSet) {
	if set.deliveries {
		b.dIns, b.dUpd = b.dIns[:0], b.dUpd[:0]
		clear(b.dUpdAt)
	}
	if set.identities {
		b.idPut = b.idPut[:0]
		clear(b.idAt)
	}
	if set.events {
		b.checks = b.checks[:0]
		b.evIns = b.evIns[:0]
		b.evUpd = b.evUpd[:0]
		clear(b.evAt)
	}
}

// touches reports whether a queued write changes event id's row or its
// deliveries.
func (b *behind) touches(eventID string) bool {
	for i := range b.checks {
		if b.checks[i].d.EventID == eventID {
			return true
		}
	}
	for i := range b.evIns {
		if b.evIns[i].e.ID == eventID {
			return true
		}
	}
	for _, d := range b.dIns {
		if d.EventID == eventID {
			return true
		}
	}
	for i := range b.dUpd {
		// An update names its row by ID; a caller's copy without its event
		// could be any event's.
		if e := b.dUpd[i].EventID; e == eventID || e == "" {
			return true
		}
	}
	_, ok := b.evAt[eventID]
	return ok
}

func queuedFail(what string, err error) error {
	return fmt.Errorf("%s: %w (%w)", what, translate(err), store.ErrNotCommitted)
}

// send runs statements in one round trip, after the transaction's queued
// writes: queue adds them to the batch. The caller reads their results
// from the returned BatchResults and closes it. Outside a transaction
// there is no queue and the statements go out alone.
func (x *executor) send(ctx context.Context, set flushSet, queue func(b *pgx.Batch)) (pgx.BatchResults, error) {
	batch := &pgx.Batch{}
	var qs []queued
	if x.wb != nil {
		x.wb.held, x.wb.state = nil, nil // any statement ends a read-ahead
		qs = x.wb.queue(batch, set)
	}
	queue(batch)
	var br pgx.BatchResults
	if x.tx != nil {
		br = x.tx.SendBatch(ctx, batch)
	} else {
		br = x.d.pool.SendBatch(ctx, batch)
	}
	if len(qs) > 0 {
		if err := x.wb.read(br, qs, set); err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

// txQuerier is the querier of a transaction: every statement goes out
// after the queued writes, in the same round trip.
type txQuerier struct{ x *executor }

func (q txQuerier) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if q.x.wb.empty() {
		q.x.wb.held, q.x.wb.state = nil, nil
		return q.x.tx.Exec(ctx, sql, args...)
	}
	br, err := q.x.send(ctx, flushAll, func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (q txQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if q.x.wb.empty() {
		q.x.wb.held, q.x.wb.state = nil, nil
		return q.x.tx.Query(ctx, sql, args...)
	}
	br, err := q.x.send(ctx, flushAll, func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (q txQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if q.x.wb.empty() {
		q.x.wb.held, q.x.wb.state = nil, nil
		return q.x.tx.QueryRow(ctx, sql, args...)
	}
	br, err := q.x.send(ctx, flushAll, func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return errRow{err}
	}
	return &batchRow{row: br.QueryRow(), br: br}
}

// batchRows closes its batch with the rows.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.br != nil {
		r.br.Close()
		r.br = nil
	}
}

type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// flush sends the queued writes alone (before the commit, when no read
// carried them).
func (x *executor) flush(ctx context.Context) error {
	if x.wb == nil || x.wb.empty() {
		return nil
	}
	batch := &pgx.Batch{}
	qs := x.wb.queue(batch, flushAll)
	br := x.tx.SendBatch(ctx, batch)
	err := x.wb.read(br, qs, flushAll)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = queuedFail("flush", cerr)
	}
	return err
}

// eventInsertAhead inserts e inside a transaction and, for a record that
// may release held records of its key (it has a key and a record, no
// problems, and is not a delete: see pipeline's autoComplete), reads those
// held records in the same round trip for the EventListHeldByKey call that
// follows.
func (x *executor) eventInsertAhead(ctx context.Context, e *store.Event, args []any) (pgconn.CommandTag, error) {
	ahead := e.RecordKey != "" && len(e.Canonical) > 0 && len(e.Problems) == 0 && e.Operation != store.OpDelete
	// The insert and the held records depend on queued event state changes
	// only; queued deliveries and identities wait for a statement that
	// reads them, or the commit.
	br, err := x.send(ctx, flushSet{events: true}, func(b *pgx.Batch) {
		b.Queue(qEventInsert, args...)
		if ahead {
			b.Queue(qHeldByKey, e.Flow, e.RecordKey)
		}
	})
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer br.Close()
	tag, err := br.Exec()
	if err != nil || !ahead {
		return tag, err
	}
	rows, err := br.Query()
	if err != nil {
		return tag, err
	}
	held, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Event, error) { return scanEvent(r) })
	if err != nil {
		return tag, err
	}
	sortByID(held)
	if err := br.Close(); err != nil {
		return tag, err
	}
	x.wb.held = &heldAhead{flow: e.Flow, key: e.RecordKey, events: held}
	return tag, nil
}

// deliveriesByEventAhead reads an event's deliveries inside a transaction
// and, in the same round trip, the event's state for the EventStateGet a
// settle makes next. The state is read first, with the event row's lock
// (FOR NO KEY UPDATE): two instances settling sibling deliveries of one
// event then run one after the other, and at READ COMMITTED the deliveries
// read, a new statement after the lock was granted, sees the other's
// committed delivery (ADR 0037). Without the lock each could see the other's delivery still in
// flight and neither would move the event on.
func (x *executor) deliveriesByEventAhead(ctx context.Context, eventID string) ([]*store.Delivery, error) {
	// Only queued writes to this event or its deliveries can change what
	// these read.
	set := flushSet{}
	if x.wb.touches(eventID) {
		set = flushAll
	}
	br, err := x.send(ctx, set, func(b *pgx.Batch) {
		b.Queue(qEventStateLock, eventID)
		b.Queue(qDeliveriesByEvent, eventID)
	})
	if err != nil {
		return nil, err
	}
	defer br.Close()
	var st string
	stErr := br.QueryRow().Scan(&st)
	if stErr != nil && !errors.Is(stErr, pgx.ErrNoRows) {
		return nil, fail("delivery list by event: event state", stErr)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fail("delivery list by event", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fail("delivery list by event", err)
	}
	if err := br.Close(); err != nil {
		return nil, fail("delivery list by event", err)
	}
	x.wb.state = &stateAhead{id: eventID, state: st, found: stErr == nil}
	return out, nil
}
