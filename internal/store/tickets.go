package store

import (
	"context"
	"time"
)

// Ticket is an escalation seen as a unit of work for a person: who owns it,
// whether someone has picked it up, by when it should be settled. It is the
// escalation row with its ticket columns; Source and Destination come from
// the escalation's event and delivery (Destination is empty for an
// event-level escalation such as hold_expired).
type Ticket struct {
	Escalation
	Owner          string    // empty while nobody owns it
	AcknowledgedAt time.Time // zero until acknowledged
	AcknowledgedBy string
	// DueAt is when the matter should be settled: created_at plus the
	// flow's delivery SLA, or plus a default. Zero for escalations opened by
	// code that did not stamp it.
	DueAt       time.Time
	Source      string
	Destination string
}

// TicketNote is one entry of a ticket's append-only conversation.
type TicketNote struct {
	Seq          int64 // assigned by the store
	EscalationID string
	At           time.Time
	Actor        string
	Text         string
}

// TicketStore is the capability behind escalation tickets. It is separate
// from Executor so that the ticket layer can grow without every driver
// method set changing at once; both drivers' executors (and so their
// transactions) implement it, found by type assertion.
type TicketStore interface {
	TicketGetByID(ctx context.Context, id string) (*Ticket, error)
	// TicketList returns tickets matching p, newest first.
	TicketList(ctx context.Context, p *TicketListParams) ([]*Ticket, error)
	// TicketUpdate sets the ticket fields p gives (nil fields are left as
	// they are) and updated_at.
	TicketUpdate(ctx context.Context, p *TicketUpdateParams) error
	// TicketNoteInsert appends a note; notes are never changed or removed.
	TicketNoteInsert(ctx context.Context, n *TicketNote) error
	// TicketNoteList returns a ticket's notes, oldest first.
	TicketNoteList(ctx context.Context, escalationID string) ([]*TicketNote, error)
}

// TicketListParams filters TicketList. Zero fields do not filter.
type TicketListParams struct {
	Status      string
	Kind        string
	Destination string // the escalated delivery's destination
	Source      string // the event's source
	Owner       string
	EventID     string
	DeliveryID  string
	GroupID     string // the failure group (Escalation.GroupID)
	// CreatedAfter is inclusive, CreatedBefore exclusive.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// DueBefore selects tickets due before this time (overdue ones, with
	// Status open and the current time); tickets without a due time never
	// match.
	DueBefore time.Time
	// BeforeID pages backwards: only tickets with ID < BeforeID.
	BeforeID string
	Limit    int // default 100
}

// TicketUpdateParams changes the ticket fields of one escalation.
type TicketUpdateParams struct {
	ID             string
	Owner          *string
	AcknowledgedAt *time.Time // a zero time clears it
	AcknowledgedBy *string
	DueAt          *time.Time
	Now            time.Time
	// IfUpdatedAt, when set, makes the update conditional on the ticket's
	// updated_at still being this (the version an editor read); otherwise
	// nothing changes and the error is ErrStale.
	IfUpdatedAt time.Time
}
