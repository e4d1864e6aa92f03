package trigger_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/trigger"
)

const noticeCfg = `
sources:
  pages: {platform: {kind: notion, secrets: ["secret_notion_token_0123"], destination: nt}}
entities:
  contact: {key: email}
flows:
  in:
    source: pages
    entity: contact
    normalize:
      fields:
        email: {from: fields.Email, type: email}
    routes:
      out: {destination: sink}
destinations:
  nt: {type: notion}
  sink: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}
`

// clock is the settable clock shared by the gate and the worker, so
// backoff is passed by moving it, not by sleeping.
type clock = pipelinetest.Clock

// pageReader plays Notion's page read; read decides each answer.
type pageReader struct {
	mu    sync.Mutex
	reads int
	read  func(n int, id string) (connector.Change, error)
}

func (r *pageReader) ReadRecord(_ context.Context, id string) (connector.Change, error) {
	r.mu.Lock()
	r.reads++
	n := r.reads
	r.mu.Unlock()
	return r.read(n, id)
}

func noticeGate(t *testing.T, clk *clock) (*pipeline.Gate, store.Driver) {
	t.Helper()
	e := pipelinetest.New(t, noticeCfg, pipelinetest.WithClock(clk))
	return e.Gate, e.Driver
}

func noticeWorker(g trigger.NoticeGate, clk *clock, rd connector.RecordReader) *trigger.NoticeWorker {
	return &trigger.NoticeWorker{Gate: g, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sources: func() map[string]*trigger.NoticeSource {
			return map[string]*trigger.NoticeSource{"pages": {Destination: "nt", Reader: rd}}
		}}
}

func pageNotice(event, page string) pipeline.NoticeInput {
	return pipeline.NoticeInput{Source: "pages", Platform: "notion", Key: "notion:" + event, Type: "page.properties_updated",
		Object: "page", RecordID: page, OccurredAt: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
}

func pageEvents(t *testing.T, drv store.Driver) map[string]int {
	t.Helper()
	evs, err := drv.Executor().EventList(context.Background(), &store.EventListParams{Source: "pages", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, ev := range evs {
		out[ev.RecordKey]++
	}
	return out
}

func auditActions(t *testing.T, drv store.Driver) map[audit.Action]int {
	t.Helper()
	out := map[audit.Action]int{}
	err := drv.Executor().AuditScan(context.Background(), 0, func(e *store.AuditEntry) error { out[e.Action]++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoticeFetchedOnceAcrossRetriesAndCrash: a notice and the platform's
// retry of it are one notice; a capture killed before its commit leaves
// the notice pending, and the next pass captures the page exactly once;
// a retry arriving after that is still recognised.
func TestNoticeFetchedOnceAcrossRetriesAndCrash(t *testing.T) {
	clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	g, drv := noticeGate(t, clk)
	ctx := context.Background()
	first, err := g.NoticeReceived(ctx, pageNotice("ev1", "p1"))
	if err != nil || first.Duplicate {
		t.Fatalf("notice: %+v %v", first, err)
	}
	again, err := g.NoticeReceived(ctx, pageNotice("ev1", "p1"))
	if err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("platform retry: %+v %v, want a duplicate of %s", again, err, first.ID)
	}
	rd := &pageReader{read: func(_ int, id string) (connector.Change, error) {
		return connector.Change{RecordID: id, Fields: map[string]any{"Email": "nora@x.co"}}, nil
	}}
	// The first pass dies between the read and the commit.
	crash := &crashing{Gate: g, failAt: map[int]bool{1: true}}
	pass, err := noticeWorker(noticeGateOf{crash, g}, clk, rd).ProcessDue(ctx)
	if err != nil || pass.Failed != 1 || pass.Settled != 0 {
		t.Fatalf("crashed pass: %+v %v", pass, err)
	}
	if got := pageEvents(t, drv); len(got) != 0 {
		t.Fatalf("the crashed capture committed: %v", got)
	}
	// Nothing is due until the backoff passed.
	w := noticeWorker(g, clk, rd)
	if pass, err := w.ProcessDue(ctx); err != nil || pass.Settled+pass.Failed != 0 {
		t.Fatalf("pass inside the backoff: %+v %v", pass, err)
	}
	clk.Add(5 * time.Second)
	pass, err = w.ProcessDue(ctx)
	if err != nil || pass.Settled != 1 || pass.Captured != 1 {
		t.Fatalf("pass after the backoff: %+v %v", pass, err)
	}
	if got := pageEvents(t, drv); got["nora@x.co"] != 1 || len(got) != 1 {
		t.Fatalf("events = %v, want nora once", got)
	}
	// Settled: nothing due, and a late retry of the notice is recognised.
	clk.Add(time.Hour)
	if pass, err := w.ProcessDue(ctx); err != nil || pass.Settled+pass.Failed != 0 {
		t.Fatalf("pass after settling: %+v %v", pass, err)
	}
	if late, err := g.NoticeReceived(ctx, pageNotice("ev1", "p1")); err != nil || !late.Duplicate {
		t.Fatalf("late retry: %+v %v", late, err)
	}
	if a := auditActions(t, drv); a[audit.ActionNoticeReceived] != 1 || a[audit.ActionNoticeFailed] != 1 || a[audit.ActionCaptured] != 1 {
		t.Fatalf("audit actions = %v", a)
	}
	if rd.reads != 2 {
		t.Fatalf("page read %d times, want 2 (the crashed pass and the retry)", rd.reads)
	}
}

// noticeGateOf is a gate whose capture is c's (a crashing one) and whose
// notice transitions are g's.
type noticeGateOf struct {
	c *crashing
	*pipeline.Gate
}

func (n noticeGateOf) CapturePolled(ctx context.Context, b pipeline.PollBatch) (pipeline.PollResult, error) {
	return n.c.CapturePolled(ctx, b)
}

// TestNoticeEscalatesOnceAndRecovers: a page that cannot be read is
// retried with a growing wait, escalates once at EscalateAfter failures,
// keeps being retried, and its capture after all is audited as recovered.
func TestNoticeEscalatesOnceAndRecovers(t *testing.T) {
	clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	g, drv := noticeGate(t, clk)
	ctx := context.Background()
	if _, err := g.NoticeReceived(ctx, pageNotice("ev7", "p7")); err != nil {
		t.Fatal(err)
	}
	failing := true
	rd := &pageReader{read: func(_ int, id string) (connector.Change, error) {
		if failing {
			return connector.Change{}, &connector.Error{Class: connector.Retryable, Status: 502, Message: "notion answered 502"}
		}
		return connector.Change{RecordID: id, Fields: map[string]any{"Email": "pat@x.co"}}, nil
	}}
	w := noticeWorker(g, clk, rd)
	w.EscalateAfter = 3
	var escalated []string
	w.OnEscalated = func(n *store.HookNotice, err error) { escalated = append(escalated, n.ID+": "+err.Error()) }
	for range 5 {
		pass, err := w.ProcessDue(ctx)
		if err != nil || pass.Failed != 1 {
			t.Fatalf("failing pass: %+v %v", pass, err)
		}
		clk.Add(10 * time.Minute) // past any backoff
	}
	if len(escalated) != 1 {
		t.Fatalf("escalations = %v, want exactly one", escalated)
	}
	due, err := g.NoticesDue(ctx, 10)
	if err != nil || len(due) != 1 || due[0].Attempts != 5 || due[0].EscalatedAt.IsZero() || due[0].LastError == "" {
		t.Fatalf("notice after 5 failures: %+v %v", due, err)
	}
	failing = false
	if pass, err := w.ProcessDue(ctx); err != nil || pass.Captured != 1 {
		t.Fatalf("recovering pass: %+v %v", pass, err)
	}
	a := auditActions(t, drv)
	if a[audit.ActionNoticeFailed] != 4 || a[audit.ActionNoticeEscalated] != 1 || a[audit.ActionNoticeRecovered] != 1 {
		t.Fatalf("audit actions = %v", a)
	}
	if got := pageEvents(t, drv); got["pat@x.co"] != 1 {
		t.Fatalf("events = %v", got)
	}
}

// TestNoticeBackoffGrows: each failure waits longer than the one before
// (up to MaxBackoff), so a platform that is down is not hammered.
func TestNoticeBackoffGrows(t *testing.T) {
	clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	g, _ := noticeGate(t, clk)
	ctx := context.Background()
	if _, err := g.NoticeReceived(ctx, pageNotice("ev9", "p9")); err != nil {
		t.Fatal(err)
	}
	rd := &pageReader{read: func(int, string) (connector.Change, error) {
		return connector.Change{}, errors.New("connection refused")
	}}
	w := noticeWorker(g, clk, rd)
	w.MinBackoff, w.MaxBackoff = time.Second, time.Minute
	var waits []time.Duration
	for range 9 {
		if _, err := w.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		next, err := g.NoticeNextDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, next.Sub(clk.Now()))
		clk.Add(next.Sub(clk.Now()))
	}
	for i, d := range waits {
		lo, hi := min(time.Second<<i, time.Minute)/2, min(time.Second<<i, time.Minute)
		if d < lo || d > hi {
			t.Fatalf("wait %d = %v, want within [%v, %v] (all: %v)", i, d, lo, hi, waits)
		}
	}
}

// TestNoticeSourceDownCostsOneRequestPerPass: when a read fails, the
// source's other due notices are postponed untried (no attempt counted)
// to the same time, so a platform that is down is asked once per pass;
// once it answers, every notice is captured.
func TestNoticeSourceDownCostsOneRequestPerPass(t *testing.T) {
	clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	g, drv := noticeGate(t, clk)
	ctx := context.Background()
	for _, ev := range []string{"a", "b", "c"} {
		if _, err := g.NoticeReceived(ctx, pageNotice("ev-"+ev, "p-"+ev)); err != nil {
			t.Fatal(err)
		}
	}
	up := false
	rd := &pageReader{read: func(_ int, id string) (connector.Change, error) {
		if !up {
			return connector.Change{}, errors.New("dial tcp: connection refused")
		}
		return connector.Change{RecordID: id, Fields: map[string]any{"Email": id + "@x.co"}}, nil
	}}
	w := noticeWorker(g, clk, rd)
	pass, err := w.ProcessDue(ctx)
	if err != nil || pass.Failed != 1 || pass.Postponed != 2 || rd.reads != 1 {
		t.Fatalf("pass while down: %+v %v, %d reads; want 1 failed, 2 postponed, 1 read", pass, err, rd.reads)
	}
	if due, _ := g.NoticesDue(ctx, 10); len(due) != 0 {
		t.Fatalf("%d notices still due right after the failed pass", len(due))
	}
	list, err := drv.Executor().HookNoticeList(ctx, &store.HookNoticeListParams{Source: "pages", State: store.NoticePending})
	if err != nil {
		t.Fatal(err)
	}
	attempts := 0
	for _, n := range list {
		attempts += n.Attempts
	}
	if len(list) != 3 || attempts != 1 {
		t.Fatalf("pending notices %d with %d attempts in all, want 3 with 1", len(list), attempts)
	}
	up = true
	clk.Add(10 * time.Minute)
	if pass, err := w.ProcessDue(ctx); err != nil || pass.Captured != 3 {
		t.Fatalf("pass once up: %+v %v", pass, err)
	}
	if got := pageEvents(t, drv); len(got) != 3 {
		t.Fatalf("events = %v", got)
	}
}
