package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExampleConfigLoads(t *testing.T) {
	for _, k := range []string{"SLUICE_ADMIN_TOKEN", "WEBFORMS_SECRET", "CRM_TOKEN", "DEALS_HMAC_SECRET"} {
		t.Setenv(k, "secret-value-0123456789")
	}
	c, err := Load("../../examples/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Flows["lead-intake"].HoldTTL.D() != 24*time.Hour || c.Destinations["crm"].MaxAttempts != 8 || c.Destinations["deal-desk"].RetryMax.D() != 5*time.Minute {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.AdminTokens[0].Token != "secret-value-0123456789" {
		t.Fatal("${VAR} not expanded")
	}
}

func TestExpand(t *testing.T) {
	out, err := Expand([]byte(`a: ${A}, b: ${B:-dflt}, c: $NOT, d: "${A}"`), env(map[string]string{"A": "x"}))
	if err != nil || string(out) != `a: x, b: dflt, c: $NOT, d: "x"` {
		t.Fatalf("%q %v", out, err)
	}
	_, err = Expand([]byte(`${MISSING_ONE} ${MISSING_TWO}`), env(nil))
	if err == nil || !strings.Contains(err.Error(), "MISSING_ONE, MISSING_TWO") {
		t.Fatalf("missing vars: %v", err)
	}
}

// TestValidationErrorsNameFieldPaths compares the full error output with a
// golden file so messages stay precise.
func TestValidationErrorsNameFieldPaths(t *testing.T) {
	bad := `
admin_tokens: [{name: "", token: short, role: boss}]
sources:
  s1: {signature: {scheme: rot13, secrets: []}}
entities:
  lead: {}
flows:
  f1:
    source: nope
    entity: lead
    routes:
      a: {destination: ghost, after: [b]}
      b: {destination: d1, after: [a]}
  f2: {source: s1, entity: ghost, routes: {}}
destinations:
  d1: {type: http, max_attempts: -1, retry_base: 10s, retry_max: 1s}
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
	golden := "testdata/validate.golden"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, _ := os.ReadFile(golden)
	if got != string(want) {
		t.Fatalf("validation errors changed:\n%s\nwant:\n%s", got, want)
	}
}

func TestUnknownKeysAreErrors(t *testing.T) {
	_, err := Parse([]byte("listen: x\nlisten_addr: y\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "listen_addr") {
		t.Fatalf("unknown key accepted: %v", err)
	}
	_, err = Parse([]byte("destinations: {d: {type: http, retry_base: soon}}"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "soon") {
		t.Fatalf("bad duration accepted: %v", err)
	}
}
