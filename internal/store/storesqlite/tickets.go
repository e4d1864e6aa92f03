package storesqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.TicketStore = (*executor)(nil)

// ticketSelect reads an escalation with its ticket columns, its event's
// source and its delivery's destination.
const ticketSelect = `SELECT e.id, e.event_id, e.delivery_id, e.kind, e.reason, e.last_error, e.last_status, e.status,
	e.actor, e.note, e.created_at, e.updated_at, e.owner, e.acknowledged_at, e.acknowledged_by, e.due_at,
	ev.source, COALESCE(d.destination, ''), e.group_id, e.code
	FROM escalations e
	JOIN events ev ON ev.id = e.event_id
	LEFT JOIN deliveries d ON e.delivery_id != '' AND d.id = e.delivery_id`

func scanTicket(s scanner) (*store.Ticket, error) {
	var t store.Ticket
	var created, updated, acked, due int64
	if err := s.Scan(&t.ID, &t.EventID, &t.DeliveryID, &t.Kind, &t.Reason, &t.LastError, &t.LastStatus, &t.Status,
		&t.Actor, &t.Note, &created, &updated, &t.Owner, &acked, &t.AcknowledgedBy, &due,
		&t.Source, &t.Destination, &t.GroupID, &t.Code); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt, t.AcknowledgedAt, t.DueAt = fromMS(created), fromMS(updated), fromMS(acked), fromMS(due)
	return &t, nil
}

func (x *executor) TicketGetByID(ctx context.Context, id string) (*store.Ticket, error) {
	t, err := scanTicket(x.r.QueryRowContext(ctx, ticketSelect+` WHERE e.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "ticket "+id)
	}
	return t, nil
}

func (x *executor) TicketList(ctx context.Context, p *store.TicketListParams) ([]*store.Ticket, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if p.Status != "" {
		add("e.status = ?", p.Status)
	}
	if p.Kind != "" {
		add("e.kind = ?", p.Kind)
	}
	if p.Destination != "" {
		add("d.destination = ?", p.Destination)
	}
	if p.Source != "" {
		add("ev.source = ?", p.Source)
	}
	if p.Owner != "" {
		add("e.owner = ?", p.Owner)
	}
	if p.EventID != "" {
		add("e.event_id = ?", p.EventID)
	}
	if p.DeliveryID != "" {
		add("e.delivery_id = ?", p.DeliveryID)
	}
	if p.GroupID != "" {
		add("e.group_id = ?", p.GroupID)
	}
	if !p.CreatedAfter.IsZero() {
		add("e.created_at >= ?", ms(p.CreatedAfter))
	}
	if !p.CreatedBefore.IsZero() {
		add("e.created_at < ?", ms(p.CreatedBefore))
	}
	if !p.DueBefore.IsZero() {
		add("e.due_at != 0 AND e.due_at < ?", ms(p.DueBefore))
	}
	if p.BeforeID != "" {
		add("e.id < ?", p.BeforeID)
	}
	q := ticketSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY e.id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := x.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ticket list: %w", err)
	}
	defer rows.Close()
	var out []*store.Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("ticket list: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket list: %w", err)
	}
	return out, nil
}

func (x *executor) TicketUpdate(ctx context.Context, p *store.TicketUpdateParams) error {
	sets := []string{"updated_at = ?"}
	args := []any{ms(p.Now)}
	if p.Owner != nil {
		sets = append(sets, "owner = ?")
		args = append(args, *p.Owner)
	}
	if p.AcknowledgedAt != nil {
		sets = append(sets, "acknowledged_at = ?")
		args = append(args, ms(*p.AcknowledgedAt))
	}
	if p.AcknowledgedBy != nil {
		sets = append(sets, "acknowledged_by = ?")
		args = append(args, *p.AcknowledgedBy)
	}
	if p.DueAt != nil {
		sets = append(sets, "due_at = ?")
		args = append(args, ms(*p.DueAt))
	}
	args = append(args, p.ID)
	q := `UPDATE escalations SET ` + strings.Join(sets, ", ") + ` WHERE id = ?`
	if !p.IfUpdatedAt.IsZero() {
		q += " AND updated_at = ?"
		args = append(args, ms(p.IfUpdatedAt))
	}
	res, err := x.w.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("ticket update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return x.missedUpdate(ctx, "escalations", "ticket update", p.ID, !p.IfUpdatedAt.IsZero())
	}
	return nil
}

func (x *executor) TicketNoteInsert(ctx context.Context, n *store.TicketNote) error {
	res, err := x.w.ExecContext(ctx, `INSERT INTO escalation_notes (escalation_id, at, actor, text) VALUES (?, ?, ?, ?)`,
		n.EscalationID, ms(n.At), n.Actor, n.Text)
	if err != nil {
		return fmt.Errorf("ticket note insert: %w", err)
	}
	n.Seq, _ = res.LastInsertId()
	return nil
}

func (x *executor) TicketNoteList(ctx context.Context, escalationID string) ([]*store.TicketNote, error) {
	rows, err := x.r.QueryContext(ctx, `SELECT seq, escalation_id, at, actor, text FROM escalation_notes
		WHERE escalation_id = ? ORDER BY seq`, escalationID)
	if err != nil {
		return nil, fmt.Errorf("ticket note list: %w", err)
	}
	defer rows.Close()
	var out []*store.TicketNote
	for rows.Next() {
		var n store.TicketNote
		var at int64
		if err := rows.Scan(&n.Seq, &n.EscalationID, &at, &n.Actor, &n.Text); err != nil {
			return nil, fmt.Errorf("ticket note list: %w", err)
		}
		n.At = fromMS(at)
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket note list: %w", err)
	}
	return out, nil
}
