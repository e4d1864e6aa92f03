package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
)

// TestRerenderLeavesInFlightWritesAlone: a re-render changes the payloads
// of pending deliveries in place, never one a worker has claimed (its old
// payload is on the wire); once that one is escalated, a re-render renders
// it again and retries it with its escalation kept open until it lands.
func TestRerenderLeavesInFlightWritesAlone(t *testing.T) {
	ctx := context.Background()
	g, _ := newGate(t)
	ids := captureN(t, g, 3)
	ds, err := g.ClaimDeliveries(ctx, "d", "w1", 60e9, 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v %v", ds, err)
	}
	claimed := ds[0]
	g.SetPlan(pipelinetest.Plan(t, strings.Replace(cfg, "crm: {destination: d}", `crm:
        destination: d
        map:
          fields:
            email: {from: email}
            org: {from: company}`, 1)))

	rr := func(dry bool) *pipeline.ReplayResult {
		t.Helper()
		res, err := g.Replay(ctx, pipeline.ReplayParams{Stage: pipeline.StageDeliver, Rerender: true, DryRun: dry, Actor: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := rr(true)
	if res.Replayed != 2 || res.Unchanged != 1 {
		t.Fatalf("dry run: %+v", res)
	}
	for _, it := range res.Items {
		if it.EventID == claimed.EventID {
			if len(it.Payloads) != 0 || len(it.Warnings) != 1 || !strings.Contains(it.Warnings[0], "in flight") {
				t.Fatalf("in-flight delivery in the dry run: %+v", it)
			}
			continue
		}
		c := it.Payloads[0]
		if !c.Changed || string(c.Old) != `{"company":"Acme","email":"`+deliveryOf(t, g, it.EventID).RecordKey+`"}` || !strings.Contains(string(c.New), `"org":"Acme"`) {
			t.Fatalf("payloads: %s -> %s", c.Old, c.New)
		}
	}
	if d := deliveryOf(t, g, ids[1]); strings.Contains(string(d.Payload), "org") {
		t.Fatal("dry run changed a payload")
	}
	rr(false)
	for _, id := range ids {
		d := deliveryOf(t, g, id)
		if id == claimed.EventID {
			if d.State != store.DeliveryInflight || strings.Contains(string(d.Payload), "org") {
				t.Fatalf("in-flight delivery changed: %+v", d)
			}
			continue
		}
		if d.State != store.DeliveryPending || !strings.Contains(string(d.Payload), `"org":"Acme"`) {
			t.Fatalf("pending delivery not re-rendered: %s %s", d.State, d.Payload)
		}
	}
	// The claimed write is refused for good; now a re-render retries it.
	if err := g.DeliveryEscalate(ctx, claimed, "drift_error", "refused", pipeline.Attempt{Status: 400, Message: "no such property"}); err != nil {
		t.Fatal(err)
	}
	res = rr(false)
	if res.Replayed != 1 {
		t.Fatalf("re-render of the escalated delivery: %+v", res)
	}
	d := deliveryOf(t, g, claimed.EventID)
	if d.State != store.DeliveryPending || !strings.Contains(string(d.Payload), "org") || d.ID != claimed.ID {
		t.Fatalf("escalated delivery after re-render: %+v", d)
	}
	escs, _ := pipeline.ExecutorOf(g).EscalationList(ctx, &store.EscalationListParams{EventID: claimed.EventID})
	if len(escs) != 1 || escs[0].Status != store.EscalationOpen {
		t.Fatalf("escalations while the retry runs: %+v", escs)
	}
	cl, _ := g.ClaimDeliveries(ctx, "d", "w1", 60e9, 10)
	for _, c := range cl {
		if err := g.DeliverySucceeded(ctx, c, "x-"+c.ID, pipeline.Attempt{Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	escs, _ = pipeline.ExecutorOf(g).EscalationList(ctx, &store.EscalationListParams{EventID: claimed.EventID})
	if len(escs) != 1 || escs[0].Status != store.EscalationResolved {
		t.Fatalf("escalation after the re-rendered write landed: %+v", escs)
	}
	for _, id := range ids {
		ev, _ := pipeline.ExecutorOf(g).EventGetByID(ctx, id)
		if ev.State != store.EventDelivered {
			t.Fatalf("event %s is %s", id, ev.State)
		}
	}
}
