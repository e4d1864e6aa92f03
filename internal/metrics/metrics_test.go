package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func insert(t *testing.T, d store.Driver, id string, st store.EventState, ds store.DeliveryState) {
	t.Helper()
	tx, err := d.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	e := &store.Event{ID: id, Source: "src", Flow: "flow", RecordKey: id + "@x", State: st, ContentType: "application/json",
		Raw: []byte(`{}`), Canonical: json.RawMessage(`{}`), ReceivedAt: t0, UpdatedAt: t0}
	if _, _, err := tx.EventInsert(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	dl := &store.Delivery{ID: "dlv_" + id, EventID: id, Route: "r", Destination: "crm", RecordKey: e.RecordKey, State: ds,
		Payload: json.RawMessage(`{}`), NextAt: t0, CreatedAt: t0, UpdatedAt: t0}
	if err := tx.DeliveryInsert(context.Background(), dl); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestStateCountsRecountHistoryEvery: the open event states are current
// on every scrape period; the settled states and the deliveries by state
// are recounted every HistoryEvery, not on every scrape (they walk all
// of history).
func TestStateCountsRecountHistoryEvery(t *testing.T) {
	d, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := t0
	m := metrics.New(d.Executor(), 0, slog.New(slog.DiscardHandler))
	m.SetClock(func() time.Time { return now })
	insert(t, d, "evt_1", store.EventDelivered, store.DeliverySucceeded)
	insert(t, d, "evt_2", store.EventHeld, store.DeliveryWaiting)
	want := func(body string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(body, "\n"+l+"\n") {
				t.Errorf("scrape lacks %q", l)
			}
		}
	}
	want(scrape(t, m), `sluice_events{state="delivered"} 1`, `sluice_events{state="held"} 1`,
		`sluice_deliveries{state="succeeded"} 1`, `sluice_deliveries{state="waiting"} 1`, `sluice_store_up 1`)

	insert(t, d, "evt_3", store.EventDelivered, store.DeliverySucceeded)
	insert(t, d, "evt_4", store.EventHeld, store.DeliveryWaiting)
	now = now.Add(metrics.HistoryEvery - time.Second)
	want(scrape(t, m), `sluice_events{state="delivered"} 1`, `sluice_events{state="held"} 2`,
		`sluice_deliveries{state="succeeded"} 1`, `sluice_deliveries{state="waiting"} 1`)

	now = now.Add(time.Second)
	want(scrape(t, m), `sluice_events{state="delivered"} 2`, `sluice_events{state="held"} 2`,
		`sluice_deliveries{state="succeeded"} 2`, `sluice_deliveries{state="waiting"} 2`)
}

// TestStoreCommits: the committer's commits, units and (SQLite) WAL syncs
// are counted at scrape time.
func TestStoreCommits(t *testing.T) {
	d, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := store.NewCommitter(d, 64)
	defer c.Close()
	m := metrics.New(d.Executor(), 0, slog.New(slog.DiscardHandler))
	m.StoreCommits(c.Stats)
	for _, name := range []string{"a", "b"} {
		if err := c.Do(context.Background(), func(ctx context.Context, tx store.ExecutorTx) error {
			return tx.DestinationStatePut(ctx, &store.DestinationState{Name: name, UpdatedAt: t0})
		}); err != nil {
			t.Fatal(err)
		}
	}
	out := scrape(t, m)
	for _, want := range []string{"sluice_store_commits_total 2", "sluice_store_commit_units_total 2", "sluice_store_log_syncs_total 2"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
