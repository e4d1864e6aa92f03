package pipeline

import (
	"encoding/json"
	"fmt"
)

// judge normalizes a payload with the flow's mapping and assesses the
// record: the whole verdict of a capture, computed without writing.
func (f *Flow) judge(payload any) assessment {
	obj, isObj := payload.(map[string]any)
	if !isObj {
		return assessment{problems: []Problem{{Field: "", Message: fmt.Sprintf("payload must be a JSON object, got %s", jsonType(payload))}}}
	}
	canonical, probs := f.Mapper.Apply(obj)
	if len(probs) == 0 {
		return f.assess(canonical)
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
	State     string
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
	a := f.judge(payload)
	j := &Judgement{Flow: f.Name, State: a.state(), Canonical: a.canonical, Problems: a.problems, Missing: a.missing, Routes: map[string]json.RawMessage{}}
	for _, r := range a.routes {
		j.Routes[r.route.Name] = r.payload
	}
	return j, nil
}
