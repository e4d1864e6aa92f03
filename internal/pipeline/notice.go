package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
)

// NoticeInput is a platform webhook that only says something changed (a
// Notion page event names a page; an Airtable notification asks for a
// listing). It is committed as a notice before the platform is answered;
// what it names is fetched in the background (trigger.NoticeWorker), so
// intake never waits on the platform.
type NoticeInput struct {
	Source   string
	Platform string
	// Key is the platform's delivery ID: its retry of the same webhook
	// carries it again and is recognised.
	Key        string
	Type       string
	Object     string
	RecordID   string
	OccurredAt time.Time
}

// NoticeResult is what intake answers: the notice's ID, and whether it was
// the platform's retry of one already stored.
type NoticeResult struct {
	ID        string `json:"notice_id"`
	Duplicate bool   `json:"duplicate"`
}

// NoticeReceived commits a notice and its audit entry in one transaction.
// The platform's retry of a notice (same source and key, pending or done)
// is answered as a duplicate and writes nothing.
func (g *Gate) NoticeReceived(ctx context.Context, in NoticeInput) (NoticeResult, error) {
	if g.Plan().FlowForSource(in.Source) == nil {
		return NoticeResult{}, ErrUnknownSource
	}
	if in.Key == "" || len(in.Key) > 256 {
		return NoticeResult{}, fmt.Errorf("notice of source %s: key must be 1 to 256 characters", in.Source)
	}
	now := g.now()
	var res NoticeResult
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		n := &store.HookNotice{ID: id.New("ntc", now), Source: in.Source, Platform: in.Platform, Key: in.Key, Type: in.Type,
			Object: in.Object, RecordID: in.RecordID, OccurredAt: in.OccurredAt, State: store.NoticePending, NextAt: now,
			CreatedAt: now, UpdatedAt: now}
		existing, inserted, err := tx.HookNoticeAdd(ctx, n)
		if err != nil {
			return err
		}
		if !inserted {
			res = NoticeResult{ID: existing, Duplicate: true}
			return nil
		}
		res = NoticeResult{ID: n.ID}
		what := in.Platform + " " + in.Type
		if in.RecordID != "" {
			what += " for " + in.Object + " " + in.RecordID
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: "webhook:" + in.Source, Action: audit.ActionNoticeReceived, Outcome: n.ID,
			Message: fmt.Sprintf("%s (delivery %s) queued; fetched in the background", what, in.Key)})
	})
	if err != nil {
		return NoticeResult{}, fmt.Errorf("notice of source %s: %w", in.Source, err)
	}
	return res, nil
}

// NoticesDue is up to limit pending notices whose next attempt is due.
func (g *Gate) NoticesDue(ctx context.Context, limit int) ([]*store.HookNotice, error) {
	return g.drv.Executor().HookNoticeListDue(ctx, g.now(), limit)
}

// NoticeNextDue is when the earliest pending notice is due, zero if none.
func (g *Gate) NoticeNextDue(ctx context.Context) (time.Time, error) {
	return g.drv.Executor().HookNoticeNextDue(ctx)
}

// NoticeFailure is one failed fetch of what a notice names.
type NoticeFailure struct {
	ID string
	// Err is the failure, for the audit and the notice (secrets are
	// masked by the gate's redaction like every audit message).
	Err string
	// NextAt is when to try again.
	NextAt time.Time
	// EscalateAfter is the number of failed attempts at which the notice
	// escalates (once): the failure is then told to people.
	EscalateAfter int
	// Postpone moves only NextAt: the notice was not tried, because a
	// fetch for its source just failed (no attempt is counted, nothing is
	// audited).
	Postpone bool
}

// NoticeFailed records a failed fetch: the notice waits until f.NextAt,
// and the attempt that reaches f.EscalateAfter escalates it. It reports
// whether this failure escalated the notice (the caller alerts). A notice
// already done (another instance fetched it) is left alone.
func (g *Gate) NoticeFailed(ctx context.Context, f NoticeFailure) (escalated bool, err error) {
	now := g.now()
	err = g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		escalated = false
		n, err := tx.HookNoticeGet(ctx, f.ID)
		if err != nil {
			return err
		}
		if n.State != store.NoticePending {
			return nil
		}
		if f.Postpone {
			n.NextAt, n.UpdatedAt = f.NextAt, now
			return tx.HookNoticeUpdate(ctx, n)
		}
		n.Attempts++
		n.LastError = truncate(g.Clean(f.Err), 1000)
		n.NextAt, n.UpdatedAt = f.NextAt, now
		action, outcome := audit.ActionNoticeFailed, "retry"
		if n.EscalatedAt.IsZero() && f.EscalateAfter > 0 && n.Attempts >= f.EscalateAfter {
			n.EscalatedAt, escalated = now, true
			action, outcome = audit.ActionNoticeEscalated, "escalated"
		}
		if err := tx.HookNoticeUpdate(ctx, n); err != nil {
			return err
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: ActorSystem, Action: action, Outcome: outcome, Attempt: n.Attempts,
			Message: fmt.Sprintf("notice %s of source %s (%s %s %s): %s; next attempt at %s", n.ID, n.Source, n.Platform, n.Type, n.RecordID,
				n.LastError, f.NextAt.UTC().Format(time.RFC3339))})
	})
	if err != nil {
		return false, fmt.Errorf("notice %s failed: %w", f.ID, err)
	}
	return escalated, nil
}

// NoticesDone settles notices whose fetch captured what they name (an
// Airtable listing drained to its end). Notices already done are skipped.
func (g *Gate) NoticesDone(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := g.now()
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		return g.settleNotices(ctx, tx, ids, now)
	})
	if err != nil {
		return fmt.Errorf("settle notices: %w", err)
	}
	return nil
}

// settleNotices marks pending notices done inside tx; an escalated one's
// recovery is audited, so the trail that told people of the failure also
// tells them it ended.
func (g *Gate) settleNotices(ctx context.Context, tx store.ExecutorTx, ids []string, now time.Time) error {
	for _, nid := range ids {
		n, err := tx.HookNoticeGet(ctx, nid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if n.State != store.NoticePending {
			continue
		}
		n.State, n.UpdatedAt = store.NoticeDone, now
		if err := tx.HookNoticeUpdate(ctx, n); err != nil {
			return err
		}
		if n.EscalatedAt.IsZero() {
			continue
		}
		if err := g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: ActorSystem, Action: audit.ActionNoticeRecovered, Outcome: "done",
			Attempt: n.Attempts + 1, Message: fmt.Sprintf("notice %s of source %s (%s %s %s) fetched after %d failed attempts",
				n.ID, n.Source, n.Platform, n.Type, n.RecordID, n.Attempts)}); err != nil {
			return err
		}
	}
	return nil
}

// NoticesPrune deletes done notices settled more than keep ago, in
// batches of limit, and returns how many it deleted. A done notice is
// kept only so that the platform's late retry of it is recognised; the
// capture it led to dedupes by the same key regardless.
func (g *Gate) NoticesPrune(ctx context.Context, keep time.Duration, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	before := g.now().Add(-keep)
	total := 0
	for ctx.Err() == nil {
		var n int
		err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			var err error
			n, err = tx.HookNoticePrune(ctx, before, limit)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune notices: %w", err)
		}
		total += n
		if n < limit {
			break
		}
	}
	return total, nil
}
