// Package store is the persistence seam of Sluice. Everything above it talks
// to a Driver and its Executor; nothing above it knows which database is
// behind. The shape follows riverqueue/river's riverdriver: a Driver for
// capabilities, an Executor for every query (entity-then-verb methods taking
// params structs), an ExecutorTx that adds Commit and Rollback. Drivers live
// in storesqlite and storepg; the queries that read and write alike on both
// are written once in sqlstore, over a small Dialect (see
// docs/adr/0011-one-sql-over-a-dialect.md); storetest is the conformance
// suite both pass.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// ErrNotFound is returned when the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrStale is returned by an update made conditional on the version the
// caller read (IfUpdatedAt) when the row has changed since: someone else
// wrote it first. The check is part of the UPDATE statement, so it holds
// inside the transaction on every driver.
var ErrStale = errors.New("changed since it was read")

// ErrNotCommitted marks a commit that failed before the database was asked
// to commit: nothing of the transaction persisted, and the failure may
// belong to any one of its units (a driver that sends some writes only at
// commit, as storepg does, reports their failure there). The Committer
// then re-runs the batch one unit per transaction, as for a unit's error.
var ErrNotCommitted = errors.New("transaction rolled back before its commit")

// ErrClosed is returned by a Committer that has been closed.
var ErrClosed = errors.New("store closed")

// EventState is where the gate put an event. Every accepted event is in
// exactly one of the EventStates; they are defined here once, and every
// package that names or checks a state uses these constants and
// IsEventState. It is a distinct type, so an event's state cannot be given
// a delivery's (or any other string) by mistake; text from outside (a
// query string, a CLI flag) becomes one through ParseEventState.
type EventState string

// Event states.
const (
	EventRejected   EventState = "rejected"
	EventHeld       EventState = "held"
	EventDelivering EventState = "delivering"
	EventDelivered  EventState = "delivered"
	EventEscalated  EventState = "escalated"
	EventDiscarded  EventState = "discarded"
)

// EventStates lists every event state, in lifecycle order.
var EventStates = []EventState{EventRejected, EventHeld, EventDelivering, EventDelivered, EventEscalated, EventDiscarded}

// IsEventState reports whether s names an event state.
func IsEventState(s string) bool {
	_, ok := ParseEventState(s)
	return ok
}

// ParseEventState returns the event state s names; ok is false when it
// names none.
func ParseEventState(s string) (EventState, bool) {
	for _, st := range EventStates {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// DeliveryState is where one delivery is in its lifecycle; defined here
// once, and distinct, like EventState.
type DeliveryState string

// Delivery states.
const (
	// DeliveryWaiting: the route runs `after` another that has not succeeded yet.
	DeliveryWaiting DeliveryState = "waiting"
	// DeliveryPending: ready to be claimed once next_at has passed.
	DeliveryPending DeliveryState = "pending"
	// DeliveryInflight: claimed by a worker holding a lease.
	DeliveryInflight DeliveryState = "inflight"
	// DeliverySucceeded: confirmed by the destination.
	DeliverySucceeded DeliveryState = "succeeded"
	// DeliveryEscalated: failed for good; an escalation names why.
	DeliveryEscalated DeliveryState = "escalated"
	// DeliveryCancelled: will not run because a route it depends on failed
	// or its event was discarded.
	DeliveryCancelled DeliveryState = "cancelled"
)

// DeliveryStates lists every delivery state, in lifecycle order.
var DeliveryStates = []DeliveryState{DeliveryWaiting, DeliveryPending, DeliveryInflight, DeliverySucceeded, DeliveryEscalated, DeliveryCancelled}

// IsDeliveryState reports whether s names a delivery state.
func IsDeliveryState(s string) bool {
	_, ok := ParseDeliveryState(s)
	return ok
}

// ParseDeliveryState returns the delivery state s names; ok is false when
// it names none.
func ParseDeliveryState(s string) (DeliveryState, bool) {
	for _, st := range DeliveryStates {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// Strings gives states as plain strings, for a driver's query arguments
// (a PostgreSQL array, an IN list).
func Strings[S ~string](states []S) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// Escalation statuses.
const (
	EscalationOpen      = "open"
	EscalationResolved  = "resolved"
	EscalationDiscarded = "discarded"
)

// Reconciliation statuses.
const (
	ReconciliationOpen     = "open"
	ReconciliationResolved = "resolved"
)

// Reconciliation is the task opened when an event's routes partly
// succeeded and partly failed for good: the record now exists in some
// systems and not in others, which someone (a retry or a person) must settle.
type Reconciliation struct {
	ID      string
	EventID string
	Status  string
	// Summary says what is where: JSON of pipeline.ReconciliationSummary.
	Summary   json.RawMessage
	Actor     string
	Note      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Event is one captured trigger and where the gate put it.
type Event struct {
	ID          string
	Source      string
	Flow        string
	IdemKey     string // empty when the sender gave none
	RecordKey   string
	State       EventState
	ContentType string
	Raw         []byte
	Canonical   json.RawMessage // normalized record; nil when rejected before normalization
	Problems    json.RawMessage // [{field,message}] when rejected
	Missing     json.RawMessage // [field] when held
	HoldUntil   time.Time       // zero unless held
	// ConfigVersion is the content hash of the config that captured the
	// event (config.Version); empty for events captured before versions
	// were recorded.
	ConfigVersion string
	// Operation is what the event asks of its destinations: OpUpsert (the
	// record was created or changed) or OpDelete (it was deleted at its
	// source).
	Operation  string
	ReceivedAt time.Time
	UpdatedAt  time.Time
}

// Operations an event (and each of its deliveries) carries. An upsert is
// the zero value, so every event stored before operations existed is one.
const (
	// OpUpsert creates or updates the record in the destination.
	OpUpsert = ""
	// OpDelete removes it there (HubSpot archive, Notion trash, Airtable
	// or SQL delete).
	OpDelete = "delete"
)

// Delivery is one route's write of one event to one destination.
type Delivery struct {
	ID          string
	Seq         int64 // assigned by the store; orders writes of one key
	EventID     string
	Route       string
	Destination string
	RecordKey   string
	State       DeliveryState
	After       []string        // routes that must succeed first
	Payload     json.RawMessage // the record mapped to the destination's format
	Attempts    int
	NextAt      time.Time
	LeaseOwner  string
	LeaseUntil  time.Time
	Ambiguous   bool // an earlier attempt may have been applied
	ExternalID  string
	LastStatus  int
	LastError   string
	// Fallback is the destination that receives a copy while this one's
	// circuit is open; FallbackID is that copy, once made. FallbackFor is
	// set on a copy: the primary delivery it stands in for.
	Fallback    string
	FallbackID  string
	FallbackFor string
	// Operation is the event's (OpUpsert or OpDelete).
	Operation string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Identity is the identity map's external ID for Destination and
	// RecordKey ("" if none), read by DeliveryClaim in the statement that
	// leases the delivery, so the engine needs no look-up of its own before
	// sending. It is not a column: other reads leave it empty and
	// DeliveryUpdate ignores it.
	Identity string
}

// Escalation is an item in the inbox of things automation could not settle.
type Escalation struct {
	ID         string
	EventID    string
	DeliveryID string // empty for event-level escalations (hold expiry)
	Kind       string // retries_exhausted, permanent_error, hold_expired, ...
	Reason     string
	LastError  string
	LastStatus int
	Status     string
	Actor      string // who resolved or discarded it
	Note       string
	// GroupID names the failure group: escalations with the same
	// destination, kind, platform status and platform code share it (see
	// pipeline.GroupKey), so sixty identical refusals are one matter.
	GroupID string
	// Code is the platform's own error code, when it gave one.
	Code      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AuditEntry is one line of the audit log; the type is owned by package
// audit (a leaf), which also hashes and verifies the chain.
type AuditEntry = audit.Entry

// HookToken is a verification token a platform sent to a source: the
// operator pastes it back into the platform and into the source's
// platform.secrets. It is a signing key: shown only to admins.
type HookToken struct {
	Source     string    `json:"source"`
	Platform   string    `json:"platform"`
	Token      string    `json:"token"`
	ReceivedAt time.Time `json:"received_at"`
}

// SyncBaseline is a record's version in a polled destination at the last
// moment Sluice knew both sides agreed: when a change polled from there was
// delivered to the other side. Conflict review compares the destination's
// current version with it, so a change made on both sides since is caught
// even on a side Sluice never wrote to.
type SyncBaseline struct {
	Destination string
	RecordKey   string
	ExternalID  string
	Fields      json.RawMessage // the platform's fields at that version
	SyncedAt    time.Time
}

// Identity links a record key to its ID in one destination.
type Identity struct {
	Destination string
	RecordKey   string
	ExternalID  string
	UpdatedAt   time.Time
}

// DestinationState is the operator-visible switch of one destination.
type DestinationState struct {
	Name      string
	Paused    bool
	Reason    string
	UpdatedAt time.Time
}

// Driver opens executors and declares what its database can do.
type Driver interface {
	// Executor runs single statements outside an explicit transaction.
	Executor() Executor
	// Begin starts a write transaction.
	Begin(ctx context.Context) (ExecutorTx, error)
	// Name is the dialect, for logs and `sluice stats`.
	Name() string
	// SupportsSkipLocked is true when several processes may claim work
	// concurrently (PostgreSQL); false means one writer at a time (SQLite).
	SupportsSkipLocked() bool
	Close() error
}

// ExecutorTx is an Executor inside a transaction.
type ExecutorTx interface {
	Executor
	Commit() error
	Rollback() error
}

// Executor is every query Sluice runs. Every driver implements all of it;
// the groups of methods that serve one feature are declared as their own
// interfaces (SLAStore, ReplayStore, RetentionStore, TicketStore) for
// documentation and for consumers that need only that group. Capabilities
// that truly differ between databases stay optional, found on the Driver
// by type assertion: Elector, Notifier, Instances.
type Executor interface {
	SLAStore
	ReplayStore
	RetentionStore
	TicketStore
	BaselineStore
	GroupStore
	NoticeStore
	SweepStore
	PollIdentityStore

	// EventInsert inserts e unless an event with the same source and
	// idempotency key exists; then it returns that event's ID and
	// inserted=false.
	EventInsert(ctx context.Context, e *Event) (existingID string, inserted bool, err error)
	EventGetByID(ctx context.Context, id string) (*Event, error)
	// EventStateGet is an event's state alone: settling a delivery needs
	// only that, not the body and record EventGetByID reads.
	EventStateGet(ctx context.Context, id string) (EventState, error)
	// EventList returns summaries, newest first: Raw and Canonical are
	// left empty (each may be a megabyte; a page of them would hold a
	// gigabyte in memory). EventGetByID loads one whole event.
	EventList(ctx context.Context, p *EventListParams) ([]*Event, error)
	EventUpdate(ctx context.Context, p *EventUpdateParams) error
	EventListHeldByKey(ctx context.Context, flow, recordKey string) ([]*Event, error)
	EventListHoldExpired(ctx context.Context, now time.Time, limit int) ([]*Event, error)
	EventCountByState(ctx context.Context) (map[string]int64, error)

	DeliveryInsert(ctx context.Context, d *Delivery) error
	DeliveryGetByID(ctx context.Context, id string) (*Delivery, error)
	// DeliveryListByEvent inside a transaction also serializes on the
	// event: a second transaction listing the same event's deliveries waits
	// for the first to end and then sees its writes, so two instances
	// settling sibling deliveries cannot each miss the other's (ADR 0037).
	// PostgreSQL takes the event row's lock; SQLite has one writer.
	DeliveryListByEvent(ctx context.Context, eventID string) ([]*Delivery, error)
	// DeliveryClaim leases up to Limit ready deliveries of one destination,
	// oldest first, skipping any whose record key has an earlier unfinished
	// delivery to the same destination (per-key ordering). Each comes with
	// its Identity, read with the same snapshot as the per-key check: the
	// identity written by the key's previous delivery, which that check saw
	// finished, is in it.
	DeliveryClaim(ctx context.Context, p *DeliveryClaimParams) ([]*Delivery, error)
	// DeliveryUpdate writes the mutable fields of d.
	DeliveryUpdate(ctx context.Context, d *Delivery) error
	// DeliveryListLeaseExpired returns in-flight deliveries whose lease ran out.
	DeliveryListLeaseExpired(ctx context.Context, now time.Time, limit int) ([]*Delivery, error)
	DeliveryCountByState(ctx context.Context) (map[string]int64, error)
	// DeliveryListNeedingFallback returns pending deliveries of a
	// destination that have a fallback configured and no copy yet, oldest
	// first.
	DeliveryListNeedingFallback(ctx context.Context, destination string, limit int) ([]*Delivery, error)
	// DeliveryNextReady is the earliest next_at among pending deliveries of
	// a destination, zero if none; workers sleep until then.
	DeliveryNextReady(ctx context.Context, destination string) (time.Time, error)

	IdentityGet(ctx context.Context, destination, recordKey string) (string, error)
	// IdentityList pages through a destination's identity map in record-key
	// order.
	IdentityList(ctx context.Context, p *IdentityListParams) ([]*Identity, error)
	// DeliveryLatestSucceeded is the last confirmed primary (non-fallback)
	// delivery of a record key to a destination: what Sluice last wrote.
	DeliveryLatestSucceeded(ctx context.Context, destination, recordKey string) (*Delivery, error)
	// IdentityPut links a record key to its ID in a destination, stamped
	// with p.Now (the caller's clock; drivers never read the wall clock).
	IdentityPut(ctx context.Context, p *IdentityPutParams) error
	// IdentityGetByExternalID is the record key Sluice wrote to a
	// destination under externalID; ErrNotFound if Sluice never did. Polls
	// use it to recognise their own writes coming back.
	IdentityGetByExternalID(ctx context.Context, destination, externalID string) (string, error)

	// PollCursorGet is a poll source's committed position (opaque JSON);
	// ErrNotFound before its first capture.
	PollCursorGet(ctx context.Context, source string) (string, error)
	// PollCursorPut moves a poll source's position; callers do it in the
	// transaction that captures the records it covers.
	PollCursorPut(ctx context.Context, source, cursor string, now time.Time) error
	// HookTokenAdd keeps a verification token a platform sent to a source
	// (Notion's handshake); the same token again is a no-op. Tokens are
	// never replaced: a stranger's handshake cannot hide the real one.
	HookTokenAdd(ctx context.Context, t *HookToken) error
	// HookTokenList is every token a source received, newest first.
	HookTokenList(ctx context.Context, source string) ([]HookToken, error)
	// DeliveryInFlight reports whether a delivery of recordKey to
	// destination is in flight: sent, or about to be, and not yet settled.
	DeliveryInFlight(ctx context.Context, destination, recordKey string) (bool, error)
	// DeliveryListWritesSince is every primary (non-fallback) delivery of
	// recordKey to destination whose write a read begun at since may show:
	// the last one confirmed before since, those confirmed at or after it,
	// and those not settled yet (waiting, pending, in flight: an attempt
	// may have been applied without an answer, like a write the platform
	// kept and answered with a 500). Oldest first, at most 100. A poll
	// compares what it read with them.
	DeliveryListWritesSince(ctx context.Context, destination, recordKey string, since time.Time) ([]*Delivery, error)
	// SyncBaselineGet is the version of a record Sluice last knew to be in
	// sync in a destination it also polls; ErrNotFound if none.
	SyncBaselineGet(ctx context.Context, destination, recordKey string) (*SyncBaseline, error)
	// SyncBaselinePut records a sync point (replacing the previous one).
	SyncBaselinePut(ctx context.Context, b *SyncBaseline) error

	EscalationInsert(ctx context.Context, e *Escalation) error
	EscalationGetByID(ctx context.Context, id string) (*Escalation, error)
	EscalationList(ctx context.Context, p *EscalationListParams) ([]*Escalation, error)
	EscalationUpdate(ctx context.Context, e *Escalation) error

	// AuditAppend chains e to the last entry and stores it.
	AuditAppend(ctx context.Context, e *AuditEntry) error
	AuditListByEvent(ctx context.Context, eventID string) ([]*AuditEntry, error)
	// AuditScan calls fn for every entry in order, for verification.
	AuditScan(ctx context.Context, afterSeq int64, fn func(*AuditEntry) error) error

	ReconciliationInsert(ctx context.Context, r *Reconciliation) error
	ReconciliationGetByID(ctx context.Context, id string) (*Reconciliation, error)
	ReconciliationList(ctx context.Context, p *ReconciliationListParams) ([]*Reconciliation, error)
	ReconciliationUpdate(ctx context.Context, r *Reconciliation) error

	DestinationStateGet(ctx context.Context, name string) (*DestinationState, error)
	DestinationStatePut(ctx context.Context, s *DestinationState) error
}

// EventListParams filters EventList. Zero fields do not filter.
type EventListParams struct {
	State  EventState
	Source string
	// BeforeID pages backwards: only events with ID < BeforeID (IDs are
	// time-ordered ULIDs).
	BeforeID string
	Limit    int // default 100
}

// EventUpdateParams changes an event's state and, when non-nil, its record.
type EventUpdateParams struct {
	ID        string
	State     EventState
	Canonical json.RawMessage
	Missing   json.RawMessage
	RecordKey *string
	HoldUntil *time.Time
	Now       time.Time
	// IfUpdatedAt, when set, makes the update conditional: it changes the
	// event only if its updated_at is still this (the version an editor
	// read), and fails with ErrStale otherwise.
	IfUpdatedAt time.Time
}

// DeliveryClaimParams leases ready work.
type DeliveryClaimParams struct {
	Destination string
	Owner       string
	Now         time.Time
	LeaseUntil  time.Time
	Limit       int
}

// IdentityPutParams is one identity map entry to write.
type IdentityPutParams struct {
	Destination string
	RecordKey   string
	ExternalID  string
	Now         time.Time
}

// IdentityListParams pages through one destination's identity map.
type IdentityListParams struct {
	Destination string // required
	AfterKey    string // only record keys after this one; empty: from the start
	Limit       int    // default DefaultLimit
}

// EscalationListParams filters EscalationList.
type EscalationListParams struct {
	Status  string
	EventID string
	Limit   int
}

// ReconciliationListParams filters ReconciliationList.
type ReconciliationListParams struct {
	Status  string
	EventID string
	Limit   int
}
