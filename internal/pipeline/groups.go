package pipeline

import (
	"context"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/internal/store"
)

// GroupKey is the failure group of an escalation: failures with the same
// destination, kind (the error class as escalated: permanent_error,
// drift_error, retries_exhausted, ...), platform HTTP status and platform
// error code are the same matter, as Hookdeck's Issues group them. It reads
// "destination:kind:status:code" ("-" for an event-level escalation without
// a destination, such as hold_expired), which migration 0050 also builds
// for escalations opened before groups existed (without their code). The
// platform's message is not part of it: it often names the record.
func GroupKey(destination, kind string, status int, code string) string {
	if destination == "" {
		destination = "-"
	}
	return destination + ":" + kind + ":" + strconv.Itoa(status) + ":" + code
}

// GroupSamples is how many member escalations a group shows.
const GroupSamples = 5

// EscalationGroup is a failure group as a person sees it: the stored
// counts plus the newest members as samples and the error that stands for
// them all.
type EscalationGroup struct {
	*store.EscalationGroup
	// Error is the newest member's last error (the platform's message).
	Error string
	// Samples are the newest members, newest first.
	Samples []*store.Ticket
}

// EscalationGroupList returns the failure groups of the escalations p
// selects (Status defaults to open), largest first, each with samples.
func (g *Gate) EscalationGroupList(ctx context.Context, p store.EscalationGroupListParams) ([]*EscalationGroup, error) {
	if p.Status == "" {
		p.Status = store.EscalationOpen
	}
	ex := g.drv.Executor()
	gs, err := ex.EscalationGroupList(ctx, &p)
	if err != nil {
		return nil, err
	}
	out := make([]*EscalationGroup, 0, len(gs))
	for _, sg := range gs {
		eg := &EscalationGroup{EscalationGroup: sg}
		eg.Samples, err = ex.TicketList(ctx, &store.TicketListParams{GroupID: sg.ID, Status: p.Status, Kind: p.Kind, Destination: p.Destination, Limit: GroupSamples})
		if err != nil {
			return nil, err
		}
		if len(eg.Samples) > 0 {
			eg.Error = eg.Samples[0].LastError
		}
		out = append(out, eg)
	}
	return out, nil
}

// EscalationGroupGet returns one failure group among escalations of the
// given status (open when empty); store.ErrNotFound when it has none.
func (g *Gate) EscalationGroupGet(ctx context.Context, id, status string) (*EscalationGroup, error) {
	gs, err := g.EscalationGroupList(ctx, store.EscalationGroupListParams{GroupID: id, Status: status, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("escalation group %q has no %s escalations: %w", id, orOpen(status), store.ErrNotFound)
	}
	return gs[0], nil
}

func orOpen(s string) string {
	if s == "" {
		return store.EscalationOpen
	}
	return s
}

// EscalationRerender renders the escalated delivery's payload again with
// the config in force (route map; the destination's current options apply
// when it is sent) and retries it, keeping its escalation open until it
// lands: replay deliver --rerender for one escalation, which group actions
// run for each member.
func (g *Gate) EscalationRerender(ctx context.Context, escID, actor string) (*store.Escalation, error) {
	var out *store.Escalation
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		esc, err := tx.EscalationGetByID(ctx, escID)
		if err != nil {
			return err
		}
		if esc.Status != store.EscalationOpen {
			return wrongState("escalation "+escID, esc.Status)
		}
		if esc.DeliveryID == "" {
			return fmt.Errorf("escalation %s has no delivery to re-render (%s): patch and release the held record instead: %w", escID, esc.Kind, ErrWrongState)
		}
		d, err := tx.DeliveryGetByID(ctx, esc.DeliveryID)
		if err != nil {
			return err
		}
		if d.State != store.DeliveryEscalated {
			return fmt.Errorf("escalation %s: its delivery is %s, a retry is already under way: %w", escID, d.State, ErrWrongState)
		}
		ev, err := tx.EventGetByID(ctx, esc.EventID)
		if err != nil {
			return err
		}
		f := g.Plan().Flow(ev.Flow)
		if f == nil {
			return fmt.Errorf("escalation %s: flow %q is no longer configured: %w", escID, ev.Flow, ErrWrongState)
		}
		ds, err := tx.DeliveryListByEvent(ctx, ev.ID)
		if err != nil {
			return err
		}
		it := ReplayItem{EventID: ev.ID, Source: ev.Source, OldState: ev.State, NewState: ev.State, ConfigVersion: ev.ConfigVersion}
		p := ReplayParams{Stage: StageDeliver, Rerender: true, Actor: actor, DeliveryID: d.ID}
		it, err = (&replayer{g: g}).replayRerender(ctx, tx, tx, ev, f, ds, it, p)
		if err != nil {
			return err
		}
		if it.Outcome != "replayed" {
			why := it.Reason
			for _, w := range it.Warnings {
				why += "; " + w
			}
			return fmt.Errorf("escalation %s not re-rendered: %s: %w", escID, why, ErrWrongState)
		}
		out, err = tx.EscalationGetByID(ctx, escID)
		return err
	})
	return out, err
}
