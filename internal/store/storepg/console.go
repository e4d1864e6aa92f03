package storepg

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store"
)

// The console queries that read alike on both databases (event search,
// counts, sessions, queue stats) are in sqlstore; the rollups stay here
// because they differ: see sqlstore/console.go.
var _ store.ConsoleStore = (*executor)(nil)

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
