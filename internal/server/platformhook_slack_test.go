package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	slacksim "github.com/sluicehq/sluice/internal/sim/slack"
)

// slackHookConfig: Slack's Events API posts to source "chat"; each message
// event is routed to the sink.
const slackHookConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  chat:
    platform: {kind: slack, secrets: ["%[3]s"]}
entities:
  message:
    key: id
    schema: {type: object, required: [id]}
flows:
  chat_in:
    source: chat
    entity: message
    normalize:
      fields:
        id: {from: id}
        email: {from: fields.text}
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
delivery:
  lease: 5s
  poll_interval: 20ms
`

// flaky forwards to Sluice but answers the first event request 500 after
// Sluice has captured it: the lost answer that makes Slack retry.
type flaky struct {
	to      string
	mu      sync.Mutex
	failed  bool
	retries []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequest(r.Method, f.to+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	f.mu.Lock()
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		f.retries = append(f.retries, n+" "+r.Header.Get("X-Slack-Retry-Reason")+" "+resp.Status)
	}
	fail := !f.failed && strings.Contains(string(body), `"event_callback"`)
	f.failed = f.failed || fail
	f.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

func TestSlackEventsEndToEnd(t *testing.T) {
	sl, err := slacksim.New(slacksim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	slURL := simtest.Start(t, sl).URL
	h := startHooks(t, slackHookConfig, hookSlackSecret)
	proxy := &flaky{to: h.url}
	px := httptest.NewServer(proxy)
	t.Cleanup(px.Close)

	// A subscription whose receiver cannot verify (wrong signing secret)
	// fails Slack's url_verification and is refused.
	code, _ := simPost(t, slURL+"/_sim/webhooks", `{"url":"`+h.url+`/v1/sources/chat/events","secret":"a-wrong-signing-secret"}`)
	if code != http.StatusBadRequest {
		t.Fatalf("subscription with a wrong secret: %d, want 400 (url_verification refused)", code)
	}
	// The right one passes: Sluice answered the challenge.
	simCall(t, "POST", slURL+"/_sim/webhooks", "", map[string]any{"url": px.URL + "/v1/sources/chat/events", "secret": hookSlackSecret})
	if n := len(h.sourceEvents("chat")); n != 0 {
		t.Fatalf("url_verification captured %d events", n)
	}

	// A person posts; Sluice captures it, but its answer is lost (500):
	// Slack retries with X-Slack-Retry-Num and the retry is a duplicate.
	posted := simCall(t, "POST", slURL+"/_sim/messages", "", map[string]any{"channel": slacksim.DefaultChannels()[0].ID, "text": "hello@x.co"})
	st := flushHooks(t, slURL)
	if st.Retried != 1 || st.Delivered != 1 || st.Failed != 0 {
		t.Fatalf("sim stats = %+v, want one retry then delivered", st)
	}
	if len(proxy.retries) != 1 || proxy.retries[0] != "1 http_error 200 OK" {
		t.Fatalf("retries seen = %q", proxy.retries)
	}
	evs := h.sourceEvents("chat")
	if len(evs) != 1 {
		t.Fatalf("events = %d, want 1 (the retry is not captured again)", len(evs))
	}
	p := h.payloadOf(evs[0])
	fields, _ := p["fields"].(map[string]any)
	if p["platform"] != "slack" || p["object"] != "message" || p["id"] != posted["ts"] || fields["text"] != "hello@x.co" {
		t.Fatalf("captured payload = %v", p)
	}
	h.waitSink("hello@x.co", 1)

	// Bad signature and an expired timestamp: 401, nothing captured.
	body := []byte(`{"type":"event_callback","event_id":"EvFORGED","event_time":1,"event":{"type":"message","channel":"C1","ts":"1.000001","text":"x"}}`)
	if code, res := h.post("chat", signature.Slack, "a-wrong-signing-secret", body, time.Now()); code != http.StatusUnauthorized || errKind(res) != "bad_signature" {
		t.Fatalf("wrong secret: %d %v", code, res)
	}
	if code, res := h.post("chat", signature.Slack, hookSlackSecret, body, time.Now().Add(-6*time.Minute)); code != http.StatusUnauthorized || errKind(res) != "bad_signature" {
		t.Fatalf("old timestamp: %d %v", code, res)
	}
	if code, res := h.post("chat", signature.Slack, "", body, time.Now()); code != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d %v", code, res)
	}

	// A person deletes the message: a delete event the route leaves out.
	ts, _ := posted["ts"].(string)
	req, _ := http.NewRequest("DELETE", slURL+"/_sim/messages?channel="+slacksim.DefaultChannels()[0].ID+"&ts="+ts, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete message: %v %v", resp, err)
	}
	flushHooks(t, slURL)
	evs = h.sourceEvents("chat")
	if len(evs) != 2 {
		t.Fatalf("events = %d, want 2", len(evs))
	}
	if p := h.payloadOf(evs[1]); p["deleted"] != true || p["id"] != ts {
		t.Fatalf("delete payload = %v", p)
	}
	h.waitState(evs[1]["id"].(string), "delivered")
	if n := h.sink.count("hello@x.co"); n != 1 {
		t.Fatalf("sink writes = %d, want 1", n)
	}
}

func simPost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
