package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/validate"
)

// ActorSystem is the audit actor of automatic transitions.
const ActorSystem = "system"

// Gate runs captures, deliveries' outcomes and operator actions through
// the state machine. It is the only writer of event, delivery, escalation,
// reconciliation and destination state and of audit entries (see
// docs/adr/0010-one-writer.md): every write goes through one of its
// methods, inside one transaction with its audit entry, with messages
// redacted and truncated on the way. Other packages reach it through ports
// they declare themselves (delivery.Pipeline, api.Pipeline, ...).
type Gate struct {
	plan   atomic.Pointer[Plan]
	drv    store.Driver
	com    *store.Committer
	now    func() time.Time
	log    *slog.Logger
	redact func(string) string
	// confirmed observes each confirmed delivery (Config.Confirmed).
	confirmed func(flow, destination string, since time.Duration)
	// settled observes each delivery's settlement (Config.Settled).
	settled func(destination string, result Settlement, retried bool)
}

// Config is what a Gate is built from.
type Config struct {
	// Plan is the compiled config; required.
	Plan *Plan
	// Driver is the store; required.
	Driver store.Driver
	// Committer is the group commit over Driver every transition runs
	// through; nil builds one (512 units per transaction).
	Committer *store.Committer
	// Clock is the one wall clock of the pipeline: every timestamp the gate
	// writes comes from it. nil means time.Now in UTC.
	Clock func() time.Time
	// Log is the logger; nil discards.
	Log *slog.Logger
	// Redact masks secrets in text the gate stores (audit messages, last
	// errors); nil stores text as is.
	Redact func(string) string
	// Confirmed, when set, is told of each confirmed delivery: its flow,
	// destination and the time from its routing (capture, or release of a
	// held record) to the confirmation, on the gate's clock (metrics'
	// processing latency).
	Confirmed func(flow, destination string, since time.Duration)
	// Settled, when set, is told once per delivery when it first settles
	// (confirmed, or escalated: retried is true when it failed at least one
	// attempt, which every escalated delivery did), and once more, as
	// SettledRecovered, when a delivery already told as escalated lands
	// after a person's retry or a re-render. A delivery that fails again
	// after a person's retry is not told twice. This is the retry success
	// rate's input (metrics), counted from the pipeline because only it
	// knows whether a delivery settled before.
	Settled func(destination string, result Settlement, retried bool)
}

// Settlement is how a delivery settled, for Config.Settled.
type Settlement string

// Settlements.
const (
	SettledSucceeded Settlement = "succeeded"
	SettledEscalated Settlement = "escalated"
	SettledRecovered Settlement = "recovered"
)

// New builds a gate.
func New(c Config) *Gate {
	g := &Gate{drv: c.Driver, com: c.Committer, now: c.Clock, log: c.Log, redact: c.Redact, confirmed: c.Confirmed, settled: c.Settled}
	g.plan.Store(c.Plan)
	if g.now == nil {
		g.now = func() time.Time { return time.Now().UTC() }
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.com == nil && g.drv != nil {
		g.com = store.NewCommitter(g.drv, 512)
	}
	return g
}

// Plan is the compiled config the gate judges records by now.
func (g *Gate) Plan() *Plan { return g.plan.Load() }

// SetPlan swaps the compiled config; transitions that start afterwards use
// the new one.
func (g *Gate) SetPlan(p *Plan) { g.plan.Store(p) }

// Now reads the gate's clock: the time every transition is stamped with.
func (g *Gate) Now() time.Time { return g.now() }

// Backlog is how many units of work wait for the next group commit, and
// the queue's bound; intake sheds load (503) as it fills.
func (g *Gate) Backlog() (pending, capacity int) { return g.com.Pending(), g.com.Capacity() }

// Clean masks secrets in s; every message that reaches the store passes
// through it.
func (g *Gate) Clean(s string) string {
	if g.redact == nil {
		return s
	}
	return g.redact(s)
}

// Problem is one reason a payload was rejected.
type Problem = validate.Problem

// CaptureInput is one inbound trigger, already authenticated and parsed.
type CaptureInput struct {
	Source      string
	ContentType string
	Body        []byte
	Payload     any
	IdemKey     string
	// Operation is store.OpUpsert (the default) or store.OpDelete: the
	// trigger reports the record deleted at its source (HubSpot archived,
	// Notion trashed, Airtable destroyed). A delete is not checked against
	// the schema or required fields (the fields are often gone), only its
	// record key is needed; the flow's on_delete decides whether its routes
	// remove the record from their destinations or it is only recorded.
	Operation string
	// Ref names the record by its ID in one destination, for a delete
	// whose payload no longer carries the record key: the gate finds the
	// key in that destination's identity map (Sluice wrote the record
	// there, or carried it from there to the other side).
	Ref *ExternalRef

	refKey string // Ref's record key, found by the gate
}

// ExternalRef is a record's ID in a destination.
type ExternalRef struct {
	Destination string
	ExternalID  string
}

// CaptureResult is what the sender is told.
type CaptureResult struct {
	EventID   string           `json:"event_id"`
	State     store.EventState `json:"state"`
	Duplicate bool             `json:"duplicate,omitempty"`
	Problems  []Problem        `json:"errors,omitempty"`
	Missing   []string         `json:"missing,omitempty"`
	// Released lists held events this one completed and released.
	Released []string `json:"released,omitempty"`
	// Destinations names the destinations this event's own deliveries
	// go to (not those of released events), so intake wakes only their
	// workers; not part of the answer.
	Destinations []string `json:"-"`
}

// ErrUnknownSource is returned for a source no flow reads from.
var ErrUnknownSource = errors.New("unknown source")

// assessment is the gate's verdict on one canonical record.
type assessment struct {
	canonical map[string]any
	key       string
	problems  []Problem
	missing   []string
	routes    []plannedDelivery
	// canonicalJSON is canonical encoded, when planning a route that
	// sends it unmapped already encoded it (nil otherwise): capture
	// stores these bytes instead of encoding the record a second time.
	canonicalJSON []byte
}

type plannedDelivery struct {
	route   *Route
	payload json.RawMessage
}

// assess normalizes nothing: it validates a canonical record and plans its
// deliveries. Used at capture, release and auto-completion alike, so a
// record is judged the same way whatever brought it to the gate. A delete
// (op store.OpDelete) is judged by assessDelete.
func (f *Flow) assess(canonical map[string]any, op string) assessment {
	if op == store.OpDelete {
		return f.assessDelete(canonical)
	}
	a := assessment{canonical: canonical}
	required := [][]string{f.Require}
	var matched []*Route
	for _, r := range f.Routes {
		ok, err := r.matches(canonical)
		if err != nil {
			a.problems = append(a.problems, Problem{Field: "routes." + r.Name + ".when", Message: err.Error()})
			continue
		}
		if ok {
			matched = append(matched, r)
			required = append(required, r.Require)
		}
	}
	v := validate.Check(f.Schema, canonical, required...)
	a.problems = append(a.problems, v.Problems...)
	a.missing = v.Missing
	if k, ok := canonical[f.Key]; ok && k != nil {
		if s, isStr := k.(string); isStr {
			a.key = s // what fmt.Sprint prints, without its allocation
		} else {
			a.key = fmt.Sprint(k)
		}
	}
	if len(a.problems) > 0 || len(a.missing) > 0 {
		a.problems = f.maskProblems(canonical, nil, a.problems)
		return a
	}
	for _, r := range matched {
		if r.Mapper == nil && a.canonicalJSON != nil {
			a.routes = append(a.routes, plannedDelivery{route: r, payload: a.canonicalJSON})
			continue
		}
		rec := canonical
		if r.Mapper != nil {
			out, probs := r.Mapper.Apply(canonical)
			for _, p := range probs {
				a.problems = append(a.problems, Problem{Field: "routes." + r.Name + ".map." + p.Field, Message: p.Message})
			}
			rec = out
		}
		// payload.Marshal writes what json.Marshal writes, without its
		// reflection.
		b, err := payload.Marshal(rec)
		if err == nil && r.Mapper == nil {
			a.canonicalJSON = b
		}
		if err != nil {
			a.problems = append(a.problems, Problem{Field: "routes." + r.Name, Message: "payload not encodable: " + err.Error()})
			continue
		}
		a.routes = append(a.routes, plannedDelivery{route: r, payload: b})
	}
	a.problems = f.maskProblems(canonical, nil, a.problems)
	return a
}

// plans reports whether the assessment plans a delivery on route name.
// A scan, not a set: a flow has a handful of routes, and this runs in the
// commit loop, once per dependency.
func (a assessment) plans(name string) bool {
	for _, p := range a.routes {
		if p.route.Name == name {
			return true
		}
	}
	return false
}

func (a assessment) state() store.EventState {
	switch {
	case len(a.problems) > 0:
		return store.EventRejected
	case len(a.missing) > 0:
		return store.EventHeld
	case len(a.routes) == 0:
		return store.EventDelivered
	default:
		return store.EventDelivering
	}
}

// Capture judges one trigger and commits it, with its deliveries and audit
// entries, before returning. A duplicate (same source and idempotency key)
// returns the original event and writes nothing.
func (g *Gate) Capture(ctx context.Context, in CaptureInput) (CaptureResult, error) {
	plan := g.Plan()
	f := plan.FlowForSource(in.Source)
	if f == nil {
		return CaptureResult{}, ErrUnknownSource
	}
	now := g.now()
	if err := g.resolveRef(ctx, &in); err != nil {
		return CaptureResult{}, fmt.Errorf("capture: %w", err)
	}
	c := g.prepare(plan, f, in, now)
	var res CaptureResult
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		var err error
		res, err = g.commitCapture(ctx, tx, c, "source:"+in.Source, "", now)
		return err
	})
	if err != nil {
		return CaptureResult{}, fmt.Errorf("capture: %w", err)
	}
	g.logCapture(ctx, res, in.Source, f.Name)
	return res, nil
}

// preparedCapture is a trigger judged outside the transaction: the event
// row to insert and the gate's verdict on it.
type preparedCapture struct {
	flow  *Flow
	in    CaptureInput
	ev    *store.Event
	a     assessment
	fresh CaptureResult
}

// prepare normalizes, validates and plans one trigger; it writes nothing.
func (g *Gate) prepare(plan *Plan, f *Flow, in CaptureInput, now time.Time) preparedCapture {
	ev := &store.Event{
		ID: id.New("evt", now), Source: in.Source, Flow: f.Name, IdemKey: in.IdemKey,
		ContentType: in.ContentType, Raw: in.Body, ConfigVersion: plan.Version, Operation: in.Operation, ReceivedAt: now, UpdatedAt: now,
	}
	a := f.judge(in.Payload, in.Operation, in.refKey)
	ev.State = a.state()
	ev.RecordKey = a.key
	if a.canonicalJSON != nil {
		ev.Canonical = a.canonicalJSON
	} else if a.canonical != nil {
		ev.Canonical, _ = payload.Marshal(a.canonical)
	}
	if len(a.problems) > 0 {
		ev.Problems, _ = json.Marshal(a.problems)
	}
	if len(a.missing) > 0 {
		ev.Missing, _ = json.Marshal(a.missing)
		ev.HoldUntil = now.Add(f.Conf.HoldTTL.D())
	}
	fresh := CaptureResult{EventID: ev.ID, State: ev.State, Problems: a.problems, Missing: a.missing}
	if ev.State == store.EventDelivering {
		fresh.Destinations = make([]string, 0, len(a.routes))
		for _, p := range a.routes {
			if !slices.Contains(fresh.Destinations, p.route.Destination) {
				fresh.Destinations = append(fresh.Destinations, p.route.Destination)
			}
		}
	}
	return preparedCapture{flow: f, in: in, ev: ev, a: a, fresh: fresh}
}

// commitCapture inserts a prepared capture inside tx. It may run twice
// (the committer re-runs a failed batch's units), so it starts from the
// prepared values each time and changes none of them.
func (g *Gate) commitCapture(ctx context.Context, tx store.ExecutorTx, c preparedCapture, actor, origin string, now time.Time) (CaptureResult, error) {
	res := c.fresh
	ev, a, in := c.ev, c.a, c.in
	existing, inserted, err := tx.EventInsert(ctx, ev)
	if err != nil {
		return res, err
	}
	if !inserted {
		prev, err := tx.EventGetByID(ctx, existing)
		if err != nil {
			return res, err
		}
		return CaptureResult{EventID: prev.ID, State: prev.State, Duplicate: true}, nil
	}
	msg := strconv.Itoa(len(in.Body)) + " bytes, " + in.ContentType // runs in the commit loop: no fmt
	if origin != "" {
		msg = origin + ", " + msg
	}
	if in.IdemKey != "" {
		msg += ", idempotency key present"
	}
	// A record that is complete may finish records held for the same
	// key; release those first so their writes keep arrival order. A
	// delete supplies no fields.
	if ev.RecordKey != "" && a.canonical != nil && len(a.problems) == 0 && ev.Operation != store.OpDelete {
		released, err := g.autoComplete(ctx, tx, c.flow, ev, a.canonical, now)
		if err != nil {
			return res, err
		}
		res.Released = released
	}
	return res, g.enter(ctx, tx, ev, a, actor, msg, now)
}

// enter writes the capture's one audit entry, which states the gate's
// verdict (capture and verdict commit together, so they are one
// transition), and, for a record that passed, its deliveries.
func (g *Gate) enter(ctx context.Context, tx store.ExecutorTx, ev *store.Event, a assessment, actor, msg string, now time.Time) error {
	switch ev.State {
	case store.EventRejected:
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: audit.ActionCaptured, Outcome: "rejected", Status: 422, Message: msg + "; rejected: " + problemsText(a.problems)})
	case store.EventHeld:
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: audit.ActionCaptured, Outcome: "held", Message: msg + "; missing: " + strings.Join(a.missing, ", ")})
	}
	return g.route(ctx, tx, ev, a, actor, audit.ActionCaptured, msg+"; ", now)
}

// route creates the deliveries of a record that passed the gate and writes
// the transition's audit entry (action, with prefix before the routes).
func (g *Gate) route(ctx context.Context, tx store.ExecutorTx, ev *store.Event, a assessment, actor string, action audit.Action, prefix string, now time.Time) error {
	if len(a.routes) == 0 {
		if ev.Operation == store.OpDelete {
			return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: action, Outcome: "ignored",
				Message: prefix + "delete of " + ev.RecordKey + " recorded; no route removes deleted records (on_delete: ignore), nothing written"})
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: action, Outcome: "delivered", Message: prefix + "no route matched; nothing to deliver"})
	}
	names := make([]string, 0, len(a.routes))
	for _, p := range a.routes {
		var after []string
		for _, dep := range p.route.After {
			if a.plans(dep) { // a dependency whose condition is false does not block
				after = append(after, dep)
			}
		}
		state := store.DeliveryPending
		if len(after) > 0 {
			state = store.DeliveryWaiting
		}
		d := &store.Delivery{
			ID: id.New("dlv", now), EventID: ev.ID, Route: p.route.Name, Destination: p.route.Destination,
			RecordKey: ev.RecordKey, State: state, After: after, Payload: p.payload, NextAt: now,
			Fallback: p.route.Fallback, Operation: ev.Operation, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.DeliveryInsert(ctx, d); err != nil {
			return err
		}
		names = append(names, p.route.Name+"->"+p.route.Destination)
	}
	if ev.Operation == store.OpDelete {
		prefix += "delete of " + ev.RecordKey + ", "
	}
	return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: action, Outcome: "delivering", Message: prefix + "routes: " + strings.Join(names, ", ")})
}

// autoComplete releases held records of the same flow and key whose missing
// fields the new record supplies.
func (g *Gate) autoComplete(ctx context.Context, tx store.ExecutorTx, f *Flow, ev *store.Event, fresh map[string]any, now time.Time) ([]string, error) {
	held, err := tx.EventListHeldByKey(ctx, f.Name, ev.RecordKey)
	if err != nil || len(held) == 0 {
		return nil, err
	}
	var released []string
	for _, h := range held {
		var rec map[string]any
		if err := json.Unmarshal(h.Canonical, &rec); err != nil {
			return nil, fmt.Errorf("held event %s: %w", h.ID, err)
		}
		var missing []string
		_ = json.Unmarshal(h.Missing, &missing)
		filled := false
		for _, m := range missing {
			if v, ok := lookupPath(fresh, m); ok && v != nil {
				payload.Set(rec, m, v)
				filled = true
			}
		}
		if !filled {
			continue
		}
		a := f.assess(rec, h.Operation)
		if st := a.state(); st != store.EventDelivering && st != store.EventDelivered {
			continue // still incomplete (or now invalid): stays held for a person
		}
		canon, _ := json.Marshal(rec)
		zero := time.Time{}
		if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: h.ID, State: a.state(), Canonical: canon, Missing: json.RawMessage("[]"), HoldUntil: &zero, Now: now}); err != nil {
			return nil, err
		}
		h.State = a.state()
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: h.ID, Actor: ActorSystem, Action: audit.ActionReleased, Outcome: "auto-completed",
			Message: fmt.Sprintf("missing fields %s supplied by event %s", strings.Join(missing, ", "), ev.ID)}); err != nil {
			return nil, err
		}
		if err := g.route(ctx, tx, h, a, ActorSystem, audit.ActionRouted, "", now); err != nil {
			return nil, err
		}
		released = append(released, h.ID)
	}
	return released, nil
}

func (g *Gate) audit(ctx context.Context, tx store.Executor, e *store.AuditEntry) error {
	if e.At.IsZero() {
		e.At = g.now()
	}
	e.Message = truncate(g.Clean(e.Message), 2000)
	return tx.AuditAppend(ctx, e)
}

func problemsText(ps []Problem) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.Field == "" {
			parts = append(parts, p.Message)
		} else {
			parts = append(parts, p.Field+": "+p.Message)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	default:
		return "number"
	}
}

// lookupPath is payload.Lookup, treating a blank string as absent.
func lookupPath(m map[string]any, path string) (any, bool) {
	cur, ok := payload.Lookup(m, path)
	if !ok {
		return nil, false
	}
	if s, isStr := cur.(string); isStr && strings.TrimSpace(s) == "" {
		return nil, false
	}
	return cur, true
}

// resolveRef finds the record key of a delete that names its record by
// an external ID (in.Ref) in that destination's identity map. A record
// Sluice never synced there has no key: the delete is then held for a
// person, as any record without its key is.
func (g *Gate) resolveRef(ctx context.Context, in *CaptureInput) error {
	if in.Operation != store.OpDelete || in.Ref == nil || in.Ref.ExternalID == "" {
		return nil
	}
	key, err := g.drv.Executor().IdentityGetByExternalID(ctx, in.Ref.Destination, in.Ref.ExternalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find the deleted record %s in %s: %w", in.Ref.ExternalID, in.Ref.Destination, err)
	}
	in.refKey = key
	return nil
}
