// Package shadow is the shadow run of a candidate config (`sluice check
// --against N`): it judges stored events again with the candidate's
// normalize, validate and route steps and reports what would change:
// verdicts (rejected, held, accepted), routes added or removed, and mapped
// fields that differ. It only reads: events come in as values, nothing is
// written and nothing is sent.
package shadow

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// Stored is one stored event with its deliveries.
type Stored struct {
	Event      *store.Event
	Deliveries []*store.Delivery
}

// Verdicts compared: what the gate decided, ignoring what happened after
// (a delivered and an escalated event were both accepted).
const (
	Rejected = "rejected"
	Held     = "held"
	Accepted = "accepted"
)

func verdict(state store.EventState) string {
	switch state {
	case store.EventRejected, store.EventHeld:
		return string(state)
	case store.EventDiscarded:
		return ""
	default:
		return Accepted
	}
}

// FieldDiff is one field of a route's payload (or of the record, Route "")
// whose value would differ. Absent values are nil with Present false.
type FieldDiff struct {
	Route      string
	Field      string
	Was, Now   any
	WasPresent bool
	NowPresent bool
}

// Change is what would differ for one event.
type Change struct {
	EventID string
	Source  string
	// Was and Now are verdicts; equal when only routes or fields change.
	Was, Now string
	// Why the candidate rejects or holds: problems and missing fields.
	Problems []pipeline.Problem
	Missing  []string
	Added    []string // routes that would now deliver
	Removed  []string // routes that would no longer deliver
	Fields   []FieldDiff
	// Note explains a change that is not a verdict, e.g. no flow reads
	// the source any more, or the stored body no longer parses.
	Note string
}

// Report is the outcome of a shadow run.
type Report struct {
	// Version is the candidate config's version.
	Version string
	// Events judged; Skipped were discarded by a person, so there is no
	// verdict to compare.
	Events, Skipped int
	Changes         []Change
}

// Changed reports whether anything would change.
func (r *Report) Changed() bool { return len(r.Changes) > 0 }

// Run judges each stored event with plan and compares.
func Run(plan *pipeline.Plan, events []Stored) *Report {
	rep := &Report{Version: plan.Version}
	for _, s := range events {
		ev := s.Event
		was := verdict(ev.State)
		if was == "" {
			rep.Skipped++
			continue
		}
		rep.Events++
		c := Change{EventID: ev.ID, Source: ev.Source, Was: was, Now: was}
		body, err := payload.ParseStored(ev.ContentType, ev.Raw)
		if err != nil {
			if was != Rejected {
				c.Now, c.Note = Rejected, "the stored body does not parse: "+err.Error()
				rep.Changes = append(rep.Changes, c)
			}
			continue
		}
		j, err := plan.Judge(ev.Source, body)
		if err != nil {
			c.Now, c.Note = Rejected, "no flow reads source "+ev.Source+" in the candidate config"
			rep.Changes = append(rep.Changes, c)
			continue
		}
		c.Now = verdict(j.State)
		if c.Now != c.Was {
			c.Problems, c.Missing = j.Problems, j.Missing
		}
		if c.Was == Accepted && c.Now == Accepted {
			compareRoutes(&c, s.Deliveries, j)
		}
		if c.Was != c.Now || len(c.Added) > 0 || len(c.Removed) > 0 || len(c.Fields) > 0 || c.Note != "" {
			rep.Changes = append(rep.Changes, c)
		}
	}
	return rep
}

// compareRoutes finds routes added and removed and, for routes in both,
// payload fields that differ. Fallback copies are not routes of their own.
func compareRoutes(c *Change, ds []*store.Delivery, j *pipeline.Judgement) {
	stored := map[string]json.RawMessage{}
	for _, d := range ds {
		if d.FallbackFor == "" {
			stored[d.Route] = d.Payload
		}
	}
	for _, name := range sortedKeys(j.Routes) {
		old, ok := stored[name]
		if !ok {
			c.Added = append(c.Added, name)
			continue
		}
		c.Fields = append(c.Fields, diffFields(name, old, j.Routes[name])...)
	}
	for _, name := range sortedKeys(stored) {
		if _, ok := j.Routes[name]; !ok {
			c.Removed = append(c.Removed, name)
		}
	}
}

func diffFields(route string, a, b json.RawMessage) []FieldDiff {
	var ma, mb map[string]any
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		if string(a) == string(b) {
			return nil
		}
		return []FieldDiff{{Route: route, Field: "(payload)", Was: string(a), Now: string(b), WasPresent: true, NowPresent: true}}
	}
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	var out []FieldDiff
	for _, k := range sortedKeys(keys) {
		va, oka := ma[k]
		vb, okb := mb[k]
		if oka == okb && reflect.DeepEqual(va, vb) {
			continue
		}
		out = append(out, FieldDiff{Route: route, Field: k, Was: va, Now: vb, WasPresent: oka, NowPresent: okb})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Write prints the report for a person: one block per changed event, then
// a summary line.
func (r *Report) Write(w io.Writer) {
	counts := map[string]int{}
	added, removed, fields := 0, 0, 0
	for _, c := range r.Changes {
		head := c.EventID + " (" + c.Source + ")"
		if c.Was != c.Now {
			fmt.Fprintf(w, "%s: %s -> %s\n", head, c.Was, c.Now)
			counts[c.Now]++
		} else {
			fmt.Fprintf(w, "%s: %s, routes or fields change\n", head, c.Now)
		}
		if c.Note != "" {
			fmt.Fprintf(w, "  %s\n", c.Note)
		}
		for _, p := range c.Problems {
			if p.Field == "" {
				fmt.Fprintf(w, "  rejected: %s\n", p.Message)
			} else {
				fmt.Fprintf(w, "  rejected: %s: %s\n", p.Field, p.Message)
			}
		}
		if len(c.Missing) > 0 {
			fmt.Fprintf(w, "  held, missing: %s\n", strings.Join(c.Missing, ", "))
		}
		if len(c.Added) > 0 {
			fmt.Fprintf(w, "  routes added: %s\n", strings.Join(c.Added, ", "))
			added += len(c.Added)
		}
		if len(c.Removed) > 0 {
			fmt.Fprintf(w, "  routes removed: %s\n", strings.Join(c.Removed, ", "))
			removed += len(c.Removed)
		}
		for _, f := range c.Fields {
			fields++
			where := "route " + f.Route
			fmt.Fprintf(w, "  %s field %s: %s -> %s\n", where, f.Field, show(f.Was, f.WasPresent), show(f.Now, f.NowPresent))
		}
	}
	fmt.Fprintf(w, "%d events judged by config %s (%d discarded skipped): %d would change", r.Events, r.Version, r.Skipped, len(r.Changes))
	if len(r.Changes) > 0 {
		fmt.Fprintf(w, " (now rejected %d, held %d, accepted %d; routes added %d, removed %d; fields differing %d)",
			counts[Rejected], counts[Held], counts[Accepted], added, removed, fields)
	}
	fmt.Fprintln(w)
}

func show(v any, present bool) string {
	if !present {
		return "(absent)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
