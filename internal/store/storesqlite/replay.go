package storesqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.ReplayStore = (*executor)(nil)

// in appends "col IN (?, ?, ...)" for vals to where and args.
func in(col string, vals []string, where *[]string, args *[]any) {
	marks := make([]string, len(vals))
	for i, v := range vals {
		marks[i] = "?"
		*args = append(*args, v)
	}
	*where = append(*where, col+" IN ("+strings.Join(marks, ", ")+")")
}

func (x *executor) EventListForReplay(ctx context.Context, p *store.EventReplayListParams) ([]*store.Event, error) {
	var where []string
	var args []any
	if p.Source != "" {
		where = append(where, "source = ?")
		args = append(args, p.Source)
	}
	if len(p.States) > 0 {
		in("state", store.Strings(p.States), &where, &args)
	}
	if len(p.Flows) > 0 {
		in("flow", p.Flows, &where, &args)
	}
	if !p.ReceivedAfter.IsZero() {
		where = append(where, "received_at >= ?")
		args = append(args, ms(p.ReceivedAfter))
	}
	if !p.ReceivedBefore.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, ms(p.ReceivedBefore))
	}
	if p.AfterID != "" {
		where = append(where, "id > ?")
		args = append(args, p.AfterID)
	}
	q := `SELECT ` + eventCols + ` FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	out, err := x.queryEvents(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("event list for replay: %w", err)
	}
	return out, nil
}
