package connector

import (
	"context"
	"time"
)

// RecordReader is implemented by connectors that can read one record by
// the platform's own ID. A thin platform webhook (Notion's) only names the
// record that changed; the source reads its content through the same
// connector that writes to the platform.
type RecordReader interface {
	// ReadRecord returns the record as a Change. A record the platform no
	// longer has (404, archived, in the trash) is a Change with Deleted
	// set, not an error.
	ReadRecord(ctx context.Context, recordID string) (Change, error)
}

// HookChange is one record change listed for a platform webhook.
type HookChange struct {
	Change
	// EventID identifies this change across re-reads of the list: the same
	// listing read again after a crash yields the same IDs.
	EventID string
	// Cursor is the list position to resume from once this change and
	// every one before it are captured. Changes of one platform
	// transaction share the position after it only on the last of them,
	// so resuming never skips part of a transaction.
	Cursor string
}

// HookPage is one read of a webhook's change list.
type HookPage struct {
	Changes []HookChange
	// Cursor is the position after the whole page, to store when the page
	// holds no change of this source's object.
	Cursor string
	// More is true when the platform holds further changes.
	More bool
}

// HookLister is implemented by connectors whose platform's webhook
// notifications carry no data (Airtable): the receiver lists the changes
// after a cursor it keeps. cursor "" starts at the platform's first
// position.
type HookLister interface {
	HookChanges(ctx context.Context, webhookID, cursor string) (HookPage, error)
	// HookOrigin names what the listed changes are of.
	HookOrigin() Origin
}

// HookRefresher is implemented by connectors whose platform's webhook
// subscriptions expire unless refreshed (Airtable's live 7 days after
// their creation or last refresh).
type HookRefresher interface {
	// RefreshHook extends the subscription's life and returns its new
	// expiry (zero when the platform says it does not expire).
	RefreshHook(ctx context.Context, webhookID string) (time.Time, error)
}
