package connector

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Change is one record as a platform's change feed reports it: created,
// updated or deleted at ModifiedAt.
type Change struct {
	// RecordID is the platform's own ID of the record (the external ID the
	// identity map stores for records Sluice wrote).
	RecordID string
	// ModifiedAt is the platform's modification stamp of this version.
	ModifiedAt time.Time
	// Deleted is true when the platform reports the record archived,
	// trashed or destroyed; Fields may then be empty.
	Deleted bool
	// Fields are the record's fields in the platform's own naming.
	Fields map[string]any
}

// Position is a place in a change feed. Feeds order changes by
// (ModifiedAt, RecordID), so a position is a keyset: everything after it
// has a later stamp, or the same stamp and a greater ID.
type Position struct {
	At time.Time `json:"at"`
	ID string    `json:"id,omitempty"`
}

// Before reports whether p comes strictly before q in feed order.
func (p Position) Before(q Position) bool {
	if !p.At.Equal(q.At) {
		return p.At.Before(q.At)
	}
	return p.ID < q.ID
}

// PositionOf is the position of c in its feed.
func PositionOf(c Change) Position { return Position{At: c.ModifiedAt, ID: c.RecordID} }

// Page is one read of a change feed.
type Page struct {
	// Changes are in feed order, all after the position asked for.
	Changes []Change
	// More is true when the feed holds further changes after the last one.
	More bool
}

// Origin names what a feed reads, for the events it produces.
type Origin struct {
	Platform string `json:"platform"`
	Object   string `json:"object"`
}

// Feed reads one object's changes from a platform, oldest first. Feeds whose
// platform can only filter by time (not by the (stamp, id) keyset) filter
// the rest themselves; a feed never returns a change at or before since.
type Feed interface {
	Changes(ctx context.Context, since Position, limit int) (Page, error)
	Origin() Origin
}

// FeedOpener is implemented by connectors whose platform can list changed
// records: the same credentials and options that write to it can then poll
// it. options are the poll source's platform-specific settings (object,
// modification column, ...), rejected when unknown.
type FeedOpener interface {
	OpenFeed(options map[string]any) (Feed, error)
}

// PageAfter orders changes by (stamp, id) and returns the first limit of
// those after since, with More set when some were left out: the keyset
// cut that feeds reading by time alone (not by the keyset) make themselves.
func PageAfter(all []Change, since Position, limit int) Page {
	slices.SortFunc(all, func(a, b Change) int {
		if c := a.ModifiedAt.Compare(b.ModifiedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.RecordID, b.RecordID)
	})
	var page Page
	for _, ch := range all {
		if !since.Before(PositionOf(ch)) {
			continue
		}
		if len(page.Changes) == limit {
			page.More = true
			break
		}
		page.Changes = append(page.Changes, ch)
	}
	return page
}
