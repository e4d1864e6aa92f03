package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// SLAStore is the optional capability the SLA watcher (control.SLAWatcher)
// and GET /v1/sla need: queue ages per flow and destination, the open-item
// list of breaches, and cursors that let several instances agree on what
// has been alerted. It is not part of Executor; callers find it with a type
// assertion on Driver.Executor(), and both drivers implement it.
//
// Agreement between instances rests on two rules: at most one breach per
// key is open at a time (SLABreachOpen reports whether this call opened
// it, SLABreachResolve whether this call resolved it), and a cursor only
// moves by compare-and-set (AlertCursorAdvance). The caller that wins
// sends the alert; the others stay quiet.
type SLAStore interface {
	// EventAgeByFlow counts the events in one state (delivering or held)
	// of each of p.Names (flows), with the oldest received_at of each.
	// Names with no such event are left out. The cost is per name and
	// bounded by p.CountLimit, not by the number of events (ADR 0039).
	EventAgeByFlow(ctx context.Context, p *QueueAgeParams) ([]*QueueAge, error)
	// DeliveryAgeByDestination counts the pending deliveries of each of
	// p.Names (destinations), with the oldest created_at and the earliest
	// next_at of each; p.State must be empty.
	DeliveryAgeByDestination(ctx context.Context, p *QueueAgeParams) ([]*QueueAge, error)
	// EscalationListCreated returns escalations (any status) whose ID is
	// after AfterID and before BeforeID, oldest first. IDs are
	// time-ordered, so this pages through escalations in creation order.
	EscalationListCreated(ctx context.Context, p *EscalationListCreatedParams) ([]*Escalation, error)

	// SLABreachOpen inserts b as open unless a breach with its key is open
	// already; opened says whether this call opened it.
	SLABreachOpen(ctx context.Context, b *SLABreach) (opened bool, err error)
	// SLABreachUpdate replaces the details of the open breach of a key.
	SLABreachUpdate(ctx context.Context, p *SLABreachUpdateParams) error
	// SLABreachResolve closes the open breach of a key; resolved says
	// whether this call closed it (false: none was open).
	SLABreachResolve(ctx context.Context, p *SLABreachResolveParams) (resolved bool, err error)
	// SLABreachList lists breaches, newest first.
	SLABreachList(ctx context.Context, p *SLABreachListParams) ([]*SLABreach, error)

	// AlertCursorGet returns a named cursor's value; ErrNotFound if unset.
	AlertCursorGet(ctx context.Context, name string) (string, error)
	// AlertCursorAdvance sets a cursor to `to` if it still holds `from`
	// ("" meaning unset) and reports whether it did.
	AlertCursorAdvance(ctx context.Context, p *AlertCursorAdvanceParams) (bool, error)
}

// QueueAgeParams says which queues EventAgeByFlow and
// DeliveryAgeByDestination read and how far they count.
type QueueAgeParams struct {
	// State of the events: EventDelivering or EventHeld (events only).
	State EventState
	// Names are the flows or destinations to read, usually all of the
	// config plan's. Items of other names are not read.
	Names []string
	// CountLimit stops each count at this many (QueueAge.Capped then
	// says the count is a lower bound); 0 counts everything, at a cost
	// that grows with the queue.
	CountLimit int64
}

// Validate checks the params.
func (p *QueueAgeParams) Validate() error {
	if p == nil {
		return fmt.Errorf("queue age params: missing")
	}
	if p.CountLimit < 0 {
		return fmt.Errorf("count_limit %d: must not be negative", p.CountLimit)
	}
	return nil
}

// QueueAge is how many items of one flow or destination wait, and since
// when.
type QueueAge struct {
	// Name is the flow (EventAgeByFlow) or destination.
	Name  string
	Count int64
	// Capped: counting stopped at QueueAgeParams.CountLimit, so there are
	// at least Count items.
	Capped bool
	// Oldest is the earliest received_at (events: the received_at of the
	// first by ID, which begins with the time received; ADR 0047) or
	// created_at (deliveries).
	Oldest time.Time
	// NextAt is the earliest next_at (deliveries only).
	NextAt time.Time
}

// SLABreach is one open (or, in history, resolved) item of the control
// layer: an SLA threshold crossed, or a destination paused.
type SLABreach struct {
	ID string
	// Key identifies what is breached: "sla:leads:delivery",
	// "sla:crm:queue_age", "destination_paused:crm". At most one open
	// breach per key.
	Key string
	// Kind is deliver_within, hold_within, queue_age, queue_depth or
	// destination_paused.
	Kind string
	// Subject is the flow or destination.
	Subject string
	// Details is JSON: the measurements and the threshold.
	Details    json.RawMessage
	OpenedAt   time.Time
	UpdatedAt  time.Time
	ResolvedAt time.Time // zero while open
}

// SLABreachListParams filters SLABreachList.
type SLABreachListParams struct {
	// Status is "open" (default), "resolved" or "all".
	Status string
	Limit  int // default 100
}

// SLABreachUpdateParams replaces the details of the open breach of Key.
type SLABreachUpdateParams struct {
	Key     string // required
	Details json.RawMessage
	Now     time.Time
}

// SLABreachResolveParams closes the open breach of Key.
type SLABreachResolveParams struct {
	Key string // required
	Now time.Time
}

// AlertCursorAdvanceParams moves a named cursor by compare-and-set.
type AlertCursorAdvanceParams struct {
	Name string // required
	From string // the value the caller read; "" when the cursor was unset
	To   string
	Now  time.Time
}

// EscalationListCreatedParams pages escalations in creation order.
type EscalationListCreatedParams struct {
	AfterID  string
	BeforeID string // empty: no upper bound
	Limit    int    // default 100
}
