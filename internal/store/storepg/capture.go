package storepg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store"
)

// Queued captures (docs/adr/0049-postgres-queued-captures.md). A capture's
// event insert was its one round trip inside a group-commit batch: the
// caller needs to know whether the event is new (an idempotency key seen
// before answers with the first event instead) and, for a complete keyed
// record, which held records of its key it may release. Both answers are
// almost always the same (new; none), so inside a transaction the
// committer runs again on a conflict (store.RerunOnConflict), EventInsert
// answers "new, nothing held" at once and queues the insert with the
// transaction's other writes. When the queue goes out, the batch's events
// are inserted with one statement and the held records of their keys are
// looked up with one more, and both are checked before anything commits:
//
//   - An insert that found its idempotency key taken (RETURNING lacks its
//     ID) would have answered "duplicate".
//   - A held record of a queued capture's flow and key (other than the
//     batch's own new events) would have been returned to it for release.
//
// Either way the transaction fails with errRerun, which Driver.Conflict
// reports as a conflict: the committer rolls the batch back and runs it
// again, and the events concerned (by ID, and every capture of a key that
// had held records) then take the synchronous path, which answers from
// the database. Within one transaction the queue itself keeps the answers
// right: an idempotency key or a held record of a key queued earlier in
// the same transaction sends the capture down the synchronous path at
// once, after the queue (so it sees its own transaction's writes).
//
// Outside the committer (a transaction from Driver.Begin, the conformance
// suite) nothing re-runs a unit, so EventInsert stays synchronous.

// errRerun marks a transaction whose queued captures got an answer other
// than the one given; Driver.Conflict reports it as a conflict.
var errRerun = errors.New("a queued capture was answered wrongly (duplicate or held records); run again")

const (
	qEventInsertMany = `INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw,
		canonical, problems, missing, hold_until, received_at, updated_at, config_version, operation)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[],
			$9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::text[], $16::text[])
		ON CONFLICT (source, idem_key) WHERE idem_key IS NOT NULL DO NOTHING
		RETURNING id`
	// qHeldOfKeys finds the queued captures' keys that have held records,
	// other than the queued events themselves. Each key is one probe of
	// events_held_key: OFFSET 0 keeps the EXISTS a per-key subplan (joined,
	// the planner walked every held record through events_hold_until),
	// and the keys come through a LIMIT of their own count, as in
	// qEventStateUpdateMany (behind.go), so the generic plan stays so.
	qHeldOfKeys = `SELECT u.flow, u.record_key
		FROM (SELECT * FROM unnest($1::text[], $2::text[]) AS u(flow, record_key) LIMIT cardinality($1::text[])) u
		WHERE EXISTS (SELECT 1 FROM events e
		              WHERE e.state = 'held' AND e.flow = u.flow AND e.record_key = u.record_key
		                AND NOT (e.id = ANY($3::text[])) OFFSET 0)`
)

// evInsert is a queued event insert: a copy of the event as passed, and
// whether its capture was answered "no held records" for its key.
type evInsert struct {
	e         store.Event
	checkHeld bool
}

// careful is what the driver learned from transactions that failed with
// errRerun: events whose insert answered wrongly and keys that had held
// records. Their captures take the synchronous path from then on (events
// until the set is cleared, keys until it fills and is cleared: a key
// whose held records were released only costs a statement). Shared by the
// driver's lanes.
type careful struct {
	mu     sync.Mutex
	events map[string]struct{}
	keys   map[[2]string]struct{}
}

// carefulMax bounds each set; a full set is cleared.
const carefulMax = 4096

func (c *careful) has(e *store.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.events[e.ID]; ok {
		return true
	}
	_, ok := c.keys[[2]string{e.Flow, e.RecordKey}]
	return ok
}

func (c *careful) addEvent(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events == nil || len(c.events) >= carefulMax {
		c.events = map[string]struct{}{}
	}
	c.events[id] = struct{}{}
}

func (c *careful) addKey(flow, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= carefulMax {
		c.keys = map[[2]string]struct{}{}
	}
	c.keys[[2]string{flow, key}] = struct{}{}
}

// mayRelease is whether a capture of e looks up held records of its key
// (pipeline's autoComplete): a complete keyed record that is not a delete.
func mayRelease(e *store.Event) bool {
	return e.RecordKey != "" && len(e.Canonical) > 0 && len(e.Problems) == 0 && e.Operation != store.OpDelete
}

// queueEventInsert queues e's insert and answers it as new, if the
// transaction runs under the committer and nothing known says the answer
// could be wrong; ok is false when the caller must insert synchronously.
func (x *executor) queueEventInsert(ctx context.Context, e *store.Event) (ok bool) {
	if !store.RerunOnConflict(ctx) || x.d.careful.has(e) {
		return false
	}
	release := mayRelease(e)
	for i := range x.wb.evIns {
		q := &x.wb.evIns[i].e
		if e.IdemKey != "" && q.Source == e.Source && q.IdemKey == e.IdemKey {
			return false // the synchronous insert, after the queue, finds it
		}
		if release && q.State == store.EventHeld && q.Flow == e.Flow && q.RecordKey == e.RecordKey {
			return false // its held-record read, after the queue, finds it
		}
	}
	x.wb.evIns = append(x.wb.evIns, evInsert{e: *e, checkHeld: release})
	x.wb.held = nil
	if release {
		x.wb.held = &heldAhead{flow: e.Flow, key: e.RecordKey} // checked by qHeldOfKeys
	}
	return true
}

// queueEventInserts adds the queued inserts and, for captures answered
// "nothing held", the look-up of their keys' held records to batch.
func (b *behind) queueEventInserts(batch *pgx.Batch) []queued {
	n := len(b.evIns)
	if n == 0 {
		return nil
	}
	ids, sources, flows, keys, states, ctypes, versions, ops := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	idems, canon, probs, miss := make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
	raws := make([][]byte, n)
	holds := make([]pgtype.Timestamptz, n)
	received, updated := make([]time.Time, n), make([]time.Time, n)
	var hFlows, hKeys []string
	for i := range b.evIns {
		e := &b.evIns[i].e
		ids[i], sources[i], flows[i], keys[i], states[i], ctypes[i], versions[i], ops[i] =
			e.ID, e.Source, e.Flow, e.RecordKey, string(e.State), e.ContentType, e.ConfigVersion, e.Operation
		idems[i] = pgtype.Text{String: e.IdemKey, Valid: e.IdemKey != ""}
		canon[i] = pgtype.Text{String: string(e.Canonical), Valid: len(e.Canonical) > 0}
		probs[i] = pgtype.Text{String: string(e.Problems), Valid: len(e.Problems) > 0}
		miss[i] = pgtype.Text{String: string(e.Missing), Valid: len(e.Missing) > 0}
		raws[i] = e.Raw
		if raws[i] == nil {
			raws[i] = []byte{}
		}
		holds[i] = pgTS(e.HoldUntil)
		received[i], updated[i] = ts(e.ReceivedAt), ts(e.UpdatedAt)
		if b.evIns[i].checkHeld {
			hFlows, hKeys = append(hFlows, e.Flow), append(hKeys, e.RecordKey)
		}
	}
	batch.Queue(qEventInsertMany, ids, sources, flows, idems, keys, states, ctypes, raws, canon, probs, miss, holds,
		received, updated, versions, ops)
	out := []queued{{kind: kindEventInsert, ids: ids}}
	if len(hFlows) > 0 {
		batch.Queue(qHeldOfKeys, hFlows, hKeys, ids)
		out = append(out, queued{kind: kindHeldCheck})
	}
	return out
}

// readEventInserts checks a queued insert's result (kindEventInsert) or
// the held look-up's (kindHeldCheck); a wrong answer is recorded in the
// driver's careful set and fails the transaction with errRerun.
func (b *behind) readEventInserts(br pgx.BatchResults, q queued, c *careful) error {
	rows, err := br.Query()
	if err != nil {
		return queuedFail("event insert", err)
	}
	if q.kind == kindEventInsert {
		done, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return queuedFail("event insert", err)
		}
		if len(done) == len(q.ids) {
			return nil
		}
		seen := make(map[string]bool, len(done))
		for _, id := range done {
			seen[id] = true
		}
		for _, id := range q.ids {
			if !seen[id] {
				c.addEvent(id)
			}
		}
		return fmt.Errorf("event insert: idempotency key taken: %w (%w)", errRerun, store.ErrNotCommitted)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var k [2]string
		err := r.Scan(&k[0], &k[1])
		return k, err
	})
	if err != nil {
		return queuedFail("event insert: held records", err)
	}
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		c.addKey(k[0], k[1])
	}
	return fmt.Errorf("event insert: held records of %s/%s: %w (%w)", keys[0][0], keys[0][1], errRerun, store.ErrNotCommitted)
}
