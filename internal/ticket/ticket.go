// Package ticket is the escalation ticket workflow: the rules by which
// people work an escalation (when it falls due, who owns it, acknowledging
// it, notes, patching the payload and retrying, bulk actions over a
// filter). It decides and never writes: every change runs through the Gate
// port (*pipeline.Gate, the one writer of state and audit entries, see
// docs/adr/0010-one-writer.md) inside one of the gate's transactions, so
// redaction, truncation and the audit vocabulary apply to tickets as to
// every other write. Reads go to the store directly (Reader).
package ticket

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/operr"
	"github.com/sluicehq/sluice/internal/store"
)

// DefaultDue is how long an escalation may stay open before it is overdue
// when its flow sets no delivery SLA (flows.*.sla.deliver_within).
const DefaultDue = 24 * time.Hour

// ActorSystem is the actor of notes the workflow adds by itself (a failed
// retry's link to the earlier ticket); pipeline.ActorSystem is the same.
const ActorSystem = "system"

// Ticket is an escalation as a person works it: the stored ticket, its
// notes, and whether it is past due.
type Ticket struct {
	*store.Ticket
	Notes   []*store.TicketNote
	Overdue bool
}

// Gate is what the workflow needs of the pipeline: its transactions, its
// single-escalation operations (which bulk actions repeat) and its policy.
// *pipeline.Gate implements it.
type Gate interface {
	// TicketEdit runs fn in one transaction on ticket id as committed (read
	// again inside it). A non-zero version (the UpdatedAt an editor read) is
	// checked first by a conditional update: if someone changed the ticket
	// since, fn does not run and the error is an *operr.StaleError. now is
	// the time the change is stamped with, from the gate's clock.
	TicketEdit(ctx context.Context, id string, version time.Time, fn func(ctx context.Context, tx Tx, t *store.Ticket, now time.Time) error) error
	// TicketDue is how long an escalation of source's flow may stay open:
	// the flow's delivery SLA, else DefaultDue.
	TicketDue(source string) time.Duration
	// TicketRecord appends one audit entry in a transaction of its own: a
	// bulk action's summary.
	TicketRecord(ctx context.Context, e *audit.Entry) error
	// Clean masks secrets in text a person typed before it is checked or
	// stored.
	Clean(s string) string

	EscalationRetry(ctx context.Context, escID, actor string) (*store.Escalation, error)
	EscalationRerender(ctx context.Context, escID, actor string) (*store.Escalation, error)
	EscalationResolve(ctx context.Context, escID, note, actor string) (*store.Escalation, error)
	EscalationDiscard(ctx context.Context, escID, reason, actor string) (*store.Escalation, error)
}

// Tx is what a transition may do inside Gate.TicketEdit's transaction. The
// gate stamps every write with the transaction's time.
type Tx interface {
	// Update sets the ticket fields p gives.
	Update(ctx context.Context, p *store.TicketUpdateParams) error
	// Note appends a note to a ticket.
	Note(ctx context.Context, n *store.TicketNote) error
	// Audit appends an audit entry.
	Audit(ctx context.Context, e *audit.Entry) error
	// Delivery reads a delivery inside the transaction.
	Delivery(ctx context.Context, id string) (*store.Delivery, error)
	// Retry puts an escalated delivery back in the queue with a fresh
	// attempt budget; a non-nil payload replaces the one it sends.
	Retry(ctx context.Context, deliveryID string, payload []byte, actor, why string) error
}

// Reader is what the workflow reads from the store (store.Executor
// implements it).
type Reader interface {
	TicketGetByID(ctx context.Context, id string) (*store.Ticket, error)
	TicketNoteList(ctx context.Context, escalationID string) ([]*store.TicketNote, error)
	TicketList(ctx context.Context, p *store.TicketListParams) ([]*store.Ticket, error)
	EventGetByID(ctx context.Context, id string) (*store.Event, error)
	EscalationGetByID(ctx context.Context, id string) (*store.Escalation, error)
}

// Config is what a Workflow is built from; every field is required.
type Config struct {
	Gate Gate
	Read Reader
	// Clock is the gate's clock (what "overdue" is measured against).
	Clock func() time.Time
}

// Workflow runs the ticket transitions through its Gate.
type Workflow struct {
	gate  Gate
	read  Reader
	clock func() time.Time
}

// New builds a workflow.
func New(c Config) *Workflow {
	if c.Gate == nil || c.Read == nil || c.Clock == nil {
		panic("ticket: Gate, Read and Clock are required")
	}
	return &Workflow{gate: c.Gate, read: c.Read, clock: c.Clock}
}

// Opened is what a new escalation's ticket gets when it is inserted: due
// within the flow's SLA from its creation, and, when the same delivery was
// escalated before (prev, nil if not: a retry that failed again), the
// earlier ticket's owner and a note linking the two, so whoever worked the
// first failure sees the second. note is nil when there is nothing to link.
func Opened(esc *store.Escalation, prev *store.Ticket, within time.Duration) (*store.TicketUpdateParams, *store.TicketNote) {
	due := esc.CreatedAt.Add(within)
	up := &store.TicketUpdateParams{ID: esc.ID, DueAt: &due, Now: esc.UpdatedAt}
	if prev == nil {
		return up, nil
	}
	if prev.Owner != "" {
		owner := prev.Owner
		up.Owner = &owner
	}
	text := fmt.Sprintf("follows %s (%s, %s by %s): the delivery failed again", prev.ID, prev.Kind, prev.Status, orNobody(prev.Actor))
	if prev.Owner != "" {
		text += "; owner " + prev.Owner + " kept"
	}
	return up, &store.TicketNote{EscalationID: esc.ID, At: esc.CreatedAt, Actor: ActorSystem, Text: text}
}

// View fills what is derived from a stored ticket at now: a due time for
// escalations opened without one (created plus within), and whether an open
// ticket is overdue.
func View(t *store.Ticket, within time.Duration, now time.Time) *Ticket {
	if t.DueAt.IsZero() {
		t.DueAt = t.CreatedAt.Add(within)
	}
	return &Ticket{Ticket: t, Overdue: t.Status == store.EscalationOpen && now.After(t.DueAt)}
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (w *Workflow) view(t *store.Ticket) *Ticket {
	within := DefaultDue
	if t.DueAt.IsZero() {
		within = w.gate.TicketDue(t.Source)
	}
	return View(t, within, w.clock())
}

// Get returns an escalation with its ticket fields and notes.
func (w *Workflow) Get(ctx context.Context, id string) (*Ticket, error) {
	t, err := w.read.TicketGetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	notes, err := w.read.TicketNoteList(ctx, id)
	if err != nil {
		return nil, err
	}
	out := w.view(t)
	out.Notes = notes
	return out, nil
}

// List returns tickets matching p, newest first, without notes.
func (w *Workflow) List(ctx context.Context, p *store.TicketListParams) ([]*Ticket, error) {
	list, err := w.read.TicketList(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]*Ticket, len(list))
	for i, t := range list {
		out[i] = w.view(t)
	}
	return out, nil
}

// edit runs fn on ticket id in one gate transaction (on an open ticket
// when needOpen) and returns the ticket as committed.
func (w *Workflow) edit(ctx context.Context, id string, needOpen bool, version time.Time, fn func(ctx context.Context, tx Tx, t *store.Ticket, now time.Time) error) (*Ticket, error) {
	err := w.gate.TicketEdit(ctx, id, version, func(ctx context.Context, tx Tx, t *store.Ticket, now time.Time) error {
		if needOpen && t.Status != store.EscalationOpen {
			return operr.WrongState("escalation "+id, t.Status)
		}
		return fn(ctx, tx, t, now)
	})
	if err != nil {
		return nil, err
	}
	return w.Get(ctx, id)
}
