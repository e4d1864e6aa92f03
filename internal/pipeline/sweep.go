package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// ActorSweep is the actor of the settle sweep's repairs.
const ActorSweep = "sweep"

// SweepParams bounds one pass of SweepSettles.
type SweepParams struct {
	// AfterID resumes the walk after this event ID (the last pass's
	// Next); "" starts from the oldest delivering event.
	AfterID string
	// Limit is how many delivering events one pass examines (default
	// store.DefaultLimit).
	Limit int
	// Grace leaves alone an event changed less than this long ago: its
	// settle may be committing right now (harmless, since the repair
	// re-reads under the event's lock, but not worth the contention).
	Grace time.Duration
}

// SweepReport is what one pass of SweepSettles did.
type SweepReport struct {
	// Examined counts the delivering events read in this pass.
	Examined int
	// Repaired lists the events the pass settled.
	Repaired []SweptEvent
	// Next is AfterID for the next pass: "" once the walk reached the end
	// (the next pass starts over).
	Next string
}

// SweptEvent is one event the sweep settled.
type SweptEvent struct {
	ID    string
	State store.EventState // the state it was settled to
}

// SweepSettles is the defence in depth behind settleEvent (ADR 0044): it
// walks a bounded window of the events still delivering and settles each
// whose primary deliveries have all finished (succeeded, escalated,
// cancelled), which every settle should already have done; the race that
// once left such events behind is fixed (ADR 0037), this repairs any other
// cause. The repair is the normal settle (same state rule, same state
// audit entry, a reconciliation when some routes failed) in its own
// transaction, after re-reading the deliveries under the event's lock,
// followed by an ActionSettleSwept entry that says the sweep did it. An
// event with no primary delivery at all is left alone: delivering with
// nothing to deliver is not what a missed settle leaves, and calling it
// delivered could hide a lost record. The caller (the leader) logs and
// counts what it returns.
func (g *Gate) SweepSettles(ctx context.Context, p SweepParams) (SweepReport, error) {
	var rep SweepReport
	limit := store.PageLimit(p.Limit)
	evs, err := g.drv.Executor().EventListDelivering(ctx, &store.EventListDeliveringParams{AfterID: p.AfterID, Limit: limit})
	if err != nil {
		return rep, fmt.Errorf("settle sweep: %w", err)
	}
	rep.Examined = len(evs)
	if len(evs) == limit {
		rep.Next = evs[len(evs)-1].ID
	}
	cutoff := g.now().Add(-p.Grace)
	for _, e := range evs {
		if e.Primaries == 0 || e.Open > 0 || e.UpdatedAt.After(cutoff) {
			continue
		}
		state, err := g.sweepSettle(ctx, e.ID)
		if err != nil {
			return rep, fmt.Errorf("settle sweep: event %s: %w", e.ID, err)
		}
		if state != "" {
			rep.Repaired = append(rep.Repaired, SweptEvent{ID: e.ID, State: state})
		}
	}
	return rep, nil
}

// sweepSettle settles one event found stuck, if it still is once its
// deliveries are re-read under its lock; state is what it was settled to,
// "" when it needed nothing.
func (g *Gate) sweepSettle(ctx context.Context, eventID string) (state store.EventState, err error) {
	err = g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		state = "" // the unit may run twice: set, never accumulate
		ds, err := tx.DeliveryListByEvent(ctx, eventID)
		if err != nil {
			return err
		}
		cur, err := tx.EventStateGet(ctx, eventID)
		if err != nil {
			return err
		}
		primaries := 0
		for _, d := range ds {
			if d.FallbackFor == "" {
				primaries++
			}
		}
		to := settledState(ds)
		if cur != store.EventDelivering || primaries == 0 || to == store.EventDelivering {
			return nil // settled meanwhile, or not stuck
		}
		now := g.now()
		if err := g.settleEventWith(ctx, tx, eventID, ds, now); err != nil {
			return err
		}
		state = to
		return g.audit(ctx, tx, &store.AuditEntry{At: now, EventID: eventID, Actor: ActorSweep, Action: audit.ActionSettleSwept, Outcome: string(to),
			Message: fmt.Sprintf("event was left %s although all %d of its deliveries had finished; settled to %s by the settle sweep", cur, primaries, to)})
	})
	return state, err
}
