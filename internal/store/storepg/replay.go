package storepg

import (
	"context"
	"fmt"
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

func (x *executor) EventRecordPut(ctx context.Context, p *store.EventRecordPutParams) error {
	tag, err := x.q.Exec(ctx, `UPDATE events SET state = $1, record_key = $2, canonical = $3, problems = $4, missing = $5,
		hold_until = $6, updated_at = $7 WHERE id = $8`,
		p.State, p.RecordKey, nullJSON(p.Canonical), nullJSON(p.Problems), nullJSON(p.Missing), nullTS(p.HoldUntil), ts(p.Now), p.ID)
	if err != nil {
		return fail("event record put", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("event record put %s: %w", p.ID, store.ErrNotFound)
	}
	return nil
}

func (x *executor) DeliveryPayloadPut(ctx context.Context, p *store.DeliveryPayloadPutParams) (bool, error) {
	if len(p.States) == 0 {
		return false, nil
	}
	tag, err := x.q.Exec(ctx, `UPDATE deliveries SET payload = $1, updated_at = $2 WHERE id = $3 AND state = ANY($4)`,
		string(p.Payload), ts(p.Now), p.ID, store.Strings(p.States))
	if err != nil {
		return false, fail("delivery payload put", err)
	}
	return tag.RowsAffected() == 1, nil
}
