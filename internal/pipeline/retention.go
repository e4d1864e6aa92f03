package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// RetentionParams says what Prune deletes. Zero periods keep everything of
// their kind.
type RetentionParams struct {
	// Events: delivered, discarded and rejected events whose last change
	// is older than this.
	Events time.Duration
	// Audit: audit entries older than this, from the start of the chain,
	// up to the first entry of an event still stored.
	Audit time.Duration
	// Batch is the rows per transaction (default 1000); Pause the wait
	// between two batches, which lets captures through on SQLite's single
	// writer.
	Batch int
	Pause time.Duration
}

// RetentionReport counts what one Prune deleted.
type RetentionReport struct {
	Events, Deliveries, Escalations, Reconciliations int
	AuditEntries                                     int
	Batches                                          int
	// Checkpoint is where the audit chain now starts; nil if no audit
	// entry was ever deleted.
	Checkpoint *store.AuditCheckpoint
}

// Prune deletes what retention allows, in batches of one transaction each
// until nothing is left or ctx ends: first finished old events with their
// deliveries, escalations and reconciliations, then the oldest audit
// entries (which must come second: an event's trail is kept as long as the
// event). Every batch writes an audit entry saying what it deleted, in its
// own transaction; an audit batch's entry attests the new checkpoint, which
// `sluice audit verify` checks. Events held, in delivery or escalated are
// never deleted.
func (g *Gate) Prune(ctx context.Context, p RetentionParams) (RetentionReport, error) {
	var rep RetentionReport
	if p.Batch <= 0 {
		p.Batch = 1000
	}
	now := g.now()
	if p.Events > 0 {
		cutoff := now.Add(-p.Events)
		for ctx.Err() == nil {
			var res *store.PruneResult
			err := g.retentionTx(ctx, func(tx store.ExecutorTx, rs store.RetentionStore) error {
				var err error
				res, err = rs.EventPrune(ctx, &store.EventPruneParams{
					States:        []store.EventState{store.EventDelivered, store.EventDiscarded, store.EventRejected},
					UpdatedBefore: cutoff,
					BeforeID:      eventIDFloor(cutoff.Add(time.Millisecond)),
					Limit:         p.Batch,
				})
				if err != nil || res.Events == 0 {
					return err
				}
				return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: ActorSystem, Action: audit.ActionEventsPruned, Outcome: "deleted",
					Message: fmt.Sprintf("retention deleted %d events (%s .. %s) finished before %s, with %d deliveries, %d escalations, %d reconciliations",
						res.Events, res.OldestID, res.NewestID, cutoff.UTC().Format(time.RFC3339), res.Deliveries, res.Escalations, res.Reconciliations)})
			})
			if err != nil {
				return rep, fmt.Errorf("prune events: %w", err)
			}
			rep.Events += res.Events
			rep.Deliveries += res.Deliveries
			rep.Escalations += res.Escalations
			rep.Reconciliations += res.Reconciliations
			if res.Events == 0 {
				break
			}
			rep.Batches++
			if res.Events < p.Batch || !pause(ctx, p.Pause) {
				break
			}
		}
	}
	if p.Audit > 0 {
		cutoff := now.Add(-p.Audit)
		for ctx.Err() == nil {
			var cp *store.AuditCheckpoint
			var n int
			err := g.retentionTx(ctx, func(tx store.ExecutorTx, rs store.RetentionStore) error {
				var err error
				cp, n, err = rs.AuditPrune(ctx, &store.AuditPruneParams{Before: cutoff, Limit: p.Batch, Now: now})
				if err != nil || cp == nil {
					return err
				}
				return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: ActorSystem, Action: audit.ActionPruned, Outcome: "deleted",
					Message: audit.PrunedMessage(cp, n)})
			})
			if err != nil {
				return rep, fmt.Errorf("prune audit log: %w", err)
			}
			if cp == nil {
				break
			}
			rep.AuditEntries += n
			rep.Checkpoint = cp
			rep.Batches++
			if n < p.Batch || !pause(ctx, p.Pause) {
				break
			}
		}
	}
	if rep.Checkpoint == nil {
		cp, err := g.drv.Executor().AuditCheckpointGet(ctx)
		if err != nil {
			return rep, err
		}
		rep.Checkpoint = cp
	}
	return rep, ctx.Err()
}

// retentionTx runs one batch in a transaction of its own, outside group
// commit: a batch deletes up to thousands of rows and should not hold up
// the captures that group commit batches together.
func (g *Gate) retentionTx(ctx context.Context, fn func(tx store.ExecutorTx, rs store.RetentionStore) error) error {
	tx, err := g.drv.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// eventIDFloor is the smallest event ID made at t or later (IDs are "evt_"
// and a ULID, which starts with its millisecond time).
func eventIDFloor(t time.Time) string {
	var u ulid.ULID
	if err := u.SetTime(ulid.Timestamp(t)); err != nil {
		return ""
	}
	return "evt_" + u.String()
}

func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
