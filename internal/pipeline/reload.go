package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// KindDestinationRemoved is the escalation kind of a delivery whose
// destination a forced reload removed.
const KindDestinationRemoved = "destination_removed"

// OpenDeliveries lists the deliveries to destination that have not
// finished (waiting, pending or in flight), oldest event first. A reload
// that removes the destination must not strand them.
func (g *Gate) OpenDeliveries(ctx context.Context, destination string) ([]*store.Delivery, error) {
	ex := g.drv.Executor()
	rs, ok := ex.(store.ReplayStore)
	if !ok {
		return nil, fmt.Errorf("open deliveries: store %s cannot list events by state", g.drv.Name())
	}
	var out []*store.Delivery
	after := ""
	for {
		// Unfinished deliveries keep their event delivering (settleEvent).
		evs, err := rs.EventListForReplay(ctx, &store.EventReplayListParams{States: []store.EventState{store.EventDelivering}, AfterID: after, Limit: 500})
		if err != nil {
			return nil, fmt.Errorf("open deliveries: %w", err)
		}
		for _, ev := range evs {
			ds, err := ex.DeliveryListByEvent(ctx, ev.ID)
			if err != nil {
				return nil, fmt.Errorf("open deliveries: %w", err)
			}
			for _, d := range ds {
				if d.Destination == destination && open(d.State) {
					out = append(out, d)
				}
			}
		}
		if len(evs) < 500 {
			return out, nil
		}
		after = evs[len(evs)-1].ID
	}
}

func open(state store.DeliveryState) bool {
	return state == store.DeliveryWaiting || state == store.DeliveryPending || state == store.DeliveryInflight
}

// EscalateRemoved escalates every unfinished delivery to a destination
// that a forced reload removed, with the reason, so a person decides what
// becomes of each record (retry after re-adding it, or discard): nothing is
// dropped. Call it after the destination's worker stopped; each delivery is
// re-read and settled in its own transaction. It returns how many it
// escalated.
func (g *Gate) EscalateRemoved(ctx context.Context, destination, reason string) (int, error) {
	ds, err := g.OpenDeliveries(ctx, destination)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range ds {
		escalated, again := false, false
		err := g.transition(ctx, d.ID, func(ctx context.Context, tx store.ExecutorTx, cur *store.Delivery, now time.Time) error {
			escalated, again = false, false // the unit may run twice
			if !open(cur.State) {
				return nil // settled meanwhile
			}
			escalated = true
			var err error
			again, err = g.deliveryEscalate(ctx, tx, cur, KindDestinationRemoved, reason, Attempt{Message: "destination " + destination + " is no longer configured"}, now)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("escalate delivery %s: %w", d.ID, err)
		}
		if escalated {
			n++
			if !again && g.settled != nil {
				g.settled(d.Destination, SettledEscalated, true)
			}
		}
	}
	return n, nil
}

// ConfigReloaded writes the audit entry of a reload: who asked, the old
// and the new config version, and what changed.
func (g *Gate) ConfigReloaded(ctx context.Context, actor, oldVersion, newVersion, summary string) error {
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		return g.audit(ctx, tx, &store.AuditEntry{Actor: actor, Action: audit.ActionConfigReloaded, Outcome: newVersion,
			Message: fmt.Sprintf("config %s -> %s: %s", oldVersion, newVersion, summary)})
	})
}

// PollCursorReset forgets a source's stored position, with an audit entry
// giving the reason, in one transaction. A reload that points a source at
// another platform object (or another webhook) calls it through the
// source's new loop, after the old loop stopped: the old position would
// skip or misread the new object's changes. Records the first read
// captures again dedupe by their keys.
func (g *Gate) PollCursorReset(ctx context.Context, source, reason string) error {
	now := g.now()
	return g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		if err := tx.PollCursorPut(ctx, source, "", now); err != nil {
			return err
		}
		return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: ActorSystem, Action: audit.ActionPollCursorReset, Outcome: "reset",
			Message: fmt.Sprintf("source %s: stored position forgotten: %s", source, reason)})
	})
}
