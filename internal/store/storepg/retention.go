package storepg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

var _ store.RetentionStore = (*executor)(nil)

// unfinishedDeliveries are the delivery states that keep an event.
var unfinishedDeliveries = store.Strings([]store.DeliveryState{store.DeliveryWaiting, store.DeliveryPending, store.DeliveryInflight})

// EventPrune implements store.RetentionStore. Candidate events are locked
// FOR UPDATE SKIP LOCKED, so an event another transaction is changing (an
// operator's redeliver, a replay) is left for the next batch, and a
// delivery inserted for an event concurrently either makes the event
// skipped (its foreign-key lock conflicts) or fails on the deleted row.
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
	var args params
	q := `SELECT e.id FROM events e WHERE e.state = ANY(` + args.add(store.Strings(p.States)) + `) AND e.updated_at < ` + args.add(ts(p.UpdatedBefore))
	if p.BeforeID != "" {
		q += ` AND e.id < ` + args.add(p.BeforeID)
	}
	q += ` AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state = ANY(` + args.add(unfinishedDeliveries) + `))
		AND NOT EXISTS (SELECT 1 FROM escalations s WHERE s.event_id = e.id AND s.status = ` + args.add(store.EscalationOpen) + `)
		AND NOT EXISTS (SELECT 1 FROM reconciliations r WHERE r.event_id = e.id AND r.status = ` + args.add(store.ReconciliationOpen) + `)
		ORDER BY e.id LIMIT ` + args.add(limit) + ` FOR UPDATE OF e SKIP LOCKED`
	rows, err := x.q.Query(ctx, q, args...)
	if err != nil {
		return nil, fail("event prune: select", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fail("event prune: select", err)
	}
	res := &store.PruneResult{}
	if len(ids) == 0 {
		return res, nil
	}
	res.OldestID, res.NewestID = ids[0], ids[len(ids)-1]
	steps := []struct {
		what string
		sql  string
		n    *int
	}{
		{"escalation notes", `DELETE FROM escalation_notes WHERE escalation_id IN (SELECT id FROM escalations WHERE event_id = ANY($1))`, nil},
		{"escalations", `DELETE FROM escalations WHERE event_id = ANY($1)`, &res.Escalations},
		{"reconciliations", `DELETE FROM reconciliations WHERE event_id = ANY($1)`, &res.Reconciliations},
		{"deliveries", `DELETE FROM deliveries WHERE event_id = ANY($1)`, &res.Deliveries},
		{"events", `DELETE FROM events WHERE id = ANY($1)`, &res.Events},
	}
	for _, s := range steps {
		tag, err := x.q.Exec(ctx, s.sql, ids)
		if err != nil {
			return nil, fail("event prune: "+s.what, err)
		}
		if s.n != nil {
			*s.n = int(tag.RowsAffected())
		}
	}
	return res, nil
}

// AuditPrune implements store.RetentionStore. It walks the chain from the
// checkpoint and checks every entry it is about to delete (sequence, link
// and hash), so retention never deletes the evidence of a tampered row: it
// stops with an *audit.BrokenError instead.
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
	if err := x.sealAudit(ctx); err != nil {
		return nil, 0, err
	}
	var head int64
	if err := x.q.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM audit_log`).Scan(&head); err != nil {
		return nil, 0, fail("audit prune: head", err)
	}
	rows, err := x.q.Query(ctx, `SELECT `+auditCols+`, (a.event_id <> '' AND EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id))
		FROM audit_log a WHERE a.seq > $1 AND a.seq < $2 ORDER BY a.seq LIMIT $3`, lastSeq, head, limit)
	if err != nil {
		return nil, 0, fail("audit prune: scan", err)
	}
	type candidate struct {
		e    *store.AuditEntry
		live bool
	}
	cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (candidate, error) {
		var e store.AuditEntry
		var live bool
		err := r.Scan(&e.Seq, &e.At, &e.EventID, &e.DeliveryID, &e.Route, &e.Attempt, &e.Actor, &e.Action, &e.Outcome,
			&e.Status, &e.Message, &e.LatencyMS, &e.PrevHash, &e.Hash, &live)
		e.At = e.At.UTC()
		return candidate{&e, live}, err
	})
	if err != nil {
		return nil, 0, fail("audit prune: scan", err)
	}
	var last *store.AuditEntry
	n := 0
	for _, c := range cands {
		e := c.e
		if !e.At.Before(p.Before) || c.live {
			break
		}
		if err := audit.CheckLink(lastSeq, lastHash, e); err != nil {
			return nil, 0, fmt.Errorf("audit prune: %w", err)
		}
		lastSeq, lastHash, last = e.Seq, e.Hash, e
		n++
	}
	if last == nil {
		return nil, 0, nil
	}
	from := last.Seq - int64(n)
	tag, err := x.q.Exec(ctx, `DELETE FROM audit_log WHERE seq > $1 AND seq <= $2`, from, last.Seq)
	if err != nil {
		return nil, 0, fail("audit prune: delete", err)
	}
	if tag.RowsAffected() != int64(n) {
		return nil, 0, fmt.Errorf("audit prune: deleted %d entries, expected %d", tag.RowsAffected(), n)
	}
	cp := &store.AuditCheckpoint{Seq: last.Seq, Hash: last.Hash, At: last.At, Deleted: int64(n), CreatedAt: ts(p.Now)}
	if _, err := x.q.Exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, deleted, created_at) VALUES ($1, $2, $3, $4, $5)`,
		cp.Seq, cp.Hash, ts(cp.At), cp.Deleted, cp.CreatedAt); err != nil {
		return nil, 0, fail("audit prune: checkpoint", err)
	}
	return cp, n, nil
}

// AuditCheckpointGet implements store.RetentionStore.
func (x *executor) AuditCheckpointGet(ctx context.Context) (*store.AuditCheckpoint, error) {
	var cp store.AuditCheckpoint
	err := x.q.QueryRow(ctx, `SELECT seq, hash, at, deleted, created_at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).
		Scan(&cp.Seq, &cp.Hash, &cp.At, &cp.Deleted, &cp.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fail("audit checkpoint get", err)
	}
	cp.At, cp.CreatedAt = cp.At.UTC(), cp.CreatedAt.UTC()
	return &cp, nil
}
