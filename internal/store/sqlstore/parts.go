package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

// Events are indexed by state, flow and id in one index, events_state_flow
// (ADR 0047), in place of one by state and id, one by flow and id and one
// of the open events by state and flow: a capture writes one entry there
// instead of three. A list in id order filtered by a state and a flow is
// one range of it. A list filtered by a state alone, or a flow alone, is
// not one range in id order; it is read as one range per (state, flow)
// pair, each stopped by the page's limit, and merged by id: at most pairs
// x limit rows for a page, never a sort of all the events in a state.

// QueryFlowAfter is the first flow after a given one among the events in
// a state: one seek on events_state_flow. Repeated, it lists the flows in
// that state without reading the events between them.
const QueryFlowAfter = `SELECT flow FROM events WHERE state = ? AND flow > ? ORDER BY flow LIMIT 1`

// QueryFlowFirst is the first flow of the events in a state (an event
// rejected before its flow was known has flow "", which sorts first).
const QueryFlowFirst = `SELECT flow FROM events WHERE state = ? ORDER BY flow LIMIT 1`

// maxParts bounds the flows read for one state; past it a page fails
// rather than running a statement per flow.
const maxParts = 1000

// EventPart is one range of events_state_flow.
type EventPart struct {
	State string
	Flow  string
}

// EventParts lists the (state, flow) ranges a walk filtered by states and
// flows is read from: every pair of the two lists when both are given; a
// state's flows (QueryFlowAfter) when only states are; every state
// (store.EventStates) of the flows when only flows are. With neither it
// returns nil: the walk is one, in id order, of every event. With either,
// the list is never nil; empty, nothing matches.
func (q Queries) EventParts(ctx context.Context, states, flows []string) ([]EventPart, error) {
	if len(states) == 0 && len(flows) == 0 {
		return nil, nil
	}
	if len(states) == 0 {
		states = store.Strings(store.EventStates)
	}
	states, flows = sortedUnique(states), sortedUnique(flows)
	out := []EventPart{}
	for _, st := range states {
		fs := flows
		if len(fs) == 0 {
			var err error
			if fs, err = q.flowsIn(ctx, st); err != nil {
				return nil, err
			}
		}
		for _, f := range fs {
			out = append(out, EventPart{State: st, Flow: f})
		}
	}
	return out, nil
}

// flowsIn lists the flows that have events in state st.
func (q Queries) flowsIn(ctx context.Context, st string) ([]string, error) {
	var out []string
	after := ""
	first := true
	for {
		var f string
		query, args := QueryFlowAfter, []any{st, after}
		if first {
			query, args = QueryFlowFirst, args[:1]
		}
		err := q.row(ctx, query, args...).Scan(&f)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return out, nil
			}
			return nil, fmt.Errorf("flows in state %s: %w", st, err)
		}
		if len(out) == maxParts {
			return nil, fmt.Errorf("flows in state %s: more than %d", st, maxParts)
		}
		out = append(out, f)
		after, first = f, false
	}
}

// MergeByID merges pages read one per part, each in id order (descending
// when desc), into one page of at most limit, in the same order; an event
// read in two parts (it changed state between the reads) is kept once.
func MergeByID[T any](pages [][]T, id func(T) string, desc bool, limit int) []T {
	var all []T
	for _, p := range pages {
		all = append(all, p...)
	}
	slices.SortStableFunc(all, func(a, b T) int {
		c := strings.Compare(id(a), id(b))
		if desc {
			return -c
		}
		return c
	})
	all = slices.CompactFunc(all, func(a, b T) bool { return id(a) == id(b) })
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all
}
