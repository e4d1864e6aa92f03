package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// PayloadChange is one delivery's payload as stored and as the config in
// force renders it now: what a re-render would change (dry run) or changed.
type PayloadChange struct {
	DeliveryID  string `json:"delivery_id"`
	Route       string `json:"route"`
	Destination string `json:"destination"`
	// State is the delivery's state before the re-render: pending or
	// waiting (re-rendered in place, sent when its turn comes) or escalated
	// (re-rendered and retried, its open escalation kept until it lands).
	State store.DeliveryState `json:"state"`
	Old   json.RawMessage     `json:"old"`
	New   json.RawMessage     `json:"new"`
	// Changed is false when the current config renders the same payload;
	// an escalated delivery is retried all the same (the fix may be in the
	// destination's options or in the destination itself).
	Changed bool `json:"changed"`
	// Fields names the top-level payload fields that differ.
	Fields []string `json:"fields,omitempty"`
}

// rerenderable are the delivery states a re-render may change: not yet sent
// (pending, waiting) or given up (escalated). An in-flight delivery is never
// touched: its payload is on the wire.
var rerenderable = []store.DeliveryState{store.DeliveryPending, store.DeliveryWaiting, store.DeliveryEscalated}

// replayRerender renders each pending, waiting or escalated primary delivery
// of ev again from its stored record with the routes' current mappings, and
// (unless a dry run) stores the new payload and retries the escalated ones.
// The delivery keeps its ID, so its idempotency key and the identity map
// make the re-driven write an update of anything an earlier attempt
// created: exactly once by effect. The store only swaps a payload while
// the delivery is still not in flight (DeliveryPayloadPut), so a write a
// worker has already claimed is never changed under it, and per-key order
// (one write of a key in flight) is kept by the claim as for any delivery.
func (r *replayer) replayRerender(ctx context.Context, ex store.Executor, tx store.ExecutorTx, ev *store.Event, f *Flow, ds []*store.Delivery, it ReplayItem, p ReplayParams) (ReplayItem, error) {
	g := r.g
	switch ev.State {
	case store.EventDelivering, store.EventEscalated:
	default:
		it.Outcome, it.Reason = "skipped", "no pending or escalated delivery to re-render (event is "+string(ev.State)+"); replay deliver without --rerender sends a settled record again"
		return it, nil
	}
	var rec map[string]any
	if err := json.Unmarshal(ev.Canonical, &rec); err != nil || rec == nil {
		it.Outcome, it.Reason = "skipped", "no stored record to render"
		return it, nil
	}
	a := f.assess(rec, ev.Operation)
	if len(a.problems) > 0 || len(a.missing) > 0 {
		it.Problems, it.Missing = a.problems, a.missing
		detail := problemsText(a.problems)
		if len(a.missing) > 0 {
			detail = strings.TrimPrefix(detail+"; missing "+strings.Join(a.missing, ", "), "; ")
		}
		it.Outcome, it.Reason = "skipped", "the stored record does not pass the current config ("+detail+"); replay from normalize"
		return it, nil
	}
	planned := map[string]plannedDelivery{}
	for _, pd := range a.routes {
		planned[pd.route.Name] = pd
	}
	latest := map[string]*store.Delivery{}
	for _, d := range ds { // ordered by seq
		if d.FallbackFor == "" {
			latest[d.Route] = d
		}
	}
	routes := make([]string, 0, len(latest))
	for rn := range latest {
		routes = append(routes, rn)
	}
	sort.Strings(routes)
	var changes []PayloadChange
	for _, rn := range routes {
		d := latest[rn]
		if (p.Filter.Destination != "" && d.Destination != p.Filter.Destination) || (p.DeliveryID != "" && d.ID != p.DeliveryID) {
			continue
		}
		name := d.Route + "->" + d.Destination
		switch d.State {
		case store.DeliveryPending, store.DeliveryWaiting, store.DeliveryEscalated:
		case store.DeliveryInflight:
			it.Warnings = append(it.Warnings, name+" is in flight with its current payload; re-render it after it settles")
			continue
		default:
			continue // succeeded or cancelled: nothing waits
		}
		pd, ok := planned[d.Route]
		if !ok {
			it.Warnings = append(it.Warnings, name+" no longer applies to this record (route removed or its when is false now); resolve or discard its escalation")
			continue
		}
		if pd.route.Destination != d.Destination {
			it.Warnings = append(it.Warnings, fmt.Sprintf("%s now goes to %s; replay deliver sends it there", name, pd.route.Destination))
			continue
		}
		old := normalizedJSON(d.Payload)
		fresh := normalizedJSON(pd.payload)
		c := PayloadChange{DeliveryID: d.ID, Route: d.Route, Destination: d.Destination, State: d.State, Old: old, New: fresh,
			Changed: string(old) != string(fresh)}
		if c.Changed {
			var nm map[string]any
			_ = json.Unmarshal(fresh, &nm)
			c.Fields = changedFields(old, nm)
		} else if d.State != store.DeliveryEscalated {
			continue // waits with the payload it would get anyway
		}
		changes = append(changes, c)
	}
	it.Payloads = changes
	if len(changes) == 0 {
		it.Outcome, it.Reason = "unchanged", "the current config renders the same payloads and nothing is escalated"
		if p.Filter.Destination != "" && len(it.Warnings) == 0 {
			it.Reason = "nothing pending or escalated to " + p.Filter.Destination + " needs a re-render"
		}
		return it, nil
	}
	for _, c := range changes {
		it.Deliveries = append(it.Deliveries, c.Route+"->"+c.Destination)
	}
	it.NewState = store.EventDelivering
	if tx == nil {
		it.Outcome = "would_replay"
		return it, nil
	}
	it.Outcome = "replayed"
	now := g.now()
	version := g.Plan().Version
	applied := it.Payloads[:0:0]
	for _, c := range changes {
		ok, err := tx.DeliveryPayloadPut(ctx, &store.DeliveryPayloadPutParams{ID: c.DeliveryID, Payload: c.New, States: rerenderable, Now: now})
		if err != nil {
			return it, err
		}
		if !ok {
			it.Warnings = append(it.Warnings, c.Route+"->"+c.Destination+" was claimed meanwhile; re-render it after it settles")
			continue
		}
		msg := fmt.Sprintf("payload re-rendered with config %s (event captured with config %s)", shortVersion(version), shortVersion(ev.ConfigVersion))
		if c.Changed {
			msg += "; fields changed: " + strings.Join(c.Fields, ", ")
		} else {
			msg += "; same payload"
		}
		if c.State == store.DeliveryEscalated {
			msg += "; retried"
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, DeliveryID: c.DeliveryID, Route: c.Route, Actor: p.Actor,
			Action: audit.ActionRerendered, Outcome: string(c.State), Message: msg}); err != nil {
			return it, err
		}
		if c.State == store.DeliveryEscalated {
			d, err := tx.DeliveryGetByID(ctx, c.DeliveryID)
			if err != nil {
				return it, err
			}
			if err := g.reviveDelivery(ctx, tx, d, p.Actor, "re-rendered with config "+shortVersion(version)+" and retried", now); err != nil {
				return it, err
			}
		}
		applied = append(applied, c)
	}
	it.Payloads = applied
	if len(applied) == 0 {
		it.Outcome, it.NewState = "skipped", ev.State
		it.Reason = "every delivery was claimed meanwhile"
		return it, nil
	}
	return it, r.auditReplay(ctx, tx, ev, it, p)
}

// shortVersion abbreviates a config version for messages (the full hash is
// on the event and in /healthz); "unknown" for events captured before
// versions were recorded.
func shortVersion(v string) string {
	if v == "" {
		return "unknown"
	}
	if len(v) > 12 {
		return v[:12]
	}
	return v
}
