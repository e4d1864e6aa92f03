package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

// The escalation ticket workflow (assign, acknowledge, notes, patch and
// retry, bulk actions) is package ticket; this file is the gate's side of
// it: the transactions its transitions run in and the writes they make.

// dueWithin is how long an escalation of the flow may stay open: the flow's
// delivery SLA, else ticket.DefaultDue.
func (g *Gate) dueWithin(flow string) time.Duration {
	if f := g.Plan().Flow(flow); f != nil && f.Conf != nil {
		if d := f.Conf.SLA.DeliverWithin.D(); d > 0 {
			return d
		}
	}
	return ticket.DefaultDue
}

// TicketDue is how long an escalation of source's flow may stay open.
func (g *Gate) TicketDue(source string) time.Duration {
	if f := g.Plan().FlowForSource(source); f != nil {
		return g.dueWithin(f.Name)
	}
	return ticket.DefaultDue
}

// openEscalation inserts esc and makes it a ticket by ticket.Opened's rule
// (due time; the owner and a linking note when the delivery was escalated
// before).
func (g *Gate) openEscalation(ctx context.Context, tx store.ExecutorTx, esc *store.Escalation) error {
	var prev *store.Ticket
	if esc.DeliveryID != "" {
		earlier, err := tx.TicketList(ctx, &store.TicketListParams{DeliveryID: esc.DeliveryID, Limit: 1})
		if err != nil {
			return err
		}
		if len(earlier) > 0 {
			prev = earlier[0]
		}
	}
	if err := tx.EscalationInsert(ctx, esc); err != nil {
		return err
	}
	ev, err := tx.EventGetByID(ctx, esc.EventID)
	if err != nil {
		return err
	}
	up, note := ticket.Opened(esc, prev, g.dueWithin(ev.Flow))
	if err := tx.TicketUpdate(ctx, up); err != nil {
		return err
	}
	if note == nil {
		return nil
	}
	return tx.TicketNoteInsert(ctx, note)
}

// TicketEdit runs a ticket transition (fn) in one transaction on ticket id
// as committed. A non-zero version is checked by a conditional update of
// the ticket, the first write of the transaction: on PostgreSQL it takes
// the row's lock and is re-evaluated against a concurrent editor's commit,
// so of two saves from the same version exactly one passes and the other
// gets a *StaleError.
func (g *Gate) TicketEdit(ctx context.Context, id string, version time.Time, fn func(ctx context.Context, tx ticket.Tx, t *store.Ticket, now time.Time) error) error {
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		t, err := tx.TicketGetByID(ctx, id)
		if err != nil {
			return err
		}
		now := after(g.now(), version)
		if !version.IsZero() {
			stale := &StaleError{What: "escalation " + id, Current: t.UpdatedAt}
			if !t.UpdatedAt.Equal(version.Truncate(time.Millisecond)) {
				return stale
			}
			err := tx.TicketUpdate(ctx, &store.TicketUpdateParams{ID: id, IfUpdatedAt: version.Truncate(time.Millisecond), Now: now})
			if errors.Is(err, store.ErrStale) {
				return stale
			}
			if err != nil {
				return err
			}
		}
		return fn(ctx, &ticketTx{g: g, tx: tx, id: id, now: now}, t, now)
	})
}

// TicketRecord appends e (a bulk action's summary) in its own transaction.
func (g *Gate) TicketRecord(ctx context.Context, e *store.AuditEntry) error {
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		return g.audit(ctx, tx, e)
	})
}

// ticketTx is the gate's side of one ticket transition: the writes a
// ticket.Tx may make, on ticket id, each stamped with now.
type ticketTx struct {
	g   *Gate
	tx  store.ExecutorTx
	id  string
	now time.Time
}

func (x *ticketTx) Update(ctx context.Context, p *store.TicketUpdateParams) error {
	if p.ID != x.id {
		return errors.New("pipeline: a ticket transition changes only its own ticket")
	}
	p.Now = x.now
	if p.Owner != nil {
		o := x.g.Clean(*p.Owner)
		p.Owner = &o
	}
	return x.tx.TicketUpdate(ctx, p)
}

func (x *ticketTx) Note(ctx context.Context, n *store.TicketNote) error {
	if n.EscalationID != x.id {
		return errors.New("pipeline: a ticket transition notes only its own ticket")
	}
	n.At = x.now
	n.Text = truncate(x.g.Clean(n.Text), 4000)
	return x.tx.TicketNoteInsert(ctx, n)
}

func (x *ticketTx) Audit(ctx context.Context, e *store.AuditEntry) error {
	e.At = x.now
	return x.g.audit(ctx, x.tx, e)
}

func (x *ticketTx) Delivery(ctx context.Context, id string) (*store.Delivery, error) {
	return x.tx.DeliveryGetByID(ctx, id)
}

// Retry re-reads the delivery: it must be the ticket's and still
// escalated.
func (x *ticketTx) Retry(ctx context.Context, deliveryID string, payload []byte, actor, why string) error {
	esc, err := x.tx.EscalationGetByID(ctx, x.id)
	if err != nil {
		return err
	}
	if esc.DeliveryID != deliveryID {
		return errors.New("pipeline: a ticket transition retries only its own delivery")
	}
	d, err := x.tx.DeliveryGetByID(ctx, deliveryID)
	if err != nil {
		return err
	}
	if d.State != store.DeliveryEscalated {
		return wrongState("delivery "+d.ID, d.State)
	}
	if payload != nil {
		d.Payload = payload
	}
	return x.g.reviveDelivery(ctx, x.tx, d, actor, why, x.now)
}
