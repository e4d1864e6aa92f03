package pipeline

import (
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/store"
)

// judge normalizes a payload with the flow's mapping and assesses the
// record: the whole verdict of a capture, computed without writing. op is
// the trigger's operation; refKey, for a delete, is the record key found
// through its external reference ("" when none).
func (f *Flow) judge(payload any, op, refKey string) assessment {
	obj, isObj := payload.(map[string]any)
	if !isObj {
		return assessment{problems: []Problem{{Field: "", Message: fmt.Sprintf("payload must be a JSON object, got %s", jsonType(payload))}}}
	}
	canonical, probs := f.Mapper.Apply(obj)
	if op == store.OpDelete {
		// A deleted record's fields are often gone: what the mapping
		// could not produce is not a problem, only the key matters.
		if _, ok := canonical[f.Key]; !ok && refKey != "" {
			canonical = withKey(canonical, f.Key, refKey)
		}
		return f.assess(canonical, op)
	}
	if len(probs) == 0 {
		return f.assess(canonical, op)
	}
	a := assessment{canonical: canonical}
	for _, p := range probs {
		a.problems = append(a.problems, Problem{Field: p.Field, Message: p.Message})
	}
	a.problems = f.maskProblems(canonical, obj, a.problems)
	return a
}

// Judgement is what a capture under a plan would decide for one payload,
// computed without writing or sending anything. The shadow run (`sluice
// check --against`) compares it with what was stored.
type Judgement struct {
	Flow string
	// State is the event state capture would enter: rejected, held,
	// delivering, or delivered when no route matched.
	State     store.EventState
	Canonical map[string]any
	Problems  []Problem
	Missing   []string
	// Routes maps each route that would deliver to its payload.
	Routes map[string]json.RawMessage
}

// Judge runs the plan's normalize, validate and route steps on a payload
// from source, as Capture would.
func (p *Plan) Judge(source string, payload any) (*Judgement, error) {
	f := p.FlowForSource(source)
	if f == nil {
		return nil, ErrUnknownSource
	}
	a := f.judge(payload, store.OpUpsert, "")
	j := &Judgement{Flow: f.Name, State: a.state(), Canonical: a.canonical, Problems: a.problems, Missing: a.missing, Routes: map[string]json.RawMessage{}}
	for _, r := range a.routes {
		j.Routes[r.route.Name] = r.payload
	}
	return j, nil
}

// assessDelete judges a delete event: no schema, no required fields (the
// record's fields are often gone by now), only the record key, without
// which no destination can find the record (held for a person to name
// it). Routes are chosen by on_delete, not by their when (which reads
// fields); each gets the route's mapping of what fields remain, or the
// canonical record when that mapping needs fields the delete lacks.
func (f *Flow) assessDelete(canonical map[string]any) assessment {
	a := assessment{canonical: canonical}
	if k, ok := lookupPath(canonical, f.Key); ok {
		a.key = fmt.Sprint(k)
	} else {
		a.missing = []string{f.Key}
		return a
	}
	for _, r := range f.Routes {
		if !r.Deletes {
			continue
		}
		out := canonical
		if r.Mapper != nil {
			if m, probs := r.Mapper.Apply(canonical); len(probs) == 0 {
				out = m
			}
		}
		b, err := json.Marshal(out)
		if err != nil {
			a.problems = append(a.problems, Problem{Field: "routes." + r.Name, Message: "payload not encodable: " + err.Error()})
			continue
		}
		a.routes = append(a.routes, plannedDelivery{route: r, payload: b})
	}
	return a
}

// withKey is canonical (a copy) with the record key set.
func withKey(canonical map[string]any, key, value string) map[string]any {
	out := make(map[string]any, len(canonical)+1)
	for k, v := range canonical {
		out[k] = v
	}
	payload.Set(out, key, value)
	return out
}
