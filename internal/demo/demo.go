// Package demo runs Sluice end to end on the embedded store against a flaky
// local sink: it sends sample traffic (good, malformed, invalid, incomplete,
// duplicate and refused leads), fixes and releases a held record, waits for
// every event to settle and reports where each one ended. `sluice demo` is a
// newcomer's first look and `sluice demo --once` a smoke test.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/credential"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/simrun"
)

// SourceSecret signs the demo's webhook traffic (Standard Webhooks).
const SourceSecret = "whsec_ZGVtby1zb3VyY2Utc2VjcmV0LWtleS0xMjM0NQ=="

const configYAML = `
listen: %q
store: %q
admin_tokens:
  - {name: demo, token: %q, role: admin}
  - {name: viewer, token: %q, role: viewer}
sources:
  webforms:
    signature: {scheme: standard-webhooks, secrets: [%q]}
entities:
  lead:
    key: email
    schema:
      $schema: https://json-schema.org/draft/2020-12/schema
      type: object
      required: [email, company]
      properties:
        email: {type: string, format: email}
        name: {type: string}
        company: {type: string, minLength: 1}
        phone: {type: string, pattern: '^\+[1-9][0-9]{6,14}$'}
        amount: {type: number, minimum: 0}
        submitted_at: {type: string, format: date-time}
flows:
  lead-intake:
    source: webforms
    entity: lead
    hold_ttl: 24h
    normalize:
      fields:
        email: {from: contact.email, type: email}
        name: {expr: 'trim((source.contact.first ?? "") + " " + (source.contact.last ?? ""))'}
        company: {from: company.name, trim: true}
        phone: {from: contact.phone, type: phone, region: US}
        amount: {from: deal.amount, type: number}
        submitted_at: {from: submitted, type: datetime}
    routes:
%s      webhook:
        destination: webhook
        after: [crm]
%s  webhook:
    type: http
    options: {url: "%s/leads", timeout: 2s, rate_per_second: 50, burst: 10}
    allow_private_network: true   # the demo's sink listens on loopback
    max_attempts: 6
    retry_base: 100ms
    retry_max: 2s
delivery:
  lease: 30s
  poll_interval: 50ms
`

// Options configure a run.
type Options struct {
	Listen string // default 127.0.0.1:8080; "127.0.0.1:0" picks a port
	Dir    string // where the store file goes; default a new temp dir
	Once   bool
	Out    io.Writer
	Log    *slog.Logger
}

// scenario is one sample event and where it must end.
type scenario struct {
	name    string
	body    string
	msgID   string
	want    string // expected final state, or "refused 400", "duplicate"
	eventID string
	got     string
	note    string
}

// Run starts Sluice, plays the scenarios, prints the report and, unless
// Once, keeps serving until ctx ends. It returns an error when an event did
// not end where it should (Once) or the run failed.
func Run(ctx context.Context, o Options) error {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "sluice-demo-")
		if err != nil {
			return err
		}
		o.Dir = d
	}
	sink := NewSink(42)
	sinkSrv := httptest.NewServer(sink)
	defer sinkSrv.Close()

	tokenBytes := make([]byte, 16)
	rand.Read(tokenBytes)
	token := "demo-" + hex.EncodeToString(tokenBytes)
	rand.Read(tokenBytes)
	viewerToken := "view-" + hex.EncodeToString(tokenBytes)
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w (try --listen 127.0.0.1:0)", o.Listen, err)
	}
	dbPath := filepath.Join(o.Dir, "sluice-demo.db")
	// Slack runs on token rotation with one-second access tokens, so its
	// credential is refreshed (once across the run's workers) during the
	// demo. The tokens obtained are sealed in the demo's store; without an
	// operator key the demo uses a fixed one of its own.
	if os.Getenv(credential.KeyEnv) == "" {
		os.Setenv(credential.KeyEnv, demoCredentialKey)
	}
	sims, err := simrun.Start(simrun.Options{Seed: 42, Faults: platformFaults(true), SlackTokenTTL: time.Second})
	if err != nil {
		return err
	}
	defer sims.Close()
	// Airtable and Google Sheets answer a 429 with 30 s and 60 s penalties;
	// their faults are errors and lost answers only, so the demo stays short.
	sims.Airtable.SetFaults(platformFaults(false))
	sims.Sheets.SetFaults(platformFaults(false))
	raw := fmt.Sprintf(configYAML, ln.Addr().String(), dbPath, token, viewerToken, SourceSecret,
		simrun.RoutesYAML("      ", 10000), sims.DestinationsYAML(false, 8), sinkSrv.URL)
	c, err := config.Parse([]byte(raw), func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	srv, err := server.New(ctx, c, o.Log)
	if err != nil {
		return err
	}
	defer srv.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(o.Out, "Sluice demo: server on %s, store %s\n", base, dbPath)
	fmt.Fprintf(o.Out, "Operator console: %s/ui/  (sign in with %s; a read-only viewer: %s)\n", base, token, viewerToken)
	fmt.Fprintf(o.Out, "Flaky webhook sink on %s (25%% of requests answered 429 or 500, 10%% slow)\n", sinkSrv.URL)
	fmt.Fprintf(o.Out, "Simulated HubSpot %s, Airtable %s, Notion %s, Slack %s, Google Sheets %s\n", sims.URL["hubspot"], sims.URL["airtable"], sims.URL["notion"], sims.URL["slack"], sims.URL["sheets"])
	fmt.Fprintf(o.Out, "  with their documented rate limits and faults on: 5xx, lost answers after writes, partial batches, 429s (HubSpot, Notion, Slack)\n")
	fmt.Fprintf(o.Out, "  route: HubSpot first; Airtable, Notion, Sheets and the webhook after it; Slack only for deals >= 10,000\n\n")

	cl := &client{base: base, token: token, http: &http.Client{Timeout: 10 * time.Second}}
	scs := scenarios()
	for _, sc := range scs {
		code, res, err := cl.send(sc.msgID, sc.body)
		if err != nil {
			return err
		}
		sc.eventID, _ = res["event_id"].(string)
		switch {
		case code == 400:
			sc.got = "refused 400"
			sc.note = errMessage(res)
		case res["duplicate"] == true:
			sc.got = "duplicate"
			sc.note = "answered with the original " + sc.eventID
		default:
			if m, ok := res["missing"].([]any); ok {
				sc.note = fmt.Sprintf("missing %v", m)
			}
			if errs, ok := res["errors"].([]any); ok {
				var parts []string
				for _, e := range errs {
					em, _ := e.(map[string]any)
					parts = append(parts, fmt.Sprintf("%v: %v", em["field"], em["message"]))
				}
				sc.note = strings.Join(parts, "; ")
			}
		}
	}
	// A person fixes one held lead and releases it.
	fix := find(scs, "held, fixed by operator")
	if code, res, err := cl.admin("PATCH", "/v1/holds/"+fix.eventID, `{"fields":{"company":"Umbrella Ltd"}}`); err != nil || code != 200 {
		return fmt.Errorf("patch hold: %d %v %v", code, res, err)
	}
	if code, res, err := cl.admin("POST", "/v1/holds/"+fix.eventID+"/release", ``); err != nil || code != 200 {
		return fmt.Errorf("release hold: %d %v %v", code, res, err)
	}
	fix.note = "patched company, released by operator"

	deadline := time.Now().Add(180 * time.Second)
	succeeded := 0
	for {
		settled := true
		succeeded = 0
		for _, sc := range scs {
			if sc.eventID == "" || sc.want == "duplicate" {
				continue
			}
			_, det, err := cl.admin("GET", "/v1/events/"+sc.eventID, "")
			if err != nil {
				return err
			}
			ev, _ := det["event"].(map[string]any)
			st, _ := ev["state"].(string)
			sc.got = st
			if st == "delivering" {
				settled = false
			}
			if ds, ok := det["deliveries"].([]any); ok {
				var parts []string
				for _, d := range ds {
					dm := d.(map[string]any)
					if dm["state"] == "succeeded" && dm["destination"] == "webhook" {
						succeeded++
					}
					parts = append(parts, fmt.Sprintf("%s:%s x%v", dm["route"], dm["state"], dm["attempts"]))
				}
				if len(parts) > 0 && sc.want != "held" {
					sc.note = strings.Join(parts, " ")
				}
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	ok := report(o.Out, scs, sink, succeeded)
	if !platformReport(o.Out, sims) {
		ok = false
	}
	if st := sims.Slack.OAuth.Stats(); true {
		fmt.Fprintf(o.Out, "\nSlack token rotation: %d access tokens obtained (1 s each, refreshed during the run), %d refresh tokens presented twice\n",
			st.Refreshes, st.ReusedRefreshTokens)
		if st.ReusedRefreshTokens > 0 {
			ok = false
		}
	}
	if o.Once {
		twOK, err := twoWayRun(ctx, o)
		if err != nil {
			return err
		}
		ok = ok && twOK
	}
	_, ver, _ := cl.admin("GET", "/v1/audit/verify", "")
	fmt.Fprintf(o.Out, "\nAudit chain: ok=%v, %v entries checked\n", ver["ok"], ver["entries_checked"])
	if ver["ok"] != true {
		ok = false
	}
	if o.Once {
		stop()
		<-done
		if !ok {
			return fmt.Errorf("some events did not end where they should, or the two-way sync did not converge")
		}
		return nil
	}
	fmt.Fprintf(o.Out, "\nStill serving on %s. Try:\n  export SLUICE_SERVER=%s SLUICE_TOKEN=%s SLUICE_SOURCE_SECRET='%s'\n  sluice events list\n  sluice holds list\n  sluice escalations list\nOr open the console: %s/ui/ and sign in with %s\n", base, base, token, SourceSecret, base, token)
	fmt.Fprintf(o.Out, "Send your own event to the demo's source (signed with its secret):\n  sluice send --source webforms --data '{\"submission_id\": \"s-1\", \"contact\": {\"email\": \"you@example.com\"}, \"company\": {\"name\": \"Acme\"}}'\nPress Ctrl-C to stop.\n")
	<-ctx.Done()
	stop()
	return <-done
}

func find(scs []*scenario, name string) *scenario {
	for _, s := range scs {
		if s.name == name {
			return s
		}
	}
	panic("demo: no scenario " + name)
}

func scenarios() []*scenario {
	var out []*scenario
	add := func(name, want, body string) *scenario {
		s := &scenario{name: name, want: want, body: body, msgID: fmt.Sprintf("demo-%d-%d", time.Now().UnixNano(), len(out))}
		out = append(out, s)
		return s
	}
	for i := 1; i <= 12; i++ {
		add(fmt.Sprintf("good lead %d", i), "delivered", fmt.Sprintf(
			`{"contact":{"email":"Lead%d@Example.com","first":"Lead","last":"No%d","phone":"(415) 555-01%02d"},"company":{"name":" Company %d "},"deal":{"amount":"%d"},"submitted":"2026-11-29 10:%02d:00"}`,
			i, i, i, i, i*1500, i))
	}
	add("big deal (CRM then deal desk)", "delivered", `{"contact":{"email":"ceo@bigcorp.example"},"company":{"name":"BigCorp"},"deal":{"amount":250000}}`)
	add("malformed JSON", "refused 400", `{"contact": {"email": "broken@example.com"`)
	add("wrong type (amount)", "rejected", `{"contact":{"email":"typo@example.com"},"company":{"name":"Typo Inc"},"deal":{"amount":"a lot"}}`)
	add("invalid email", "rejected", `{"contact":{"email":"not-an-email"},"company":{"name":"Nope"}}`)
	add("held, fixed by operator", "delivered", `{"contact":{"email":"patchme@example.com","first":"Fix"}}`)
	add("held, completed by a later event", "delivered", `{"contact":{"email":"later@example.com","first":"Later"}}`)
	add("later event for the same lead", "delivered", `{"contact":{"email":"later@example.com"},"company":{"name":"Later Co"}}`)
	add("held, still waiting for a person", "held", `{"contact":{"email":"waiting@example.com"}}`)
	dup := add("duplicate delivery of good lead 1", "duplicate", "")
	dup.body, dup.msgID = out[0].body, out[0].msgID
	add("refused by the destination (422)", "escalated", `{"contact":{"email":"blocked@example.com"},"company":{"name":"Refuse Corp"}}`)
	return out
}

func report(w io.Writer, scs []*scenario, sink *Sink, succeeded int) bool {
	fmt.Fprintln(w, "What happened to each event:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SCENARIO\tEXPECTED\tGOT\tOK\tDETAIL")
	ok := true
	counts := map[string]int{}
	for _, sc := range scs {
		mark := "yes"
		if sc.got != sc.want {
			mark, ok = "NO", false
		}
		counts[sc.got]++
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", sc.name, sc.want, sc.got, mark, trim(sc.note, 70))
	}
	tw.Flush()
	retried := 0
	for _, sc := range scs {
		if strings.Contains(sc.note, " x2") || strings.Contains(sc.note, " x3") || strings.Contains(sc.note, " x4") || strings.Contains(sc.note, " x5") || strings.Contains(sc.note, " x6") {
			retried++
		}
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprint(w, "\nSummary:")
	for _, k := range keys {
		fmt.Fprintf(w, " %s=%d", k, counts[k])
	}
	fmt.Fprintf(w, " (delivered after retries: %d)\n", retried)
	fmt.Fprintf(w, "Sink answered: %s\n", statusCounts(sink.Statuses()))
	applied := 0
	for _, n := range sink.Effects() {
		applied += n
	}
	fmt.Fprintf(w, "Writes applied by the sink: %d for %d confirmed deliveries (no duplicates: %v)\n", applied, succeeded, applied == succeeded)
	if applied != succeeded {
		ok = false
	}
	if ok {
		fmt.Fprintln(w, "Every event ended where it should.")
	} else {
		fmt.Fprintln(w, "SOME EVENTS DID NOT END WHERE THEY SHOULD.")
	}
	return ok
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func errMessage(res map[string]any) string {
	if e, ok := res["error"].(map[string]any); ok {
		return fmt.Sprint(e["message"])
	}
	return ""
}

type client struct {
	base, token string
	http        *http.Client
}

func (c *client) send(msgID, body string) (int, map[string]any, error) {
	now := time.Now()
	sig, err := signature.SignStandardWebhooks(SourceSecret, msgID, now, []byte(body))
	if err != nil {
		return 0, nil, err
	}
	req, _ := http.NewRequest("POST", c.base+"/v1/sources/webforms/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signature.HeaderID, msgID)
	req.Header.Set(signature.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(signature.HeaderSignature, sig)
	return c.do(req)
}

func (c *client) admin(method, path, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	return c.do(req)
}

func (c *client) do(req *http.Request) (int, map[string]any, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: response not JSON: %w", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, out, nil
}

// platformFaults is the demo's fault mix; rateLimits adds injected 429s.
// demoCredentialKey seals the demo's tokens when SLUICE_CREDENTIAL_KEY is
// not set: a demo store holds only simulator tokens.
const demoCredentialKey = "c2x1aWNlLWRlbW8tY3JlZGVudGlhbC1rZXktMzJieXQ="

func platformFaults(rateLimits bool) sim.Faults {
	f := sim.Faults{Errors: map[string]float64{"500": 0.03, "503": 0.02}, TimeoutAfterWrite: 0.03, PartialBatch: 0.1}
	if rateLimits {
		f.Errors["429"] = 0.03
	}
	return f
}

// platformReport prints what landed on each simulated platform and returns
// false if any holds two records for one key.
func platformReport(w io.Writer, sims *simrun.Set) bool {
	fmt.Fprintln(w, "\nWhat landed on each platform:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PLATFORM\tRECORDS\tDUPLICATES\tREQUESTS\t429s\tINJECTED ERRORS\tLOST ANSWERS\tPARTIAL-BATCH ITEMS")
	keys, stats := sims.Keys(), sims.Stats()
	ok := true
	for _, p := range simrun.Platforms {
		dups := 0
		for i := 1; i < len(keys[p]); i++ {
			if keys[p][i] == keys[p][i-1] {
				dups++
			}
		}
		if dups > 0 || stats[p].DuplicatesByKey > 0 {
			ok = false
		}
		st := stats[p]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p, len(keys[p]), dups, st.Requests, st.RateLimited, st.InjectedErrors, st.TimeoutsAfterWrite, st.PartialBatchItems)
	}
	tw.Flush()
	return ok
}

// statusCounts renders HTTP status counts as "200: 180, 429: 12" in status
// order (not Go's map syntax).
func statusCounts(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d: %d", c, m[c])
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
