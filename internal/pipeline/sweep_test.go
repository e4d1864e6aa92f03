package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// TestSweepSettlesStuckEvents: events left delivering although all their
// deliveries finished (made directly in the store, as a settle that did not
// move the event would leave them) are settled by the sweep exactly as a
// settle would (delivered; escalated with a reconciliation), with an entry
// saying the sweep did it, and the chain and the trail still verify. An
// event with a delivery still pending, or changed within the grace, is left
// alone; a second pass finds nothing.
func TestSweepSettlesStuckEvents(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			twoRoutes := strings.Replace(cfg, "      crm: {destination: d}\n",
				"      crm: {destination: d}\n      books: {destination: e}\n", 1)
			twoRoutes = strings.Replace(twoRoutes, "destinations:\n",
				"destinations:\n  e: {type: http, allow_private_network: true, options: {url: \"http://127.0.0.1:1/y\"}}\n", 1)
			gs, clk := twoInstancesWith(t, driver, twoRoutes)
			g, ex := gs[0], pipeline.ExecutorOf(gs[0])
			ctx := context.Background()
			capture := func(i int) string {
				t.Helper()
				res, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", Body: []byte(`{}`),
					Payload: map[string]any{"email": fmt.Sprintf("s%d@b.co", i), "company": "Acme"}})
				if err != nil || res.State != store.EventDelivering {
					t.Fatalf("capture %d: %+v %v", i, res, err)
				}
				return res.EventID
			}
			delivered, escalated, open, recent := capture(0), capture(1), capture(2), capture(3)
			// The stuck state, written directly: the deliveries finish, the
			// event is not moved on.
			finish := func(eventID string, states map[string]store.DeliveryState) {
				t.Helper()
				tx, err := pipeline.DriverOf(g).Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				ds, err := tx.DeliveryListByEvent(ctx, eventID)
				if err != nil || len(ds) != 2 {
					t.Fatalf("deliveries of %s: %d %v", eventID, len(ds), err)
				}
				for _, d := range ds {
					if st, ok := states[d.Destination]; ok {
						d.State, d.UpdatedAt = st, clk.Now()
						if err := tx.DeliveryUpdate(ctx, d); err != nil {
							t.Fatal(err)
						}
					}
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			finish(delivered, map[string]store.DeliveryState{"d": store.DeliverySucceeded, "e": store.DeliverySucceeded})
			finish(escalated, map[string]store.DeliveryState{"d": store.DeliverySucceeded, "e": store.DeliveryEscalated})
			finish(open, map[string]store.DeliveryState{"d": store.DeliverySucceeded})
			clk.Add(10 * time.Minute)
			// Changed after the others, within the grace.
			tx, err := pipeline.DriverOf(g).Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: recent, State: store.EventDelivering, Now: clk.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			finish(recent, map[string]store.DeliveryState{"d": store.DeliverySucceeded, "e": store.DeliverySucceeded})
			clk.Add(time.Second)

			// Small windows: the walk resumes where the last pass stopped.
			var repaired []pipeline.SweptEvent
			after, passes := "", 0
			for {
				rep, err := g.SweepSettles(ctx, pipeline.SweepParams{AfterID: after, Limit: 2, Grace: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				repaired = append(repaired, rep.Repaired...)
				passes++
				if after = rep.Next; after == "" {
					break
				}
			}
			want := []pipeline.SweptEvent{{ID: delivered, State: store.EventDelivered}, {ID: escalated, State: store.EventEscalated}}
			if fmt.Sprint(repaired) != fmt.Sprint(want) || passes != 3 {
				t.Fatalf("repaired %v in %d passes, want %v in 3", repaired, passes, want)
			}
			for id, st := range map[string]store.EventState{delivered: store.EventDelivered, escalated: store.EventEscalated,
				open: store.EventDelivering, recent: store.EventDelivering} {
				if got, err := ex.EventStateGet(ctx, id); err != nil || got != st {
					t.Errorf("event %s: %s %v, want %s", id, got, err, st)
				}
			}
			for _, id := range []string{delivered, escalated} {
				entries, err := ex.AuditListByEvent(ctx, id)
				if err != nil || len(entries) < 2 {
					t.Fatalf("audit of %s: %d %v", id, len(entries), err)
				}
				st, sw := entries[len(entries)-2], entries[len(entries)-1]
				if id == escalated { // the reconciliation the settle opens comes between
					st = entries[len(entries)-3]
				}
				if st.Action != audit.ActionState || st.Actor != pipeline.ActorSystem {
					t.Errorf("%s: state entry %+v", id, st)
				}
				if sw.Action != audit.ActionSettleSwept || sw.Actor != pipeline.ActorSweep || sw.Outcome != st.Outcome || !strings.Contains(sw.Message, "settle sweep") {
					t.Errorf("%s: sweep entry %+v", id, sw)
				}
			}
			if rs, err := ex.ReconciliationList(ctx, &store.ReconciliationListParams{EventID: escalated}); err != nil || len(rs) != 1 {
				t.Errorf("reconciliation of the escalated event: %d %v", len(rs), err)
			}
			for _, id := range []string{open, recent} {
				entries, _ := ex.AuditListByEvent(ctx, id)
				for _, e := range entries {
					if e.Action == audit.ActionSettleSwept {
						t.Errorf("%s was swept: %+v", id, e)
					}
				}
			}
			// Once the grace has passed, the recent one is repaired too;
			// then nothing is left.
			clk.Add(time.Minute)
			if rep, err := g.SweepSettles(ctx, pipeline.SweepParams{Grace: time.Minute}); err != nil || fmt.Sprint(rep.Repaired) != fmt.Sprint([]pipeline.SweptEvent{{ID: recent, State: store.EventDelivered}}) || rep.Examined != 2 {
				t.Fatalf("second sweep: %+v %v", rep, err)
			}
			if rep, err := g.SweepSettles(ctx, pipeline.SweepParams{Grace: time.Minute}); err != nil || len(rep.Repaired) != 0 || rep.Examined != 1 {
				t.Fatalf("third sweep: %+v %v", rep, err)
			}
			if rep, err := audit.Verify(ctx, ex); err != nil {
				t.Errorf("audit verify: %+v %v", rep, err)
			}
			if c, err := pipeline.VerifyComplete(ctx, ex); err != nil || len(c.Gaps) != 0 {
				t.Errorf("completeness: %+v %v", c, err)
			}
		})
	}
}
