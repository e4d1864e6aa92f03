package api

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

// Pipeline is every state change the admin API can ask for: each handler
// that changes something calls exactly one of these (*pipeline.Gate
// implements it), so the API never writes to the store itself.
type Pipeline interface {
	// Now is the gate's clock (what "overdue" is measured against).
	Now() time.Time
	// Plan is the compiled config in force: which fields are sensitive.
	Plan() *pipeline.Plan

	EventDiscard(ctx context.Context, eventID, reason, actor string) (*store.Event, error)
	HoldPatch(ctx context.Context, eventID string, fields map[string]any, actor string) (*store.Event, error)
	HoldRelease(ctx context.Context, eventID, actor string) (*store.Event, error)
	HoldsBulk(ctx context.Context, p pipeline.HoldsBulkParams) (*pipeline.HoldsBulkResult, error)
	EventResubmit(ctx context.Context, eventID string, fields map[string]any, actor string) (*store.Event, error)

	EscalationRetry(ctx context.Context, escID, actor string) (*store.Escalation, error)
	EscalationResolve(ctx context.Context, escID, note, actor string) (*store.Escalation, error)
	EscalationDiscard(ctx context.Context, escID, reason, actor string) (*store.Escalation, error)

	ReconciliationRetry(ctx context.Context, recID, actor string) (*store.Reconciliation, error)
	ReconciliationResolve(ctx context.Context, recID, note, actor string) (*store.Reconciliation, error)

	EscalationGroupList(ctx context.Context, p store.EscalationGroupListParams) ([]*pipeline.EscalationGroup, error)
	EscalationGroupGet(ctx context.Context, id, status string) (*pipeline.EscalationGroup, error)
	EscalationRerender(ctx context.Context, escID, actor string) (*store.Escalation, error)

	Replay(ctx context.Context, p pipeline.ReplayParams) (*pipeline.ReplayResult, error)
	DestinationSetPaused(ctx context.Context, name string, paused bool, actor, reason string) (*store.DestinationState, error)
}

// Tickets is the escalation ticket workflow (*ticket.Workflow implements
// it); its changes run through the gate too.
type Tickets interface {
	Get(ctx context.Context, id string) (*ticket.Ticket, error)
	List(ctx context.Context, p *store.TicketListParams) ([]*ticket.Ticket, error)
	Assign(ctx context.Context, id, owner, actor string) (*ticket.Ticket, error)
	Acknowledge(ctx context.Context, id, actor string) (*ticket.Ticket, error)
	AddNote(ctx context.Context, id, text, actor string) (*ticket.Ticket, error)
	PatchRetry(ctx context.Context, id string, fields map[string]any, actor string) (*ticket.Ticket, error)
	Bulk(ctx context.Context, p ticket.BulkParams) (*ticket.BulkResult, error)
}

// Reader is everything the admin API reads from the store (store.Executor
// implements it). The audit log port lets it verify the chain.
type Reader interface {
	audit.Log
	EventList(ctx context.Context, p *store.EventListParams) ([]*store.Event, error)
	HookTokenList(ctx context.Context, source string) ([]store.HookToken, error)
	HookNoticeList(ctx context.Context, p *store.HookNoticeListParams) ([]*store.HookNotice, error)
	EventGetByID(ctx context.Context, id string) (*store.Event, error)
	EventCountByState(ctx context.Context) (map[string]int64, error)
	DeliveryListByEvent(ctx context.Context, eventID string) ([]*store.Delivery, error)
	DeliveryCountByState(ctx context.Context) (map[string]int64, error)
	EscalationList(ctx context.Context, p *store.EscalationListParams) ([]*store.Escalation, error)
	EscalationGetByID(ctx context.Context, id string) (*store.Escalation, error)
	ReconciliationList(ctx context.Context, p *store.ReconciliationListParams) ([]*store.Reconciliation, error)
	ReconciliationGetByID(ctx context.Context, id string) (*store.Reconciliation, error)
	AuditListByEvent(ctx context.Context, eventID string) ([]*store.AuditEntry, error)
	DestinationStateGet(ctx context.Context, name string) (*store.DestinationState, error)
	SLABreachList(ctx context.Context, p *store.SLABreachListParams) ([]*store.SLABreach, error)
}

var (
	_ Pipeline = (*pipeline.Gate)(nil)
	_ Tickets  = (*ticket.Workflow)(nil)
	_ Reader   = store.Executor(nil)
)
