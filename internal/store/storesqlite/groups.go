package storesqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.GroupStore = (*executor)(nil)

func (x *executor) EscalationGroupList(ctx context.Context, p *store.EscalationGroupListParams) ([]*store.EscalationGroup, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if p.Status != "" {
		add("e.status = ?", p.Status)
	}
	if p.Kind != "" {
		add("e.kind = ?", p.Kind)
	}
	if p.GroupID != "" {
		add("e.group_id = ?", p.GroupID)
	}
	if p.Destination != "" {
		add("d.destination = ?", p.Destination)
	}
	q := `SELECT e.group_id, COALESCE(MIN(d.destination), ''), MIN(e.kind), MIN(e.last_status), MIN(e.code),
		COUNT(*), MIN(e.created_at), MAX(e.updated_at), MAX(e.id)
		FROM escalations e LEFT JOIN deliveries d ON e.delivery_id != '' AND d.id = e.delivery_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " GROUP BY e.group_id ORDER BY COUNT(*) DESC, e.group_id LIMIT ?"
	args = append(args, limit)
	rows, err := x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("escalation group list: %w", err)
	}
	defer rows.Close()
	var out []*store.EscalationGroup
	for rows.Next() {
		var g store.EscalationGroup
		var first, last int64
		if err := rows.Scan(&g.ID, &g.Destination, &g.Kind, &g.LastStatus, &g.Code, &g.Count, &first, &last, &g.NewestID); err != nil {
			return nil, fmt.Errorf("escalation group list: %w", err)
		}
		g.FirstSeen, g.LastSeen = fromMS(first), fromMS(last)
		out = append(out, &g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("escalation group list: %w", err)
	}
	return out, nil
}
