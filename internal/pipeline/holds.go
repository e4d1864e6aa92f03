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

// MaxHoldsBulk is the most held records one bulk patch or release may
// touch; a filter that matches more must be narrowed.
const MaxHoldsBulk = 1000

// HoldsFilter selects held records. Zero fields do not filter.
type HoldsFilter struct {
	Flow string `json:"flow,omitempty"`
	// Missing selects records missing this required field.
	Missing string `json:"missing,omitempty"`
	// ReceivedAfter is inclusive, ReceivedBefore exclusive.
	ReceivedAfter  time.Time `json:"received_after,omitzero"`
	ReceivedBefore time.Time `json:"received_before,omitzero"`
}

func (f HoldsFilter) String() string {
	var parts []string
	if f.Flow != "" {
		parts = append(parts, "flow="+f.Flow)
	}
	if f.Missing != "" {
		parts = append(parts, "missing="+f.Missing)
	}
	if !f.ReceivedAfter.IsZero() {
		parts = append(parts, "received_after="+f.ReceivedAfter.UTC().Format(time.RFC3339))
	}
	if !f.ReceivedBefore.IsZero() {
		parts = append(parts, "received_before="+f.ReceivedBefore.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// HoldsBulkParams is one bulk patch and/or release of held records.
type HoldsBulkParams struct {
	Filter HoldsFilter
	// Set is merged into each record (dotted paths; null removes a field),
	// as holds patch does; empty patches nothing.
	Set map[string]any
	// Release releases each record that is complete and valid after the
	// patch; records still missing fields stay held and are reported.
	Release bool
	DryRun  bool
	Actor   string
}

// HoldsBulkItem is what a bulk action did, or would do, to one record.
type HoldsBulkItem struct {
	EventID   string `json:"event_id"`
	Flow      string `json:"flow"`
	RecordKey string `json:"record_key,omitempty"`
	// Outcome: "would_patch", "would_release" (dry run), "patched",
	// "released", "skipped" (Reason says why: invalid after the patch,
	// still missing fields) or "failed" (Reason is the error).
	Outcome string   `json:"outcome"`
	Reason  string   `json:"reason,omitempty"`
	Missing []string `json:"missing,omitempty"`
}

// HoldsBulkResult answers a bulk patch or release.
type HoldsBulkResult struct {
	DryRun   bool            `json:"dry_run"`
	Filter   string          `json:"filter"`
	Matched  int             `json:"matched"`
	Patched  int             `json:"patched"`
	Released int             `json:"released"`
	Skipped  int             `json:"skipped"`
	Failed   int             `json:"failed"`
	Items    []HoldsBulkItem `json:"items"`
}

// HoldsBulk patches and/or releases every held record the filter selects,
// oldest first, each through HoldPatch and HoldRelease (own transaction,
// own audit entries, the same validation), plus one summary audit entry.
// A dry run judges each record with the patch applied and changes nothing.
func (g *Gate) HoldsBulk(ctx context.Context, p HoldsBulkParams) (*HoldsBulkResult, error) {
	if len(p.Set) == 0 && !p.Release {
		return nil, invalid("give fields to set, release, or both")
	}
	f := p.Filter
	if !f.ReceivedAfter.IsZero() && !f.ReceivedBefore.IsZero() && !f.ReceivedBefore.After(f.ReceivedAfter) {
		return nil, invalid("received_before must be after received_after")
	}
	if f.Flow != "" && g.Plan().Flow(f.Flow) == nil {
		return nil, invalid("no flow named %q", f.Flow)
	}
	ex := g.drv.Executor()
	cs, ok := ex.(store.ConsoleStore)
	if !ok {
		return nil, fmt.Errorf("store %s cannot search held records", g.drv.Name())
	}
	sp := &store.EventSearchParams{State: store.EventHeld, Flow: f.Flow, Missing: f.Missing, From: f.ReceivedAfter, To: f.ReceivedBefore, Oldest: true, Limit: 500}
	var matched []*store.EventSummary
	for {
		page, err := cs.EventSearch(ctx, sp)
		if err != nil {
			return nil, err
		}
		matched = append(matched, page...)
		if len(matched) > MaxHoldsBulk {
			return nil, invalid("the filter matches more than %d held records; narrow it (flow, missing, received_after/before)", MaxHoldsBulk)
		}
		if len(page) < sp.Limit {
			break
		}
		sp.After = page[len(page)-1].ID
	}
	names := make([]string, 0, len(p.Set))
	for k := range p.Set {
		names = append(names, k)
	}
	sort.Strings(names)
	res := &HoldsBulkResult{DryRun: p.DryRun, Filter: f.String(), Matched: len(matched), Items: []HoldsBulkItem{}}
	for _, s := range matched {
		it := HoldsBulkItem{EventID: s.ID, Flow: s.Flow, RecordKey: s.RecordKey}
		if p.DryRun {
			g.holdsBulkJudge(ctx, ex, s.ID, p, names, &it)
		} else {
			g.holdsBulkApply(ctx, s.ID, p, &it)
		}
		switch it.Outcome {
		case "would_release", "released":
			res.Released++
			if len(p.Set) > 0 {
				res.Patched++
			}
		case "would_patch", "patched":
			res.Patched++
		case "failed":
			res.Failed++
		default:
			res.Skipped++
		}
		res.Items = append(res.Items, it)
	}
	if p.DryRun || len(matched) == 0 {
		return res, nil
	}
	msg := fmt.Sprintf("bulk holds: %d matched, %d patched, %d released, %d skipped, %d failed; filter: %s", res.Matched, res.Patched, res.Released, res.Skipped, res.Failed, res.Filter)
	if len(names) > 0 {
		msg += "; fields: " + strings.Join(names, ", ") // names only: values may be personal data
	}
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		return g.audit(ctx, tx, &store.AuditEntry{At: g.now(), Actor: p.Actor, Action: audit.ActionHoldsBulk, Outcome: fmt.Sprintf("%d released", res.Released), Message: msg})
	})
	return res, err
}

// holdsBulkJudge says what the bulk action would do to one record, by the
// same checks HoldPatch and HoldRelease make.
func (g *Gate) holdsBulkJudge(ctx context.Context, ex store.Executor, eventID string, p HoldsBulkParams, names []string, it *HoldsBulkItem) {
	ev, err := ex.EventGetByID(ctx, eventID)
	if err != nil {
		it.Outcome, it.Reason = "failed", err.Error()
		return
	}
	f := g.Plan().Flow(ev.Flow)
	if f == nil {
		it.Outcome, it.Reason = "skipped", fmt.Sprintf("flow %q is no longer configured", ev.Flow)
		return
	}
	rec := map[string]any{}
	if len(ev.Canonical) > 0 {
		_ = json.Unmarshal(ev.Canonical, &rec)
	}
	if probs := f.unknownFields(names); len(probs) > 0 {
		it.Outcome, it.Reason = "skipped", problemsText(probs)
		return
	}
	for _, k := range names {
		if v := p.Set[k]; v == nil {
			payload.Delete(rec, k)
		} else {
			payload.Set(rec, k, v)
		}
	}
	a := f.assess(rec, ev.Operation)
	it.Missing = a.missing
	switch {
	case len(a.problems) > 0:
		it.Outcome, it.Reason = "skipped", "invalid after the patch: "+problemsText(a.problems)
	case p.Release && len(a.missing) == 0:
		it.Outcome = "would_release"
	case len(names) > 0:
		it.Outcome = "would_patch"
		if p.Release {
			it.Reason = "stays held: still missing " + strings.Join(a.missing, ", ")
		}
	default:
		it.Outcome, it.Reason = "skipped", "still missing "+strings.Join(a.missing, ", ")
	}
}

// holdsBulkApply patches and/or releases one record through the
// single-record operations.
func (g *Gate) holdsBulkApply(ctx context.Context, eventID string, p HoldsBulkParams, it *HoldsBulkItem) {
	fail := func(err error) {
		var inv *InvalidError
		var inc *IncompleteError
		switch {
		case errors.As(err, &inv):
			it.Outcome, it.Reason = "skipped", "invalid after the patch: "+problemsText(inv.Problems)
		case errors.As(err, &inc):
			it.Outcome, it.Reason, it.Missing = "skipped", "still missing "+strings.Join(inc.Missing, ", "), inc.Missing
			if len(p.Set) > 0 {
				it.Outcome, it.Reason = "patched", "stays held: still missing "+strings.Join(inc.Missing, ", ")
			}
		case errors.Is(err, ErrWrongState):
			it.Outcome, it.Reason = "skipped", err.Error()
		default:
			it.Outcome, it.Reason = "failed", err.Error()
		}
	}
	if len(p.Set) > 0 {
		if _, err := g.HoldPatch(ctx, eventID, p.Set, p.Actor); err != nil {
			fail(err)
			return
		}
		it.Outcome = "patched"
	}
	if p.Release {
		if _, err := g.HoldRelease(ctx, eventID, p.Actor); err != nil {
			fail(err)
			return
		}
		it.Outcome = "released"
	}
}

// EventResubmit edits a rejected event's record and runs it through the
// gate again, as if its sender had sent it corrected: fields are merged
// into the stored record (dotted paths; null removes a field), the record
// is validated and routed by the config in force, and the event becomes
// held, in delivery or delivered. A record still invalid is refused
// (*InvalidError) and nothing changes. The raw body stays as received; the
// audit log names the edited fields (not their values) and who edited them.
func (g *Gate) EventResubmit(ctx context.Context, eventID string, fields map[string]any, actor string) (*store.Event, error) {
	if len(fields) == 0 {
		return nil, errors.New("no fields to edit")
	}
	var out *store.Event
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		ev, err := tx.EventGetByID(ctx, eventID)
		if err != nil {
			return err
		}
		if ev.State != store.EventRejected {
			return fmt.Errorf("event %s is %s; only a rejected record is resubmitted (a held one is patched and released): %w", eventID, ev.State, ErrWrongState)
		}
		f := g.Plan().Flow(ev.Flow)
		if f == nil {
			return fmt.Errorf("flow %q of event %s is no longer configured: %w", ev.Flow, eventID, ErrWrongState)
		}
		rec := map[string]any{}
		if len(ev.Canonical) > 0 {
			if err := json.Unmarshal(ev.Canonical, &rec); err != nil || rec == nil {
				rec = map[string]any{}
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
				payload.Delete(rec, k)
			} else {
				payload.Set(rec, k, v)
			}
		}
		a := f.assess(rec, ev.Operation)
		if len(a.problems) > 0 {
			return &InvalidError{Problems: a.problems}
		}
		now := g.now()
		state := a.state()
		canon, _ := json.Marshal(rec)
		put := &store.EventRecordPutParams{ID: ev.ID, State: state, RecordKey: a.key, Canonical: canon, Now: now}
		if len(a.missing) > 0 {
			put.Missing, _ = json.Marshal(a.missing)
			put.HoldUntil = now.Add(f.Conf.HoldTTL.D())
		}
		if err := tx.EventRecordPut(ctx, put); err != nil {
			return err
		}
		msg := fmt.Sprintf("edited by %s and resubmitted: rejected -> %s; fields: %s; judged by config %s", actor, state, strings.Join(names, ", "), shortVersion(g.Plan().Version))
		if len(a.missing) > 0 {
			msg += "; missing: " + strings.Join(a.missing, ", ")
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: audit.ActionResubmitted, Outcome: string(state), Message: msg}); err != nil {
			return err
		}
		if state == store.EventDelivering || state == store.EventDelivered {
			ev.State, ev.RecordKey = state, a.key
			if err := g.route(ctx, tx, ev, a, actor, audit.ActionRouted, "resubmitted: ", now); err != nil {
				return err
			}
		}
		out, err = tx.EventGetByID(ctx, ev.ID)
		return err
	})
	return out, err
}
