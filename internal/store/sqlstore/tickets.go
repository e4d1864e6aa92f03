package sqlstore

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// ticketSelect reads an escalation with its ticket columns, its event's
// source and its delivery's destination.
const ticketSelect = `SELECT e.id, e.event_id, e.delivery_id, e.kind, e.reason, e.last_error, e.last_status, e.status,
	e.actor, e.note, e.created_at, e.updated_at, e.owner, e.acknowledged_at, e.acknowledged_by, e.due_at,
	ev.source, COALESCE(d.destination, ''), e.group_id, e.code
	FROM escalations e
	JOIN events ev ON ev.id = e.event_id
	LEFT JOIN deliveries d ON e.delivery_id != '' AND d.id = e.delivery_id`

func (q Queries) scanTicket(r Row) (*store.Ticket, error) {
	var t store.Ticket
	if err := r.Scan(&t.ID, &t.EventID, &t.DeliveryID, &t.Kind, &t.Reason, &t.LastError, &t.LastStatus, &t.Status,
		&t.Actor, &t.Note, q.db.ScanTime(&t.CreatedAt), q.db.ScanTime(&t.UpdatedAt), &t.Owner, q.db.ScanTime(&t.AcknowledgedAt),
		&t.AcknowledgedBy, q.db.ScanTime(&t.DueAt), &t.Source, &t.Destination, &t.GroupID, &t.Code); err != nil {
		return nil, err
	}
	return &t, nil
}

// TicketGetByID implements store.TicketStore.
func (q Queries) TicketGetByID(ctx context.Context, id string) (*store.Ticket, error) {
	t, err := q.scanTicket(q.row(ctx, ticketSelect+` WHERE e.id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("ticket %s: %w", id, err)
	}
	return t, nil
}

// TicketList implements store.TicketStore.
func (q Queries) TicketList(ctx context.Context, p *store.TicketListParams) ([]*store.Ticket, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("ticket list: %w", err)
	}
	var f filter
	for _, c := range []struct{ cond, v string }{
		{"e.status = ?", p.Status}, {"e.kind = ?", p.Kind}, {"d.destination = ?", p.Destination}, {"ev.source = ?", p.Source},
		{"e.owner = ?", p.Owner}, {"e.event_id = ?", p.EventID}, {"e.delivery_id = ?", p.DeliveryID}, {"e.group_id = ?", p.GroupID},
	} {
		if c.v != "" {
			f.add(c.cond, c.v)
		}
	}
	if !p.CreatedAfter.IsZero() {
		f.add("e.created_at >= ?", q.db.Time(p.CreatedAfter))
	}
	if !p.CreatedBefore.IsZero() {
		f.add("e.created_at < ?", q.db.Time(p.CreatedBefore))
	}
	if !p.DueBefore.IsZero() {
		f.add(q.db.TimeIsSet("e.due_at")+" AND e.due_at < ?", q.db.Time(p.DueBefore))
	}
	if p.BeforeID != "" {
		f.add("e.id < ?", p.BeforeID)
	}
	out, err := list(ctx, q, q.scanTicket, ticketSelect+f.where()+` ORDER BY e.id DESC LIMIT ?`, append(f.args, store.PageLimit(p.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("ticket list: %w", err)
	}
	return out, nil
}

// TicketUpdate implements store.TicketStore.
func (q Queries) TicketUpdate(ctx context.Context, p *store.TicketUpdateParams) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("ticket update: %w", err)
	}
	var s setter
	s.set("updated_at", q.db.Time(p.Now))
	if p.Owner != nil {
		s.set("owner", *p.Owner)
	}
	if p.AcknowledgedAt != nil {
		s.set("acknowledged_at", q.db.OptTime(*p.AcknowledgedAt))
	}
	if p.AcknowledgedBy != nil {
		s.set("acknowledged_by", *p.AcknowledgedBy)
	}
	if p.DueAt != nil {
		s.set("due_at", q.db.OptTime(*p.DueAt))
	}
	query := `UPDATE escalations SET ` + s.String() + ` WHERE id = ?`
	args := append(s.args, p.ID)
	if !p.IfUpdatedAt.IsZero() {
		query += " AND updated_at = ?"
		args = append(args, q.db.Time(p.IfUpdatedAt))
	}
	n, err := q.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("ticket update: %w", err)
	}
	if n == 0 {
		return q.missedUpdate(ctx, "escalations", "ticket update", p.ID, !p.IfUpdatedAt.IsZero())
	}
	return nil
}

// TicketNoteInsert implements store.TicketStore; the store numbers notes.
func (q Queries) TicketNoteInsert(ctx context.Context, n *store.TicketNote) error {
	err := q.rowWrite(ctx, `INSERT INTO escalation_notes (escalation_id, at, actor, text) VALUES (?, ?, ?, ?) RETURNING seq`,
		n.EscalationID, q.db.Time(n.At), n.Actor, n.Text).Scan(&n.Seq)
	if err != nil {
		return fmt.Errorf("ticket note insert: %w", err)
	}
	return nil
}

// TicketNoteList implements store.TicketStore.
func (q Queries) TicketNoteList(ctx context.Context, escalationID string) ([]*store.TicketNote, error) {
	out, err := list(ctx, q, func(r Row) (*store.TicketNote, error) {
		var n store.TicketNote
		if err := r.Scan(&n.Seq, &n.EscalationID, q.db.ScanTime(&n.At), &n.Actor, &n.Text); err != nil {
			return nil, err
		}
		return &n, nil
	}, `SELECT seq, escalation_id, at, actor, text FROM escalation_notes WHERE escalation_id = ? ORDER BY seq`, escalationID)
	if err != nil {
		return nil, fmt.Errorf("ticket note list: %w", err)
	}
	return out, nil
}
