package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
)

const sensitiveConfig = `
store: %q
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
  - {name: watcher, token: view-token-0123456789, role: viewer}
sources: {forms: {allow_unsigned: true}}
entities:
  lead:
    key: email
    schema:
      type: object
      properties:
        ssn: {type: string, pattern: "^[0-9]{3}-[0-9]{2}-[0-9]{4}$"}
        tier: {type: string, enum: [gold, silver]}
        backup: {type: string, format: email}
        pin: {type: string, minLength: 8, const: "never-matches-this-pin"}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: email, type: email}
        ssn: {from: person.ssn, sensitive: true}
        tier: {from: tier, sensitive: true}
        backup: {from: backup, sensitive: true}
        pin: {from: pin, sensitive: true}
        note: {from: note}
    routes: {out: {destination: nowhere}}
destinations:
  nowhere: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}, max_attempts: 1}
delivery: {poll_interval: 1h, lease: 5s}
`

// TestSensitiveValuesNeverEchoed: a sensitive value failing a JSON Schema
// pattern was echoed in the 422, the stored problems and the audit log.
// Schema errors of every kind (pattern, enum, format, const) are masked
// everywhere, and viewer tokens see sensitive fields masked in bodies too.
func TestSensitiveValuesNeverEchoed(t *testing.T) {
	logs := &syncBuffer{}
	c, err := config.Parse(fmt.Appendf(nil, sensitiveConfig, filepath.Join(t.TempDir(), "s.db")), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	url := "http://" + ln.Addr().String()

	canaries := []string{"CANARY-SSN-9911", "CANARY-TIER-9922", "CANARY-MAIL-9933", "CANARY-PIN-9944"}
	var answers []string
	resp, out := post(t, url, `{"email":"a@b.co","person":{"ssn":"CANARY-SSN-9911"},"tier":"CANARY-TIER-9922","backup":"CANARY-MAIL-9933","pin":"CANARY-PIN-9944","note":"mentions CANARY-SSN-9911 too"}`, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("want 422, got %d %v", resp.StatusCode, out)
	}
	answers = append(answers, fmt.Sprint(out))
	if errs := fmt.Sprint(out["problems"], out["errors"]); !strings.Contains(errs, "ssn") || !strings.Contains(errs, "sensitive") {
		t.Fatalf("the 422 should name the fields: %v", out)
	}
	rejected := out["event_id"].(string)

	// An accepted event with sensitive values, read by a viewer.
	resp, out = post(t, url, `{"email":"ok@b.co","person":{"ssn":"123-45-6789"},"tier":"gold","note":"ssn is 123-45-6789"}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("want 202, got %d %v", resp.StatusCode, out)
	}
	accepted := out["event_id"].(string)
	_, viewerBody := adminGet(t, url, "/v1/events/"+accepted, "view-token-0123456789")
	if strings.Contains(string(viewerBody), "123-45-6789") || !strings.Contains(string(viewerBody), "[sensitive]") {
		t.Errorf("viewer sees a sensitive value:\n%s", viewerBody)
	}
	_, adminBody := adminGet(t, url, "/v1/events/"+accepted, "ops-token-0123456789")
	if !strings.Contains(string(adminBody), "123-45-6789") {
		t.Errorf("admins see the record as stored:\n%s", adminBody)
	}
	_, viewerRejected := adminGet(t, url, "/v1/events/"+rejected, "view-token-0123456789")
	answers = append(answers, string(viewerRejected))
	_, list := adminGet(t, url, "/v1/events", "view-token-0123456789")
	answers = append(answers, string(list))

	ex := srv.Driver.Executor()
	ev, err := ex.EventGetByID(context.Background(), rejected)
	if err != nil {
		t.Fatal(err)
	}
	var audit strings.Builder
	ex.AuditScan(context.Background(), 0, func(e *store.AuditEntry) error {
		fmt.Fprintln(&audit, e.Action, e.Outcome, e.Actor, e.Message)
		return nil
	})
	for name, text := range map[string]string{"answers": strings.Join(answers, "\n"), "stored problems": string(ev.Problems), "audit": audit.String(), "logs": logs.String()} {
		for _, c := range canaries {
			if strings.Contains(text, c) {
				t.Errorf("%s contain %s:\n%s", name, c, text)
			}
		}
	}
	_ = io.Discard
}
