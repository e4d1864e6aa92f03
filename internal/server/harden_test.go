package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
)

// hardenFlow is a minimal flow for sources under test, with a destination
// that is never reached (deliveries stay pending).
const hardenFlow = `
entities: {lead: {key: email}}
flows:
  leads:
    source: forms
    entity: lead
    normalize: {fields: {email: {from: email, type: email}}}
    routes: {out: {destination: nowhere}}
destinations:
  nowhere: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}, max_attempts: 1}
delivery: {poll_interval: 1h, lease: 5s}
`

// serveText starts a server from config text (store path as %s) and returns
// its base URL.
func serveText(t *testing.T, text, dbPath string) (string, *server.Server) {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "sluice.db")
	}
	c, err := config.Parse([]byte(fmt.Sprintf(text, dbPath)), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return "http://" + ln.Addr().String(), srv
}

func post(t *testing.T, url, body string, hdr http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/sources/forms/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// TestSignedSourceIgnoresUnsignedIdempotencyKey: adding an unsigned
// Idempotency-Key header to a captured Standard Webhooks request used to
// create a new event per replay within the tolerance window.
func TestSignedSourceIgnoresUnsignedIdempotencyKey(t *testing.T) {
	h := start(t)
	body := `{"contact":{"email":"replay@example.com"},"company":"Acme"}`
	code, first := h.sendID("msg_captured_1", body, nil)
	if code != http.StatusAccepted {
		t.Fatalf("first: %d %v", code, first)
	}
	for i := range 3 {
		code, again := h.sendID("msg_captured_1", body, map[string]string{"Idempotency-Key": fmt.Sprintf("attacker-%d", i)})
		if code != http.StatusOK || again["duplicate"] != true || again["event_id"] != first["event_id"] {
			t.Fatalf("replay %d with a new Idempotency-Key: %d %v", i, code, again)
		}
	}
}

const hmacSecret = "hmac-source-secret-0123456789"

// TestHMACSourceReplayIsDuplicate: hmac-sha256 has no timestamp, so the same
// signed body used to become a new event on every replay.
func TestHMACSourceReplayIsDuplicate(t *testing.T) {
	url, _ := serveText(t, `store: %q
sources: {forms: {signature: {scheme: hmac-sha256, secrets: [`+hmacSecret+`]}}}
`+hardenFlow, "")
	body := `{"email":"hmac@example.com"}`
	hdr := http.Header{"X-Hub-Signature-256": {signature.SignHMACSHA256(hmacSecret, []byte(body))}}
	resp, first := post(t, url, body, hdr)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first: %d %v", resp.StatusCode, first)
	}
	for i := range 3 {
		h2 := hdr.Clone()
		h2.Set("Idempotency-Key", fmt.Sprint("k", i))
		h2.Set("webhook-id", fmt.Sprint("w", i))
		resp, again := post(t, url, body, h2)
		if resp.StatusCode != http.StatusOK || again["duplicate"] != true || again["event_id"] != first["event_id"] {
			t.Fatalf("replay %d: %d %v", i, resp.StatusCode, again)
		}
	}
	other := `{"email":"hmac2@example.com"}`
	resp, _ = post(t, url, other, http.Header{"X-Hub-Signature-256": {signature.SignHMACSHA256(hmacSecret, []byte(other))}})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a different body must be a new event: %d", resp.StatusCode)
	}
}

// TestSourceQuotaAnswers429: one sender could store ~12.6 MiB/s; every
// source now has request and byte budgets answered with 429 + Retry-After.
func TestSourceQuotaAnswers429(t *testing.T) {
	url, _ := serveText(t, `store: %q
sources:
  forms: {allow_unsigned: true, max_body_bytes: 300, quota: {requests_per_second: 0.001}}
`+hardenFlow, "")
	resp, out := post(t, url, `{"email":"q1@example.com"}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first: %d %v", resp.StatusCode, out)
	}
	resp, out = post(t, url, `{"email":"q2@example.com"}`, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the request quota: %d %v Retry-After=%q", resp.StatusCode, out, resp.Header.Get("Retry-After"))
	}
	if kind := out["error"].(map[string]any)["kind"]; kind != "over_quota" {
		t.Fatalf("kind %v", kind)
	}

	url, _ = serveText(t, `store: %q
sources:
  forms: {allow_unsigned: true, max_body_bytes: 300, quota: {bytes_per_second: 1}}
`+hardenFlow, "")
	pad := strings.Repeat("x", 200)
	resp, out = post(t, url, `{"email":"b1@example.com","pad":"`+pad+`"}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first: %d %v", resp.StatusCode, out)
	}
	resp, out = post(t, url, `{"email":"b2@example.com","pad":"`+pad+`"}`, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the byte quota: %d %v", resp.StatusCode, out)
	}
	// Small requests still fit in what is left of the byte burst.
	resp, out = post(t, url, `{"email":"b3@example.com"}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("small body: %d %v", resp.StatusCode, out)
	}
}

// TestJSONAnswersCarrySecurityHeaders: answers lacked nosniff and no-store.
func TestJSONAnswersCarrySecurityHeaders(t *testing.T) {
	h := start(t)
	code, _ := h.send(`{"contact":{"email":"hdr@example.com"},"company":"Acme"}`, nil)
	if code != http.StatusAccepted {
		t.Fatal(code)
	}
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/v1/events", "ops-token-0123456789"},
		{"GET", "/v1/events", ""},
		{"GET", "/v1/stats", "view-token-0123456789"},
		{"GET", "/healthz", ""},
		{"GET", "/metrics", ""},
		{"POST", "/v1/sources/forms/events", ""},
		{"GET", "/no/such/path", ""},
	} {
		req, _ := http.NewRequest(tc.method, h.url+tc.path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s (%d): headers %v", tc.method, tc.path, resp.StatusCode, resp.Header)
		}
	}
}

func adminGet(t *testing.T, url, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestListsCarrySummariesNotBodies: GET /v1/events?limit=1000 over 150
// one-MiB events answered 157 MB and took RSS to 1.5 GB. Lists now load and
// send summaries; the raw body is only on the single-event view, and audit
// verify reads ids and states.
func TestListsCarrySummariesNotBodies(t *testing.T) {
	url, _ := serveText(t, `store: %q
max_body_bytes: 2097152
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
sources: {forms: {allow_unsigned: true, quota: {bytes_per_second: 104857600}}}
`+hardenFlow, "")
	const n, size = 16, 1 << 20
	pad := strings.Repeat("p", size)
	for i := range n {
		resp, out := post(t, url, fmt.Sprintf(`{"email":"big%d@example.com","notes":"%s"}`, i, pad), nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("event %d: %d %v", i, resp.StatusCode, out)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, body := adminGet(t, url, "/v1/events?limit=1000", "ops-token-0123456789")
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Events) != n {
		t.Fatalf("list: %d events, %v", len(list.Events), err)
	}
	if len(body) > 64<<10 {
		t.Errorf("list of %d one-MiB events is %d bytes; want summaries only", n, len(body))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("listing allocated %d MiB; the bodies are %d MiB", alloc>>20, n*size>>20)
	}
	id := list.Events[0]["id"].(string)
	resp, body = adminGet(t, url, "/v1/events/"+id, "ops-token-0123456789")
	if resp.StatusCode != http.StatusOK || len(body) < size {
		t.Fatalf("single view must carry the raw body: %d, %d bytes", resp.StatusCode, len(body))
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, body = adminGet(t, url, "/v1/audit/verify", "ops-token-0123456789")
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok": true`) {
		t.Fatalf("audit verify: %d %s", resp.StatusCode, body)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("audit verify allocated %d MiB; it should read ids and states only", alloc>>20)
	}
}
