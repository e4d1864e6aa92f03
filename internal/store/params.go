package store

import (
	"fmt"
	"slices"
)

// DefaultLimit is the page size of a list whose params leave Limit zero
// (or negative).
const DefaultLimit = 100

// PageLimit is the page size a list's params ask for: limit, or
// DefaultLimit when it is not positive. Every driver pages through it, so
// the default is decided here once.
func PageLimit(limit int) int {
	if limit <= 0 {
		return DefaultLimit
	}
	return limit
}

// ParamError is a params struct that a store method refuses before it
// reaches the database; Field names the offending field.
type ParamError struct {
	Field string
	Msg   string
}

func (e *ParamError) Error() string { return "store params: " + e.Field + ": " + e.Msg }

// oneOf checks an optional enumerated field: empty, or one of allowed.
func oneOf[S ~string](field string, v S, allowed ...S) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return &ParamError{Field: field, Msg: fmt.Sprintf("%q is not one of %v", v, allowed)}
}

// required checks a field the query cannot do without.
func required(field, v string) error {
	if v == "" {
		return &ParamError{Field: field, Msg: "required"}
	}
	return nil
}

// EscalationStatuses lists every escalation status.
var EscalationStatuses = []string{EscalationOpen, EscalationResolved, EscalationDiscarded}

// ReconciliationStatuses lists every reconciliation status.
var ReconciliationStatuses = []string{ReconciliationOpen, ReconciliationResolved}

// Validate checks p before EscalationList runs it.
func (p *EscalationListParams) Validate() error {
	return oneOf("Status", p.Status, EscalationStatuses...)
}

// Validate checks p before ReconciliationList runs it.
func (p *ReconciliationListParams) Validate() error {
	return oneOf("Status", p.Status, ReconciliationStatuses...)
}

// Validate checks p before IdentityPut writes it.
func (p *IdentityPutParams) Validate() error {
	return required("Destination", p.Destination)
}

// Validate checks p before IdentityList runs it.
func (p *IdentityListParams) Validate() error {
	return required("Destination", p.Destination)
}

// Validate checks p before SLABreachList runs it.
func (p *SLABreachListParams) Validate() error {
	return oneOf("Status", p.Status, "open", "resolved", "all")
}

// Validate checks p before SLABreachUpdate runs it.
func (p *SLABreachUpdateParams) Validate() error { return required("Key", p.Key) }

// Validate checks p before SLABreachResolve runs it.
func (p *SLABreachResolveParams) Validate() error { return required("Key", p.Key) }

// Validate checks p before AlertCursorAdvance runs it.
func (p *AlertCursorAdvanceParams) Validate() error { return required("Name", p.Name) }

// Validate checks p before TicketList runs it.
func (p *TicketListParams) Validate() error {
	return oneOf("Status", p.Status, EscalationStatuses...)
}

// Validate checks p before TicketUpdate runs it.
func (p *TicketUpdateParams) Validate() error { return required("ID", p.ID) }

// Validate checks p before EscalationGroupList runs it.
func (p *EscalationGroupListParams) Validate() error {
	return oneOf("Status", p.Status, EscalationStatuses...)
}

// SearchDefaultLimit is the page size of an event search whose params
// leave Limit zero: a console page.
const SearchDefaultLimit = 50

// PageLimit is the page size p asks for (SearchDefaultLimit by default).
func (p *EventSearchParams) PageLimit() int {
	if p.Limit <= 0 {
		return SearchDefaultLimit
	}
	return p.Limit
}

// Validate checks p before EventRecordPut writes it.
func (p *EventRecordPutParams) Validate() error {
	if err := required("ID", p.ID); err != nil {
		return err
	}
	return oneOf("State", p.State, EventStates...)
}

// Validate checks p before DeliveryPayloadPut writes it.
func (p *DeliveryPayloadPutParams) Validate() error {
	if err := required("ID", p.ID); err != nil {
		return err
	}
	for _, s := range p.States {
		if err := oneOf("States", s, DeliveryStates...); err != nil {
			return err
		}
	}
	return nil
}
