package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const (
	hookAirtableToken   = "patSluiceHooks001.0123456789abcdef0123456789abcdef"
	hookAirtableWebhook = "achSluiceHooks001"
)

var hookAirtableMAC = base64.StdEncoding.EncodeToString([]byte("airtable-mac-secret-0123456789ab"))

// airtableHookConfig: an Airtable webhook notifies source "base"; Sluice
// lists the payloads through destination "table" and routes each record
// to the sink. Flow "forms" writes leads into the same table: those
// writes come back in the payloads and must be suppressed as echoes.
const airtableHookConfig = `
listen: 127.0.0.1:0
store: %[1]q
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  base:
    platform: {kind: airtable, secrets: ["%[3]s"], destination: table, webhook_id: %[4]s, interval: 1h}
  forms:
    signature: {scheme: standard-webhooks, secrets: ["%[8]s"]}
entities:
  contact:
    key: email
    schema: {type: object, required: [email]}
flows:
  base_in:
    source: base
    entity: contact
    normalize:
      fields:
        email: {from: fields.Email, type: email}
        name: {from: fields.Name}
        deleted: {from: deleted, type: boolean}
    routes:
      out:
        destination: sink
        when: 'deleted == false'
  leads:
    source: forms
    entity: contact
    normalize:
      fields:
        email: {from: email, type: email}
        name: {from: name}
    routes:
      table:
        destination: table
        map: {fields: {Email: {from: email}, Name: {from: name}}}
destinations:
  sink:
    type: http
    options: {url: "%[2]s/out", timeout: 2s}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
  table:
    type: airtable
    options: {base_url: "%[5]s", token: %[6]s, base_id: %[7]s, table: Contacts, key_field: Email, rate_per_second: 100}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
delivery:
  lease: 5s
  poll_interval: 20ms
`

func TestAirtableWebhookEndToEnd(t *testing.T) {
	airtableWebhookEndToEnd(t, filepath.Join(t.TempDir(), "sluice.db"))
}

// TestAirtableWebhookOnPostgres: the same with the cursor and the
// captures committed to PostgreSQL.
func TestAirtableWebhookOnPostgres(t *testing.T) {
	airtableWebhookEndToEnd(t, pgSchemaDSN(t))
}

func airtableWebhookEndToEnd(t *testing.T, store string) {
	at, err := airtablesim.New(airtablesim.Options{Tokens: []string{hookAirtableToken}, Seed: 1, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	atURL := simtest.Start(t, at).URL
	h := startHooksOn(t, store, airtableHookConfig, hookAirtableMAC, hookAirtableWebhook, atURL, hookAirtableToken, airtablesim.DefaultBaseID, secret)
	simCall(t, "POST", atURL+"/_sim/webhooks", "", map[string]any{"id": hookAirtableWebhook, "url": h.url + "/v1/sources/base/events",
		"secret": hookAirtableMAC, "base": airtablesim.DefaultBaseID})
	table := atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"

	// Two records created in one request (one Airtable transaction), then
	// one of them changed: the notifications carry no data; Sluice lists
	// the payloads and captures each change once.
	created := simCall(t, "POST", table, hookAirtableToken, map[string]any{"records": []any{
		map[string]any{"fields": map[string]any{"Email": "a1@x.co", "Name": "A1"}},
		map[string]any{"fields": map[string]any{"Email": "a2@x.co", "Name": "A2"}}}})
	recs := created["records"].([]any)
	id1 := recs[0].(map[string]any)["id"].(string)
	simCall(t, "PATCH", table+"/"+id1, hookAirtableToken, map[string]any{"fields": map[string]any{"Name": "A1 renamed"}})
	if st := flushHooks(t, atURL); st.Delivered != 2 || st.Failed != 0 {
		t.Fatalf("notifications = %+v, want 2 delivered", st)
	}
	waitEvents(t, h, "base", 3)
	h.waitSink("a1@x.co", 2)
	h.waitSink("a2@x.co", 1)
	evs := h.sourceEvents("base")
	p := h.payloadOf(evs[0])
	if p["platform"] != "airtable" || p["object"] != airtablesim.DefaultBaseID+"/Contacts" || p["id"] == "" || p["modified_at"] == "" {
		t.Fatalf("captured payload = %v", p)
	}

	// Listing again (a repeated notification, a restart) captures nothing.
	if n, err := h.srv.FetchHookNow(context.Background(), "base"); err != nil || n != 0 {
		t.Fatalf("second listing captured %d, %v", n, err)
	}
	notify := []byte(`{"base":{"id":"` + airtablesim.DefaultBaseID + `"},"webhook":{"id":"` + hookAirtableWebhook + `"},"timestamp":"2026-12-07T10:00:00.000Z"}`)
	if code, _ := h.post("base", signature.Airtable, hookAirtableMAC, notify, time.Now()); code != http.StatusNoContent {
		t.Fatalf("replayed notification: %d, want 204", code)
	}
	// A notification with a bad MAC is refused.
	wrong := base64.StdEncoding.EncodeToString([]byte("another-mac-secret-0123456789abc"))
	if code, res := h.post("base", signature.Airtable, wrong, notify, time.Now()); code != http.StatusUnauthorized || errKind(res) != "bad_signature" {
		t.Fatalf("bad MAC: %d %v", code, res)
	}
	if code, _ := h.post("base", signature.Airtable, "", notify, time.Now()); code != http.StatusUnauthorized {
		t.Fatalf("unsigned notification: %d", code)
	}

	// Sluice's own write into the table comes back in a payload and is
	// suppressed as an echo, not captured.
	if code, _ := h.send(`{"email":"lead@x.co","name":"Lead"}`, nil); code != http.StatusAccepted {
		t.Fatalf("lead: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(at.Records(airtablesim.DefaultBaseID, "Contacts")) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	flushHooks(t, atURL)
	waitIdleEvents(t, h, "forms")
	if _, err := h.srv.FetchHookNow(context.Background(), "base"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.sourceEvents("base")); n != 3 {
		t.Fatalf("events = %d after Sluice's own write, want 3 (the echo suppressed)", n)
	}
	if n := h.sink.count("lead@x.co"); n != 0 {
		t.Fatalf("echo reached the sink %d times", n)
	}

	// A record deleted in Airtable becomes a delete event.
	req, _ := http.NewRequest("DELETE", table+"/"+id1, nil)
	req.Header.Set("Authorization", "Bearer "+hookAirtableToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %v %v", resp, err)
	}
	flushHooks(t, atURL)
	waitEvents(t, h, "base", 4)
	evs = h.sourceEvents("base")
	if p := h.payloadOf(evs[3]); p["deleted"] != true || p["id"] != id1 {
		t.Fatalf("delete payload = %v", p)
	}
}

// waitEvents waits until source has n events (notifications are listed
// in the background).
func waitEvents(t *testing.T, h *hookHarness, source string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(h.sourceEvents(source)) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("source %s has %d events, want %d", source, len(h.sourceEvents(source)), n)
}

// waitIdleEvents waits until every event of source is delivered.
func waitIdleEvents(t *testing.T, h *hookHarness, source string) {
	t.Helper()
	for _, ev := range h.sourceEvents(source) {
		h.waitState(ev["id"].(string), "delivered")
	}
}
