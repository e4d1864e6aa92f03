package storesqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

var _ store.RetentionStore = (*executor)(nil)

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anyOf(vals []string) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

// inOwnTx runs fn in a write transaction when x is not in one.
func (x *executor) inOwnTx(ctx context.Context, fn func(x *executor) error) error {
	t, err := x.d.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(&t.(*executorTx).executor); err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

// EventPrune implements store.RetentionStore. SQLite has one writer, so no
// other transaction changes the selected events before they are deleted.
func (x *executor) EventPrune(ctx context.Context, p *store.EventPruneParams) (*store.PruneResult, error) {
	if x.tx == nil {
		var res *store.PruneResult
		err := x.inOwnTx(ctx, func(t *executor) error {
			var err error
			res, err = t.EventPrune(ctx, p)
			return err
		})
		return res, err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	args := append(anyOf(store.Strings(p.States)), ms(p.UpdatedBefore))
	q := `SELECT e.id FROM events e WHERE e.state IN (` + placeholders(len(p.States)) + `) AND e.updated_at < ?`
	if p.BeforeID != "" {
		q += ` AND e.id < ?`
		args = append(args, p.BeforeID)
	}
	q += ` AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state IN (?, ?, ?))
		AND NOT EXISTS (SELECT 1 FROM escalations s WHERE s.event_id = e.id AND s.status = ?)
		AND NOT EXISTS (SELECT 1 FROM reconciliations r WHERE r.event_id = e.id AND r.status = ?)
		ORDER BY e.id LIMIT ?`
	args = append(args, store.DeliveryWaiting, store.DeliveryPending, store.DeliveryInflight,
		store.EscalationOpen, store.ReconciliationOpen, limit)
	rows, err := x.w.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("event prune: select: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("event prune: select: %w", err)
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("event prune: select: %w", err)
	}
	res := &store.PruneResult{}
	if len(ids) == 0 {
		return res, nil
	}
	res.OldestID, res.NewestID = ids[0], ids[len(ids)-1]
	set := placeholders(len(ids))
	idArgs := anyOf(ids)
	steps := []struct {
		what string
		sql  string
		n    *int
	}{
		{"escalation notes", `DELETE FROM escalation_notes WHERE escalation_id IN (SELECT id FROM escalations WHERE event_id IN (` + set + `))`, nil},
		{"escalations", `DELETE FROM escalations WHERE event_id IN (` + set + `)`, &res.Escalations},
		{"reconciliations", `DELETE FROM reconciliations WHERE event_id IN (` + set + `)`, &res.Reconciliations},
		{"deliveries", `DELETE FROM deliveries WHERE event_id IN (` + set + `)`, &res.Deliveries},
		{"events", `DELETE FROM events WHERE id IN (` + set + `)`, &res.Events},
	}
	for _, s := range steps {
		r, err := x.w.ExecContext(ctx, s.sql, idArgs...)
		if err != nil {
			return nil, fmt.Errorf("event prune: %s: %w", s.what, err)
		}
		if s.n != nil {
			n, _ := r.RowsAffected()
			*s.n = int(n)
		}
	}
	return res, nil
}

// AuditPrune implements store.RetentionStore. Every entry is checked
// (sequence, link, hash) before it is deleted, so retention never deletes
// the evidence of a tampered row: it stops with an *audit.BrokenError.
func (x *executor) AuditPrune(ctx context.Context, p *store.AuditPruneParams) (*store.AuditCheckpoint, int, error) {
	if x.tx == nil {
		var cp *store.AuditCheckpoint
		var n int
		err := x.inOwnTx(ctx, func(t *executor) error {
			var err error
			cp, n, err = t.AuditPrune(ctx, p)
			return err
		})
		return cp, n, err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	cur, err := x.AuditCheckpointGet(ctx)
	if err != nil {
		return nil, 0, err
	}
	var lastSeq int64
	var lastHash string
	if cur != nil {
		lastSeq, lastHash = cur.Seq, cur.Hash
	}
	if err := x.flushAudit(ctx); err != nil {
		return nil, 0, err
	}
	var head int64
	if err := x.w.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) FROM audit_log`).Scan(&head); err != nil {
		return nil, 0, fmt.Errorf("audit prune: head: %w", err)
	}
	rows, err := x.w.QueryContext(ctx, `SELECT `+auditCols+`, (a.event_id <> '' AND EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id))
		FROM audit_log a WHERE a.seq > ? AND a.seq < ? ORDER BY a.seq LIMIT ?`, lastSeq, head, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("audit prune: scan: %w", err)
	}
	var last *store.AuditEntry
	n := 0
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		var live bool
		if err := rows.Scan(&e.Seq, &at, &e.EventID, &e.DeliveryID, &e.Route, &e.Attempt, &e.Actor, &e.Action, &e.Outcome,
			&e.Status, &e.Message, &e.LatencyMS, &e.PrevHash, &e.Hash, &live); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("audit prune: scan: %w", err)
		}
		e.At = fromMS(at)
		if !e.At.Before(p.Before) || live {
			break
		}
		if err := audit.CheckLink(lastSeq, lastHash, &e); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("audit prune: %w", err)
		}
		lastSeq, lastHash, last = e.Seq, e.Hash, &e
		n++
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("audit prune: scan: %w", err)
	}
	if last == nil {
		return nil, 0, nil
	}
	r, err := x.w.ExecContext(ctx, `DELETE FROM audit_log WHERE seq > ? AND seq <= ?`, last.Seq-int64(n), last.Seq)
	if err != nil {
		return nil, 0, fmt.Errorf("audit prune: delete: %w", err)
	}
	if got, _ := r.RowsAffected(); got != int64(n) {
		return nil, 0, fmt.Errorf("audit prune: deleted %d entries, expected %d", got, n)
	}
	cp := &store.AuditCheckpoint{Seq: last.Seq, Hash: last.Hash, At: last.At, Deleted: int64(n), CreatedAt: fromMS(ms(p.Now))}
	if _, err := x.w.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, deleted, created_at) VALUES (?, ?, ?, ?, ?)`,
		cp.Seq, cp.Hash, ms(cp.At), cp.Deleted, ms(cp.CreatedAt)); err != nil {
		return nil, 0, fmt.Errorf("audit prune: checkpoint: %w", err)
	}
	return cp, n, nil
}

// AuditCheckpointGet implements store.RetentionStore.
func (x *executor) AuditCheckpointGet(ctx context.Context) (*store.AuditCheckpoint, error) {
	var cp store.AuditCheckpoint
	var at, created int64
	err := x.r.QueryRowContext(ctx, `SELECT seq, hash, at, deleted, created_at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).
		Scan(&cp.Seq, &cp.Hash, &at, &cp.Deleted, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint get: %w", err)
	}
	cp.At, cp.CreatedAt = fromMS(at), fromMS(created)
	return &cp, nil
}
