package config

import (
	"strings"
	"testing"
)

const hardenBase = `
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
entities: {e: {key: k}}
flows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: d}}}}
destinations: {d: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}}
`

func validateText(t *testing.T, text string, vars map[string]string) error {
	t.Helper()
	c, err := Parse([]byte(text), env(vars))
	if err != nil {
		t.Fatal(err)
	}
	return c.Validate()
}

// TestAdminTokenRoleRequired: a token without a role used to become an admin.
func TestAdminTokenRoleRequired(t *testing.T) {
	text := strings.Replace(hardenBase, "role: admin", "", 1) + "sources: {s: {allow_unsigned: true}}\n"
	err := validateText(t, text, nil)
	if err == nil || !strings.Contains(err.Error(), "admin_tokens[0].role: required: admin (may act) or viewer (may only read)") {
		t.Fatalf("want a role error, got %v", err)
	}
}

// TestWhsecSecretMinimumLength: a whsec_ secret decoding to 1 byte passed.
func TestWhsecSecretMinimumLength(t *testing.T) {
	for _, tc := range []struct{ secret, want string }{
		{"whsec_eA==", "sources.s.signature.secrets[0]: whsec_ secret decodes to 1 bytes; at least 24 are required"},
		{"whsec_c2x1aWNlLXRlc3Qtc2VjcmV0LWtleQ==", "decodes to 22 bytes"},
		{"whsec_!!notbase64!!", "sources.s.signature.secrets[0]: whsec_ secret is not valid base64"},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""},
	} {
		err := validateText(t, hardenBase+"sources: {s: {signature: {scheme: standard-webhooks, secrets: [${S}]}}}\n", map[string]string{"S": tc.secret})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected %v", tc.secret, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: want %q, got %v", tc.secret, tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("error echoes the secret: %v", err)
		}
	}
}

// TestUnsignedSourceNeedsAllowUnsigned: unsigned sources were accepted silently.
func TestUnsignedSourceNeedsAllowUnsigned(t *testing.T) {
	err := validateText(t, hardenBase+"sources: {s: {}}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "sources.s: unsigned: anyone who reaches the endpoint can inject records; set signature, or allow_unsigned: true") {
		t.Fatalf("want an unsigned error, got %v", err)
	}
	if err := validateText(t, hardenBase+"sources: {s: {allow_unsigned: true}}\n", nil); err != nil {
		t.Fatal(err)
	}
	err = validateText(t, hardenBase+"sources: {s: {allow_unsigned: true, signature: {scheme: hmac-sha256, secrets: [abcdefgh12345678]}}}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "sources.s.allow_unsigned: contradicts signature") {
		t.Fatalf("want a contradiction error, got %v", err)
	}
}

// TestSourceQuotaDefaults: every source has an intake budget.
func TestSourceQuotaDefaults(t *testing.T) {
	c, err := Parse([]byte(hardenBase+"sources: {s: {allow_unsigned: true}, t: {allow_unsigned: true, quota: {requests_per_second: 5, bytes_per_second: 1000}}}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if q := c.Sources["s"].Quota; q.RequestsPerSecond != DefaultRequestsPerSecond || q.BytesPerSecond != DefaultBytesPerSecond {
		t.Fatalf("defaults: %+v", q)
	}
	if q := c.Sources["t"].Quota; q.RequestsPerSecond != 5 || q.BytesPerSecond != 1000 {
		t.Fatalf("explicit: %+v", q)
	}
	err = validateText(t, hardenBase+"sources: {s: {allow_unsigned: true, quota: {requests_per_second: -1}}}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "sources.s.quota.requests_per_second: must be positive") {
		t.Fatalf("got %v", err)
	}
}

// TestParseErrorShowsLineBeforeExpansion: a YAML error used to print the
// offending line after ${VAR} expansion, secret included.
func TestParseErrorShowsLineBeforeExpansion(t *testing.T) {
	const canary = "CANARY-SECRET-0123456789"
	vars := map[string]string{"TOKEN": canary, "MULTI": "a\nb\nc"}
	for _, text := range []string{
		"admin_tokens: [{name: ops, token: \"${TOKEN}\"}]\nmax_body_bytes: ${TOKEN}\n",
		"listen: \"${MULTI}\"\nadmin_tokens: [{name: ops, token: ${TOKEN}, bogus: 1}]\n",
		"delivery: {lease: ${TOKEN}}\n",
	} {
		_, err := Parse([]byte(text), env(vars))
		if err == nil {
			t.Fatalf("%q: want an error", text)
		}
		msg := err.Error()
		if strings.Contains(msg, canary) {
			t.Errorf("error prints the expanded secret:\n%s", msg)
		}
		// Errors from a field's own decoder (durations) carry no position;
		// they still name the reference, not the value.
		if !strings.Contains(msg, "${TOKEN}") || (!strings.Contains(text, "lease") && !strings.Contains(msg, "line ")) {
			t.Errorf("error does not show the line as written:\n%s", msg)
		}
	}
	_, err := Parse([]byte("listen: \"${MULTI}\"\nadmin_tokens: [{name: ops, token: ${TOKEN}, bogus: 1}]\n"), env(vars))
	if !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("line not mapped back through a multi-line value: %v", err)
	}
}
