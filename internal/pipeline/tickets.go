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
	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/store"
)

// DefaultTicketDue is how long an escalation may stay open before it is
// overdue when its flow sets no delivery SLA (flows.*.sla.deliver_within).
const DefaultTicketDue = 24 * time.Hour

// MaxBulk is the most escalations one bulk action may touch; a filter that
// matches more must be narrowed (by kind, destination, source or time).
const MaxBulk = 5000

// ErrInvalidRequest is returned (wrapped, with the reason) for a request
// that cannot be run as given: an unknown bulk action, a missing note, a
// filter that matches too much. The API answers it with 400.
var ErrInvalidRequest = errors.New("invalid request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidRequest)
}

// Bulk actions.
const (
	BulkRetry   = "retry"
	BulkResolve = "resolve"
	BulkDiscard = "discard"
	// BulkRerender renders each escalated delivery again with the config
	// in force (as replay deliver --rerender does) and retries it.
	BulkRerender = "rerender"
)

// bulkAction is the audit action recording each kind of bulk change.
var bulkAction = map[string]audit.Action{
	BulkRetry:    audit.ActionTicketsBulkRetry,
	BulkResolve:  audit.ActionTicketsBulkResolve,
	BulkDiscard:  audit.ActionTicketsBulkDiscard,
	BulkRerender: audit.ActionTicketsBulkRerender,
}

// Ticket is an escalation as a person works it: the stored ticket, its
// notes, and whether it is past due.
type Ticket struct {
	*store.Ticket
	Notes   []*store.TicketNote
	Overdue bool
}

// dueWithin is how long an escalation of the flow may stay open: the flow's
// delivery SLA, else DefaultTicketDue.
func (g *Gate) dueWithin(flow string) time.Duration {
	if f := g.Plan().Flow(flow); f != nil && f.Conf != nil {
		if d := f.Conf.SLA.DeliverWithin.D(); d > 0 {
			return d
		}
	}
	return DefaultTicketDue
}

// openEscalation inserts esc and makes it a ticket: it is due within the
// flow's SLA, and when the same delivery was escalated before (a retry that
// failed again) the earlier ticket's owner keeps it and a note links the two,
// so whoever worked the first failure sees the second.
func (g *Gate) openEscalation(ctx context.Context, tx store.ExecutorTx, esc *store.Escalation) error {
	ts := tx
	var prev *store.Ticket
	if esc.DeliveryID != "" {
		earlier, err := ts.TicketList(ctx, &store.TicketListParams{DeliveryID: esc.DeliveryID, Limit: 1})
		if err != nil {
			return err
		}
		if len(earlier) > 0 {
			prev = earlier[0]
		}
	}
	if err := tx.EscalationInsert(ctx, esc); err != nil {
		return err
	}
	ev, err := tx.EventGetByID(ctx, esc.EventID)
	if err != nil {
		return err
	}
	due := esc.CreatedAt.Add(g.dueWithin(ev.Flow))
	up := &store.TicketUpdateParams{ID: esc.ID, DueAt: &due, Now: esc.UpdatedAt}
	if prev != nil && prev.Owner != "" {
		up.Owner = &prev.Owner
	}
	if err := ts.TicketUpdate(ctx, up); err != nil {
		return err
	}
	if prev == nil {
		return nil
	}
	text := fmt.Sprintf("follows %s (%s, %s by %s): the delivery failed again", prev.ID, prev.Kind, prev.Status, orNobody(prev.Actor))
	if prev.Owner != "" {
		text += "; owner " + prev.Owner + " kept"
	}
	return ts.TicketNoteInsert(ctx, &store.TicketNote{EscalationID: esc.ID, At: esc.CreatedAt, Actor: ActorSystem, Text: text})
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// TicketGet returns an escalation with its ticket fields and notes.
func (g *Gate) TicketGet(ctx context.Context, id string) (*Ticket, error) {
	ts := g.drv.Executor()
	t, err := ts.TicketGetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	notes, err := ts.TicketNoteList(ctx, id)
	if err != nil {
		return nil, err
	}
	out := g.ticketView(t)
	out.Notes = notes
	return out, nil
}

// ticketView fills what is derived: a due time for escalations opened
// without one, and whether an open ticket is overdue.
func (g *Gate) ticketView(t *store.Ticket) *Ticket {
	if t.DueAt.IsZero() {
		within := DefaultTicketDue
		if f := g.Plan().FlowForSource(t.Source); f != nil {
			within = g.dueWithin(f.Name)
		}
		t.DueAt = t.CreatedAt.Add(within)
	}
	return &Ticket{Ticket: t, Overdue: t.Status == store.EscalationOpen && g.now().After(t.DueAt)}
}

// TicketList returns tickets matching p, newest first, without notes.
func (g *Gate) TicketList(ctx context.Context, p *store.TicketListParams) ([]*Ticket, error) {
	ts := g.drv.Executor()
	list, err := ts.TicketList(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]*Ticket, len(list))
	for i, t := range list {
		out[i] = g.ticketView(t)
	}
	return out, nil
}

// ticketTx runs fn on an open ticket inside a transaction and returns the
// ticket as committed.
func (g *Gate) ticketTx(ctx context.Context, id string, needOpen bool, fn func(ctx context.Context, tx store.ExecutorTx, ts store.TicketStore, t *store.Ticket, now time.Time) error) (*Ticket, error) {
	return g.ticketTxIf(ctx, id, needOpen, time.Time{}, fn)
}

// ticketTxIf is ticketTx for an editor that read the ticket at version (its
// UpdatedAt; zero: no check). The check is a conditional update of the
// ticket, the first write of the transaction: on PostgreSQL it takes the
// row's lock and is re-evaluated against a concurrent editor's commit, so of
// two saves from the same version exactly one passes and the other gets a
// *StaleError.
func (g *Gate) ticketTxIf(ctx context.Context, id string, needOpen bool, version time.Time, fn func(ctx context.Context, tx store.ExecutorTx, ts store.TicketStore, t *store.Ticket, now time.Time) error) (*Ticket, error) {
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		ts := tx
		t, err := ts.TicketGetByID(ctx, id)
		if err != nil {
			return err
		}
		now := after(g.now(), version)
		if !version.IsZero() {
			stale := &StaleError{What: "escalation " + id, Current: t.UpdatedAt}
			if !t.UpdatedAt.Equal(version.Truncate(time.Millisecond)) {
				return stale
			}
			err := ts.TicketUpdate(ctx, &store.TicketUpdateParams{ID: id, IfUpdatedAt: version.Truncate(time.Millisecond), Now: now})
			if errors.Is(err, store.ErrStale) {
				return stale
			}
			if err != nil {
				return err
			}
		}
		if needOpen && t.Status != store.EscalationOpen {
			return wrongState("escalation "+id, t.Status)
		}
		return fn(ctx, tx, ts, t, now)
	})
	if err != nil {
		return nil, err
	}
	return g.TicketGet(ctx, id)
}

// TicketAssign gives an open ticket to owner; an empty owner un-assigns it.
func (g *Gate) TicketAssign(ctx context.Context, id, owner, actor string) (*Ticket, error) {
	return g.TicketAssignIf(ctx, id, owner, actor, time.Time{})
}

// TicketAssignIf is TicketAssign for an editor that read the ticket at
// version (its UpdatedAt): if someone changed the ticket since, nothing is
// written and the error is a *StaleError. A zero version does not check.
func (g *Gate) TicketAssignIf(ctx context.Context, id, owner, actor string, version time.Time) (*Ticket, error) {
	owner = g.Clean(strings.TrimSpace(owner))
	if len(owner) > 200 {
		return nil, invalid("owner is longer than 200 characters")
	}
	return g.ticketTxIf(ctx, id, true, version, func(ctx context.Context, tx store.ExecutorTx, ts store.TicketStore, t *store.Ticket, now time.Time) error {
		if err := ts.TicketUpdate(ctx, &store.TicketUpdateParams{ID: id, Owner: &owner, Now: now}); err != nil {
			return err
		}
		msg := fmt.Sprintf("%s assigned to %s (was %s)", id, orNobody(owner), orNobody(t.Owner))
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
			Action: audit.ActionTicketAssigned, Outcome: orNobody(owner), Message: msg})
	})
}

// TicketAcknowledge records that actor has seen the ticket and is on it. A
// ticket nobody owns becomes actor's; acknowledging twice is refused, so the
// first acknowledgement (and its time, which response-time figures use)
// stands.
func (g *Gate) TicketAcknowledge(ctx context.Context, id, actor string) (*Ticket, error) {
	return g.ticketTx(ctx, id, true, func(ctx context.Context, tx store.ExecutorTx, ts store.TicketStore, t *store.Ticket, now time.Time) error {
		if !t.AcknowledgedAt.IsZero() {
			return fmt.Errorf("escalation %s was acknowledged by %s at %s: %w", id, t.AcknowledgedBy, t.AcknowledgedAt.Format(time.RFC3339), ErrWrongState)
		}
		up := &store.TicketUpdateParams{ID: id, AcknowledgedAt: &now, AcknowledgedBy: &actor, Now: now}
		msg := id + " acknowledged"
		if t.Owner == "" {
			up.Owner = &actor
			msg += "; now owned by " + actor
		}
		if err := ts.TicketUpdate(ctx, up); err != nil {
			return err
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
			Action: audit.ActionTicketAcknowledged, Outcome: "acknowledged", Message: msg})
	})
}

// TicketAddNote appends a note to a ticket, open or closed (a post-mortem
// remark belongs to the ticket too). Notes are never edited or removed.
func (g *Gate) TicketAddNote(ctx context.Context, id, text, actor string) (*Ticket, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, invalid("a note needs text")
	}
	text = truncate(g.Clean(text), 4000)
	return g.ticketTx(ctx, id, false, func(ctx context.Context, tx store.ExecutorTx, ts store.TicketStore, t *store.Ticket, now time.Time) error {
		if err := ts.TicketNoteInsert(ctx, &store.TicketNote{EscalationID: id, At: now, Actor: actor, Text: text}); err != nil {
			return err
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
			Action: audit.ActionTicketNoted, Outcome: id, Message: text})
	})
}

// TicketPatchRetry changes fields of the escalated delivery's payload (the
// record already mapped to the destination's format) and sends it again:
// the fix for a destination that refused a value. Dotted names reach into
// nested objects; a nil value removes the field. The audit log and the
// ticket's notes name the fields, never their values, which may be
// personal data. The ticket closes as retried, like a plain retry; if the
// delivery fails again a new ticket opens and keeps the owner.
func (g *Gate) TicketPatchRetry(ctx context.Context, id string, fields map[string]any, actor string) (*Ticket, error) {
	if len(fields) == 0 {
		return nil, invalid("no fields to patch")
	}
	return g.TicketPatchRetryIf(ctx, id, fields, actor, time.Time{}, "")
}

// TicketPatchRetryIf is TicketPatchRetry for an editor that read the ticket
// at version (its UpdatedAt; zero does not check): if someone changed the
// ticket since, nothing is written and the error is a *StaleError. note,
// when set, is added to the ticket in the same transaction (a conflict's
// per-field choices). With no fields the delivery is retried unchanged.
func (g *Gate) TicketPatchRetryIf(ctx context.Context, id string, fields map[string]any, actor string, version time.Time, note string) (*Ticket, error) {
	note = truncate(g.Clean(strings.TrimSpace(note)), 4000)
	names := make([]string, 0, len(fields))
	for k := range fields {
		if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
			return nil, invalid("field name %q is not a dotted path", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return g.ticketTxIf(ctx, id, true, version, func(ctx context.Context, tx store.ExecutorTx, ts store.TicketStore, t *store.Ticket, now time.Time) error {
		if note != "" {
			if err := ts.TicketNoteInsert(ctx, &store.TicketNote{EscalationID: id, At: now, Actor: actor, Text: note}); err != nil {
				return err
			}
			if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: t.EventID, DeliveryID: t.DeliveryID, Actor: actor,
				Action: audit.ActionTicketNoted, Outcome: id, Message: note}); err != nil {
				return err
			}
		}
		if t.DeliveryID == "" {
			return fmt.Errorf("escalation %s has no delivery to patch (%s): patch and release the held record instead: %w", id, t.Kind, ErrWrongState)
		}
		d, err := tx.DeliveryGetByID(ctx, t.DeliveryID)
		if err != nil {
			return err
		}
		if d.State != store.DeliveryEscalated {
			return wrongState("delivery "+d.ID, d.State)
		}
		if len(names) == 0 {
			return g.reviveDelivery(ctx, tx, d, actor, "escalation "+id+" retried", now)
		}
		body := map[string]any{}
		if err := json.Unmarshal(d.Payload, &body); err != nil {
			return fmt.Errorf("delivery %s payload is not a JSON object; it cannot be patched: %w", d.ID, ErrWrongState)
		}
		for _, k := range names {
			if v := fields[k]; v == nil {
				deletePath(body, k)
			} else {
				payload.Set(body, k, v)
			}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return invalid("patched payload is not encodable: %v", err)
		}
		d.Payload = b
		list := strings.Join(names, ", ")
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: d.EventID, DeliveryID: d.ID, Route: d.Route, Actor: actor,
			Action: audit.ActionPayloadPatched, Outcome: id, Message: "payload fields patched: " + list}); err != nil {
			return err
		}
		if err := ts.TicketNoteInsert(ctx, &store.TicketNote{EscalationID: id, At: now, Actor: actor,
			Text: "patched payload fields " + list + " and retried"}); err != nil {
			return err
		}
		return g.reviveDelivery(ctx, tx, d, actor, "escalation "+id+" retried after a payload patch ("+list+")", now)
	})
}

func deletePath(m map[string]any, path string) {
	parts := strings.Split(path, ".")
	cur := m
	for _, part := range parts[:len(parts)-1] {
		next, ok := cur[part].(map[string]any)
		if !ok {
			return
		}
		cur = next
	}
	delete(cur, parts[len(parts)-1])
}

// TicketFilter selects escalations for a bulk action. Zero fields do not
// filter; Status defaults to open.
type TicketFilter struct {
	Status      string `json:"status,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Destination string `json:"destination,omitempty"`
	Source      string `json:"source,omitempty"`
	// Group is a failure group's ID (GroupKey): act on identical failures
	// at once.
	Group         string    `json:"group,omitempty"`
	CreatedAfter  time.Time `json:"created_after,omitzero"`
	CreatedBefore time.Time `json:"created_before,omitzero"`
}

func (f TicketFilter) String() string {
	var parts []string
	for _, kv := range [][2]string{{"status", f.Status}, {"kind", f.Kind}, {"destination", f.Destination}, {"source", f.Source}, {"group", f.Group}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if !f.CreatedAfter.IsZero() {
		parts = append(parts, "created_after="+f.CreatedAfter.UTC().Format(time.RFC3339))
	}
	if !f.CreatedBefore.IsZero() {
		parts = append(parts, "created_before="+f.CreatedBefore.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// BulkParams is one bulk action over the escalations a filter selects.
type BulkParams struct {
	Action string // BulkRetry, BulkResolve or BulkDiscard
	Filter TicketFilter
	// Note says how the matter was settled (resolve) or why it is given up
	// (discard); required for both.
	Note   string
	DryRun bool
	Actor  string
}

// BulkItem is what a bulk action did, or would do, to one escalation.
type BulkItem struct {
	ID          string `json:"id"`
	EventID     string `json:"event_id"`
	Kind        string `json:"kind"`
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	// Outcome: "would_<action>" in a dry run, "done", "skipped" (does not
	// apply; Reason says why) or "failed" (Reason is the error).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// BulkResult is the answer to a bulk action: how many matched, how many
// were (or would be) affected, and each item.
type BulkResult struct {
	Action   string     `json:"action"`
	DryRun   bool       `json:"dry_run"`
	Filter   string     `json:"filter"`
	Matched  int        `json:"matched"`
	Affected int        `json:"affected"`
	Skipped  int        `json:"skipped"`
	Failed   int        `json:"failed"`
	Items    []BulkItem `json:"items"`
}

// TicketBulk retries, resolves or discards every escalation the filter
// selects, oldest first, each in its own transaction through the same
// operation as the one-at-a-time action (so each is audited with the actor
// as usual), plus one summary audit entry. A dry run changes nothing and
// answers which escalations would be affected and which skipped, and why.
// Items that stop applying between the dry run and the real one (someone
// resolved them meanwhile) are skipped, not failed.
func (g *Gate) TicketBulk(ctx context.Context, p BulkParams) (*BulkResult, error) {
	switch p.Action {
	case BulkRetry, BulkRerender:
	case BulkResolve, BulkDiscard:
		if strings.TrimSpace(p.Note) == "" {
			what := map[string]string{BulkResolve: "a note (how it was settled)", BulkDiscard: "a reason"}[p.Action]
			return nil, invalid("bulk %s needs %s", p.Action, what)
		}
	default:
		return nil, invalid("action must be retry, rerender, resolve or discard, not %q", p.Action)
	}
	if p.Filter.Status == "" {
		p.Filter.Status = store.EscalationOpen
	}
	if !p.Filter.CreatedAfter.IsZero() && !p.Filter.CreatedBefore.IsZero() && !p.Filter.CreatedBefore.After(p.Filter.CreatedAfter) {
		return nil, invalid("created_before must be after created_after")
	}
	ts := g.drv.Executor()
	var matched []*store.Ticket
	lp := &store.TicketListParams{Status: p.Filter.Status, Kind: p.Filter.Kind, Destination: p.Filter.Destination, Source: p.Filter.Source,
		GroupID: p.Filter.Group, CreatedAfter: p.Filter.CreatedAfter, CreatedBefore: p.Filter.CreatedBefore, Limit: 500}
	for {
		page, err := ts.TicketList(ctx, lp)
		if err != nil {
			return nil, err
		}
		matched = append(matched, page...)
		if len(matched) > MaxBulk {
			return nil, invalid("the filter matches more than %d escalations; narrow it (kind, destination, source, created_after/before)", MaxBulk)
		}
		if len(page) < lp.Limit {
			break
		}
		lp.BeforeID = page[len(page)-1].ID
	}
	// Oldest first: the order they failed in.
	for i, j := 0, len(matched)-1; i < j; i, j = i+1, j-1 {
		matched[i], matched[j] = matched[j], matched[i]
	}
	res := &BulkResult{Action: p.Action, DryRun: p.DryRun, Filter: p.Filter.String(), Matched: len(matched), Items: []BulkItem{}}
	discarded := map[string]string{} // event -> escalation whose discard took it
	ex := g.drv.Executor()
	for _, t := range matched {
		it := BulkItem{ID: t.ID, EventID: t.EventID, Kind: t.Kind, Source: t.Source, Destination: t.Destination}
		why, err := g.bulkCheck(ctx, ex, t, p.Action, discarded)
		switch {
		case err != nil:
			it.Outcome, it.Reason = "failed", err.Error()
		case why != "":
			it.Outcome, it.Reason = "skipped", why
		case p.DryRun:
			it.Outcome = "would_" + p.Action
			if by := discarded[t.EventID]; by != "" && by != t.ID {
				it.Reason = "closed with its event, discarded for " + by
			}
			if p.Action == BulkDiscard && discarded[t.EventID] == "" {
				discarded[t.EventID] = t.ID
			}
		default:
			it.Outcome, it.Reason = g.bulkApply(ctx, t, p, discarded)
		}
		switch {
		case it.Outcome == "failed":
			res.Failed++
		case it.Outcome == "skipped":
			res.Skipped++
		default:
			res.Affected++
		}
		res.Items = append(res.Items, it)
	}
	if p.DryRun || len(matched) == 0 {
		return res, nil
	}
	msg := fmt.Sprintf("bulk %s: %d matched, %d affected, %d skipped, %d failed; filter: %s", p.Action, res.Matched, res.Affected, res.Skipped, res.Failed, res.Filter)
	if p.Note != "" {
		msg += "; note: " + p.Note
	}
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		return g.audit(ctx, tx, &store.AuditEntry{At: g.now(), Actor: p.Actor, Action: bulkAction[p.Action], Outcome: fmt.Sprintf("%d affected", res.Affected), Message: msg})
	})
	return res, err
}

// bulkCheck says why an action does not apply to t ("" when it does), from
// what is committed now.
func (g *Gate) bulkCheck(ctx context.Context, ex store.Executor, t *store.Ticket, action string, discarded map[string]string) (string, error) {
	if by := discarded[t.EventID]; by != "" && action == BulkDiscard {
		return "", nil // goes with its event
	}
	if t.Status != store.EscalationOpen {
		return "escalation is " + t.Status, nil
	}
	switch action {
	case BulkRetry, BulkRerender:
		if t.DeliveryID == "" {
			return fmt.Sprintf("no delivery to retry (%s): patch and release the held record", t.Kind), nil
		}
	case BulkDiscard:
		ev, err := ex.EventGetByID(ctx, t.EventID)
		if err != nil {
			return "", err
		}
		switch ev.State {
		case store.EventDelivered, store.EventDiscarded, store.EventRejected:
			return "event is " + ev.State, nil
		}
	}
	return "", nil
}

// bulkApply runs one item through the single-item operation.
func (g *Gate) bulkApply(ctx context.Context, t *store.Ticket, p BulkParams, discarded map[string]string) (outcome, reason string) {
	var err error
	switch p.Action {
	case BulkRetry:
		_, err = g.EscalationRetry(ctx, t.ID, p.Actor)
	case BulkRerender:
		_, err = g.EscalationRerender(ctx, t.ID, p.Actor)
	case BulkResolve:
		_, err = g.EscalationResolve(ctx, t.ID, p.Note, p.Actor)
	case BulkDiscard:
		if by := discarded[t.EventID]; by != "" {
			cur, gerr := g.drv.Executor().EscalationGetByID(ctx, t.ID)
			if gerr == nil && cur.Status == store.EscalationDiscarded {
				return "done", "closed with its event, discarded for " + by
			}
		}
		_, err = g.EscalationDiscard(ctx, t.ID, p.Note, p.Actor)
		if err == nil {
			discarded[t.EventID] = t.ID
		}
	}
	switch {
	case err == nil:
		return "done", ""
	case errors.Is(err, ErrWrongState):
		return "skipped", err.Error()
	default:
		return "failed", err.Error()
	}
}
