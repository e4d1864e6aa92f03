package ticket_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/operr"
	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

// Leads from forms need a company; a lead without one is held for an hour
// and then escalated (hold_expired, no delivery). Leads from shop deliver
// within 2h by their SLA.
const cfg = `
sources: {forms: {allow_unsigned: true}, shop: {allow_unsigned: true}}
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
  orders:
    source: shop
    entity: lead
    sla: {deliver_within: 2h}
    normalize:
      fields:
        email: {from: email, type: email}
        company: {from: company}
    routes:
      crm: {destination: d}
destinations:
  d: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}
`

type env struct {
	g   *pipeline.Gate
	w   *ticket.Workflow
	ex  store.Executor
	clk *pipelinetest.Clock
}

// newEnv is a real gate over a real SQLite file, with the workflow writing
// through it; secrets ("s3cret") are redacted as the server's redactor
// would.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := pipelinetest.New(t, cfg, pipelinetest.WithRedact(func(s string) string { return strings.ReplaceAll(s, "s3cret", "[redacted]") }))
	ex := e.Driver.Executor()
	return &env{g: e.Gate, ex: ex, clk: e.Clock, w: ticket.New(ticket.Config{Gate: e.Gate, Read: ex, Clock: e.Clock.Now})}
}

// expiredHold captures a lead without company and lets its hold run out:
// a hold_expired escalation with no delivery.
func (e *env) expiredHold(t *testing.T, email string) (eventID, escID string) {
	t.Helper()
	ctx := context.Background()
	body := `{"email":"` + email + `"}`
	v, err := payload.Parse([]byte(body), true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.g.Capture(ctx, pipeline.CaptureInput{Source: "forms", ContentType: "application/json", Body: []byte(body), Payload: v})
	if err != nil || res.State != store.EventHeld {
		t.Fatalf("capture: %+v %v", res, err)
	}
	e.clk.Add(61 * time.Minute)
	if n, err := e.g.ExpireHolds(ctx); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	return res.EventID, e.escalationOf(t, res.EventID)
}

// failedOrder captures an order and fails its delivery for good: a
// permanent_error escalation with an escalated delivery.
func (e *env) failedOrder(t *testing.T, email string) (eventID, escID string) {
	t.Helper()
	ctx := context.Background()
	res, err := e.g.Capture(ctx, pipeline.CaptureInput{Source: "shop", Body: []byte(`{}`),
		Payload: map[string]any{"email": email, "company": "Acme"}})
	if err != nil || res.State != store.EventDelivering {
		t.Fatalf("capture: %+v %v", res, err)
	}
	ds, err := e.g.ClaimDeliveries(ctx, "d", "w1", time.Minute, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v %v", ds, err)
	}
	if err := e.g.DeliveryEscalate(ctx, ds[0], "permanent_error", "refused", pipeline.Attempt{Status: 422, Message: "company is not allowed"}); err != nil {
		t.Fatal(err)
	}
	return res.EventID, e.escalationOf(t, res.EventID)
}

func (e *env) escalationOf(t *testing.T, eventID string) string {
	t.Helper()
	escs, err := e.ex.EscalationList(context.Background(), &store.EscalationListParams{EventID: eventID})
	if err != nil || len(escs) != 1 {
		t.Fatalf("escalations of %s: %v %v", eventID, escs, err)
	}
	return escs[0].ID
}

// lastAudit is the newest audit entry of an event.
func (e *env) lastAudit(t *testing.T, eventID string) *store.AuditEntry {
	t.Helper()
	tl, err := e.ex.AuditListByEvent(context.Background(), eventID)
	if err != nil || len(tl) == 0 {
		t.Fatalf("audit of %s: %v %v", eventID, tl, err)
	}
	return tl[len(tl)-1]
}

func TestOpenedRule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	esc := &store.Escalation{ID: "esc_2", CreatedAt: t0, UpdatedAt: t0}
	up, note := ticket.Opened(esc, nil, 2*time.Hour)
	if up.ID != "esc_2" || !up.DueAt.Equal(t0.Add(2*time.Hour)) || up.Owner != nil || note != nil {
		t.Fatalf("first escalation: %+v note %+v", up, note)
	}
	prev := &store.Ticket{Escalation: store.Escalation{ID: "esc_1", Kind: "permanent_error", Status: store.EscalationResolved, Actor: "admin:bo"}, Owner: "bo"}
	up, note = ticket.Opened(esc, prev, time.Hour)
	if up.Owner == nil || *up.Owner != "bo" || note == nil || note.EscalationID != "esc_2" || !note.At.Equal(t0) || note.Actor != ticket.ActorSystem ||
		note.Text != "follows esc_1 (permanent_error, resolved by admin:bo): the delivery failed again; owner bo kept" {
		t.Fatalf("follow-up of an owned ticket: %+v note %+v", up, note)
	}
	prev.Owner, prev.Actor = "", ""
	up, note = ticket.Opened(esc, prev, time.Hour)
	if up.Owner != nil || note == nil || note.Text != "follows esc_1 (permanent_error, resolved by nobody): the delivery failed again" {
		t.Fatalf("follow-up of an unowned ticket: %+v note %+v", up, note)
	}
}

func TestViewRule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	open := func() *store.Ticket {
		return &store.Ticket{Escalation: store.Escalation{Status: store.EscalationOpen, CreatedAt: t0}}
	}
	if v := ticket.View(open(), time.Hour, t0.Add(time.Hour)); !v.DueAt.Equal(t0.Add(time.Hour)) || v.Overdue {
		t.Fatalf("at its due time: %+v", v)
	}
	if v := ticket.View(open(), time.Hour, t0.Add(time.Hour+time.Millisecond)); !v.Overdue {
		t.Fatalf("past its due time: %+v", v)
	}
	set := open()
	set.DueAt = t0.Add(5 * time.Hour)
	if v := ticket.View(set, time.Hour, t0.Add(2*time.Hour)); !v.DueAt.Equal(t0.Add(5*time.Hour)) || v.Overdue {
		t.Fatalf("a stored due time is kept: %+v", v)
	}
	closed := open()
	closed.Status = store.EscalationResolved
	if v := ticket.View(closed, time.Hour, t0.Add(48*time.Hour)); v.Overdue {
		t.Fatalf("a closed ticket is never overdue: %+v", v)
	}
}

func TestDueFromTheFlowsSLA(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, held := e.expiredHold(t, "a@b.co")
	_, order := e.failedOrder(t, "o@b.co")
	tk, err := e.w.Get(ctx, held)
	if err != nil || tk.DueAt.Sub(tk.CreatedAt) != ticket.DefaultDue || tk.Overdue || tk.Source != "forms" {
		t.Fatalf("ticket of a flow without SLA: %+v %v", tk, err)
	}
	tk, err = e.w.Get(ctx, order)
	if err != nil || tk.DueAt.Sub(tk.CreatedAt) != 2*time.Hour || tk.Destination != "d" {
		t.Fatalf("ticket of a flow with a 2h SLA: %+v %v", tk, err)
	}
	e.clk.Add(2*time.Hour + time.Second)
	over, err := e.w.List(ctx, &store.TicketListParams{Status: store.EscalationOpen, DueBefore: e.clk.Now()})
	if err != nil || len(over) != 1 || over[0].ID != order || !over[0].Overdue {
		t.Fatalf("overdue list: %+v %v", over, err)
	}
}

func TestAssign(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev, esc := e.expiredHold(t, "a@b.co")
	e.clk.Add(time.Minute)
	tk, err := e.w.Assign(ctx, esc, "  bo  ", "admin:al")
	if err != nil || tk.Owner != "bo" || !tk.UpdatedAt.Equal(e.clk.Now()) {
		t.Fatalf("assign: %+v %v", tk, err)
	}
	a := e.lastAudit(t, ev)
	if a.Action != audit.ActionTicketAssigned || a.Actor != "admin:al" || a.Outcome != "bo" || !a.At.Equal(e.clk.Now()) ||
		a.Message != esc+" assigned to bo (was nobody)" {
		t.Fatalf("assign audit: %+v", a)
	}
	// A version read before that assignment is stale; the current one is not.
	old := tk.UpdatedAt.Add(-time.Minute)
	var stale *operr.StaleError
	if _, err := e.w.AssignIf(ctx, esc, "cy", "console:cy", old); !errors.As(err, &stale) || !stale.Current.Equal(tk.UpdatedAt) {
		t.Fatalf("assign from a stale version: %v", err)
	}
	if tk, err = e.w.AssignIf(ctx, esc, "", "console:cy", tk.UpdatedAt); err != nil || tk.Owner != "" {
		t.Fatalf("un-assign from the current version: %+v %v", tk, err)
	}
	if a := e.lastAudit(t, ev); a.Message != esc+" assigned to nobody (was bo)" {
		t.Fatalf("un-assign audit: %+v", a)
	}
	if _, err := e.w.Assign(ctx, esc, strings.Repeat("x", 201), "admin:al"); !errors.Is(err, operr.ErrInvalidRequest) {
		t.Fatalf("long owner: %v", err)
	}
	if _, err := e.w.Assign(ctx, "esc_nope", "x", "admin:al"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing ticket: %v", err)
	}
	if _, err := e.g.EscalationResolve(ctx, esc, "done", "admin:al"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.w.Assign(ctx, esc, "bo", "admin:al"); !errors.Is(err, operr.ErrWrongState) {
		t.Fatalf("assign a resolved ticket: %v", err)
	}
}

func TestAcknowledge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev, esc := e.expiredHold(t, "a@b.co")
	_, owned := e.expiredHold(t, "c@d.co")
	e.clk.Add(90 * time.Second)
	tk, err := e.w.Acknowledge(ctx, esc, "admin:bo")
	if err != nil || tk.Owner != "admin:bo" || tk.AcknowledgedBy != "admin:bo" || !tk.AcknowledgedAt.Equal(e.clk.Now()) {
		t.Fatalf("ack of an unowned ticket: %+v %v", tk, err)
	}
	if a := e.lastAudit(t, ev); a.Action != audit.ActionTicketAcknowledged || a.Message != esc+" acknowledged; now owned by admin:bo" {
		t.Fatalf("ack audit: %+v", a)
	}
	e.clk.Add(time.Minute)
	if _, err := e.w.Acknowledge(ctx, esc, "admin:cy"); !errors.Is(err, operr.ErrWrongState) {
		t.Fatalf("second ack: %v", err)
	}
	if tk, _ := e.w.Get(ctx, esc); tk.AcknowledgedBy != "admin:bo" || !tk.AcknowledgedAt.Equal(e.clk.Now().Add(-time.Minute)) {
		t.Fatalf("the first ack must stand: %+v", tk)
	}
	if _, err := e.w.Assign(ctx, owned, "dee", "admin:al"); err != nil {
		t.Fatal(err)
	}
	if tk, err := e.w.Acknowledge(ctx, owned, "admin:cy"); err != nil || tk.Owner != "dee" || tk.AcknowledgedBy != "admin:cy" {
		t.Fatalf("ack of an owned ticket keeps its owner: %+v %v", tk, err)
	}
}

func TestAddNote(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev, esc := e.expiredHold(t, "a@b.co")
	if _, err := e.w.AddNote(ctx, esc, "  \n ", "admin:bo"); !errors.Is(err, operr.ErrInvalidRequest) {
		t.Fatalf("empty note: %v", err)
	}
	if _, err := e.g.EscalationResolve(ctx, esc, "sorted", "admin:bo"); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	tk, err := e.w.AddNote(ctx, esc, " called them, token s3cret ", "admin:bo")
	if err != nil || len(tk.Notes) != 1 {
		t.Fatalf("note on a closed ticket: %+v %v", tk, err)
	}
	n := tk.Notes[0]
	if n.Text != "called them, token [redacted]" || n.Actor != "admin:bo" || !n.At.Equal(e.clk.Now()) {
		t.Fatalf("note: %+v", n)
	}
	if a := e.lastAudit(t, ev); a.Action != audit.ActionTicketNoted || a.Outcome != esc || strings.Contains(a.Message, "s3cret") {
		t.Fatalf("note audit: %+v", a)
	}
	long, err := e.w.AddNote(ctx, esc, strings.Repeat("n", 5000), "admin:bo")
	if err != nil || len(long.Notes) != 2 || len(long.Notes[1].Text) != 4000+len("…") {
		t.Fatalf("long note is truncated: %v", err)
	}
}

func TestPatchRetry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev, esc := e.failedOrder(t, "o@b.co")
	_, held := e.expiredHold(t, "a@b.co")
	if _, err := e.w.PatchRetry(ctx, esc, nil, "admin:bo"); !errors.Is(err, operr.ErrInvalidRequest) {
		t.Fatalf("no fields: %v", err)
	}
	if _, err := e.w.PatchRetry(ctx, esc, map[string]any{"a..b": 1}, "admin:bo"); !errors.Is(err, operr.ErrInvalidRequest) {
		t.Fatalf("bad field name: %v", err)
	}
	if _, err := e.w.PatchRetry(ctx, held, map[string]any{"company": "Acme"}, "admin:bo"); !errors.Is(err, operr.ErrWrongState) {
		t.Fatalf("patch of a hold escalation: %v", err)
	}
	e.clk.Add(time.Minute)
	tk, err := e.w.PatchRetry(ctx, esc, map[string]any{"company": "Initech", "extra.tier": "gold", "email": nil}, "admin:bo")
	if err != nil {
		t.Fatal(err)
	}
	// The ticket stays open while the retry runs; its notes say what was
	// patched (names, never values).
	if tk.Status != store.EscalationOpen || len(tk.Notes) != 2 || tk.Notes[0].Text != "patched payload fields company, email, extra.tier and retried" ||
		!strings.HasPrefix(tk.Notes[1].Text, "retry requested: escalation "+esc+" retried after a payload patch") {
		t.Fatalf("ticket after patch: %+v notes %+v", tk, tk.Notes)
	}
	d, err := e.ex.DeliveryGetByID(ctx, tk.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(d.Payload, &body); err != nil {
		t.Fatal(err)
	}
	if d.State != store.DeliveryPending || d.Attempts != 0 || !d.NextAt.Equal(e.clk.Now()) || body["company"] != "Initech" || body["email"] != nil ||
		body["extra"].(map[string]any)["tier"] != "gold" {
		t.Fatalf("delivery after patch: %+v body %v", d, body)
	}
	tl, _ := e.ex.AuditListByEvent(ctx, ev)
	got := []audit.Action{tl[len(tl)-2].Action, tl[len(tl)-1].Action}
	if got[0] != audit.ActionPayloadPatched || got[1] != audit.ActionRetryRequested || strings.Contains(tl[len(tl)-2].Message, "Initech") {
		t.Fatalf("audit after patch: %v %+v", got, tl[len(tl)-2])
	}
	// The delivery is queued again: a second patch does not apply.
	if _, err := e.w.PatchRetry(ctx, esc, map[string]any{"company": "Other"}, "admin:bo"); !errors.Is(err, operr.ErrWrongState) {
		t.Fatalf("patch of a delivery already retried: %v", err)
	}
}

func TestPatchRetryIfWithNoteAndNoFields(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, esc := e.failedOrder(t, "o@b.co")
	tk, err := e.w.Get(ctx, esc)
	if err != nil {
		t.Fatal(err)
	}
	var stale *operr.StaleError
	if _, err := e.w.PatchRetryIf(ctx, esc, nil, "console:bo", tk.UpdatedAt.Add(-time.Second), "kept theirs"); !errors.As(err, &stale) {
		t.Fatalf("stale version: %v", err)
	}
	if got, _ := e.w.Get(ctx, esc); len(got.Notes) != 0 {
		t.Fatalf("a stale save wrote notes: %+v", got.Notes)
	}
	tk, err = e.w.PatchRetryIf(ctx, esc, nil, "console:bo", tk.UpdatedAt, "kept theirs for company")
	if err != nil || len(tk.Notes) != 2 || tk.Notes[0].Text != "kept theirs for company" || tk.Notes[1].Text != "retry requested: escalation "+esc+" retried" {
		t.Fatalf("retry unchanged with a note: %+v %v", tk, err)
	}
	if d, _ := e.ex.DeliveryGetByID(ctx, tk.DeliveryID); d.State != store.DeliveryPending {
		t.Fatalf("delivery: %s", d.State)
	}
}

func TestBulkDryRunSkipsWhatDoesNotApply(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev1, esc1 := e.expiredHold(t, "a@b.co")
	_, esc2 := e.expiredHold(t, "c@d.co")

	res, err := e.w.Bulk(ctx, ticket.BulkParams{Action: ticket.BulkRetry, DryRun: true, Actor: "admin:ops"})
	if err != nil || res.Matched != 2 || res.Affected != 0 || res.Skipped != 2 || !strings.Contains(res.Items[0].Reason, "no delivery to retry") {
		t.Fatalf("bulk retry of hold escalations: %+v %v", res, err)
	}
	if res.Items[0].ID != esc1 || res.Items[1].ID != esc2 {
		t.Fatalf("items not oldest first: %+v", res.Items)
	}
	if _, err := e.w.Bulk(ctx, ticket.BulkParams{Action: ticket.BulkResolve, Actor: "admin:ops"}); !errors.Is(err, operr.ErrInvalidRequest) {
		t.Fatalf("bulk resolve without note: %v", err)
	}
	if _, err := e.w.Bulk(ctx, ticket.BulkParams{Action: "reopen", Actor: "admin:ops"}); !errors.Is(err, operr.ErrInvalidRequest) {
		t.Fatalf("unknown action: %v", err)
	}
	res, err = e.w.Bulk(ctx, ticket.BulkParams{Action: ticket.BulkResolve, Note: "sorted with sales", Actor: "admin:ops",
		Filter: ticket.Filter{Kind: "hold_expired", CreatedBefore: e.clk.Now()}})
	if err != nil || res.Affected != 1 || res.Items[0].ID != esc1 || res.Items[0].Outcome != "done" {
		t.Fatalf("bulk resolve of the first: %+v %v", res, err)
	}
	tk, _ := e.w.Get(ctx, esc1)
	if tk.Status != store.EscalationResolved || tk.Actor != "admin:ops" || tk.Note != "sorted with sales" {
		t.Fatalf("resolved ticket: %+v", tk)
	}
	if last := e.lastAudit(t, ev1); last.Action != audit.ActionEscalationResolved || last.Actor != "admin:ops" {
		t.Fatalf("resolve not audited: %+v", last)
	}
}

func TestBulkRetryAndSummary(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, esc := e.failedOrder(t, "o@b.co")
	_, held := e.expiredHold(t, "a@b.co")
	e.clk.Add(time.Minute)
	res, err := e.w.Bulk(ctx, ticket.BulkParams{Action: ticket.BulkRetry, Actor: "admin:ops"})
	if err != nil || res.Matched != 2 || res.Affected != 1 || res.Skipped != 1 {
		t.Fatalf("bulk retry: %+v %v", res, err)
	}
	for _, it := range res.Items {
		if want := map[string]string{esc: "done", held: "skipped"}[it.ID]; it.Outcome != want {
			t.Fatalf("item %s: %s, want %s", it.ID, it.Outcome, want)
		}
	}
	// The summary entry carries no event; find it in the whole log.
	var summary *store.AuditEntry
	err = e.ex.AuditScan(ctx, 0, func(a *store.AuditEntry) error {
		if a.Action == audit.ActionTicketsBulkRetry {
			summary = a
		}
		return nil
	})
	if err != nil || summary == nil || summary.Actor != "admin:ops" || summary.Outcome != "1 affected" || !summary.At.Equal(e.clk.Now()) ||
		!strings.HasPrefix(summary.Message, "bulk retry: 2 matched, 1 affected, 1 skipped, 0 failed; filter: status=open") {
		t.Fatalf("bulk summary: %+v %v", summary, err)
	}
}
