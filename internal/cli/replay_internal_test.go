package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/pipeline"
)

// TestRenderPayloadsSideBySide: a re-render's dry run shows each
// delivery's old and new payload next to each other, line by line.
func TestRenderPayloadsSideBySide(t *testing.T) {
	res := &pipeline.ReplayResult{Stage: "deliver", Rerender: true, DryRun: true, ConfigVersion: "0123456789abcdef",
		Items: []pipeline.ReplayItem{{EventID: "evt_1", ConfigVersion: "fedcba9876543210", Payloads: []pipeline.PayloadChange{{
			DeliveryID: "dlv_1", Route: "crm", Destination: "hubspot", State: "escalated", Changed: true, Fields: []string{"mobile_phone", "phone"},
			Old: json.RawMessage(`{"email":"a@b.co","mobile_phone":"+1"}`), New: json.RawMessage(`{"email":"a@b.co","phone":"+1"}`)}}}}}
	var buf bytes.Buffer
	renderPayloads(&buf, res)
	out := buf.String()
	for _, want := range []string{"evt_1 dlv_1 crm->hubspot (escalated; changed: mobile_phone, phone; captured with config fedcba987654)", "OLD", "NEW"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in:\n%s", want, out)
		}
	}
	var side bool
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"mobile_phone": "+1"`) && strings.Contains(l, `"phone": "+1"`) && strings.Index(l, "mobile_phone") < strings.LastIndex(l, `"phone"`) {
			side = true
		}
	}
	if !side {
		t.Fatalf("old and new not side by side:\n%s", out)
	}
}
