package storesqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// The console queries that read alike on both databases (event search,
// counts, sessions, queue stats) are in sqlstore; the rollups stay here
// because they differ: see sqlstore/console.go.
var _ store.ConsoleStore = (*executor)(nil)

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
	// Each settlement (delivered, or escalated with a delivery) with what
	// the fold needs, and how many settlements of the same delivery came
	// before it: a delivery that settles again replaces its earlier
	// settlement (store.RollupFact.Undo). Both subqueries go through
	// audit_event (event_id, seq).
	rows, err := x.w.QueryContext(ctx, `SELECT a.seq, a.event_id, a.delivery_id, a.at, e.flow, d.destination, a.action, a.attempt, e.received_at,
		EXISTS (SELECT 1 FROM audit_log c WHERE c.event_id = a.event_id AND c.action = 'captured'),
		(SELECT count(*) FROM audit_log p WHERE p.event_id = a.event_id AND p.delivery_id = a.delivery_id
			AND p.action IN ('delivered', 'escalated') AND p.seq < a.seq)
		FROM audit_log a
		JOIN deliveries d ON d.id = a.delivery_id
		JOIN events e ON e.id = a.event_id
		WHERE a.seq > ? AND a.seq <= ? AND a.delivery_id != '' AND a.action IN ('delivered', 'escalated')`, mark, top.Int64)
	if err != nil {
		return 0, fmt.Errorf("rollup scan: %w", err)
	}
	type settle struct {
		fact         store.RollupFact
		seq          int64
		event, deliv string
		prior        int
		received     int64
	}
	var ss []settle
	for rows.Next() {
		var at int64
		var s settle
		var action string
		f := &s.fact
		if err := rows.Scan(&s.seq, &s.event, &s.deliv, &at, &f.Flow, &f.Destination, &action, &f.Attempt, &s.received, &f.Complete, &s.prior); err != nil {
			rows.Close()
			return 0, err
		}
		f.At, f.Failed, f.LatencyMS, f.Again = fromMS(at), action == "escalated", at-s.received, s.prior > 0
		ss = append(ss, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	facts := make([]store.RollupFact, 0, len(ss))
	for _, s := range ss {
		facts = append(facts, s.fact)
		if s.prior == 0 {
			continue
		}
		// Take the previous settlement back out of its minute.
		var at int64
		var action string
		undo := s.fact
		if err := x.w.QueryRowContext(ctx, `SELECT at, action, attempt FROM audit_log
			WHERE event_id = ? AND delivery_id = ? AND action IN ('delivered', 'escalated') AND seq < ? ORDER BY seq DESC LIMIT 1`,
			s.event, s.deliv, s.seq).Scan(&at, &action, &undo.Attempt); err != nil {
			return 0, fmt.Errorf("rollup scan: %w", err)
		}
		undo.At, undo.Failed, undo.LatencyMS, undo.Again, undo.Undo = fromMS(at), action == "escalated", at-s.received, s.prior > 1, true
		facts = append(facts, undo)
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

// rollupAddQuery adds a rollup's counts (which may be negative: an undone
// settlement) to the row of its minute, creating it if needed.
var rollupAddQuery = func() string {
	cols := "minute, flow, destination, settled, failed, retried, retried_ok, complete, checked, inconsistent"
	n := 10
	for i := range len(store.LatencyBounds) + 1 {
		cols += fmt.Sprintf(", lat_%d", i)
		n++
	}
	var sets []string
	for _, c := range strings.Split(cols, ", ")[3:] {
		sets = append(sets, c+" = console_rollups."+c+" + excluded."+c)
	}
	return `INSERT INTO console_rollups (` + cols + `) VALUES (?` + strings.Repeat(", ?", n-1) + `)
		ON CONFLICT (minute, flow, destination) DO UPDATE SET ` + strings.Join(sets, ", ")
}()

// rollupSums is the SELECT list that sums rollup rows.
var rollupSums = func() string {
	s := "SUM(settled), SUM(failed), SUM(retried), SUM(retried_ok), SUM(complete), SUM(checked), SUM(inconsistent)"
	for i := range len(store.LatencyBounds) + 1 {
		s += fmt.Sprintf(", SUM(lat_%d)", i)
	}
	return s
}()

// rollupAdd merges r into the stored row of its minute.
func (x *executor) rollupAdd(ctx context.Context, r *store.Rollup) error {
	args := []any{r.Minute.Unix() / 60, r.Flow, r.Destination, r.Settled, r.Failed, r.Retried, r.RetriedOK, r.Complete, r.Checked, r.Inconsistent}
	for i := range len(store.LatencyBounds) + 1 {
		var v int64
		if i < len(r.Latency) {
			v = r.Latency[i]
		}
		args = append(args, v)
	}
	if _, err := x.w.ExecContext(ctx, rollupAddQuery, args...); err != nil {
		return fmt.Errorf("rollup write: %w", err)
	}
	return nil
}

func (x *executor) RollupConsistencyAdd(ctx context.Context, at time.Time, destination string, checked, inconsistent int) error {
	return x.rollupAdd(ctx, &store.Rollup{Minute: at.UTC().Truncate(time.Minute), Destination: destination,
		Checked: int64(checked), Inconsistent: int64(inconsistent)})
}

func (x *executor) RollupList(ctx context.Context, p *store.RollupListParams) ([]*store.Rollup, error) {
	bucket := int64(p.Bucket / time.Minute)
	if bucket < 1 {
		bucket = 1
	}
	from := p.From.Unix() / 60
	q := `SELECT (minute - ?) / ? AS b, flow, destination, ` + rollupSums + `
		FROM console_rollups WHERE minute >= ? AND minute < ?`
	args := []any{from, bucket, from, (p.To.Unix() + 59) / 60}
	if p.Flow != "" {
		q += " AND flow = ?"
		args = append(args, p.Flow)
	}
	if p.Destination != "" {
		q += " AND destination = ?"
		args = append(args, p.Destination)
	}
	rows, err := x.r.QueryContext(ctx, q+" GROUP BY b, flow, destination ORDER BY b, flow, destination", args...)
	if err != nil {
		return nil, fmt.Errorf("rollup list: %w", err)
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
			return nil, err
		}
		r.Minute = time.Unix((from+b*bucket)*60, 0).UTC()
		out = append(out, &r)
	}
	return out, rows.Err()
}
