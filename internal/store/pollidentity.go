package store

import (
	"context"
	"time"
)

// PollIdentityStore keeps, beside a poll source's cursor, the identity of
// the platform object the cursor is a position in, so the cursor can be
// recognised as someone else's after a change made while Sluice was
// stopped (ADR 0045).
type PollIdentityStore interface {
	// PollCursorIdentityGet is the identity stored with source's cursor;
	// "" for a cursor stored before identities were; ErrNotFound when the
	// source has no cursor row.
	PollCursorIdentityGet(ctx context.Context, source string) (string, error)
	// PollCursorIdentityPut stores p.Identity with source's cursor
	// (creating the row, with no position, if there is none); with
	// p.Reset it also forgets the position.
	PollCursorIdentityPut(ctx context.Context, p *PollCursorIdentityPutParams) error
}

// PollCursorIdentityPutParams is one PollCursorIdentityPut.
type PollCursorIdentityPutParams struct {
	Source   string
	Identity string
	Reset    bool
	Now      time.Time
}
