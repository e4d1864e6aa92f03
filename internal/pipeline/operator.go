package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/operr"
	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/store"
)

// ErrWrongState is returned when an action does not apply to the item's
// current state (releasing an event that is not held, say).
var ErrWrongState = operr.ErrWrongState

// ErrInvalidRequest is returned (wrapped, with the reason) for a request
// that cannot be run as given: an unknown bulk action, a missing note, a
// filter that matches too much. The API answers it with 400.
var ErrInvalidRequest = operr.ErrInvalidRequest

func invalid(format string, args ...any) error { return operr.Invalid(format, args...) }

// IncompleteError is returned when a release is asked for but fields are
// still missing.
type IncompleteError struct{ Missing []string }

func (e *IncompleteError) Error() string {
	return "still missing required fields: " + strings.Join(e.Missing, ", ")
}

// InvalidError is returned when a patched record no longer passes
// validation.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string { return "record is invalid: " + problemsText(e.Problems) }

func wrongState[S ~string](what string, state S) error { return operr.WrongState(what, state) }

// unknownFields lists the patched names that are not fields of the flow's
// canonical record (what its normalize block writes); a mapping that passes
// unknown source fields through accepts any name.
func (f *Flow) unknownFields(names []string) []Problem {
	if f.Conf != nil && f.Conf.Normalize.Passthrough {
		return nil
	}
	known := map[string]bool{}
	for _, n := range f.Mapper.Fields() {
		known[n] = true
		for i := range n {
			if n[i] == '.' {
				known[n[:i]] = true
			}
		}
	}
	var probs []Problem
	for _, name := range names {
		ok := known[name]
		for i := range name {
			if name[i] == '.' && known[name[:i]] && !ok {
				ok = true // inside a field that holds an object
			}
		}
		if !ok {
			probs = append(probs, Problem{Field: name, Message: fmt.Sprintf("not a field of flow %s's record (its fields: %s)", f.Name, strings.Join(f.Mapper.Fields(), ", "))})
		}
	}
	return probs
}

// holdable is true for events a person may patch and release: held ones,
// and held ones whose hold expired into a still open escalation.
func holdable(ctx context.Context, ex store.Executor, ev *store.Event) (bool, error) {
	if ev.State == store.EventHeld {
		return true, nil
	}
	if ev.State != store.EventEscalated {
		return false, nil
	}
	escs, err := ex.EscalationList(ctx, &store.EscalationListParams{EventID: ev.ID, Status: store.EscalationOpen, Limit: 100})
	if err != nil {
		return false, err
	}
	for _, e := range escs {
		if e.Kind == "hold_expired" {
			return true, nil
		}
	}
	return false, nil
}

// HoldPatch merges fields into a held record (dotted paths allowed) and
// recomputes what is missing. It does not release: a person checks, then
// releases.
func (g *Gate) HoldPatch(ctx context.Context, eventID string, fields map[string]any, actor string) (*store.Event, error) {
	return g.holdPatch(ctx, eventID, fields, actor, time.Time{})
}

// HoldPatchIf is HoldPatch for an editor that read the record at version
// (its UpdatedAt): if someone changed the record since, nothing is written
// and the error is a *StaleError, so a second editor never silently
// overwrites the first.
func (g *Gate) HoldPatchIf(ctx context.Context, eventID string, fields map[string]any, actor string, version time.Time) (*store.Event, error) {
	if version.IsZero() {
		return nil, errors.New("a version is required")
	}
	return g.holdPatch(ctx, eventID, fields, actor, version)
}

func (g *Gate) holdPatch(ctx context.Context, eventID string, fields map[string]any, actor string, version time.Time) (*store.Event, error) {
	if len(fields) == 0 {
		return nil, errors.New("no fields to patch")
	}
	var out *store.Event
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		ev, err := tx.EventGetByID(ctx, eventID)
		if err != nil {
			return err
		}
		if ok, err := holdable(ctx, tx, ev); err != nil {
			return err
		} else if !ok && ev.State == store.EventRejected {
			return fmt.Errorf("event %s is rejected, not held: edit and resubmit it instead (sluice events resubmit, POST /v1/events/{id}/resubmit): %w", eventID, ErrWrongState)
		} else if !ok {
			return wrongState("event "+eventID, ev.State)
		}
		if !version.IsZero() && !ev.UpdatedAt.Equal(version.Truncate(time.Millisecond)) {
			return &StaleError{What: "event " + eventID, Current: ev.UpdatedAt}
		}
		f := g.Plan().Flow(ev.Flow)
		if f == nil {
			return fmt.Errorf("flow %q of event %s is no longer configured", ev.Flow, eventID)
		}
		rec := map[string]any{}
		if len(ev.Canonical) > 0 {
			if err := json.Unmarshal(ev.Canonical, &rec); err != nil {
				return fmt.Errorf("event %s record: %w", eventID, err)
			}
		}
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		if probs := f.unknownFields(names); len(probs) > 0 {
			return &InvalidError{Problems: probs}
		}
		for _, k := range names {
			if v := fields[k]; v == nil {
				payload.Delete(rec, k) // null (--unset) removes the field
			} else {
				payload.Set(rec, k, v)
			}
		}
		a := f.assess(rec, ev.Operation)
		if len(a.problems) > 0 {
			// Saying "complete" to a record that release will refuse
			// (a wrong type, a value the schema rejects) only moves the
			// surprise; refuse the patch instead and keep the record.
			return &InvalidError{Problems: a.problems}
		}
		now := after(g.now(), version)
		canon, _ := json.Marshal(rec)
		missing := mustJSON(nonNil(a.missing))
		key := a.key
		up := &store.EventUpdateParams{ID: ev.ID, State: ev.State, Canonical: canon, Missing: missing, RecordKey: &key, Now: now}
		if !version.IsZero() {
			// The check above gives the message; this one, part of the
			// UPDATE, is what holds against a concurrent save.
			up.IfUpdatedAt = version.Truncate(time.Millisecond)
		}
		if err := tx.EventUpdate(ctx, up); err != nil {
			if errors.Is(err, store.ErrStale) {
				return &StaleError{What: "event " + eventID, Current: ev.UpdatedAt}
			}
			return err
		}
		// Field names only: values may be personal data.
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: audit.ActionPatched, Outcome: string(ev.State),
			Message: "fields: " + strings.Join(names, ", ") + "; still missing: " + strings.Join(a.missing, ", ")}); err != nil {
			return err
		}
		out, err = tx.EventGetByID(ctx, ev.ID)
		return err
	})
	return out, err
}

// HoldRelease re-validates a held record and, if it is now complete and
// valid, routes it. Otherwise it stays held and the error says why.
func (g *Gate) HoldRelease(ctx context.Context, eventID, actor string) (*store.Event, error) {
	var out *store.Event
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		ev, err := tx.EventGetByID(ctx, eventID)
		if err != nil {
			return err
		}
		if ok, err := holdable(ctx, tx, ev); err != nil {
			return err
		} else if !ok {
			return wrongState("event "+eventID, ev.State)
		}
		f := g.Plan().Flow(ev.Flow)
		if f == nil {
			return fmt.Errorf("flow %q of event %s is no longer configured", ev.Flow, eventID)
		}
		var rec map[string]any
		if err := json.Unmarshal(ev.Canonical, &rec); err != nil {
			return fmt.Errorf("event %s record: %w", eventID, err)
		}
		a := f.assess(rec, ev.Operation)
		if len(a.problems) > 0 {
			return &InvalidError{Problems: a.problems}
		}
		if len(a.missing) > 0 {
			return &IncompleteError{Missing: a.missing}
		}
		now := g.now()
		zero := time.Time{}
		ev.State = a.state()
		ev.RecordKey = a.key
		key := a.key
		if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: ev.ID, State: ev.State, Missing: json.RawMessage("[]"), RecordKey: &key, HoldUntil: &zero, Now: now}); err != nil {
			return err
		}
		if err := g.closeEscalations(ctx, tx, ev.ID, store.EscalationResolved, actor, "released after fix", now); err != nil {
			return err
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: audit.ActionReleased, Outcome: "released", Message: "released by operator"}); err != nil {
			return err
		}
		if err := g.route(ctx, tx, ev, a, actor, audit.ActionRouted, "", now); err != nil {
			return err
		}
		out, err = tx.EventGetByID(ctx, ev.ID)
		return err
	})
	return out, err
}

// EventDiscard takes an event out of the pipeline for good, by a person's
// decision, with a reason. Deliveries not yet confirmed are cancelled; a
// delivery in flight finishes its attempt but is not retried.
func (g *Gate) EventDiscard(ctx context.Context, eventID, reason, actor string) (*store.Event, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, errors.New("a reason is required to discard")
	}
	var out *store.Event
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		ev, err := tx.EventGetByID(ctx, eventID)
		if err != nil {
			return err
		}
		switch ev.State {
		case store.EventDelivered, store.EventDiscarded, store.EventRejected:
			return wrongState("event "+eventID, ev.State)
		}
		now := g.now()
		ds, err := tx.DeliveryListByEvent(ctx, ev.ID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.State == store.DeliveryWaiting || d.State == store.DeliveryPending {
				d.State, d.LastError, d.UpdatedAt = store.DeliveryCancelled, "event discarded", now
				if err := tx.DeliveryUpdate(ctx, d); err != nil {
					return err
				}
			}
		}
		if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: ev.ID, State: store.EventDiscarded, Now: now}); err != nil {
			return err
		}
		if err := g.closeEscalations(ctx, tx, ev.ID, store.EscalationDiscarded, actor, reason, now); err != nil {
			return err
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: audit.ActionDiscarded, Outcome: string(store.EventDiscarded), Message: reason}); err != nil {
			return err
		}
		out, err = tx.EventGetByID(ctx, ev.ID)
		return err
	})
	return out, err
}

func (g *Gate) closeEscalations(ctx context.Context, tx store.ExecutorTx, eventID, status, actor, note string, now time.Time) error {
	escs, err := tx.EscalationList(ctx, &store.EscalationListParams{EventID: eventID, Status: store.EscalationOpen, Limit: 1000})
	if err != nil {
		return err
	}
	for _, e := range escs {
		e.Status, e.Actor, e.Note, e.UpdatedAt = status, actor, note, now
		if err := tx.EscalationUpdate(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// ExpireHolds escalates records held past their flow's hold TTL.
func (g *Gate) ExpireHolds(ctx context.Context) (int, error) {
	now := g.now()
	expired, err := g.drv.Executor().EventListHoldExpired(ctx, now, 500)
	if err != nil || len(expired) == 0 {
		return 0, err
	}
	n := 0
	err = g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		for _, ev := range expired {
			cur, err := tx.EventGetByID(ctx, ev.ID)
			if err != nil {
				return err
			}
			if cur.State != store.EventHeld {
				continue
			}
			var missing []string
			_ = json.Unmarshal(cur.Missing, &missing)
			if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: cur.ID, State: store.EventEscalated, Now: now}); err != nil {
				return err
			}
			reason := fmt.Sprintf("held since %s, past the hold TTL; missing: %s", cur.ReceivedAt.UTC().Format(time.RFC3339), strings.Join(missing, ", "))
			esc := &store.Escalation{ID: id.New("esc", now), EventID: cur.ID, Kind: "hold_expired", Reason: reason,
				Status: store.EscalationOpen, GroupID: GroupKey("", "hold_expired", 0, ""), CreatedAt: now, UpdatedAt: now}
			if err := g.openEscalation(ctx, tx, esc); err != nil {
				return err
			}
			if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: cur.ID, Actor: ActorSystem, Action: audit.ActionEscalated, Outcome: "hold_expired", Message: reason}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// EscalationRetry puts the escalated delivery back in the queue with a
// fresh attempt budget (and revives routes cancelled because of it).
func (g *Gate) EscalationRetry(ctx context.Context, escID, actor string) (*store.Escalation, error) {
	var out *store.Escalation
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		esc, err := tx.EscalationGetByID(ctx, escID)
		if err != nil {
			return err
		}
		if esc.Status != store.EscalationOpen {
			return wrongState("escalation "+escID, esc.Status)
		}
		if esc.DeliveryID == "" {
			return fmt.Errorf("escalation %s has no delivery to retry (%s): patch and release the held record instead: %w", escID, esc.Kind, ErrWrongState)
		}
		d, err := tx.DeliveryGetByID(ctx, esc.DeliveryID)
		if err != nil {
			return err
		}
		if d.State != store.DeliveryEscalated {
			// Already requeued: a second retry would only race the first.
			return fmt.Errorf("escalation %s: its delivery is %s, a retry is already under way: %w", escID, d.State, ErrWrongState)
		}
		if err := g.reviveDelivery(ctx, tx, d, actor, "escalation "+escID+" retried", g.now()); err != nil {
			return err
		}
		esc, err = tx.EscalationGetByID(ctx, escID)
		if err != nil {
			return err
		}
		out = esc
		return nil
	})
	return out, err
}

// EscalationResolve records that a person settled the matter outside
// Sluice; the event keeps its state and the audit log says who and why.
func (g *Gate) EscalationResolve(ctx context.Context, escID, note, actor string) (*store.Escalation, error) {
	var out *store.Escalation
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		esc, err := tx.EscalationGetByID(ctx, escID)
		if err != nil {
			return err
		}
		if esc.Status != store.EscalationOpen {
			return wrongState("escalation "+escID, esc.Status)
		}
		now := g.now()
		esc.Status, esc.Actor, esc.Note, esc.UpdatedAt = store.EscalationResolved, actor, note, now
		if err := tx.EscalationUpdate(ctx, esc); err != nil {
			return err
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: esc.EventID, DeliveryID: esc.DeliveryID, Actor: actor,
			Action: audit.ActionEscalationResolved, Outcome: "resolved", Message: note}); err != nil {
			return err
		}
		out = esc
		return nil
	})
	return out, err
}

// EscalationDiscard discards the escalation's event.
func (g *Gate) EscalationDiscard(ctx context.Context, escID, reason, actor string) (*store.Escalation, error) {
	esc, err := g.drv.Executor().EscalationGetByID(ctx, escID)
	if err != nil {
		return nil, err
	}
	if esc.Status != store.EscalationOpen {
		return nil, wrongState("escalation "+escID, esc.Status)
	}
	if _, err := g.EventDiscard(ctx, esc.EventID, reason, actor); err != nil {
		return nil, err
	}
	return g.drv.Executor().EscalationGetByID(ctx, escID)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
