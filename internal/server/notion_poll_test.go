package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/server"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const notionPollToken = "secret_notionpoll0123456789abcdef0123456789abcdef0"

// notionPollConfig polls a Notion data source and writes each change to a
// webhook sink.
const notionPollConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  notion_pages:
    poll: {destination: docs, interval: 1h}
entities:
  contact:
    key: email
flows:
  pages_to_hook:
    source: notion_pages
    entity: contact
    normalize:
      fields:
        email: {from: fields.Email, type: email}
        name: {from: fields.Name}
    routes:
      hook: {destination: hook}
destinations:
  docs:
    type: notion
    options: {base_url: "%[2]s", token: %[3]s, database_id: %[4]s, key_property: Email, notion_version: "2025-09-03", rate_per_second: 100}
    allow_private_network: true
  hook:
    type: http
    options: {url: "%[5]s"}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
delivery:
  poll_interval: 20ms
`

// clock is a settable clock for a simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestPollNotionSeveralEditsWithinOneMinute: Notion's last_edited_time
// has minute granularity, so three edits of one page within a minute
// share one stamp. Each is captured and delivered exactly once; re-reads
// of the minute (the overlap window) capture nothing; a page moved to the
// trash becomes a delete event.
func TestPollNotionSeveralEditsWithinOneMinute(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 5, 0, time.UTC)}
	ns, err := notionsim.New(notionsim.Options{Tokens: []string{notionPollToken}, Seed: 3, RateLimit: -1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	nsURL := simtest.Start(t, ns).URL
	sk := newSink()
	hook := httptest.NewServer(sk)
	t.Cleanup(hook.Close)
	raw := fmt.Sprintf(notionPollConfig, filepath.Join(t.TempDir(), "sluice.db"), nsURL, notionPollToken, notionsim.DefaultDatabaseID, hook.URL)
	c := parseConfig(t, raw)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := serve(t, srv, sk)
	tw := &twoWay{t: t, adminTo: h.url}
	notion := func(method, path string, body any) map[string]any {
		t.Helper()
		return notionSimCall(t, nsURL, method, path, body)
	}
	// The background poller may read a change first, so each step counts
	// the events captured so far rather than one poll's result.
	total := 0
	poll := func(want int) {
		t.Helper()
		if _, err := srv.PollNow(context.Background(), "notion_pages"); err != nil {
			t.Fatal(err)
		}
		tw.waitIdle()
		total += want
		if n := tw.events(); n != total {
			res := tw.call("GET", tw.adminTo+"/v1/events?limit=1000", "ops-token-0123456789", nil)
			for _, e := range res["events"].([]any) {
				ev := e.(map[string]any)
				det := tw.call("GET", tw.adminTo+"/v1/events/"+ev["id"].(string), "ops-token-0123456789", nil)
				t.Logf("%v %v %v raw=%v", ev["state"], ev["record_key"], det["timeline"], det["raw"])
			}
			t.Fatalf("after the poll at %s: %d events, want %d", clk.Now().Format(time.TimeOnly), n, total)
		}
	}
	create := func(email, name string) string {
		res := notion("POST", "/v1/pages", map[string]any{
			"parent": map[string]any{"database_id": notionsim.DefaultDatabaseID},
			"properties": map[string]any{
				"Name":  map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": name}}}},
				"Email": map[string]any{"email": email},
			}})
		return res["id"].(string)
	}
	rename := func(id, name string) {
		notion("PATCH", "/v1/pages/"+id, map[string]any{"properties": map[string]any{
			"Name": map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": name}}}}}})
	}

	p := create("p@x.co", "v1")
	poll(1)
	clk.Set(clk.Now().Add(15 * time.Second)) // 10:00:20, same minute
	rename(p, "v2")
	clk.Set(clk.Now().Add(10 * time.Second)) // 10:00:30
	q := create("q@x.co", "Q")
	poll(2)
	poll(0)                                  // the minute re-read: nothing new
	clk.Set(clk.Now().Add(20 * time.Second)) // 10:00:50, still the same minute
	rename(p, "v3")
	poll(1)
	clk.Set(clk.Now().Add(25 * time.Second)) // 10:01:15
	poll(0)
	notion("PATCH", "/v1/pages/"+q, map[string]any{"in_trash": true})
	poll(1) // the trashed page, a delete event (the flow ignores it)
	poll(0)

	if n := sk.count("p@x.co"); n != 3 {
		t.Fatalf("p@x.co written %d times, want 3 (v1, v2, v3)", n)
	}
	sk.mu.Lock()
	last := sk.bodies["p@x.co"][len(sk.bodies["p@x.co"])-1]
	sk.mu.Unlock()
	if !strings.Contains(last, `"v3"`) {
		t.Fatalf("last write of p@x.co = %s, want v3", last)
	}
	if n := sk.count("q@x.co"); n != 1 {
		t.Fatalf("q@x.co written %d times, want 1 (its deletion is ignored)", n)
	}
	if n := tw.events(); n != 5 {
		t.Fatalf("events = %d, want 5 (3 versions of p, q, q's deletion)", n)
	}
}

// notionSimCall sends one request to the Notion simulator as a person's
// client would (2022-06-28, database parent) and fails the test on an error status.
func notionSimCall(t *testing.T, base, method, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+notionPollToken)
	req.Header.Set("Notion-Version", "2022-06-28")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}
