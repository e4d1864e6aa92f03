package storepg

import (
	"context"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.ReplayStore = (*executor)(nil)

func (x *executor) EventListForReplay(ctx context.Context, p *store.EventReplayListParams) ([]*store.Event, error) {
	var where []string
	var args params
	if p.Source != "" {
		where = append(where, "source = "+args.add(p.Source))
	}
	if len(p.States) > 0 {
		where = append(where, "state = ANY("+args.add(store.Strings(p.States))+")")
	}
	if len(p.Flows) > 0 {
		where = append(where, "flow = ANY("+args.add(p.Flows)+")")
	}
	if !p.ReceivedAfter.IsZero() {
		where = append(where, "received_at >= "+args.add(ts(p.ReceivedAfter)))
	}
	if !p.ReceivedBefore.IsZero() {
		where = append(where, "received_at < "+args.add(ts(p.ReceivedBefore)))
	}
	if p.AfterID != "" {
		where = append(where, "id > "+args.add(p.AfterID))
	}
	q := `SELECT ` + eventCols + ` FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id LIMIT " + args.add(limit)
	out, err := x.queryEvents(ctx, q, args...)
	if err != nil {
		return nil, fail("event list for replay", err)
	}
	return out, nil
}
