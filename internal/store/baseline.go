package store

import (
	"context"
	"encoding/json"
	"time"
)

// BaselineStore keeps what source-drift detection (control.SourceDrift)
// learned about each source's payloads. It is the control layer's own
// bookkeeping, like the SLA tables, not event state.
type BaselineStore interface {
	// SourceBaselineGet returns a source's baseline; ErrNotFound if none
	// was saved.
	SourceBaselineGet(ctx context.Context, source string) (*SourceBaseline, error)
	// SourceBaselinePut saves b unless the stored baseline of the source
	// has learned from more payloads (so the most complete one wins when
	// instances learn side by side).
	SourceBaselinePut(ctx context.Context, b *SourceBaseline) error
}

// SourceBaseline is one source's learned payload shape.
type SourceBaseline struct {
	Source string
	// Learned is how many payloads the shape was learned from.
	Learned int
	// Shape is JSON: path -> JSON type -> count.
	Shape     json.RawMessage
	UpdatedAt time.Time
}
