package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/server"
)

// pollConfig: a webhook flow writes leads to a SQL table ("crm"); a poll
// source reads that table's changes back and routes them to an HTTP sink.
// Together they are a two-way sync whose loop must be cut at the echo.
const pollConfig = `
listen: 127.0.0.1:0
store: %s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  forms:
    signature: {scheme: standard-webhooks, secrets: ["%s"]}
  crm_changes:
    poll:
      destination: crm
      options: {updated_column: updated_at, deleted_column: deleted}
      interval: 1h
      overlap: 2s
      batch: 3
entities:
  lead:
    key: email
    schema: {type: object, required: [email]}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: contact.email, type: email}
        name: {from: contact.name}
    routes:
      crm: {destination: crm}
  crm_back:
    source: crm_changes
    entity: lead
    normalize:
      fields:
        email: {from: fields.email, type: email}
        name: {from: fields.name}
        deleted: {from: deleted, type: boolean}
    routes:
      out:
        destination: sink
        when: 'deleted == false'
destinations:
  crm:
    type: sql
    options: {driver: sqlite, dsn: "%s", table: contacts, key_column: email}
    retry_base: 10ms
    retry_max: 50ms
  sink:
    type: http
    options: {url: "%s/out", timeout: 2s}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
delivery:
  lease: 5s
  poll_interval: 20ms
`

type pollHarness struct {
	*harness
	crm *sql.DB
}

func startPoll(t *testing.T) *pollHarness {
	t.Helper()
	dir := t.TempDir()
	crmPath := filepath.Join(dir, "crm.db")
	crm, err := sql.Open("sqlite", crmPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crm.Close() })
	// The CRM stamps every insert and update itself, as platforms do.
	for _, q := range []string{
		`CREATE TABLE contacts (email TEXT PRIMARY KEY, name TEXT, deleted INTEGER NOT NULL DEFAULT 0, updated_at TEXT)`,
		`CREATE TRIGGER contacts_ins AFTER INSERT ON contacts BEGIN
		   UPDATE contacts SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE email = NEW.email; END`,
		`CREATE TRIGGER contacts_upd AFTER UPDATE OF name, deleted ON contacts BEGIN
		   UPDATE contacts SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE email = NEW.email; END`,
	} {
		if _, err := crm.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	sk := newSink()
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	raw := fmt.Sprintf(pollConfig, filepath.Join(dir, "sluice.db"), secret, crmPath, ts.URL)
	c := parseConfig(t, raw)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := serve(t, srv, sk)
	return &pollHarness{harness: h, crm: crm}
}

func (h *pollHarness) exec(q string, args ...any) {
	h.t.Helper()
	if _, err := h.crm.Exec(q, args...); err != nil {
		h.t.Fatal(err)
	}
}

func (h *pollHarness) poll() {
	h.t.Helper()
	if _, err := h.srv.PollNow(context.Background(), "crm_changes"); err != nil {
		h.t.Fatal(err)
	}
}

// events counts the poll source's events.
func (h *pollHarness) events() int {
	h.t.Helper()
	_, res := h.admin("GET", "/v1/events?source=crm_changes&limit=500", "")
	evs, _ := res["events"].([]any)
	return len(evs)
}

func (h *pollHarness) waitSink(key string, want int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if h.sink.count(key) == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("sink has %d writes of %s, want %d", h.sink.count(key), key, want)
}

func TestPollSQLCapturesEachChangeOnce(t *testing.T) {
	h := startPoll(t)
	for i := range 7 { // more than one page (batch 3)
		h.exec(`INSERT INTO contacts (email, name) VALUES (?, ?)`, fmt.Sprintf("p%d@x.co", i), fmt.Sprintf("P%d", i))
	}
	h.poll()
	h.poll() // the overlap window re-reads; nothing is captured twice
	if n := h.events(); n != 7 {
		t.Fatalf("events = %d, want 7", n)
	}
	for i := range 7 {
		h.waitSink(fmt.Sprintf("p%d@x.co", i), 1)
	}

	// Two updates of one record, each polled: both versions are captured,
	// even when the stamps could fall in one unit.
	h.exec(`UPDATE contacts SET name = 'P0 first' WHERE email = 'p0@x.co'`)
	h.poll()
	h.exec(`UPDATE contacts SET name = 'P0 second' WHERE email = 'p0@x.co'`)
	h.poll()
	h.waitSink("p0@x.co", 3)

	// A soft delete becomes a delete event that the route ignores.
	h.exec(`UPDATE contacts SET deleted = 1 WHERE email = 'p1@x.co'`)
	h.poll()
	if n := h.events(); n != 10 {
		t.Fatalf("events = %d, want 10 (7 created, 2 updates, 1 delete)", n)
	}
	time.Sleep(100 * time.Millisecond)
	if n := h.sink.count("p1@x.co"); n != 1 {
		t.Fatalf("deleted record written to the sink again: %d", n)
	}
}

func TestPollResumesFromCommittedCursorAfterRestart(t *testing.T) {
	h := startPoll(t)
	h.exec(`INSERT INTO contacts (email, name) VALUES ('r1@x.co', 'R1')`)
	h.poll()
	// A second server on the same store (a restart) starts from the cursor.
	h.exec(`INSERT INTO contacts (email, name) VALUES ('r2@x.co', 'R2')`)
	h.poll()
	h.poll()
	if n := h.events(); n != 2 {
		t.Fatalf("events = %d, want 2", n)
	}
}

func TestPollSuppressesEchoesOfSluicesOwnWrites(t *testing.T) {
	h := startPoll(t)
	// A lead arrives by webhook and is written to the CRM table by Sluice.
	code, res := h.send(`{"contact":{"email":"echo@x.co","name":"Echo"}}`, nil)
	if code != 202 {
		t.Fatalf("send: %d %v", code, res)
	}
	h.waitState(res["event_id"].(string), "delivered")
	// The poll sees Sluice's own write: it is an echo, not a change.
	h.poll()
	h.poll()
	if n := h.events(); n != 0 {
		t.Fatalf("echo captured: %d poll events", n)
	}
	_, det := h.admin("GET", "/v1/audit/verify", "")
	if det["ok"] == false {
		t.Fatalf("audit verify: %v", det)
	}
	// Someone edits the record in the CRM: a real change, captured once.
	h.exec(`UPDATE contacts SET name = 'Echo Edited' WHERE email = 'echo@x.co'`)
	h.poll()
	h.poll()
	if n := h.events(); n != 1 {
		t.Fatalf("poll events = %d, want 1 (the edit)", n)
	}
	h.waitSink("echo@x.co", 1)
}
