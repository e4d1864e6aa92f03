package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
)

// startOn is start(t) on the given store, with the gate's clock offset by
// *skew so a test can let a month pass.
func startOn(t *testing.T, storeSpec string, skew *atomic.Int64) *harness {
	t.Helper()
	sk := newSink()
	sk.failures["refused@example.com"] = []int{422}
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	raw := fmt.Sprintf(configTmpl, fmt.Sprintf("%q", storeSpec), secret, ts.URL, ts.URL)
	raw += "retention: {events: 30d, audit: 30d, batch: 2}\n"
	c := parseConfig(t, raw)
	clock := func() time.Time { return time.Now().UTC().Add(time.Duration(skew.Load())) }
	srv, err := server.NewWith(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := serve(t, srv, sk)
	return h
}

func TestRetentionSQLite(t *testing.T) {
	t.Parallel()
	testRetention(t, filepath.Join(t.TempDir(), "sluice.db"))
}

func TestRetentionPostgres(t *testing.T) {
	t.Parallel()
	testRetention(t, pgSchemaDSN(t))
}

// testRetention runs real traffic, lets a month pass, and prunes: finished
// events go in batches, held and escalated ones stay with their whole
// trail, and the audit log still verifies, from its checkpoint.
func testRetention(t *testing.T, storeSpec string) {
	var skew atomic.Int64
	h := startOn(t, storeSpec, &skew)
	id := func(res map[string]any) string { return res["event_id"].(string) }

	var gone, kept []string
	for i := 0; i < 3; i++ {
		_, res := h.send(fmt.Sprintf(`{"contact":{"email":"old%d@example.com"},"company":"Acme"}`, i), nil)
		h.waitState(id(res), "delivered")
		gone = append(gone, id(res))
	}
	for i := 0; i < 2; i++ {
		code, res := h.send(`{"contact":{"email":"not-an-email"},"company":"Acme"}`, nil)
		if code != 422 {
			t.Fatalf("rejected: %d %v", code, res)
		}
		gone = append(gone, id(res))
	}
	_, res := h.send(`{"contact":{"email":"dropped@example.com"}}`, nil)
	if code, out := h.admin("POST", "/v1/holds/"+id(res)+"/discard", `{"reason":"test lead"}`); code != 200 {
		t.Fatalf("discard: %d %v", code, out)
	}
	gone = append(gone, id(res))
	// Still open: a hold and an escalation. Their trails pin the audit log.
	_, res = h.send(`{"contact":{"email":"held@example.com"}}`, nil)
	kept = append(kept, id(res))
	_, res = h.send(`{"contact":{"email":"refused@example.com"},"company":"Acme"}`, nil)
	h.waitState(id(res), "escalated")
	kept = append(kept, id(res))
	// Finished, but after the open ones: deleted, their trails kept.
	_, res = h.send(`{"contact":{"email":"late@example.com"},"company":"Acme"}`, nil)
	h.waitState(id(res), "delivered")
	gone = append(gone, id(res))

	if code, out := h.admin("GET", "/v1/audit/verify", ""); code != 200 || out["ok"] != true {
		t.Fatalf("verify before retention: %d %v", code, out)
	}
	ex := h.srv.Driver.Executor()
	before := countAudit(t, ex)

	// Nothing is old yet.
	rep, err := h.srv.Gate.Prune(context.Background(), pipeline.RetentionParams{Events: 30 * 24 * time.Hour, Audit: 30 * 24 * time.Hour, Batch: 2})
	if err != nil || rep.Events != 0 || rep.AuditEntries != 0 {
		t.Fatalf("prune of young records: %+v %v", rep, err)
	}

	skew.Store(int64(31 * 24 * time.Hour))
	// A month is past the hold's TTL: the leader escalates it (still open,
	// still kept). Wait, so the state does not change under verification.
	h.waitState(kept[0], "escalated")
	rep, err = h.srv.Gate.Prune(context.Background(), pipeline.RetentionParams{Events: 30 * 24 * time.Hour, Audit: 30 * 24 * time.Hour, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != len(gone) || rep.Deliveries != 4 || rep.Escalations != 0 {
		t.Fatalf("deleted %+v, want %d events and their 4 deliveries", rep, len(gone))
	}
	if rep.Batches < 5 || rep.AuditEntries == 0 || rep.Checkpoint == nil {
		t.Fatalf("report %+v: want several batches of 2 and audit entries deleted", rep)
	}
	for _, e := range gone {
		if _, err := ex.EventGetByID(context.Background(), e); err == nil {
			t.Errorf("finished event %s survived", e)
		}
	}
	for _, e := range kept {
		ev, err := ex.EventGetByID(context.Background(), e)
		if err != nil {
			t.Fatalf("open event %s deleted: %v", e, err)
		}
		trail, _ := ex.AuditListByEvent(context.Background(), e)
		if len(trail) == 0 || trail[0].Action != audit.ActionCaptured {
			t.Errorf("%s (%s) lost the start of its trail: %v", e, ev.State, trail)
		}
	}
	// The whole trail of the first open event is there; everything
	// before its capture is gone.
	first, _ := ex.AuditListByEvent(context.Background(), kept[0])
	if rep.Checkpoint.Seq != first[0].Seq-1 {
		t.Errorf("checkpoint at %d, want just before %s's capture (%d)", rep.Checkpoint.Seq, kept[0], first[0].Seq)
	}
	after := countAudit(t, ex)
	if after >= before {
		t.Errorf("audit entries %d -> %d; want fewer", before, after)
	}

	code, out := h.admin("GET", "/v1/audit/verify", "")
	if code != 200 || out["ok"] != true {
		t.Fatalf("verify after retention: %d %v", code, out)
	}
	// The chain goes on: new work after pruning verifies too (back on the
	// engine's clock, which the skew does not move).
	skew.Store(0)
	_, res = h.send(`{"contact":{"email":"after@example.com"},"company":"Acme"}`, nil)
	h.waitState(id(res), "delivered")
	if code, out := h.admin("GET", "/v1/audit/verify", ""); code != 200 || out["ok"] != true {
		t.Fatalf("verify after new work: %d %v", code, out)
	}
	// A second run a month later deletes that event; the audit log stays
	// pinned by the open ones.
	skew.Store(int64(31 * 24 * time.Hour))
	rep, err = h.srv.Gate.Prune(context.Background(), pipeline.RetentionParams{Events: 30 * 24 * time.Hour, Audit: 30 * 24 * time.Hour, Batch: 2})
	if err != nil || rep.Events != 1 || rep.AuditEntries != 0 {
		t.Fatalf("second prune: %+v %v, want the one new event and no audit entries", rep, err)
	}
	if code, out := h.admin("GET", "/v1/audit/verify", ""); code != 200 || out["ok"] != true {
		t.Fatalf("verify after the second prune: %d %v", code, out)
	}
}

func countAudit(t *testing.T, ex store.Executor) int {
	t.Helper()
	n := 0
	if err := ex.AuditScan(context.Background(), 0, func(*store.AuditEntry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
