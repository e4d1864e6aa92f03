package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/store"
)

// Replay stages: where in the pipeline a replayed event starts again.
const (
	// StageNormalize re-runs the flow's current mapping on the stored raw
	// payload, then validation and routing: the fix for a mapping or schema
	// that rejected or held good records.
	StageNormalize = "normalize"
	// StageDeliver sends the stored canonical record again, mapped by the
	// routes' current mappings: the fix for a destination that lost or
	// mangled records.
	StageDeliver = "deliver"
)

// Replay limits: events examined by one call, by default and at most.
const (
	DefaultReplayLimit = 500
	MaxReplayLimit     = 5000
)

// replayStates are the states each stage replays when the filter names
// none. Held records are not re-delivered (they never reach a destination
// until released) and discarded ones stay discarded.
var replayStates = map[string][]store.EventState{
	StageNormalize: {store.EventRejected, store.EventHeld, store.EventEscalated, store.EventDelivered},
	StageDeliver:   {store.EventDelivered, store.EventEscalated},
}

// ReplayFilter selects events to replay. Zero fields do not filter.
type ReplayFilter struct {
	Source string
	// States defaults to the states the stage applies to.
	States []store.EventState
	// Destination selects events of flows that route to it and, for the
	// deliver stage, limits the new deliveries to it.
	Destination    string
	ReceivedAfter  time.Time // inclusive
	ReceivedBefore time.Time // exclusive
}

// ReplayParams is one replay request.
type ReplayParams struct {
	Stage  string
	Filter ReplayFilter
	DryRun bool
	Actor  string
	// AfterID continues a replay that stopped at Limit: only events after
	// this ID (ReplayResult.Next of the previous call).
	AfterID string
	// Limit bounds the events examined; DefaultReplayLimit when zero.
	Limit int
	// Rerender (deliver stage only) renders pending and escalated
	// deliveries again with the config in force instead of queueing new
	// writes, and retries the escalated ones: the fix for a route map that
	// sent something the destination refuses. States default to delivering
	// and escalated.
	Rerender bool
	// DeliveryID limits a re-render to one delivery (a group action works
	// one escalation at a time); empty re-renders all of an event's.
	DeliveryID string
}

// ReplayItem is what replay did, or would do, to one event.
type ReplayItem struct {
	EventID  string           `json:"event_id"`
	Source   string           `json:"source"`
	OldState store.EventState `json:"old_state"`
	NewState store.EventState `json:"new_state"`
	// Outcome: "replayed" ("would_replay" in a dry run), "unchanged"
	// (nothing to do) or "skipped" (Reason says why).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Deliveries are the writes made (or that would be made), as
	// route->destination.
	Deliveries []string `json:"deliveries,omitempty"`
	// ChangedFields names the canonical fields a normalize replay changes
	// (names only: values may be personal data).
	ChangedFields []string  `json:"changed_fields,omitempty"`
	Problems      []Problem `json:"errors,omitempty"`
	Missing       []string  `json:"missing,omitempty"`
	// Warnings are things a person should know before running it, such as
	// older data about to overwrite a newer record.
	Warnings []string `json:"warnings,omitempty"`
	// Payloads are the old and new payloads of a re-render, per delivery.
	Payloads []PayloadChange `json:"payloads,omitempty"`
	// ConfigVersion is the version of the config that captured the event.
	ConfigVersion string `json:"config_version,omitempty"`
}

// ReplayResult answers a replay: counts, transitions and each event.
type ReplayResult struct {
	Stage    string `json:"stage"`
	Rerender bool   `json:"rerender,omitempty"`
	// ConfigVersion is the version of the config in force, which a
	// re-render renders with.
	ConfigVersion string `json:"config_version,omitempty"`
	DryRun        bool   `json:"dry_run"`
	Examined      int    `json:"examined"`
	Replayed      int    `json:"replayed"`
	Unchanged     int    `json:"unchanged"`
	Skipped       int    `json:"skipped"`
	// Transitions counts "old -> new" state changes.
	Transitions map[string]int `json:"transitions"`
	// Deliveries counts the writes per destination.
	Deliveries map[string]int `json:"deliveries"`
	Items      []ReplayItem   `json:"items"`
	// Next is set when more events may match: pass it as AfterID.
	Next string `json:"next,omitempty"`
}

// replayer re-runs stored events through the gate from a chosen stage. A
// replay works on the events in place: it never inserts a second event,
// and re-deliveries go through the identity map, so a destination that
// already holds the record is updated, not given a duplicate.
type replayer struct {
	g *Gate
}

// Replay runs p. Events are examined in arrival order, a chunk per
// transaction, and each is re-read and re-judged inside its transaction, so
// a dry run and the real run decide by the same code on what is committed
// at the time. Stored bodies are decoded by payload.ParseStored, exactly
// as intake decoded them.
func (g *Gate) Replay(ctx context.Context, p ReplayParams) (*ReplayResult, error) {
	return (&replayer{g: g}).replay(ctx, p)
}

func (r *replayer) replay(ctx context.Context, p ReplayParams) (*ReplayResult, error) {
	g := r.g
	if _, ok := replayStates[p.Stage]; !ok {
		return nil, invalid("stage must be %s or %s, not %q", StageNormalize, StageDeliver, p.Stage)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultReplayLimit
	}
	if limit > MaxReplayLimit {
		return nil, invalid("limit must be at most %d", MaxReplayLimit)
	}
	if p.Rerender && p.Stage != StageDeliver {
		return nil, invalid("rerender applies to the deliver stage only (normalize renders every route anew already)")
	}
	f := p.Filter
	if !f.ReceivedAfter.IsZero() && !f.ReceivedBefore.IsZero() && !f.ReceivedBefore.After(f.ReceivedAfter) {
		return nil, invalid("received_before must be after received_after")
	}
	lp := &store.EventReplayListParams{Source: f.Source, States: f.States, ReceivedAfter: f.ReceivedAfter, ReceivedBefore: f.ReceivedBefore, AfterID: p.AfterID}
	if len(lp.States) == 0 {
		lp.States = replayStates[p.Stage]
		if p.Rerender {
			lp.States = []store.EventState{store.EventDelivering, store.EventEscalated}
		}
	}
	if f.Destination != "" {
		lp.Flows = r.flowsTo(f.Destination)
		if len(lp.Flows) == 0 {
			return nil, invalid("no flow routes to destination %q", f.Destination)
		}
	}
	if f.Source != "" && g.Plan().FlowForSource(f.Source) == nil {
		return nil, invalid("no flow reads from source %q", f.Source)
	}
	rs := g.drv.Executor()
	res := &ReplayResult{Stage: p.Stage, Rerender: p.Rerender, ConfigVersion: g.Plan().Version, DryRun: p.DryRun, Transitions: map[string]int{}, Deliveries: map[string]int{}, Items: []ReplayItem{}}
	const chunk = 50
	for res.Examined < limit {
		lp.Limit = min(chunk, limit-res.Examined)
		evs, err := rs.EventListForReplay(ctx, lp)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
		items, err := r.replayChunk(ctx, evs, p)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			res.add(it)
		}
		lp.AfterID = evs[len(evs)-1].ID
		if len(evs) < lp.Limit {
			lp.AfterID = ""
			break
		}
	}
	res.Next = lp.AfterID
	if res.Examined < limit {
		res.Next = ""
	}
	return res, nil
}

func (res *ReplayResult) add(it ReplayItem) {
	res.Examined++
	switch it.Outcome {
	case "replayed", "would_replay":
		res.Replayed++
		if it.OldState != it.NewState {
			res.Transitions[string(it.OldState)+" -> "+string(it.NewState)]++
		}
		for _, d := range it.Deliveries {
			_, dest, _ := strings.Cut(d, "->")
			res.Deliveries[dest]++
		}
	case "unchanged":
		res.Unchanged++
	default:
		res.Skipped++
	}
	res.Items = append(res.Items, it)
}

// replayChunk judges a chunk of events: read-only in a dry run, else in one
// transaction (which the group committer may run twice, so the items are
// rebuilt each time).
func (r *replayer) replayChunk(ctx context.Context, evs []*store.Event, p ReplayParams) ([]ReplayItem, error) {
	var items []ReplayItem
	run := func(ctx context.Context, ex store.Executor, tx store.ExecutorTx) error {
		items = items[:0]
		for _, ev := range evs {
			it, err := r.replayOne(ctx, ex, tx, ev.ID, p)
			if err != nil {
				return fmt.Errorf("replay %s: %w", ev.ID, err)
			}
			items = append(items, it)
		}
		return nil
	}
	var err error
	if p.DryRun {
		err = run(ctx, r.g.drv.Executor(), nil)
	} else {
		err = r.g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error { return run(ctx, tx, tx) })
	}
	return items, err
}

// flowsTo lists the flows with a route to destination.
func (r *replayer) flowsTo(destination string) []string {
	var out []string
	for name, fc := range r.g.Plan().Config.Flows {
		for _, rc := range fc.Routes {
			if rc.Destination == destination {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// replayOne re-judges one event. ex reads; tx, nil in a dry run, writes.
func (r *replayer) replayOne(ctx context.Context, ex store.Executor, tx store.ExecutorTx, eventID string, p ReplayParams) (ReplayItem, error) {
	g := r.g
	ev, err := ex.EventGetByID(ctx, eventID)
	if err != nil {
		return ReplayItem{}, err
	}
	it := ReplayItem{EventID: ev.ID, Source: ev.Source, OldState: ev.State, NewState: ev.State, ConfigVersion: ev.ConfigVersion}
	skip := func(format string, args ...any) (ReplayItem, error) {
		it.Outcome, it.Reason = "skipped", fmt.Sprintf(format, args...)
		return it, nil
	}
	f := g.Plan().Flow(ev.Flow)
	if f == nil {
		return skip("flow %q is no longer configured", ev.Flow)
	}
	switch ev.State {
	case store.EventDiscarded:
		return skip("discarded by a person; it stays discarded")
	case store.EventDelivering:
		if p.Stage == StageNormalize {
			return skip("in delivery; replay it once it has settled")
		}
	}
	ds, err := ex.DeliveryListByEvent(ctx, ev.ID)
	if err != nil {
		return it, err
	}
	if p.Rerender {
		return r.replayRerender(ctx, ex, tx, ev, f, ds, it, p)
	}
	if p.Stage == StageDeliver {
		return r.replayDeliver(ctx, ex, tx, ev, f, ds, it, p)
	}
	return r.replayNormalize(ctx, ex, tx, ev, f, ds, it, p)
}

func (r *replayer) replayNormalize(ctx context.Context, ex store.Executor, tx store.ExecutorTx, ev *store.Event, f *Flow, ds []*store.Delivery, it ReplayItem, p ReplayParams) (ReplayItem, error) {
	g := r.g
	var a assessment
	payload, err := payload.ParseStored(ev.ContentType, ev.Raw)
	if err != nil {
		a.problems = []Problem{{Field: "", Message: "stored payload does not parse: " + err.Error()}}
	} else {
		a = f.judge(payload, ev.Operation, ev.RecordKey)
	}
	it.Problems, it.Missing = a.problems, a.missing
	var canon json.RawMessage
	if a.canonical != nil {
		canon, _ = json.Marshal(a.canonical)
	}
	it.ChangedFields = changedFields(ev.Canonical, a.canonical)
	newState := a.state()
	routed := newState == store.EventDelivering || newState == store.EventDelivered
	now := g.now()

	// A record that reached destinations (some routes ran) is re-sent when
	// its record changed; it is never taken back to rejected or held.
	if primaries(ds) > 0 {
		if !routed {
			detail := problemsText(a.problems)
			if len(a.missing) > 0 {
				detail = "missing " + strings.Join(a.missing, ", ")
			}
			it.Outcome, it.Reason = "skipped", fmt.Sprintf("the current mapping makes it %s (%s); a record already sent to destinations is not taken back", newState, detail)
			return it, nil
		}
		if len(it.ChangedFields) == 0 {
			it.Outcome, it.Reason = "unchanged", "the current mapping gives the same record"
			return it, nil
		}
		plan, skipped := planRedelivery(ds, a, "")
		it.Warnings = append(it.Warnings, skipped...)
		if len(plan) == 0 {
			it.Outcome, it.Reason = "skipped", "nothing to deliver: "+strings.Join(skipped, "; ")
			return it, nil
		}
		it.NewState = store.EventDelivering
		it.Deliveries = plan.names()
		warns, err := newerRecords(ctx, ex, ev, plan)
		if err != nil {
			return it, err
		}
		it.Warnings = append(it.Warnings, warns...)
		if tx == nil {
			it.Outcome = "would_replay"
			return it, nil
		}
		it.Outcome = "replayed"
		if err := tx.EventRecordPut(ctx, &store.EventRecordPutParams{ID: ev.ID, State: store.EventDelivering, RecordKey: a.key,
			Canonical: canon, Now: now}); err != nil {
			return it, err
		}
		ev.RecordKey = a.key
		if err := r.auditReplay(ctx, tx, ev, it, p); err != nil {
			return it, err
		}
		return it, g.applyRedelivery(ctx, tx, ev, plan, p.Actor, "replayed from "+p.Stage, now)
	}

	// Not yet sent anywhere (rejected, held, a hold that expired): the new
	// verdict replaces the old one.
	it.NewState = newState
	if newState == ev.State && bytes.Equal(canon, normalizedJSON(ev.Canonical)) && sameJSON(ev.Problems, a.problems) && sameJSON(ev.Missing, a.missing) {
		it.Outcome, it.Reason = "unchanged", "the current mapping gives the same verdict"
		return it, nil
	}
	for _, pd := range a.routes {
		it.Deliveries = append(it.Deliveries, pd.route.Name+"->"+pd.route.Destination)
	}
	if tx == nil {
		it.Outcome = "would_replay"
		return it, nil
	}
	it.Outcome = "replayed"
	put := &store.EventRecordPutParams{ID: ev.ID, State: newState, RecordKey: a.key, Canonical: canon, Now: now}
	if len(a.problems) > 0 {
		put.Problems, _ = json.Marshal(a.problems)
	}
	if len(a.missing) > 0 {
		put.Missing, _ = json.Marshal(a.missing)
		put.HoldUntil = now.Add(f.Conf.HoldTTL.D())
	}
	if err := tx.EventRecordPut(ctx, put); err != nil {
		return it, err
	}
	if ev.State == store.EventEscalated {
		if err := g.closeEscalations(ctx, tx, ev.ID, store.EscalationResolved, p.Actor, "replayed from normalize: now "+string(newState), now); err != nil {
			return it, err
		}
	}
	ev.State, ev.RecordKey = newState, a.key
	if err := r.auditReplay(ctx, tx, ev, it, p); err != nil {
		return it, err
	}
	if routed {
		return it, g.route(ctx, tx, ev, a, p.Actor, audit.ActionRouted, "", now)
	}
	return it, nil
}

func (r *replayer) replayDeliver(ctx context.Context, ex store.Executor, tx store.ExecutorTx, ev *store.Event, f *Flow, ds []*store.Delivery, it ReplayItem, p ReplayParams) (ReplayItem, error) {
	g := r.g
	switch ev.State {
	case store.EventRejected:
		it.Outcome, it.Reason = "skipped", "rejected: there is no valid record to send; replay from normalize"
		return it, nil
	case store.EventHeld:
		it.Outcome, it.Reason = "skipped", "held: a held record is not sent until it is released"
		return it, nil
	}
	if primaries(ds) == 0 {
		it.Outcome, it.Reason = "skipped", "never routed (an expired hold?): replay from normalize or release it"
		return it, nil
	}
	var rec map[string]any
	if err := json.Unmarshal(ev.Canonical, &rec); err != nil || rec == nil {
		it.Outcome, it.Reason = "skipped", "no stored record to send"
		return it, nil
	}
	a := f.assess(rec, ev.Operation)
	if len(a.problems) > 0 || len(a.missing) > 0 {
		it.Problems, it.Missing = a.problems, a.missing
		detail := problemsText(a.problems)
		if len(a.missing) > 0 {
			detail = strings.TrimPrefix(detail+"; missing "+strings.Join(a.missing, ", "), "; ")
		}
		it.Outcome, it.Reason = "skipped", "the stored record no longer passes validation ("+detail+"); replay from normalize"
		return it, nil
	}
	plan, skipped := planRedelivery(ds, a, p.Filter.Destination)
	if len(plan) == 0 {
		it.Outcome = "skipped"
		it.Reason = "nothing to deliver"
		if p.Filter.Destination != "" && len(skipped) == 0 {
			it.Reason += ": no route of this record goes to " + p.Filter.Destination
		}
		if len(skipped) > 0 {
			it.Reason += ": " + strings.Join(skipped, "; ")
		}
		return it, nil
	}
	it.Warnings = append(it.Warnings, skipped...)
	it.NewState = store.EventDelivering
	it.Deliveries = plan.names()
	warns, err := newerRecords(ctx, ex, ev, plan)
	if err != nil {
		return it, err
	}
	it.Warnings = append(it.Warnings, warns...)
	if tx == nil {
		it.Outcome = "would_replay"
		return it, nil
	}
	it.Outcome = "replayed"
	if err := r.auditReplay(ctx, tx, ev, it, p); err != nil {
		return it, err
	}
	return it, g.applyRedelivery(ctx, tx, ev, plan, p.Actor, "replayed from "+p.Stage, g.now())
}

// auditReplay writes the event's "replayed from <stage> by <actor>" entry.
func (r *replayer) auditReplay(ctx context.Context, tx store.ExecutorTx, ev *store.Event, it ReplayItem, p ReplayParams) error {
	stage := p.Stage
	if p.Rerender {
		stage += " with re-render (config " + shortVersion(r.g.Plan().Version) + ")"
	}
	msg := fmt.Sprintf("replayed from %s by %s: %s -> %s", stage, p.Actor, it.OldState, it.NewState)
	if len(it.ChangedFields) > 0 {
		msg += "; record fields changed: " + strings.Join(it.ChangedFields, ", ")
	}
	if len(it.Problems) > 0 {
		msg += "; rejected: " + problemsText(it.Problems)
	}
	if len(it.Missing) > 0 {
		msg += "; missing: " + strings.Join(it.Missing, ", ")
	}
	if len(it.Deliveries) > 0 {
		msg += "; deliveries: " + strings.Join(it.Deliveries, ", ")
	}
	return r.g.audit(ctx, tx, &store.AuditEntry{At: r.g.now(), EventID: ev.ID, Actor: p.Actor, Action: audit.ActionReplayed, Outcome: string(it.NewState), Message: msg})
}

// redelivery is one route's new write in a replay. supersede is the
// route's escalated delivery, which the new one replaces.
type redelivery struct {
	planned   plannedDelivery
	supersede *store.Delivery
	after     []string
}

type redeliveryPlan []redelivery

func (p redeliveryPlan) names() []string {
	out := make([]string, len(p))
	for i, rd := range p {
		out[i] = rd.planned.route.Name + "->" + rd.planned.route.Destination
	}
	return out
}

func primaries(ds []*store.Delivery) int {
	n := 0
	for _, d := range ds {
		if d.FallbackFor == "" {
			n++
		}
	}
	return n
}

// planRedelivery decides, per route the record takes now (only those to
// destination when set), how to send it again. A route with a write still
// queued or in flight is left alone (it is reported, not duplicated); a
// route whose dependency neither succeeded nor is sent again in this replay
// cannot run and is reported too.
func planRedelivery(ds []*store.Delivery, a assessment, destination string) (redeliveryPlan, []string) {
	latest := map[string]*store.Delivery{}
	for _, d := range ds { // ordered by seq
		if d.FallbackFor == "" {
			latest[d.Route] = d
		}
	}
	taken := map[string]bool{}
	for _, pd := range a.routes {
		taken[pd.route.Name] = true
	}
	var plan redeliveryPlan
	var skipped []string
	inPlan := map[string]bool{}
	for _, pd := range a.routes {
		name := pd.route.Name + "->" + pd.route.Destination
		if destination != "" && pd.route.Destination != destination {
			continue
		}
		l := latest[pd.route.Name]
		if l != nil {
			switch l.State {
			case store.DeliveryWaiting, store.DeliveryPending, store.DeliveryInflight:
				skipped = append(skipped, name+" already has a write "+string(l.State))
				continue
			}
		}
		var after []string
		blocked := ""
		for _, dep := range pd.route.After {
			switch {
			case !taken[dep]: // its condition is false: it does not block
			case inPlan[dep]:
				after = append(after, dep)
			case latest[dep] != nil && latest[dep].State == store.DeliverySucceeded:
			default:
				blocked = dep
			}
		}
		if blocked != "" {
			skipped = append(skipped, name+" runs after "+blocked+", which has not succeeded")
			continue
		}
		rd := redelivery{planned: pd, after: after}
		if l != nil && l.State == store.DeliveryEscalated {
			rd.supersede = l
		}
		inPlan[pd.route.Name] = true
		plan = append(plan, rd)
	}
	return plan, skipped
}

// newerRecords warns when a later event's version of the record already
// reached a destination the replay writes to: the replay would put older
// data over it.
func newerRecords(ctx context.Context, ex store.Executor, ev *store.Event, plan redeliveryPlan) ([]string, error) {
	var out []string
	for _, rd := range plan {
		dest := rd.planned.route.Destination
		last, err := ex.DeliveryLatestSucceeded(ctx, dest, ev.RecordKey)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if last.EventID > ev.ID {
			out = append(out, fmt.Sprintf("%s holds a newer version of %s (event %s); this replay writes the older one over it", dest, ev.RecordKey, last.EventID))
		}
	}
	return out, nil
}

// applyRedelivery writes a plan: a new delivery per route, queued behind
// any write of the same key already queued (per-key order), which the
// engine sends as an update when the identity map knows the record there.
// An escalated delivery the new one replaces is cancelled as superseded and
// its escalation resolved, so the event settles by the new write.
func (g *Gate) applyRedelivery(ctx context.Context, tx store.ExecutorTx, ev *store.Event, plan redeliveryPlan, actor, why string, now time.Time) error {
	for _, rd := range plan {
		pd := rd.planned
		state := store.DeliveryPending
		if len(rd.after) > 0 {
			state = store.DeliveryWaiting
		}
		d := &store.Delivery{
			ID: id.New("dlv", now), EventID: ev.ID, Route: pd.route.Name, Destination: pd.route.Destination,
			RecordKey: ev.RecordKey, State: state, After: rd.after, Payload: pd.payload, NextAt: now,
			Fallback: pd.route.Fallback, Operation: ev.Operation, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.DeliveryInsert(ctx, d); err != nil {
			return err
		}
		msg := why + ": new delivery to " + d.Destination
		if old := rd.supersede; old != nil {
			old.State, old.LastError, old.UpdatedAt = store.DeliveryCancelled, "superseded by "+d.ID+" ("+why+")", now
			old.LeaseOwner, old.LeaseUntil = "", time.Time{}
			if err := tx.DeliveryUpdate(ctx, old); err != nil {
				return err
			}
			escs, err := tx.EscalationList(ctx, &store.EscalationListParams{EventID: ev.ID, Status: store.EscalationOpen, Limit: 1000})
			if err != nil {
				return err
			}
			for _, e := range escs {
				if e.DeliveryID == old.ID {
					e.Status, e.Actor, e.Note, e.UpdatedAt = store.EscalationResolved, actor, why+": superseded by "+d.ID, now
					if err := tx.EscalationUpdate(ctx, e); err != nil {
						return err
					}
				}
			}
			msg += "; replaces escalated " + old.ID
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, DeliveryID: d.ID, Route: d.Route, Actor: actor,
			Action: audit.ActionRedeliver, Outcome: string(state), Message: msg}); err != nil {
			return err
		}
	}
	return tx.EventUpdate(ctx, &store.EventUpdateParams{ID: ev.ID, State: store.EventDelivering, Now: now})
}

// changedFields names the top-level canonical fields whose values differ.
func changedFields(old json.RawMessage, fresh map[string]any) []string {
	var prev map[string]any
	if len(old) > 0 {
		_ = json.Unmarshal(old, &prev)
	}
	var out []string
	for k, v := range fresh {
		pv, ok := prev[k]
		if !ok || !bytes.Equal(normalizedValue(pv), normalizedValue(v)) {
			out = append(out, k)
		}
	}
	for k := range prev {
		if _, ok := fresh[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func normalizedValue(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// normalizedJSON re-encodes stored JSON the way json.Marshal would write
// it, so records compare by content; nil stays nil.
func normalizedJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

// sameJSON compares a stored JSON list with a fresh one, treating empty
// and absent alike.
func sameJSON[T any](stored json.RawMessage, fresh []T) bool {
	if len(fresh) == 0 {
		s := strings.TrimSpace(string(stored))
		return s == "" || s == "[]" || s == "null"
	}
	b, _ := json.Marshal(fresh)
	return bytes.Equal(normalizedJSON(stored), normalizedJSON(b))
}
