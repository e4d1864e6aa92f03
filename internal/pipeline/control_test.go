package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
)

// heldThenExpired captures a record without company and lets its hold
// expire into a hold_expired escalation.
func heldThenExpired(t *testing.T, g *pipeline.Gate, clk *clock, body string) (eventID, escID string) {
	t.Helper()
	ctx := context.Background()
	res, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", ContentType: "application/json", Body: []byte(body), Payload: mustParse(t, body)})
	if err != nil || res.State != store.EventHeld {
		t.Fatalf("capture: %+v %v", res, err)
	}
	clk.Add(61 * time.Minute)
	if n, err := g.ExpireHolds(ctx); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	escs, _ := pipeline.ExecutorOf(g).EscalationList(ctx, &store.EscalationListParams{EventID: res.EventID})
	if len(escs) != 1 {
		t.Fatalf("escalations: %v", escs)
	}
	return res.EventID, escs[0].ID
}

func mustParse(t *testing.T, body string) any {
	t.Helper()
	v, err := payload.Parse([]byte(body), true)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A mapping fix turns a held record (the mapping read the wrong field) into
// a deliverable one; a hold that had expired into an escalation is settled
// the same way and its escalation closes.
func TestReplayNormalizeReleasesHeldRecords(t *testing.T) {
	g, clk := newGate(t)
	ctx := context.Background()
	expired, esc := heldThenExpired(t, g, clk, `{"email":"x@b.co","org":"Initech"}`)
	held, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", ContentType: "application/json", Body: []byte(`{"email":"a@b.co","org":"Acme"}`),
		Payload: mustParse(t, `{"email":"a@b.co","org":"Acme"}`)})
	if err != nil || held.State != store.EventHeld {
		t.Fatalf("capture: %+v %v", held, err)
	}
	form := "email=f%40b.co&org=Formco"
	fres, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", ContentType: "application/x-www-form-urlencoded", Body: []byte(form),
		Payload: map[string]any{"email": "f@b.co", "org": "Formco"}})
	if err != nil || fres.State != store.EventHeld {
		t.Fatalf("form capture: %+v %v", fres, err)
	}

	g.SetPlan(pipelinetest.Plan(t, strings.Replace(cfg, "company: {from: company}", "company: {from: org}", 1)))
	dry, err := g.Replay(ctx, pipeline.ReplayParams{Stage: pipeline.StageNormalize, DryRun: true, Actor: "admin:ops"})
	if err != nil || dry.Replayed != 3 || dry.Transitions["held -> delivering"] != 2 || dry.Transitions["escalated -> delivering"] != 1 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if ev, _ := pipeline.ExecutorOf(g).EventGetByID(ctx, held.EventID); ev.State != store.EventHeld {
		t.Fatalf("dry run changed the event: %s", ev.State)
	}
	res, err := g.Replay(ctx, pipeline.ReplayParams{Stage: pipeline.StageNormalize, Actor: "admin:ops", Limit: 2})
	if err != nil || res.Replayed != 2 || res.Next == "" {
		t.Fatalf("first page: %+v %v", res, err)
	}
	res, err = g.Replay(ctx, pipeline.ReplayParams{Stage: pipeline.StageNormalize, Actor: "admin:ops", AfterID: res.Next})
	if err != nil || res.Replayed != 1 || res.Next != "" || res.Items[0].EventID != fres.EventID {
		t.Fatalf("second page: %+v %v", res, err)
	}
	for _, id := range []string{held.EventID, fres.EventID, expired} {
		ev, _ := pipeline.ExecutorOf(g).EventGetByID(ctx, id)
		ds, _ := pipeline.ExecutorOf(g).DeliveryListByEvent(ctx, id)
		if ev.State != store.EventDelivering || len(ds) != 1 || ev.Missing != nil || !ev.HoldUntil.IsZero() {
			t.Fatalf("event %s after replay: %+v, deliveries %v", id, ev, ds)
		}
	}
	if tk, _ := pipeline.ExecutorOf(g).TicketGetByID(ctx, esc); tk.Status != store.EscalationResolved || tk.Actor != "admin:ops" {
		t.Fatalf("hold escalation after replay: %+v", tk.Escalation)
	}
	// From deliver, held records are never sent.
	g.SetPlan(pipelinetest.Plan(t, cfg))
	again, _ := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", ContentType: "application/json", Body: []byte(`{"email":"z@b.co"}`), Payload: mustParse(t, `{"email":"z@b.co"}`)})
	res, err = g.Replay(ctx, pipeline.ReplayParams{Stage: pipeline.StageDeliver, Actor: "admin:ops", Filter: pipeline.ReplayFilter{States: []store.EventState{store.EventHeld}}})
	if err != nil || res.Replayed != 0 || res.Skipped != 1 || res.Items[0].EventID != again.EventID || !strings.Contains(res.Items[0].Reason, "held") {
		t.Fatalf("deliver replay of a held record: %+v %v", res, err)
	}
	if _, err := g.Replay(ctx, pipeline.ReplayParams{Stage: pipeline.StageDeliver, Filter: pipeline.ReplayFilter{Destination: "nowhere"}}); !errors.Is(err, pipeline.ErrInvalidRequest) {
		t.Fatalf("unknown destination: %v", err)
	}
}
