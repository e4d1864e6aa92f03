package store

import (
	"context"
	"encoding/json"
	"time"
)

// ReplayStore is the capability replay needs: selecting events by what an
// operator filters on, and rewriting an event's judged record in place (a
// replay re-judges an event; it never inserts a second one). Both drivers'
// executors implement it, found by type assertion.
type ReplayStore interface {
	// EventListForReplay returns events matching p in ID (arrival) order.
	EventListForReplay(ctx context.Context, p *EventReplayListParams) ([]*Event, error)
	// EventRecordPut replaces an event's state and everything the gate
	// derived from its payload: record, problems, missing fields, record
	// key and hold deadline.
	EventRecordPut(ctx context.Context, p *EventRecordPutParams) error
	// DeliveryPayloadPut replaces a delivery's payload (a re-render with
	// the current config) only while the delivery is in one of p.States,
	// and reports whether it did. The state check is part of the UPDATE, so
	// a delivery a worker claimed meanwhile (in flight, its old payload
	// already on the wire) is never changed under it: the caller sees
	// false and leaves it alone.
	DeliveryPayloadPut(ctx context.Context, p *DeliveryPayloadPutParams) (bool, error)
}

// DeliveryPayloadPutParams is one re-rendered payload to store.
type DeliveryPayloadPutParams struct {
	ID      string
	Payload json.RawMessage
	// States the delivery must be in for the payload to change.
	States []DeliveryState
	Now    time.Time
}

// EventReplayListParams filters EventListForReplay. Zero fields do not
// filter.
type EventReplayListParams struct {
	Source string
	// States and Flows match any of their members.
	States []EventState
	Flows  []string
	// ReceivedAfter is inclusive, ReceivedBefore exclusive.
	ReceivedAfter  time.Time
	ReceivedBefore time.Time
	// AfterID pages forwards: only events with ID > AfterID.
	AfterID string
	Limit   int // default 100
}

// EventRecordPutParams is the gate's new verdict on an event. Nil JSON
// fields are stored as NULL; a zero HoldUntil clears the hold deadline.
type EventRecordPutParams struct {
	ID        string
	State     EventState
	RecordKey string
	Canonical json.RawMessage
	Problems  json.RawMessage
	Missing   json.RawMessage
	HoldUntil time.Time
	Now       time.Time
}
