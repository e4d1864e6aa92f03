package server_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// jsonLines parses every line s holds as a JSON object.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// TestOutcomeLogLines: each outcome an operator acts on is one JSON log
// line with event_id, delivery_id, flow and destination as fields, at the
// level that says who should look; admin-API 4xx are debug.
func TestOutcomeLogLines(t *testing.T) {
	buf := &syncBuffer{}
	h := startLogged(t, slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.sink.mu.Lock()
	h.sink.failures["/crm retry@x.com"] = []int{500}
	h.sink.failures["/crm refused@x.com"] = []int{400}
	h.sink.mu.Unlock()

	ids := map[string]string{}
	for name, body := range map[string]string{
		"rejected":  `{"contact": {"email": "not-an-email"}, "company": "Acme"}`,
		"held":      `{"contact": {"email": "held@x.com"}}`,
		"delivered": `{"contact": {"email": "ok@x.com"}, "company": "Acme"}`,
		"retried":   `{"contact": {"email": "retry@x.com"}, "company": "Acme"}`,
		"escalated": `{"contact": {"email": "refused@x.com"}, "company": "Acme"}`,
	} {
		_, res := h.send(body, nil)
		ids[name], _ = res["event_id"].(string)
	}
	h.waitState(ids["delivered"], "delivered")
	h.waitState(ids["retried"], "delivered")
	h.waitState(ids["escalated"], "escalated")
	if code, _ := h.admin("GET", "/v1/events/evt_01KBX00000000000000000000Z", ""); code != 404 {
		t.Fatalf("unknown event: %d, want 404", code)
	}

	find := func(msg, eventID string) map[string]any {
		t.Helper()
		for _, l := range buf.lines(t) {
			if l["msg"] == msg && (eventID == "" || l["event_id"] == eventID) {
				return l
			}
		}
		t.Fatalf("no %q line for %s in:\n%s", msg, eventID, buf.String())
		return nil
	}
	for _, c := range []struct {
		msg, event, level string
		delivery          bool
	}{
		{"event rejected", ids["rejected"], "WARN", false},
		{"event held", ids["held"], "INFO", false},
		{"delivered", ids["delivered"], "DEBUG", true},
		{"retry scheduled", ids["retried"], "INFO", true},
		{"delivered", ids["retried"], "DEBUG", true},
		{"delivery escalated", ids["escalated"], "WARN", true},
	} {
		l := find(c.msg, c.event)
		if l["level"] != c.level || l["flow"] != "leads" {
			t.Errorf("%s: level %v flow %v, want %s leads: %v", c.msg, l["level"], l["flow"], c.level, l)
		}
		if c.delivery {
			if d, _ := l["delivery_id"].(string); !strings.HasPrefix(d, "dlv_") || l["destination"] != "sink" {
				t.Errorf("%s: want delivery_id and destination sink: %v", c.msg, l)
			}
		}
	}
	if l := find("request failed", ""); l["level"] != "DEBUG" || l["status"] != float64(404) {
		t.Errorf("admin 4xx: want a debug line with status 404: %v", l)
	}
}
