package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
)

// Attempt describes one finished delivery attempt, as the engine saw it.
type Attempt struct {
	Status    int
	Message   string // the platform's own message, already redacted
	Latency   time.Duration
	Ambiguous bool // the request may have been applied
}

// DeliverySucceeded confirms d: records the external ID in the identity map
// so later events update instead of duplicating, releases routes waiting on
// this one, and settles the event's state.
func (g *Gate) DeliverySucceeded(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, externalID string, at Attempt) error {
	at.Message = g.Clean(at.Message)
	now := g.Now()
	d.State, d.ExternalID, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliverySucceeded, externalID, at.Status, "", now
	d.LeaseOwner, d.LeaseUntil, d.Ambiguous = "", time.Time{}, false
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return err
	}
	if externalID != "" && d.RecordKey != "" {
		if err := tx.IdentityPut(ctx, d.Destination, d.RecordKey, externalID); err != nil {
			return err
		}
	}
	msg := at.Message
	if externalID != "" {
		msg = "external id " + externalID
	}
	if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts,
		Actor: ActorSystem, Action: "delivered", Outcome: "succeeded", Status: at.Status, Message: msg, LatencyMS: at.Latency.Milliseconds()}); err != nil {
		return err
	}
	siblings, err := tx.DeliveryListByEvent(ctx, d.EventID)
	if err != nil {
		return err
	}
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
			return err
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: s.EventID, DeliveryID: s.ID, Route: s.Route, Actor: ActorSystem,
			Action: "unblocked", Outcome: "pending", Message: "dependencies succeeded: " + fmt.Sprint(s.After)}); err != nil {
			return err
		}
	}
	return g.settleEventWith(ctx, tx, d.EventID, siblings, now)
}

// DeliveryRetry schedules another attempt at next.
func (g *Gate) DeliveryRetry(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, next time.Time, class string, at Attempt) error {
	at.Message = g.Clean(at.Message)
	now := g.Now()
	d.State, d.NextAt, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliveryPending, next, at.Status, truncate(at.Message, 1000), now
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	d.Ambiguous = d.Ambiguous || at.Ambiguous
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return err
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts,
		Actor: ActorSystem, Action: "attempt_failed", Outcome: "retry " + class, Status: at.Status,
		Message: fmt.Sprintf("%s; next attempt at %s", at.Message, next.UTC().Format(time.RFC3339)), LatencyMS: at.Latency.Milliseconds()})
}

// DeliveryParked returns d to the queue without spending an attempt: its
// destination is paused or its circuit is open, which says nothing about
// this record.
func (g *Gate) DeliveryParked(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, next time.Time, reason string, at Attempt) error {
	at.Message = g.Clean(at.Message)
	now := g.Now()
	if d.Attempts > 0 {
		d.Attempts--
	}
	d.State, d.NextAt, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliveryPending, next, at.Status, truncate(at.Message, 1000), now
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	d.Ambiguous = d.Ambiguous || at.Ambiguous
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return err
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts + 1,
		Actor: ActorSystem, Action: "parked", Outcome: "waiting", Status: at.Status, Message: reason, LatencyMS: at.Latency.Milliseconds()})
}

// DeliveryEscalate gives up on d: it opens an escalation carrying the last
// error and the platform's message, cancels routes that depended on it, and
// settles the event.
func (g *Gate) DeliveryEscalate(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, kind, reason string, at Attempt) error {
	at.Message = g.Clean(at.Message)
	now := g.Now()
	d.State, d.LastStatus, d.LastError, d.UpdatedAt = store.DeliveryEscalated, at.Status, truncate(at.Message, 1000), now
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return err
	}
	esc := &store.Escalation{ID: id.New("esc", now), EventID: d.EventID, DeliveryID: d.ID, Kind: kind, Reason: reason,
		LastError: d.LastError, LastStatus: at.Status, Status: store.EscalationOpen, CreatedAt: now, UpdatedAt: now}
	if err := g.openEscalation(ctx, tx, esc); err != nil {
		return err
	}
	if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Attempt: d.Attempts,
		Actor: ActorSystem, Action: "escalated", Outcome: kind, Status: at.Status, Message: reason + ": " + at.Message, LatencyMS: at.Latency.Milliseconds()}); err != nil {
		return err
	}
	if err := g.cancelDependents(ctx, tx, d, now); err != nil {
		return err
	}
	return g.settleEvent(ctx, tx, d.EventID, now)
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
						Action: "cancelled", Outcome: "cancelled", Message: s.LastError}); err != nil {
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
func (g *Gate) settleEventWith(ctx context.Context, tx store.ExecutorTx, eventID string, ds []*store.Delivery, now time.Time) error {
	ev, err := tx.EventGetByID(ctx, eventID)
	if err != nil {
		return err
	}
	if ev.State == store.EventDiscarded {
		return nil
	}
	if ds == nil {
		if ds, err = tx.DeliveryListByEvent(ctx, eventID); err != nil {
			return err
		}
	}
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
	if state == ev.State {
		return nil
	}
	if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: eventID, State: state, Now: now}); err != nil {
		return err
	}
	if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: eventID, Actor: ActorSystem, Action: "state", Outcome: state,
		Message: fmt.Sprintf("%s -> %s", ev.State, state)}); err != nil {
		return err
	}
	if state == store.EventEscalated {
		return g.openReconciliation(ctx, tx, ev, ds, now)
	}
	return nil
}

// RecoverLeases returns deliveries whose worker died (lease expired) to the
// queue, marked ambiguous: the dead worker may have sent the request.
func (g *Gate) RecoverLeases(ctx context.Context) (int, error) {
	now := g.Now()
	expired, err := g.Driver.Executor().DeliveryListLeaseExpired(ctx, now, 500)
	if err != nil || len(expired) == 0 {
		return 0, err
	}
	n := 0
	err = g.Committer.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
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
				Actor: ActorSystem, Action: "lease_expired", Outcome: "requeued", Message: "worker " + owner + " stopped without an answer; outcome ambiguous, will look up before writing"}); err != nil {
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

// DeliveryFallback sends a copy of d to its route's fallback destination
// while d's own destination is unavailable. d stays in its queue and is
// delivered, in key order, when the destination recovers; the copy is
// recorded on d so it is made once.
func (g *Gate) DeliveryFallback(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, reason string) error {
	cur, err := tx.DeliveryGetByID(ctx, d.ID)
	if err != nil {
		return err
	}
	if cur.FallbackID != "" || cur.Fallback == "" || cur.State != store.DeliveryPending {
		return nil
	}
	now := g.Now()
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
		Action: "fallback", Outcome: cp.Destination, Message: fmt.Sprintf("%s unavailable (%s): copy %s sent to %s; the primary stays queued", cur.Destination, reason, cp.ID, cp.Destination)})
}
