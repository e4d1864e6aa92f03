package storepg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.ConsoleStore = (*executor)(nil)

func (x *executor) EventSearch(ctx context.Context, p *store.EventSearchParams) ([]*store.EventSummary, error) {
	var where []string
	var args params
	if p.ID != "" {
		where = append(where, "id = "+args.add(p.ID))
	}
	if p.State != "" {
		where = append(where, "state = "+args.add(p.State))
	}
	if p.Flow != "" {
		where = append(where, "flow = "+args.add(p.Flow))
	}
	if p.RecordKey != "" {
		where = append(where, "record_key = "+args.add(p.RecordKey))
	}
	if p.Missing != "" {
		b, _ := json.Marshal(p.Missing)
		where = append(where, "strpos(missing, "+args.add(string(b))+") > 0")
	}
	if !p.From.IsZero() {
		where = append(where, "id >= "+args.add(store.EventIDBound(p.From)))
	}
	if !p.To.IsZero() {
		where = append(where, "id < "+args.add(store.EventIDBound(p.To)))
	}
	order := "DESC"
	if p.Oldest {
		order = "ASC"
	}
	if p.After != "" {
		if p.Oldest {
			where = append(where, "id > "+args.add(p.After))
		} else {
			where = append(where, "id < "+args.add(p.After))
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT id, source, flow, record_key, state, COALESCE(missing, ''), received_at, updated_at FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id %s LIMIT %d", order, limit)
	rows, err := x.q.Query(ctx, q, args...)
	if err != nil {
		return nil, fail("event search", err)
	}
	defer rows.Close()
	var out []*store.EventSummary
	for rows.Next() {
		var e store.EventSummary
		var missing string
		if err := rows.Scan(&e.ID, &e.Source, &e.Flow, &e.RecordKey, &e.State, &missing, &e.ReceivedAt, &e.UpdatedAt); err != nil {
			return nil, fail("event search", err)
		}
		if missing != "" {
			_ = json.Unmarshal([]byte(missing), &e.Missing)
		}
		e.ReceivedAt, e.UpdatedAt = e.ReceivedAt.UTC(), e.UpdatedAt.UTC()
		out = append(out, &e)
	}
	return out, rows.Err()
}

func (x *executor) QueueStats(ctx context.Context) ([]*store.QueueStat, error) {
	rows, err := x.q.Query(ctx, `SELECT destination,
		SUM(CASE WHEN state = 'inflight' THEN 0 ELSE 1 END), SUM(CASE WHEN state = 'inflight' THEN 1 ELSE 0 END), MIN(created_at)
		FROM deliveries WHERE state IN ('waiting', 'pending', 'inflight') GROUP BY destination ORDER BY destination`)
	if err != nil {
		return nil, fail("queue stats", err)
	}
	defer rows.Close()
	var out []*store.QueueStat
	for rows.Next() {
		var s store.QueueStat
		var oldest pgtype.Timestamptz
		if err := rows.Scan(&s.Destination, &s.Pending, &s.Inflight, &oldest); err != nil {
			return nil, fail("queue stats", err)
		}
		s.Oldest = fromTS(oldest)
		out = append(out, &s)
	}
	return out, rows.Err()
}

func (x *executor) RollupFold(ctx context.Context, limit int) (int, error) {
	var mark int64
	// FOR UPDATE: instances folding at once take turns; each entry counts once.
	if err := x.q.QueryRow(ctx, `SELECT seq FROM console_rollup_mark WHERE name = 'audit' FOR UPDATE`).Scan(&mark); err != nil {
		return 0, fail("rollup mark", err)
	}
	if err := x.sealAudit(ctx); err != nil {
		return 0, err
	}
	var top pgtype.Int8
	if err := x.q.QueryRow(ctx, `SELECT MAX(seq) FROM (SELECT seq FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2) s`, mark, limit).Scan(&top); err != nil {
		return 0, fail("rollup scan", err)
	}
	if !top.Valid {
		return 0, nil
	}
	rows, err := x.q.Query(ctx, `SELECT a.at, e.flow, d.destination, a.action, a.attempt, e.received_at,
		EXISTS (SELECT 1 FROM audit_log c WHERE c.event_id = a.event_id AND c.action = 'captured')
		FROM audit_log a
		JOIN deliveries d ON d.id = a.delivery_id
		JOIN events e ON e.id = a.event_id
		WHERE a.seq > $1 AND a.seq <= $2 AND a.delivery_id != '' AND a.action IN ('delivered', 'escalated')`, mark, top.Int64)
	if err != nil {
		return 0, fail("rollup scan", err)
	}
	var facts []store.RollupFact
	for rows.Next() {
		var at, rec time.Time
		var f store.RollupFact
		var action string
		if err := rows.Scan(&at, &f.Flow, &f.Destination, &action, &f.Attempt, &rec, &f.Complete); err != nil {
			rows.Close()
			return 0, fail("rollup scan", err)
		}
		f.At, f.Failed, f.LatencyMS = at.UTC(), action == "escalated", at.Sub(rec).Milliseconds()
		facts = append(facts, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fail("rollup scan", err)
	}
	for _, r := range store.FoldRollups(facts) {
		if err := x.rollupAdd(ctx, r); err != nil {
			return 0, err
		}
	}
	if _, err := x.q.Exec(ctx, `UPDATE console_rollup_mark SET seq = $1 WHERE name = 'audit'`, top.Int64); err != nil {
		return 0, fail("rollup mark", err)
	}
	return int(top.Int64 - mark), nil
}

func (x *executor) rollupAdd(ctx context.Context, r *store.Rollup) error {
	cur := &store.Rollup{Latency: make([]int64, len(store.LatencyBounds)+1)}
	var lat string
	err := x.q.QueryRow(ctx, `SELECT settled, failed, retried, retried_ok, latency, complete, checked, inconsistent
		FROM console_rollups WHERE minute = $1 AND flow = $2 AND destination = $3 FOR UPDATE`, r.Minute, r.Flow, r.Destination).
		Scan(&cur.Settled, &cur.Failed, &cur.Retried, &cur.RetriedOK, &lat, &cur.Complete, &cur.Checked, &cur.Inconsistent)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fail("rollup read", err)
	default:
		cur.Latency = store.DecodeLatency(lat)
	}
	cur.Add(r)
	_, err = x.q.Exec(ctx, `INSERT INTO console_rollups (minute, flow, destination, settled, failed, retried, retried_ok, latency, complete, checked, inconsistent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (minute, flow, destination) DO UPDATE SET settled = excluded.settled, failed = excluded.failed, retried = excluded.retried,
		retried_ok = excluded.retried_ok, latency = excluded.latency, complete = excluded.complete, checked = excluded.checked, inconsistent = excluded.inconsistent`,
		r.Minute, r.Flow, r.Destination, cur.Settled, cur.Failed, cur.Retried, cur.RetriedOK, store.EncodeLatency(cur.Latency), cur.Complete, cur.Checked, cur.Inconsistent)
	if err != nil {
		return fail("rollup write", err)
	}
	return nil
}

func (x *executor) RollupConsistencyAdd(ctx context.Context, at time.Time, destination string, checked, inconsistent int) error {
	return x.rollupAdd(ctx, &store.Rollup{Minute: at.UTC().Truncate(time.Minute), Destination: destination,
		Checked: int64(checked), Inconsistent: int64(inconsistent)})
}

func (x *executor) RollupList(ctx context.Context, p *store.RollupListParams) ([]*store.Rollup, error) {
	var args params
	q := `SELECT minute, flow, destination, settled, failed, retried, retried_ok, latency, complete, checked, inconsistent
		FROM console_rollups WHERE minute >= ` + args.add(p.From.UTC().Truncate(time.Minute)) + ` AND minute < ` + args.add(p.To.UTC())
	if p.Flow != "" {
		q += " AND flow = " + args.add(p.Flow)
	}
	if p.Destination != "" {
		q += " AND destination = " + args.add(p.Destination)
	}
	rows, err := x.q.Query(ctx, q+" ORDER BY minute, flow, destination", args...)
	if err != nil {
		return nil, fail("rollup list", err)
	}
	defer rows.Close()
	var out []*store.Rollup
	for rows.Next() {
		var r store.Rollup
		var lat string
		if err := rows.Scan(&r.Minute, &r.Flow, &r.Destination, &r.Settled, &r.Failed, &r.Retried, &r.RetriedOK, &lat, &r.Complete, &r.Checked, &r.Inconsistent); err != nil {
			return nil, fail("rollup list", err)
		}
		r.Minute, r.Latency = r.Minute.UTC(), store.DecodeLatency(lat)
		out = append(out, &r)
	}
	return out, rows.Err()
}
