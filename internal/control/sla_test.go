package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
)

const slaConfig = `
sources: {forms: {allow_unsigned: true}}
entities:
  lead: {key: email}
flows:
  leads:
    source: forms
    entity: lead
    require: [company]
    hold_ttl: 24h
    sla: {deliver_within: 5m, hold_within: 1h}
    normalize:
      fields:
        email: {from: email, type: email}
        company: {from: company}
    routes:
      crm: {destination: crm}
destinations:
  crm:
    type: http
    allow_private_network: true
    options: {url: "http://127.0.0.1:1/x"}
    sla: {queue_age: 10m, queue_depth: 2}
alerts:
  window: 5m
  failure_rate: {above: 0.5, min_attempts: 4}
`

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// clock is a settable fake clock.
type clock = pipelinetest.Clock

// recorder is an alert channel that keeps what it is sent.
type recorder struct {
	mu   sync.Mutex
	got  []alert.Alert
	fail error
}

func (r *recorder) Send(_ context.Context, a alert.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
	return r.fail
}

func (r *recorder) take() []alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

type fixture struct {
	gate *pipeline.Gate
	clk  *clock
	sla  store.SLAStore
	ex   store.Executor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := pipelinetest.New(t, slaConfig, pipelinetest.WithClock(pipelinetest.NewClock(t0)))
	return &fixture{gate: e.Gate, clk: e.Clock, sla: e.Driver.Executor(), ex: e.Driver.Executor()}
}

// watcher is one instance's watcher with its own alerter and recorder.
func (f *fixture) watcher() (*control.SLAWatcher, *recorder) {
	rec := &recorder{}
	a := alert.New(f.gate.Plan().Config.Alerts.Window.D(), f.clk.Now)
	a.Add("rec", rec)
	return &control.SLAWatcher{Gate: f.gate, Store: f.ex, Alerter: a}, rec
}

func (f *fixture) capture(t *testing.T, payload map[string]any) string {
	t.Helper()
	res, err := f.gate.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Payload: payload, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return res.EventID
}

// settle claims every ready delivery to crm and succeeds (or escalates)
// each, as the engine would.
func (f *fixture) settle(t *testing.T, escalate bool) {
	t.Helper()
	ctx := context.Background()
	g := f.gate
	ds, err := g.ClaimDeliveries(ctx, "crm", "test", time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if escalate {
			err = g.DeliveryEscalate(ctx, d, "permanent_error", "the destination refused the record", pipeline.Attempt{Status: 422, Message: "email is invalid"})
		} else {
			err = g.DeliverySucceeded(ctx, d, "ext-"+d.RecordKey, pipeline.Attempt{Status: 200})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func check(t *testing.T, w *control.SLAWatcher) {
	t.Helper()
	if err := w.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) open(t *testing.T) map[string]*store.SLABreach {
	t.Helper()
	bs, err := f.sla.SLABreachList(context.Background(), &store.SLABreachListParams{Status: "open"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*store.SLABreach{}
	for _, b := range bs {
		out[b.Key] = b
	}
	return out
}

func keys(as []alert.Alert) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind+" "+a.Key)
	}
	return strings.Join(out, "; ")
}

func TestDeliveryBreachOpensOnceAlertsOnceAndResolves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, rec := f.watcher()
	f.capture(t, map[string]any{"email": "a@b.co", "company": "Acme"})

	f.clk.Set(t0.Add(5 * time.Minute)) // at the limit, not beyond it
	check(t, w)
	if got := rec.take(); len(got) != 0 || len(f.open(t)) != 0 {
		t.Fatalf("breach at the limit: %s %v", keys(got), f.open(t))
	}

	f.clk.Set(t0.Add(6 * time.Minute))
	check(t, w)
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("want one alert, got %s", keys(got))
	}
	a := got[0]
	if a.Kind != alert.KindSLABreach || a.Key != "sla:leads:delivery" || a.Severity != alert.SeverityWarning ||
		a.Title != "SLA breach: flow leads not delivered within 5m0s" || !a.Time.Equal(t0.Add(6*time.Minute)) ||
		!strings.Contains(a.Text, "1 event of flow leads is still being delivered; the oldest was captured 6m0s ago") {
		t.Fatalf("alert: %+v", a)
	}
	open := f.open(t)
	b := open["sla:leads:delivery"]
	if len(open) != 1 || b == nil || b.Kind != control.BreachDeliverWithin || b.Subject != "leads" || !b.OpenedAt.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("open items: %+v", open)
	}
	var det control.BreachDetails
	if err := json.Unmarshal(b.Details, &det); err != nil || det.Count != 1 || !det.Oldest.Equal(t0) || det.Threshold != "5m0s" {
		t.Fatalf("details %s: %v", b.Details, err)
	}

	// Still breached, more events: no second alert, details follow.
	f.capture(t, map[string]any{"email": "c@d.co", "company": "Initech"})
	f.clk.Set(t0.Add(20 * time.Minute))
	check(t, w)
	if got := rec.take(); len(got) != 1 || got[0].Key != "sla:crm:queue_age" {
		t.Fatalf("only the queue-age breach may alert now, got %s", keys(got))
	}
	b = f.open(t)["sla:leads:delivery"]
	if err := json.Unmarshal(b.Details, &det); err != nil || det.Count != 2 || !b.OpenedAt.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("details not refreshed: %s", b.Details)
	}

	// A restarted (or second) instance agrees: nothing new to say.
	w2, rec2 := f.watcher()
	check(t, w2)
	if got := rec2.take(); len(got) != 0 {
		t.Fatalf("second instance re-alerted: %s", keys(got))
	}

	f.settle(t, false)
	f.clk.Set(t0.Add(21 * time.Minute))
	check(t, w)
	got = rec.take()
	if len(got) != 2 {
		t.Fatalf("want two resolved alerts, got %s", keys(got))
	}
	r := got[1] // keys are handled in order: sla:crm:queue_age, sla:leads:delivery
	if r.Kind != alert.KindSLAResolved || r.Key != "sla:leads:delivery:resolved" || r.Severity != alert.SeverityInfo ||
		r.Title != "Resolved: flow leads delivering within its SLA again" || r.Text != "Open for 15m0s, since 2026-11-29T09:06:00Z." {
		t.Fatalf("resolved alert: %+v", r)
	}
	if len(f.open(t)) != 0 {
		t.Fatalf("still open: %v", f.open(t))
	}
	hist, _ := f.sla.SLABreachList(context.Background(), &store.SLABreachListParams{Status: "resolved"})
	if len(hist) != 2 {
		t.Fatalf("history: %+v", hist)
	}
	check(t, w)
	check(t, w2)
	if got := append(rec.take(), rec2.take()...); len(got) != 0 {
		t.Fatalf("alerts after resolution: %s", keys(got))
	}
}

// TestCountLimit: counts stop at the watcher's limit (ADR 0039) and the
// alerts say "at least"; a queue_depth breach is still decided on an exact
// count (the limit is raised past the depth).
func TestCountLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, rec := f.watcher()
	w.CountLimit = 1 // raised to 3 by crm's queue_depth of 2
	for i := range 4 {
		f.capture(t, map[string]any{"email": fmt.Sprintf("l%d@b.co", i), "company": "Acme"})
	}
	check(t, w)
	got := rec.take()
	if keys(got) != "sla_breach sla:crm:queue_depth" || got[0].Title != "SLA breach: destination crm has at least 3 pending deliveries" ||
		got[0].Text != "At least 3 deliveries to crm are pending, more than the SLA's queue depth of 2." {
		t.Fatalf("4 pending counted to 3: %+v", got)
	}
	var d control.BreachDetails
	if err := json.Unmarshal(f.open(t)["sla:crm:queue_depth"].Details, &d); err != nil || d.Count != 3 || !d.CountAtLeast {
		t.Fatalf("details: %+v %v", d, err)
	}
	f.clk.Set(t0.Add(6 * time.Minute))
	check(t, w)
	got = rec.take()
	if keys(got) != "sla_breach sla:leads:delivery" ||
		!strings.HasPrefix(got[0].Text, "At least 3 events of flow leads are still being delivered; the oldest was captured 6m0s ago") {
		t.Fatalf("deliver_within counted to 3: %+v", got)
	}
	// Two pending (not above the depth of 2): resolved, exactly as without a limit.
	ds, err := f.gate.ClaimDeliveries(context.Background(), "crm", "test", time.Minute, 2)
	if err != nil || len(ds) != 2 {
		t.Fatalf("claim: %d %v", len(ds), err)
	}
	check(t, w)
	if got := keys(rec.take()); got != "sla_resolved sla:crm:queue_depth:resolved" {
		t.Fatalf("after claiming two: %s", got)
	}
}

func TestHoldAndQueueBreaches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, rec := f.watcher()
	held := f.capture(t, map[string]any{"email": "held@b.co"})
	for i := range 3 {
		f.capture(t, map[string]any{"email": fmt.Sprintf("l%d@b.co", i), "company": "Acme"})
	}
	check(t, w)
	if got := rec.take(); keys(got) != "sla_breach sla:crm:queue_depth" {
		t.Fatalf("3 pending > depth 2: %s", keys(got))
	}
	if !strings.Contains(f.open(t)["sla:crm:queue_depth"].Subject, "crm") {
		t.Fatal("queue depth item")
	}

	f.clk.Set(t0.Add(61 * time.Minute))
	check(t, w)
	if got := keys(rec.take()); got != "sla_breach sla:crm:queue_age; sla_breach sla:leads:delivery; sla_breach sla:leads:hold" {
		t.Fatalf("after 61m: %s", got)
	}
	if len(f.open(t)) != 4 {
		t.Fatalf("open: %v", f.open(t))
	}

	if _, err := f.gate.EventDiscard(context.Background(), held, "test lead", "admin:ops"); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(t0.Add(62 * time.Minute))
	check(t, w)
	if got := rec.take(); len(got) != 1 || got[0].Key != "sla:leads:hold:resolved" || got[0].Title != "Resolved: flow leads has no record held beyond its SLA" {
		t.Fatalf("hold resolved: %s", keys(got))
	}
	f.settle(t, false)
	check(t, w)
	if got := keys(rec.take()); got != "sla_resolved sla:crm:queue_age:resolved; sla_resolved sla:crm:queue_depth:resolved; sla_resolved sla:leads:delivery:resolved" {
		t.Fatalf("after delivery: %s", got)
	}
}

func TestPausedDestinationAlertsOnceAndOnResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, rec := f.watcher()
	ex := f.ex
	ctx := context.Background()
	if err := ex.DestinationStatePut(ctx, &store.DestinationState{Name: "crm", Paused: true, Reason: "paused: auth error from crm: 401 invalid token", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	check(t, w)
	got := rec.take()
	if len(got) != 1 || got[0].Kind != alert.KindDestinationPaused || got[0].Key != "destination_paused:crm" || got[0].Severity != alert.SeverityCritical ||
		got[0].Title != "Destination crm paused" || !strings.HasPrefix(got[0].Text, "paused: auth error from crm: 401 invalid token. Its deliveries wait") {
		t.Fatalf("paused alert: %+v", got)
	}
	if b := f.open(t)["destination_paused:crm"]; b == nil || b.Kind != control.BreachDestinationPaused {
		t.Fatalf("open items: %v", f.open(t))
	}
	f.clk.Set(t0.Add(time.Minute))
	check(t, w)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("alerted twice: %s", keys(got))
	}
	if err := ex.DestinationStatePut(ctx, &store.DestinationState{Name: "crm", Paused: false, Reason: "resumed by operator", UpdatedAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(t0.Add(2 * time.Minute))
	check(t, w)
	if got := rec.take(); len(got) != 1 || got[0].Kind != alert.KindDestinationResume || got[0].Title != "Resolved: destination crm resumed" {
		t.Fatalf("resume alert: %s", keys(got))
	}
}

func TestNewEscalationsAlertOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w1, rec1 := f.watcher()
	w2, rec2 := f.watcher()

	// An escalation from before the watcher ever ran is already in the
	// inbox: the first run only starts the cursor.
	f.capture(t, map[string]any{"email": "old@b.co", "company": "Acme"})
	f.settle(t, true)
	f.clk.Set(t0.Add(time.Minute))
	check(t, w1)
	if got := rec1.take(); len(got) != 0 {
		t.Fatalf("backlog alerted: %s", keys(got))
	}

	f.capture(t, map[string]any{"email": "new@b.co", "company": "Acme"})
	f.settle(t, true) // escalated at 9:01:00
	f.clk.Set(t0.Add(time.Minute + 5*time.Second))
	check(t, w1)
	if got := rec1.take(); len(got) != 0 {
		t.Fatalf("alerted before the escalation settled: %s", keys(got))
	}
	f.clk.Set(t0.Add(time.Minute + 20*time.Second))
	var wg sync.WaitGroup
	for _, w := range []*control.SLAWatcher{w1, w2} {
		wg.Add(1)
		go func() { defer wg.Done(); check(t, w) }()
	}
	wg.Wait()
	got := append(rec1.take(), rec2.take()...)
	if len(got) != 1 {
		t.Fatalf("two instances sent %d alerts: %s", len(got), keys(got))
	}
	a := got[0]
	if a.Kind != alert.KindEscalation || a.Key != "escalations" || a.Title != "New escalation: permanent_error" ||
		!strings.Contains(a.Text, "permanent_error (event evt_") || !strings.Contains(a.Text, "the destination refused the record: email is invalid") {
		t.Fatalf("escalation alert: %+v", a)
	}

	// Later, several at once: one alert listing them.
	f.clk.Set(t0.Add(10 * time.Minute))
	for i := range 3 {
		f.capture(t, map[string]any{"email": fmt.Sprintf("n%d@b.co", i), "company": "Acme"})
	}
	f.settle(t, true)
	f.clk.Set(t0.Add(11 * time.Minute))
	check(t, w2)
	check(t, w1)
	got = append(rec1.take(), rec2.take()...)
	if len(got) != 1 || got[0].Title != "3 new escalations" || got[0].Count != 3 || len(got[0].Items) != 3 || !strings.HasPrefix(got[0].Text, "3 permanent_error.") {
		t.Fatalf("batch alert: %+v", got)
	}
}

type observer struct {
	mu       sync.Mutex
	attempts int
	breakers []string
}

func (o *observer) Attempt(string, string, int, time.Duration) {
	o.mu.Lock()
	o.attempts++
	o.mu.Unlock()
}
func (o *observer) Breaker(d, s string) {
	o.mu.Lock()
	o.breakers = append(o.breakers, d+":"+s)
	o.mu.Unlock()
}

func TestFailureRateSpikeAlerts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, rec := f.watcher()
	next := &observer{}
	w.Failures = &control.FailureCounter{Next: next}
	fc := w.Failures
	check(t, w) // starts the period

	for _, o := range []string{"succeeded", "retryable", "retryable", "permanent"} {
		fc.Attempt("crm", o, 500, time.Millisecond)
	}
	fc.Breaker("crm", "open")
	f.clk.Set(t0.Add(30 * time.Second))
	check(t, w)
	got := rec.take()
	if len(got) != 1 || got[0].Kind != alert.KindFailureRate || got[0].Key != "failure_rate:crm" ||
		got[0].Title != "Destination crm: 75% of delivery attempts failed" ||
		got[0].Text != "3 of 4 attempts to crm failed in the last 30s (alert above 50%). Outcomes: permanent 1, retryable 2." {
		t.Fatalf("failure-rate alert: %+v", got)
	}
	if next.attempts != 4 || len(next.breakers) != 1 {
		t.Fatalf("observer not forwarded: %+v", next)
	}
	// Counts start over; too few attempts, or a low rate, say nothing.
	for _, o := range []string{"retryable", "retryable", "retryable"} {
		fc.Attempt("crm", o, 500, 0)
	}
	f.clk.Set(t0.Add(time.Hour))
	check(t, w)
	for _, o := range []string{"succeeded", "succeeded", "succeeded", "retryable"} {
		fc.Attempt("crm", o, 0, 0)
	}
	f.clk.Set(t0.Add(2 * time.Hour))
	check(t, w)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("alerted on %s", keys(got))
	}
}

func TestFailedAlertIsReturnedAndItemStillOpens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, rec := f.watcher()
	rec.fail = errors.New("slack is down")
	f.capture(t, map[string]any{"email": "a@b.co", "company": "Acme"})
	f.clk.Set(t0.Add(6 * time.Minute))
	err := w.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "alert sla:leads:delivery via rec: slack is down") {
		t.Fatalf("want the send failure returned, got %v", err)
	}
	if _, ok := f.open(t)["sla:leads:delivery"]; !ok {
		t.Fatal("breach not recorded when its alert failed")
	}
	if st := w.Alerter.Stats(); st.Failed != 1 {
		t.Fatalf("stats: %+v", st)
	}
}
