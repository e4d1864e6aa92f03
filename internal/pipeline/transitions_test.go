package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// captureN captures n complete leads; each gets one pending delivery to d.
func captureN(t *testing.T, g *pipeline.Gate, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		res, err := g.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte(`{}`),
			Payload: map[string]any{"email": fmt.Sprintf("l%d@x.co", i), "company": "Acme"}})
		if err != nil || res.State != store.EventDelivering {
			t.Fatalf("capture %d: %+v %v", i, res, err)
		}
		ids = append(ids, res.EventID)
	}
	return ids
}

// claimAll claims every ready delivery to d, keyed by event.
func claimAll(t *testing.T, g *pipeline.Gate, want int) map[string]*store.Delivery {
	t.Helper()
	ds, err := g.ClaimDeliveries(context.Background(), "d", "w1", time.Minute, 100)
	if err != nil || len(ds) != want {
		t.Fatalf("claim: %d deliveries, %v; want %d", len(ds), err, want)
	}
	out := map[string]*store.Delivery{}
	for _, d := range ds {
		out[d.EventID] = d
	}
	return out
}

func deliveryOf(t *testing.T, g *pipeline.Gate, eventID string) *store.Delivery {
	t.Helper()
	ds, err := pipeline.ExecutorOf(g).DeliveryListByEvent(context.Background(), eventID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries of %s: %v %v", eventID, ds, err)
	}
	return ds[0]
}

// actions lists the audit actions of an event's delivery, in order.
func actions(t *testing.T, g *pipeline.Gate, eventID string) []audit.Action {
	t.Helper()
	tl, err := pipeline.ExecutorOf(g).AuditListByEvent(context.Background(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Action
	for _, e := range tl {
		if e.DeliveryID != "" {
			out = append(out, e.Action)
		}
	}
	return out
}

// waitPending spins (no sleeping, no deadline of its own: the test's
// timeout bounds it) until n units wait in the committer's queue.
func waitPending(com *store.Committer, n int) {
	for com.Pending() < n {
		runtime.Gosched()
	}
}

// TestBatchRerunKeepsTransitionsCorrect forces group commit to roll back
// a batch and run its units again one by one (a unit in it fails), with a
// park, a retry and a success in that batch. Each transition must apply
// once: the park gives back exactly one attempt (it used to decrement the
// caller's copy, so a re-run took two), states are right, and each audit
// entry exists once.
func TestBatchRerunKeepsTransitionsCorrect(t *testing.T) {
	g, clk, com := newGateCommitter(t)
	ctx := context.Background()
	ev := captureN(t, g, 3)
	parkEv, retryEv, okEv := ev[0], ev[1], ev[2]

	// Attempt 1 of the lead to be parked fails, so its claim is attempt 2.
	first := claimAll(t, g, 3)
	if err := g.DeliveryRetry(ctx, first[parkEv], 0, "retryable", pipeline.Attempt{Status: 503, Message: "busy"}); err != nil {
		t.Fatal(err)
	}
	if err := g.DeliveryParked(ctx, []*store.Delivery{first[retryEv], first[okEv]}, 0, "setup", pipeline.Attempt{}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	claimed := claimAll(t, g, 3)
	if a := claimed[parkEv].Attempts; a != 2 {
		t.Fatalf("second claim: attempts %d, want 2", a)
	}

	// Hold the commit loop inside a unit of its own, queue the batch
	// behind it, then let it go.
	started, release := make(chan struct{}), make(chan struct{})
	blocker := make(chan error, 1)
	go func() {
		blocker <- com.Do(ctx, func(context.Context, store.ExecutorTx) error { close(started); <-release; return nil })
	}()
	<-started
	errs := make(chan error, 4)
	queue := func(fn func() error) {
		n := com.Pending()
		go func() { errs <- fn() }()
		waitPending(com, n+1)
	}
	queue(func() error {
		return g.DeliveryParked(ctx, []*store.Delivery{claimed[parkEv]}, time.Minute, "paused: test", pipeline.Attempt{})
	})
	queue(func() error {
		return g.DeliveryRetry(ctx, claimed[retryEv], time.Minute, "retryable", pipeline.Attempt{Status: 500, Message: "boom"})
	})
	queue(func() error {
		return g.DeliverySucceeded(ctx, claimed[okEv], "ext-1", pipeline.Attempt{Status: 200})
	})
	sentinel := errors.New("this unit refuses")
	queue(func() error {
		return com.Do(ctx, func(context.Context, store.ExecutorTx) error { return sentinel })
	})
	close(release)
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	var failed int
	for i := 0; i < 4; i++ {
		if err := <-errs; errors.Is(err, sentinel) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if failed != 1 {
		t.Fatalf("%d units failed, want only the refusing one", failed)
	}

	if d := deliveryOf(t, g, parkEv); d.State != store.DeliveryPending || d.Attempts != 1 {
		t.Errorf("parked: %s attempts %d, want pending with 1 attempt spent", d.State, d.Attempts)
	}
	if d := deliveryOf(t, g, retryEv); d.State != store.DeliveryPending || d.Attempts != 1 || d.LastStatus != 500 ||
		!d.NextAt.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("retried: %+v", d)
	}
	if d := deliveryOf(t, g, okEv); d.State != store.DeliverySucceeded || d.ExternalID != "ext-1" {
		t.Errorf("succeeded: %+v", d)
	}
	want := map[string][]audit.Action{
		parkEv:  {audit.ActionAttemptFailed, audit.ActionParked},
		retryEv: {audit.ActionParked, audit.ActionAttemptFailed},
		okEv:    {audit.ActionParked, audit.ActionDelivered},
	}
	for ev, w := range want {
		if got := actions(t, g, ev); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("audit of %s: %v, want %v", ev, got, w)
		}
	}
	if e, err := pipeline.ExecutorOf(g).EventGetByID(ctx, okEv); err != nil || e.State != store.EventDelivered {
		t.Errorf("event of the success: %v %v", e, err)
	}
	if rep, err := audit.Verify(ctx, pipeline.ExecutorOf(g)); err != nil {
		t.Errorf("chain: %+v %v", rep, err)
	}
	if c, err := pipeline.VerifyComplete(ctx, pipeline.ExecutorOf(g)); err != nil || len(c.Gaps) != 0 {
		t.Errorf("completeness: %+v %v", c, err)
	}
}

// TestParkingTwiceGivesBackOneAttempt: the caller's copy of a delivery
// is stale after the first park; a second park of the same (no longer in
// flight) row must not lower its attempts again.
func TestParkingTwiceGivesBackOneAttempt(t *testing.T) {
	t.Parallel()
	g, _ := newGate(t)
	ctx := context.Background()
	ev := captureN(t, g, 1)[0]
	d := claimAll(t, g, 1)[ev]
	for i := 0; i < 2; i++ {
		if err := g.DeliveryParked(ctx, []*store.Delivery{d}, 0, "circuit open", pipeline.Attempt{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := deliveryOf(t, g, ev); got.Attempts != 0 || got.State != store.DeliveryPending {
		t.Fatalf("after two parks: %s attempts %d", got.State, got.Attempts)
	}
	if d.Attempts != 1 {
		t.Fatalf("the caller's copy changed: attempts %d", d.Attempts)
	}
}

// TestTransitionsStampTheInjectedClock: every transition takes its time
// from the gate's clock, never the wall clock.
func TestTransitionsStampTheInjectedClock(t *testing.T) {
	t.Parallel()
	g, clk := newGate(t)
	ctx := context.Background()
	ev := captureN(t, g, 1)[0]
	clk.Add(90 * time.Minute)
	d := claimAll(t, g, 1)[ev]
	if !d.LeaseUntil.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("lease until %s, want clock+1m", d.LeaseUntil)
	}
	clk.Add(time.Second)
	if err := g.DeliverySucceeded(ctx, d, "ext-9", pipeline.Attempt{Status: 201}); err != nil {
		t.Fatal(err)
	}
	got := deliveryOf(t, g, ev)
	if !got.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("delivery updated at %s, want %s", got.UpdatedAt, clk.Now())
	}
	tl, _ := pipeline.ExecutorOf(g).AuditListByEvent(ctx, ev)
	for _, e := range tl {
		if e.Action == audit.ActionDelivered && !e.At.Equal(clk.Now()) {
			t.Errorf("delivered entry at %s, want %s", e.At, clk.Now())
		}
	}
}

// TestPauseAndResumeAreAudited: the engine's pause (an auth error) and an
// operator's resume go through the gate, with redaction and the audit
// vocabulary, and the paused delivery keeps its attempt.
func TestPauseAndResumeAreAudited(t *testing.T) {
	t.Parallel()
	g, clk, _ := newGateCommitter(t)
	ctx := context.Background()
	ev := captureN(t, g, 1)[0]
	d := claimAll(t, g, 1)[ev]
	if err := g.DestinationPause(ctx, d, "auth", "token expired", pipeline.Attempt{Status: 401, Message: "401 Unauthorized"}); err != nil {
		t.Fatal(err)
	}
	ex := pipeline.ExecutorOf(g)
	st, err := ex.DestinationStateGet(ctx, "d")
	if err != nil || !st.Paused || st.Reason != "paused: auth error from d: token expired" || !st.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("state after pause: %+v %v", st, err)
	}
	if got := deliveryOf(t, g, ev); got.Attempts != 0 || got.State != store.DeliveryPending {
		t.Fatalf("paused delivery: %s attempts %d", got.State, got.Attempts)
	}
	if _, err := g.DestinationSetPaused(ctx, "d", false, "admin:ops", "rotated the token"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	err = ex.AuditScan(ctx, 0, func(e *store.AuditEntry) error {
		if e.Action == audit.ActionDestinationPaused || e.Action == audit.ActionDestinationResumed {
			seen = append(seen, fmt.Sprintf("%s %s %s %s", e.Action, e.Actor, e.Outcome, e.Message))
		}
		return nil
	})
	want := []string{
		"destination_paused system auth paused: auth error from d: token expired",
		"destination_resumed admin:ops ok d: rotated the token",
	}
	if err != nil || fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("audit: %q %v, want %q", seen, err, want)
	}
}
