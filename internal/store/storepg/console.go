package storepg

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
		// The repeated condition lets a generic plan use the partial
		// index events_record_key (WHERE record_key != '').
		where = append(where, "record_key = "+args.add(p.RecordKey)+" AND record_key != ''")
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
	// See storesqlite: each settlement, and how many settlements of the
	// same delivery came before it (a later one replaces the earlier).
	rows, err := x.q.Query(ctx, `SELECT a.seq, a.event_id, a.delivery_id, a.at, e.flow, d.destination, a.action, a.attempt, e.received_at,
		EXISTS (SELECT 1 FROM audit_log c WHERE c.event_id = a.event_id AND c.action = 'captured'),
		(SELECT count(*) FROM audit_log p WHERE p.event_id = a.event_id AND p.delivery_id = a.delivery_id
			AND p.action IN ('delivered', 'escalated') AND p.seq < a.seq)
		FROM audit_log a
		JOIN deliveries d ON d.id = a.delivery_id
		JOIN events e ON e.id = a.event_id
		WHERE a.seq > $1 AND a.seq <= $2 AND a.delivery_id != '' AND a.action IN ('delivered', 'escalated')`, mark, top.Int64)
	if err != nil {
		return 0, fail("rollup scan", err)
	}
	type settle struct {
		fact         store.RollupFact
		seq          int64
		event, deliv string
		prior        int64
		received     time.Time
	}
	var ss []settle
	for rows.Next() {
		var at time.Time
		var s settle
		var action string
		f := &s.fact
		if err := rows.Scan(&s.seq, &s.event, &s.deliv, &at, &f.Flow, &f.Destination, &action, &f.Attempt, &s.received, &f.Complete, &s.prior); err != nil {
			rows.Close()
			return 0, fail("rollup scan", err)
		}
		f.At, f.Failed, f.LatencyMS, f.Again = at.UTC(), action == "escalated", at.Sub(s.received).Milliseconds(), s.prior > 0
		ss = append(ss, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fail("rollup scan", err)
	}
	facts := make([]store.RollupFact, 0, len(ss))
	for _, s := range ss {
		facts = append(facts, s.fact)
		if s.prior == 0 {
			continue
		}
		var at time.Time
		var action string
		undo := s.fact
		if err := x.q.QueryRow(ctx, `SELECT at, action, attempt FROM audit_log
			WHERE event_id = $1 AND delivery_id = $2 AND action IN ('delivered', 'escalated') AND seq < $3 ORDER BY seq DESC LIMIT 1`,
			s.event, s.deliv, s.seq).Scan(&at, &action, &undo.Attempt); err != nil {
			return 0, fail("rollup scan", err)
		}
		undo.At, undo.Failed, undo.LatencyMS, undo.Again, undo.Undo = at.UTC(), action == "escalated", at.Sub(s.received).Milliseconds(), s.prior > 1, true
		facts = append(facts, undo)
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

// rollupAddQuery adds a rollup's counts (negative for an undone
// settlement) to the row of its minute, creating it if needed.
var rollupAddQuery = func() string {
	cols := "minute, flow, destination, settled, failed, retried, retried_ok, complete, checked, inconsistent"
	for i := range len(store.LatencyBounds) + 1 {
		cols += fmt.Sprintf(", lat_%d", i)
	}
	names := strings.Split(cols, ", ")
	var vals, sets []string
	for i, c := range names {
		vals = append(vals, fmt.Sprintf("$%d", i+1))
		if i >= 3 {
			sets = append(sets, c+" = console_rollups."+c+" + excluded."+c)
		}
	}
	return `INSERT INTO console_rollups (` + cols + `) VALUES (` + strings.Join(vals, ", ") + `)
		ON CONFLICT (minute, flow, destination) DO UPDATE SET ` + strings.Join(sets, ", ")
}()

// rollupSums is the SELECT list that sums rollup rows.
var rollupSums = func() string {
	s := "SUM(settled)::bigint, SUM(failed)::bigint, SUM(retried)::bigint, SUM(retried_ok)::bigint, SUM(complete)::bigint, SUM(checked)::bigint, SUM(inconsistent)::bigint"
	for i := range len(store.LatencyBounds) + 1 {
		s += fmt.Sprintf(", SUM(lat_%d)::bigint", i)
	}
	return s
}()

func (x *executor) rollupAdd(ctx context.Context, r *store.Rollup) error {
	args := []any{r.Minute, r.Flow, r.Destination, r.Settled, r.Failed, r.Retried, r.RetriedOK, r.Complete, r.Checked, r.Inconsistent}
	for i := range len(store.LatencyBounds) + 1 {
		var v int64
		if i < len(r.Latency) {
			v = r.Latency[i]
		}
		args = append(args, v)
	}
	if _, err := x.q.Exec(ctx, rollupAddQuery, args...); err != nil {
		return fail("rollup write", err)
	}
	return nil
}

func (x *executor) RollupConsistencyAdd(ctx context.Context, at time.Time, destination string, checked, inconsistent int) error {
	return x.rollupAdd(ctx, &store.Rollup{Minute: at.UTC().Truncate(time.Minute), Destination: destination,
		Checked: int64(checked), Inconsistent: int64(inconsistent)})
}

func (x *executor) RollupList(ctx context.Context, p *store.RollupListParams) ([]*store.Rollup, error) {
	bucket := int64(p.Bucket / time.Second)
	if bucket < 60 {
		bucket = 60
	}
	from := p.From.UTC().Truncate(time.Minute)
	var args params
	fa := args.add(from)
	q := `SELECT floor(extract(epoch FROM minute - ` + fa + `::timestamptz) / ` + args.add(bucket) + `::bigint)::bigint AS b, flow, destination, ` + rollupSums + `
		FROM console_rollups WHERE minute >= ` + fa + ` AND minute < ` + args.add(p.To.UTC())
	if p.Flow != "" {
		q += " AND flow = " + args.add(p.Flow)
	}
	if p.Destination != "" {
		q += " AND destination = " + args.add(p.Destination)
	}
	rows, err := x.q.Query(ctx, q+" GROUP BY b, flow, destination ORDER BY b, flow, destination", args...)
	if err != nil {
		return nil, fail("rollup list", err)
	}
	defer rows.Close()
	var out []*store.Rollup
	for rows.Next() {
		r := store.Rollup{Latency: make([]int64, len(store.LatencyBounds)+1)}
		var b int64
		dest := []any{&b, &r.Flow, &r.Destination, &r.Settled, &r.Failed, &r.Retried, &r.RetriedOK, &r.Complete, &r.Checked, &r.Inconsistent}
		for i := range r.Latency {
			dest = append(dest, &r.Latency[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fail("rollup list", err)
		}
		r.Minute = from.Add(time.Duration(b*bucket) * time.Second)
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (x *executor) EventCountInStates(ctx context.Context, states []store.EventState) (map[store.EventState]int64, error) {
	out := map[store.EventState]int64{}
	for _, st := range states {
		var n int64
		if err := x.q.QueryRow(ctx, `SELECT count(*) FROM events WHERE state = $1`, st).Scan(&n); err != nil {
			return nil, fail("event count", err)
		}
		out[st] = n
	}
	return out, nil
}

func (x *executor) ConsoleSessionInsert(ctx context.Context, s *store.ConsoleSession) error {
	_, err := x.q.Exec(ctx, `INSERT INTO console_sessions (id_hash, actor, role, created_at, seen_at) VALUES ($1, $2, $3, $4, $5)`,
		s.IDHash, s.Actor, s.Role, ts(s.CreatedAt), ts(s.SeenAt))
	if err != nil {
		return fail("console session insert", err)
	}
	return nil
}

func (x *executor) ConsoleSessionGet(ctx context.Context, idHash string) (*store.ConsoleSession, error) {
	s := store.ConsoleSession{IDHash: idHash}
	err := x.q.QueryRow(ctx, `SELECT actor, role, created_at, seen_at FROM console_sessions WHERE id_hash = $1`, idHash).
		Scan(&s.Actor, &s.Role, &s.CreatedAt, &s.SeenAt)
	if err != nil {
		return nil, fail("console session", err)
	}
	s.CreatedAt, s.SeenAt = s.CreatedAt.UTC(), s.SeenAt.UTC()
	return &s, nil
}

func (x *executor) ConsoleSessionTouch(ctx context.Context, idHash string, seen time.Time) error {
	if _, err := x.q.Exec(ctx, `UPDATE console_sessions SET seen_at = $1 WHERE id_hash = $2 AND seen_at < $1`, ts(seen), idHash); err != nil {
		return fail("console session touch", err)
	}
	return nil
}

func (x *executor) ConsoleSessionDelete(ctx context.Context, idHash string) error {
	if _, err := x.q.Exec(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, idHash); err != nil {
		return fail("console session delete", err)
	}
	return nil
}

func (x *executor) ConsoleSessionPurge(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	tag, err := x.q.Exec(ctx, `DELETE FROM console_sessions WHERE seen_at < $1 OR created_at < $2`, ts(seenBefore), ts(createdBefore))
	if err != nil {
		return 0, fail("console session purge", err)
	}
	return int(tag.RowsAffected()), nil
}
