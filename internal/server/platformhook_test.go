package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim"
)

const (
	hookHubSpotSecret = "hubspot-client-secret-0123456789"
	hookSlackSecret   = "slack-signing-secret-0123456789"
	hookHubSpotToken  = "pat-na1-33333333-2222-3333-4444-555555555555"
)

// hookHarness runs Sluice with platform-webhook sources in front of the
// simulators, on loopback.
type hookHarness struct {
	*harness
	// config re-renders the harness's config with other extra arguments
	// (a reload).
	config func(args ...any) *config.Config
	// stop shuts the server down and closes its store (a restart's first
	// half); the test's cleanup calls it too, so calling it is optional.
	stop func()
}

// startHooks serves cfg (a config whose %[1]s is the store path and
// %[2]s the sink URL; extra arguments follow) on loopback.
func startHooks(t *testing.T, cfg string, args ...any) *hookHarness {
	t.Helper()
	return startHooksOn(t, filepath.Join(t.TempDir(), "sluice.db"), cfg, args...)
}

// startHooksOn is startHooks on the given store (a SQLite path or a
// PostgreSQL DSN).
func startHooksOn(t *testing.T, dbPath, cfg string, args ...any) *hookHarness {
	t.Helper()
	sk := newSink()
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	render := func(args ...any) *config.Config {
		t.Helper()
		return parseConfig(t, fmt.Sprintf(cfg, append([]any{dbPath, ts.URL}, args...)...))
	}
	c := render(args...)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h, stop := serve(t, srv, sk)
	return &hookHarness{harness: h, config: render, stop: stop}
}

// post sends body to a source signed as platform p would, at time at.
func (h *hookHarness) post(source string, p signature.Platform, secret string, body []byte, at time.Time) (int, map[string]any) {
	h.t.Helper()
	url := h.url + "/v1/sources/" + source + "/events"
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		sig, err := signature.SignPlatform(p, secret, "POST", url, body, at)
		if err != nil {
			h.t.Fatal(err)
		}
		for k, v := range sig {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// sourceEvents lists a source's events, oldest first.
func (h *hookHarness) sourceEvents(source string) []map[string]any {
	h.t.Helper()
	_, res := h.admin("GET", "/v1/events?source="+source+"&limit=500", "")
	raw, _ := res["events"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for i := len(raw) - 1; i >= 0; i-- {
		out = append(out, raw[i].(map[string]any))
	}
	return out
}

// payloadOf is the captured body of an event.
func (h *hookHarness) payloadOf(ev map[string]any) map[string]any {
	h.t.Helper()
	_, det := h.admin("GET", "/v1/events/"+ev["id"].(string), "")
	e, _ := det["event"].(map[string]any)
	var p map[string]any
	switch raw := e["raw"].(type) {
	case string:
		_ = json.Unmarshal([]byte(raw), &p)
	case map[string]any:
		p = raw
	}
	if p == nil {
		h.t.Fatalf("event %v has no raw payload: %v", ev["id"], e)
	}
	return p
}

func (h *hookHarness) waitSink(key string, want int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if h.sink.count(key) == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("sink has %d writes of %s, want %d", h.sink.count(key), key, want)
}

// simCall calls a simulator's API or control endpoint and decodes the
// answer, failing the test on a status of 300 or more.
func simCall(t *testing.T, method, url, token string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
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

func flushHooks(t *testing.T, simURL string) sim.HookStats {
	t.Helper()
	res := simCall(t, "POST", simURL+"/_sim/webhooks/flush", "", nil)
	b, _ := json.Marshal(res)
	var st sim.HookStats
	_ = json.Unmarshal(b, &st)
	return st
}

// TestExamplePlatformWebhooksConfigChecks keeps
// examples/platform-webhooks.yaml valid and lint-clean.
func TestExamplePlatformWebhooksConfigChecks(t *testing.T) {
	raw, err := os.ReadFile("../../examples/platform-webhooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLUICE_ADMIN_TOKEN": "ops-token-0123456789", "CRM_TOKEN": hookHubSpotToken, "AIRTABLE_TOKEN": hookAirtableToken,
		"NOTION_TOKEN": "ntn_example_token_0123456789", "HUBSPOT_CLIENT_SECRET": hookHubSpotSecret, "AIRTABLE_MAC_SECRET": hookAirtableMAC,
		"AIRTABLE_WEBHOOK_ID": hookAirtableWebhook, "SLACK_SIGNING_SECRET": hookSlackSecret, "NOTION_VERIFICATION_TOKEN": "secret_example_token_0123"}
	c, err := config.Parse(raw, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := server.Check(c); err != nil {
		t.Fatal(err)
	}
}
