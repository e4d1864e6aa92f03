package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	"github.com/sluicehq/sluice/internal/store"
)

const hookNotionToken = "ntn_hooks_0123456789abcdefghijklmnopqrstuvwxyzABCD"

// notionHookConfig: Notion webhooks reach source "pages"; each names a
// page, which Sluice reads through destination "nt" before capturing it.
// %[3]s is the list of secrets (empty until the operator has the token).
const notionHookConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
  - {name: watcher, token: watcher-token-0123456789, role: viewer}
sources:
  pages:
    platform: {kind: notion, secrets: [%[3]s], destination: nt}
entities:
  contact:
    key: email
    schema: {type: object, required: [email]}
flows:
  pages_in:
    source: pages
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
destinations:
  sink:
    type: http
    options: {url: "%[2]s/out", timeout: 2s}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
  nt:
    type: notion
    options: {base_url: "%[4]s", token: %[5]s, database_id: %[6]s, key_property: Email, timeout: 2s}
    allow_private_network: true
delivery:
  lease: 5s
  poll_interval: 20ms
`

func notionCall(t *testing.T, method, url string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+hookNotionToken)
	req.Header.Set("Notion-Version", "2022-06-28")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func TestNotionWebhookHandshakeAndEvents(t *testing.T) {
	nt, err := notionsim.New(notionsim.Options{Tokens: []string{hookNotionToken}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ntURL := simtest.Start(t, nt).URL
	h := startHooks(t, notionHookConfig, "", ntURL, hookNotionToken, notionsim.DefaultDatabaseID)

	// The subscription's first request is the unsigned handshake: Sluice
	// keeps the token and shows it to admins only.
	sub := simCall(t, "POST", ntURL+"/_sim/webhooks", "", map[string]any{"url": h.url + "/v1/sources/pages/events"})
	if sub["verified"] != false {
		t.Fatalf("subscription = %v, want unverified", sub)
	}
	token := nt.Hooks.Token(sub["id"].(string))
	code, res := h.admin("GET", "/v1/sources/pages/tokens", "")
	toks, _ := res["tokens"].([]any)
	if code != http.StatusOK || len(toks) != 1 || toks[0].(map[string]any)["token"] != token || res["configured"] != false {
		t.Fatalf("tokens: %d %v, want the sim's %q", code, res, token)
	}
	req, _ := http.NewRequest("GET", h.url+"/v1/sources/pages/tokens", nil)
	req.Header.Set("Authorization", "Bearer watcher-token-0123456789")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a viewer read the token: %v %v", resp, err)
	}
	// The audit log records the handshake, never the token itself.
	found := false
	err = h.srv.Driver.Executor().AuditScan(context.Background(), 0, func(e *store.AuditEntry) error {
		if strings.Contains(e.Message, token) {
			t.Errorf("audit entry %d holds the token: %s", e.Seq, e.Message)
		}
		found = found || e.Action == audit.ActionHookVerification
		return nil
	})
	if err != nil || !found {
		t.Fatalf("no hook_verification audit entry (%v)", err)
	}

	// Until the operator sets the token, signed events are refused.
	ev := []byte(`{"id":"ev-forged","timestamp":"2026-12-07T10:00:00.000Z","type":"page.created","entity":{"id":"p1","type":"page"}}`)
	if code, res := h.post("pages", signature.Notion, token, ev, time.Now()); code != http.StatusUnauthorized || errKind(res) != "bad_signature" {
		t.Fatalf("event before the token is configured: %d %v", code, res)
	}

	// The operator pastes the token into Notion and into the config.
	simCall(t, "POST", ntURL+"/_sim/webhooks/verify", "", map[string]any{"verification_token": token})
	if _, err := h.srv.Apply(context.Background(), h.config(`"`+token+`"`, ntURL, hookNotionToken, notionsim.DefaultDatabaseID), server.ReloadOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, res := h.admin("GET", "/v1/sources/pages/tokens", ""); res["configured"] != true {
		t.Fatalf("tokens after reload = %v, want configured", res)
	}

	// A page created in Notion: the thin event names it, Sluice reads it
	// through the connector and captures its properties.
	page := notionCall(t, "POST", ntURL+"/v1/pages", map[string]any{"parent": map[string]any{"database_id": notionsim.DefaultDatabaseID},
		"properties": map[string]any{"Name": map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": "Nora"}}}},
			"Email": map[string]any{"email": "nora@x.co"}}})
	pageID := page["id"].(string)
	if st := flushHooks(t, ntURL); st.Delivered != 1 || st.Failed != 0 {
		t.Fatalf("sim stats = %+v", st)
	}
	waitEvents(t, h, "pages", 1)
	evs := h.sourceEvents("pages")
	p := h.payloadOf(evs[0])
	fields, _ := p["fields"].(map[string]any)
	if p["platform"] != "notion" || p["object"] != "page" || p["id"] != pageID || fields["Email"] != "nora@x.co" || fields["Name"] != "Nora" {
		t.Fatalf("captured payload = %v", p)
	}
	h.waitSink("nora@x.co", 1)

	// A retried event (same id) is a duplicate; a bad signature is 401.
	created := []byte(`{"id":"ev-retry-1","timestamp":"2026-12-07T10:00:00.000Z","type":"page.properties_updated","entity":{"id":"` + pageID + `","type":"page"}}`)
	if code, res := h.post("pages", signature.Notion, token, created, time.Now()); code != http.StatusOK || res["queued"] != 1.0 {
		t.Fatalf("event: %d %v", code, res)
	}
	if code, res := h.post("pages", signature.Notion, token, created, time.Now()); code != http.StatusOK || res["duplicates"] != 1.0 {
		t.Fatalf("retry: %d %v", code, res)
	}
	waitEvents(t, h, "pages", 2)
	if code, _ := h.post("pages", signature.Notion, "secret_not_the_token", created, time.Now()); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}

	// The page moved to the trash: page.deleted, a delete event.
	notionCall(t, "PATCH", ntURL+"/v1/pages/"+pageID, map[string]any{"in_trash": true})
	flushHooks(t, ntURL)
	evs = h.sourceEvents("pages")
	if len(evs) != 3 {
		t.Fatalf("events = %d, want 3", len(evs))
	}
	if p := h.payloadOf(evs[2]); p["deleted"] != true || p["id"] != pageID {
		t.Fatalf("delete payload = %v", p)
	}
}
