package storepg

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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

func scanTicket(row pgx.Row) (*store.Ticket, error) {
	var t store.Ticket
	var acked, due pgtype.Timestamptz
	if err := row.Scan(&t.ID, &t.EventID, &t.DeliveryID, &t.Kind, &t.Reason, &t.LastError, &t.LastStatus, &t.Status,
		&t.Actor, &t.Note, &t.CreatedAt, &t.UpdatedAt, &t.Owner, &acked, &t.AcknowledgedBy, &due,
		&t.Source, &t.Destination, &t.GroupID, &t.Code); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	t.AcknowledgedAt, t.DueAt = fromTS(acked), fromTS(due)
	return &t, nil
}

func (x *executor) TicketGetByID(ctx context.Context, id string) (*store.Ticket, error) {
	t, err := scanTicket(x.q.QueryRow(ctx, ticketSelect+` WHERE e.id = $1`, id))
	if err != nil {
		return nil, fail("ticket "+id, err)
	}
	return t, nil
}

func (x *executor) TicketList(ctx context.Context, p *store.TicketListParams) ([]*store.Ticket, error) {
	var where []string
	var args params
	if p.Status != "" {
		where = append(where, "e.status = "+args.add(p.Status))
	}
	if p.Kind != "" {
		where = append(where, "e.kind = "+args.add(p.Kind))
	}
	if p.Destination != "" {
		where = append(where, "d.destination = "+args.add(p.Destination))
	}
	if p.Source != "" {
		where = append(where, "ev.source = "+args.add(p.Source))
	}
	if p.Owner != "" {
		where = append(where, "e.owner = "+args.add(p.Owner))
	}
	if p.EventID != "" {
		where = append(where, "e.event_id = "+args.add(p.EventID))
	}
	if p.DeliveryID != "" {
		where = append(where, "e.delivery_id = "+args.add(p.DeliveryID))
	}
	if p.GroupID != "" {
		where = append(where, "e.group_id = "+args.add(p.GroupID))
	}
	if !p.CreatedAfter.IsZero() {
		where = append(where, "e.created_at >= "+args.add(ts(p.CreatedAfter)))
	}
	if !p.CreatedBefore.IsZero() {
		where = append(where, "e.created_at < "+args.add(ts(p.CreatedBefore)))
	}
	if !p.DueBefore.IsZero() {
		where = append(where, "e.due_at < "+args.add(ts(p.DueBefore)))
	}
	if p.BeforeID != "" {
		where = append(where, "e.id < "+args.add(p.BeforeID))
	}
	q := ticketSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY e.id DESC LIMIT " + args.add(limit)
	rows, err := x.q.Query(ctx, q, args...)
	if err != nil {
		return nil, fail("ticket list", err)
	}
	defer rows.Close()
	var out []*store.Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fail("ticket list", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("ticket list", err)
	}
	return out, nil
}

func (x *executor) TicketUpdate(ctx context.Context, p *store.TicketUpdateParams) error {
	var args params
	sets := []string{"updated_at = " + args.add(ts(p.Now))}
	if p.Owner != nil {
		sets = append(sets, "owner = "+args.add(*p.Owner))
	}
	if p.AcknowledgedAt != nil {
		sets = append(sets, "acknowledged_at = "+args.add(nullTS(*p.AcknowledgedAt)))
	}
	if p.AcknowledgedBy != nil {
		sets = append(sets, "acknowledged_by = "+args.add(*p.AcknowledgedBy))
	}
	if p.DueAt != nil {
		sets = append(sets, "due_at = "+args.add(nullTS(*p.DueAt)))
	}
	q := `UPDATE escalations SET ` + strings.Join(sets, ", ") + ` WHERE id = ` + args.add(p.ID)
	if !p.IfUpdatedAt.IsZero() {
		q += " AND updated_at = " + args.add(ts(p.IfUpdatedAt))
	}
	tag, err := x.q.Exec(ctx, q, args...)
	if err != nil {
		return fail("ticket update", err)
	}
	if tag.RowsAffected() == 0 {
		return x.missedUpdate(ctx, "escalations", "ticket update", p.ID, !p.IfUpdatedAt.IsZero())
	}
	return nil
}

func (x *executor) TicketNoteInsert(ctx context.Context, n *store.TicketNote) error {
	err := x.q.QueryRow(ctx, `INSERT INTO escalation_notes (escalation_id, at, actor, text) VALUES ($1, $2, $3, $4) RETURNING seq`,
		n.EscalationID, ts(n.At), n.Actor, n.Text).Scan(&n.Seq)
	if err != nil {
		return fail("ticket note insert", err)
	}
	return nil
}

func (x *executor) TicketNoteList(ctx context.Context, escalationID string) ([]*store.TicketNote, error) {
	rows, err := x.q.Query(ctx, `SELECT seq, escalation_id, at, actor, text FROM escalation_notes
		WHERE escalation_id = $1 ORDER BY seq`, escalationID)
	if err != nil {
		return nil, fail("ticket note list", err)
	}
	defer rows.Close()
	var out []*store.TicketNote
	for rows.Next() {
		var n store.TicketNote
		if err := rows.Scan(&n.Seq, &n.EscalationID, &n.At, &n.Actor, &n.Text); err != nil {
			return nil, fail("ticket note list", err)
		}
		n.At = n.At.UTC()
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("ticket note list", err)
	}
	return out, nil
}
