package ticket

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/operr"
	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/store"
)

// Assign gives an open ticket to owner; an empty owner un-assigns it.
func (w *Workflow) Assign(ctx context.Context, id, owner, actor string) (*Ticket, error) {
	return w.AssignIf(ctx, id, owner, actor, time.Time{})
}

// AssignIf is Assign for an editor that read the ticket at version (its
// UpdatedAt): if someone changed the ticket since, nothing is written and
// the error is a *operr.StaleError. A zero version does not check.
func (w *Workflow) AssignIf(ctx context.Context, id, owner, actor string, version time.Time) (*Ticket, error) {
	owner = w.gate.Clean(strings.TrimSpace(owner))
	if len(owner) > 200 {
		return nil, operr.Invalid("owner is longer than 200 characters")
	}
	return w.edit(ctx, id, true, version, func(ctx context.Context, tx Tx, t *store.Ticket, now time.Time) error {
		if err := tx.Update(ctx, &store.TicketUpdateParams{ID: id, Owner: &owner, Now: now}); err != nil {
			return err
		}
		msg := fmt.Sprintf("%s assigned to %s (was %s)", id, orNobody(owner), orNobody(t.Owner))
		return tx.Audit(ctx, &audit.Entry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
			Action: audit.ActionTicketAssigned, Outcome: orNobody(owner), Message: msg})
	})
}

// Acknowledge records that actor has seen the ticket and is on it. A
// ticket nobody owns becomes actor's; acknowledging twice is refused, so
// the first acknowledgement (and its time, which response-time figures use)
// stands.
func (w *Workflow) Acknowledge(ctx context.Context, id, actor string) (*Ticket, error) {
	return w.edit(ctx, id, true, time.Time{}, func(ctx context.Context, tx Tx, t *store.Ticket, now time.Time) error {
		if !t.AcknowledgedAt.IsZero() {
			return fmt.Errorf("escalation %s was acknowledged by %s at %s: %w", id, t.AcknowledgedBy, t.AcknowledgedAt.Format(time.RFC3339), operr.ErrWrongState)
		}
		up := &store.TicketUpdateParams{ID: id, AcknowledgedAt: &now, AcknowledgedBy: &actor, Now: now}
		msg := id + " acknowledged"
		if t.Owner == "" {
			up.Owner = &actor
			msg += "; now owned by " + actor
		}
		if err := tx.Update(ctx, up); err != nil {
			return err
		}
		return tx.Audit(ctx, &audit.Entry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
			Action: audit.ActionTicketAcknowledged, Outcome: "acknowledged", Message: msg})
	})
}

// AddNote appends a note to a ticket, open or closed (a post-mortem remark
// belongs to the ticket too). Notes are never edited or removed.
func (w *Workflow) AddNote(ctx context.Context, id, text, actor string) (*Ticket, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, operr.Invalid("a note needs text")
	}
	text = truncate(w.gate.Clean(text), 4000)
	return w.edit(ctx, id, false, time.Time{}, func(ctx context.Context, tx Tx, t *store.Ticket, now time.Time) error {
		if err := tx.Note(ctx, &store.TicketNote{EscalationID: id, At: now, Actor: actor, Text: text}); err != nil {
			return err
		}
		return tx.Audit(ctx, &audit.Entry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
			Action: audit.ActionTicketNoted, Outcome: id, Message: text})
	})
}

// PatchRetry changes fields of the escalated delivery's payload (the record
// already mapped to the destination's format) and sends it again: the fix
// for a destination that refused a value. Dotted names reach into nested
// objects; a nil value removes the field. The audit log and the ticket's
// notes name the fields, never their values, which may be personal data.
// The ticket stays open while the retry runs, like a plain retry; if the
// delivery fails again the ticket is updated, and a later one keeps the
// owner.
func (w *Workflow) PatchRetry(ctx context.Context, id string, fields map[string]any, actor string) (*Ticket, error) {
	if len(fields) == 0 {
		return nil, operr.Invalid("no fields to patch")
	}
	return w.PatchRetryIf(ctx, id, fields, actor, time.Time{}, "")
}

// PatchRetryIf is PatchRetry for an editor that read the ticket at version
// (its UpdatedAt; zero does not check): if someone changed the ticket
// since, nothing is written and the error is a *operr.StaleError. note,
// when set, is added to the ticket in the same transaction (a conflict's
// per-field choices). With no fields the delivery is retried unchanged.
func (w *Workflow) PatchRetryIf(ctx context.Context, id string, fields map[string]any, actor string, version time.Time, note string) (*Ticket, error) {
	note = truncate(w.gate.Clean(strings.TrimSpace(note)), 4000)
	names := make([]string, 0, len(fields))
	for k := range fields {
		if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
			return nil, operr.Invalid("field name %q is not a dotted path", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return w.edit(ctx, id, true, version, func(ctx context.Context, tx Tx, t *store.Ticket, now time.Time) error {
		if note != "" {
			if err := tx.Note(ctx, &store.TicketNote{EscalationID: id, At: now, Actor: actor, Text: note}); err != nil {
				return err
			}
			if err := tx.Audit(ctx, &audit.Entry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
				Action: audit.ActionTicketNoted, Outcome: id, Message: note}); err != nil {
				return err
			}
		}
		if t.DeliveryID == "" {
			return fmt.Errorf("escalation %s has no delivery to patch (%s): patch and release the held record instead: %w", id, t.Kind, operr.ErrWrongState)
		}
		d, err := tx.Delivery(ctx, t.DeliveryID)
		if err != nil {
			return err
		}
		if d.State != store.DeliveryEscalated {
			return operr.WrongState("delivery "+d.ID, d.State)
		}
		if len(names) == 0 {
			return tx.Retry(ctx, d.ID, nil, actor, "escalation "+id+" retried")
		}
		b, err := Patch(d.Payload, fields)
		if err != nil {
			return fmt.Errorf("delivery %s: %w", d.ID, err)
		}
		list := strings.Join(names, ", ")
		if err := tx.Audit(ctx, &audit.Entry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Actor: actor,
			Action: audit.ActionPayloadPatched, Outcome: id, Message: "payload fields patched: " + list}); err != nil {
			return err
		}
		if err := tx.Note(ctx, &store.TicketNote{EscalationID: id, At: now, Actor: actor,
			Text: "patched payload fields " + list + " and retried"}); err != nil {
			return err
		}
		return tx.Retry(ctx, d.ID, b, actor, "escalation "+id+" retried after a payload patch ("+list+")")
	})
}

// Patch applies fields to a delivery's JSON object payload: dotted names
// reach into nested objects, a nil value removes the field.
func Patch(body []byte, fields map[string]any) ([]byte, error) {
	m := map[string]any{}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("payload is not a JSON object; it cannot be patched: %w", operr.ErrWrongState)
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if v := fields[k]; v == nil {
			payload.Delete(m, k)
		} else {
			payload.Set(m, k, v)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, operr.Invalid("patched payload is not encodable: %v", err)
	}
	return b, nil
}
