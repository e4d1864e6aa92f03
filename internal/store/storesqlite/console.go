package storesqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.ConsoleStore = (*executor)(nil)

func (x *executor) EventSearch(ctx context.Context, p *store.EventSearchParams) ([]*store.EventSummary, error) {
	var where []string
	var args []any
	add := func(cond string, v ...any) { where = append(where, cond); args = append(args, v...) }
	if p.ID != "" {
		add("id = ?", p.ID)
	}
	if p.State != "" {
		add("state = ?", p.State)
	}
	if p.Flow != "" {
		add("flow = ?", p.Flow)
	}
	if p.RecordKey != "" {
		add("record_key = ?", p.RecordKey)
	}
	if p.Missing != "" {
		b, _ := json.Marshal(p.Missing)
		add("missing LIKE ? ESCAPE '\\'", "%"+likeEscape(string(b))+"%")
	}
	if !p.From.IsZero() {
		add("id >= ?", store.EventIDBound(p.From))
	}
	if !p.To.IsZero() {
		add("id < ?", store.EventIDBound(p.To))
	}
	order := "DESC"
	if p.Oldest {
		order = "ASC"
	}
	if p.After != "" {
		if p.Oldest {
			add("id > ?", p.After)
		} else {
			add("id < ?", p.After)
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
	rows, err := x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("event search: %w", err)
	}
	defer rows.Close()
	var out []*store.EventSummary
	for rows.Next() {
		var e store.EventSummary
		var missing string
		var rec, upd int64
		if err := rows.Scan(&e.ID, &e.Source, &e.Flow, &e.RecordKey, &e.State, &missing, &rec, &upd); err != nil {
			return nil, err
		}
		if missing != "" {
			_ = json.Unmarshal([]byte(missing), &e.Missing)
		}
		e.ReceivedAt, e.UpdatedAt = fromMS(rec), fromMS(upd)
		out = append(out, &e)
	}
	return out, rows.Err()
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (x *executor) QueueStats(ctx context.Context) ([]*store.QueueStat, error) {
	rows, err := x.r.QueryContext(ctx, `SELECT destination,
		SUM(CASE WHEN state = 'inflight' THEN 0 ELSE 1 END), SUM(CASE WHEN state = 'inflight' THEN 1 ELSE 0 END), MIN(seq)
		FROM deliveries WHERE state IN ('waiting', 'pending', 'inflight') GROUP BY destination ORDER BY destination`)
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	var out []*store.QueueStat
	var seqs []int64
	for rows.Next() {
		var s store.QueueStat
		var seq int64
		if err := rows.Scan(&s.Destination, &s.Pending, &s.Inflight, &seq); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, &s)
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, s := range out {
		var created int64
		if err := x.r.QueryRowContext(ctx, `SELECT created_at FROM deliveries WHERE seq = ?`, seqs[i]).Scan(&created); err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		s.Oldest = fromMS(created)
	}
	return out, nil
}

func (x *executor) RollupFold(ctx context.Context, limit int) (int, error) {
	var mark int64
	if err := x.w.QueryRowContext(ctx, `SELECT seq FROM console_rollup_mark WHERE name = 'audit'`).Scan(&mark); err != nil {
		return 0, fmt.Errorf("rollup mark: %w", err)
	}
	if err := x.flushAudit(ctx); err != nil {
		return 0, err
	}
	var top sql.NullInt64
	if err := x.w.QueryRowContext(ctx, `SELECT MAX(seq) FROM (SELECT seq FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?)`, mark, limit).Scan(&top); err != nil {
		return 0, fmt.Errorf("rollup scan: %w", err)
	}
	if !top.Valid {
		return 0, nil
	}
	rows, err := x.w.QueryContext(ctx, `SELECT a.at, e.flow, d.destination, a.action, a.attempt, e.received_at,
		EXISTS (SELECT 1 FROM audit_log c WHERE c.event_id = a.event_id AND c.action = 'captured')
		FROM audit_log a
		JOIN deliveries d ON d.id = a.delivery_id
		JOIN events e ON e.id = a.event_id
		WHERE a.seq > ? AND a.seq <= ? AND a.delivery_id != '' AND a.action IN ('delivered', 'escalated')`, mark, top.Int64)
	if err != nil {
		return 0, fmt.Errorf("rollup scan: %w", err)
	}
	var facts []store.RollupFact
	for rows.Next() {
		var at, rec int64
		var f store.RollupFact
		var action string
		if err := rows.Scan(&at, &f.Flow, &f.Destination, &action, &f.Attempt, &rec, &f.Complete); err != nil {
			rows.Close()
			return 0, err
		}
		f.At, f.Failed, f.LatencyMS = fromMS(at), action == "escalated", at-rec
		facts = append(facts, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range store.FoldRollups(facts) {
		if err := x.rollupAdd(ctx, r); err != nil {
			return 0, err
		}
	}
	if _, err := x.w.ExecContext(ctx, `UPDATE console_rollup_mark SET seq = ? WHERE name = 'audit'`, top.Int64); err != nil {
		return 0, fmt.Errorf("rollup mark: %w", err)
	}
	return int(top.Int64 - mark), nil
}

// rollupAdd merges r into the stored row of its minute.
func (x *executor) rollupAdd(ctx context.Context, r *store.Rollup) error {
	cur := &store.Rollup{Latency: make([]int64, len(store.LatencyBounds)+1)}
	var lat string
	err := x.w.QueryRowContext(ctx, `SELECT settled, failed, retried, retried_ok, latency, complete, checked, inconsistent
		FROM console_rollups WHERE minute = ? AND flow = ? AND destination = ?`, r.Minute.Unix()/60, r.Flow, r.Destination).
		Scan(&cur.Settled, &cur.Failed, &cur.Retried, &cur.RetriedOK, &lat, &cur.Complete, &cur.Checked, &cur.Inconsistent)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return fmt.Errorf("rollup read: %w", err)
	default:
		cur.Latency = store.DecodeLatency(lat)
	}
	cur.Add(r)
	_, err = x.w.ExecContext(ctx, `INSERT INTO console_rollups (minute, flow, destination, settled, failed, retried, retried_ok, latency, complete, checked, inconsistent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (minute, flow, destination) DO UPDATE SET settled = excluded.settled, failed = excluded.failed, retried = excluded.retried,
		retried_ok = excluded.retried_ok, latency = excluded.latency, complete = excluded.complete, checked = excluded.checked, inconsistent = excluded.inconsistent`,
		r.Minute.Unix()/60, r.Flow, r.Destination, cur.Settled, cur.Failed, cur.Retried, cur.RetriedOK, store.EncodeLatency(cur.Latency), cur.Complete, cur.Checked, cur.Inconsistent)
	if err != nil {
		return fmt.Errorf("rollup write: %w", err)
	}
	return nil
}

func (x *executor) RollupConsistencyAdd(ctx context.Context, at time.Time, destination string, checked, inconsistent int) error {
	return x.rollupAdd(ctx, &store.Rollup{Minute: at.UTC().Truncate(time.Minute), Destination: destination,
		Checked: int64(checked), Inconsistent: int64(inconsistent)})
}

func (x *executor) RollupList(ctx context.Context, p *store.RollupListParams) ([]*store.Rollup, error) {
	q := `SELECT minute, flow, destination, settled, failed, retried, retried_ok, latency, complete, checked, inconsistent
		FROM console_rollups WHERE minute >= ? AND minute < ?`
	args := []any{p.From.Unix() / 60, (p.To.Unix() + 59) / 60}
	if p.Flow != "" {
		q += " AND flow = ?"
		args = append(args, p.Flow)
	}
	if p.Destination != "" {
		q += " AND destination = ?"
		args = append(args, p.Destination)
	}
	rows, err := x.r.QueryContext(ctx, q+" ORDER BY minute, flow, destination", args...)
	if err != nil {
		return nil, fmt.Errorf("rollup list: %w", err)
	}
	defer rows.Close()
	var out []*store.Rollup
	for rows.Next() {
		var r store.Rollup
		var m int64
		var lat string
		if err := rows.Scan(&m, &r.Flow, &r.Destination, &r.Settled, &r.Failed, &r.Retried, &r.RetriedOK, &lat, &r.Complete, &r.Checked, &r.Inconsistent); err != nil {
			return nil, err
		}
		r.Minute, r.Latency = time.Unix(m*60, 0).UTC(), store.DecodeLatency(lat)
		out = append(out, &r)
	}
	return out, rows.Err()
}
