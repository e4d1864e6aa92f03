package store

import (
	"context"
	"time"
)

// SweepStore is what the leader's settle sweep reads (pipeline.Gate.SweepSettles):
// the events still delivering, a bounded window at a time, with what their
// deliveries say. See docs/adr/0044-settle-sweep.md.
type SweepStore interface {
	// EventListDelivering walks the events in state delivering in (flow,
	// ID) order (events_state_flow, ADR 0047), at most Limit after the
	// event AfterID, and counts each
	// one's primary (non-fallback) deliveries and how many of them are
	// unfinished. It reads only that window, whatever the history, so a
	// pass costs the same with a million delivered events as with none.
	EventListDelivering(ctx context.Context, p *EventListDeliveringParams) ([]*DeliveringEvent, error)
}

// EventListDeliveringParams is one window of EventListDelivering.
type EventListDeliveringParams struct {
	AfterID string // only events after this one (the last of the previous window); "" from the start
	Limit   int    // default DefaultLimit
}

// DeliveringEvent is an event in state delivering as the sweep sees it.
type DeliveringEvent struct {
	ID        string
	UpdatedAt time.Time
	// Primaries counts its primary deliveries (fallback copies do not
	// decide an event's state); Open, those still waiting, pending or in
	// flight. Primaries > 0 and Open == 0 is an event every settle should
	// already have moved on.
	Primaries int
	Open      int
}
