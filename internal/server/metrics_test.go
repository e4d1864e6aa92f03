package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsAgainstKnownTraffic sends traffic whose outcomes are known
// and reads /metrics: attempts and failures, retry success counted once per
// delivery (a refused record that a person retries twice, failing once
// more, is one escalated delivery and then one recovered one), processing
// latency per flow and destination, backlog and paused destinations.
func TestMetricsAgainstKnownTraffic(t *testing.T) {
	h := start(t)
	h.sink.mu.Lock()
	h.sink.failures["/crm retry@m.com"] = []int{500}
	h.sink.failures["/crm refused@m.com"] = []int{400, 400}
	h.sink.mu.Unlock()
	var ids []string
	for _, email := range []string{"a@m.com", "b@m.com", "retry@m.com", "refused@m.com"} {
		_, res := h.send(`{"contact":{"email":"`+email+`"},"company":"Acme"}`, nil)
		ids = append(ids, res["event_id"].(string))
	}
	for _, id := range ids[:3] {
		h.waitState(id, "delivered")
	}
	det := h.waitState(ids[3], "escalated")
	escID := det["escalations"].([]any)[0].(map[string]any)["id"].(string)
	retry := func() {
		t.Helper()
		if code, out := h.admin("POST", "/v1/escalations/"+escID+"/retry", ""); code != 200 {
			t.Fatalf("retry: %d %v", code, out)
		}
	}
	retry()
	// The retry set it delivering; refused again, it is escalated again
	// (the same escalation, updated).
	h.waitState(ids[3], "escalated")
	retry()
	h.waitState(ids[3], "delivered")
	if code, out := h.admin("POST", "/v1/destinations/sink2/pause", `{"reason": "maintenance"}`); code != 200 {
		t.Fatalf("pause: %d %v", code, out)
	}
	// The http sink cannot be read back: unverifiable, not a ratio of 1.
	if code, out := h.admin("POST", "/v1/consistency/check", `{}`); code != 200 {
		t.Fatalf("consistency check: %d %v", code, out)
	}
	// Big deals go to sink2 after crm; paused, it keeps one in its backlog.
	_, res := h.send(`{"contact":{"email":"big@m.com"},"company":"Acme","amount":5000}`, nil)
	big := res["event_id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	var text string
	for time.Now().Before(deadline) {
		time.Sleep(5100 * time.Millisecond) // the store's numbers are cached for 5s
		text = scrape(t, h.url)
		if strings.Contains(text, `sluice_destination_backlog{destination="sink2"} 1`) {
			break
		}
	}
	for _, want := range []string{
		`sluice_delivery_attempts_total{destination="sink",outcome="succeeded"} 5`,
		`sluice_delivery_attempts_total{destination="sink",outcome="retryable"} 1`,
		`sluice_delivery_attempts_total{destination="sink",outcome="permanent"} 2`,
		`sluice_deliveries_settled_total{destination="sink",result="succeeded",retried="false"} 3`,
		`sluice_deliveries_settled_total{destination="sink",result="succeeded",retried="true"} 1`,
		`sluice_deliveries_settled_total{destination="sink",result="escalated",retried="true"} 1`,
		`sluice_deliveries_recovered_total{destination="sink"} 1`,
		`sluice_processing_seconds_count{destination="sink",flow="leads"} 5`,
		`sluice_destination_paused{destination="sink"} 0`,
		`sluice_destination_paused{destination="sink2"} 1`,
		`sluice_destination_backlog{destination="sink"} 0`,
		`sluice_destination_backlog{destination="sink2"} 1`,
		`sluice_consistency_unverifiable{destination="sink"} 1`,
	} {
		if strings.Contains(text, `sluice_consistency_ratio{destination="sink"}`) {
			t.Errorf("an unverifiable destination has a consistency ratio")
		}
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("big deal %s; metrics:\n%s", big, grepLines(text, "sluice_"))
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
