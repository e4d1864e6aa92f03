package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	"github.com/sluicehq/sluice/internal/store"
)

const noticeVerifyToken = "secret_notice_test_token_0123456789"

// gatedSim serves a simulator's API only while open: while closed, every
// API request waits (control endpoints pass), and each is counted.
type gatedSim struct {
	h        http.Handler
	mu       sync.Mutex
	open     chan struct{}
	requests atomic.Int64
}

func newGatedSim(h http.Handler) *gatedSim {
	g := &gatedSim{h: h, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, sim.ControlPrefix) {
		g.requests.Add(1)
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		select {
		case <-open:
		case <-r.Context().Done():
			return
		}
	}
	g.h.ServeHTTP(w, r)
}

func (g *gatedSim) block() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedSim) release() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

func notionPage(t *testing.T, ntURL, email string) string {
	t.Helper()
	page := notionCall(t, "POST", ntURL+"/v1/pages", map[string]any{"parent": map[string]any{"database_id": notionsim.DefaultDatabaseID},
		"properties": map[string]any{"Name": map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": "N"}}}},
			"Email": map[string]any{"email": email}}})
	return page["id"].(string)
}

func pageEvent(id, page string) []byte {
	return []byte(`{"id":"` + id + `","timestamp":"2026-12-07T10:00:00.000Z","type":"page.properties_updated","entity":{"id":"` + page + `","type":"page"}}`)
}

// TestNotionNoticeAnsweredWithoutNotion: a Notion page event is answered
// 200 while the Notion API does not answer at all (the handler never
// calls it); the page is read and captured once the API answers again,
// and the platform's retry of the event is captured once.
func TestNotionNoticeAnsweredWithoutNotion(t *testing.T) {
	nt, err := notionsim.New(notionsim.Options{Tokens: []string{hookNotionToken}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	gate := newGatedSim(nt)
	ntURL := simtest.Start(t, gate).URL
	h := startHooks(t, notionHookConfig, `"`+noticeVerifyToken+`"`, ntURL, hookNotionToken, notionsim.DefaultDatabaseID)
	pageID := notionPage(t, ntURL, "quiet@x.co")

	gate.block()
	before := gate.requests.Load()
	code, res := h.post("pages", signature.Notion, noticeVerifyToken, pageEvent("ev-blocked", pageID), time.Now())
	if code != http.StatusOK || res["queued"] != 1.0 {
		t.Fatalf("event while Notion hangs: %d %v, want 200 queued", code, res)
	}
	// The platform's retry, still while Notion hangs: recognised.
	if code, res := h.post("pages", signature.Notion, noticeVerifyToken, pageEvent("ev-blocked", pageID), time.Now()); code != http.StatusOK || res["duplicates"] != 1.0 {
		t.Fatalf("retry while Notion hangs: %d %v", code, res)
	}
	if n := len(h.sourceEvents("pages")); n != 0 {
		t.Fatalf("%d events before Notion answered a single read", n)
	}
	gate.release()
	waitEvents(t, h, "pages", 1)
	if gate.requests.Load() <= before {
		t.Fatal("the page was captured without a read of Notion")
	}
	if p := h.payloadOf(h.sourceEvents("pages")[0]); p["id"] != pageID || p["fields"].(map[string]any)["Email"] != "quiet@x.co" {
		t.Fatalf("captured payload = %v", p)
	}
	h.waitSink("quiet@x.co", 1)
	// Another retry after the capture: still one event.
	if code, res := h.post("pages", signature.Notion, noticeVerifyToken, pageEvent("ev-blocked", pageID), time.Now()); code != http.StatusOK || res["duplicates"] != 1.0 {
		t.Fatalf("retry after the capture: %d %v", code, res)
	}
	if pass, err := h.srv.ProcessNoticesNow(context.Background()); err != nil || pass.Captured != 0 {
		t.Fatalf("pass after the retry: %+v %v", pass, err)
	}
	if n := len(h.sourceEvents("pages")); n != 1 {
		t.Fatalf("events = %d, want 1", n)
	}
}

// TestNotionNoticeSurvivesRestart: the event is committed as a notice
// while Notion refuses every read; Sluice stops before fetching it, and
// the next start captures the page.
func TestNotionNoticeSurvivesRestart(t *testing.T) {
	notionNoticeSurvivesRestart(t, filepath.Join(t.TempDir(), "sluice.db"))
}

// TestNotionNoticeSurvivesRestartOnPostgres: the same on PostgreSQL,
// where the worker runs under the elected leadership.
func TestNotionNoticeSurvivesRestartOnPostgres(t *testing.T) {
	notionNoticeSurvivesRestart(t, pgSchemaDSN(t))
}

func notionNoticeSurvivesRestart(t *testing.T, db string) {
	nt, err := notionsim.New(notionsim.Options{Tokens: []string{hookNotionToken}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ntURL := simtest.Start(t, nt).URL
	h := startHooksOn(t, db, notionHookConfig, `"`+noticeVerifyToken+`"`, ntURL, hookNotionToken, notionsim.DefaultDatabaseID)
	pageID := notionPage(t, ntURL, "later@x.co")
	if err := nt.SetFaults(sim.Faults{Errors: map[string]float64{"503": 1}}); err != nil {
		t.Fatal(err)
	}
	if code, res := h.post("pages", signature.Notion, noticeVerifyToken, pageEvent("ev-restart", pageID), time.Now()); code != http.StatusOK || res["queued"] != 1.0 {
		t.Fatalf("event: %d %v", code, res)
	}
	// Wait for the worker's failed read (recorded on the notice), so the
	// restart happens between the notice and a successful fetch.
	deadline := time.Now().Add(10 * time.Second)
	for !hasAudit(t, h.srv.Driver, audit.ActionNoticeFailed) {
		if time.Now().After(deadline) {
			t.Fatal("the worker never tried the notice")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The operator sees the notice waiting, and why.
	code, res := h.admin("GET", "/v1/sources/pages/notices?state=pending", "")
	ns, _ := res["notices"].([]any)
	if code != http.StatusOK || len(ns) != 1 {
		t.Fatalf("pending notices: %d %v", code, res)
	}
	if n := ns[0].(map[string]any); n["record_id"] != pageID || n["attempts"].(float64) < 1 || !strings.Contains(n["last_error"].(string), "503") {
		t.Fatalf("pending notice = %v", n)
	}
	if text := scrape(t, h.url); !strings.Contains(text, `sluice_notices_pending{escalated="false"} 1`) {
		t.Fatalf("metrics do not show the pending notice:\n%s", grepLines(text, "sluice_notices"))
	}
	h.stop()
	if err := nt.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	h2 := startHooksOn(t, db, notionHookConfig, `"`+noticeVerifyToken+`"`, ntURL, hookNotionToken, notionsim.DefaultDatabaseID)
	waitEvents(t, h2, "pages", 1)
	if p := h2.payloadOf(h2.sourceEvents("pages")[0]); p["id"] != pageID {
		t.Fatalf("captured payload = %v", p)
	}
	h2.waitSink("later@x.co", 1)
	if _, res := h2.admin("GET", "/v1/sources/pages/notices?state=pending", ""); len(res["notices"].([]any)) != 0 {
		t.Fatalf("pending notices after the capture: %v", res)
	}
	if code, res := h2.admin("GET", "/v1/sources/pages/notices?state=later", ""); code != http.StatusBadRequest {
		t.Fatalf("bad state: %d %v", code, res)
	}
}

func hasAudit(t *testing.T, drv store.Driver, a audit.Action) bool {
	t.Helper()
	found := false
	err := drv.Executor().AuditScan(context.Background(), 0, func(e *store.AuditEntry) error {
		found = found || e.Action == a
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
