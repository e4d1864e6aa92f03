package store

import (
	"context"
	"time"
)

// Notice states. A notice is pending until the record it names was
// fetched and captured (or the listing it asks for ran); then it is done
// and stays only so that the platform's retry of it is recognised.
const (
	NoticePending = "pending"
	NoticeDone    = "done"
)

// HookNotice is a platform webhook that only says something changed (a
// Notion page event, an Airtable notification): committed on intake before
// the platform gets its answer, and worked off in the background by
// fetching what it names. See docs/adr/0086-notice-queue.md.
type HookNotice struct {
	ID       string
	Source   string
	Platform string
	// Key is the platform's delivery ID (notion:<event id>,
	// airtable:<webhook>:<timestamp>); a notice with the same source and
	// key is the platform's retry and is not stored twice.
	Key string
	// Type is the platform's event type (page.properties_updated, ping).
	Type string
	// Object and RecordID name the record to fetch (empty for a ping,
	// which asks for a listing).
	Object     string
	RecordID   string
	OccurredAt time.Time
	State      string
	// Attempts counts failed fetches; NextAt is when the next one may run.
	Attempts  int
	NextAt    time.Time
	LastError string
	// EscalatedAt is set once the notice failed often enough to tell
	// people; it keeps being retried.
	EscalatedAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NoticeStore is the durable queue of platform notices. Every driver
// implements it; only package pipeline writes through it.
type NoticeStore interface {
	// HookNoticeAdd stores n unless a notice with the same source and key
	// exists (pending or done); then it returns that notice's ID and
	// inserted=false.
	HookNoticeAdd(ctx context.Context, n *HookNotice) (existingID string, inserted bool, err error)
	// HookNoticeGet reads one notice; ErrNotFound if there is none.
	HookNoticeGet(ctx context.Context, id string) (*HookNotice, error)
	// HookNoticeListDue is up to limit pending notices whose NextAt is not
	// after now, earliest first.
	HookNoticeListDue(ctx context.Context, now time.Time, limit int) ([]*HookNotice, error)
	// HookNoticeNextDue is the earliest NextAt of a pending notice, zero
	// when none is pending: the worker sleeps until then.
	HookNoticeNextDue(ctx context.Context) (time.Time, error)
	// HookNoticeUpdate writes n's state, attempts, NextAt, LastError,
	// EscalatedAt and UpdatedAt.
	HookNoticeUpdate(ctx context.Context, n *HookNotice) error
	// HookNoticeList is a source's notices in one state (all states when
	// empty), newest first, at most p.Limit (default 100): the operator's
	// view of what waits to be fetched and why.
	HookNoticeList(ctx context.Context, p *HookNoticeListParams) ([]*HookNotice, error)
	// HookNoticeBacklog counts the pending notices (and the escalated
	// among them) and finds the oldest one's arrival, for metrics.
	HookNoticeBacklog(ctx context.Context) (*NoticeBacklog, error)
	// HookNoticePrune deletes up to limit done notices last changed before
	// before, and returns how many it deleted.
	HookNoticePrune(ctx context.Context, before time.Time, limit int) (int, error)
}

// HookNoticeListParams filters HookNoticeList.
type HookNoticeListParams struct {
	Source string
	State  string
	Limit  int
}

// NoticeBacklog is the notice queue's depth: pending notices, how many of
// them escalated, and when the oldest arrived (zero when none waits).
type NoticeBacklog struct {
	Pending   int64
	Escalated int64
	Oldest    time.Time
}
