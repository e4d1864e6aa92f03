package store

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// RetentionStore is the capability behind retention (see
// docs/adr/0004-retention.md): deleting old finished events in batches, and
// deleting the oldest audit entries without breaking the hash chain, by
// recording where the remaining chain starts. Both drivers' executors (and
// so their transactions) implement it, found by type assertion. Each method
// does one batch and should run in a transaction of its own.
type RetentionStore interface {
	// EventPrune deletes up to p.Limit events in one of p.States whose
	// last change is before p.UpdatedBefore, together with their
	// deliveries, escalations (and their notes) and reconciliations. An
	// event is skipped while any of its deliveries is unfinished (waiting,
	// pending, in flight) or it has an open escalation or reconciliation,
	// and (PostgreSQL) while another transaction holds its row. Audit
	// entries are left alone: AuditPrune removes them.
	EventPrune(ctx context.Context, p *EventPruneParams) (*PruneResult, error)
	// AuditPrune deletes up to p.Limit of the oldest audit entries, in
	// sequence order, stopping before the first entry that is at or after
	// p.Before, that belongs to an event still stored (whose trail must
	// stay complete), or that is the newest entry (the chain's head, which
	// the next append links to). It records the last deleted entry as the
	// new checkpoint and returns it; a nil checkpoint means nothing was
	// deleted.
	AuditPrune(ctx context.Context, p *AuditPruneParams) (*AuditCheckpoint, int, error)
	// AuditCheckpointGet returns the latest checkpoint, or nil when no
	// audit entry was ever deleted.
	AuditCheckpointGet(ctx context.Context) (*AuditCheckpoint, error)
}

// EventPruneParams selects events to delete.
type EventPruneParams struct {
	States        []EventState
	UpdatedBefore time.Time
	// BeforeID, when set, is an upper bound on event IDs (IDs sort by
	// arrival time), so the search is a bounded index range. It must not
	// exclude any event that UpdatedBefore selects.
	BeforeID string
	Limit    int
}

// PruneResult counts what one EventPrune batch deleted.
type PruneResult struct {
	Events          int
	Deliveries      int
	Escalations     int
	Reconciliations int
	// OldestID and NewestID are the deleted events' ID range, for the
	// audit entry that records the batch.
	OldestID, NewestID string
}

// AuditPruneParams selects audit entries to delete.
type AuditPruneParams struct {
	Before time.Time
	Limit  int
	// Now stamps the checkpoint.
	Now time.Time
}

// AuditCheckpoint is where the remaining audit chain starts (see
// audit.Checkpoint).
type AuditCheckpoint = audit.Checkpoint
