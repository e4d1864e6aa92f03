package pipeline

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// Gap is an event whose audit trail does not explain its current state.
type Gap struct {
	EventID string           `json:"event_id"`
	State   store.EventState `json:"state"`
	// Trail is the state the audit entries lead to ("" if the event has no
	// capture entry).
	Trail  store.EventState `json:"trail_state"`
	Reason string           `json:"reason"`
}

// Completeness is the result of VerifyComplete.
type Completeness struct {
	Events int   `json:"events_checked"`
	Gaps   []Gap `json:"gaps,omitempty"`
}

// TrailReader is what VerifyComplete reads: the audit log and the events
// (store.Executor implements it).
type TrailReader interface {
	AuditScan(ctx context.Context, afterSeq int64, fn func(*store.AuditEntry) error) error
	EventList(ctx context.Context, p *store.EventListParams) ([]*store.Event, error)
}

// stateAfter is the event state an audit entry moves its event to, if any.
// Entries about an event as a whole whose outcome is a state name set it
// (captured, routed, state, discarded, ...); a few transitions name their
// outcome otherwise and are listed here.
func stateAfter(e *store.AuditEntry) (store.EventState, bool) {
	switch e.Action {
	case audit.ActionEscalated:
		if e.DeliveryID == "" { // a hold that expired
			return store.EventEscalated, true
		}
		return "", false
	case audit.ActionRetryRequested, audit.ActionRedeliver:
		return store.EventDelivering, true
	}
	if st, ok := store.ParseEventState(e.Outcome); ok && e.DeliveryID == "" {
		return st, true
	}
	return "", false
}

// VerifyComplete checks, from the pipeline's own vocabulary of transitions, that every event has a capture entry and that its
// audit trail leads to the state it is in now: no transition happened
// without being written down. It keeps one state per event in memory.
func VerifyComplete(ctx context.Context, ex TrailReader) (Completeness, error) {
	var c Completeness
	trail := map[string]store.EventState{}
	captured := map[string]bool{}
	err := ex.AuditScan(ctx, 0, func(e *store.AuditEntry) error {
		if e.EventID == "" {
			return nil
		}
		if e.Action == audit.ActionCaptured {
			captured[e.EventID] = true
		}
		if st, ok := stateAfter(e); ok {
			trail[e.EventID] = st
		}
		return nil
	})
	if err != nil {
		return c, err
	}
	before := ""
	for {
		evs, err := ex.EventList(ctx, &store.EventListParams{BeforeID: before, Limit: 1000})
		if err != nil {
			return c, err
		}
		for _, ev := range evs {
			c.Events++
			switch {
			case !captured[ev.ID]:
				c.Gaps = append(c.Gaps, Gap{EventID: ev.ID, State: ev.State, Reason: "no capture entry"})
			case trail[ev.ID] != ev.State:
				c.Gaps = append(c.Gaps, Gap{EventID: ev.ID, State: ev.State, Trail: trail[ev.ID],
					Reason: fmt.Sprintf("audit trail ends in %q but the event is %q", trail[ev.ID], ev.State)})
			}
		}
		if len(evs) < 1000 {
			return c, nil
		}
		before = evs[len(evs)-1].ID
	}
}
