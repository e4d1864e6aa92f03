package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/store"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

const canaryConfig = `
store: %q
admin_tokens: [{name: ops, token: CANARY-ADMIN-TOKEN-0001, role: admin}]
sources:
  forms:
    signature: {scheme: hmac-sha256, secrets: [CANARY-SOURCE-SECRET-0002]}
entities:
  lead: {key: email}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: email, type: email}
        ssn: {from: ssn, type: integer, sensitive: true}
    routes:
      out: {destination: leaky}
destinations:
  leaky:
    type: http
    allow_private_network: true
    options:
      url: "%s/in"
      bearer_token: CANARY-BEARER-TOKEN-0003
      hmac_secret: CANARY-HMAC-SECRET-0004
      headers: {X-Api-Key: CANARY-HEADER-KEY-0005}
    max_attempts: 2
    retry_base: 5ms
    retry_max: 10ms
delivery: {poll_interval: 10ms, lease: 5s}
`

var canaries = []string{"CANARY-ADMIN-TOKEN-0001", "CANARY-SOURCE-SECRET-0002", "CANARY-BEARER-TOKEN-0003",
	"CANARY-HMAC-SECRET-0004", "CANARY-HEADER-KEY-0005", "CANARY-SSN-0006"}

// TestCanarySecretsNeverLeak plants secrets in the config, headers and a
// sensitive payload field, drives traffic through every failure path,
// including a destination that echoes our credentials back in its error
// bodies, and checks that no canary appears in logs, audit entries, API
// errors or metrics.
func TestCanarySecretsNeverLeak(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		echo := fmt.Sprintf("auth=%q key=%q", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
		if n == 1 {
			w.WriteHeader(500) // retryable, echoing credentials
		} else {
			w.WriteHeader(401) // auth: pauses the destination, echoing credentials
		}
		io.WriteString(w, `{"error":"`+strings.ReplaceAll(echo, `"`, `'`)+`"}`)
	}))
	defer sink.Close()

	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := config.Parse(fmt.Appendf(nil, canaryConfig, filepath.Join(t.TempDir(), "s.db"), sink.URL), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	base := "http://" + ln.Addr().String()

	var bodies []string
	post := func(body string, secret string) {
		req, _ := http.NewRequest("POST", base+"/v1/sources/forms/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", signature.SignHMACSHA256(secret, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies = append(bodies, string(b))
	}
	post(`{"email":"a@b.co","ssn":"CANARY-SSN-0006"}`, "CANARY-SOURCE-SECRET-0002") // 422, sensitive field
	post(`{"email":"a@b.co","ssn":1}`, "wrong-secret-000000")                       // 401
	post(`{"email":"c@d.co","ssn":12345}`, "CANARY-SOURCE-SECRET-0002")             // 202, then 500, then 401 pause

	ex := srv.Driver.Executor()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := ex.DestinationStateGet(context.Background(), "leaky")
		if st.Paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("destination never paused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, path := range []string{"/v1/destinations", "/v1/events", "/v1/nope", "/metrics"} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer CANARY-ADMIN-TOKEN-0001")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/v1/events" {
			// Events carry the stored record and raw payload by design
			// (operators fix records); only the secrets of the config
			// must be absent.
			b = bytes.ReplaceAll(b, []byte("CANARY-SSN-0006"), nil)
		}
		bodies = append(bodies, string(b))
	}
	var auditText strings.Builder
	ex.AuditScan(context.Background(), 0, func(e *store.AuditEntry) error {
		fmt.Fprintf(&auditText, "%s %s %s %s\n", e.Action, e.Outcome, e.Actor, e.Message)
		return nil
	})
	ds, _ := ex.EventList(context.Background(), &store.EventListParams{})
	for _, ev := range ds {
		dl, _ := ex.DeliveryListByEvent(context.Background(), ev.ID)
		for _, d := range dl {
			fmt.Fprintln(&auditText, d.LastError)
		}
	}
	if !strings.Contains(auditText.String(), "destination_paused") || !strings.Contains(auditText.String(), "[redacted]") {
		t.Fatalf("the test did not exercise the echo path:\n%s", auditText.String())
	}
	for name, text := range map[string]string{"logs": logs.String(), "audit": auditText.String(), "responses": strings.Join(bodies, "\n")} {
		for _, c := range canaries {
			if strings.Contains(text, c) {
				t.Errorf("%s contain canary %s:\n%s", name, c, text)
			}
		}
	}
}
