package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
)

// RouteState is one route of a reconciliation summary.
type RouteState struct {
	Route       string              `json:"route"`
	Destination string              `json:"destination"`
	State       store.DeliveryState `json:"state"`
	ExternalID  string              `json:"external_id,omitempty"`
	LastError   string              `json:"last_error,omitempty"`
}

// ReconciliationSummary names what is in which system and what is missing.
type ReconciliationSummary struct {
	RecordKey string       `json:"record_key"`
	Landed    []RouteState `json:"landed"`
	Missing   []RouteState `json:"missing"`
	Suggested []string     `json:"suggested_actions"`
}

// openReconciliation records a partial success: called when an event
// settles as escalated although some of its routes succeeded.
func (g *Gate) openReconciliation(ctx context.Context, tx store.ExecutorTx, ev *store.Event, ds []*store.Delivery, now time.Time) error {
	sum := ReconciliationSummary{RecordKey: ev.RecordKey}
	for _, d := range ds {
		rs := RouteState{Route: d.Route, Destination: d.Destination, State: d.State, ExternalID: d.ExternalID, LastError: d.LastError}
		if d.State == store.DeliverySucceeded {
			sum.Landed = append(sum.Landed, rs)
		} else {
			sum.Missing = append(sum.Missing, rs)
		}
	}
	if len(sum.Landed) == 0 || len(sum.Missing) == 0 {
		return nil
	}
	open, err := tx.ReconciliationList(ctx, &store.ReconciliationListParams{EventID: ev.ID, Status: store.ReconciliationOpen, Limit: 1})
	if err != nil || len(open) > 0 {
		return err
	}
	sum.Suggested = []string{
		"retry: send the record again to the missing destinations (after fixing the cause)",
		"resolve: mark settled when the record was fixed or removed by hand in the destinations",
	}
	b, _ := json.Marshal(sum)
	r := &store.Reconciliation{ID: id.New("rec", now), EventID: ev.ID, Status: store.ReconciliationOpen, Summary: b, CreatedAt: now, UpdatedAt: now}
	if err := tx.ReconciliationInsert(ctx, r); err != nil {
		return err
	}
	var landed, missing []string
	for _, l := range sum.Landed {
		landed = append(landed, l.Destination)
	}
	for _, m := range sum.Missing {
		missing = append(missing, m.Destination)
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: ActorSystem, Action: audit.ActionReconciliationOpened, Outcome: r.ID,
		Message: fmt.Sprintf("in %s; missing from %s", strings.Join(landed, ", "), strings.Join(missing, ", "))})
}

// openEscalationOf returns delivery d's open escalation, nil if it has none.
func (g *Gate) openEscalationOf(ctx context.Context, tx store.Executor, d *store.Delivery) (*store.Escalation, error) {
	escs, err := tx.EscalationList(ctx, &store.EscalationListParams{EventID: d.EventID, Status: store.EscalationOpen, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, e := range escs {
		if e.DeliveryID == d.ID {
			return e, nil
		}
	}
	return nil, nil
}

// reviveDelivery puts a failed delivery back in the queue with a fresh
// attempt budget and revives the routes cancelled because of it.
func (g *Gate) reviveDelivery(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, actor, why string, now time.Time) error {
	d.State, d.Attempts, d.NextAt, d.UpdatedAt = store.DeliveryPending, 0, now, now
	if err := tx.DeliveryUpdate(ctx, d); err != nil {
		return err
	}
	siblings, err := tx.DeliveryListByEvent(ctx, d.EventID)
	if err != nil {
		return err
	}
	for _, s := range siblings {
		if s.State == store.DeliveryCancelled && len(s.After) > 0 {
			s.State, s.LastError, s.UpdatedAt = store.DeliveryWaiting, "", now
			if err := tx.DeliveryUpdate(ctx, s); err != nil {
				return err
			}
		}
	}
	// The delivery's open escalation stays open while the retry runs: it
	// is one problem until the record lands (deliverySucceeded resolves
	// it) or a person settles it; failing again updates it rather than
	// opening another (deliveryEscalate). The retry is a note on it.
	open, err := g.openEscalationOf(ctx, tx, d)
	if err != nil {
		return err
	}
	if open != nil {
		if err := tx.TicketNoteInsert(ctx, &store.TicketNote{EscalationID: open.ID, At: now, Actor: actor, Text: "retry requested: " + why}); err != nil {
			return err
		}
	}
	if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: d.EventID, State: store.EventDelivering, Now: now}); err != nil {
		return err
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Actor: actor,
		Action: audit.ActionRetryRequested, Outcome: "pending", Message: why})
}

// ReconciliationRetry sends the record again to every destination it is
// missing from and closes the task; if the retry fails for good, a new task
// opens.
func (g *Gate) ReconciliationRetry(ctx context.Context, recID, actor string) (*store.Reconciliation, error) {
	var out *store.Reconciliation
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		r, err := tx.ReconciliationGetByID(ctx, recID)
		if err != nil {
			return err
		}
		if r.Status != store.ReconciliationOpen {
			return wrongState("reconciliation "+recID, r.Status)
		}
		now := g.now()
		ds, err := tx.DeliveryListByEvent(ctx, r.EventID)
		if err != nil {
			return err
		}
		n := 0
		for _, d := range ds {
			if d.State == store.DeliveryEscalated {
				if err := g.reviveDelivery(ctx, tx, d, actor, "reconciliation "+recID+" retried", now); err != nil {
					return err
				}
				n++
			}
		}
		// A consistency finding: the record was delivered but the
		// destination no longer matches; write Sluice's version again.
		var sum ReconciliationSummary
		_ = json.Unmarshal(r.Summary, &sum)
		for _, m := range sum.Missing {
			if m.State != "inconsistent" {
				continue
			}
			last, err := tx.DeliveryLatestSucceeded(ctx, m.Destination, sum.RecordKey)
			if err != nil {
				return err
			}
			again := &store.Delivery{ID: id.New("dlv", now), EventID: last.EventID, Route: last.Route, Destination: last.Destination,
				RecordKey: last.RecordKey, State: store.DeliveryPending, Payload: last.Payload, NextAt: now, Fallback: last.Fallback,
				Operation: last.Operation, CreatedAt: now, UpdatedAt: now}
			if err := tx.DeliveryInsert(ctx, again); err != nil {
				return err
			}
			if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: last.EventID, State: store.EventDelivering, Now: now}); err != nil {
				return err
			}
			if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: last.EventID, DeliveryID: again.ID, Route: again.Route, Actor: actor,
				Action: audit.ActionRedeliver, Outcome: "pending", Message: "reconciliation " + recID + ": write the record again to " + m.Destination}); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("reconciliation %s: no failed delivery to retry: %w", recID, ErrWrongState)
		}
		r.Status, r.Actor, r.Note, r.UpdatedAt = store.ReconciliationResolved, actor, fmt.Sprintf("retried %d deliveries", n), now
		if err := tx.ReconciliationUpdate(ctx, r); err != nil {
			return err
		}
		out = r
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: r.EventID, Actor: actor, Action: audit.ActionReconciliationRetried, Outcome: r.ID, Message: r.Note})
	})
	return out, err
}

// ReconciliationResolve records that a person settled the difference.
func (g *Gate) ReconciliationResolve(ctx context.Context, recID, note, actor string) (*store.Reconciliation, error) {
	if strings.TrimSpace(note) == "" {
		return nil, fmt.Errorf("a note is required to resolve")
	}
	var out *store.Reconciliation
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		r, err := tx.ReconciliationGetByID(ctx, recID)
		if err != nil {
			return err
		}
		if r.Status != store.ReconciliationOpen {
			return wrongState("reconciliation "+recID, r.Status)
		}
		now := g.now()
		r.Status, r.Actor, r.Note, r.UpdatedAt = store.ReconciliationResolved, actor, note, now
		if err := tx.ReconciliationUpdate(ctx, r); err != nil {
			return err
		}
		out = r
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: r.EventID, Actor: actor, Action: audit.ActionReconciliationResolved, Outcome: r.ID, Message: note})
	})
	return out, err
}

// ConsistencyMismatch records what the consistency checker found on
// delivery d (the record is missing from its destination, or differs) as a
// reconciliation task, unless d's event has one open already; it returns
// the task's ID.
func (g *Gate) ConsistencyMismatch(ctx context.Context, d *store.Delivery, problem string) (string, error) {
	var taskID string
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		taskID = "" // the unit may run twice
		open, err := tx.ReconciliationList(ctx, &store.ReconciliationListParams{EventID: d.EventID, Status: store.ReconciliationOpen, Limit: 1})
		if err != nil {
			return err
		}
		if len(open) > 0 {
			taskID = open[0].ID
			return nil
		}
		now := g.now()
		problem := g.Clean(problem)
		sum := ReconciliationSummary{
			RecordKey: d.RecordKey,
			Missing:   []RouteState{{Route: d.Route, Destination: d.Destination, State: "inconsistent", ExternalID: d.ExternalID, LastError: problem}},
			Suggested: []string{"retry: write Sluice's record again (overwrites the change in the destination)", "resolve: accept the destination's version"},
		}
		r := &store.Reconciliation{ID: id.New("rec", now), EventID: d.EventID, Status: store.ReconciliationOpen, Summary: mustJSON(sum), CreatedAt: now, UpdatedAt: now}
		if err := tx.ReconciliationInsert(ctx, r); err != nil {
			return err
		}
		taskID = r.ID
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Actor: ActorSystem,
			Action: audit.ActionConsistencyMismatch, Outcome: r.ID, Message: d.Destination + ": " + problem})
	})
	return taskID, err
}
