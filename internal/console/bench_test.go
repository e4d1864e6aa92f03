package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// benchEvents is the store size the pages are measured at.
const benchEvents = 1_000_000

// benchNow is the fixed "now" of the benchmark data set: a week of traffic
// before it.
var benchNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// benchStore builds (once; the file is kept in the temp directory and
// reused by later runs) a SQLite store with benchEvents events over a week:
// 97% delivered to HubSpot, 2% held without a company, 0.5% escalated with
// an open ticket, 0.5% waiting; each with its delivery and audit entries,
// folded into rollups.
func benchStore(b *testing.B) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("sluice-console-bench-%d-v2.db", benchEvents))
	if _, err := os.Stat(path + ".done"); err == nil {
		return path
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	ctx := context.Background()
	start := time.Now()
	d, err := storesqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	span := 7 * 24 * time.Hour
	step := span / benchEvents
	const batch = 5000
	for i := 0; i < benchEvents; i += batch {
		tx, err := d.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for j := i; j < i+batch && j < benchEvents; j++ {
			at := benchNow.Add(-span + time.Duration(j)*step)
			if err := benchEvent(ctx, tx, j, at); err != nil {
				tx.Rollback()
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := (&control.Rollups{Driver: d, Batch: 20000}).Fold(ctx); err != nil {
		b.Fatal(err)
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path+".done", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d events in %s", benchEvents, time.Since(start).Round(time.Second))
	return path
}

func benchEvent(ctx context.Context, tx store.ExecutorTx, j int, at time.Time) error {
	email := fmt.Sprintf("lead%07d@example.com", j)
	state, dstate := store.EventDelivered, store.DeliverySucceeded
	rec := map[string]any{"email": email, "name": "Lead", "company": "Co " + fmt.Sprint(j%1000)}
	missing := json.RawMessage("[]")
	switch {
	case j%50 == 7:
		state, dstate = store.EventHeld, ""
		delete(rec, "company")
		missing = json.RawMessage(`["company"]`)
	case j%200 == 11:
		state, dstate = store.EventEscalated, store.DeliveryEscalated
	case j%200 == 13:
		state, dstate = store.EventDelivering, store.DeliveryPending
	}
	canon, _ := json.Marshal(rec)
	ev := &store.Event{ID: id.New("evt", at), Source: "webforms", Flow: "leads", RecordKey: email, State: state, ContentType: "application/json",
		Raw: canon, Canonical: canon, Missing: missing, ReceivedAt: at, UpdatedAt: at}
	if state == store.EventHeld {
		ev.HoldUntil = at.Add(24 * time.Hour)
	}
	if _, _, err := tx.EventInsert(ctx, ev); err != nil {
		return err
	}
	if err := tx.AuditAppend(ctx, &store.AuditEntry{At: at, EventID: ev.ID, Actor: "system", Action: audit.ActionCaptured, Outcome: string(state)}); err != nil {
		return err
	}
	if dstate == "" {
		return nil
	}
	done := at.Add(time.Duration(200+j%3000) * time.Millisecond)
	dl := &store.Delivery{ID: id.New("dlv", at), EventID: ev.ID, Route: "crm", Destination: "hubspot", RecordKey: email, State: dstate,
		Payload: json.RawMessage(`{"email":"` + email + `","company":"Co"}`), Attempts: 1 + j%3, NextAt: at, CreatedAt: at, UpdatedAt: done}
	if err := tx.DeliveryInsert(ctx, dl); err != nil {
		return err
	}
	switch dstate {
	case store.DeliverySucceeded:
		return tx.AuditAppend(ctx, &store.AuditEntry{At: done, EventID: ev.ID, DeliveryID: dl.ID, Route: "crm", Attempt: dl.Attempts, Actor: "system", Action: audit.ActionDelivered, Outcome: "succeeded", Status: 201})
	case store.DeliveryEscalated:
		esc := &store.Escalation{ID: id.New("esc", done), EventID: ev.ID, DeliveryID: dl.ID, Kind: "permanent_error", Reason: "the destination refused the record",
			LastError: "400 INVALID_EMAIL", LastStatus: 400, Status: store.EscalationOpen, CreatedAt: done, UpdatedAt: done,
			GroupID: pipeline.GroupKey("hubspot", "permanent_error", 400, "INVALID_EMAIL"), Code: "INVALID_EMAIL"}
		if err := tx.EscalationInsert(ctx, esc); err != nil {
			return err
		}
		return tx.AuditAppend(ctx, &store.AuditEntry{At: done, EventID: ev.ID, DeliveryID: dl.ID, Route: "crm", Attempt: dl.Attempts, Actor: "system", Action: audit.ActionEscalated, Outcome: "permanent_error", Status: 400})
	}
	return nil
}

// BenchmarkPages measures each console page's server-side render against a
// store of benchEvents events (built once, see benchStore). Skipped in
// -short. Run: go test ./internal/console -run XXX -bench Pages -benchtime 20x
func BenchmarkPages(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1,000,000-event store")
	}
	path := benchStore(b)
	raw := fmt.Sprintf("store: %q\nadmin_tokens:\n  - {name: ana, token: %q, role: admin}\nsources:\n  webforms: {allow_unsigned: true}\n", path, adminToken) + leadFlow +
		"destinations:\n  hubspot:\n    type: hubspot\n    allow_private_network: true\n    options: {base_url: \"http://127.0.0.1:9\", token: \"pat-x\", object: contacts}\n"
	c, err := config.Parse([]byte(raw), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	srv, err := server.NewWith(context.Background(), c, slog.New(slog.DiscardHandler), server.Options{Clock: func() time.Time { return benchNow }})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Console.Handler()
	// Sign in once.
	req := httptest.NewRequest(http.MethodPost, "/ui/signin", strings.NewReader(url.Values{"token": {adminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	cookie := rec.Result().Cookies()[0]
	ex := srv.Driver.Executor().(store.ConsoleStore)
	held, _ := ex.EventSearch(context.Background(), &store.EventSearchParams{State: store.EventHeld, Limit: 1})
	some, _ := ex.EventSearch(context.Background(), &store.EventSearchParams{State: store.EventEscalated, Limit: 1})
	tks, _ := srv.Tickets.List(context.Background(), &store.TicketListParams{Status: store.EscalationOpen, Limit: 1})
	if len(held) == 0 || len(some) == 0 || len(tks) == 0 {
		b.Fatal("bench store lacks holds, escalated events or tickets")
	}
	mid := benchNow.Add(-72 * time.Hour).Format("2006-01-02T15:04")
	midTo := benchNow.Add(-70 * time.Hour).Format("2006-01-02T15:04")
	pages := []struct{ name, path string }{
		{"overview-hour", "/ui/?period=hour"},
		{"overview-day", "/ui/?period=day"},
		{"overview-week", "/ui/?period=week"},
		{"holds", "/ui/holds"},
		{"holds-flow-missing", "/ui/holds?flow=leads&missing=company"},
		{"holds-page-200", "/ui/holds?after=" + held[0].ID},
		{"hold", "/ui/holds/" + held[0].ID},
		{"tickets", "/ui/tickets"},
		{"tickets-overdue", "/ui/tickets?overdue=on"},
		{"ticket", "/ui/tickets/" + tks[0].ID},
		{"tickets-group", "/ui/tickets?group=" + url.QueryEscape(tks[0].GroupID)},
		{"events", "/ui/events"},
		{"events-by-key", "/ui/events?key=lead0500000%40example.com"},
		{"events-by-state", "/ui/events?state=escalated"},
		{"events-time-range", "/ui/events?from=" + mid + "&to=" + midTo},
		{"events-flow-state-range", "/ui/events?flow=leads&state=held&from=" + mid + "&to=" + midTo},
		{"event", "/ui/events/" + some[0].ID},
		{"destinations", "/ui/destinations"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
