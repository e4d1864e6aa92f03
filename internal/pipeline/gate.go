package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/validate"
)

// ActorSystem is the audit actor of automatic transitions.
const ActorSystem = "system"

// Gate runs captures and operator actions through the state machine.
type Gate struct {
	Plan      *Plan
	Driver    store.Driver
	Committer *store.Committer
	Now       func() time.Time
	Log       *slog.Logger
	// Redact masks secrets in text the gate stores (audit messages, last
	// errors); nil stores text as is.
	Redact func(string) string
}

// Clean masks secrets in s; every message that reaches the store passes
// through it.
func (g *Gate) Clean(s string) string {
	if g.Redact == nil {
		return s
	}
	return g.Redact(s)
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
}

// CaptureResult is what the sender is told.
type CaptureResult struct {
	EventID   string    `json:"event_id"`
	State     string    `json:"state"`
	Duplicate bool      `json:"duplicate,omitempty"`
	Problems  []Problem `json:"errors,omitempty"`
	Missing   []string  `json:"missing,omitempty"`
	// Released lists held events this one completed and released.
	Released []string `json:"released,omitempty"`
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
}

type plannedDelivery struct {
	route   *Route
	payload json.RawMessage
}

// assess normalizes nothing: it validates a canonical record and plans its
// deliveries. Used at capture, release and auto-completion alike, so a
// record is judged the same way whatever brought it to the gate.
func (f *Flow) assess(canonical map[string]any) assessment {
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
		a.key = fmt.Sprint(k)
	}
	if len(a.problems) > 0 || len(a.missing) > 0 {
		return a
	}
	for _, r := range matched {
		payload := canonical
		if r.Mapper != nil {
			out, probs := r.Mapper.Apply(canonical)
			for _, p := range probs {
				a.problems = append(a.problems, Problem{Field: "routes." + r.Name + ".map." + p.Field, Message: p.Message})
			}
			payload = out
		}
		b, err := json.Marshal(payload)
		if err != nil {
			a.problems = append(a.problems, Problem{Field: "routes." + r.Name, Message: "payload not encodable: " + err.Error()})
			continue
		}
		a.routes = append(a.routes, plannedDelivery{route: r, payload: b})
	}
	return a
}

func (a assessment) state() string {
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
	plan := g.Plan
	f := plan.FlowForSource(in.Source)
	if f == nil {
		return CaptureResult{}, ErrUnknownSource
	}
	now := g.Now()
	ev := &store.Event{
		ID: id.New("evt", now), Source: in.Source, Flow: f.Name, IdemKey: in.IdemKey,
		ContentType: in.ContentType, Raw: in.Body, ConfigVersion: plan.Version, ReceivedAt: now, UpdatedAt: now,
	}
	var a assessment
	obj, isObj := in.Payload.(map[string]any)
	if !isObj {
		a.problems = []Problem{{Field: "", Message: fmt.Sprintf("payload must be a JSON object, got %s", jsonType(in.Payload))}}
	} else {
		canonical, probs := f.Mapper.Apply(obj)
		if len(probs) > 0 {
			a.canonical = canonical
			for _, p := range probs {
				a.problems = append(a.problems, Problem{Field: p.Field, Message: p.Message})
			}
		} else {
			a = f.assess(canonical)
		}
	}
	ev.State = a.state()
	ev.RecordKey = a.key
	if a.canonical != nil {
		ev.Canonical, _ = json.Marshal(a.canonical)
	}
	if len(a.problems) > 0 {
		ev.Problems, _ = json.Marshal(a.problems)
	}
	if len(a.missing) > 0 {
		ev.Missing, _ = json.Marshal(a.missing)
		ev.HoldUntil = now.Add(f.Conf.HoldTTL.D())
	}
	fresh := CaptureResult{EventID: ev.ID, State: ev.State, Problems: a.problems, Missing: a.missing}
	var res CaptureResult
	actor := "source:" + in.Source
	err := g.Committer.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		res = fresh // the unit may run twice; start from scratch
		existing, inserted, err := tx.EventInsert(ctx, ev)
		if err != nil {
			return err
		}
		if !inserted {
			prev, err := tx.EventGetByID(ctx, existing)
			if err != nil {
				return err
			}
			res = CaptureResult{EventID: prev.ID, State: prev.State, Duplicate: true}
			return nil
		}
		msg := fmt.Sprintf("%d bytes, %s", len(in.Body), in.ContentType)
		if in.IdemKey != "" {
			msg += ", idempotency key present"
		}
		// A record that is complete may finish records held for the same
		// key; release those first so their writes keep arrival order.
		if ev.RecordKey != "" && a.canonical != nil && len(a.problems) == 0 {
			released, err := g.autoComplete(ctx, tx, f, ev, a.canonical, now)
			if err != nil {
				return err
			}
			res.Released = released
		}
		return g.enter(ctx, tx, ev, a, actor, msg, now)
	})
	if err != nil {
		return CaptureResult{}, fmt.Errorf("capture: %w", err)
	}
	return res, nil
}

// enter writes the capture's one audit entry, which states the gate's
// verdict (capture and verdict commit together, so they are one
// transition), and, for a record that passed, its deliveries.
func (g *Gate) enter(ctx context.Context, tx store.ExecutorTx, ev *store.Event, a assessment, actor, msg string, now time.Time) error {
	switch ev.State {
	case store.EventRejected:
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: "captured", Outcome: "rejected", Status: 422, Message: msg + "; rejected: " + problemsText(a.problems)})
	case store.EventHeld:
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: "captured", Outcome: "held", Message: msg + "; missing: " + strings.Join(a.missing, ", ")})
	}
	return g.route(ctx, tx, ev, a, actor, "captured", msg+"; ", now)
}

// route creates the deliveries of a record that passed the gate and writes
// the transition's audit entry (action, with prefix before the routes).
func (g *Gate) route(ctx context.Context, tx store.ExecutorTx, ev *store.Event, a assessment, actor, action, prefix string, now time.Time) error {
	planned := map[string]bool{}
	for _, p := range a.routes {
		planned[p.route.Name] = true
	}
	if len(a.routes) == 0 {
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: ev.ID, Actor: actor, Action: action, Outcome: "delivered", Message: prefix + "no route matched; nothing to deliver"})
	}
	var names []string
	for _, p := range a.routes {
		var after []string
		for _, dep := range p.route.After {
			if planned[dep] { // a dependency whose condition is false does not block
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
			Fallback: p.route.Fallback, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.DeliveryInsert(ctx, d); err != nil {
			return err
		}
		names = append(names, p.route.Name+"->"+p.route.Destination)
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
				setPath(rec, m, v)
				filled = true
			}
		}
		if !filled {
			continue
		}
		a := f.assess(rec)
		if st := a.state(); st != store.EventDelivering && st != store.EventDelivered {
			continue // still incomplete (or now invalid): stays held for a person
		}
		canon, _ := json.Marshal(rec)
		zero := time.Time{}
		if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: h.ID, State: a.state(), Canonical: canon, Missing: json.RawMessage("[]"), HoldUntil: &zero, Now: now}); err != nil {
			return nil, err
		}
		h.State = a.state()
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: h.ID, Actor: ActorSystem, Action: "released", Outcome: "auto-completed",
			Message: fmt.Sprintf("missing fields %s supplied by event %s", strings.Join(missing, ", "), ev.ID)}); err != nil {
			return nil, err
		}
		if err := g.route(ctx, tx, h, a, ActorSystem, "routed", "", now); err != nil {
			return nil, err
		}
		released = append(released, h.ID)
	}
	return released, nil
}

func (g *Gate) audit(ctx context.Context, tx store.Executor, e *store.AuditEntry) error {
	if e.At.IsZero() {
		e.At = g.Now()
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

func lookupPath(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
	}
	if s, ok := cur.(string); ok && strings.TrimSpace(s) == "" {
		return nil, false
	}
	return cur, true
}

func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	cur := m
	for _, part := range parts[:len(parts)-1] {
		next, ok := cur[part].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[part] = next
		}
		cur = next
	}
	cur[parts[len(parts)-1]] = v
}
