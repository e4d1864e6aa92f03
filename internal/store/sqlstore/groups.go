package sqlstore

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// EscalationGroupList implements store.GroupStore: failure groups, largest
// first, each with its members' span and newest member.
func (q Queries) EscalationGroupList(ctx context.Context, p *store.EscalationGroupListParams) ([]*store.EscalationGroup, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("escalation group list: %w", err)
	}
	var f filter
	for _, c := range []struct{ cond, v string }{
		{"e.status = ?", p.Status}, {"e.kind = ?", p.Kind}, {"e.group_id = ?", p.GroupID}, {"d.destination = ?", p.Destination},
	} {
		if c.v != "" {
			f.add(c.cond, c.v)
		}
	}
	query := `SELECT e.group_id, COALESCE(MIN(d.destination), ''), MIN(e.kind), MIN(e.last_status), MIN(e.code),
		COUNT(*), MIN(e.created_at), MAX(e.updated_at), MAX(e.id)
		FROM escalations e LEFT JOIN deliveries d ON e.delivery_id != '' AND d.id = e.delivery_id` + f.where() +
		` GROUP BY e.group_id ORDER BY COUNT(*) DESC, e.group_id LIMIT ?`
	out, err := list(ctx, q, func(r Row) (*store.EscalationGroup, error) {
		var g store.EscalationGroup
		if err := r.Scan(&g.ID, &g.Destination, &g.Kind, &g.LastStatus, &g.Code, &g.Count,
			q.db.ScanTime(&g.FirstSeen), q.db.ScanTime(&g.LastSeen), &g.NewestID); err != nil {
			return nil, err
		}
		return &g, nil
	}, query, append(f.args, store.PageLimit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("escalation group list: %w", err)
	}
	return out, nil
}
