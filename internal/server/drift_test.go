package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestSourceDriftIsReported: after 200 payloads of one shape, the sender
// renames a field; the drift shows on /v1/drift before a person would see
// the holds pile up.
func TestSourceDriftIsReported(t *testing.T) {
	h := start(t)
	h.send(`{"contact":{"email":"first@example.com"},"company":"Acme","amount":1}`, nil)
	_, early := h.admin("GET", "/v1/drift", "")
	if !strings.Contains(fmt.Sprint(early["baselines"]), "learning:true") || early["computed_at"] == nil {
		t.Fatalf("a source with one payload is not reported as still learning: %v", early)
	}
	for i := 1; i < 200; i++ {
		h.send(fmt.Sprintf(`{"contact":{"email":"d%d@example.com"},"company":"Acme","amount":%d}`, i, i), nil)
	}
	if _, out := h.admin("GET", "/v1/drift", ""); len(out["findings"].([]any)) != 0 || !strings.Contains(fmt.Sprint(out["baselines"]), "source:forms") ||
		strings.Contains(fmt.Sprint(out["baselines"]), "learning:true") {
		t.Fatalf("findings before any drift, or a learned baseline still learning: %v", out)
	}
	for i := 0; i < 12; i++ {
		code, _ := h.send(fmt.Sprintf(`{"contact":{"email":"e%d@example.com"},"company_name":"Acme","amount":%d}`, i, i), nil)
		if code != 202 {
			t.Fatalf("capture: %d", code)
		}
	}
	_, out := h.admin("GET", "/v1/drift", "")
	text := fmt.Sprint(out["findings"])
	if !strings.Contains(text, "renamed_field") || !strings.Contains(text, "company_name") {
		t.Fatalf("rename company -> company_name not reported: %s", text)
	}
}
