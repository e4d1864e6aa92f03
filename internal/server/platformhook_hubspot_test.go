package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	"github.com/sluicehq/sluice/internal/store"
)

// hubspotHookConfig: HubSpot sends contact webhooks to source "crm"; each
// event is a contact change routed to the sink unless it is a deletion.
const hubspotHookConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  crm:
    platform: {kind: hubspot, secrets: ["%[3]s"], destination: hs}
entities:
  contact:
    key: id
    schema: {type: object, required: [id]}
flows:
  crm_in:
    source: crm
    entity: contact
    normalize:
      fields:
        id: {from: id}
        email: {from: fields.email}
        deleted: {from: deleted, type: boolean}
    routes:
      out:
        destination: sink
        when: 'deleted == false'
destinations:
  sink:
    type: http
    options: {url: "%[2]s/out", timeout: 2s}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
  hs:
    type: hubspot
    options: {base_url: "%[4]s", token: %[5]s, object: contacts}
    allow_private_network: true
delivery:
  lease: 5s
  poll_interval: 20ms
`

func TestHubSpotWebhookEndToEnd(t *testing.T) {
	hs, err := hubspotsim.New(hubspotsim.Options{Tokens: []string{hookHubSpotToken}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	hsURL := simtest.Start(t, hs).URL
	h := startHooks(t, hubspotHookConfig, hookHubSpotSecret, hsURL, hookHubSpotToken)
	simCall(t, "POST", hsURL+"/_sim/webhooks", "", map[string]any{
		"url": h.url + "/v1/sources/crm/events", "secret": hookHubSpotSecret,
		"events": []string{"contact.propertyChange", "contact.deletion"}})

	// A contact created in HubSpot: one propertyChange event for email.
	created := simCall(t, "POST", hsURL+"/crm/v3/objects/contacts", hookHubSpotToken,
		map[string]any{"properties": map[string]any{"email": "hook@x.co"}})
	id := created["id"].(string)
	if st := flushHooks(t, hsURL); st.Delivered != 1 || st.Failed != 0 {
		t.Fatalf("sim webhook stats = %+v, want 1 delivered", st)
	}
	evs := h.sourceEvents("crm")
	if len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
	p := h.payloadOf(evs[0])
	fields, _ := p["fields"].(map[string]any)
	if p["platform"] != "hubspot" || p["object"] != "contact" || p["id"] != id || p["modified_at"] == "" || fields["email"] != "hook@x.co" {
		t.Fatalf("captured payload = %v", p)
	}
	h.waitSink("hook@x.co", 1)

	// A platform retry (the same events again, freshly signed) is answered
	// as a duplicate and captures nothing.
	body := []byte(fmt.Sprintf(`[{"eventId":900001,"subscriptionId":1,"portalId":62515,"occurredAt":%d,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":%s,"changeSource":"CRM","propertyName":"email","propertyValue":"retry@x.co"}]`,
		time.Now().UnixMilli(), id))
	code, res := h.post("crm", signature.HubSpot, hookHubSpotSecret, body, time.Now())
	if code != http.StatusOK || res["captured"] != 1.0 {
		t.Fatalf("first delivery: %d %v", code, res)
	}
	code, res = h.post("crm", signature.HubSpot, hookHubSpotSecret, body, time.Now())
	if code != http.StatusOK || res["captured"] != 0.0 || res["duplicates"] != 1.0 {
		t.Fatalf("retry: %d %v, want 200 with one duplicate", code, res)
	}

	// A wrong secret and a timestamp over five minutes old are refused
	// with 401, and nothing is captured.
	code, res = h.post("crm", signature.HubSpot, "not-the-client-secret", body, time.Now())
	if code != http.StatusUnauthorized || errKind(res) != "bad_signature" {
		t.Fatalf("wrong secret: %d %v", code, res)
	}
	code, res = h.post("crm", signature.HubSpot, hookHubSpotSecret, body, time.Now().Add(-6*time.Minute))
	if code != http.StatusUnauthorized || errKind(res) != "bad_signature" {
		t.Fatalf("old timestamp: %d %v", code, res)
	}
	if n := len(h.sourceEvents("crm")); n != 2 {
		t.Fatalf("events = %d after refused requests, want 2", n)
	}

	// Archiving the contact in HubSpot becomes a delete event, which the
	// route leaves out.
	simCall(t, "DELETE", hsURL+"/crm/v3/objects/contacts/"+id, hookHubSpotToken, nil)
	flushHooks(t, hsURL)
	evs = h.sourceEvents("crm")
	if len(evs) != 3 {
		t.Fatalf("events = %d, want 3", len(evs))
	}
	if p := h.payloadOf(evs[2]); p["deleted"] != true || p["id"] != id {
		t.Fatalf("delete event payload = %v", p)
	}
	// It is a delete event (the pipeline's operation), as a polled deletion is.
	if ev, err := h.srv.Driver.Executor().EventGetByID(context.Background(), evs[2]["id"].(string)); err != nil || ev.Operation != store.OpDelete {
		t.Fatalf("delete event operation = %v %v, want %s", ev, err, store.OpDelete)
	}
	h.waitState(evs[2]["id"].(string), "delivered")
	if n := h.sink.count("retry@x.co"); n != 1 {
		t.Fatalf("sink writes of retry@x.co = %d, want 1", n)
	}
}

func errKind(res map[string]any) string {
	e, _ := res["error"].(map[string]any)
	k, _ := e["kind"].(string)
	return k
}
