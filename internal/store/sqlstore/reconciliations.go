package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

const reconciliationCols = `id, event_id, status, summary, actor, note, created_at, updated_at`

const (
	qReconciliationInsert = `INSERT INTO reconciliations (` + reconciliationCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qReconciliationByID   = `SELECT ` + reconciliationCols + ` FROM reconciliations WHERE id = ?`
	qReconciliationUpdate = `UPDATE reconciliations SET status = ?, summary = ?, actor = ?, note = ?, updated_at = ? WHERE id = ?`
)

func (q Queries) scanReconciliation(row Row) (*store.Reconciliation, error) {
	var r store.Reconciliation
	var summary string
	if err := row.Scan(&r.ID, &r.EventID, &r.Status, &summary, &r.Actor, &r.Note,
		q.db.ScanTime(&r.CreatedAt), q.db.ScanTime(&r.UpdatedAt)); err != nil {
		return nil, err
	}
	r.Summary = json.RawMessage(summary)
	return &r, nil
}

// ReconciliationInsert implements store.Executor.
func (q Queries) ReconciliationInsert(ctx context.Context, r *store.Reconciliation) error {
	_, err := q.exec(ctx, qReconciliationInsert,
		r.ID, r.EventID, r.Status, string(r.Summary), r.Actor, r.Note, q.db.Time(r.CreatedAt), q.db.Time(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("reconciliation insert: %w", err)
	}
	return nil
}

// ReconciliationGetByID implements store.Executor.
func (q Queries) ReconciliationGetByID(ctx context.Context, id string) (*store.Reconciliation, error) {
	r, err := q.scanReconciliation(q.row(ctx, qReconciliationByID, id))
	if err != nil {
		return nil, fmt.Errorf("reconciliation %s: %w", id, err)
	}
	return r, nil
}

// ReconciliationList implements store.Executor.
func (q Queries) ReconciliationList(ctx context.Context, p *store.ReconciliationListParams) ([]*store.Reconciliation, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("reconciliation list: %w", err)
	}
	var f filter
	if p.Status != "" {
		f.add("status = ?", p.Status)
	}
	if p.EventID != "" {
		f.add("event_id = ?", p.EventID)
	}
	out, err := list(ctx, q, q.scanReconciliation, `SELECT `+reconciliationCols+` FROM reconciliations`+f.where()+` ORDER BY id DESC LIMIT ?`,
		append(f.args, store.PageLimit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("reconciliation list: %w", err)
	}
	return out, nil
}

// ReconciliationUpdate implements store.Executor.
func (q Queries) ReconciliationUpdate(ctx context.Context, r *store.Reconciliation) error {
	n, err := q.exec(ctx, qReconciliationUpdate,
		r.Status, string(r.Summary), r.Actor, r.Note, q.db.Time(r.UpdatedAt), r.ID)
	if err != nil {
		return fmt.Errorf("reconciliation update: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("reconciliation update %s: %w", r.ID, store.ErrNotFound)
	}
	return nil
}
