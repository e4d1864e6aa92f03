package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
)

const cfg = `
sources: {forms: {allow_unsigned: true}}
entities:
  lead: {key: email}
flows:
  leads:
    source: forms
    entity: lead
    require: [company]
    hold_ttl: 1h
    normalize:
      fields:
        email: {from: email, type: email}
        company: {from: company}
    routes:
      crm: {destination: d}
destinations:
  d: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}
`

// clock is the gate's settable clock.
type clock = pipelinetest.Clock

func newGate(t *testing.T) (*pipeline.Gate, *clock) {
	t.Helper()
	g, clk, _ := newGateCommitter(t)
	return g, clk
}

// newGateCommitter is newGate that also hands out the gate's group commit.
func newGateCommitter(t *testing.T) (*pipeline.Gate, *clock, *store.Committer) {
	t.Helper()
	e := pipelinetest.New(t, cfg)
	return e.Gate, e.Clock, e.Committer
}

func TestHoldExpiresIntoEscalation(t *testing.T) {
	g, clk := newGate(t)
	ctx := context.Background()
	res, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", Payload: map[string]any{"email": "a@b.co"}, Body: []byte(`{}`)})
	if err != nil || res.State != store.EventHeld {
		t.Fatalf("capture: %+v %v", res, err)
	}
	clk.Add(59 * time.Minute)
	if n, err := g.ExpireHolds(ctx); err != nil || n != 0 {
		t.Fatalf("expired early: %d %v", n, err)
	}
	clk.Add(2 * time.Minute)
	if n, err := g.ExpireHolds(ctx); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	ev, _ := pipeline.ExecutorOf(g).EventGetByID(ctx, res.EventID)
	if ev.State != store.EventEscalated {
		t.Fatalf("state %s, want escalated", ev.State)
	}
	escs, _ := pipeline.ExecutorOf(g).EscalationList(ctx, &store.EscalationListParams{EventID: res.EventID})
	if len(escs) != 1 || escs[0].Kind != "hold_expired" {
		t.Fatalf("escalations: %+v", escs)
	}
	// A person can still fix and release it; the escalation closes.
	if _, err := g.HoldPatch(ctx, res.EventID, map[string]any{"company": "Acme"}, "admin:ops"); err != nil {
		t.Fatal(err)
	}
	ev, err = g.HoldRelease(ctx, res.EventID, "admin:ops")
	if err != nil || ev.State != store.EventDelivering {
		t.Fatalf("release after expiry: %+v %v", ev, err)
	}
	escs, _ = pipeline.ExecutorOf(g).EscalationList(ctx, &store.EscalationListParams{EventID: res.EventID})
	if escs[0].Status != store.EscalationResolved {
		t.Fatalf("escalation not closed: %+v", escs[0])
	}
	// Nothing downstream before release; one delivery after.
	ds, _ := pipeline.ExecutorOf(g).DeliveryListByEvent(ctx, res.EventID)
	if len(ds) != 1 || ds[0].State != store.DeliveryPending {
		t.Fatalf("deliveries: %+v", ds)
	}
}

func TestExpiredLeaseIsRequeuedAsAmbiguous(t *testing.T) {
	g, clk := newGate(t)
	ctx := context.Background()
	res, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", Payload: map[string]any{"email": "a@b.co", "company": "Acme"}, Body: []byte(`{}`)})
	if err != nil || res.State != store.EventDelivering {
		t.Fatalf("capture: %+v %v", res, err)
	}
	claimed, err := g.ClaimDeliveries(ctx, "d", "dead-worker", time.Minute, 5)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if n, _ := g.RecoverLeases(ctx); n != 0 {
		t.Fatal("recovered a live lease")
	}
	clk.Add(2 * time.Minute)
	if n, err := g.RecoverLeases(ctx); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	d, _ := pipeline.ExecutorOf(g).DeliveryGetByID(ctx, claimed[0].ID)
	if d.State != store.DeliveryPending || !d.Ambiguous || d.Attempts != 1 {
		t.Fatalf("after recovery: %+v", d)
	}
}

func TestDiscardNeedsReasonAndCancelsDeliveries(t *testing.T) {
	g, _ := newGate(t)
	ctx := context.Background()
	res, _ := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", Payload: map[string]any{"email": "a@b.co", "company": "Acme"}, Body: []byte(`{}`)})
	if _, err := g.EventDiscard(ctx, res.EventID, " ", "admin:ops"); err == nil {
		t.Fatal("discard without reason accepted")
	}
	ev, err := g.EventDiscard(ctx, res.EventID, "test lead", "admin:ops")
	if err != nil || ev.State != store.EventDiscarded {
		t.Fatalf("discard: %+v %v", ev, err)
	}
	ds, _ := pipeline.ExecutorOf(g).DeliveryListByEvent(ctx, res.EventID)
	if ds[0].State != store.DeliveryCancelled {
		t.Fatalf("delivery not cancelled: %+v", ds[0])
	}
	tl, _ := pipeline.ExecutorOf(g).AuditListByEvent(ctx, res.EventID)
	last := tl[len(tl)-1]
	if last.Action != audit.ActionDiscarded || last.Actor != "admin:ops" || last.Message != "test lead" {
		t.Fatalf("audit: %+v", last)
	}
}
