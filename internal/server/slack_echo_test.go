package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	slacksim "github.com/sluicehq/sluice/internal/sim/slack"
	"github.com/sluicehq/sluice/internal/store"
)

// slackEchoConfig: leads from a form are posted to Slack (text rendered
// from a template), and Slack's Events API feeds the channel's messages
// back into Sluice (source chat, whose echoes are Sluice's posts to the
// destination slack), routed to the sink.
const slackEchoConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  forms: {allow_unsigned: true}
  chat:
    platform: {kind: slack, secrets: ["%[3]s"], destination: slack}
entities:
  lead:
    key: email
    schema: {type: object, required: [email]}
  message:
    key: id
    schema: {type: object, required: [id]}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: email, type: email}
    routes:
      slack:
        destination: slack
        map: {fields: {email: {from: email}}}
  chat_in:
    source: chat
    entity: message
    normalize:
      fields:
        id: {from: id}
        email: {from: fields.text}
    routes:
      out: {destination: sink}
destinations:
  slack:
    type: slack
    options: {base_url: "%[4]s", token: xoxb-sluice-test, channel: "%[5]s", text: "New lead: {{.email}}"}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
  sink:
    type: http
    options: {url: "%[2]s/out", timeout: 2s}
    allow_private_network: true
    retry_base: 10ms
    retry_max: 50ms
delivery:
  lease: 5s
  poll_interval: 20ms
`

// TestSlackDoesNotCaptureItsOwnPost: Sluice posts a lead to Slack; Slack's
// Events API sends that message back as a message event (from Sluice's
// bot). It is Sluice's own post, not a new message: suppressed as an echo
// and audited. A person's message in the same channel is captured.
func TestSlackDoesNotCaptureItsOwnPost(t *testing.T) {
	sl, err := slacksim.New(slacksim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	slURL := simtest.Start(t, sl).URL
	channel := slacksim.DefaultChannels()[0].ID
	h := startHooks(t, slackEchoConfig, hookSlackSecret, slURL, channel)
	simCall(t, "POST", slURL+"/_sim/webhooks", "", map[string]any{"url": h.url + "/v1/sources/chat/events", "secret": hookSlackSecret})

	resp, err := http.Post(h.url+"/v1/sources/forms/events", "application/json", strings.NewReader(`{"email":"ann@x.co"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("form post: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(sl.Messages(channel)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Sluice did not post to Slack")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := sl.Messages(channel)[0].Text; got != "New lead: ann@x.co" {
		t.Fatalf("posted %q", got)
	}
	// Wait for the post's delivery to be confirmed, then for the sim's
	// message event to reach Sluice.
	for {
		evs := h.sourceEvents("forms")
		if len(evs) == 1 && evs[0]["state"] == string(store.EventDelivered) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("form event not delivered: %v", evs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	flushHooks(t, slURL)
	if evs := h.sourceEvents("chat"); len(evs) != 0 {
		t.Fatalf("Sluice's own Slack post was captured from the Events API: %v", h.payloadOf(evs[0]))
	}
	found := false
	if err := h.srv.Driver.Executor().AuditScan(t.Context(), 0, func(e *store.AuditEntry) error {
		if e.Action == audit.ActionEchoSuppressed && e.Actor == "webhook:chat" {
			found = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("no echo_suppressed entry for Sluice's own post")
	}

	// A person's message is a real change.
	simCall(t, "POST", slURL+"/_sim/messages", "", map[string]any{"channel": channel, "text": "bob@x.co"})
	flushHooks(t, slURL)
	if evs := h.sourceEvents("chat"); len(evs) != 1 {
		t.Fatalf("chat events = %d, want the person's message", len(evs))
	}
	h.waitSink("bob@x.co", 1)
}
