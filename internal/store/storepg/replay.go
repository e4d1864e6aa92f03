package storepg

import (
	"context"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

var _ store.ReplayStore = (*executor)(nil)

// EventListForReplay implements store.ReplayStore. States and flows are
// read one (state, flow) range of events_state_flow at a time and merged
// by id (sqlstore.EventParts, ADR 0047).
func (x *executor) EventListForReplay(ctx context.Context, p *store.EventReplayListParams) ([]*store.Event, error) {
	var where []string
	var args params
	if p.Source != "" {
		where = append(where, "source = "+args.add(p.Source))
	}
	if !p.ReceivedAfter.IsZero() {
		// The id begins with the time received: the bound keeps each
		// range's walk inside the window.
		where = append(where, "received_at >= "+args.add(ts(p.ReceivedAfter)), "id >= "+args.add(store.EventIDBound(p.ReceivedAfter)))
	}
	if !p.ReceivedBefore.IsZero() {
		where = append(where, "received_at < "+args.add(ts(p.ReceivedBefore)))
	}
	if p.AfterID != "" {
		where = append(where, "id > "+args.add(p.AfterID))
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	parts, err := x.EventParts(ctx, store.Strings(p.States), p.Flows)
	if err != nil {
		return nil, fail("event list for replay", err)
	}
	if parts == nil {
		parts = []sqlstore.EventPart{{}}
	}
	out, err := x.eventsInParts(ctx, eventCols, where, args, parts, false, limit)
	if err != nil {
		return nil, fail("event list for replay", err)
	}
	return out, nil
}
