package server_test

// End-to-end tests of the control layer's tickets and replay: a real server
// on a SQLite file, a real HTTP destination, the admin API over loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

// recordSink is a destination with records: POST /{dest} creates one
// (answering its ID), PUT /{dest}/{id} updates it. It counts creates and
// updates per destination and record key, so a duplicate shows up as a
// second create; it refuses (400) any record whose company is "REFUSE",
// and answers queued statuses first when asked to fail.
type recordSink struct {
	mu       sync.Mutex
	creates  map[string]int      // "crm a@x" -> creates
	updates  map[string]int      // "crm a@x" -> updates
	bodies   map[string][]string // "crm a@x" -> bodies applied
	failures map[string][]int    // "crm a@x" -> statuses to answer first
}

func newRecordSink() *recordSink {
	return &recordSink{creates: map[string]int{}, updates: map[string]int{}, bodies: map[string][]string{}, failures: map[string][]int{}}
}

func (s *recordSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	email, _ := p["email"].(string)
	dest, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	k := dest + " " + email
	s.mu.Lock()
	defer s.mu.Unlock()
	if fs := s.failures[k]; len(fs) > 0 {
		s.failures[k] = fs[1:]
		w.WriteHeader(fs[0])
		fmt.Fprintf(w, `{"message":"injected %d"}`, fs[0])
		return
	}
	if p["company"] == "REFUSE" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message":"company REFUSE is not a company"}`)
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.creates[k]++
	case http.MethodPut:
		s.updates[k]++
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	s.bodies[k] = append(s.bodies[k], string(body))
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"rec-%s"}`, email)
}

func (s *recordSink) counts(k string) (creates, updates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates[k], s.updates[k]
}

func (s *recordSink) fail(k string, statuses ...int) {
	s.mu.Lock()
	s.failures[k] = append(s.failures[k], statuses...)
	s.mu.Unlock()
}

// controlConfig: amount is read from the field %[2]s, so a test can start
// with a mapping that rejects records and fix it.
const controlConfig = `
store: %[1]q
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
  - {name: watcher, token: view-token-0123456789, role: viewer}
sources:
  forms: {allow_unsigned: true}
entities:
  lead:
    key: email
    schema:
      type: object
      required: [email, company]
      properties:
        email: {type: string, format: email}
        company: {type: string, minLength: 1}
        amount: {type: number, minimum: 0}
flows:
  leads:
    source: forms
    entity: lead
    hold_ttl: 1h
    sla: {deliver_within: 2h}
    normalize:
      fields:
        email: {from: email, type: email}
        company: {from: company, trim: true}
        amount: {from: %[2]s, type: number}
    routes:
      crm:
        destination: crm
      sheet:
        destination: sheet
        when: 'amount != nil && amount > 1000'
destinations:
  crm:
    type: http
    allow_private_network: true
    options: {url: "%[3]s/crm", update_url: "%[3]s/crm/{{.ExternalID}}", update_method: PUT, timeout: 2s}
    max_attempts: 3
    retry_base: 10ms
    retry_max: 50ms
  sheet:
    type: http
    allow_private_network: true
    options: {url: "%[3]s/sheet", update_url: "%[3]s/sheet/{{.ExternalID}}", update_method: PUT, timeout: 2s}
    max_attempts: 3
    retry_base: 10ms
    retry_max: 50ms
delivery:
  lease: 5s
  poll_interval: 20ms
`

// ctl is a running server of these tests and its admin client.
type ctl struct {
	t    *testing.T
	url  string
	stop func()
}

// startControl runs a server on the SQLite file db whose mapping reads
// amount from amountField, delivering to sinkURL. stop is idempotent and
// also runs at cleanup.
func startControl(t *testing.T, db, amountField, sinkURL string) *ctl {
	t.Helper()
	c, err := config.Parse(fmt.Appendf(nil, controlConfig, db, amountField, sinkURL), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
			srv.Close()
		})
	}
	t.Cleanup(stop)
	return &ctl{t: t, url: "http://" + ln.Addr().String(), stop: stop}
}

func (h *ctl) call(req *http.Request) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		h.t.Fatalf("%s %s: %d, not JSON: %q", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// capture posts body with the content type and returns the answer.
func (h *ctl) capture(contentType, body string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return h.call(req)
}

// captureID posts a JSON body and returns the event ID, checking the state.
func (h *ctl) captureID(body, wantState string) string {
	h.t.Helper()
	code, res := h.capture("application/json", body)
	if res["state"] != wantState {
		h.t.Fatalf("capture %s: %d %v, want state %s", body, code, res, wantState)
	}
	return res["event_id"].(string)
}

func (h *ctl) adminAs(token, method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return h.call(req)
}

func (h *ctl) admin(method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	return h.adminAs("ops-token-0123456789", method, path, body)
}

// must is admin expecting 200.
func (h *ctl) must(method, path string, body any) map[string]any {
	h.t.Helper()
	code, out := h.admin(method, path, body)
	if code != http.StatusOK {
		h.t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

func (h *ctl) event(id string) map[string]any {
	h.t.Helper()
	return h.must("GET", "/v1/events/"+id, nil)
}

func (h *ctl) waitState(id, state string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		last = h.event(id)
		if last["event"].(map[string]any)["state"] == state {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("event %s did not reach %s; last: %v", id, state, last)
	return nil
}

// openEscalation is the ID of the event's one open escalation.
func (h *ctl) openEscalation(eventID string) string {
	h.t.Helper()
	var open []string
	for _, e := range h.event(eventID)["escalations"].([]any) {
		if em := e.(map[string]any); em["status"] == "open" {
			open = append(open, em["id"].(string))
		}
	}
	if len(open) != 1 {
		h.t.Fatalf("event %s: open escalations %v, want one", eventID, open)
	}
	return open[0]
}

func (h *ctl) eventCount() int {
	h.t.Helper()
	return len(h.must("GET", "/v1/events?limit=1000", nil)["events"].([]any))
}

func timeline(det map[string]any) string {
	var b strings.Builder
	for _, e := range det["timeline"].([]any) {
		em := e.(map[string]any)
		fmt.Fprintf(&b, "%v %v %v %v: %v\n", em["actor"], em["action"], em["outcome"], em["status"], em["message"])
	}
	return b.String()
}

func jsonTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return tm
}

// TestTicketLifecycle: a destination refuses a record; the escalation is
// worked as a ticket (assigned, acknowledged, noted), a first fix that does
// not help re-opens it for the same owner, and a patch of the payload
// delivers the record once.
func TestTicketLifecycle(t *testing.T) {
	t.Parallel()
	sk := newRecordSink()
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	h := startControl(t, filepath.Join(t.TempDir(), "s.db"), "amount", ts.URL)

	id := h.captureID(`{"email":"ref@example.com","company":"REFUSE"}`, "delivering")
	h.waitState(id, "escalated")
	esc := h.openEscalation(id)

	tk := h.must("GET", "/v1/tickets/"+esc, nil)["ticket"].(map[string]any)
	if tk["kind"] != "permanent_error" || tk["destination"] != "crm" || tk["source"] != "forms" || tk["owner"] != nil || tk["overdue"] != false {
		t.Fatalf("new ticket: %v", tk)
	}
	if due := jsonTime(t, tk["due_at"]).Sub(jsonTime(t, tk["created_at"])); due != 2*time.Hour {
		t.Fatalf("due %v after creation, want the flow's deliver_within (2h)", due)
	}
	if !strings.Contains(fmt.Sprint(tk["last_error"]), "company REFUSE is not a company") {
		t.Fatalf("ticket lacks the platform's message: %v", tk["last_error"])
	}

	if code, out := h.adminAs("view-token-0123456789", "POST", "/v1/tickets/"+esc+"/assign", map[string]string{"owner": "ana"}); code != http.StatusForbidden {
		t.Fatalf("viewer assigned a ticket: %d %v", code, out)
	}
	tk = h.must("POST", "/v1/tickets/"+esc+"/assign", map[string]string{"owner": "ana"})["ticket"].(map[string]any)
	if tk["owner"] != "ana" {
		t.Fatalf("after assign: %v", tk)
	}
	tk = h.must("POST", "/v1/tickets/"+esc+"/ack", nil)["ticket"].(map[string]any)
	if tk["acknowledged_by"] != "admin:ops" || tk["acknowledged_at"] == nil || tk["owner"] != "ana" {
		t.Fatalf("after ack: %v", tk)
	}
	if code, out := h.admin("POST", "/v1/tickets/"+esc+"/ack", nil); code != http.StatusConflict {
		t.Fatalf("second ack: %d %v, want 409", code, out)
	}
	if code, out := h.admin("POST", "/v1/tickets/"+esc+"/notes", map[string]string{"text": " "}); code != http.StatusBadRequest {
		t.Fatalf("empty note: %d %v, want 400", code, out)
	}
	h.must("POST", "/v1/tickets/"+esc+"/notes", map[string]string{"text": "CRM rejects the placeholder company; asking sales"})
	mine := h.must("GET", "/v1/tickets?owner=ana&status=open", nil)["tickets"].([]any)
	if len(mine) != 1 || mine[0].(map[string]any)["id"] != esc {
		t.Fatalf("ana's open tickets: %v", mine)
	}
	if over := h.must("GET", "/v1/tickets?overdue=true", nil)["tickets"].([]any); len(over) != 0 {
		t.Fatalf("overdue tickets right after opening: %v", over)
	}

	// A fix that does not address the refusal: the delivery fails again and
	// the same ticket stays open (one record, one open problem), still
	// ana's, with the retry and the new failure as notes.
	h.must("POST", "/v1/tickets/"+esc+"/patch-retry", map[string]any{"fields": map[string]any{"note": "first try"}})
	retrying := h.must("GET", "/v1/tickets/"+esc, nil)["ticket"].(map[string]any)
	if retrying["status"] != "open" || !strings.Contains(fmt.Sprint(retrying["notes"]), "patched payload fields note and retried") {
		t.Fatalf("ticket after patch-retry: %v", retrying)
	}
	h.waitState(id, "escalated")
	esc2 := h.openEscalation(id)
	tk2 := h.must("GET", "/v1/tickets/"+esc2, nil)["ticket"].(map[string]any)
	if esc2 != esc || tk2["owner"] != "ana" || !strings.Contains(fmt.Sprint(tk2["notes"]), "failed again") {
		t.Fatalf("after failing again: want ticket %s still open with a note, got %v", esc, tk2)
	}

	if code, out := h.admin("POST", "/v1/tickets/"+esc2+"/patch-retry", map[string]any{"fields": map[string]any{}}); code != http.StatusBadRequest {
		t.Fatalf("empty patch: %d %v, want 400", code, out)
	}
	h.must("POST", "/v1/tickets/"+esc2+"/patch-retry", map[string]any{"fields": map[string]any{"company": "Acme Corp", "note": nil}})
	det := h.waitState(id, "delivered")
	if c, u := sk.counts("crm ref@example.com"); c != 1 || u != 0 {
		t.Fatalf("crm creates %d updates %d, want exactly one create", c, u)
	}
	sk.mu.Lock()
	body := sk.bodies["crm ref@example.com"][0]
	sk.mu.Unlock()
	if !strings.Contains(body, `"company":"Acme Corp"`) || strings.Contains(body, `"note"`) {
		t.Fatalf("delivered body %s: want the patched company and no note field", body)
	}
	if code, out := h.admin("POST", "/v1/tickets/"+esc2+"/patch-retry", map[string]any{"fields": map[string]any{"company": "X"}}); code != http.StatusConflict {
		t.Fatalf("patch-retry of a closed ticket: %d %v, want 409", code, out)
	}
	tl := timeline(det)
	for _, want := range []string{
		"admin:ops ticket_assigned ana",
		"admin:ops ticket_acknowledged acknowledged",
		"admin:ops ticket_noted " + esc,
		"admin:ops payload_patched " + esc2 + " <nil>: payload fields patched: company, note",
		"admin:ops retry_requested pending",
	} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	if strings.Contains(tl, "Acme Corp") {
		t.Errorf("timeline carries a patched value:\n%s", tl)
	}
	if out := h.must("GET", "/v1/audit/verify", nil); out["ok"] != true {
		t.Fatalf("audit: %v", out)
	}
}

// TestTicketBulkRetry escalates several deliveries, dry-runs a bulk retry
// by destination (nothing changes), then runs it: only the selected ones
// are retried and delivered.
func TestTicketBulkRetry(t *testing.T) {
	t.Parallel()
	sk := newRecordSink()
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	h := startControl(t, filepath.Join(t.TempDir(), "s.db"), "amount", ts.URL)
	start := time.Now().Add(-time.Second)

	var crmEvents []string
	for i := range 3 {
		email := fmt.Sprintf("b%d@example.com", i)
		sk.fail("crm "+email, 422)
		crmEvents = append(crmEvents, h.captureID(fmt.Sprintf(`{"email":%q,"company":"Acme"}`, email), "delivering"))
	}
	sk.fail("sheet big@example.com", 422)
	big := h.captureID(`{"email":"big@example.com","company":"Acme","amount":5000}`, "delivering")
	for _, id := range append(crmEvents, big) {
		h.waitState(id, "escalated")
	}

	filter := map[string]any{"kind": "permanent_error", "destination": "crm", "created_after": start.UTC().Format(time.RFC3339Nano)}
	dry := h.must("POST", "/v1/tickets/bulk", map[string]any{"action": "retry", "filter": filter, "dry_run": true})
	if dry["matched"] != 3.0 || dry["affected"] != 3.0 || dry["dry_run"] != true {
		t.Fatalf("dry run: %v", dry)
	}
	want := map[string]bool{}
	for _, id := range crmEvents {
		want[id] = true
	}
	for _, it := range dry["items"].([]any) {
		im := it.(map[string]any)
		if !want[im["event_id"].(string)] || im["outcome"] != "would_retry" || im["destination"] != "crm" {
			t.Fatalf("dry run item: %v", im)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, id := range crmEvents {
		if st := h.event(id)["event"].(map[string]any)["state"]; st != "escalated" {
			t.Fatalf("dry run changed event %s to %v", id, st)
		}
	}
	if open := h.must("GET", "/v1/tickets?status=open", nil)["tickets"].([]any); len(open) != 4 {
		t.Fatalf("open tickets after the dry run: %d, want 4", len(open))
	}
	none := h.must("POST", "/v1/tickets/bulk", map[string]any{"action": "retry", "dry_run": true,
		"filter": map[string]any{"created_before": start.UTC().Format(time.RFC3339Nano)}})
	if none["matched"] != 0.0 {
		t.Fatalf("created_before the test: %v", none)
	}
	if code, out := h.admin("POST", "/v1/tickets/bulk", map[string]any{"action": "resolve", "filter": filter}); code != http.StatusBadRequest {
		t.Fatalf("bulk resolve without a note: %d %v, want 400", code, out)
	}
	if code, out := h.admin("POST", "/v1/tickets/bulk", map[string]any{"action": "retry", "filter": map[string]any{"destination": "nowhere"}}); code != http.StatusBadRequest {
		t.Fatalf("unknown destination: %d %v, want 400", code, out)
	}

	res := h.must("POST", "/v1/tickets/bulk", map[string]any{"action": "retry", "filter": filter})
	if res["affected"] != 3.0 || res["failed"] != 0.0 || res["skipped"] != 0.0 {
		t.Fatalf("bulk retry: %v", res)
	}
	for i, id := range crmEvents {
		det := h.waitState(id, "delivered")
		if c, _ := sk.counts(fmt.Sprintf("crm b%d@example.com", i)); c != 1 {
			t.Fatalf("crm creates for b%d: %d, want 1", i, c)
		}
		if !strings.Contains(timeline(det), "admin:ops retry_requested pending") {
			t.Fatalf("retry not audited with the actor:\n%s", timeline(det))
		}
	}
	open := h.must("GET", "/v1/tickets?status=open", nil)["tickets"].([]any)
	if len(open) != 1 || open[0].(map[string]any)["destination"] != "sheet" || open[0].(map[string]any)["event_id"] != big {
		t.Fatalf("open tickets after the bulk retry: %v", open)
	}
	again := h.must("POST", "/v1/tickets/bulk", map[string]any{"action": "retry", "filter": filter, "dry_run": true})
	if again["matched"] != 0.0 {
		t.Fatalf("retried tickets still match the open filter: %v", again)
	}
	// The remaining ticket's event (escalated: crm landed, sheet refused)
	// can be given up in bulk too, with a reason.
	disc := h.must("POST", "/v1/tickets/bulk", map[string]any{"action": "discard", "reason": "test data", "filter": map[string]any{"destination": "sheet"}})
	if disc["affected"] != 1.0 {
		t.Fatalf("bulk discard: %v", disc)
	}
	h.waitState(big, "discarded")
}

// TestReplayNormalizeAfterMappingFix: a mapping reads the wrong field and
// rejects good records (JSON and form); a second server on the same store
// with the fixed mapping replays them from normalize, after a dry run that
// changes nothing, and they are delivered once, as the same events.
func TestReplayNormalizeAfterMappingFix(t *testing.T) {
	t.Parallel()
	sk := newRecordSink()
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	db := filepath.Join(t.TempDir(), "s.db")

	h := startControl(t, db, "amount", ts.URL)
	good := h.captureID(`{"email":"good@example.com","company":"Acme","amount":5,"total":5}`, "delivering")
	h.waitState(good, "delivered")
	var rejected []string
	for i := range 2 {
		rejected = append(rejected, h.captureID(fmt.Sprintf(`{"email":"r%d@example.com","company":"Acme","amount":"EUR 12","total":12}`, i), "rejected"))
	}
	code, res := h.capture("application/x-www-form-urlencoded", "email=form%40example.com&company=Acme&amount=EUR+7&total=7")
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("form capture: %d %v", code, res)
	}
	rejected = append(rejected, res["event_id"].(string))
	held := h.captureID(`{"email":"held@example.com","amount":"EUR 1","total":1}`, "rejected") // also lacks company
	events := h.eventCount()
	h.stop()

	h = startControl(t, db, "total", ts.URL)
	dry := h.must("POST", "/v1/replay", map[string]any{"stage": "normalize", "dry_run": true, "filter": map[string]any{"source": "forms"}})
	if dry["examined"] != 5.0 || dry["replayed"] != 4.0 || dry["unchanged"] != 1.0 {
		t.Fatalf("dry run: %v", dry)
	}
	tr := dry["transitions"].(map[string]any)
	if tr["rejected -> delivering"] != 3.0 || tr["rejected -> held"] != 1.0 {
		t.Fatalf("dry run transitions: %v", tr)
	}
	for _, it := range dry["items"].([]any) {
		im := it.(map[string]any)
		switch im["event_id"] {
		case good:
			if im["outcome"] != "unchanged" {
				t.Fatalf("good event: %v", im)
			}
		case held:
			if im["new_state"] != "held" || fmt.Sprint(im["missing"]) != "[company]" {
				t.Fatalf("incomplete event: %v", im)
			}
		default:
			if im["outcome"] != "would_replay" || im["new_state"] != "delivering" || fmt.Sprint(im["deliveries"]) != "[crm->crm]" ||
				fmt.Sprint(im["changed_fields"]) != "[amount]" {
				t.Fatalf("rejected event: %v", im)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, id := range rejected {
		if st := h.event(id)["event"].(map[string]any)["state"]; st != "rejected" {
			t.Fatalf("dry run changed %s to %v", id, st)
		}
	}
	if c, _ := sk.counts("crm r0@example.com"); c != 0 {
		t.Fatal("dry run delivered")
	}

	run := h.must("POST", "/v1/replay", map[string]any{"stage": "normalize", "filter": map[string]any{"source": "forms", "states": []string{"rejected"}}})
	if run["replayed"] != 4.0 || run["dry_run"] != false {
		t.Fatalf("replay: %v", run)
	}
	for _, k := range []string{"r0@example.com", "r1@example.com", "form@example.com"} {
		if c, _ := sk.counts("crm " + k); c > 1 {
			t.Fatalf("%s created %d times", k, c)
		}
	}
	for i, id := range rejected {
		det := h.waitState(id, "delivered")
		ev := det["event"].(map[string]any)
		if ev["errors"] != nil {
			t.Fatalf("delivered event keeps its old errors: %v", ev)
		}
		if !strings.Contains(timeline(det), "admin:ops replayed delivering <nil>: replayed from normalize by admin:ops: rejected -> delivering") {
			t.Fatalf("replay not audited:\n%s", timeline(det))
		}
		key := []string{"r0@example.com", "r1@example.com", "form@example.com"}[i]
		if c, u := sk.counts("crm " + key); c != 1 || u != 0 {
			t.Fatalf("%s: creates %d updates %d, want one create", key, c, u)
		}
	}
	if rec := h.event(rejected[2])["event"].(map[string]any)["record"].(map[string]any); rec["amount"] != 7.0 {
		t.Fatalf("form payload re-parsed as %v", rec)
	}
	hd := h.event(held)["event"].(map[string]any)
	if hd["state"] != "held" || fmt.Sprint(hd["missing"]) != "[company]" || hd["hold_until"] == nil {
		t.Fatalf("incomplete event after replay: %v", hd)
	}
	if n := h.eventCount(); n != events {
		t.Fatalf("%d events after replay, %d before: a replay created events", n, events)
	}
	// Replaying again finds nothing to do.
	again := h.must("POST", "/v1/replay", map[string]any{"stage": "normalize", "filter": map[string]any{"source": "forms"}})
	if again["replayed"] != 0.0 || again["unchanged"] != 5.0 {
		t.Fatalf("second replay: %v", again)
	}
	if out := h.must("GET", "/v1/audit/verify", nil); out["ok"] != true {
		t.Fatalf("audit: %v", out)
	}
}

// TestReplayDeliverNoDuplicates re-sends delivered records: the destination
// receives updates of the records it has, never a second create, and only
// the destination asked for is written.
func TestReplayDeliverNoDuplicates(t *testing.T) {
	t.Parallel()
	sk := newRecordSink()
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	h := startControl(t, filepath.Join(t.TempDir(), "s.db"), "amount", ts.URL)

	small := h.captureID(`{"email":"small@example.com","company":"Acme","amount":5}`, "delivering")
	big := h.captureID(`{"email":"big@example.com","company":"Acme","amount":5000}`, "delivering")
	h.waitState(small, "delivered")
	h.waitState(big, "delivered")
	events := h.eventCount()

	dry := h.must("POST", "/v1/replay", map[string]any{"stage": "deliver", "dry_run": true, "filter": map[string]any{"destination": "crm"}})
	if dry["replayed"] != 2.0 || dry["deliveries"].(map[string]any)["crm"] != 2.0 || dry["deliveries"].(map[string]any)["sheet"] != nil {
		t.Fatalf("dry run: %v", dry)
	}
	for _, it := range dry["items"].([]any) {
		im := it.(map[string]any)
		if im["old_state"] != "delivered" || im["new_state"] != "delivering" || fmt.Sprint(im["deliveries"]) != "[crm->crm]" {
			t.Fatalf("dry run item: %v", im)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if _, u := sk.counts("crm small@example.com"); u != 0 {
		t.Fatal("dry run delivered")
	}

	run := h.must("POST", "/v1/replay", map[string]any{"stage": "deliver", "filter": map[string]any{"destination": "crm"}})
	if run["replayed"] != 2.0 {
		t.Fatalf("replay: %v", run)
	}
	for _, id := range []string{small, big} {
		det := h.waitState(id, "delivered")
		if !strings.Contains(timeline(det), "replayed from deliver by admin:ops: delivered -> delivering") {
			t.Fatalf("replay not audited:\n%s", timeline(det))
		}
	}
	for _, k := range []string{"small@example.com", "big@example.com"} {
		if c, u := sk.counts("crm " + k); c != 1 || u != 1 {
			t.Fatalf("crm %s: creates %d updates %d, want 1 and 1 (an update, not a duplicate)", k, c, u)
		}
	}
	if c, u := sk.counts("sheet big@example.com"); c != 1 || u != 0 {
		t.Fatalf("sheet: creates %d updates %d; the replay was for crm only", c, u)
	}

	// All routes: the big record goes to both destinations again, as updates.
	h.must("POST", "/v1/replay", map[string]any{"stage": "deliver", "filter": map[string]any{"states": []string{"delivered"}}})
	h.waitState(big, "delivered")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c1, u1 := sk.counts("crm big@example.com")
		c2, u2 := sk.counts("sheet big@example.com")
		if c1 == 1 && u1 == 2 && c2 == 1 && u2 == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("crm %d/%d sheet %d/%d (creates/updates), want 1/2 and 1/1", c1, u1, c2, u2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.eventCount(); n != events {
		t.Fatalf("%d events after replay, %d before: a replay created events", n, events)
	}
	ds := h.event(big)["deliveries"].([]any)
	if len(ds) != 5 {
		t.Fatalf("deliveries of the big event: %d, want 5 (2 first, 1 crm replay, 2 full replay)", len(ds))
	}
	if code, out := h.admin("POST", "/v1/replay", map[string]any{"stage": "transform"}); code != http.StatusBadRequest {
		t.Fatalf("unknown stage: %d %v, want 400", code, out)
	}
	if out := h.must("GET", "/v1/audit/verify", nil); out["ok"] != true {
		t.Fatalf("audit: %v", out)
	}
}
