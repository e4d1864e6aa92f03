package server_test

import (
	"testing"
)

// TestOneRecordOneOpenProblem: a record the destination keeps refusing is
// one open escalation through repeated retries (each failure a note on
// it, not a new escalation), a second retry while one is under way is
// refused, and the retry that lands resolves it and settles the event as
// delivered.
func TestOneRecordOneOpenProblem(t *testing.T) {
	h := start(t)
	h.sink.mu.Lock()
	h.sink.failures["/crm stubborn@example.com"] = []int{400, 400, 400}
	h.sink.mu.Unlock()
	_, res := h.send(`{"contact":{"email":"stubborn@example.com"},"company":"Acme"}`, nil)
	id := res["event_id"].(string)

	det := h.waitState(id, "escalated")
	escs := det["escalations"].([]any)
	if len(escs) != 1 {
		t.Fatalf("escalations = %v", escs)
	}
	escID := escs[0].(map[string]any)["id"].(string)
	for round := 2; round <= 3; round++ {
		if code, out := h.admin("POST", "/v1/escalations/"+escID+"/retry", ""); code != 200 {
			t.Fatalf("retry %d: %d %v", round, code, out)
		}
		// The sink refuses again: the same escalation, still open.
		det = h.waitState(id, "escalated")
		if n := countActions(det, "escalated"); n != round {
			t.Fatalf("round %d: %d escalated entries in the timeline", round, n)
		}
		escs = det["escalations"].([]any)
		if len(escs) != 1 || escs[0].(map[string]any)["id"] != escID || escs[0].(map[string]any)["status"] != "open" {
			t.Fatalf("round %d: want the one escalation %s still open, got %v", round, escID, escs)
		}
	}
	if code, out := h.admin("POST", "/v1/escalations/"+escID+"/retry", ""); code != 200 {
		t.Fatalf("last retry: %d %v", code, out)
	}
	det = h.waitState(id, "delivered")
	escs = det["escalations"].([]any)
	if len(escs) != 1 || escs[0].(map[string]any)["status"] != "resolved" {
		t.Fatalf("after the retry landed: want the one escalation resolved, got %v", escs)
	}
	if recs, _ := det["reconciliations"].([]any); len(recs) != 0 {
		t.Fatalf("a single-route record opened a reconciliation: %v", recs)
	}
	if n := h.sink.count("stubborn@example.com"); n != 1 {
		t.Fatalf("applied %d times, want once", n)
	}
	if code, _ := h.admin("POST", "/v1/escalations/"+escID+"/retry", ""); code != 409 {
		t.Fatalf("retry of a resolved escalation: %d, want 409", code)
	}
}

// countActions counts the event's timeline entries with action.
func countActions(det map[string]any, action string) int {
	n := 0
	for _, a := range det["timeline"].([]any) {
		if a.(map[string]any)["action"] == action {
			n++
		}
	}
	return n
}
