package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

const alertsBase = `
sources: {s: {allow_unsigned: true}}
entities: {lead: {key: email}}
destinations: {d: {type: http}}
`

func TestAlertsAndSLADefaults(t *testing.T) {
	c, err := Parse([]byte(alertsBase+`
flows:
  f:
    source: s
    entity: lead
    sla: {deliver_within: 5m, hold_within: 4h}
    routes: {r: {destination: d}}
alerts:
  channels:
    - {type: email, host: smtp.example.com, from: sluice@example.com, to: [ops@example.com]}
    - {type: slack, url: "https://hooks.slack.com/services/${SLACK_PATH}"}
`), env(map[string]string{"SLACK_PATH": "T0/B0/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	a := c.Alerts
	if a.Window.D() != 5*time.Minute || a.Interval.D() != 30*time.Second || a.FailureRate.Above != 0.5 || a.FailureRate.MinAttempts != 20 {
		t.Fatalf("alerts defaults: %+v", a)
	}
	if a.Channels[0].Port != 587 || a.Channels[0].Timeout.D() != 10*time.Second || a.Channels[1].Port != 0 {
		t.Fatalf("channel defaults: %+v", a.Channels)
	}
	if a.Channels[1].URL != "https://hooks.slack.com/services/T0/B0/x" || a.Channels[1].Label(1) != "slack[1]" {
		t.Fatalf("slack channel: %+v", a.Channels[1])
	}
	if f := c.Flows["f"]; f.SLA.DeliverWithin.D() != 5*time.Minute || f.SLA.HoldWithin.D() != 4*time.Hour {
		t.Fatalf("flow sla: %+v", f.SLA)
	}
}

// TestAlertsValidationNamesFieldPaths compares the errors with a golden
// file, and checks that no secret value is quoted.
func TestAlertsValidationNamesFieldPaths(t *testing.T) {
	bad := `
sources: {s: {allow_unsigned: true}}
entities: {lead: {key: email}}
flows:
  f:
    source: s
    entity: lead
    hold_ttl: 2h
    sla: {deliver_within: 5m, hold_within: 2h}
    routes: {r: {destination: d}}
destinations:
  d: {type: http, sla: {queue_age: 10m, queue_depth: -1}}
alerts:
  window: 500ms
  interval: 10ms
  failure_rate: {above: 1.5, min_attempts: -2}
  channels:
    - {type: slack}
    - {type: slack, url: "hooks.slack.com/services/T0/B0/urlsecret1", secret: "some-secret-value"}
    - {type: webhook, url: "https://ops.example.com/hook"}
    - {type: webhook, url: "https://ops.example.com/hook", secret: "whsec_!!notbase64secret"}
    - {type: webhook, url: "https://ops.example.com/hook", secret: "short"}
    - {type: email, port: 70000, from: "not an address", to: [ops@example.com, "nope"], password: "pw-secret-1", insecure: true, host: smtp.example.com}
    - {type: email, name: mail, host: smtp.example.com, from: a@b.co}
    - {type: email, name: mail, host: 127.0.0.1, from: a@b.co, to: [c@d.co], username: u, password: "pw-secret-2", insecure: true, url: "https://x.example.com/leak"}
    - {type: pager}
`
	c, err := Parse([]byte(bad), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	got := err.Error() + "\n"
	for _, secret := range []string{"urlsecret1", "some-secret-value", "notbase64secret", "pw-secret", "x.example.com/leak"} {
		if strings.Contains(got, secret) {
			t.Fatalf("validation error quotes a secret (%s):\n%s", secret, got)
		}
	}
	golden := "testdata/alerts.golden"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, _ := os.ReadFile(golden)
	if got != string(want) {
		t.Fatalf("validation errors changed:\n%s\nwant:\n%s", got, want)
	}
}
