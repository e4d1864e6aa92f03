package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSend(t *testing.T) {
	t.Parallel()
	s := start(t)

	t.Run("accepted, signed, delivered", func(t *testing.T) {
		r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret,
			"--data", `{"contact":{"email":"ada@example.com","name":" Ada "},"company":"Acme"}`)
		contains(t, "send", r.out, "202 Accepted: event ", " delivering")
		s.waitState(t, eventID(t, r.out), "delivered")
	})

	t.Run("secret from the environment, body from a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "ev.json")
		if err := os.WriteFile(f, []byte(`{"contact":{"email":"file@example.com"},"company":"Acme"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"SLUICE_SERVER": s.url, "SLUICE_SOURCE_SECRET": testSecret}
		r := s.runEnv(t, env, "send", "--source", "forms", "--file", f)
		if r.code != 0 || !strings.Contains(r.out, "202 Accepted") {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
	})

	t.Run("rejected with field errors", func(t *testing.T) {
		r := s.mustRun(t, 1, "send", "--source", "forms", "--secret", testSecret,
			"--data", `{"contact":{"email":"not-an-email"},"company":"Acme","amount":"lots"}`)
		contains(t, "send", r.out, "422 Unprocessable Entity: event ", " rejected", "  email: ", "  amount: ")
	})

	t.Run("held names the missing fields", func(t *testing.T) {
		r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret,
			"--data", `{"contact":{"email":"held@example.com"}}`)
		contains(t, "send", r.out, "202 Accepted", " held", "missing: company")
	})

	t.Run("wrong secret is refused", func(t *testing.T) {
		r := s.mustRun(t, 1, "send", "--source", "forms", "--secret", "whsec_d3Jvbmc=",
			"--data", `{"contact":{"email":"x@example.com"},"company":"Acme"}`)
		contains(t, "send", r.out, "401 Unauthorized (bad_signature)")
	})

	t.Run("unsigned is refused", func(t *testing.T) {
		r := s.mustRun(t, 1, "send", "--source", "forms", "--data", `{}`)
		contains(t, "send", r.out, "401 Unauthorized (bad_signature)", "missing signature")
	})

	t.Run("hmac-sha256", func(t *testing.T) {
		r := s.mustRun(t, 0, "send", "--source", "hooks", "--secret", hmacSecret, "--scheme", "hmac-sha256",
			"--data", `{"email":"gh@example.com","company":"Hub"}`)
		contains(t, "send", r.out, "202 Accepted", " delivering")
	})

	t.Run("form body", func(t *testing.T) {
		r := s.mustRun(t, 0, "send", "--source", "hooks", "--secret", hmacSecret, "--scheme", "hmac-sha256",
			"--form", "--data", "email=form%40example.com&company=Formco")
		contains(t, "send", r.out, "202 Accepted", " delivering")
	})

	t.Run("unknown source", func(t *testing.T) {
		r := s.mustRun(t, 1, "send", "--source", "nope", "--data", `{}`)
		contains(t, "send", r.out, "404 Not Found (unknown_source)")
	})

	t.Run("idempotency key dedupes, repeat does not", func(t *testing.T) {
		body := `{"contact":{"email":"dup@example.com"},"company":"Acme"}`
		first := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret, "--idempotency-key", "k-1", "--data", body)
		again := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret, "--idempotency-key", "k-1", "--data", body)
		contains(t, "second send", again.out, "200 OK", "(duplicate")
		if eventID(t, first.out) != eventID(t, again.out) {
			t.Errorf("duplicate answered with another event:\n%s%s", first.out, again.out)
		}

		r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret, "--repeat", "3", "--data", body)
		contains(t, "repeat", r.out, "[1/3] 202", "[3/3] 202", "sent 3: 3 accepted, 0 not")
		ids := map[string]bool{}
		for _, m := range eventIDRe.FindAllStringSubmatch(r.out, -1) {
			ids[m[1]] = true
		}
		if len(ids) != 3 {
			t.Errorf("repeat made %d distinct events, want 3:\n%s", len(ids), r.out)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := s.mustRun(t, 0, "send", "--json", "--source", "forms", "--secret", testSecret,
			"--data", `{"contact":{"email":"json@example.com"},"company":"Acme"}`)
		contains(t, "stdout", r.out, `"event_id"`, `"state": "delivering"`)
		contains(t, "stderr", r.err, "202 Accepted")
	})
}
