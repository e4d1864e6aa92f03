package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
)

// Attempt describes one finished delivery attempt, as the engine saw it.
type Attempt struct {
	Status int
	// Code is the platform's own error code (connector.Error.Code), when
	// it gave one: part of what makes two failures "the same" (grouping).
	Code      string
	Message   string // the platform's own message, already redacted
	Latency   time.Duration
	Ambiguous bool // the request may have been applied
}

// ClaimDeliveries leases up to limit ready deliveries of one destination to
// owner for lease, oldest first, keeping per-key order (see
// store.Executor.DeliveryClaim). Claiming spends an attempt: the claimed
// rows come back with Attempts already counted.
func (g *Gate) ClaimDeliveries(ctx context.Context, destination, owner string, lease time.Duration, limit int) ([]*store.Delivery, error) {
	var out []*store.Delivery
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		now := g.now()
		ds, err := tx.DeliveryClaim(ctx, &store.DeliveryClaimParams{Destination: destination, Owner: owner, Now: now, LeaseUntil: now.Add(lease), Limit: limit})
		out = ds // the unit may run twice: overwrite, never append
		return err
	})
	return out, err
}

// transition runs fn on the current row of delivery id, re-read inside the
// transaction: the caller's copy may be stale, and group commit may run the
// unit twice (store.Committer), so nothing is derived from what the caller
// holds except the ID.
func (g *Gate) transition(ctx context.Context, id string, fn func(ctx context.Context, tx store.ExecutorTx, cur *store.Delivery, now time.Time) error) error {
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		cur, err := tx.DeliveryGetByID(ctx, id)
		if err != nil {
			return fmt.Errorf("delivery %s: %w", id, err)
		}
		return fn(ctx, tx, cur, g.now())
	})
}

// DeliverySucceeded confirms delivery d: records the external ID in the
// identity map so later events update instead of duplicating, releases
// routes waiting on this one, and settles the event's state.
func (g *Gate) DeliverySucceeded(ctx context.Context, d *store.Delivery, externalID string, at Attempt) error {
	var result Settlement
	var retried bool
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		cur, siblings, err := deliveryWithSiblings(ctx, tx, d)
		if err != nil {
			return err
		}
		result, retried = SettledSucceeded, cur.Attempts > 1 // the unit may run twice: set, never accumulate
		recovered, err := g.deliverySucceeded(ctx, tx, cur, siblings, externalID, at, g.now())
		if recovered {
			result = SettledRecovered
		}
		return err
	})
	if err == nil && g.settled != nil {
		g.settled(d.Destination, result, retried)
	}
	if err == nil {
		g.logDelivery(ctx, slog.LevelDebug, "delivered", d, "external_id", externalID, "attempt", d.Attempts, "status", at.Status)
		if g.confirmed != nil && !d.CreatedAt.IsZero() {
			g.confirmed(g.flowOf(d), d.Destination, g.now().Sub(d.CreatedAt))
		}
	}
	return err
}

// deliveryWithSiblings re-reads d and the other deliveries of its event
// inside the transaction with one query (a settle needs both: the current
// row, and its siblings to release waiting routes and settle the event).
// cur is one of siblings.
func deliveryWithSiblings(ctx context.Context, tx store.ExecutorTx, d *store.Delivery) (cur *store.Delivery, siblings []*store.Delivery, err error) {
	if d.EventID != "" {
		if siblings, err = tx.DeliveryListByEvent(ctx, d.EventID); err != nil {
			return nil, nil, fmt.Errorf("delivery %s: %w", d.ID, err)
		}
		for _, s := range siblings {
			if s.ID == d.ID {
				return s, siblings, nil
			}
		}
	}
	// The caller's copy named no event or the wrong one: read by ID.
	if cur, err = tx.DeliveryGetByID(ctx, d.ID); err != nil {
		return nil, nil, fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	if siblings, err = tx.DeliveryListByEvent(ctx, cur.EventID); err != nil {
		return nil, nil, err
	}
	for i, s := range siblings {
		if s.ID == cur.ID {
			siblings[i] = cur
		}
	}
	return cur, siblings, nil
}

// deliverySucceeded confirms d, one of siblings (its event's deliveries as
// read in this transaction); recovered reports that d had an open
// escalation (it settled as escalated before and a person's retry or a
// re-render made it land).
func (g *Gate) deliverySucceeded(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, siblings []*store.Delivery, externalID string, at Attempt, now time.Time) (recovered bool, err error) {
	// Only a delivery that failed before can have an escalation to settle;
	// the first-try success skips the look-up.
	failedBefore := d.LastError != ""
	at.Message = g.Clean(at.Message)
	d.State, d.ExternalID, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliverySucceeded, externalID, at.Status, "", now
	d.LeaseOwner, d.LeaseUntil, d.Ambiguous = "", time.Time{}, false
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return false, err
	}
	if externalID != "" && d.RecordKey != "" {
		if err := tx.IdentityPut(ctx, &store.IdentityPutParams{Destination: d.Destination, RecordKey: d.RecordKey, ExternalID: externalID, Now: now}); err != nil {
			return false, err
		}
	}
	if err := g.recordSyncPoint(ctx, tx, d, now); err != nil {
		return false, err
	}
	msg := at.Message
	if externalID != "" {
		msg = "external id " + externalID
	}
	if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts,
		Actor: ActorSystem, Action: audit.ActionDelivered, Outcome: "succeeded", Status: at.Status, Message: msg, LatencyMS: at.Latency.Milliseconds()}); err != nil {
		return false, err
	}
	// A retry that lands settles the problem it was retried from.
	var open *store.Escalation
	if failedBefore {
		if open, err = g.openEscalationOf(ctx, tx, d); err != nil {
			return false, err
		}
	}
	if open != nil {
		open.Status, open.Actor, open.Note, open.UpdatedAt = store.EscalationResolved, ActorSystem, "delivered by a retry", now
		if err := tx.EscalationUpdate(ctx, open); err != nil {
			return false, err
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Actor: ActorSystem,
			Action: audit.ActionEscalationResolved, Outcome: open.ID, Message: "delivered by a retry"}); err != nil {
			return false, err
		}
	}
	// d is updated in place above, so siblings shows its new state.
	done := map[string]bool{}
	for _, s := range siblings {
		if s.State == store.DeliverySucceeded {
			done[s.Route] = true
		}
	}
	for _, s := range siblings {
		if s.State != store.DeliveryWaiting {
			continue
		}
		ready := true
		for _, a := range s.After {
			ready = ready && done[a]
		}
		if !ready {
			continue
		}
		s.State, s.NextAt, s.UpdatedAt = store.DeliveryPending, now, now
		if err := tx.DeliveryUpdate(ctx, s); err != nil {
			return false, err
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: s.EventID, DeliveryID: s.ID, Route: s.Route, Actor: ActorSystem,
			Action: audit.ActionUnblocked, Outcome: "pending", Message: "dependencies succeeded: " + fmt.Sprint(s.After)}); err != nil {
			return false, err
		}
	}
	return open != nil, g.settleEventWith(ctx, tx, d.EventID, siblings, now)
}

// DeliveryRetry schedules another attempt of d after wait (measured on the
// gate's clock).
func (g *Gate) DeliveryRetry(ctx context.Context, d *store.Delivery, wait time.Duration, class string, at Attempt) error {
	err := g.retry(ctx, d, wait, class, at)
	if err == nil {
		g.logDelivery(ctx, slog.LevelInfo, "retry scheduled", d, "attempt", d.Attempts, "class", class, "status", at.Status,
			"wait", wait.Round(time.Millisecond).String(), "error", g.Clean(at.Message))
	}
	return err
}

func (g *Gate) retry(ctx context.Context, d *store.Delivery, wait time.Duration, class string, at Attempt) error {
	return g.transition(ctx, d.ID, func(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, now time.Time) error {
		at.Message = g.Clean(at.Message)
		next := now.Add(wait)
		d.State, d.NextAt, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliveryPending, next, at.Status, truncate(at.Message, 1000), now
		d.LeaseOwner, d.LeaseUntil = "", time.Time{}
		d.Ambiguous = d.Ambiguous || at.Ambiguous
		if err := tx.DeliveryUpdate(ctx, d); err != nil {
			return err
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts,
			Actor: ActorSystem, Action: audit.ActionAttemptFailed, Outcome: "retry " + class, Status: at.Status,
			Message: fmt.Sprintf("%s; next attempt at %s", at.Message, next.UTC().Format(time.RFC3339)), LatencyMS: at.Latency.Milliseconds()})
	})
}

// DeliveryParked returns claimed deliveries to the queue after wait
// without spending an attempt: their destination is paused or its circuit
// is open, which says nothing about these records. The claim counted an
// attempt; parking gives it back, once, on the row as stored.
func (g *Gate) DeliveryParked(ctx context.Context, ds []*store.Delivery, wait time.Duration, reason string, at Attempt) error {
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		now := g.now()
		for _, d := range ds {
			cur, err := tx.DeliveryGetByID(ctx, d.ID)
			if err != nil {
				return fmt.Errorf("delivery %s: %w", d.ID, err)
			}
			if err := g.deliveryParked(ctx, tx, cur, now.Add(wait), reason, at, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// deliveryParked parks cur, the row as read in this transaction. Only an
// in-flight row holds a claimed attempt to give back; parking anything else
// (already requeued by lease recovery, say) must not lower its count.
func (g *Gate) deliveryParked(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, next time.Time, reason string, at Attempt, now time.Time) error {
	at.Message = g.Clean(at.Message)
	if d.State == store.DeliveryInflight && d.Attempts > 0 {
		d.Attempts--
	}
	d.State, d.NextAt, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliveryPending, next, at.Status, truncate(at.Message, 1000), now
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	d.Ambiguous = d.Ambiguous || at.Ambiguous
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return err
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts + 1,
		Actor: ActorSystem, Action: audit.ActionParked, Outcome: "waiting", Status: at.Status, Message: reason, LatencyMS: at.Latency.Milliseconds()})
}

// DestinationPause pauses d's destination because of what an attempt of d
// found (an auth error: no other record will fare better until a person
// looks; a drift error is the record's, and escalates it alone), and parks
// d without spending its attempt. Pausing, its audit entry and the parking
// commit together. detail is the platform's message, which the pause
// reason quotes.
func (g *Gate) DestinationPause(ctx context.Context, d *store.Delivery, class, detail string, at Attempt) error {
	err := g.transition(ctx, d.ID, func(ctx context.Context, tx store.ExecutorTx, cur *store.Delivery, now time.Time) error {
		reason := g.Clean(fmt.Sprintf("paused: %s error from %s: %s", class, cur.Destination, detail))
		if err := g.setPaused(ctx, tx, cur.Destination, true, ActorSystem, class, at.Status, reason, now); err != nil {
			return err
		}
		return g.deliveryParked(ctx, tx, cur, now, reason, at, now)
	})
	if err == nil {
		g.logDelivery(ctx, slog.LevelWarn, "destination paused", d, "class", class, "status", at.Status, "error", g.Clean(detail))
	}
	return err
}

// DestinationSetPaused pauses or resumes a destination by an operator's
// decision and returns its new state.
func (g *Gate) DestinationSetPaused(ctx context.Context, name string, paused bool, actor, reason string) (*store.DestinationState, error) {
	var st *store.DestinationState
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		now := g.now()
		st = &store.DestinationState{Name: name, Paused: paused, Reason: g.Clean(reason), UpdatedAt: now}
		return g.setPaused(ctx, tx, name, paused, actor, "ok", 0, reason, now)
	})
	if err == nil {
		msg, level := "destination resumed", slog.LevelInfo
		if paused {
			msg, level = "destination paused", slog.LevelWarn
		}
		g.log.Log(ctx, level, msg, "destination", name, "actor", actor, "reason", g.Clean(reason))
	}
	return st, err
}

func (g *Gate) setPaused(ctx context.Context, tx store.ExecutorTx, name string, paused bool, actor, outcome string, status int, reason string, now time.Time) error {
	reason = g.Clean(reason)
	if err := tx.DestinationStatePut(ctx, &store.DestinationState{Name: name, Paused: paused, Reason: reason, UpdatedAt: now}); err != nil {
		return err
	}
	action, msg := audit.ActionDestinationResumed, name+": "+reason
	if paused {
		action = audit.ActionDestinationPaused
		if actor == ActorSystem {
			msg = reason // names the destination already
		}
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: actor, Action: action, Outcome: outcome, Status: status, Message: msg})
}

// DeliveryEscalate gives up on d: it opens an escalation carrying the last
// error and the platform's message, cancels routes that depended on it, and
// settles the event.
func (g *Gate) DeliveryEscalate(ctx context.Context, d *store.Delivery, kind, reason string, at Attempt) error {
	var again bool
	err := g.transition(ctx, d.ID, func(ctx context.Context, tx store.ExecutorTx, cur *store.Delivery, now time.Time) error {
		var err error
		again, err = g.deliveryEscalate(ctx, tx, cur, kind, reason, at, now)
		return err
	})
	if err == nil && !again && g.settled != nil {
		g.settled(d.Destination, SettledEscalated, true)
	}
	if err == nil {
		g.logDelivery(ctx, slog.LevelWarn, "delivery escalated", d, "kind", kind, "reason", reason, "attempt", d.Attempts,
			"status", at.Status, "error", g.Clean(at.Message))
	}
	return err
}

// deliveryEscalate escalates d; again reports that d already had an open
// escalation (a person's retry failed again), which it updates.
func (g *Gate) deliveryEscalate(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, kind, reason string, at Attempt, now time.Time) (again bool, err error) {
	at.Message = g.Clean(at.Message)
	d.State, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliveryEscalated, at.Status, truncate(at.Message, 1000), now
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return false, err
	}
	// One record, one open problem: a delivery retried from its open
	// escalation that fails again updates that escalation (its attempts
	// are its history in the audit log and ticket notes) instead of
	// opening another.
	prev, err := g.openEscalationOf(ctx, tx, d)
	again = prev != nil
	if err != nil {
		return false, err
	}
	group := GroupKey(d.Destination, kind, at.Status, at.Code)
	if prev != nil {
		prev.Kind, prev.Reason, prev.LastError, prev.LastStatus, prev.UpdatedAt = kind, reason, d.LastError, at.Status, now
		prev.GroupID, prev.Code = group, at.Code
		if err := tx.EscalationUpdate(ctx, prev); err != nil {
			return false, err
		}
		if err := tx.TicketNoteInsert(ctx, &store.TicketNote{EscalationID: prev.ID, At: now, Actor: ActorSystem,
			Text: fmt.Sprintf("failed again (%s): %s", kind, truncate(at.Message, 500))}); err != nil {
			return false, err
		}
	} else {
		esc := &store.Escalation{ID: id.New("esc", now), EventID: d.EventID, DeliveryID: d.ID, Kind: kind, Reason: reason,
			LastError: d.LastError, LastStatus: at.Status, Status: store.EscalationOpen, GroupID: group, Code: at.Code, CreatedAt: now, UpdatedAt: now}
		if err := g.openEscalation(ctx, tx, esc); err != nil {
			return false, err
		}
	}
	if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts,
		Actor: ActorSystem, Action: audit.ActionEscalated, Outcome: kind, Status: at.Status, Message: reason + ": " + at.Message, LatencyMS: at.Latency.Milliseconds()}); err != nil {
		return false, err
	}
	if err := g.cancelDependents(ctx, tx, d, now); err != nil {
		return false, err
	}
	return again, g.settleEvent(ctx, tx, d.EventID, now)
}

func (g *Gate) cancelDependents(ctx context.Context, tx store.ExecutorTx, failed *store.Delivery, now time.Time) error {
	siblings, err := tx.DeliveryListByEvent(ctx, failed.EventID)
	if err != nil {
		return err
	}
	blocked := map[string]bool{failed.Route: true}
	for changed := true; changed; {
		changed = false
		for _, s := range siblings {
			if s.State != store.DeliveryWaiting || blocked[s.Route] {
				continue
			}
			for _, a := range s.After {
				if blocked[a] {
					blocked[s.Route] = true
					changed = true
					s.State, s.LastError, s.UpdatedAt = store.DeliveryCancelled, "route "+a+" did not succeed", now
					if err := tx.DeliveryUpdate(ctx, s); err != nil {
						return err
					}
					if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: s.EventID, DeliveryID: s.ID, Route: s.Route, Actor: ActorSystem,
						Action: audit.ActionCancelled, Outcome: "cancelled", Message: s.LastError}); err != nil {
						return err
					}
					break
				}
			}
		}
	}
	return nil
}

// settleEvent derives the event's state from its deliveries: in delivery
// while any is unfinished, escalated if any failed for good, else delivered.
func (g *Gate) settleEvent(ctx context.Context, tx store.ExecutorTx, eventID string, now time.Time) error {
	return g.settleEventWith(ctx, tx, eventID, nil, now)
}

// settleEventWith is settleEvent with the event's deliveries already in
// hand (and current), saving a query on the hot path.
//
// The deliveries are read before the event's state: inside a transaction
// that read serializes settles of one event across instances (the event
// row's lock on PostgreSQL, ADR 0037), so the state read after it is the
// one the other instance left.
func (g *Gate) settleEventWith(ctx context.Context, tx store.ExecutorTx, eventID string, ds []*store.Delivery, now time.Time) error {
	var err error
	if ds == nil {
		if ds, err = tx.DeliveryListByEvent(ctx, eventID); err != nil {
			return err
		}
	}
	cur, err := tx.EventStateGet(ctx, eventID)
	if err != nil {
		return err
	}
	if cur == store.EventDiscarded {
		return nil
	}
	state := settledState(ds)
	if state == cur {
		return nil
	}
	if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: eventID, State: state, Now: now}); err != nil {
		return err
	}
	if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: eventID, Actor: ActorSystem, Action: audit.ActionState, Outcome: string(state),
		Message: string(cur) + " -> " + string(state)}); err != nil {
		return err
	}
	if state == store.EventEscalated {
		ev, err := tx.EventGetByID(ctx, eventID)
		if err != nil {
			return err
		}
		return g.openReconciliation(ctx, tx, ev, ds, now)
	}
	return nil
}

// settledState is the state an event's deliveries ds give it: in delivery
// while any is unfinished, escalated if any failed for good, else
// delivered.
func settledState(ds []*store.Delivery) store.EventState {
	state := store.EventDelivered
	escalated := false
	for _, d := range ds {
		if d.FallbackFor != "" {
			continue // a stand-in copy; the event's fate is its primary's
		}
		switch d.State {
		case store.DeliveryWaiting, store.DeliveryPending, store.DeliveryInflight:
			state = store.EventDelivering
		case store.DeliveryEscalated:
			escalated = true
		}
	}
	if state != store.EventDelivering && escalated {
		state = store.EventEscalated
	}
	return state
}

// RecoverLeases returns deliveries whose worker died (lease expired) to the
// queue, marked ambiguous: the dead worker may have sent the request.
func (g *Gate) RecoverLeases(ctx context.Context) (int, error) {
	now := g.now()
	expired, err := g.drv.Executor().DeliveryListLeaseExpired(ctx, now, 500)
	if err != nil || len(expired) == 0 {
		return 0, err
	}
	n := 0
	err = g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		for _, d := range expired {
			cur, err := tx.DeliveryGetByID(ctx, d.ID)
			if err != nil {
				return err
			}
			if cur.State != store.DeliveryInflight || cur.LeaseUntil.After(now) {
				continue
			}
			cur.State, cur.NextAt, cur.Ambiguous, cur.UpdatedAt = store.DeliveryPending, now, true, now
			owner := cur.LeaseOwner
			cur.LeaseOwner, cur.LeaseUntil = "", time.Time{}
			if err := tx.DeliveryUpdate(ctx, cur); err != nil {
				return err
			}
			if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: cur.EventID, DeliveryID: cur.ID, Route: cur.Route, Attempt: cur.Attempts,
				Actor: ActorSystem, Action: audit.ActionLeaseExpired, Outcome: "requeued", Message: "worker " + owner + " stopped without an answer; outcome ambiguous, will look up before writing"}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// DeliveryFallback sends a copy of each of ds to its route's fallback
// destination while its own destination is unavailable. Each stays in its
// queue and is delivered, in key order, when the destination recovers; the
// copy is recorded on it so it is made once.
func (g *Gate) DeliveryFallback(ctx context.Context, ds []*store.Delivery, reason string) error {
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		for _, d := range ds {
			if err := g.deliveryFallback(ctx, tx, d, reason); err != nil {
				return err
			}
		}
		return nil
	})
}

func (g *Gate) deliveryFallback(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, reason string) error {
	cur, err := tx.DeliveryGetByID(ctx, d.ID)
	if err != nil {
		return err
	}
	if cur.FallbackID != "" || cur.Fallback == "" || cur.State != store.DeliveryPending || cur.Operation == store.OpDelete {
		// A delete has no copy to keep elsewhere: the primary removes
		// the record once it recovers.
		return nil
	}
	now := g.now()
	cp := &store.Delivery{ID: id.New("dlv", now), EventID: cur.EventID, Route: cur.Route + "~fallback", Destination: cur.Fallback,
		RecordKey: cur.RecordKey, State: store.DeliveryPending, Payload: cur.Payload, NextAt: now, FallbackFor: cur.ID,
		CreatedAt: now, UpdatedAt: now}
	if err := tx.DeliveryInsert(ctx, cp); err != nil {
		return err
	}
	cur.FallbackID, cur.UpdatedAt = cp.ID, now
	if err := tx.DeliveryUpdate(ctx, cur); err != nil {
		return err
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: cur.EventID, DeliveryID: cur.ID, Route: cur.Route, Actor: ActorSystem,
		Action: audit.ActionFallback, Outcome: cp.Destination, Message: fmt.Sprintf("%s unavailable (%s): copy %s sent to %s; the primary stays queued", cur.Destination, reason, cp.ID, cp.Destination)})
}
