package store

import (
	"context"
	"time"
)

// EscalationGroup is one set of identical failures: the escalations that
// share a GroupID (same destination, kind, platform status and platform
// code), counted, with when the first was opened and the last one
// changed. A person works the group at once instead of each record.
type EscalationGroup struct {
	ID          string
	Destination string // empty for event-level escalations (hold_expired)
	Kind        string
	LastStatus  int
	Code        string
	Count       int
	FirstSeen   time.Time // the oldest member's created_at
	LastSeen    time.Time // the newest updated_at among members
	// NewestID is the most recently opened member, whose error stands for
	// the group.
	NewestID string
}

// GroupStore is the capability behind failure groups. Both drivers'
// executors implement it.
type GroupStore interface {
	// EscalationGroupList returns the groups of the escalations matching p,
	// largest first (ties by ID).
	EscalationGroupList(ctx context.Context, p *EscalationGroupListParams) ([]*EscalationGroup, error)
}

// EscalationGroupListParams filters EscalationGroupList. Zero fields do
// not filter.
type EscalationGroupListParams struct {
	Status      string // escalation status; the API defaults it to open
	Destination string
	Kind        string
	GroupID     string
	Limit       int // default 100
}
