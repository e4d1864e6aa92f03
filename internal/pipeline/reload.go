package pipeline

import (
	"context"
	"errors"
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

// PollCursorIdentify runs before a poll source's loop first reads: it
// makes sure the stored cursor is a position in identity, the platform
// object the source reads now (server.triggers names it: "poll of notion
// <db>", "webhook <id> of airtable <base>"). The identity is stored with
// the cursor (migration 0087), so a change of the source made while Sluice
// was stopped, or by an instance running another config, is caught at the
// next start like one a reload makes (ADR 0089, ADR 0045): the position is
// forgotten, with a poll_cursor_reset audit entry naming the old and new
// identity, and the new identity stored, in one transaction. The old
// position would skip or misread the new object's changes; records the
// first read captures again dedupe by their keys.
//
// reason, when set, is a reload's own account of the change and resets
// whatever is stored. A cursor stored before identities were (identity "")
// is kept and the identity adopted: nothing says it belongs elsewhere, and
// the config most likely did not change across the upgrade, while a reset
// would re-read every record of every poll source, capturing again the
// ones whose events retention has deleted. reset reports a reset.
func (g *Gate) PollCursorIdentify(ctx context.Context, source, identity, reason string) (reset bool, err error) {
	now := g.now()
	err = g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		reset = false // the unit may run twice: set, never accumulate
		was, err := tx.PollCursorIdentityGet(ctx, source)
		if errors.Is(err, store.ErrNotFound) {
			was, err = "", nil
		}
		if err != nil {
			return err
		}
		why := reason
		if why == "" && was != "" && was != identity {
			why = fmt.Sprintf("it is a position in the %s, and the source now reads the %s (changed while this instance was not running it)", was, identity)
		}
		if why == "" && was == identity {
			return nil
		}
		if err := tx.PollCursorIdentityPut(ctx, &store.PollCursorIdentityPutParams{Source: source, Identity: identity, Reset: why != "", Now: now}); err != nil {
			return err
		}
		if why == "" {
			return nil // adopted: no row yet, or one from before identities
		}
		reset = true
		return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: ActorSystem, Action: audit.ActionPollCursorReset, Outcome: "reset",
			Message: fmt.Sprintf("source %s: stored position forgotten: %s", source, why)})
	})
	return reset, err
}
