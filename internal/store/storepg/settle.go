package storepg

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/store"
)

// Settles answered from the claim (docs/adr/0049-postgres-queued-captures.md).
// A settle's one round trip inside a group-commit batch was its read of the
// event's state (with the event row's lock, ADR 37) and deliveries: the
// settle decides from them whether the event is finished. For an event with
// one delivery, what that read returns is almost always what the claim
// already saw: the event's state and the delivery as the claim left it. So
// the claim remembers both (settleAhead), and inside a transaction the
// committer runs again on a conflict, DeliveryListByEvent answers from
// that and queues a check. When the queue goes out, the checks of the whole
// batch are two statements: the events' rows locked in ID order (so two
// lanes' or instances' batches take them in one order and cannot deadlock
// on each other over them), then, with a snapshot taken after the locks,
// their deliveries. Each event must be as answered, state and every column
// of its one delivery; otherwise the transaction fails with errRerun, the
// committer runs the batch again, and the settle, whose remembered answer
// was used up, reads synchronously.

// The events come through a LIMIT of their own count, as in
// qEventStateUpdateMany (behind.go): with "= ANY($1)" the generic plan
// PostgreSQL keeps scans both tables in full.
const (
	qSettleLock = `SELECT e.id, e.state
		FROM (SELECT * FROM unnest($1::text[]) AS u(eid) LIMIT cardinality($1::text[])) u
		JOIN events e ON e.id = u.eid
		ORDER BY e.id FOR NO KEY UPDATE OF e`
	qSettleCheck = `SELECT ` + deliveryCols + `
		FROM (SELECT * FROM unnest($1::text[]) AS u(eid) LIMIT cardinality($1::text[])) u
		JOIN deliveries d ON d.event_id = u.eid`
	settleMaxKept = 16384
)

// claimed is what a claim saw of a delivery whose event has no other
// delivery: the row as the claim left it and the event's state.
type claimed struct {
	d     store.Delivery
	state string
}

// settleAhead holds the answers the claims of this driver saw, by event,
// until a settle uses them. Bounded: a full map is cleared (a delivery
// never settled here, its lease taken over elsewhere, leaves its entry).
type settleAhead struct {
	mu sync.Mutex
	m  map[string]claimed
}

func (s *settleAhead) put(d *store.Delivery, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= settleMaxKept {
		s.m = map[string]claimed{}
	}
	c := claimed{d: *d, state: state}
	c.d.Identity = ""
	s.m[d.EventID] = c
}

// take removes and returns the answer kept for eventID.
func (s *settleAhead) take(eventID string) (claimed, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[eventID]
	if ok {
		delete(s.m, eventID)
	}
	return c, ok
}

// settleFromClaim answers DeliveryListByEvent from what the claim saw and
// queues its check; ok is false when the caller must read.
func (x *executor) settleFromClaim(ctx context.Context, eventID string) ([]*store.Delivery, bool) {
	if !store.RerunOnConflict(ctx) || x.wb.touches(eventID) {
		return nil, false
	}
	c, ok := x.d.settle.take(eventID)
	if !ok {
		return nil, false
	}
	x.wb.checks = append(x.wb.checks, c)
	x.wb.held = nil
	x.wb.state = &stateAhead{id: eventID, state: c.state, found: true}
	d := c.d // the caller's copy; the check keeps its own
	return []*store.Delivery{&d}, true
}

// queueSettleChecks adds the two check statements to batch.
func (b *behind) queueSettleChecks(batch *pgx.Batch) []queued {
	if len(b.checks) == 0 {
		return nil
	}
	ids := make([]string, len(b.checks))
	for i := range b.checks {
		ids[i] = b.checks[i].d.EventID
	}
	batch.Queue(qSettleLock, ids)
	batch.Queue(qSettleCheck, ids)
	return []queued{{kind: kindSettleLock}, {kind: kindSettleCheck}}
}

// readSettleChecks compares what the check statements read with what
// the settles were answered.
func (b *behind) readSettleChecks(br pgx.BatchResults, q queued) error {
	rows, err := br.Query()
	if err != nil {
		return queuedFail("settle check", err)
	}
	if q.kind == kindSettleLock {
		states := map[string]string{}
		for rows.Next() {
			var id, st string
			if err := rows.Scan(&id, &st); err != nil {
				rows.Close()
				return queuedFail("settle check", err)
			}
			states[id] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return queuedFail("settle check", err)
		}
		for _, c := range b.checks {
			if st, ok := states[c.d.EventID]; !ok || st != c.state {
				return fmt.Errorf("settle of event %s: state %q, answered %q: %w (%w)", c.d.EventID, st, c.state, errRerun, store.ErrNotCommitted)
			}
		}
		return nil
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return queuedFail("settle check", err)
	}
	byEvent := map[string][]*store.Delivery{}
	for _, d := range ds {
		byEvent[d.EventID] = append(byEvent[d.EventID], d)
	}
	for _, c := range b.checks {
		got := byEvent[c.d.EventID]
		if len(got) != 1 || !reflect.DeepEqual(*got[0], c.d) {
			return fmt.Errorf("settle of event %s: its deliveries changed since the claim: %w (%w)", c.d.EventID, errRerun, store.ErrNotCommitted)
		}
	}
	return nil
}
