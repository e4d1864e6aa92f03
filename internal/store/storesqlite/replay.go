package storesqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

var _ store.ReplayStore = (*executor)(nil)

// EventListForReplay implements store.ReplayStore. States and flows are
// read one (state, flow) range of events_state_flow at a time and merged
// by id (sqlstore.EventParts, ADR 0047).
func (x *executor) EventListForReplay(ctx context.Context, p *store.EventReplayListParams) ([]*store.Event, error) {
	var where []string
	var args []any
	if p.Source != "" {
		where = append(where, "source = ?")
		args = append(args, p.Source)
	}
	if !p.ReceivedAfter.IsZero() {
		// The id begins with the time received: the bound keeps each
		// range's walk inside the window.
		where = append(where, "received_at >= ?", "id >= ?")
		args = append(args, ms(p.ReceivedAfter), store.EventIDBound(p.ReceivedAfter))
	}
	if !p.ReceivedBefore.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, ms(p.ReceivedBefore))
	}
	if p.AfterID != "" {
		where = append(where, "id > ?")
		args = append(args, p.AfterID)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	parts, err := x.EventParts(ctx, store.Strings(p.States), p.Flows)
	if err != nil {
		return nil, fmt.Errorf("event list for replay: %w", err)
	}
	if parts == nil {
		parts = []sqlstore.EventPart{{}}
	}
	var pages [][]*store.Event
	for _, part := range parts {
		w, a := slices.Clone(where), slices.Clone(args)
		if part.State != "" {
			w = append(w, "state = ?", "flow = ?")
			a = append(a, part.State, part.Flow)
		}
		q := `SELECT ` + eventCols + ` FROM events`
		if len(w) > 0 {
			q += " WHERE " + strings.Join(w, " AND ")
		}
		out, err := x.queryEvents(ctx, q+" ORDER BY id LIMIT ?", append(a, limit)...)
		if err != nil {
			return nil, fmt.Errorf("event list for replay: %w", err)
		}
		pages = append(pages, out)
	}
	return sqlstore.MergeByID(pages, func(e *store.Event) string { return e.ID }, false, limit), nil
}
