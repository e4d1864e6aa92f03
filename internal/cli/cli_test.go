package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

const (
	testSecret  = "whsec_c2x1aWNlLXRlc3Qtc2VjcmV0LWtleS0wMTIzNDU2Nzg5"
	hmacSecret  = "gh-hook-secret"
	adminToken  = "ops-token-0123456789"
	viewerToken = "view-token-0123456789"
)

// testConfig is internal/server's end-to-end config plus a second source
// signed GitHub-style, so both schemes of `sluice send` meet a real verifier.
const testConfig = `
listen: 127.0.0.1:0
store: %s
admin_tokens:
  - {name: ops, token: ` + adminToken + `, role: admin}
  - {name: watcher, token: ` + viewerToken + `, role: viewer}
sources:
  forms:
    signature: {scheme: standard-webhooks, secrets: ["` + testSecret + `"]}
    idempotency_field: submission_id
  hooks:
    signature: {scheme: hmac-sha256, secrets: ["` + hmacSecret + `"]}
entities:
  lead:
    key: email
    schema:
      type: object
      required: [email, company]
      properties:
        email: {type: string, format: email}
        company: {type: string, minLength: 1}
        amount: {type: number, minimum: 0}
flows:
  leads:
    source: forms
    entity: lead
    hold_ttl: 1h
    normalize:
      fields:
        email: {from: contact.email, type: email}
        name: {from: contact.name, trim: true}
        company: {from: company, trim: true}
        amount: {from: amount, type: number}
    routes:
      crm:
        destination: sink
  hooked:
    source: hooks
    entity: lead
    normalize:
      fields:
        email: {from: email, type: email}
        company: {from: company, trim: true}
    routes:
      crm:
        destination: sink
destinations:
  sink:
    type: http
    allow_private_network: true
    options: {url: "%s/crm", timeout: 2s}
    max_attempts: 2
    retry_base: 10ms
    retry_max: 50ms
delivery:
  lease: 5s
  poll_interval: 20ms
`

// sluice is a running server with a receiver behind it, and the CLI
// environment pointing at it.
type sluice struct {
	url    string
	dbPath string
	env    map[string]string
	// version is the config's content hash, recorded on every event.
	version string
}

func start(t *testing.T) *sluice {
	t.Helper()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		_ = json.NewDecoder(r.Body).Decode(&p)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"ext-%v"}`, p["email"])
	}))
	t.Cleanup(sink.Close)
	dbPath := filepath.Join(t.TempDir(), "sluice.db")
	c, err := config.Parse([]byte(fmt.Sprintf(testConfig, dbPath, sink.URL)), os.LookupEnv)
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
	u := "http://" + ln.Addr().String()
	v, err := c.Version()
	if err != nil {
		t.Fatal(err)
	}
	return &sluice{url: u, dbPath: dbPath, env: map[string]string{"SLUICE_SERVER": u, "SLUICE_TOKEN": adminToken}, version: v}
}

// result is what a person would have seen.
type result struct {
	code     int
	out, err string
}

// run executes one CLI invocation against s and fails the test if any
// token shows up in its output.
func (s *sluice) run(t *testing.T, args ...string) result {
	t.Helper()
	return s.runEnv(t, s.env, args...)
}

func (s *sluice) runEnv(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Out: &out, Err: &errb, Getenv: func(k string) string { return vars[k] }}
	code := cli.Main(context.Background(), env, args)
	r := result{code: code, out: out.String(), err: errb.String()}
	for _, secret := range []string{adminToken, viewerToken, testSecret, hmacSecret} {
		if strings.Contains(r.out+r.err, secret) {
			t.Fatalf("sluice %s printed a secret:\n%s%s", strings.Join(args, " "), r.out, r.err)
		}
	}
	return r
}

// mustRun is run that expects exit code want.
func (s *sluice) mustRun(t *testing.T, want int, args ...string) result {
	t.Helper()
	r := s.run(t, args...)
	if r.code != want {
		t.Fatalf("sluice %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.out, r.err)
	}
	return r
}

var eventIDRe = regexp.MustCompile(`event (\S+) `)

// eventID is the id from `sluice send`'s summary line.
func eventID(t *testing.T, out string) string {
	t.Helper()
	m := eventIDRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no event id in %q", out)
	}
	return m[1]
}

// waitState polls `sluice events show --json` until the event is in state.
func (s *sluice) waitState(t *testing.T, id, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		r := s.mustRun(t, 0, "events", "show", id, "--json")
		var d struct {
			Event struct{ State string } `json:"event"`
		}
		if err := json.Unmarshal([]byte(r.out), &d); err != nil {
			t.Fatalf("events show --json: %v\n%s", err, r.out)
		}
		if last = d.Event.State; last == state {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("event %s stuck in %s, want %s", id, last, state)
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}
