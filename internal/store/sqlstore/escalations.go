package sqlstore

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

const escalationCols = `id, event_id, delivery_id, kind, reason, last_error, last_status, status, actor, note, created_at, updated_at, group_id, code`

const (
	qEscalationInsert = `INSERT INTO escalations (` + escalationCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qEscalationByID   = `SELECT ` + escalationCols + ` FROM escalations WHERE id = ?`
	qEscalationUpdate = `UPDATE escalations SET status = ?, actor = ?, note = ?, last_error = ?, last_status = ?, updated_at = ?,
		kind = ?, reason = ?, group_id = ?, code = ? WHERE id = ?`
)

func (q Queries) scanEscalation(r Row) (*store.Escalation, error) {
	var e store.Escalation
	if err := r.Scan(&e.ID, &e.EventID, &e.DeliveryID, &e.Kind, &e.Reason, &e.LastError, &e.LastStatus, &e.Status,
		&e.Actor, &e.Note, q.db.ScanTime(&e.CreatedAt), q.db.ScanTime(&e.UpdatedAt), &e.GroupID, &e.Code); err != nil {
		return nil, err
	}
	return &e, nil
}

// EscalationInsert implements store.Executor.
func (q Queries) EscalationInsert(ctx context.Context, e *store.Escalation) error {
	_, err := q.exec(ctx, qEscalationInsert,
		e.ID, e.EventID, e.DeliveryID, e.Kind, e.Reason, e.LastError, e.LastStatus, e.Status, e.Actor, e.Note,
		q.db.Time(e.CreatedAt), q.db.Time(e.UpdatedAt), e.GroupID, e.Code)
	if err != nil {
		return fmt.Errorf("escalation insert: %w", err)
	}
	return nil
}

// EscalationGetByID implements store.Executor.
func (q Queries) EscalationGetByID(ctx context.Context, id string) (*store.Escalation, error) {
	e, err := q.scanEscalation(q.row(ctx, qEscalationByID, id))
	if err != nil {
		return nil, fmt.Errorf("escalation %s: %w", id, err)
	}
	return e, nil
}

// EscalationList implements store.Executor.
func (q Queries) EscalationList(ctx context.Context, p *store.EscalationListParams) ([]*store.Escalation, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("escalation list: %w", err)
	}
	var f filter
	if p.Status != "" {
		f.add("status = ?", p.Status)
	}
	if p.EventID != "" {
		f.add("event_id = ?", p.EventID)
	}
	out, err := list(ctx, q, q.scanEscalation, `SELECT `+escalationCols+` FROM escalations`+f.where()+` ORDER BY id DESC LIMIT ?`,
		append(f.args, store.PageLimit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("escalation list: %w", err)
	}
	return out, nil
}

// EscalationUpdate implements store.Executor.
func (q Queries) EscalationUpdate(ctx context.Context, e *store.Escalation) error {
	n, err := q.exec(ctx, qEscalationUpdate,
		e.Status, e.Actor, e.Note, e.LastError, e.LastStatus, q.db.Time(e.UpdatedAt), e.Kind, e.Reason, e.GroupID, e.Code, e.ID)
	if err != nil {
		return fmt.Errorf("escalation update: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("escalation update %s: %w", e.ID, store.ErrNotFound)
	}
	return nil
}

// EscalationListCreated implements store.SLAStore: escalations in creation
// (ID) order after p.AfterID, for the alerter's cursor.
func (q Queries) EscalationListCreated(ctx context.Context, p *store.EscalationListCreatedParams) ([]*store.Escalation, error) {
	f := filter{conds: []string{"id > ?"}, args: []any{p.AfterID}}
	if p.BeforeID != "" {
		f.add("id < ?", p.BeforeID)
	}
	out, err := list(ctx, q, q.scanEscalation, `SELECT `+escalationCols+` FROM escalations`+f.where()+` ORDER BY id LIMIT ?`,
		append(f.args, store.PageLimit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("escalation list created: %w", err)
	}
	return out, nil
}
