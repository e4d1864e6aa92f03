package ticket

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/operr"
	"github.com/sluicehq/sluice/internal/store"
)

// MaxBulk is the most escalations one bulk action may touch; a filter that
// matches more must be narrowed (by kind, destination, source or time).
const MaxBulk = 5000

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

// Filter selects escalations for a bulk action. Zero fields do not
// filter; Status defaults to open.
type Filter struct {
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

func (f Filter) String() string {
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
	Filter Filter
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
func (w *Workflow) Bulk(ctx context.Context, p BulkParams) (*BulkResult, error) {
	switch p.Action {
	case BulkRetry, BulkRerender:
	case BulkResolve, BulkDiscard:
		if strings.TrimSpace(p.Note) == "" {
			what := map[string]string{BulkResolve: "a note (how it was settled)", BulkDiscard: "a reason"}[p.Action]
			return nil, operr.Invalid("bulk %s needs %s", p.Action, what)
		}
	default:
		return nil, operr.Invalid("action must be retry, rerender, resolve or discard, not %q", p.Action)
	}
	if p.Filter.Status == "" {
		p.Filter.Status = store.EscalationOpen
	}
	if !p.Filter.CreatedAfter.IsZero() && !p.Filter.CreatedBefore.IsZero() && !p.Filter.CreatedBefore.After(p.Filter.CreatedAfter) {
		return nil, operr.Invalid("created_before must be after created_after")
	}
	var matched []*store.Ticket
	lp := &store.TicketListParams{Status: p.Filter.Status, Kind: p.Filter.Kind, Destination: p.Filter.Destination, Source: p.Filter.Source,
		GroupID: p.Filter.Group, CreatedAfter: p.Filter.CreatedAfter, CreatedBefore: p.Filter.CreatedBefore, Limit: 500}
	for {
		page, err := w.read.TicketList(ctx, lp)
		if err != nil {
			return nil, err
		}
		matched = append(matched, page...)
		if len(matched) > MaxBulk {
			return nil, operr.Invalid("the filter matches more than %d escalations; narrow it (kind, destination, source, created_after/before)", MaxBulk)
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
	for _, t := range matched {
		it := BulkItem{ID: t.ID, EventID: t.EventID, Kind: t.Kind, Source: t.Source, Destination: t.Destination}
		why, err := w.bulkCheck(ctx, t, p.Action, discarded)
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
			it.Outcome, it.Reason = w.bulkApply(ctx, t, p, discarded)
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
	err := w.gate.TicketRecord(ctx, &audit.Entry{At: w.clock(), Actor: p.Actor, Action: bulkAction[p.Action], Outcome: fmt.Sprintf("%d affected", res.Affected), Message: msg})
	return res, err
}

// bulkCheck says why an action does not apply to t ("" when it does), from
// what is committed now.
func (w *Workflow) bulkCheck(ctx context.Context, t *store.Ticket, action string, discarded map[string]string) (string, error) {
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
		ev, err := w.read.EventGetByID(ctx, t.EventID)
		if err != nil {
			return "", err
		}
		switch ev.State {
		case store.EventDelivered, store.EventDiscarded, store.EventRejected:
			return "event is " + string(ev.State), nil
		}
	}
	return "", nil
}

// bulkApply runs one item through the single-item operation.
func (w *Workflow) bulkApply(ctx context.Context, t *store.Ticket, p BulkParams, discarded map[string]string) (outcome, reason string) {
	var err error
	switch p.Action {
	case BulkRetry:
		_, err = w.gate.EscalationRetry(ctx, t.ID, p.Actor)
	case BulkRerender:
		_, err = w.gate.EscalationRerender(ctx, t.ID, p.Actor)
	case BulkResolve:
		_, err = w.gate.EscalationResolve(ctx, t.ID, p.Note, p.Actor)
	case BulkDiscard:
		if by := discarded[t.EventID]; by != "" {
			cur, gerr := w.read.EscalationGetByID(ctx, t.ID)
			if gerr == nil && cur.Status == store.EscalationDiscarded {
				return "done", "closed with its event, discarded for " + by
			}
		}
		_, err = w.gate.EscalationDiscard(ctx, t.ID, p.Note, p.Actor)
		if err == nil {
			discarded[t.EventID] = t.ID
		}
	}
	switch {
	case err == nil:
		return "done", ""
	case errors.Is(err, operr.ErrWrongState):
		return "skipped", err.Error()
	default:
		return "failed", err.Error()
	}
}
