package storepg

import (
	"context"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.GroupStore = (*executor)(nil)

func (x *executor) EscalationGroupList(ctx context.Context, p *store.EscalationGroupListParams) ([]*store.EscalationGroup, error) {
	var where []string
	var args params
	if p.Status != "" {
		where = append(where, "e.status = "+args.add(p.Status))
	}
	if p.Kind != "" {
		where = append(where, "e.kind = "+args.add(p.Kind))
	}
	if p.GroupID != "" {
		where = append(where, "e.group_id = "+args.add(p.GroupID))
	}
	if p.Destination != "" {
		where = append(where, "d.destination = "+args.add(p.Destination))
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
	q += " GROUP BY e.group_id ORDER BY COUNT(*) DESC, e.group_id LIMIT " + args.add(limit)
	rows, err := x.q.Query(ctx, q, args...)
	if err != nil {
		return nil, fail("escalation group list", err)
	}
	defer rows.Close()
	var out []*store.EscalationGroup
	for rows.Next() {
		var g store.EscalationGroup
		if err := rows.Scan(&g.ID, &g.Destination, &g.Kind, &g.LastStatus, &g.Code, &g.Count, &g.FirstSeen, &g.LastSeen, &g.NewestID); err != nil {
			return nil, fail("escalation group list", err)
		}
		g.FirstSeen, g.LastSeen = g.FirstSeen.UTC(), g.LastSeen.UTC()
		out = append(out, &g)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("escalation group list", err)
	}
	return out, nil
}
